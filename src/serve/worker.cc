#include "serve/worker.h"

#include <cstdio>

#include "lisp/collections.h"
#include "lisp/fiber.h"
#include "lisp/isolate.h"
#include "lisp/printer.h"
#include "serve/http_map.h"

namespace valk::serve {

using lisp::Isolate;
using lisp::Tag;
using lisp::Value;

struct Worker::InFlight {
  std::unique_ptr<HttpRequest> request;
  std::string request_id;
  uint32_t promise_slot;
  uint64_t deadline_ms;
  bool answered = false;
};

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
};

namespace {

void log_error(int worker, const std::string& message) {
  fprintf(stderr, "valk: [worker %d] %s\n", worker, message.c_str());
  fflush(stderr);
}

void respond_text(const Responder& r, int status, const std::string& text, Headers extra = {}) {
  Headers headers = {{"content-type", "text/plain; charset=utf-8"}};
  for (Header& h : extra) {
    headers.push_back(std::move(h));
  }
  r.respond(status, std::move(headers), text);
}

}  // namespace

Worker::Worker(WorkerOptions options)
    : options_(std::move(options)),
      inbox_(options_.queue_capacity),
      deadline_ms_(options_.request_deadline_ms) {}

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
  if (!inbox_.push(std::move(m))) {
    return false;
  }
  if (inbox_.claim_wakeup()) {
    uv_async_send(&wakeup_);
  }
  return true;
}

bool Worker::post(std::unique_ptr<HttpRequest> request) {
  auto m = std::make_unique<WorkerMessage>();
  m->kind = WorkerMessage::Kind::Request;
  m->request = std::move(request);
  if (!push(std::move(m))) {
    rejected_.fetch_add(1, std::memory_order_relaxed);
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
  lisp::EvalResult r = iso.eval_file(options_.app_file);
  if (!r.ok) {
    *error = iso.describe(r.value);
    return false;
  }
  if (!has_app_) {
    *error = options_.app_file + ": the app never called (serve handler {...})";
    return false;
  }
  return true;
}

void Worker::thread_main() {
  lisp::IsolateOptions o;
  o.module_paths = options_.module_paths;
  Isolate iso(o);
  iso_ = &iso;
  uv_async_init(iso.loop(), &wakeup_,
                [](uv_async_t* a) { static_cast<Worker*>(a->data)->drain_inbox(); });
  wakeup_.data = this;
  uv_timer_init(iso.loop(), &deadline_timer_);
  deadline_timer_.data = this;

  std::string error;
  bool ok = load_app(iso, &error);
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
    uv_timer_start(
        &deadline_timer_, [](uv_timer_t* t) { static_cast<Worker*>(t->data)->sweep_deadlines(); },
        100, 100);
    iso.run_loop(&stop_loop_);
    keys_ = nullptr;
  }
  uv_close(reinterpret_cast<uv_handle_t*>(&wakeup_), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&deadline_timer_), nullptr);
  for (auto& [id, f] : in_flight_) {
    respond_text(f->request->responder, 503, "Service Unavailable: shutting down\n");
    iso.unroot(f->promise_slot);
  }
  in_flight_.clear();
  iso_ = nullptr;
}

void Worker::drain_inbox() {
  inbox_.clear_wakeup();
  std::unique_ptr<WorkerMessage> m;
  while (inbox_.pop(&m)) {
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
    }
  }
  if (stopping_ && in_flight_.empty()) {
    stop_loop_ = true;
  }
}

void Worker::begin(std::unique_ptr<HttpRequest> request) {
  Isolate& iso = *iso_;
  uint64_t id = request->id;
  auto f = std::make_unique<InFlight>();
  f->request_id = std::to_string(options_.index) + "-" + std::to_string(id);
  Value req = make_request_map(iso, *keys_, *request, f->request_id);
  f->request = std::move(request);
  lisp::Fiber* fiber = iso.spawn_call(iso.rooted(app_slot_), &req, 1);
  f->deadline_ms = uv_now(iso.loop()) + deadline_ms_.load(std::memory_order_relaxed);
  fiber->deadline_ms = f->deadline_ms;
  f->promise_slot = iso.root(val(fiber->result));
  auto* reaction =
      iso.heap().make_class<lisp::NativeReaction>(Tag::Internal, &lisp::kNativeReactionClass);
  reaction->fn = WorkerAccess::on_done;
  reaction->data = this;
  reaction->id = id;
  in_flight_.emplace(id, std::move(f));
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
  if (stopping_ && in_flight_.empty()) {
    stop_loop_ = true;
  }
  if (f->answered) {
    return;
  }
  const Responder& responder = f->request->responder;
  Headers request_id = {{"x-request-id", f->request_id}};
  if (p->state == lisp::PromiseState::Fulfilled) {
    HttpResponse resp;
    std::string error;
    if (read_response(*iso_, *keys_, p->value, &resp, &error)) {
      responder.respond(resp.status, std::move(resp.headers), std::move(resp.body));
      return;
    }
    log_error(options_.index, "request " + f->request_id + ": " + error);
    respond_text(responder, 500, "Internal Server Error (request " + f->request_id + ")\n",
                 request_id);
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
  if (identical(type, iso_->heap().keyword("deadline-exceeded"))) {
    log_error(options_.index, "request " + f->request_id + " ran past its deadline");
    respond_text(responder, 503,
                 "Service Unavailable: the request took too long (request " + f->request_id + ")\n",
                 request_id);
    return;
  }
  log_error(options_.index, "request " + f->request_id + " " + f->request->method + " " +
                                f->request->path + ": " + iso_->describe(raised));
  respond_text(responder, 500, "Internal Server Error (request " + f->request_id + ")\n",
               request_id);
}

void Worker::sweep_deadlines() {
  uint64_t now = uv_now(iso_->loop());
  for (auto& [id, f] : in_flight_) {
    if (!f->answered && now >= f->deadline_ms) {
      // Answer now; the fiber is cancelled at its next await and its
      // finally blocks run.
      f->answered = true;
      log_error(options_.index, "request " + f->request_id + " ran past its deadline");
      respond_text(
          f->request->responder, 503,
          "Service Unavailable: the request took too long (request " + f->request_id + ")\n",
          {{"x-request-id", f->request_id}});
      iso_->cancel(static_cast<lisp::Promise*>(iso_->rooted(f->promise_slot).o));
    }
  }
}

}  // namespace valk::serve
