// A request body that reaches the worker after its head: the reactor's
// paced body reader fills a BodyPipe; the request's fibers take from it
// with (read-chunk req) or (read-body req), and what they take is given
// back to the connection as flow-control credit (Responder::consume_body),
// so a slow handler holds its client back instead of buffering the body.
#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "lisp/heap.h"
#include "lisp/value.h"
#include "util/read_buffer.h"
#include "valk/server.h"

namespace valk::serve {

// Shared by the reactor (producer) and the worker (consumer).
struct BodyPipe {
  // The most read-chunk takes at once, as of a response's body
  // (lisp::BodyFeed::kMaxChunk): a handler passing the body on (valk/proxy)
  // then holds that much of it in a chunk, not all that came.
  static constexpr size_t kMaxChunk = 64 * 1024;

  std::mutex mu;
  ReadBuffer bytes;        // arrived, not taken yet
  bool ended = false;      // the last chunk arrived
  bool waiting = false;    // a fiber waits: the next arrival wakes the worker
  bool abandoned = false;  // the request is over: what arrives is dropped
};

// The reactor-side reader that feeds `pipe`. Chunks that arrive after the
// worker abandoned the pipe are consumed at once so the connection moves
// on. `wake` runs (on the reactor thread) when a waiting fiber can go on.
BodyReader make_pipe_reader(std::shared_ptr<BodyPipe> pipe, Responder responder,
                            std::function<void()> wake);

// The Lisp value under :body-stream in a request map with a body.
struct RequestBody : lisp::ClassObj {
  uint64_t id = 0;  // the request's, to find its pipe
  bool streamed = false;
  bool chunk_taken = false;  // read-chunk has returned part of it
  bool whole_read = false;   // read-body has returned it (in `whole`)
  // Buffered: the body read-chunk has not returned yet (nil after).
  lisp::Value rest;
  // The whole body once read-body has it (returned again by later calls).
  lisp::Value whole;
};
extern const lisp::ObjClass kRequestBodyClass;

// A body's bytes as Lisp data: a string when UTF-8, bytes otherwise.
lisp::Value body_value(lisp::Heap& heap, std::string_view bytes);

}  // namespace valk::serve
