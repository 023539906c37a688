// valk run, valk eval and valk repl.
#include <editline/readline.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "cli/commands.h"
#include "lisp/collections.h"
#include "lisp/isolate.h"
#include "lisp/printer.h"
#include "lisp/reader.h"

namespace valk::cli {
namespace {

using lisp::EvalResult;
using lisp::Isolate;
using lisp::IsolateOptions;
using lisp::Value;

bool is_help(std::string_view arg) {
  return arg == "--help" || arg == "-h";
}

// Common flags of the Lisp commands; removes them from `args`.
bool parse_lisp_flags(std::vector<std::string>& args, IsolateOptions* options, const char* cmd) {
  std::vector<std::string> rest;
  for (size_t i = 0; i < args.size(); i++) {
    const std::string& a = args[i];
    if (!rest.empty()) {
      rest.push_back(a);  // flags after the file belong to the program
    } else if (a == "--gc-stress") {
      options->gc_stress = true;
    } else if (a == "--path" && i + 1 < args.size()) {
      options->module_paths.push_back(args[++i]);
    } else if (a.size() > 1 && a[0] == '-' && a != "-") {
      fprintf(stderr, "valk %s: unknown option '%s' (see valk %s --help)\n", cmd, a.c_str(), cmd);
      return false;
    } else {
      rest.push_back(a);
    }
  }
  args = std::move(rest);
  return true;
}

int report(Isolate& iso, const EvalResult& r) {
  if (r.ok) {
    return 0;
  }
  fflush(stdout);
  fprintf(stderr, "%s\n", iso.describe(r.value).c_str());
  return 1;
}

}  // namespace

int run_command(int argc, char** argv) {
  std::vector<std::string> args(argv, argv + argc);
  if (!args.empty() && is_help(args[0])) {
    printf(
        "Usage: valk run [OPTIONS] FILE.lisp [ARGS...]\n\n"
        "Runs a Lisp program. ARGS are visible to it as *command-line-args*.\n"
        "It ends when its last form and every fiber it spawned are done.\n\n"
        "Options:\n"
        "  --path DIR    also search DIR for (import ...)\n"
        "  --gc-stress   collect garbage at every safe point (for testing)\n\n"
        "Exit status: 0 ok, 1 uncaught error, 2 usage error.\n");
    return 0;
  }
  IsolateOptions options;
  if (!parse_lisp_flags(args, &options, "run")) {
    return 2;
  }
  if (args.empty()) {
    fprintf(stderr, "valk run: missing FILE (see valk run --help)\n");
    return 2;
  }
  Isolate iso(options);
  std::vector<Value> program_args;
  for (size_t i = 1; i < args.size(); i++) {
    program_args.push_back(iso.heap().string(args[i]));
  }
  iso.define("*command-line-args*",
             lisp::vector_from(iso.heap(), program_args.data(), program_args.size()));
  iso.define("*file*", iso.heap().string(args[0]));
  EvalResult r = iso.eval_file(args[0]);
  if (r.ok) {
    iso.run_until_idle();  // fibers the program spawned and did not await
  }
  return report(iso, r);
}

int eval_command(int argc, char** argv) {
  std::vector<std::string> args(argv, argv + argc);
  if (!args.empty() && is_help(args[0])) {
    printf(
        "Usage: valk eval [OPTIONS] 'EXPR'\n\n"
        "Evaluates the forms of EXPR and prints the value of the last one.\n\n"
        "Options:\n"
        "  --path DIR    also search DIR for (import ...)\n"
        "  --gc-stress   collect garbage at every safe point (for testing)\n");
    return 0;
  }
  IsolateOptions options;
  if (!parse_lisp_flags(args, &options, "eval")) {
    return 2;
  }
  if (args.size() != 1) {
    fprintf(stderr, "valk eval: expected one expression argument (see valk eval --help)\n");
    return 2;
  }
  Isolate iso(options);
  EvalResult r = iso.eval_string(args[0], "<eval>");
  if (r.ok) {
    printf("%s\n", lisp::print_str(r.value, true).c_str());
  }
  return report(iso, r);
}

int repl_command(int argc, char** argv) {
  std::vector<std::string> args(argv, argv + argc);
  if (!args.empty() && is_help(args[0])) {
    printf(
        "Usage: valk repl [OPTIONS]\n\n"
        "An interactive session: type forms, see their values. Input that is not\n"
        "complete yet continues on the next line. Errors are printed and the\n"
        "session goes on. History is kept in ~/.valk_history. Ctrl-D quits.\n\n"
        "Options:\n"
        "  --path DIR    also search DIR for (import ...)\n");
    return 0;
  }
  IsolateOptions options;
  if (!parse_lisp_flags(args, &options, "repl") || !args.empty()) {
    return 2;
  }
  Isolate iso(options);
  std::string history;
  if (const char* home = getenv("HOME")) {
    history = std::string(home) + "/.valk_history";
    read_history(history.c_str());
  }
  std::string pending;
  for (;;) {
    char* line = readline(pending.empty() ? "valk> " : "  ... ");
    if (line == nullptr) {
      printf("\n");
      break;
    }
    if (*line != '\0') {
      add_history(line);
    }
    pending += line;
    pending += '\n';
    free(line);
    // Evaluate every complete form; keep an incomplete tail for more input.
    size_t offset = 0;
    for (;;) {
      lisp::ReadOneResult r = lisp::read_one(iso.heap(), pending, "<repl>", offset);
      if (r.status == lisp::ReadStatus::End) {
        pending.clear();
        break;
      }
      if (r.status == lisp::ReadStatus::Incomplete) {
        pending.erase(0, offset);
        break;
      }
      if (r.status == lisp::ReadStatus::Error) {
        fprintf(stderr, "%s\n", r.error.to_string(iso.heap()).c_str());
        pending.clear();
        break;
      }
      offset = r.end;
      EvalResult result = iso.eval_form(r.form);
      if (result.ok) {
        printf("%s\n", lisp::print_str(result.value, true).c_str());
      } else {
        report(iso, result);
      }
      fflush(stdout);
    }
  }
  if (!history.empty()) {
    write_history(history.c_str());
  }
  return 0;
}

}  // namespace valk::cli
