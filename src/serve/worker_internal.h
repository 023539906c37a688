// Worker internals shared by worker.cc (lifecycle, requests, deadlines,
// figures) and worker_streams.cc (streamed responses and request bodies).
// Private to src/serve.
#pragma once

#include <atomic>
#include <charconv>
#include <cstdint>
#include <limits>
#include <memory>
#include <string>

#include "lisp/http_body.h"
#include "lisp/isolate.h"
#include "serve/http_map.h"
#include "serve/request_body.h"
#include "serve/worker.h"

namespace valk::serve {

using lisp::kNoSlot;
constexpr uint64_t kNoDeadline = std::numeric_limits<uint64_t>::max();

// Body bytes the reactor has sent of a streamed response; written by its
// drain callback, read by the worker.
struct Worker::StreamFlow {
  std::atomic<uint64_t> sent{0};
};

// Writes "<worker>-<n>", the id a request has in logs, x-request-id and
// :request-id, at `out` (room for 48 bytes); returns its end.
inline char* write_request_id(int worker, uint64_t id, char* out) {
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
  uint64_t begun_ms = 0;    // the loop's clock at hand-over
  uint64_t started_ns = 0;  // when counting routes: uv_hrtime() at hand-over
  // Nothing more may be sent: a response went out (an error, or the end of
  // a stream), or the client is gone.
  bool answered = false;
  // A streamed response: its head is out and a writer fiber runs.
  bool streaming = false;
  bool ended = false;  // end-stream was called
  // A 101 answered the client's upgrade: the body pipe carries the
  // connection's bytes (HttpRequest::upgrade).
  bool tunnel = false;
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

// A reload of the app that is running (worker_reload.cc).
struct Worker::Reload {
  ReloadDone done;
  uint64_t fiber_serial = 0;  // the fiber loading the app
  uint32_t promise_slot = kNoSlot;
  uint64_t deadline_ms = kNoDeadline;
  // What the new generation passed to (serve app opts).
  uint32_t app_slot = kNoSlot;
  ServeConfig config;
  std::vector<lisp::UnresolvedRef> refs;  // compiled before defined
};

// An error naming the first of `refs` that is still not defined, or "".
std::string undefined_ref_error(lisp::Isolate& iso, const std::vector<lisp::UnresolvedRef>& refs);

// Gives the natives and callbacks of the worker access to its internals.
struct WorkerAccess {
  static Worker* of(lisp::Isolate& iso) { return static_cast<Worker*>(iso.current_native()->data); }

  // worker.cc
  // (serve app opts): records the app's handler and settings.
  static lisp::Value serve(lisp::Isolate& iso, lisp::Value* args, int argc);
  // A request's fiber (or a stream writer's) settled.
  static void on_done(lisp::Isolate& iso, lisp::NativeReaction* self, lisp::Promise* p);
  // worker_reload.cc: the fiber loading the app again settled.
  static void on_reloaded(lisp::Isolate& iso, lisp::NativeReaction* self, lisp::Promise* p);

  // worker_streams.cc
  static lisp::Value write(lisp::Isolate& iso, lisp::Value* args, int argc);
  static lisp::Value end_stream(lisp::Isolate& iso, lisp::Value* args, int argc);
  static lisp::Value read_body(lisp::Isolate& iso, lisp::Value* args, int argc);
  static lisp::Value read_chunk(lisp::Isolate& iso, lisp::Value* args, int argc);

 private:
  static Worker::InFlight* open_stream(lisp::Isolate& iso, const char* fn, lisp::Value v);
  static bool body_arg(lisp::Isolate& iso, const char* fn, lisp::Value v, RequestBody** out,
                       lisp::HttpBody** http);
  static Worker::InFlight* body_owner(lisp::Isolate& iso, const char* fn, RequestBody* b);
  static lisp::Value park_reader(lisp::Isolate& iso, Worker::InFlight& f, RequestBody* b);
};

}  // namespace valk::serve
