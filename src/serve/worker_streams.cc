// Streamed responses and streamed request bodies: the natives write,
// end-stream, read-body and read-chunk, and the worker's side of them
// (flow control of a stream's writer, parked body readers).
#include <mutex>
#include <string>

#include "lisp/fiber.h"
#include "serve/worker_internal.h"

namespace valk::serve {

using lisp::Isolate;
using lisp::Tag;
using lisp::Value;

namespace {

// The Lisp value a stream's writer function receives.
struct ResponseStream : lisp::ClassObj {
  uint64_t id;
};
const lisp::ObjClass kResponseStreamClass = {"response-stream", [](lisp::Obj*, lisp::Tracer&) {},
                                             nullptr};

}  // namespace

// The open stream `v` names, or nullptr with an error raised.
Worker::InFlight* WorkerAccess::open_stream(Isolate& iso, const char* fn, Value v) {
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
Value WorkerAccess::end_stream(Isolate& iso, Value* args, int argc) {
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
Value WorkerAccess::write(Isolate& iso, Value* args, int argc) {
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
// object, in *out; or, of a response of http/request with :as :stream (or
// its body), in *http. Both nullptr for a request without a body. False
// with an error raised when `v` is none of these.
bool WorkerAccess::body_arg(Isolate& iso, const char* fn, Value v, RequestBody** out,
                            lisp::HttpBody** http) {
  *out = nullptr;
  *http = nullptr;
  Value b = v;
  if (v.is(Tag::Map) && !lisp::map_find(v, of(iso)->keys_->body_stream, &b)) {
    return true;
  }
  if (b.is(Tag::Internal) && static_cast<lisp::ClassObj*>(b.o)->cls == &kRequestBodyClass) {
    *out = static_cast<RequestBody*>(b.o);
    return true;
  }
  *http = lisp::http_body_of(b, Value::nil());
  if (*http != nullptr || v.is(Tag::Map)) {
    return true;
  }
  iso.type_error(fn, "a request", v);
  return false;
}

// The request a streamed body belongs to, free for one more reader; or
// nullptr with an error raised.
Worker::InFlight* WorkerAccess::body_owner(Isolate& iso, const char* fn, RequestBody* b) {
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

Value WorkerAccess::park_reader(Isolate& iso, Worker::InFlight& f, RequestBody* b) {
  lisp::Promise* p = iso.make_promise();
  f.read_slot = iso.root(val(p));
  f.read_obj_slot = iso.root(val(b));
  return iso.park_on(p);
}

// (read-body req): the whole request body, a string when UTF-8, else
// bytes, nil when empty; waits for a body that streams in. Later calls
// return the same value.
Value WorkerAccess::read_body(Isolate& iso, Value* args, int) {
  RequestBody* b;
  lisp::HttpBody* http;
  if (!body_arg(iso, "read-body", args[0], &b, &http)) {
    return Value::sentinel(Tag::Exception);
  }
  if (http != nullptr) {
    return lisp::read_http_body(iso, http, true);
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
Value WorkerAccess::read_chunk(Isolate& iso, Value* args, int) {
  RequestBody* b;
  lisp::HttpBody* http;
  if (!body_arg(iso, "read-chunk", args[0], &b, &http)) {
    return Value::sentinel(Tag::Exception);
  }
  if (http != nullptr) {
    return lisp::read_http_body(iso, http, false);
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
  f->tunnel = status == 101 && f->request->upgrade;
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
  if (f.request->upgrade && !f.tunnel) {
    *out = Value::nil();  // a request asking to upgrade has no body of its own
    return true;
  }
  BodyPipe& pipe = *f.request->body_pipe;
  std::string taken;
  bool ended;
  {
    std::lock_guard<std::mutex> lock(pipe.mu);
    taken = pipe.bytes.take_string(f.read_whole ? SIZE_MAX : BodyPipe::kMaxChunk);
    ended = pipe.ended && pipe.bytes.unread() == 0;
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
  {
    std::lock_guard<std::mutex> lock(bodies_mu_);
    bodies_arrived_.swap(bodies_taken_);  // both keep their room
  }
  for (uint64_t id : bodies_taken_) {
    auto it = in_flight_.find(id);
    if (it == in_flight_.end() || it->second->read_slot == kNoSlot) {
      continue;
    }
    InFlight& f = *it->second;
    Value out;
    if (!take_body(f, &out)) {
      continue;  // read-body waits for the end; the pipe tells again
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
  bodies_taken_.clear();
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
    dropped = pipe.bytes.unread();
    pipe.bytes.clear();
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

}  // namespace valk::serve
