// Serving a valk Lisp web app from a C++ host: what `valk serve` does,
// inside a program that has its own valk::Server (and may answer some paths
// with native handlers) or gives the app natives of its own.
//
//   valk::AppOptions opts;
//   opts.app_file = "app.lisp";
//   opts.define_natives = [](valk::Runtime& rt) {
//     rt.define_function("host/now", 0, 0, ...);
//   };
//   std::string error;
//   auto app = valk::App::load(opts, &error);      // nullptr + error if broken
//   valk::Server server(app->server_options(), app->handler());
//   server.start(&error);
//   ...
//   server.shutdown(); server.wait();               // then the app goes
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "valk/server.h"
#include "valk/valk.h"

namespace valk {

namespace serve {
class App;
}

struct AppOptions {
  std::string app_file;
  // Directories searched by (import "name") before the standard library.
  std::vector<std::string> module_paths;
  // Lisp workers, each an isolate with the app loaded; 0: the app's
  // :workers option, else one per core.
  unsigned workers = 0;
  // Runs on each worker's thread before the app loads: define here, with
  // Runtime::define_function and define_async_function, the natives the
  // app calls.
  std::function<void(Runtime&)> define_natives;
};

class App {
 public:
  // Starts the workers and loads the app in each. nullptr with *error (the
  // Lisp report with file:line:column, or what else went wrong) if it fails.
  static std::unique_ptr<App> load(AppOptions options, std::string* error);
  // Stops the workers after the requests they hold are answered; stop the
  // Server that feeds the app first.
  ~App();
  App(const App&) = delete;
  App& operator=(const App&) = delete;

  // Hands a request to the app: its static directories, else a worker.
  // Call it from a Server's handler (on the reactor thread).
  void handle(Request& req, Responder res);
  // handle() as a Handler.
  Handler handler();
  // The server settings of the app's (serve app {...}) options: listen
  // addresses, TLS, logs, limits and timeouts. The host may change them.
  ServerOptions server_options() const;
  // Writes the app's error lines (Lisp errors with their stack, deadlines,
  // a full queue) to `server`'s error log from now on; before, and with
  // null, they go to stderr. The server must outlive the app, or the host
  // calls log_to(nullptr) first. Any thread.
  void log_to(const Server* server);
  // server.metrics() and the workers' figures (requests answered 500 or
  // 503, requests held, the Lisp heaps) in Prometheus' text format.
  // Any thread.
  std::string metrics(const Server& server) const;
  // Answers `res` with the JSON of `valk serve`'s /requests page: each
  // request the workers hold, what its handler waits on and its Lisp
  // stack (docs/web.md, "Metrics"). Returns at once; the workers answer
  // from their threads. Any thread.
  void requests(Responder res) const;
  // Loads the app file again in each worker, while the requests in flight
  // go on: once a worker has loaded it, the requests it is handed run the
  // new code; those it holds finish on the code they started with.
  // Definitions made with defonce keep their values. An app that fails to
  // load (the first worker tries first) changes nothing: false with *error,
  // the Lisp report with file:line:column. Not from the reactor thread,
  // nor concurrently with the App's destruction.
  bool reload(std::string* error);
  // 1 at load, one more per reload that succeeded.
  uint32_t generation() const;

 private:
  App();
  std::unique_ptr<serve::App> impl_;
};

}  // namespace valk
