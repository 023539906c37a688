// The --metrics listener of `valk serve` and `valk static`: a server of its
// own, on one thread and an address apart from the app's (by default on
// loopback only), that answers GET /metrics with Prometheus' text format,
// and, for valk serve, GET /requests with the requests the workers hold.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "net/metrics.h"
#include "valk/server.h"

namespace valk::cli {

class MetricsEndpoint {
 public:
  // Listens at `where` (plain HTTP/1.1 and h2c). Each scrape gets the
  // counters and durations of `app` (which must outlive the endpoint's
  // stop()), what `more` adds (may be empty; called on the endpoint's
  // thread), and the process's figures. Logs as `app_options` say (the
  // error log and level). `requests` (may be empty) answers GET /requests.
  // Returns false with a message if it cannot listen there.
  bool start(const ListenAddress& where, const Server& app, const ServerOptions& app_options,
             std::function<void(net::MetricsText&)> more, Handler requests, std::string* error);
  // The bound port (after start).
  uint16_t port() const { return server_->port(); }
  // "http://HOST:PORT/metrics", for the banner.
  std::string url() const;
  // Opens its error log file again (Server::reopen_logs), if started.
  bool reopen_logs(std::string* error) { return server_ == nullptr || server_->reopen_logs(error); }
  // Closes the listener and what is open on it. Waits until it has.
  void stop();

 private:
  std::unique_ptr<Server> server_;
  std::string host_;
};

}  // namespace valk::cli
