#include "cli/descriptor_limit.h"

#include <sys/resource.h>

namespace valk::cli {

namespace {

// Descriptors beyond the clients' connections: listeners, the log and
// app files, the loops' own, and a few outgoing connections.
constexpr rlim_t kRoom = 64;

}  // namespace

std::string raise_descriptor_limit(uint32_t connections) {
  rlimit limit;
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0) {
    return "";
  }
  if (limit.rlim_cur < limit.rlim_max) {
    rlimit raised = limit;
    raised.rlim_cur = limit.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &raised) == 0) {
      limit = raised;
    }
  }
  if (limit.rlim_cur == RLIM_INFINITY || limit.rlim_cur >= rlim_t{connections} + kRoom) {
    return "";
  }
  return "valk: warning: open descriptors are limited to " + std::to_string(limit.rlim_cur) +
         ", short of the " + std::to_string(connections) +
         " connections the server may hold: raise the limit (ulimit -n, or systemd's "
         "LimitNOFILE=)";
}

}  // namespace valk::cli
