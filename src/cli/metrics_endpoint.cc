#include "cli/metrics_endpoint.h"

namespace valk::cli {

bool MetricsEndpoint::start(const ListenAddress& where, const Server& app,
                            const ServerOptions& app_options,
                            std::function<void(net::MetricsText&)> more, Handler requests,
                            std::string* error) {
  auto render = [&app, more = std::move(more)] {
    net::MetricsText text;
    if (more) {
      more(text);
    }
    return app.metrics() + text.take();
  };
  ServerOptions options;
  options.listen = {where};
  options.listen[0].tls = false;
  options.reactors = 1;
  options.limits.max_connections = 64;
  options.error_log = app_options.error_log;
  options.access_log_format = app_options.access_log_format;  // the error log's form too
  options.log_level = app_options.log_level;
  options.server_name = app_options.server_name;
  host_ = where.host;
  std::string paths = requests ? "/metrics and /requests" : "/metrics";
  server_ = std::make_unique<Server>(
      options, [render = std::move(render), paths, requests = std::move(requests)](Request& req,
                                                                                   Responder res) {
        Headers text = {{"content-type", "text/plain; charset=utf-8"}};
        bool is_requests = requests && req.path() == "/requests";
        if (req.path() != "/metrics" && !is_requests) {
          res.respond(404, std::move(text), "Not Found: this listener answers " + paths + "\n");
        } else if (req.method() != "GET" && req.method() != "HEAD") {
          text.push_back({"allow", "GET, HEAD"});
          res.respond(405, std::move(text), "Method Not Allowed\n");
        } else if (is_requests) {
          requests(req, std::move(res));
        } else {
          res.respond(200, {{"content-type", net::kMetricsContentType}}, render());
        }
      });
  if (!server_->start(error)) {
    *error = "metrics listener: " + *error;
    server_.reset();
    return false;
  }
  return true;
}

std::string MetricsEndpoint::url() const {
  bool v6 = host_.find(':') != std::string::npos;
  return "http://" + (v6 ? "[" + host_ + "]" : host_) + ":" + std::to_string(port()) + "/metrics";
}

void MetricsEndpoint::stop() {
  if (server_ != nullptr) {
    server_->force_close();
    server_->wait();
  }
}

}  // namespace valk::cli
