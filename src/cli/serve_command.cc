// valk serve APP.lisp: runs a Lisp web app on the network core.
//
// Worker 0 loads the app first, so a broken app fails fast with one clear
// message; the settings of its (serve app {...}) call, overridden by the
// flags, configure the server; then the other workers load the app and the
// server starts. SIGINT/SIGTERM drain gracefully; a second one exits now.
// SIGHUP reopens the log files, reloads the certificates and the app.
#include <pthread.h>
#include <signal.h>

#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "cli/commands.h"
#include "cli/descriptor_limit.h"
#include "cli/file_watch.h"
#include "cli/metrics_endpoint.h"
#include "cli/reload.h"
#include "net/tls.h"
#include "serve/app.h"
#include "serve/serve_config.h"
#include "valk/server.h"

namespace valk::cli {
namespace {

void usage(FILE* out) {
  fprintf(out,
          "Usage: valk serve [OPTIONS] APP.lisp\n\n"
          "Runs a web app: APP.lisp defines a handler and calls (serve handler {...}).\n"
          "Flags override what the app passes to serve.\n\n"
          "Options:\n"
          "  --host HOST          address to listen on (default 127.0.0.1)\n"
          "  --port PORT          port (default 8080; 0 picks a free one)\n"
          "  --tls-cert FILE      PEM certificate chain: serve HTTPS (h2 and http/1.1);\n"
          "                       repeat --tls-cert/--tls-key pairs for more names\n"
          "                       (the first is the default, others chosen by SNI)\n"
          "  --tls-key FILE       PEM private key of the --tls-cert before it\n"
          "  --tls-port PORT      with TLS: HTTPS on this port, plain HTTP and h2c on --port\n"
          "  --https-redirect     with --tls-port: plain requests get a 308 to HTTPS\n"
          "  --client-ca FILE     mTLS: verify client certificates against this CA\n"
          "  --client-cert MODE   require (default with --client-ca) or request\n"
          "  --threads N          threads, each running a Lisp worker (its own isolate)\n"
          "                       and a network loop: a request stays on the thread of\n"
          "                       its connection (default: cores)\n"
          "  --single-thread      the same as --threads 1\n"
          "  --workers N          instead of --threads: N worker threads (default: cores)\n"
          "                       that take requests from any connection, handed over\n"
          "  --reactors N         by N network threads (default: half the cores)\n"
          "  --access-log FILE    access log ('-' for stdout; default off)\n"
          "  --log-format FMT     access log format: combined or json (default combined);\n"
          "                       json makes the error log's lines JSON too\n"
          "  --error-log FILE     error log (default '-', stderr)\n"
          "  --log-level LEVEL    debug, info, warn, error or off (default warn)\n"
          "  --deadline-ms MS     per-request deadline, then 503 (default 30000)\n"
          "  --instruction-budget N\n"
          "                       Lisp instructions a request may run, then 503\n"
          "                       (default 1000000000; 0: no limit)\n"
          "  --allocation-budget N\n"
          "                       bytes of Lisp heap a request may allocate, garbage\n"
          "                       included, then 503 (default 1073741824; 0: no limit)\n"
          "  --queue-size N       requests waiting per worker; more get 503 (default 16384)\n"
          "  --max-body-size N    largest request body in bytes; more gets 413\n"
          "                       (default 67108864)\n"
          "  --store-max-bytes N  most bytes the shared store holds (0: no limit, the\n"
          "                       default); a write past it raises :store-full\n"
          "  --buffered-body-limit N\n"
          "                       bodies of a declared length up to N bytes are read\n"
          "                       whole before the handler runs; others stream in\n"
          "                       (default 1048576)\n"
          "  --max-connections N  open connections at most, over all the threads (or\n"
          "                       reactors); past that, accepting waits (default 10000)\n"
          "  --idle-timeout MS    close a connection idle this long (default 60000; 0: never)\n"
          "  --drain-timeout MS   graceful shutdown deadline, then close (default 10000)\n"

          "  --metrics [HOST:]PORT\n"
          "                       serve Prometheus metrics at http://HOST:PORT/metrics,\n"
          "                       a listener apart from the app's (HOST: 127.0.0.1)\n"
          "  --static PREFIX=DIR  serve files of DIR under the URL PREFIX (e.g.\n"
          "                       /assets=public) without the app; repeatable\n"
          "  --path DIR           also search DIR for (import ...)\n"
          "  --watch              load the app again when one of its .lisp files changes\n"
          "                       (for development; see SIGHUP below)\n"
          "  --check              load the app and check its options, static directories\n"
          "                       and certificates, then exit (0 if all is well) without\n"
          "                       listening: for a deploy, before restarting the server\n\n"
          "SIGTERM or SIGINT drains gracefully (a second one exits at once); SIGHUP\n"
          "reopens the log files (after a rotation), reloads the TLS certificates and\n"
          "loads the app again: new requests run the new code, those in flight finish\n"
          "on the old; an app that fails to load changes nothing (see docs/web.md).\n"
          "Exit status: 0 after a graceful shutdown, 1 startup error, 2 usage error.\n");
}

}  // namespace

int serve_command(int argc, char** argv) {
  serve::ServeConfig flags;
  std::vector<std::string> paths, certs, keys;
  std::string app;
  bool check = false;
  bool watch = false;
  for (int i = 0; i < argc; i++) {
    std::string a = argv[i];
    auto value = [&](const char* name) -> const char* {
      if (i + 1 >= argc) {
        fprintf(stderr, "valk serve: %s needs a value\n", name);
        return nullptr;
      }
      return argv[++i];
    };
    const char* v = nullptr;
    // The flag's value as a number from lo to hi (-1 after a message).
    auto number = [&](long long lo, long long hi, const char* unit) -> long long {
      const char* text = value(a.c_str());
      if (text == nullptr) {
        return -1;
      }
      long long n = 0;
      auto [end, ec] = std::from_chars(text, text + strlen(text), n);
      if (ec != std::errc() || *end != '\0' || n < lo || n > hi) {
        fprintf(stderr, "valk serve: %s must be %s from %lld to %lld, got '%s'\n", a.c_str(), unit,
                lo, hi, text);
        return -1;
      }
      return n;
    };
    long long n;
    if (a == "--help" || a == "-h") {
      usage(stdout);
      return 0;
    } else if (a == "--host") {
      if (!(v = value("--host")))
        return 2;
      flags.host = v;
    } else if (a == "--port" || a == "--tls-port") {
      if ((n = number(0, 65535, "a port")) < 0)
        return 2;
      (a == "--port" ? flags.port : flags.tls_port) = static_cast<uint16_t>(n);
    } else if (a == "--tls-cert" || a == "--tls-key") {
      if (!(v = value(a.c_str())))
        return 2;
      (a == "--tls-cert" ? certs : keys).emplace_back(v);
    } else if (a == "--https-redirect") {
      flags.https_redirect = true;
    } else if (a == "--client-ca") {
      if (!(v = value("--client-ca")))
        return 2;
      flags.client_ca = v;
    } else if (a == "--client-cert") {
      if (!(v = value("--client-cert")))
        return 2;
      if (strcmp(v, "require") == 0) {
        flags.client_cert = ClientCertMode::kRequire;
      } else if (strcmp(v, "request") == 0) {
        flags.client_cert = ClientCertMode::kRequest;
      } else {
        fprintf(stderr, "valk serve: --client-cert must be require or request\n");
        return 2;
      }
    } else if (a == "--threads" || a == "--workers" || a == "--reactors") {
      if ((n = number(1, 256, "a count")) < 0)
        return 2;
      (a == "--threads"   ? flags.threads
       : a == "--workers" ? flags.workers
                          : flags.reactors) = static_cast<unsigned>(n);
    } else if (a == "--access-log") {
      if (!(v = value("--access-log")))
        return 2;
      flags.access_log = v;
    } else if (a == "--log-format") {
      if (!(v = value("--log-format")))
        return 2;
      if (strcmp(v, "json") == 0) {
        flags.log_format = AccessLogFormat::kJson;
      } else if (strcmp(v, "combined") == 0) {
        flags.log_format = AccessLogFormat::kCombined;
      } else {
        fprintf(stderr, "valk serve: --log-format must be combined or json\n");
        return 2;
      }
    } else if (a == "--error-log") {
      if (!(v = value("--error-log")))
        return 2;
      flags.error_log = v;
    } else if (a == "--log-level") {
      if (!(v = value("--log-level")))
        return 2;
      static const std::pair<const char*, LogLevel> kLevels[] = {{"debug", LogLevel::kDebug},
                                                                 {"info", LogLevel::kInfo},
                                                                 {"warn", LogLevel::kWarn},
                                                                 {"error", LogLevel::kError},
                                                                 {"off", LogLevel::kOff}};
      for (const auto& [name, level] : kLevels) {
        if (strcmp(v, name) == 0) {
          flags.log_level = level;
        }
      }
      if (!flags.log_level) {
        fprintf(stderr, "valk serve: --log-level must be debug, info, warn, error or off\n");
        return 2;
      }
    } else if (a == "--max-connections") {
      if ((n = number(1, serve::kMaxConnections, "a count")) < 0)
        return 2;
      flags.max_connections = static_cast<uint32_t>(n);
    } else if (a == "--idle-timeout" || a == "--drain-timeout" || a == "--deadline-ms") {
      if ((n = number(a == "--deadline-ms" ? 1 : 0, 86400000, "milliseconds")) < 0)
        return 2;
      (a == "--idle-timeout"    ? flags.idle_timeout_ms
       : a == "--drain-timeout" ? flags.drain_timeout_ms
                                : flags.request_deadline_ms) = static_cast<uint32_t>(n);
    } else if (a == "--instruction-budget") {
      if ((n = number(0, serve::kMaxInstructionBudget, "a count")) < 0)
        return 2;
      flags.instruction_budget = static_cast<uint64_t>(n);
    } else if (a == "--allocation-budget") {
      if ((n = number(0, serve::kMaxAllocationBudget, "bytes")) < 0)
        return 2;
      flags.allocation_budget = static_cast<uint64_t>(n);
    } else if (a == "--queue-size") {
      if ((n = number(1, serve::kMaxQueueSize, "a count")) < 0)
        return 2;
      flags.queue_size = static_cast<uint32_t>(n);
    } else if (a == "--max-body-size" || a == "--buffered-body-limit" || a == "--store-max-bytes") {
      if ((n = number(0, serve::kMaxBodySize, "bytes")) < 0)
        return 2;
      (a == "--max-body-size"         ? flags.max_body_size
       : a == "--buffered-body-limit" ? flags.buffered_body_limit
                                      : flags.store_max_bytes) = static_cast<uint64_t>(n);
    } else if (a == "--single-thread") {
      flags.single_thread = true;
    } else if (a == "--static") {
      if (!(v = value("--static")))
        return 2;
      std::string spec = v;
      size_t eq = spec.find('=');
      std::string problem;
      if (eq == std::string::npos || eq + 1 == spec.size()) {
        fprintf(stderr, "valk serve: --static takes PREFIX=DIR, e.g. /assets=public\n");
        return 2;
      }
      if (!serve::valid_static_prefix(spec.substr(0, eq), &problem)) {
        fprintf(stderr, "valk serve: --static: %s\n", problem.c_str());
        return 2;
      }
      flags.static_dirs.emplace_back(spec.substr(0, eq),
                                     std::filesystem::absolute(spec.substr(eq + 1)).string());
    } else if (a == "--metrics") {
      if (!(v = value("--metrics")))
        return 2;
      ListenAddress where;
      std::string problem;
      if (!serve::parse_metrics_address(v, &where, &problem)) {
        fprintf(stderr, "valk serve: --metrics: %s\n", problem.c_str());
        return 2;
      }
      flags.metrics = where;
    } else if (a == "--check") {
      check = true;
    } else if (a == "--watch") {
      watch = true;
    } else if (a == "--path") {
      if (!(v = value("--path")))
        return 2;
      paths.emplace_back(v);
    } else if (!a.empty() && a[0] == '-') {
      fprintf(stderr, "valk serve: unknown option '%s' (see valk serve --help)\n", a.c_str());
      return 2;
    } else if (app.empty()) {
      app = a;
    } else {
      fprintf(stderr, "valk serve: unexpected argument '%s'\n", a.c_str());
      return 2;
    }
  }
  if (app.empty()) {
    fprintf(stderr, "valk serve: missing APP.lisp (see valk serve --help)\n");
    return 2;
  }
  if (certs.size() != keys.size()) {
    fprintf(stderr,
            "valk serve: give --tls-cert and --tls-key in pairs, one key per certificate\n");
    return 2;
  }
  for (size_t i = 0; i < certs.size(); i++) {
    flags.certificates.push_back({certs[i], keys[i]});
  }

  // Signals are taken synchronously by this thread; block them before any
  // other thread starts so that they inherit the mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGUSR1);
  sigaddset(&signals, SIGUSR2);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  serve::AppSetup setup;
  setup.app_file = app;
  setup.module_paths = paths;
  setup.flags = flags;
  serve::App lisp_app;
  std::string error;
  if (!lisp_app.start(std::move(setup), &error)) {
    fprintf(stderr, "%s\n", error.c_str());
    return 1;
  }
  ServerOptions options = lisp_app.server_options();
  if (check) {
    // Everything start() would refuse short of binding: a check may run
    // beside the server it is about to replace.
    bool ok = options.certificates.empty() || net::TlsContext().init(options, &error);
    lisp_app.stop();
    if (!ok) {
      fprintf(stderr, "valk serve: %s\n", error.c_str());
      return 1;
    }
    fprintf(stderr, "valk: %s checked: the app loads, its options and certificates are good\n",
            app.c_str());
    return 0;
  }
  if (std::string warning = raise_descriptor_limit(options.limits.max_connections);
      !warning.empty()) {
    fprintf(stderr, "%s, or lower --max-connections\n", warning.c_str());
  }
  Server server(options,
                [&](Request& req, Responder res) { lisp_app.handle(req, std::move(res)); });
  if (!lisp_app.start_server(server, &error)) {
    fprintf(stderr, "valk serve: %s\n", error.c_str());
    lisp_app.stop();  // with shared loops, the workers' loops finish closing the server
    return 1;
  }
  lisp_app.log_to(&server);
  std::string where;
  for (size_t i = 0; i < options.listen.size(); i++) {
    bool tls = !options.certificates.empty() && options.listen[i].tls;
    where += std::string(i ? " and " : "") + (tls ? "https" : "http") + "://" +
             options.listen[i].host + ":" + std::to_string(server.port(i));
    if (!tls && options.https_redirect_port != 0) {
      where += " (redirecting to https)";
    }
  }
  size_t n = lisp_app.worker_count();
  std::string layout = lisp_app.shared_loops()
                           ? std::to_string(n) + (n == 1 ? " thread" : " threads") +
                                 ", each running a worker and a reactor on one loop"
                           : std::to_string(n) + (n == 1 ? " worker, " : " workers, ") +
                                 std::to_string(options.reactors) +
                                 (options.reactors == 1 ? " reactor" : " reactors");
  // Watching before the banner: a change made once it is out is seen.
  std::unique_ptr<FileWatch> watcher;
  if (watch) {
    pthread_t main_thread = pthread_self();
    watcher = std::make_unique<FileWatch>([main_thread] { pthread_kill(main_thread, SIGUSR2); });
    watcher->watch(lisp_app.source_dirs());
  }
  fprintf(stderr, "valk: serving %s on %s (%s)\n", app.c_str(), where.c_str(), layout.c_str());
  if (watch) {
    fprintf(stderr, "valk: --watch: a change to a .lisp file of the app reloads it\n");
  }
  MetricsEndpoint metrics;
  if (const auto& at = lisp_app.config().metrics) {
    auto workers = [&lisp_app](net::MetricsText& text) { lisp_app.append_metrics(text); };
    auto requests = [&lisp_app](Request&, Responder res) {
      lisp_app.requests_page(std::move(res));
    };
    if (!metrics.start(*at, server, options, workers, requests, &error)) {
      fprintf(stderr, "valk serve: %s\n", error.c_str());
      server.force_close();
      server.wait();
      lisp_app.stop();
      return 1;
    }
    fprintf(stderr, "valk: metrics on %s\n", metrics.url().c_str());
  }
  fflush(stderr);

  pthread_t main_thread = pthread_self();
  std::thread drainer;
  bool draining = false;
  for (;;) {
    int sig = 0;
    sigwait(&signals, &sig);
    if (sig == SIGUSR1) {
      break;  // the drain finished
    }
    if (sig == SIGUSR2) {  // --watch saw a change
      if (!draining) {
        std::string outcome = reload_app("valk: --watch", lisp_app);
        fprintf(stderr, "valk: --watch: files changed, %s\n", outcome.c_str());
        fflush(stderr);
        watcher->watch(lisp_app.source_dirs());  // it may import others now
      }
      continue;
    }
    if (sig == SIGHUP) {
      // Draining, the app is not loaded again for the requests that finish.
      reload("valk", server, &metrics, draining ? nullptr : &lisp_app);
      continue;
    }
    if (draining) {
      fprintf(stderr, "valk: second signal, exiting now\n");
      server.force_close();
      _exit(1);
    }
    draining = true;
    fprintf(stderr, "valk: %s received, draining (a second signal exits at once)\n",
            sig == SIGINT ? "SIGINT" : "SIGTERM");
    server.shutdown();
    drainer = std::thread([&server, main_thread] {
      server.wait();
      pthread_kill(main_thread, SIGUSR1);
    });
  }
  drainer.join();
  metrics.stop();
  lisp_app.stop();
  fprintf(stderr, "valk: stopped\n");
  return 0;
}

}  // namespace valk::cli
