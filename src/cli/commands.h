// The subcommands of the `valk` executable. Each takes the arguments after
// its own name and returns the process exit code: 0 ok, 1 failure (an
// uncaught Lisp error, a startup error), 2 usage error.
#pragma once

namespace valk::cli {

int run_command(int argc, char** argv);
int repl_command(int argc, char** argv);
int eval_command(int argc, char** argv);
int static_command(int argc, char** argv);
int serve_command(int argc, char** argv);

}  // namespace valk::cli
