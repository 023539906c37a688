// A Lisp web app in this process: its workers, the static directories of
// its options, and the bridge that hands each request to a worker. Used by
// `valk serve` and, through valk::App (include/valk/app.h), by hosts.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "net/metrics.h"
#include "serve/serve_config.h"
#include "serve/worker.h"
#include "valk/server.h"

namespace valk {
class Runtime;
}

namespace valk::serve {

struct AppSetup {
  std::string app_file;
  std::vector<std::string> module_paths;
  ServeConfig flags;  // override what the app passes to serve
  // Runs on each worker's thread before the app loads.
  std::function<void(Runtime&)> define_natives;
  // Whether one worker may share its thread and loop with the server's
  // reactor (:single-thread, the default on one core).
  // False: reactor threads hand requests to worker threads whatever the
  // config says (for a host that runs its own server).
  bool allow_shared_loops = true;
};

class App {
 public:
  App() = default;
  ~App();
  App(const App&) = delete;
  App& operator=(const App&) = delete;

  // Loads the app in worker 0 first (a broken app fails fast with one
  // message: the Lisp report with file:line:column), then in the others,
  // and opens the static directories of its options. Main thread.
  bool start(AppSetup setup, std::string* error);
  // What the app passed to `serve`, overridden by the flags.
  const ServeConfig& config() const { return workers_[0]->config(); }
  // The server settings the config asks for.
  ServerOptions server_options() const;
  // Whether each worker's loop also runs a reactor (threads), rather than
  // reactor threads handing requests to worker threads.
  bool shared_loops() const { return shared_loops_; }
  // Starts `server` (made with server_options()). With shared loops, reactor
  // i is set up on worker i's thread, and each worker writes the responses
  // out before its idle work each time its loop is about to block, so that
  // work does not delay them. The server must outlive the workers (stop()).
  // Main thread.
  bool start_server(Server& server, std::string* error);
  size_t worker_count() const { return workers_.size(); }

  // Hands a request to a static directory or to a worker (round robin).
  // Reactor thread.
  void handle(Request& req, Responder res);
  // The workers' figures in Prometheus' format: requests they answered
  // 500 or 503, requests they hold, their heaps. Any thread.
  void append_metrics(net::MetricsText& out) const;
  // valk_route_requests_total and valk_route_handler_seconds: the workers'
  // figures by route (kept with :metrics).
  void append_route_metrics(net::MetricsText& out) const;
  // Loads the app file again in every worker (Worker::reload): worker 0
  // first, so that an app that fails to load fails there alone and the
  // others are not asked. False with the error report (file:line:column)
  // if a worker's load failed; that worker, and those not asked, go on with
  // the code they had. Main thread (or the host's), not concurrently with
  // stop().
  bool reload(std::string* error);
  // The directories of the app file and of the modules it imported (for
  // valk serve --watch). Main thread.
  std::vector<std::string> source_dirs();
  // The code generation of worker 0: 1 at start, one more per reload that
  // loaded. Any thread.
  uint32_t generation() const { return workers_[0]->generation(); }
  // Answers the /requests page of the metrics listener with JSON: the
  // requests each worker holds (Worker::describe_requests), at most
  // kRequestsShown a worker. Does not wait: each worker adds its part on
  // its own thread, and the last one answers. Any thread.
  void requests_page(Responder res) const;
  static constexpr size_t kRequestsShown = 1000;
  // Stops the workers after the requests they hold are answered.
  void stop();
  // Sends the workers' error lines to `server`'s error log from now on
  // (its file and level); null, the default, writes them to stderr. The
  // server must outlive its use here. Any thread.
  void log_to(const Server* server) { log_server_.store(server); }

 private:
  struct StaticMount {
    std::string prefix;
    Handler handler;
  };
  void post(Request& req, Responder res);

  std::vector<std::unique_ptr<Worker>> workers_;
  std::vector<StaticMount> mounts_;
  bool shared_loops_ = false;
  uint64_t buffered_body_limit_ = kDefaultBufferedBody;
  std::atomic<uint64_t> next_id_{1};
  std::atomic<uint64_t> next_worker_{0};
  std::atomic<const Server*> log_server_{nullptr};
  std::atomic<uint64_t> reloads_loaded_{0};  // reload() calls that succeeded
  std::atomic<uint64_t> reloads_failed_{0};
};

}  // namespace valk::serve
