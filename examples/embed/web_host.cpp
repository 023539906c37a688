// An example host serving a valk Lisp web app from its own server: the app
// (web_app.lisp) calls a native the host defines, and the host answers two
// paths itself, one of them its Prometheus metrics. It asks itself for the
// pages over HTTP/1.1 and prints them, then two lines of the metrics.
// Built against the installed package by tests/embed/check_embed.sh.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>
#include <valk/app.h>

#include <cstdio>
#include <string>

// The body of GET `path` from 127.0.0.1:`port` (Connection: close).
std::string get(uint16_t port, const std::string& path) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::string out;
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) {
    std::string req = "GET " + path + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    write(fd, req.data(), req.size());
    char buf[4096];
    for (ssize_t n; (n = read(fd, buf, sizeof buf)) > 0;) {
      out.append(buf, static_cast<size_t>(n));
    }
  }
  close(fd);
  size_t body = out.find("\r\n\r\n");
  return body == std::string::npos ? "" : out.substr(body + 4);
}

int main(int argc, char** argv) {
  valk::AppOptions opts;
  opts.app_file = argc > 1 ? argv[1] : "web_app.lisp";
  opts.workers = 1;
  opts.define_natives = [](valk::Runtime& rt) {
    rt.define_function(
        "host/answer", 0, 0,
        [](valk::Runtime& rt, std::span<const valk::Value>) -> valk::Result<valk::Value> {
          return rt.integer(42);
        });
  };
  std::string error;
  std::unique_ptr<valk::App> app = valk::App::load(opts, &error);
  if (!app) {
    fprintf(stderr, "%s\n", error.c_str());
    return 1;
  }
  valk::ServerOptions so = app->server_options();
  so.listen = {valk::ListenAddress{"127.0.0.1", 0}};
  so.record_durations = true;  // for valk_request_duration_seconds
  valk::Server server(so, [&](valk::Request& req, valk::Responder res) {
    if (req.path() == "/native") {
      res.respond(200, {{"content-type", "text/plain"}}, "from C++\n");
    } else if (req.path() == "/metrics") {
      res.respond(200, {{"content-type", "text/plain; version=0.0.4"}}, app->metrics(server));
    } else {
      app->handle(req, std::move(res));
    }
  });
  if (!server.start(&error)) {
    fprintf(stderr, "%s\n", error.c_str());
    return 1;
  }
  app->log_to(&server);  // the app's errors go to the server's error log
  printf("%s", get(server.port(), "/").c_str());
  printf("%s", get(server.port(), "/native").c_str());
  std::string metrics = get(server.port(), "/metrics");
  for (std::string name : {"valk_requests_total{protocol=\"http1\"} ", "valk_workers "}) {
    size_t at = metrics.find("\n" + name) + 1;
    printf("%s\n", metrics.substr(at, metrics.find('\n', at) - at).c_str());
  }
  server.shutdown();
  server.wait();
  app->log_to(nullptr);  // the server goes before the app
  return 0;
}
