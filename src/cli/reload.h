// What SIGHUP does to `valk serve` and `valk static`: the log files are
// opened again (logrotate moved them), the TLS certificates loaded again
// (they were renewed), for the connections accepted from then on, and the
// app's code loaded again (serve::App::reload).
#pragma once

#include <string>

#include "valk/server.h"

namespace valk::serve {
class App;
}

namespace valk::cli {

class MetricsEndpoint;

// Loads the app's code again (serve::App::reload). Returns "app reloaded
// (generation N)", or "app not reloaded" after a line on stderr, starting
// with `prefix`, that says why.
std::string reload_app(const std::string& prefix, serve::App& app);

// Reports on stderr what was reloaded, or what failed and stays as it was.
// `metrics` and `app` may be null.
void reload(const char* command, Server& server, MetricsEndpoint* metrics, serve::App* app);

}  // namespace valk::cli
