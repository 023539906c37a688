#include "serve/worker.h"

#include <charconv>
#include <chrono>
#include <cstdio>
#include <limits>

#include "lisp/collections.h"
#include "lisp/fiber.h"
#include "lisp/isolate.h"
#include "lisp/printer.h"
#include "serve/header_cache.h"
#include "serve/http_map.h"
#include "valk/valk.h"

namespace valk::serve {

namespace {
thread_local Worker* tl_worker = nullptr;
}

Worker* Worker::current() {
  return tl_worker;
}

using lisp::Isolate;
using lisp::Tag;
using lisp::Value;

constexpr uint32_t kNoSlot = std::numeric_limits<uint32_t>::max();
constexpr uint64_t kNoDeadline = std::numeric_limits<uint64_t>::max();

// Body bytes the reactor has sent of a streamed response; written by its
// drain callback, read by the worker.
struct Worker::StreamFlow {
  std::atomic<uint64_t> sent{0};
};

// Writes "<worker>-<n>", the id a request has in logs, x-request-id and
// :request-id, at `out` (room for 48 bytes); returns its end.
static char* write_request_id(int worker, uint64_t id, char* out) {
  char* end = std::to_chars(out, out + 20, worker).ptr;
  *end++ = '-';
  return std::to_chars(end, end + 20, id).ptr;
}

struct Worker::InFlight {
  explicit InFlight(Worker* w) : worker(w) {}
  ~InFlight() { worker->release_body(*this); }
  InFlight(const InFlight&) = delete;
  InFlight& operator=(const InFlight&) = delete;

  Worker* worker;
  std::unique_ptr<HttpRequest> request;
  // Made when needed (an error's log line and answer), not per request.
  std::string request_id() const {
    char text[48];
    return std::string(text, write_request_id(worker->options_.index, request->id, text));
  }
  uint32_t promise_slot = kNoSlot;  // the handler's fiber, then the stream writer's
  uint64_t deadline_ms = kNoDeadline;
  uint64_t started_ns = 0;  // when counting routes: uv_hrtime() at hand-over
  // Nothing more may be sent: a response went out (an error, or the end of
  // a stream), or the client is gone.
  bool answered = false;
  // A streamed response: its head is out and a writer fiber runs.
  bool streaming = false;
  bool ended = false;  // end-stream was called
  std::shared_ptr<StreamFlow> flow;
  uint64_t written = 0;
  uint32_t drain_slot = kNoSlot;  // the promise a parked write waits on
  // A body read waiting for more of a streamed request body: the promise
  // it is parked on and its RequestBody; read-body gathers into body_acc.
  uint32_t read_slot = kNoSlot;
  uint32_t read_obj_slot = kNoSlot;
  bool read_whole = false;
  std::string body_acc;
};

// The Lisp value a stream's writer function receives.
struct ResponseStream : lisp::ClassObj {
  uint64_t id;
};
const lisp::ObjClass kResponseStreamClass = {"response-stream", [](lisp::Obj*, lisp::Tracer&) {},
                                             nullptr};

// Gives the natives and callbacks below access to the worker's internals.
struct WorkerAccess {
  static Worker* of(Isolate& iso) { return static_cast<Worker*>(iso.current_native()->data); }

  // (serve app opts): records the app's handler and settings.
  static Value serve(Isolate& iso, Value* args, int argc) {
    Worker* w = of(iso);
    if (w->has_app_) {
      return iso.raise_error("serve-error", "serve: called twice");
    }
    std::string error;
    if (!parse_serve_options(iso.heap(), argc > 1 ? args[1] : Value::nil(), &w->config_, &error)) {
      return iso.raise_error("serve-error", error);
    }
    w->app_slot_ = iso.root(args[0]);
    w->has_app_ = true;
    return Value::nil();
  }

  static void on_done(Isolate& iso, lisp::NativeReaction* self, lisp::Promise* p) {
    static_cast<Worker*>(self->data)->finish(self->id, p);
  }

  // The open stream `v` names, or nullptr with an error raised.
  static Worker::InFlight* open_stream(Isolate& iso, const char* fn, Value v) {
    if (!v.is(Tag::Internal) || static_cast<lisp::ClassObj*>(v.o)->cls != &kResponseStreamClass) {
      iso.type_error(fn, "a response stream", v);
      return nullptr;
    }
    Worker* w = of(iso);
    auto it = w->in_flight_.find(static_cast<ResponseStream*>(v.o)->id);
    if (it == w->in_flight_.end() || it->second->answered || it->second->ended) {
      iso.raise_error("stream-closed", std::string(fn) +
                                           ": the response stream is closed (it ended or the "
                                           "client left)");
      return nullptr;
    }
    return it->second.get();
  }

  // (end-stream stream) or (end-stream stream trailers): ends a streamed
  // response now, with trailers (h2 and chunked HTTP/1.1); the writer may
  // go on with other work but not write.
  static Value end_stream(Isolate& iso, Value* args, int argc) {
    Worker::InFlight* f = open_stream(iso, "end-stream", args[0]);
    if (f == nullptr) {
      return Value::sentinel(Tag::Exception);
    }
    Headers trailers;
    std::string error;
    if (argc > 1 && !read_headers(args[1], "trailer", &trailers, &error)) {
      return iso.raise_error("argument-error", "end-stream: " + error);
    }
    f->ended = true;
    f->request->responder.end(std::move(trailers));
    return Value::nil();
  }

  // (write stream chunk): sends a string or bytes chunk of a streamed
  // response. Parks the fiber while too much is unsent.
  static Value write(Isolate& iso, Value* args, int argc) {
    Worker* w = of(iso);
    Worker::InFlight* open = open_stream(iso, "write", args[0]);
    if (open == nullptr) {
      return Value::sentinel(Tag::Exception);
    }
    Worker::InFlight& f = *open;
    std::string chunk;
    if (args[1].is(Tag::String)) {
      chunk = std::string(static_cast<lisp::String*>(args[1].o)->view());
    } else if (args[1].is(Tag::Bytes)) {
      auto* b = static_cast<lisp::Bytes*>(args[1].o);
      chunk.assign(reinterpret_cast<const char*>(b->data), b->size);
    } else {
      return iso.type_error("write", "a string or bytes", args[1]);
    }
    if (chunk.empty()) {
      return Value::nil();
    }
    f.written += chunk.size();
    if (f.request->responder.write(std::move(chunk)) != SendResult::kOk) {
      f.answered = true;
      return iso.raise_error("stream-closed", "write: the server is not taking more output");
    }
    if (f.written - f.flow->sent.load(std::memory_order_acquire) <= Worker::kStreamHighWater) {
      return Value::nil();
    }
    if (f.drain_slot != kNoSlot) {
      // Another fiber already waits on this stream: wait with it.
      return iso.park_on(static_cast<lisp::Promise*>(iso.rooted(f.drain_slot).o));
    }
    lisp::Promise* p = iso.make_promise();
    f.drain_slot = iso.root(val(p));
    w->parked_writers_.push_back(f.request->id);
    return iso.park_on(p);
  }

  // The body object of `v`, a request map (its :body-stream) or such an
  // object; *out is nullptr for a request without a body. False with an
  // error raised when `v` is neither.
  static bool body_arg(Isolate& iso, const char* fn, Value v, RequestBody** out) {
    *out = nullptr;
    if (v.is(Tag::Map)) {
      Value b;
      if (lisp::map_find(v, of(iso)->keys_->body_stream, &b) && b.is(Tag::Internal) &&
          static_cast<lisp::ClassObj*>(b.o)->cls == &kRequestBodyClass) {
        *out = static_cast<RequestBody*>(b.o);
      }
      return true;
    }
    if (v.is(Tag::Internal) && static_cast<lisp::ClassObj*>(v.o)->cls == &kRequestBodyClass) {
      *out = static_cast<RequestBody*>(v.o);
      return true;
    }
    iso.type_error(fn, "a request", v);
    return false;
  }

  // The request a streamed body belongs to, free for one more reader; or
  // nullptr with an error raised.
  static Worker::InFlight* body_owner(Isolate& iso, const char* fn, RequestBody* b) {
    Worker* w = of(iso);
    auto it = w->in_flight_.find(b->id);
    if (it == w->in_flight_.end()) {
      iso.raise_error("request-over", std::string(fn) + ": the request is over");
      return nullptr;
    }
    if (it->second->read_slot != kNoSlot) {
      iso.raise_error("body-busy", std::string(fn) + ": another fiber is reading this body");
      return nullptr;
    }
    return it->second.get();
  }

  static Value park_reader(Isolate& iso, Worker::InFlight& f, RequestBody* b) {
    lisp::Promise* p = iso.make_promise();
    f.read_slot = iso.root(val(p));
    f.read_obj_slot = iso.root(val(b));
    of(iso)->parked_readers_.push_back(f.request->id);
    return iso.park_on(p);
  }

  // (read-body req): the whole request body, a string when UTF-8, else
  // bytes, nil when empty; waits for a body that streams in. Later calls
  // return the same value.
  static Value read_body(Isolate& iso, Value* args, int) {
    RequestBody* b;
    if (!body_arg(iso, "read-body", args[0], &b)) {
      return Value::sentinel(Tag::Exception);
    }
    if (b == nullptr) {
      Value body;
      if (args[0].is(Tag::Map)) {
        lisp::map_find(args[0], of(iso)->keys_->body, &body);
      }
      return body;
    }
    if (b->whole_read) {
      return b->whole;
    }
    if (b->chunk_taken) {
      return iso.raise_error("body-busy", "read-body: read-chunk already took part of this body");
    }
    if (!b->streamed) {
      b->whole = b->rest;
      b->rest = Value::nil();
      b->whole_read = true;
      return b->whole;
    }
    Worker::InFlight* f = body_owner(iso, "read-body", b);
    if (f == nullptr) {
      return Value::sentinel(Tag::Exception);
    }
    f->read_whole = true;
    Value out;
    if (of(iso)->take_body(*f, &out)) {
      b->whole = out;
      b->whole_read = true;
      return out;
    }
    return park_reader(iso, *f, b);
  }

  // (read-chunk req): the next part of the request body as bytes, waiting
  // for it if need be; nil once all of it was read.
  static Value read_chunk(Isolate& iso, Value* args, int) {
    RequestBody* b;
    if (!body_arg(iso, "read-chunk", args[0], &b)) {
      return Value::sentinel(Tag::Exception);
    }
    if (b == nullptr || b->whole_read) {
      return Value::nil();
    }
    if (!b->streamed) {
      Value rest = b->rest;
      b->rest = Value::nil();
      b->chunk_taken = true;
      if (rest.is(Tag::String)) {
        std::string_view s = static_cast<lisp::String*>(rest.o)->view();
        return val(iso.heap().make_bytes(reinterpret_cast<const uint8_t*>(s.data()), s.size()));
      }
      return rest;
    }
    Worker::InFlight* f = body_owner(iso, "read-chunk", b);
    if (f == nullptr) {
      return Value::sentinel(Tag::Exception);
    }
    f->read_whole = false;
    Value out;
    if (of(iso)->take_body(*f, &out)) {
      b->chunk_taken = b->chunk_taken || !out.is_nil();
      return out;
    }
    return park_reader(iso, *f, b);
  }
};

namespace {

uint64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

void respond_text(const Responder& r, int status, const std::string& text, Headers extra = {}) {
  Headers headers = {{"content-type", "text/plain; charset=utf-8"}};
  for (Header& h : extra) {
    headers.push_back(std::move(h));
  }
  r.respond(status, std::move(headers), text);
}

}  // namespace

Worker::Worker(WorkerOptions options) : options_(std::move(options)) {}

Worker::~Worker() {
  if (thread_.joinable()) {
    stop();
  }
}

bool Worker::start(std::string* error) {
  thread_ = std::thread([this] { thread_main(); });
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock, [this] { return started_; });
  if (!start_ok_) {
    *error = start_error_;
    lock.unlock();
    thread_.join();
    return false;
  }
  return true;
}

bool Worker::push(std::unique_ptr<WorkerMessage> m) {
  if (!inbox_->push(std::move(m))) {
    return false;
  }
  if (inbox_->claim_wakeup()) {
    wake();
  }
  return true;
}

void Worker::wake() {
  if (std::this_thread::get_id() != thread_id_) {
    uv_async_send(&wakeup_);
    return;
  }
  uv_idle_start(&keep_polling_, [](uv_idle_t*) {});
  uv_check_start(&local_wakeup_, [](uv_check_t* c) {
    auto* w = static_cast<Worker*>(c->data);
    uv_check_stop(c);
    uv_idle_stop(&w->keep_polling_);
    w->drain_inbox();
  });
}

void Worker::run_handed_over() {
  // Nothing woken; or fibers were ready already (preempted ones, under CPU
  // load, which a round here would run once per read), or one is on the
  // stack (a native function polling the loop): the check phase and the
  // loop's next round start and run them, in turn with the others.
  if (!uv_is_active(reinterpret_cast<uv_handle_t*>(&local_wakeup_)) || iso_->busy()) {
    return;
  }
  uv_check_stop(&local_wakeup_);
  uv_idle_stop(&keep_polling_);
  drain_inbox();
  iso_->run_round();
}

bool Worker::post(std::unique_ptr<HttpRequest> request) {
  auto m = std::make_unique<WorkerMessage>();
  m->kind = WorkerMessage::Kind::Request;
  m->request = std::move(request);
  if (!push(std::move(m))) {
    uint64_t n = rejected_.fetch_add(1, std::memory_order_relaxed) + 1;
    // Logged at most once a second, with the running total.
    uint64_t now = now_ms();
    uint64_t last = last_reject_log_ms_.load(std::memory_order_relaxed);
    if (now >= last + 1000 && last_reject_log_ms_.compare_exchange_strong(last, now)) {
      log(LogLevel::kWarn, "queue full (" + std::to_string(inbox_->capacity()) +
                               " requests waiting): answered 503, " + std::to_string(n) +
                               " so far");
    }
    return false;
  }
  return true;
}

void Worker::cancel(uint64_t id) {
  auto m = std::make_unique<WorkerMessage>();
  m->kind = WorkerMessage::Kind::Cancel;
  m->id = id;
  // A full queue drops the cancellation; the deadline still bounds the
  // request.
  push(std::move(m));
}

void Worker::body_arrived() {
  body_signal_.store(true, std::memory_order_release);
  wake();
}

void Worker::call(std::function<void()> fn) {
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
  auto run = [&] {
    fn();
    std::lock_guard<std::mutex> lock(mu);
    done = true;
    cv.notify_all();
  };
  for (;;) {
    auto m = std::make_unique<WorkerMessage>();
    m->kind = WorkerMessage::Kind::Call;
    m->fn = run;
    if (push(std::move(m))) {
      break;
    }
    std::this_thread::yield();
  }
  std::unique_lock<std::mutex> lock(mu);
  cv.wait(lock, [&] { return done; });
}

void Worker::set_before_block(std::function<void()> fn) {
  iso_->set_before_block(std::move(fn));
}

void Worker::stop() {
  for (;;) {
    auto m = std::make_unique<WorkerMessage>();
    m->kind = WorkerMessage::Kind::Stop;
    if (push(std::move(m))) {
      break;
    }
    std::this_thread::yield();
  }
  thread_.join();
}

bool Worker::load_app(Isolate& iso, std::string* error) {
  iso.define_native("serve", WorkerAccess::serve, 1, 2, this);
  iso.define_native("write", WorkerAccess::write, 2, 2, this);
  iso.define_native("end-stream", WorkerAccess::end_stream, 1, 2, this);
  iso.define_native("read-body", WorkerAccess::read_body, 1, 1, this);
  iso.define_native("read-chunk", WorkerAccess::read_chunk, 1, 1, this);
  std::vector<lisp::UnresolvedRef> refs;
  iso.unresolved_refs = &refs;
  lisp::EvalResult r = iso.eval_file(options_.app_file);
  iso.unresolved_refs = nullptr;
  if (!r.ok) {
    *error = iso.describe(r.value);
    return false;
  }
  // A name no form defined would fail each request that reaches it: say so
  // now, where it is used.
  for (const lisp::UnresolvedRef& ref : refs) {
    if (!ref.var->defined) {
      *error = iso.heap().file_name(ref.pos.file) + ":" + std::to_string(ref.pos.line) + ":" +
               std::to_string(ref.pos.column) +
               ": unable to resolve symbol: " + std::string(ref.var->name->name->view()) +
               " (used here, never defined)";
      return false;
    }
  }
  if (!has_app_) {
    *error = options_.app_file + ": the app never called (serve handler {...})";
    return false;
  }
  return true;
}

void Worker::log(LogLevel level, const std::string& message) const {
  options_.log(level, "[worker " + std::to_string(options_.index) + "] " + message);
}

void Worker::thread_main() {
  // The isolate lives in a Runtime so that a host's natives can be defined
  // through the embedding API.
  RuntimeOptions o;
  o.module_paths = options_.module_paths;
  Runtime runtime(o);
  if (options_.define_natives) {
    options_.define_natives(runtime);
  }
  Isolate& iso = runtime.isolate();
  iso_ = &iso;
  loop_ = iso.loop();
  tl_worker = this;
  uv_async_init(iso.loop(), &wakeup_,
                [](uv_async_t* a) { static_cast<Worker*>(a->data)->drain_inbox(); });
  wakeup_.data = this;
  uv_check_init(iso.loop(), &local_wakeup_);
  local_wakeup_.data = this;
  uv_idle_init(iso.loop(), &keep_polling_);
  thread_id_ = std::this_thread::get_id();
  uv_timer_init(iso.loop(), &deadline_timer_);
  deadline_timer_.data = this;

  std::string error;
  bool ok = load_app(iso, &error);
  config_.override_with(options_.flags);
  deadline_ms_ = config_.request_deadline_ms.value_or(kDefaultDeadlineMs);
  instruction_budget_ = config_.instruction_budget.value_or(kDefaultInstructionBudget);
  inbox_ = std::make_unique<net::MpscQueue<std::unique_ptr<WorkerMessage>>>(
      config_.queue_size.value_or(kDefaultQueueSize));
  {
    std::lock_guard<std::mutex> lock(mu_);
    started_ = true;
    start_ok_ = ok;
    start_error_ = error;
  }
  cv_.notify_all();

  if (ok) {
    HttpKeys keys(iso);
    keys_ = &keys;
    ResponseHeaderCache header_cache(iso);
    header_cache_ = &header_cache;
    RecentRequestParts recent(iso);
    recent_ = &recent;
    uv_timer_start(
        &deadline_timer_, [](uv_timer_t* t) { static_cast<Worker*>(t->data)->sweep_deadlines(); },
        100, 100);
    iso.run_loop(&stop_loop_);
    keys_ = nullptr;
    header_cache_ = nullptr;
    recent_ = nullptr;
  }
  uv_close(reinterpret_cast<uv_handle_t*>(&wakeup_), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&local_wakeup_), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&keep_polling_), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&deadline_timer_), nullptr);
  for (auto& [id, f] : in_flight_) {
    if (f->streaming) {
      f->request->responder.reset();
    } else if (!f->answered) {
      respond_text(f->request->responder, 503, "Service Unavailable: shutting down\n");
    }
  }
  in_flight_.clear();
  iso_ = nullptr;
}

void Worker::drain_inbox() {
  inbox_->clear_wakeup();
  if (drained_signal_.exchange(false, std::memory_order_acq_rel)) {
    resume_writers();
  }
  if (body_signal_.exchange(false, std::memory_order_acq_rel)) {
    resume_readers();
  }
  std::unique_ptr<WorkerMessage> m;
  while (inbox_->pop(&m)) {
    switch (m->kind) {
      case WorkerMessage::Kind::Request:
        begin(std::move(m->request));
        break;
      case WorkerMessage::Kind::Cancel: {
        auto it = in_flight_.find(m->id);
        if (it != in_flight_.end()) {
          it->second->answered = true;  // nobody is listening any more
          iso_->cancel(static_cast<lisp::Promise*>(iso_->rooted(it->second->promise_slot).o));
        }
        break;
      }
      case WorkerMessage::Kind::Stop:
        stopping_ = true;
        break;
      case WorkerMessage::Kind::Call:
        m->fn();
        break;
    }
  }
  if (stopping_ && in_flight_.empty()) {
    stop_loop_ = true;
  }
}

void Worker::begin(std::unique_ptr<HttpRequest> request) {
  Isolate& iso = *iso_;
  uint64_t id = request->id;
  auto f = std::make_unique<InFlight>(this);
  char id_text[48];
  std::string_view request_id(id_text, write_request_id(options_.index, id, id_text) - id_text);
  Value req = make_request_map(iso, *keys_, *recent_, *request, request_id);
  f->request = std::move(request);
  lisp::Fiber* fiber = iso.spawn_call(iso.rooted(app_slot_), &req, 1);
  f->deadline_ms = uv_now(iso.loop()) + deadline_ms_;
  if (count_routes_.load(std::memory_order_relaxed)) {
    f->started_ns = uv_hrtime();
  }
  fiber->deadline_ms = f->deadline_ms;
  fiber->instruction_limit = instruction_budget_;
  InFlight& ref = *f;
  in_flight_.emplace(id, std::move(f));
  watch(ref, fiber);
}

void Worker::watch(InFlight& f, lisp::Fiber* fiber) {
  Isolate& iso = *iso_;
  f.promise_slot = iso.root(val(fiber->result));
  auto* reaction =
      iso.heap().make_class<lisp::NativeReaction>(Tag::Internal, &lisp::kNativeReactionClass);
  reaction->fn = WorkerAccess::on_done;
  reaction->data = this;
  reaction->id = f.request->id;
  iso.on_settle(fiber->result, reaction);
}

void Worker::finish(uint64_t id, lisp::Promise* p) {
  auto it = in_flight_.find(id);
  if (it == in_flight_.end()) {
    return;
  }
  std::unique_ptr<InFlight> f = std::move(it->second);
  in_flight_.erase(it);
  iso_->unroot(f->promise_slot);
  f->promise_slot = kNoSlot;
  if (stopping_ && in_flight_.empty()) {
    stop_loop_ = true;
  }
  if (f->streaming) {
    finish_stream(std::move(f), p);
    return;
  }
  if (f->answered) {
    return;
  }
  const Responder& responder = f->request->responder;
  // Only error answers carry it, so it is built only for them.
  auto request_id = [&f] { return Headers{{"x-request-id", f->request_id()}}; };
  if (p->state == lisp::PromiseState::Fulfilled) {
    HttpResponse resp;
    std::string error;
    if (read_response(*keys_, *header_cache_, p->value, &resp, &error)) {
      count_route(*f, p, resp.status);
      if (!resp.stream_fn.is_nil()) {
        Headers headers = resp.shared_headers != nullptr ? resp.shared_headers->headers()
                                                         : std::move(resp.headers);
        start_stream(std::move(f), resp.status, std::move(headers), resp.stream_fn);
      } else if (resp.shared_headers != nullptr) {
        responder.respond_shared(resp.status, std::move(resp.shared_headers), std::move(resp.body));
      } else {
        responder.respond(resp.status, std::move(resp.headers), std::move(resp.body));
      }
      return;
    }
    log(LogLevel::kError, "request " + f->request_id() + ": " + error);
    errors_.fetch_add(1, std::memory_order_relaxed);
    count_route(*f, p, 500);
    respond_text(responder, 500, "Internal Server Error (request " + f->request_id() + ")\n",
                 request_id());
    return;
  }
  Value raised = p->value;
  Value type;
  if (raised.is(Tag::Error)) {
    auto* e = static_cast<lisp::Error*>(raised.o);
    if (e->data.is(Tag::Map)) {
      lisp::map_find(e->data, iso_->heap().keyword("type"), &type);
    }
  }
  bool over_budget = identical(type, iso_->heap().keyword("budget-exceeded"));
  if (over_budget || identical(type, iso_->heap().keyword("deadline-exceeded"))) {
    (over_budget ? over_budget_ : over_deadline_).fetch_add(1, std::memory_order_relaxed);
    count_route(*f, p, 503);
    log(LogLevel::kWarn, "request " + f->request_id() + " " + f->request->line() +
                             " ran past its " + (over_budget ? "instruction budget" : "deadline"));
    respond_text(
        responder, 503,
        "Service Unavailable: the request took too long (request " + f->request_id() + ")\n",
        request_id());
    return;
  }
  log(LogLevel::kError,
      "request " + f->request_id() + " " + f->request->line() + ": " + iso_->describe(raised));
  errors_.fetch_add(1, std::memory_order_relaxed);
  count_route(*f, p, 500);
  respond_text(responder, 500, "Internal Server Error (request " + f->request_id() + ")\n",
               request_id());
}

void Worker::start_stream(std::unique_ptr<InFlight> f, int status, Headers headers, Value fn) {
  Isolate& iso = *iso_;
  const Responder& responder = f->request->responder;
  if (f->request->method == "HEAD" || status == 204 || status == 304) {
    // No body goes on the wire: the writer does not run.
    responder.start(status, std::move(headers));
    responder.end();
    return;
  }
  auto flow = std::make_shared<StreamFlow>();
  DrainCallback on_drained = [this, flow](uint64_t sent) {
    flow->sent.store(sent, std::memory_order_release);
    drained_signal_.store(true, std::memory_order_release);
    wake();
  };
  if (responder.start(status, std::move(headers), std::move(on_drained)) != SendResult::kOk) {
    log(LogLevel::kWarn, "request " + f->request_id() + ": the server refused the stream");
    return;
  }
  f->streaming = true;
  f->flow = std::move(flow);
  f->deadline_ms = kNoDeadline;  // a stream lasts as long as the client listens
  auto* stream = iso.heap().make_class<ResponseStream>(Tag::Internal, &kResponseStreamClass);
  stream->id = f->request->id;
  Value arg = val(stream);
  lisp::Fiber* fiber = iso.spawn_call(fn, &arg, 1);
  InFlight& ref = *f;
  uint64_t id = f->request->id;
  in_flight_.emplace(id, std::move(f));
  watch(ref, fiber);
}

void Worker::finish_stream(std::unique_ptr<InFlight> f, lisp::Promise* p) {
  unpark_writer(*f);
  if (f->answered) {
    return;  // the client left; the writer was cancelled
  }
  if (p->state == lisp::PromiseState::Fulfilled) {
    if (!f->ended) {
      f->request->responder.end();
    }
    return;
  }
  if (f->ended) {
    log(LogLevel::kError, "request " + f->request_id() +
                              ": the stream writer failed after "
                              "end-stream: " +
                              iso_->describe(p->value));
    return;
  }
  // The head is out: the only way left to say "failed" is to abort.
  log(LogLevel::kError, "request " + f->request_id() + " " + f->request->line() +
                            ": the stream writer failed, resetting: " + iso_->describe(p->value));
  f->request->responder.reset();
}

void Worker::unpark_writer(InFlight& f) {
  if (f.drain_slot == kNoSlot) {
    return;
  }
  Value p = iso_->rooted(f.drain_slot);
  iso_->unroot(f.drain_slot);
  f.drain_slot = kNoSlot;
  iso_->resolve(static_cast<lisp::Promise*>(p.o), Value::nil());
}

void Worker::resume_writers() {
  size_t kept = 0;
  for (uint64_t id : parked_writers_) {
    auto it = in_flight_.find(id);
    if (it == in_flight_.end() || it->second->drain_slot == kNoSlot) {
      continue;
    }
    InFlight& f = *it->second;
    if (f.written - f.flow->sent.load(std::memory_order_acquire) <= kStreamLowWater) {
      unpark_writer(f);
    } else {
      parked_writers_[kept++] = id;
    }
  }
  parked_writers_.resize(kept);
}

bool Worker::take_body(InFlight& f, Value* out) {
  BodyPipe& pipe = *f.request->body_pipe;
  std::string taken;
  bool ended;
  {
    std::lock_guard<std::mutex> lock(pipe.mu);
    taken.swap(pipe.data);
    ended = pipe.ended;
    pipe.waiting = !ended && (f.read_whole || taken.empty());
  }
  if (!taken.empty()) {
    f.request->responder.consume_body(taken.size());
  }
  if (f.read_whole) {
    if (f.body_acc.empty()) {
      f.body_acc.swap(taken);  // the common case: the whole body came at once
    } else {
      f.body_acc += taken;
    }
    if (!ended) {
      return false;
    }
    *out = f.body_acc.empty() ? Value::nil() : body_value(iso_->heap(), f.body_acc);
    std::string().swap(f.body_acc);
    return true;
  }
  if (!taken.empty()) {
    *out =
        val(iso_->heap().make_bytes(reinterpret_cast<const uint8_t*>(taken.data()), taken.size()));
    return true;
  }
  *out = Value::nil();
  return ended;
}

void Worker::resume_readers() {
  size_t kept = 0;
  for (uint64_t id : parked_readers_) {
    auto it = in_flight_.find(id);
    if (it == in_flight_.end() || it->second->read_slot == kNoSlot) {
      continue;
    }
    InFlight& f = *it->second;
    Value out;
    if (!take_body(f, &out)) {
      parked_readers_[kept++] = id;
      continue;
    }
    auto* b = static_cast<RequestBody*>(iso_->rooted(f.read_obj_slot).o);
    if (f.read_whole) {
      b->whole = out;
      b->whole_read = true;
    } else {
      b->chunk_taken = b->chunk_taken || !out.is_nil();
    }
    Value p = iso_->rooted(f.read_slot);
    iso_->unroot(f.read_slot);
    iso_->unroot(f.read_obj_slot);
    f.read_slot = f.read_obj_slot = kNoSlot;
    iso_->resolve(static_cast<lisp::Promise*>(p.o), out);
  }
  parked_readers_.resize(kept);
}

void Worker::release_body(InFlight& f) {
  if (f.request == nullptr || f.request->body_pipe == nullptr) {
    return;
  }
  BodyPipe& pipe = *f.request->body_pipe;
  size_t dropped;
  {
    std::lock_guard<std::mutex> lock(pipe.mu);
    pipe.abandoned = true;
    dropped = pipe.data.size();
    std::string().swap(pipe.data);
  }
  if (dropped != 0) {
    f.request->responder.consume_body(dropped);
  }
  if (f.read_slot != kNoSlot) {
    Value p = iso_->rooted(f.read_slot);
    iso_->unroot(f.read_slot);
    iso_->unroot(f.read_obj_slot);
    f.read_slot = f.read_obj_slot = kNoSlot;
    lisp::Error* e = iso_->make_error(iso_->heap().string("the request is over"), Value::nil());
    iso_->reject(static_cast<lisp::Promise*>(p.o), val(e));
  }
}

void Worker::sweep_deadlines() {
  uint64_t now = uv_now(iso_->loop());
  for (auto& [id, f] : in_flight_) {
    if (!f->answered && now >= f->deadline_ms) {
      // Answer now; the fiber is cancelled at its next await and its
      // finally blocks run.
      f->answered = true;
      over_deadline_.fetch_add(1, std::memory_order_relaxed);
      count_route(*f, static_cast<lisp::Promise*>(iso_->rooted(f->promise_slot).o), 503);
      log(LogLevel::kWarn, "request " + f->request_id() + " ran past its deadline");
      respond_text(
          f->request->responder, 503,
          "Service Unavailable: the request took too long (request " + f->request_id() + ")\n",
          {{"x-request-id", f->request_id()}});
      iso_->cancel(static_cast<lisp::Promise*>(iso_->rooted(f->promise_slot).o));
    }
  }
  lisp::HeapStats heap = iso_->heap().stats();
  requests_.store(in_flight_.size(), std::memory_order_relaxed);
  heap_live_bytes_.store(heap.bytes_live, std::memory_order_relaxed);
  heap_page_bytes_.store(heap.bytes_in_pages, std::memory_order_relaxed);
  heap_allocated_bytes_.store(heap.bytes_allocated_total, std::memory_order_relaxed);
  collections_.store(heap.collections, std::memory_order_relaxed);
  if (count_routes_.load(std::memory_order_relaxed)) {
    std::lock_guard<std::mutex> lock(routes_mu_);
    routes_published_ = std::map<std::string, RouteStats>(routes_.begin(), routes_.end());
  }
}

void Worker::count_route(const InFlight& f, lisp::Promise* result, int status) {
  if (!count_routes_.load(std::memory_order_relaxed) || result->fiber == nullptr ||
      !result->fiber->label.is(Tag::String)) {
    return;
  }
  RouteStats& r = routes_[std::string(static_cast<lisp::String*>(result->fiber->label.o)->view())];
  if (status >= 100 && status < 600) {
    r.by_class[status / 100 - 1]++;
  }
  r.durations.add(uv_hrtime() - f.started_ns);
}

std::map<std::string, RouteStats> Worker::route_stats() const {
  std::lock_guard<std::mutex> lock(routes_mu_);
  return routes_published_;
}

WorkerStats Worker::stats() const {
  WorkerStats s;
  s.rejected = rejected_.load(std::memory_order_relaxed);
  s.errors = errors_.load(std::memory_order_relaxed);
  s.over_deadline = over_deadline_.load(std::memory_order_relaxed);
  s.over_budget = over_budget_.load(std::memory_order_relaxed);
  s.requests = requests_.load(std::memory_order_relaxed);
  s.heap_live_bytes = heap_live_bytes_.load(std::memory_order_relaxed);
  s.heap_page_bytes = heap_page_bytes_.load(std::memory_order_relaxed);
  s.heap_allocated_bytes = heap_allocated_bytes_.load(std::memory_order_relaxed);
  s.collections = collections_.load(std::memory_order_relaxed);
  return s;
}

}  // namespace valk::serve
