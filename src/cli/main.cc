// valk: the command-line entry point. Dispatches to a subcommand.
#include <cstdio>
#include <cstring>
#include <string_view>

#include "cli/commands.h"

namespace {

struct Command {
  const char* name;
  int (*run)(int argc, char** argv);
  const char* summary;
};

constexpr Command kCommands[] = {
    {"run", valk::cli::run_command, "run a Lisp program: valk run FILE.lisp [ARGS]"},
    {"repl", valk::cli::repl_command, "interactive Lisp session"},
    {"eval", valk::cli::eval_command, "evaluate an expression and print it: valk eval 'EXPR'"},
    {"serve", valk::cli::serve_command, "run a web app: valk serve APP.lisp"},
    {"static", valk::cli::static_command, "serve a directory over HTTP/2 and HTTP/1.1"},
};

void print_help(FILE* out) {
  fprintf(out,
          "valk %s: an HTTP/2 server runtime whose applications are written in Lisp\n\n"
          "Usage: valk COMMAND [ARGS]\n\nCommands:\n",
          VALK_VERSION);
  for (const Command& c : kCommands) {
    fprintf(out, "  %-8s %s\n", c.name, c.summary);
  }
  fprintf(out,
          "\nOptions:\n  --help     show this help\n  --version  print the version\n\n"
          "Run 'valk COMMAND --help' for a command's options.\n");
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    print_help(stderr);
    return 2;
  }
  std::string_view cmd = argv[1];
  if (cmd == "--help" || cmd == "-h" || cmd == "help") {
    print_help(stdout);
    return 0;
  }
  if (cmd == "--version" || cmd == "-V") {
    printf("valk %s\n", VALK_VERSION);
    return 0;
  }
  for (const Command& c : kCommands) {
    if (cmd == c.name) {
      return c.run(argc - 2, argv + 2);
    }
  }
  fprintf(stderr, "valk: unknown command '%s'\n\n", argv[1]);
  print_help(stderr);
  return 2;
}
