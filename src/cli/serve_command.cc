// valk serve APP.lisp: runs a Lisp web app on the network core.
//
// Worker 0 loads the app first, so a broken app fails fast with one clear
// message; the settings of its (serve app {...}) call, overridden by the
// flags, configure the server; then the other workers load the app and the
// server starts. SIGINT/SIGTERM drain gracefully; a second one exits now.
#include <pthread.h>
#include <signal.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "cli/commands.h"
#include "serve/serve_config.h"
#include "serve/worker.h"
#include "valk/server.h"
#include "valk/static_files.h"

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
          "  --tls-cert FILE      PEM certificate chain: serve HTTPS (h2 and http/1.1)\n"
          "  --tls-key FILE       PEM private key for --tls-cert\n"
          "  --workers N          Lisp workers, each with its own isolate (default: cores)\n"
          "  --reactors N         network threads (default: half the cores, at least 1)\n"
          "  --access-log FILE    access log ('-' for stdout; default off)\n"
          "  --log-format FMT     access log format: combined or json (default combined)\n"
          "  --deadline-ms MS     per-request deadline, then 503 (default 30000)\n"
          "  --instruction-budget N\n"
          "                       Lisp instructions a request may run, then 503\n"
          "                       (default 1000000000; 0: no limit)\n"
          "  --queue-size N       requests waiting per worker; more get 503 (default 16384)\n"
          "  --max-body-size N    largest request body in bytes; more gets 413\n"
          "                       (default 67108864)\n"
          "  --buffered-body-limit N\n"
          "                       bodies of a declared length up to N bytes are read\n"
          "                       whole before the handler runs; others stream in\n"
          "                       (default 1048576)\n"
          "  --single-thread      one worker whose thread also runs the network loop\n"
          "                       (no thread hop; the default on one core)\n"
          "  --static PREFIX=DIR  serve files of DIR under the URL PREFIX (e.g.\n"
          "                       /assets=public) without the app; repeatable\n"
          "  --path DIR           also search DIR for (import ...)\n\n"
          "Exit status: 0 after a graceful shutdown, 1 startup error, 2 usage error.\n");
}

bool parse_number(const char* s, long min, long max, long* out) {
  char* end = nullptr;
  long v = strtol(s, &end, 10);
  if (end == s || *end != '\0' || v < min || v > max) {
    return false;
  }
  *out = v;
  return true;
}

}  // namespace

int serve_command(int argc, char** argv) {
  serve::ServeConfig flags;
  std::vector<std::string> paths;
  std::string app;
  for (int i = 0; i < argc; i++) {
    std::string a = argv[i];
    auto value = [&](const char* name) -> const char* {
      if (i + 1 >= argc) {
        fprintf(stderr, "valk serve: %s needs a value\n", name);
        return nullptr;
      }
      return argv[++i];
    };
    long n;
    const char* v = nullptr;
    if (a == "--help" || a == "-h") {
      usage(stdout);
      return 0;
    } else if (a == "--host") {
      if (!(v = value("--host")))
        return 2;
      flags.host = v;
    } else if (a == "--port") {
      if (!(v = value("--port")))
        return 2;
      if (!parse_number(v, 0, 65535, &n)) {
        fprintf(stderr, "valk serve: --port must be 0..65535\n");
        return 2;
      }
      flags.port = static_cast<uint16_t>(n);
    } else if (a == "--tls-cert") {
      if (!(v = value("--tls-cert")))
        return 2;
      flags.tls_cert = v;
    } else if (a == "--tls-key") {
      if (!(v = value("--tls-key")))
        return 2;
      flags.tls_key = v;
    } else if (a == "--workers" || a == "--reactors") {
      if (!(v = value(a.c_str())))
        return 2;
      if (!parse_number(v, 1, 256, &n)) {
        fprintf(stderr, "valk serve: %s must be 1..256\n", a.c_str());
        return 2;
      }
      (a == "--workers" ? flags.workers : flags.reactors) = static_cast<unsigned>(n);
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
    } else if (a == "--deadline-ms") {
      if (!(v = value("--deadline-ms")))
        return 2;
      if (!parse_number(v, 1, 86400000, &n)) {
        fprintf(stderr, "valk serve: --deadline-ms must be a positive number\n");
        return 2;
      }
      flags.request_deadline_ms = static_cast<uint32_t>(n);
    } else if (a == "--instruction-budget") {
      if (!(v = value("--instruction-budget")))
        return 2;
      char* end = nullptr;
      unsigned long long b = strtoull(v, &end, 10);
      if (end == v || *end != '\0' || v[0] == '-' ||
          b > static_cast<unsigned long long>(serve::kMaxInstructionBudget)) {
        fprintf(stderr, "valk serve: --instruction-budget must be a number from 0 to %lld\n",
                static_cast<long long>(serve::kMaxInstructionBudget));
        return 2;
      }
      flags.instruction_budget = b;
    } else if (a == "--queue-size") {
      if (!(v = value("--queue-size")))
        return 2;
      if (!parse_number(v, 1, serve::kMaxQueueSize, &n)) {
        fprintf(stderr, "valk serve: --queue-size must be 1..%lld\n",
                static_cast<long long>(serve::kMaxQueueSize));
        return 2;
      }
      flags.queue_size = static_cast<uint32_t>(n);
    } else if (a == "--max-body-size" || a == "--buffered-body-limit") {
      if (!(v = value(a.c_str())))
        return 2;
      if (!parse_number(v, 0, serve::kMaxBodySize, &n)) {
        fprintf(stderr, "valk serve: %s must be a number of bytes from 0 to %lld\n", a.c_str(),
                static_cast<long long>(serve::kMaxBodySize));
        return 2;
      }
      (a == "--max-body-size" ? flags.max_body_size : flags.buffered_body_limit) =
          static_cast<uint64_t>(n);
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

  // Signals are taken synchronously by this thread; block them before any
  // other thread starts so that they inherit the mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGUSR1);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  unsigned cores = std::max(1u, std::thread::hardware_concurrency());
  auto make_worker = [&](int index) {
    serve::WorkerOptions o;
    o.app_file = app;
    o.index = index;
    o.module_paths = paths;
    o.flags = flags;
    return std::make_unique<serve::Worker>(o);
  };
  std::vector<std::unique_ptr<serve::Worker>> workers;
  workers.push_back(make_worker(0));
  std::string error;
  if (!workers[0]->start(&error)) {
    fprintf(stderr, "%s\n", error.c_str());
    return 1;
  }
  const serve::ServeConfig& config = workers[0]->config();
  if (config.tls_cert.has_value() != config.tls_key.has_value()) {
    fprintf(stderr, "valk serve: TLS needs both a certificate and a key\n");
    return 1;
  }
  // On one core the reactor shares the worker's thread unless told not to.
  bool single_thread = config.single_thread.value_or(cores == 1);
  unsigned n_workers = single_thread ? 1 : config.workers.value_or(cores);
  for (unsigned i = 1; i < n_workers; i++) {
    workers.push_back(make_worker(static_cast<int>(i)));
    if (!workers.back()->start(&error)) {
      fprintf(stderr, "%s\n", error.c_str());
      return 1;
    }
  }

  ServerOptions options;
  options.listen = {ListenAddress{config.host.value_or("127.0.0.1"), config.port.value_or(8080)}};
  options.reactors = config.reactors.value_or(std::max(1u, cores / 2));
  if (config.tls_cert) {
    options.certificates = {TlsCertificate{*config.tls_cert, *config.tls_key}};
  }
  if (config.max_body_size) {
    options.limits.max_body_size = *config.max_body_size;
  }
  uint64_t buffered_body_limit = config.buffered_body_limit.value_or(serve::kDefaultBufferedBody);
  options.access_log = config.access_log.value_or("");
  options.access_log_format = config.log_format.value_or(AccessLogFormat::kCombined);

  std::atomic<uint64_t> next_id{1};
  std::atomic<uint64_t> next_worker{0};
  // Static directories, served on the reactors. A relative directory in the
  // app's options is relative to the app file (the flags' are absolute).
  struct StaticMount {
    std::string prefix;
    Handler handler;
  };
  std::vector<StaticMount> mounts;
  for (const auto& entry : config.static_dirs) {
    StaticOptions so;
    so.root = std::filesystem::path(app).parent_path() / entry.second;
    so.url_prefix = entry.first;
    Handler h = make_static_handler(so, &error);
    if (!h) {
      fprintf(stderr, "valk serve: static %s: %s\n", entry.first.c_str(), error.c_str());
      return 1;
    }
    mounts.push_back({entry.first, std::move(h)});
  }

  Handler handler = [&](Request& req, Responder res) {
    for (const StaticMount& m : mounts) {
      std::string_view path = req.path();
      if (path.starts_with(m.prefix) &&
          (path.size() == m.prefix.size() || path[m.prefix.size()] == '/')) {
        m.handler(req, std::move(res));
        return;
      }
    }
    auto r = std::make_unique<serve::HttpRequest>();
    r->id = next_id.fetch_add(1, std::memory_order_relaxed);
    r->responder = res;
    r->method = req.method();
    r->path = req.path();
    r->query = req.query();
    r->authority = req.authority();
    r->scheme = req.scheme();
    r->peer = req.peer();
    r->protocol = req.protocol();
    for (const HeaderView& h : req.headers()) {
      r->headers.emplace_back(std::string(h.name), std::string(h.value));
    }
    serve::Worker* w =
        workers[next_worker.fetch_add(1, std::memory_order_relaxed) % workers.size()].get();
    uint64_t id = r->id;
    req.on_cancel([w, id] { w->cancel(id); });
    auto post = [w, res](std::unique_ptr<serve::HttpRequest> r) {
      if (w->post(std::move(r))) {
        return true;
      }
      res.respond(503, {{"retry-after", "1"}, {"content-type", "text/plain; charset=utf-8"}},
                  "Service Unavailable: the server is overloaded\n");
      return false;
    };
    if (!req.has_body()) {
      post(std::move(r));
      return;
    }
    int64_t length = req.content_length();
    if (length < 0 || static_cast<uint64_t>(length) > buffered_body_limit) {
      // The handler runs now and reads the body as it comes, at its pace.
      auto pipe = std::make_shared<serve::BodyPipe>();
      r->body_pipe = pipe;
      req.read_body(serve::make_pipe_reader(pipe, res, [w] { w->body_arrived(); }),
                    BodyFlow::kPaced);
      if (!post(std::move(r))) {
        std::lock_guard<std::mutex> lock(pipe->mu);
        pipe->abandoned = true;
      }
      return;
    }
    auto holder = std::make_shared<std::unique_ptr<serve::HttpRequest>>(std::move(r));
    req.read_body([holder, post](std::string_view chunk, bool last) {
      (*holder)->body.append(chunk);
      if (last) {
        post(std::move(*holder));
      }
    });
  };

  if (single_thread) {
    options.loop = workers[0]->loop();
    options.reactors = 1;
  }
  Server server(options, handler);
  bool started = false;
  if (single_thread) {
    // The server's reactor lives on the worker's loop: start it there.
    workers[0]->call([&] { started = server.start(&error); });
  } else {
    started = server.start(&error);
  }
  if (!started) {
    fprintf(stderr, "valk serve: %s\n", error.c_str());
    workers[0]->stop();  // its loop finishes closing a single-thread server
    return 1;
  }
  fprintf(stderr, "valk: serving %s on %s://%s:%u (%u workers, %u reactors)\n", app.c_str(),
          config.tls_cert ? "https" : "http", options.listen[0].host.c_str(), server.port(),
          n_workers, options.reactors);
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
  for (auto& w : workers) {
    w->stop();
  }
  fprintf(stderr, "valk: stopped\n");
  return 0;
}

}  // namespace valk::cli
