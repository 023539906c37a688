#include <cstdio>

#include "cli/commands.h"

namespace valk::cli {

int run_command(int argc, char** argv) {
  return 2;
}
int repl_command(int argc, char** argv) {
  return 2;
}
int eval_command(int argc, char** argv) {
  return 2;
}

}  // namespace valk::cli
