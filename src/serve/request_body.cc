#include "serve/request_body.h"

#include <algorithm>

#include "lisp/utf8.h"

namespace valk::serve {

std::string BodyPipe::take(size_t max) {
  std::string out;
  if (taken == 0 && data.size() <= max) {
    out.swap(data);  // the common case: no copy
    return out;
  }
  size_t n = std::min(max, unread());
  out.assign(data, taken, n);
  taken += n;
  if (taken == data.size()) {
    data.clear();
    taken = 0;
  } else if (taken >= data.size() / 2) {
    data.erase(0, taken);  // at most as much as was taken since the last time
    taken = 0;
  }
  return out;
}

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
      pipe->data.append(chunk);
      pipe->ended = pipe->ended || last;
      if (pipe->waiting && (pipe->unread() != 0 || pipe->ended)) {
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
