#include "cli/reload.h"

#include <cstdio>
#include <string>

#include "cli/metrics_endpoint.h"
#include "serve/app.h"

namespace valk::cli {

std::string reload_app(const std::string& prefix, serve::App& app) {
  std::string error;
  if (app.reload(&error)) {
    return "app reloaded (generation " + std::to_string(app.generation()) + ")";
  }
  fprintf(stderr, "%s: the app did not load, it runs as before: %s\n", prefix.c_str(),
          error.c_str());
  return "app not reloaded";
}

void reload(const char* command, Server& server, MetricsEndpoint* metrics, serve::App* app) {
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
  std::string code;
  if (app != nullptr) {
    code = ", " + reload_app(std::string(command) + ": SIGHUP", *app);
  }
  fprintf(stderr, "%s: SIGHUP: %s, %s%s\n", command,
          logs ? "log files reopened" : "log files not all reopened",
          certificates ? "certificates reloaded" : "certificates not reloaded", code.c_str());
  fflush(stderr);
}

}  // namespace valk::cli
