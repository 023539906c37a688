// The native "Hello, World!" handler of the network-core benchmark: a
// valk::Server whose C++ handler answers every request with 13 bytes, so
// the reactor, TLS and the protocols are measured without static-file or
// Lisp work. bench/net/hello.sh runs it beside the stock servers.
//
//   hello_server [--port P] [--tls-port P --tls-cert F --tls-key F] [--reactors N]
//
// Cleartext HTTP/1.1 and h2c on --port, TLS on --tls-port; SIGINT or
// SIGTERM stops it.
#include <signal.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "valk/server.h"

int main(int argc, char** argv) {
  valk::ServerOptions opts;
  opts.listen = {valk::ListenAddress{"127.0.0.1", 8080, false}};
  opts.log_level = valk::LogLevel::kError;
  std::string cert, key;
  int tls_port = -1;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--help" || i + 1 >= argc) {
      fprintf(a == "--help" ? stdout : stderr,
              "usage: hello_server [--port P] [--tls-port P --tls-cert F --tls-key F] "
              "[--reactors N]\n");
      return a == "--help" ? 0 : 2;
    }
    const char* v = argv[++i];
    if (a == "--port") {
      opts.listen[0].port = static_cast<uint16_t>(atoi(v));
    } else if (a == "--tls-port") {
      tls_port = atoi(v);
    } else if (a == "--tls-cert") {
      cert = v;
    } else if (a == "--tls-key") {
      key = v;
    } else if (a == "--reactors") {
      opts.reactors = static_cast<unsigned>(atoi(v));
    } else {
      fprintf(stderr, "hello_server: unknown option %s\n", a.c_str());
      return 2;
    }
  }
  if (tls_port >= 0) {
    opts.certificates.push_back({cert, key});
    opts.listen.push_back(valk::ListenAddress{"127.0.0.1", static_cast<uint16_t>(tls_port), true});
  }
  valk::Server server(opts, [](valk::Request&, valk::Responder res) {
    res.respond(200, {{"content-type", "text/plain"}}, "Hello, World!");
  });
  // Signals are taken by sigwait on this thread, so the reactors (started
  // after the mask is set) never see them.
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGINT);
  sigaddset(&stop, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop, nullptr);
  std::string error;
  if (!server.start(&error)) {
    fprintf(stderr, "hello_server: %s\n", error.c_str());
    return 1;
  }
  if (tls_port >= 0) {
    fprintf(stderr, "hello_server: listening on %u, TLS on %u\n", server.port(0), server.port(1));
  } else {
    fprintf(stderr, "hello_server: listening on %u\n", server.port(0));
  }
  int sig = 0;
  sigwait(&stop, &sig);
  server.stop();
  return 0;
}
