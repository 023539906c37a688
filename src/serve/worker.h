// A Lisp worker: a thread that owns one isolate, loads the app into it and
// runs each HTTP request as a fiber.
//
// Reactor threads hand requests over with post() through a bounded MPSC
// queue with one coalesced wakeup per batch; responses go back through the
// request's valk::Responder, whose own queue hops to the reactor.
//
// A handler whose response :body is a function streams: the worker sends
// the head, then runs the function in a new fiber with a response stream
// that `write` sends chunks to. A write that leaves more than
// kStreamHighWater bytes unsent parks the fiber until the reactor reports
// the bytes sent (the peer's flow-control window and the socket set the
// pace).
#pragma once

#include <uv.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "net/mpsc.h"
#include "serve/request_body.h"
#include "serve/serve_config.h"
#include "valk/server.h"

namespace valk {
class Runtime;
}

namespace valk::lisp {
class Isolate;
struct Fiber;
struct Promise;
}  // namespace valk::lisp

namespace valk::serve {

class HttpKeys;
class ResponseHeaderCache;
struct RecentRequestParts;

// The TLS facts of the connection a request came on (TlsInfo's), as
// views into the request's text.
struct RequestTls {
  std::string_view version, cipher, alpn, sni, client_subject;
  bool resumed = false, client_cert_present = false, client_cert_verified = false;
  std::vector<std::string_view> client_chain;  // PEM, leaf first
};

// A request copied off the reactor: everything the Lisp side may look at.
// The head's text is copied into one string that the views point into.
struct HttpRequest {
  HttpRequest() = default;
  HttpRequest(const HttpRequest&) = delete;
  HttpRequest& operator=(const HttpRequest&) = delete;
  // Copies the head of `req`.
  explicit HttpRequest(Request& req);
  // "GET /path", for log lines.
  std::string line() const;

  uint64_t id = 0;  // unique in its worker; cancellations name it
  Responder responder;
  std::string text;
  std::string_view method, path, query, authority, scheme, peer;
  std::string_view connect_protocol;  // Request::connect_protocol
  std::vector<std::pair<std::string_view, std::string_view>> headers;
  // The connection's TLS facts; absent over plain TCP.
  std::optional<RequestTls> tls;
  // The headers' names and values back to back (a view into `text`).
  std::string_view header_text;
  std::string body;  // the whole body, read before the handler runs
  // Or, for a body that streams in after the head: what the reactor feeds.
  std::shared_ptr<BodyPipe> body_pipe;
  Protocol protocol = Protocol::kHttp11;
  // The client asks to switch protocols (Request::upgrade_offered): the
  // body pipe carries the connection's bytes once a 101 answers, and the
  // request has no body before.
  bool upgrade = false;
};

struct WorkerMessage {
  enum class Kind { Request, Cancel, Stop, Call };
  Kind kind = Kind::Request;
  std::unique_ptr<HttpRequest> request;
  uint64_t id = 0;           // for Cancel
  std::function<void()> fn;  // for Call
};

struct WorkerOptions {
  std::string app_file;
  int index = 0;
  ServeConfig flags;  // override what the app passes to serve
  std::vector<std::string> module_paths;
  // Runs on the worker's thread before the app loads (a host's natives).
  std::function<void(Runtime&)> define_natives;
  // Where the worker's error lines go (Lisp errors, deadlines, a full
  // queue). Called from the worker's thread and from reactors (a full
  // queue). Required.
  std::function<void(LogLevel, const std::string&)> log;
};

// What a worker has answered and holds, for /metrics.
struct WorkerStats {
  uint64_t rejected = 0;         // 503: the queue was full
  uint64_t errors = 0;           // 500: an uncaught error or an invalid response
  uint64_t over_deadline = 0;    // 503: past the request deadline
  uint64_t over_budget = 0;      // 503: past the instruction budget
  uint64_t over_allocation = 0;  // 503: past the allocation budget
  // As of the worker's last deadline sweep (every 100 ms):
  uint64_t requests = 0;  // handlers running, parked or streaming
  uint64_t heap_live_bytes = 0;
  uint64_t heap_page_bytes = 0;
  uint64_t heap_allocated_bytes = 0;  // ever
  uint64_t collections = 0;
  uint64_t collection_ns = 0;          // in all
  uint64_t collection_ns_longest = 0;  // summed: the longest of any worker

  // Adds another worker's figures (App::append_metrics sums them).
  void add(const WorkerStats& o) {
    rejected += o.rejected;
    errors += o.errors;
    over_deadline += o.over_deadline;
    over_budget += o.over_budget;
    over_allocation += o.over_allocation;
    requests += o.requests;
    heap_live_bytes += o.heap_live_bytes;
    heap_page_bytes += o.heap_page_bytes;
    heap_allocated_bytes += o.heap_allocated_bytes;
    collections += o.collections;
    collection_ns += o.collection_ns;
    collection_ns_longest = std::max(collection_ns_longest, o.collection_ns_longest);
  }
};

// What one route (the router's label of a request's fiber, "GET
// /users/:id") answered, by status class, and how long its handlers took
// from the request's hand-over to the response (its head, if streamed).
struct RouteStats {
  uint64_t by_class[5] = {};  // 1xx .. 5xx
  RequestDurations durations;
  // VM work of its handlers' fibers (Fiber::instructions: the units the
  // instruction budget counts), up to their responses.
  uint64_t instructions = 0;
  // Bytes they allocated on the Lisp heap (Fiber::allocated), likewise.
  uint64_t allocated_bytes = 0;

  void add(const RouteStats& o) {
    for (size_t i = 0; i < 5; ++i) {
      by_class[i] += o.by_class[i];
    }
    durations.add(o.durations);
    instructions += o.instructions;
    allocated_bytes += o.allocated_bytes;
  }
};

class Worker {
 public:
  explicit Worker(WorkerOptions options);
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  // Starts the thread, loads the app and waits until it has called
  // (serve app opts). Returns false with a message (the Lisp error report
  // with file:line:column) if loading failed. Main thread.
  bool start(std::string* error);
  // The worker whose thread this is, or null.
  static Worker* current();
  // What the app passed to `serve`, overridden by the flags. Valid after a
  // successful start().
  const ServeConfig& config() const { return config_; }

  // Hands a request over. False when the queue is full (the caller answers
  // 503). Any thread.
  bool post(std::unique_ptr<HttpRequest> request);
  // Cancels the request's fiber (client reset or disconnect). Any thread.
  void cancel(uint64_t id);
  // The streamed body of request `id` has what its parked reader waits
  // for. Any thread.
  void body_arrived(uint64_t id);
  // Runs `fn` on the worker thread and waits for it. Main thread, after a
  // successful start().
  void call(std::function<void()> fn);
  // Runs `fn` on the worker thread soon, without waiting; false if the
  // queue is full. Any thread, after a successful start().
  bool call_later(std::function<void()> fn);
  // Appends a JSON object for each request the worker holds (comma
  // separated, the longest held first, at most `max`) to *out, for
  // /requests: its id, method, path, route, age, state, what it waits on
  // and its Lisp stack. Returns how many it holds. Worker thread.
  size_t describe_requests(std::string* out, size_t max);
  // Has the isolate call `fn` each time the worker's loop is about to block
  // (Isolate::set_before_block). Worker thread.
  void set_before_block(std::function<void()> fn);
  // Starts now what a reactor on this worker's loop has just handed over
  // and runs it until it finishes or parks, instead of in this loop turn's
  // check phase (ServerOptions::on_input_handled). Worker thread.
  void run_handed_over();
  // The worker's libuv loop (for a server sharing its thread). Valid after
  // a successful start().
  uv_loop_t* loop() const { return loop_; }
  // Stops the thread after the requests in flight are answered or
  // `drain_ms` passed. Main thread.
  void stop();

  // Called on the worker's thread when a reload ends: ok, or the error
  // report (file:line:column).
  using ReloadDone = std::function<void(bool ok, const std::string& error)>;
  // Loads the app file again, as a new generation of the isolate's globals
  // (Isolate::begin_generation), while the requests in flight go on. Once
  // it has loaded and called (serve handler ...), requests handed over
  // from then on run the new handler, and those in flight finish on the
  // code they started with. A load that fails changes nothing. Any thread.
  void reload(ReloadDone done);
  // The app file and the modules its generation imported (absolute paths).
  // Main thread, after a successful start().
  std::vector<std::string> source_files();
  // The app's code generation: 1 at start, one more per successful
  // reload. Any thread.
  uint32_t generation() const { return generation_.load(std::memory_order_acquire); }

  // Requests answered 503 because the queue was full. Any thread.
  uint64_t rejected() const { return rejected_.load(std::memory_order_relaxed); }
  // A snapshot. Any thread.
  WorkerStats stats() const;
  // Keeps figures by route from now on (with --metrics). Any thread.
  void count_routes() { count_routes_.store(true, std::memory_order_relaxed); }
  // The figures by route as of the last deadline sweep (every 100 ms). Any
  // thread.
  std::map<std::string, RouteStats> route_stats() const;

  static constexpr uint64_t kStreamHighWater = 64 * 1024;
  static constexpr uint64_t kStreamLowWater = 16 * 1024;

 private:
  struct InFlight;
  struct StreamFlow;
  struct Reload;
  void thread_main();
  // One line for the error log, naming this worker.
  void log(LogLevel level, const std::string& message) const;
  bool load_app(lisp::Isolate& iso, std::string* error);
  // worker_reload.cc: a reload's start and end, on the worker's thread.
  void start_reload(ReloadDone done);
  void finish_reload(lisp::Promise* result);
  void drain_inbox();
  void begin(std::unique_ptr<HttpRequest> request);
  void finish(uint64_t id, lisp::Promise* result);
  // Counts an answer of `status` to `f` under its fiber's route, if
  // counting and the fiber has one.
  void count_route(const InFlight& f, lisp::Promise* result, int status);
  void finish_stream(std::unique_ptr<InFlight> f, lisp::Promise* result);
  // Sends the head of a streamed response and starts its writer fiber.
  void start_stream(std::unique_ptr<InFlight> f, int status, Headers headers, lisp::Value fn);
  // Roots the fiber's result and calls finish() when it settles.
  void watch(InFlight& f, lisp::Fiber* fiber);
  // Wakes parked writers whose streams drained. Worker thread.
  void resume_writers();
  void unpark_writer(InFlight& f);
  // Takes what the request body's pipe holds for the parked or calling
  // reader: true with the result in *out, or false to wait for more.
  bool take_body(InFlight& f, lisp::Value* out);
  // Wakes the parked body readers whose bodies have more. Worker thread.
  void resume_readers();
  // The request is over: its body pipe drops what still comes, and a
  // reader still parked on it gets an error.
  void release_body(InFlight& f);
  // Answers the requests past their deadline, then publishes the gauges of
  // stats(). Every 100 ms.
  void sweep_deadlines();
  bool push(std::unique_ptr<WorkerMessage> m);
  // Hands a message of `kind` (with `fn`) over, yielding while the queue
  // is full: for what must get through (a stop, the main thread's calls).
  void push_until_taken(WorkerMessage::Kind kind, const std::function<void()>& fn);
  // Has the worker drain its inbox and signals: through wakeup_ from
  // another thread; from its own (the reactor shares its loop in
  // single-thread mode), in this loop turn's check phase. Any thread.
  void wake();

  friend struct WorkerAccess;

  WorkerOptions options_;
  ServeConfig config_;
  std::thread thread_;
  // Sized by the config, so made once the app has loaded.
  std::unique_ptr<net::MpscQueue<std::unique_ptr<WorkerMessage>>> inbox_;
  std::atomic<bool> count_routes_{false};
  // Worker thread; found by a view of the fiber's label, without a copy.
  std::map<std::string, RouteStats, std::less<>> routes_;
  bool routes_changed_ = false;  // since the last publication
  mutable std::mutex routes_mu_;
  std::map<std::string, RouteStats> routes_published_;  // under routes_mu_
  std::atomic<uint64_t> rejected_{0};
  std::atomic<uint64_t> errors_{0};
  std::atomic<uint64_t> over_deadline_{0};
  std::atomic<uint64_t> over_budget_{0};
  std::atomic<uint64_t> over_allocation_{0};
  // Gauges the worker thread publishes at each deadline sweep.
  std::atomic<uint64_t> requests_{0};
  std::atomic<uint64_t> heap_live_bytes_{0};
  std::atomic<uint64_t> heap_page_bytes_{0};
  std::atomic<uint64_t> heap_allocated_bytes_{0};
  std::atomic<uint64_t> collections_{0};
  std::atomic<uint64_t> collection_ns_{0};
  std::atomic<uint64_t> collection_ns_longest_{0};
  std::atomic<uint64_t> last_reject_log_ms_{0};
  std::atomic<bool> drained_signal_{false};  // a reactor reported progress
  std::atomic<bool> body_signal_{false};     // a request body has more
  // The requests whose body has what their parked reader waits for: only
  // those are looked at, not every parked reader (a server with thousands
  // of idle WebSockets has as many).
  std::mutex bodies_mu_;
  std::vector<uint64_t> bodies_arrived_;
  std::vector<uint64_t> bodies_taken_;  // the last batch, worker thread

  // Startup handshake with the main thread.
  std::mutex mu_;
  std::condition_variable cv_;
  bool started_ = false;
  bool start_ok_ = false;
  std::string start_error_;

  // Owned by the worker thread.
  lisp::Isolate* iso_ = nullptr;
  uv_loop_t* loop_ = nullptr;
  uv_async_t wakeup_;
  // wake() from the worker's own thread runs drain_inbox in this loop
  // turn's check phase, without the eventfd round trip of wakeup_; the idle
  // handle keeps the poll before it from blocking (for a wake in the
  // prepare phase, where the reactor flushes).
  uv_check_t local_wakeup_;
  uv_idle_t keep_polling_;
  std::thread::id thread_id_;
  uv_timer_t deadline_timer_;
  bool stopping_ = false;
  bool stop_loop_ = false;
  bool has_app_ = false;
  uint32_t app_slot_ = 0;
  std::unique_ptr<Reload> reload_;  // while one runs
  std::atomic<uint32_t> generation_{1};
  const HttpKeys* keys_ = nullptr;
  ResponseHeaderCache* header_cache_ = nullptr;
  RecentRequestParts* recent_ = nullptr;
  uint32_t deadline_ms_ = 0;
  uint64_t instruction_budget_ = 0;
  uint64_t allocation_budget_ = 0;
  std::unordered_map<uint64_t, std::unique_ptr<InFlight>> in_flight_;
  std::vector<uint64_t> parked_writers_;  // ids of streams whose write waits
};

}  // namespace valk::serve
