#include <cstdio>

#include "cli/commands.h"

namespace valk::cli {

// Placeholder until the network core lands.
int static_command(int argc, char** argv) {
  fprintf(stderr, "valk static: not available yet\n");
  return 2;
}

}  // namespace valk::cli
