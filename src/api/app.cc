#include "valk/app.h"

#include "serve/app.h"

namespace valk {

App::App() : impl_(std::make_unique<serve::App>()) {}

App::~App() = default;

std::unique_ptr<App> App::load(AppOptions options, std::string* error) {
  serve::AppSetup setup;
  setup.app_file = std::move(options.app_file);
  setup.module_paths = std::move(options.module_paths);
  if (options.workers != 0) {
    setup.flags.workers = options.workers;
  }
  setup.define_natives = std::move(options.define_natives);
  // The host runs its own server and loops; the app keeps to its threads.
  setup.allow_shared_loops = false;
  std::unique_ptr<App> app(new App());
  if (!app->impl_->start(std::move(setup), error)) {
    return nullptr;
  }
  return app;
}

void App::handle(Request& req, Responder res) {
  impl_->handle(req, std::move(res));
}

Handler App::handler() {
  return [this](Request& req, Responder res) { impl_->handle(req, std::move(res)); };
}

ServerOptions App::server_options() const {
  return impl_->server_options();
}

void App::log_to(const Server* server) {
  impl_->log_to(server);
}

std::string App::metrics(const Server& server) const {
  net::MetricsText workers;
  impl_->append_metrics(workers);
  return server.metrics() + workers.take();
}

void App::requests(Responder res) const {
  impl_->requests_page(std::move(res));
}

bool App::reload(std::string* error) {
  return impl_->reload(error);
}

uint32_t App::generation() const {
  return impl_->generation();
}

}  // namespace valk
