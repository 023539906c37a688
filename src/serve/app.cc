#include "serve/app.h"

#include <condition_variable>
#include <filesystem>
#include <mutex>
#include <set>

#include "lisp/h1_client.h"
#include "lisp/redis_client.h"
#include "lisp/shared_store.h"
#include "serve/request_body.h"
#include "util/cores.h"
#include "valk/static_files.h"

namespace valk::serve {

App::~App() {
  stop();
}

bool App::start(AppSetup setup, std::string* error) {
  unsigned cores = available_cores();
  auto make_worker = [&](int index) {
    WorkerOptions o;
    o.app_file = setup.app_file;
    o.index = index;
    o.module_paths = setup.module_paths;
    o.flags = setup.flags;
    o.define_natives = setup.define_natives;
    o.log = [this](LogLevel level, const std::string& line) {
      if (const Server* server = log_server_.load()) {
        server->log(level, line);
      } else {
        fprintf(stderr, "valk: %s\n", line.c_str());
        fflush(stderr);
      }
    };
    return std::make_unique<Worker>(o);
  };
  workers_.push_back(make_worker(0));
  if (!workers_[0]->start(error)) {
    workers_.clear();
    return false;
  }
  const ServeConfig& c = config();
  if (!check_serve_config(c, error)) {
    stop();
    return false;
  }
  // By default (and with threads or single-thread) each of N threads runs a
  // worker and a reactor on one loop, and a request never changes threads.
  // Asked for workers or reactors, reactor threads hand the requests to
  // worker threads, so any worker can take any connection's requests, at
  // the cost of two thread wakeups per request when the workers are idle.
  shared_loops_ = setup.allow_shared_loops && !c.workers && !c.reactors;
  unsigned n_workers = shared_loops_
                           ? c.threads.value_or(c.single_thread.value_or(false) ? 1 : cores)
                           : c.workers.value_or(cores);
  buffered_body_limit_ = c.buffered_body_limit.value_or(kDefaultBufferedBody);
  // The store is the process's; the limit applies from here on (worker 0's
  // first load is not bounded by it).
  lisp::SharedStore::process().set_max_bytes(c.store_max_bytes.value_or(0));
  // A relative directory in the app's options is relative to the app file
  // (the flags' are absolute).
  for (const auto& [prefix, dir] : c.static_dirs) {
    StaticOptions so;
    so.root = std::filesystem::path(setup.app_file).parent_path() / dir;
    so.url_prefix = prefix;
    Handler h = make_static_handler(so, error);
    if (!h) {
      *error = "valk serve: static " + prefix + ": " + *error;
      stop();
      return false;
    }
    mounts_.push_back({prefix, std::move(h)});
  }
  for (unsigned i = 1; i < n_workers; i++) {
    workers_.push_back(make_worker(static_cast<int>(i)));
    if (!workers_.back()->start(error)) {
      workers_.pop_back();
      stop();
      return false;
    }
  }
  if (c.metrics) {
    for (const auto& w : workers_) {
      w->count_routes();
    }
  }
  return true;
}

ServerOptions App::server_options() const {
  const ServeConfig& c = config();
  unsigned cores = available_cores();
  ServerOptions o;
  std::string host = c.host.value_or("127.0.0.1");
  o.listen = {ListenAddress{host, c.port.value_or(8080)}};
  if (c.tls_port) {
    // Plain HTTP and h2c on the port, TLS on the TLS port.
    o.listen[0].tls = false;
    o.listen.push_back(ListenAddress{host, *c.tls_port, true});
    if (c.https_redirect.value_or(false)) {
      o.https_redirect_port = *c.tls_port;
    }
  }
  o.reactors = c.reactors.value_or(std::max(1u, cores / 2));
  o.certificates = c.certificates;
  if (c.client_ca) {
    o.client_ca_file = *c.client_ca;
    o.client_cert = c.client_cert.value_or(ClientCertMode::kRequire);
  }
  if (c.max_body_size) {
    o.limits.max_body_size = *c.max_body_size;
  }
  if (c.max_connections) {
    o.limits.max_connections = *c.max_connections;
  }
  if (c.idle_timeout_ms) {
    o.timeouts.idle = *c.idle_timeout_ms;
  }
  if (c.drain_timeout_ms) {
    o.timeouts.drain = *c.drain_timeout_ms;
  }
  o.access_log = c.access_log.value_or("");
  o.access_log_format = c.log_format.value_or(AccessLogFormat::kCombined);
  o.error_log = c.error_log.value_or("-");
  o.log_level = c.log_level.value_or(LogLevel::kWarn);
  o.record_durations = c.metrics.has_value();
  if (shared_loops_) {
    for (const auto& w : workers_) {
      o.loops.push_back(w->loop());
    }
    o.run_on_loop = [this](size_t i, const std::function<void()>& step) {
      workers_[i]->call(step);
    };
    // An HTTP/2 read can carry many streams' requests, so its requests run
    // as soon as it is handed over and each connection of a burst is
    // answered in turn (h2 and h2c p99 a third lower under h2load --rps).
    // An HTTP/1.1 read carries one small request: those of a loop turn run
    // together in its check phase, which does the per-round work once per
    // turn, runs each stage's code for all of them in a row (per read, the
    // whole path came back into the instruction cache for every request),
    // and lets a client take the answers in one wakeup. Its p99 was lower
    // that way in every HTTP/1.1 load measured (docs/performance.md,
    // "Latency under load").
    o.on_input_handled = [](Protocol p) {
      if (p == Protocol::kHttp2) {
        Worker::current()->run_handed_over();
      }
    };
  }
  return o;
}

void App::handle(Request& req, Responder res) {
  for (const StaticMount& m : mounts_) {
    std::string_view path = req.path();
    if (path.starts_with(m.prefix) &&
        (path.size() == m.prefix.size() || path[m.prefix.size()] == '/')) {
      m.handler(req, std::move(res));
      return;
    }
  }
  post(req, std::move(res));
}

void App::post(Request& req, Responder res) {
  auto r = std::make_unique<HttpRequest>(req);
  r->id = next_id_.fetch_add(1, std::memory_order_relaxed);
  r->responder = res;
  // With shared loops this is the worker of the reactor's own thread.
  Worker* w =
      shared_loops_
          ? Worker::current()
          : workers_[next_worker_.fetch_add(1, std::memory_order_relaxed) % workers_.size()].get();
  uint64_t id = r->id;
  req.on_cancel([w, id] { w->cancel(id); });
  auto post = [w, res](std::unique_ptr<HttpRequest> r) {
    if (w->post(std::move(r))) {
      return true;
    }
    res.respond(503, {{"retry-after", "1"}, {"content-type", "text/plain; charset=utf-8"}},
                "Service Unavailable: the server is overloaded\n");
    return false;
  };
  if (!req.has_body() && !req.upgrade_offered()) {
    post(std::move(r));
    return;
  }
  int64_t length = req.content_length();
  if (req.upgrade_offered() || length < 0 || static_cast<uint64_t>(length) > buffered_body_limit_) {
    // The handler runs now and reads the body as it comes, at its pace
    // (after an upgrade: the connection's bytes).
    auto pipe = std::make_shared<BodyPipe>();
    r->body_pipe = pipe;
    uint64_t id = r->id;
    req.read_body(make_pipe_reader(pipe, res, [w, id] { w->body_arrived(id); }), BodyFlow::kPaced);
    if (!post(std::move(r))) {
      std::lock_guard<std::mutex> lock(pipe->mu);
      pipe->abandoned = true;
    }
    return;
  }
  auto holder = std::make_shared<std::unique_ptr<HttpRequest>>(std::move(r));
  req.read_body([holder, post](std::string_view chunk, bool last) {
    (*holder)->body.append(chunk);
    if (last) {
      post(std::move(*holder));
    }
  });
}

bool App::start_server(Server& server, std::string* error) {
  if (!server.start(error)) {
    return false;
  }
  if (shared_loops_) {
    for (const auto& w : workers_) {
      Worker* p = w.get();
      p->call([p, &server] { p->set_before_block([&server] { server.flush(); }); });
    }
  }
  return true;
}

void App::append_metrics(net::MetricsText& out) const {
  WorkerStats sum;
  for (const auto& w : workers_) {
    sum.add(w->stats());
  }
  using Type = net::MetricsText::Type;
  out.gauge("valk_workers", "Lisp workers (isolates), each running the app.", workers_.size());
  out.gauge("valk_app_generation",
            "The app's code generation: 1 at start, one more per reload that loaded.",
            generation());
  out.family("valk_app_reloads_total", Type::kCounter,
             "Reloads of the app's code (SIGHUP, --watch): loaded, or failed and changed nothing.");
  out.sample("valk_app_reloads_total", "{result=\"loaded\"}",
             reloads_loaded_.load(std::memory_order_relaxed));
  out.sample("valk_app_reloads_total", "{result=\"failed\"}",
             reloads_failed_.load(std::memory_order_relaxed));
  out.counter("valk_worker_queue_rejections_total",
              "Requests answered 503 because their worker's queue was full.", sum.rejected);
  out.counter("valk_handler_errors_total",
              "Requests answered 500: the handler raised an error or returned no valid response.",
              sum.errors);
  out.family("valk_handler_timeouts_total", Type::kCounter,
             "Requests answered 503 for running past their deadline, instruction budget or "
             "allocation budget.");
  out.sample("valk_handler_timeouts_total", "{limit=\"deadline\"}", sum.over_deadline);
  out.sample("valk_handler_timeouts_total", "{limit=\"instruction_budget\"}", sum.over_budget);
  out.sample("valk_handler_timeouts_total", "{limit=\"allocation_budget\"}", sum.over_allocation);
  out.gauge("valk_handlers_running",
            "Requests in the workers: handlers running, parked on an await, or streaming.",
            sum.requests);
  out.gauge("valk_lisp_heap_live_bytes", "Bytes of the Lisp heaps' live objects.",
            sum.heap_live_bytes);
  out.gauge("valk_lisp_heap_page_bytes", "Bytes the Lisp heaps hold in pages, used or free.",
            sum.heap_page_bytes);
  out.counter("valk_lisp_allocated_bytes_total", "Bytes allocated on the Lisp heaps.",
              sum.heap_allocated_bytes);
  out.counter("valk_lisp_collections_total", "Garbage collections of the Lisp heaps.",
              sum.collections);
  out.family("valk_lisp_collection_seconds_total", Type::kCounter,
             "Time the Lisp heaps' garbage collections took: each pauses its worker's requests.");
  out.sample("valk_lisp_collection_seconds_total", "", sum.collection_ns / 1e9);
  out.family("valk_lisp_collection_longest_seconds", Type::kGauge,
             "The longest garbage collection of any worker since the start.");
  out.sample("valk_lisp_collection_longest_seconds", "", sum.collection_ns_longest / 1e9);
  lisp::SharedStore::Stats store = lisp::SharedStore::process().stats();
  out.gauge("valk_store_entries",
            "Entries of the shared store (store/put!), expired ones not yet swept included.",
            store.entries);
  out.gauge("valk_store_bytes", "Bytes of the shared store's keys and values.", store.bytes);
  out.gauge("valk_store_max_bytes", "The shared store's limit (:store-max-bytes); 0: none.",
            lisp::SharedStore::process().max_bytes());
  const lisp::RedisCounters& redis = lisp::RedisCounters::process();
  auto relaxed = [](const std::atomic<uint64_t>& n) { return n.load(std::memory_order_relaxed); };
  out.family("valk_redis_commands_total", Type::kCounter,
             "Redis commands by how they ended: a reply, an error reply, or no reply (the "
             "connection could not be made or was lost).");
  out.sample("valk_redis_commands_total", "{result=\"reply\"}",
             relaxed(redis.replies) - relaxed(redis.error_replies));
  out.sample("valk_redis_commands_total", "{result=\"error\"}", relaxed(redis.error_replies));
  out.sample("valk_redis_commands_total", "{result=\"failed\"}", relaxed(redis.failed));
  out.family("valk_redis_connects_total", Type::kCounter,
             "Connections to Redis made, or failed (refused, timed out, the name not found).");
  out.sample("valk_redis_connects_total", "{result=\"made\"}", relaxed(redis.connects));
  out.sample("valk_redis_connects_total", "{result=\"failed\"}", relaxed(redis.connect_failures));
  out.counter("valk_redis_messages_total", "Messages Redis subscriptions took.",
              relaxed(redis.messages));
  const lisp::HttpRequestCounters& http = lisp::HttpRequestCounters::process();
  out.family("valk_outgoing_requests_total", Type::kCounter,
             "http/request calls by how they ended: a response (of any status), the error's "
             ":kind, or cancelled.");
  for (size_t i = 0; i < std::size(http.kResults); ++i) {
    out.sample("valk_outgoing_requests_total", std::string("{result=\"") + http.kResults[i] + "\"}",
               relaxed(http.ended[i]));
  }
  out.family("valk_outgoing_connections_total", Type::kCounter,
             "Cleartext HTTP/1.1 connections http/request made or could not make (libcurl's, "
             "for TLS and h2c, are not counted).");
  out.sample("valk_outgoing_connections_total", "{result=\"made\"}", relaxed(http.connects));
  out.sample("valk_outgoing_connections_total", "{result=\"failed\"}",
             relaxed(http.connect_failures));
  append_route_metrics(out);
}

void App::append_route_metrics(net::MetricsText& out) const {
  std::map<std::string, RouteStats> routes;
  for (const auto& w : workers_) {
    for (const auto& [route, stats] : w->route_stats()) {
      routes[route].add(stats);
    }
  }
  using Type = net::MetricsText::Type;
  out.family("valk_route_requests_total", Type::kCounter,
             "Requests answered by each route of the router, by status class.");
  for (const auto& [route, stats] : routes) {
    std::string label = "{route=\"" + net::MetricsText::label_value(route) + "\",code=\"";
    for (int c = 0; c < 5; ++c) {
      if (stats.by_class[c] != 0) {
        out.sample("valk_route_requests_total", label + std::to_string(c + 1) + "xx\"}",
                   stats.by_class[c]);
      }
    }
  }
  // A counter by route of one of RouteStats's figures.
  auto by_route = [&](const char* name, const char* help, uint64_t RouteStats::*figure) {
    out.family(name, Type::kCounter, help);
    for (const auto& [route, stats] : routes) {
      out.sample(name, "{route=\"" + net::MetricsText::label_value(route) + "\"}", stats.*figure);
    }
  };
  by_route("valk_route_instructions_total",
           "VM work of each route's handlers (the units of the instruction budget), a profile of "
           "where the CPU goes.",
           &RouteStats::instructions);
  by_route("valk_route_allocated_bytes_total",
           "Bytes each route's handlers allocated on the Lisp heap (garbage included), a profile "
           "of where the memory goes.",
           &RouteStats::allocated_bytes);
  out.family("valk_route_handler_seconds", Type::kHistogram,
             "Time from a request's hand-over to its worker to its response, by route.");
  for (const auto& [route, stats] : routes) {
    out.histogram("valk_route_handler_seconds",
                  "route=\"" + net::MetricsText::label_value(route) + "\"", stats.durations);
  }
}

bool App::reload(std::string* error) {
  struct Outcome {
    std::mutex mu;
    std::condition_variable cv;
    size_t pending = 0;
    std::string error;  // the first worker's that failed
  } outcome;
  auto reload = [&outcome](Worker& w) {
    w.reload([&outcome](bool ok, const std::string& e) {
      std::lock_guard<std::mutex> lock(outcome.mu);
      if (!ok && outcome.error.empty()) {
        outcome.error = e;
      }
      if (--outcome.pending == 0) {
        outcome.cv.notify_all();
      }
    });
  };
  auto wait = [&outcome] {
    std::unique_lock<std::mutex> lock(outcome.mu);
    outcome.cv.wait(lock, [&outcome] { return outcome.pending == 0; });
    return outcome.error.empty();
  };
  auto failed = [&] {
    *error = outcome.error;
    reloads_failed_.fetch_add(1, std::memory_order_relaxed);
    return false;
  };
  outcome.pending = 1;
  reload(*workers_[0]);
  if (!wait()) {
    return failed();
  }
  outcome.pending = workers_.size() - 1;
  for (size_t i = 1; i < workers_.size(); i++) {
    reload(*workers_[i]);
  }
  if (!wait()) {
    return failed();
  }
  reloads_loaded_.fetch_add(1, std::memory_order_relaxed);
  return true;
}

std::vector<std::string> App::source_dirs() {
  std::set<std::string> dirs;
  for (const std::string& file : workers_[0]->source_files()) {
    dirs.insert(std::filesystem::path(file).parent_path().string());
  }
  return {dirs.begin(), dirs.end()};
}

void App::requests_page(Responder res) const {
  struct Page {
    std::mutex mu;
    Responder res;
    std::vector<std::string> requests;  // a worker's objects
    std::vector<std::string> workers;   // a worker's summary
    size_t remaining;
  };
  auto page = std::make_shared<Page>();
  page->res = std::move(res);
  page->requests.resize(workers_.size());
  page->workers.resize(workers_.size());
  page->remaining = workers_.size();
  // Called once per worker, under the lock; the last one answers.
  auto done = [](Page& p) {
    if (--p.remaining != 0) {
      return;
    }
    std::string body = "{\"workers\":[";
    for (size_t i = 0; i < p.workers.size(); i++) {
      body += (i ? "," : "") + p.workers[i];
    }
    body += "],\"requests\":[";
    bool first = true;
    for (const std::string& part : p.requests) {
      if (!part.empty()) {
        body += (first ? "" : ",") + part;
        first = false;
      }
    }
    body += "]}\n";
    p.res.respond(200, {{"content-type", "application/json"}, {"cache-control", "no-store"}},
                  std::move(body));
  };
  for (size_t i = 0; i < workers_.size(); i++) {
    Worker* w = workers_[i].get();
    std::string worker = "{\"worker\":" + std::to_string(i);
    bool posted = w->call_later([page, w, i, worker, done] {
      std::string part;
      size_t held = w->describe_requests(&part, kRequestsShown);
      std::lock_guard<std::mutex> lock(page->mu);
      page->requests[i] = std::move(part);
      page->workers[i] = worker + ",\"generation\":" + std::to_string(w->generation()) +
                         ",\"requests\":" + std::to_string(held) + "}";
      done(*page);
    });
    if (!posted) {
      std::lock_guard<std::mutex> lock(page->mu);
      page->workers[i] = worker + ",\"unavailable\":\"its queue is full\"}";
      done(*page);
    }
  }
}

void App::stop() {
  for (auto& w : workers_) {
    w->stop();
  }
  workers_.clear();
}

}  // namespace valk::serve
