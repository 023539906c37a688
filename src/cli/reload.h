// What SIGHUP does to `valk serve` and `valk static`: the log files are
// opened again (logrotate moved them) and the TLS certificates loaded again
// (they were renewed), for the connections accepted from then on.
#pragma once

#include "valk/server.h"

namespace valk::cli {

class MetricsEndpoint;

// Reports on stderr what was reloaded, or what failed and stays as it was.
// `metrics` may be null.
void reload(const char* command, Server& server, MetricsEndpoint* metrics);

}  // namespace valk::cli
