#include "serve/request_body.h"

#include "lisp/utf8.h"

namespace valk::serve {

BodyReader make_pipe_reader(std::shared_ptr<BodyPipe> pipe, Responder responder,
                            std::function<void()> wake) {
  return [pipe = std::move(pipe), responder, wake = std::move(wake)](std::string_view chunk,
                                                                     bool last) {
    bool wake_now = false;
    {
      std::lock_guard<std::mutex> lock(pipe->mu);
      if (pipe->abandoned) {
        responder.consume_body(chunk.size());
        return;
      }
      pipe->bytes.append(chunk);
      pipe->ended = pipe->ended || last;
      if (pipe->waiting && (pipe->bytes.unread() != 0 || pipe->ended)) {
        pipe->waiting = false;
        wake_now = true;
      }
    }
    if (wake_now) {
      wake();
    }
  };
}

const lisp::ObjClass kRequestBodyClass = {"request-body",
                                          [](lisp::Obj* self, lisp::Tracer& t) {
                                            auto* b = static_cast<RequestBody*>(self);
                                            t.mark(b->rest);
                                            t.mark(b->whole);
                                          },
                                          nullptr};

lisp::Value body_value(lisp::Heap& heap, std::string_view bytes) {
  if (lisp::utf8_valid(bytes)) {
    return heap.string(bytes);
  }
  return val(heap.make_bytes(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()));
}

}  // namespace valk::serve
