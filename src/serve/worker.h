// A Lisp worker: a thread that owns one isolate, loads the app into it and
// runs each HTTP request as a fiber.
//
// Reactor threads hand requests over with post() through a bounded MPSC
// queue with one coalesced wakeup per batch; responses go back through the
// request's valk::Responder, whose own queue hops to the reactor.
#pragma once

#include <uv.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "net/mpsc.h"
#include "serve/serve_config.h"
#include "valk/server.h"

namespace valk::lisp {
class Isolate;
struct Promise;
}  // namespace valk::lisp

namespace valk::serve {

class HttpKeys;

// A request copied off the reactor: everything the Lisp side may look at.
struct HttpRequest {
  uint64_t id = 0;  // unique in its worker; cancellations name it
  Responder responder;
  std::string method, path, query, authority, scheme, peer;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  Protocol protocol = Protocol::kHttp11;
};

struct WorkerMessage {
  enum class Kind { Request, Cancel, Stop };
  Kind kind = Kind::Request;
  std::unique_ptr<HttpRequest> request;
  uint64_t id = 0;  // for Cancel
};

struct WorkerOptions {
  std::string app_file;
  int index = 0;
  size_t queue_capacity = 4096;
  uint32_t request_deadline_ms = 30000;
  std::vector<std::string> module_paths;
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
  // What the app passed to `serve`. Valid after a successful start().
  const ServeConfig& config() const { return config_; }

  // Hands a request over. False when the queue is full (the caller answers
  // 503). Any thread.
  bool post(std::unique_ptr<HttpRequest> request);
  // Cancels the request's fiber (client reset or disconnect). Any thread.
  void cancel(uint64_t id);
  // Stops the thread after the requests in flight are answered or
  // `drain_ms` passed. Main thread.
  void stop();

  // Sets the per-request deadline (the flags may override the app's
  // setting after the app loaded). Any thread.
  void set_deadline_ms(uint32_t ms) { deadline_ms_.store(ms, std::memory_order_relaxed); }

  // Requests answered 503 because the queue was full. Any thread.
  uint64_t rejected() const { return rejected_.load(std::memory_order_relaxed); }

 private:
  struct InFlight;
  void thread_main();
  bool load_app(lisp::Isolate& iso, std::string* error);
  void drain_inbox();
  void begin(std::unique_ptr<HttpRequest> request);
  void finish(uint64_t id, lisp::Promise* result);
  void sweep_deadlines();
  bool push(std::unique_ptr<WorkerMessage> m);

  friend struct WorkerAccess;

  WorkerOptions options_;
  ServeConfig config_;
  std::thread thread_;
  net::MpscQueue<std::unique_ptr<WorkerMessage>> inbox_;
  std::atomic<uint64_t> rejected_{0};
  std::atomic<uint32_t> deadline_ms_;

  // Startup handshake with the main thread.
  std::mutex mu_;
  std::condition_variable cv_;
  bool started_ = false;
  bool start_ok_ = false;
  std::string start_error_;

  // Owned by the worker thread.
  lisp::Isolate* iso_ = nullptr;
  uv_async_t wakeup_;
  uv_timer_t deadline_timer_;
  bool stopping_ = false;
  bool stop_loop_ = false;
  bool has_app_ = false;
  uint32_t app_slot_ = 0;
  const HttpKeys* keys_ = nullptr;
  std::unordered_map<uint64_t, std::unique_ptr<InFlight>> in_flight_;
};

}  // namespace valk::serve
