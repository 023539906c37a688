// valk static DIR: serve a directory over HTTP/2 and HTTP/1.1.
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <thread>

#include "cli/commands.h"
#include "cli/descriptor_limit.h"
#include "cli/metrics_endpoint.h"
#include "cli/reload.h"
#include "serve/serve_config.h"
#include "valk/server.h"
#include "valk/static_files.h"

namespace valk::cli {

namespace {

void usage(FILE* out) {
  fprintf(out,
          "Usage: valk static [OPTIONS] DIR\n\n"
          "Serves DIR over HTTP/2 (TLS with ALPN, or cleartext) and HTTP/1.1.\n\n"
          "Options:\n"
          "  --host HOST            address to listen on (default 127.0.0.1; IPv6 too)\n"
          "  --port PORT            port (default 8080; 0 picks one and prints it)\n"
          "  --tls-cert FILE        PEM certificate chain (enables TLS)\n"
          "  --tls-key FILE         PEM private key\n"
          "  --tls-port PORT        with TLS: serve TLS on this port and plain\n"
          "                         HTTP/1.1 + h2c on --port\n"
          "  --https-redirect       with --tls-port: plain requests get a 308 to HTTPS\n"
          "  --reactors N           reactor threads (default: one per core)\n"
          "  --access-log PATH      access log: '-' for stdout, or a file (default off)\n"
          "  --log-format FMT       access log format: combined or json (json: the\n"
          "                         error log's lines too)\n"
          "  --log-level LEVEL      error log level: debug, info, warn, error, off\n"
          "  --drain-timeout MS     graceful shutdown deadline (default 10000)\n"
          "  --metrics [HOST:]PORT  serve Prometheus metrics at http://HOST:PORT/metrics,\n"
          "                         a listener apart (HOST: 127.0.0.1)\n"
          "  --help                 show this help\n\n"
          "SIGTERM or SIGINT drains gracefully; a second one exits at once. SIGHUP\n"
          "reopens the log files (after a rotation) and reloads the TLS certificates.\n");
}

bool parse_uint(const char* s, unsigned long max, unsigned long* out) {
  char* end = nullptr;
  errno = 0;
  unsigned long v = strtoul(s, &end, 10);
  if (errno != 0 || end == s || *end != '\0' || v > max) {
    return false;
  }
  *out = v;
  return true;
}

}  // namespace

int static_command(int argc, char** argv) {
  ServerOptions opts;
  opts.listen = {ListenAddress{"127.0.0.1", 8080}};
  std::string cert, key, dir;
  long tls_port = -1;
  bool https_redirect = false;
  std::optional<ListenAddress> metrics_at;
  for (int i = 0; i < argc; ++i) {
    std::string_view a = argv[i];
    auto value = [&](const char** out) {
      if (i + 1 >= argc) {
        fprintf(stderr, "valk static: %s needs a value\n", argv[i]);
        return false;
      }
      *out = argv[++i];
      return true;
    };
    const char* v = nullptr;
    unsigned long n = 0;
    if (a == "--help" || a == "-h") {
      usage(stdout);
      return 0;
    } else if (a == "--host") {
      if (!value(&v)) {
        return 2;
      }
      opts.listen[0].host = v;
    } else if (a == "--port") {
      if (!value(&v) || !parse_uint(v, 65535, &n)) {
        fprintf(stderr, "valk static: bad --port\n");
        return 2;
      }
      opts.listen[0].port = static_cast<uint16_t>(n);
    } else if (a == "--tls-cert") {
      if (!value(&v)) {
        return 2;
      }
      cert = v;
    } else if (a == "--tls-key") {
      if (!value(&v)) {
        return 2;
      }
      key = v;
    } else if (a == "--tls-port") {
      if (!value(&v) || !parse_uint(v, 65535, &n)) {
        fprintf(stderr, "valk static: bad --tls-port\n");
        return 2;
      }
      tls_port = static_cast<long>(n);
    } else if (a == "--https-redirect") {
      https_redirect = true;
    } else if (a == "--reactors") {
      if (!value(&v) || !parse_uint(v, 1024, &n)) {
        fprintf(stderr, "valk static: bad --reactors\n");
        return 2;
      }
      opts.reactors = static_cast<unsigned>(n);
    } else if (a == "--access-log") {
      if (!value(&v)) {
        return 2;
      }
      opts.access_log = v;
    } else if (a == "--log-format") {
      if (!value(&v)) {
        return 2;
      }
      std::string_view f = v;
      if (f == "json") {
        opts.access_log_format = AccessLogFormat::kJson;
      } else if (f != "combined") {
        fprintf(stderr, "valk static: --log-format is combined or json\n");
        return 2;
      }
    } else if (a == "--log-level") {
      if (!value(&v)) {
        return 2;
      }
      std::string_view l = v;
      if (l == "debug") {
        opts.log_level = LogLevel::kDebug;
      } else if (l == "info") {
        opts.log_level = LogLevel::kInfo;
      } else if (l == "warn") {
        opts.log_level = LogLevel::kWarn;
      } else if (l == "error") {
        opts.log_level = LogLevel::kError;
      } else if (l == "off") {
        opts.log_level = LogLevel::kOff;
      } else {
        fprintf(stderr, "valk static: bad --log-level\n");
        return 2;
      }
    } else if (a == "--drain-timeout") {
      if (!value(&v) || !parse_uint(v, 3600000, &n)) {
        fprintf(stderr, "valk static: bad --drain-timeout\n");
        return 2;
      }
      opts.timeouts.drain = static_cast<uint32_t>(n);
    } else if (a == "--metrics") {
      std::string problem;
      metrics_at.emplace();
      if (!value(&v) || !serve::parse_metrics_address(v, &*metrics_at, &problem)) {
        fprintf(stderr, "valk static: bad --metrics: %s\n", problem.c_str());
        return 2;
      }
    } else if (!a.empty() && a[0] == '-') {
      fprintf(stderr, "valk static: unknown option %s\n\n", argv[i]);
      usage(stderr);
      return 2;
    } else if (dir.empty()) {
      dir = argv[i];
    } else {
      fprintf(stderr, "valk static: one directory only\n");
      return 2;
    }
  }
  if (dir.empty()) {
    usage(stderr);
    return 2;
  }
  if (cert.empty() != key.empty()) {
    fprintf(stderr, "valk static: --tls-cert and --tls-key go together\n");
    return 2;
  }
  if (!cert.empty()) {
    opts.certificates.push_back({cert, key});
    if (tls_port >= 0) {
      opts.listen[0].tls = false;
      opts.listen.push_back(
          ListenAddress{opts.listen[0].host, static_cast<uint16_t>(tls_port), true});
    }
  } else if (tls_port >= 0) {
    fprintf(stderr, "valk static: --tls-port needs --tls-cert and --tls-key\n");
    return 2;
  }
  if (https_redirect) {
    if (tls_port <= 0) {
      fprintf(stderr, "valk static: --https-redirect needs a fixed --tls-port\n");
      return 2;
    }
    opts.https_redirect_port = static_cast<uint16_t>(tls_port);
  }
  std::string error;
  StaticOptions so;
  so.root = dir;
  Handler h = make_static_handler(so, &error);
  if (!h) {
    fprintf(stderr, "valk static: %s\n", error.c_str());
    return 1;
  }
  // Signals go to one thread that waits for them; every other thread
  // (reactors included) inherits the blocked mask.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  signal(SIGPIPE, SIG_IGN);
  opts.record_durations = metrics_at.has_value();
  if (std::string warning = raise_descriptor_limit(opts.limits.max_connections); !warning.empty()) {
    fprintf(stderr, "%s\n", warning.c_str());
  }
  Server server(opts, h);
  if (!server.start(&error)) {
    fprintf(stderr, "valk static: %s\n", error.c_str());
    return 1;
  }
  for (size_t i = 0; i < opts.listen.size(); ++i) {
    bool tls = !cert.empty() && opts.listen[i].tls;
    fprintf(stderr, "valk static: serving %s on %s://%s:%u\n", dir.c_str(), tls ? "https" : "http",
            opts.listen[i].host.c_str(), server.port(i));
  }
  MetricsEndpoint metrics;
  if (metrics_at) {
    if (!metrics.start(*metrics_at, server, opts, nullptr, nullptr, &error)) {
      fprintf(stderr, "valk static: %s\n", error.c_str());
      server.force_close();
      server.wait();
      return 1;
    }
    fprintf(stderr, "valk static: metrics on %s\n", metrics.url().c_str());
  }
  std::thread([&server, &metrics, set] {
    int sig = 0;
    bool draining = false;
    for (;;) {
      sigwait(&set, &sig);
      if (sig == SIGHUP) {
        reload("valk static", server, &metrics, nullptr);
      } else if (draining) {
        _exit(130);
      } else {
        draining = true;
        fprintf(stderr, "valk static: draining (signal again to exit now)\n");
        server.shutdown();
      }
    }
  }).detach();
  server.wait();
  metrics.stop();
  return 0;
}

}  // namespace valk::cli
