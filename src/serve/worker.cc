#include "serve/worker.h"

#include <chrono>
#include <cstdio>

#include "lisp/collections.h"
#include "lisp/fiber.h"
#include "lisp/isolate.h"
#include "lisp/printer.h"
#include "serve/header_cache.h"
#include "serve/http_map.h"
#include "serve/worker_internal.h"
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

Value WorkerAccess::serve(Isolate& iso, Value* args, int argc) {
  Worker* w = of(iso);
  // While a reload runs, the call of the fiber loading the app again names
  // the new generation's handler.
  Worker::Reload* r = w->reload_.get();
  if (r != nullptr && iso.current()->serial != r->fiber_serial) {
    r = nullptr;
  }
  if (r != nullptr ? r->app_slot != kNoSlot : w->has_app_) {
    return iso.raise_error("serve-error", "serve: called twice");
  }
  std::string error;
  ServeConfig* config = r != nullptr ? &r->config : &w->config_;
  if (!parse_serve_options(iso.heap(), argc > 1 ? args[1] : Value::nil(), config, &error)) {
    return iso.raise_error("serve-error", error);
  }
  if (r != nullptr) {
    r->app_slot = iso.root(args[0]);
    return Value::nil();
  }
  w->app_slot_ = iso.root(args[0]);
  w->has_app_ = true;
  return Value::nil();
}

void WorkerAccess::on_done(Isolate&, lisp::NativeReaction* self, lisp::Promise* p) {
  static_cast<Worker*>(self->data)->finish(self->id, p);
}

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

void Worker::body_arrived(uint64_t id) {
  {
    std::lock_guard<std::mutex> lock(bodies_mu_);
    bodies_arrived_.push_back(id);
  }
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
  push_until_taken(WorkerMessage::Kind::Call, run);
  std::unique_lock<std::mutex> lock(mu);
  cv.wait(lock, [&] { return done; });
}

bool Worker::call_later(std::function<void()> fn) {
  auto m = std::make_unique<WorkerMessage>();
  m->kind = WorkerMessage::Kind::Call;
  m->fn = std::move(fn);
  return push(std::move(m));
}

void Worker::set_before_block(std::function<void()> fn) {
  iso_->set_before_block(std::move(fn));
}

void Worker::push_until_taken(WorkerMessage::Kind kind, const std::function<void()>& fn) {
  // A message a failed push took is gone: each try makes its own.
  for (;;) {
    auto m = std::make_unique<WorkerMessage>();
    m->kind = kind;
    m->fn = fn;
    if (push(std::move(m))) {
      return;
    }
    std::this_thread::yield();
  }
}

void Worker::stop() {
  push_until_taken(WorkerMessage::Kind::Stop, nullptr);
  thread_.join();
}

bool Worker::load_app(Isolate& iso, std::string* error) {
  iso.define_native("serve", WorkerAccess::serve, 1, 2, this);
  iso.define_native("write", WorkerAccess::write, 2, 2, this);
  iso.define_native("end-stream", WorkerAccess::end_stream, 1, 2, this);
  iso.define_native("read-body", WorkerAccess::read_body, 1, 1, this);
  iso.define_native("read-chunk", WorkerAccess::read_chunk, 1, 1, this);
  // What the app defines is a generation of its own, which a reload
  // replaces (worker_reload.cc).
  iso.mark_base();
  iso.begin_generation();
  iso.commit_generation();
  std::vector<lisp::UnresolvedRef> refs;
  iso.unresolved_refs = &refs;
  lisp::EvalResult r = iso.eval_file(options_.app_file);
  iso.unresolved_refs = nullptr;
  if (!r.ok) {
    *error = iso.describe(r.value);
    return false;
  }
  *error = undefined_ref_error(iso, refs);
  if (!error->empty()) {
    return false;
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
  allocation_budget_ = config_.allocation_budget.value_or(kDefaultAllocationBudget);
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
  f->begun_ms = uv_now(iso.loop());
  f->deadline_ms = f->begun_ms + deadline_ms_;
  if (count_routes_.load(std::memory_order_relaxed)) {
    f->started_ns = uv_hrtime();
  }
  fiber->deadline_ms = f->deadline_ms;
  fiber->instruction_limit = instruction_budget_;
  fiber->allocation_limit = allocation_budget_;
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
  if (identical(type, iso_->heap().keyword("allocation-exceeded"))) {
    over_allocation_.fetch_add(1, std::memory_order_relaxed);
    count_route(*f, p, 503);
    log(LogLevel::kWarn, "request " + f->request_id() + " " + f->request->line() +
                             " allocated past its allocation budget (" +
                             std::to_string(allocation_budget_) + " bytes)");
    respond_text(responder, 503,
                 "Service Unavailable: the request needed too much memory (request " +
                     f->request_id() + ")\n",
                 request_id());
    return;
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
  if (reload_ != nullptr && now >= reload_->deadline_ms) {
    reload_->deadline_ms = kNoDeadline;
    iso_->cancel(static_cast<lisp::Promise*>(iso_->rooted(reload_->promise_slot).o));
  }
  lisp::HeapStats heap = iso_->heap().stats();
  requests_.store(in_flight_.size(), std::memory_order_relaxed);
  heap_live_bytes_.store(heap.bytes_live, std::memory_order_relaxed);
  heap_page_bytes_.store(heap.bytes_in_pages, std::memory_order_relaxed);
  heap_allocated_bytes_.store(heap.bytes_allocated_total, std::memory_order_relaxed);
  collections_.store(heap.collections, std::memory_order_relaxed);
  collection_ns_.store(heap.collection_ns_total, std::memory_order_relaxed);
  collection_ns_longest_.store(heap.collection_ns_longest, std::memory_order_relaxed);
  if (routes_changed_) {
    routes_changed_ = false;
    std::lock_guard<std::mutex> lock(routes_mu_);
    routes_published_ = std::map<std::string, RouteStats>(routes_.begin(), routes_.end());
  }
}

void Worker::count_route(const InFlight& f, lisp::Promise* result, int status) {
  if (!count_routes_.load(std::memory_order_relaxed) || result->fiber == nullptr ||
      !result->fiber->label.is(Tag::String)) {
    return;
  }
  std::string_view label = static_cast<lisp::String*>(result->fiber->label.o)->view();
  auto it = routes_.find(label);
  if (it == routes_.end()) {
    it = routes_.emplace(std::string(label), RouteStats{}).first;
  }
  RouteStats& r = it->second;
  routes_changed_ = true;
  if (status >= 100 && status < 600) {
    r.by_class[status / 100 - 1]++;
  }
  r.durations.add(uv_hrtime() - f.started_ns);
  r.instructions += result->fiber->instructions;
  r.allocated_bytes += result->fiber->allocated;
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
  s.over_allocation = over_allocation_.load(std::memory_order_relaxed);
  s.requests = requests_.load(std::memory_order_relaxed);
  s.heap_live_bytes = heap_live_bytes_.load(std::memory_order_relaxed);
  s.heap_page_bytes = heap_page_bytes_.load(std::memory_order_relaxed);
  s.heap_allocated_bytes = heap_allocated_bytes_.load(std::memory_order_relaxed);
  s.collections = collections_.load(std::memory_order_relaxed);
  s.collection_ns = collection_ns_.load(std::memory_order_relaxed);
  s.collection_ns_longest = collection_ns_longest_.load(std::memory_order_relaxed);
  return s;
}

}  // namespace valk::serve
