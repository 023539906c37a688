#include "cli/reload.h"

#include <cstdio>
#include <string>

#include "cli/metrics_endpoint.h"

namespace valk::cli {

void reload(const char* command, Server& server, MetricsEndpoint* metrics) {
  std::string error;
  bool logs = server.reopen_logs(&error) && (metrics == nullptr || metrics->reopen_logs(&error));
  if (!logs) {
    fprintf(stderr, "%s: SIGHUP: %s\n", command, error.c_str());
  }
  bool certificates = server.reload_certificates(&error);
  if (!certificates) {
    fprintf(stderr, "%s: SIGHUP: %s; new connections keep the certificates loaded before\n",
            command, error.c_str());
  }
  fprintf(stderr, "%s: SIGHUP: %s, %s\n", command,
          logs ? "log files reopened" : "log files not all reopened",
          certificates ? "certificates reloaded" : "certificates not reloaded");
  fflush(stderr);
}

}  // namespace valk::cli
