// http/request with :body as a function: the function runs in a fiber of
// its own from the call on, given a writer, and writes the body with
// http/write as it goes. The head goes out first, each write follows it
// (as a chunk on HTTP/1.1 unless the headers give a content-length), and
// the body ends when the function returns. A write waits while more than
// kWriteHighWater of the body is unsent, so a body passed on from a slow
// source, or to a slow server, is held back rather than gathered.
//
// The function failing fails the request with its error. The request
// ending first (an early answer, an error, a cancellation) cancels the
// function's fiber, and its writer then writes to nothing.
#include <string>

#include "lisp/http_op.h"

namespace valk::lisp {
namespace {

const ObjClass kBodyWriterClass = {"http-body-writer", [](Obj*, Tracer&) {}, nullptr};

void upload_settled(Isolate&, NativeReaction* self, Promise* p) {
  if (auto* op = static_cast<HttpOp*>(self->data)) {
    op->upload_finished(p);
  }
}

}  // namespace

BodyWriter* body_writer_of(Value v) {
  if (v.is(Tag::Internal) && static_cast<ClassObj*>(v.o)->cls == &kBodyWriterClass) {
    return static_cast<BodyWriter*>(v.o);
  }
  return nullptr;
}

void HttpOp::start_upload() {
  Heap& h = iso->heap();
  auto* writer = h.make_class<BodyWriter>(Tag::Internal, &kBodyWriterClass);
  writer->op = this;
  upload_writer_slot = iso->root(val(writer));
  Value arg = val(writer);
  Fiber* f = iso->spawn_child(spec.body_fn, &arg, 1);
  spec.body_fn = Value::nil();  // the fiber holds it
  upload_slot = iso->root(val(f->result));
  upload_done = h.make_class<NativeReaction>(Tag::Internal, &kNativeReactionClass);
  upload_done->fn = upload_settled;
  upload_done->data = this;
  iso->on_settle(f->result, upload_done);
}

Value HttpOp::upload_write(std::string_view data) {
  if (upload_ended) {
    return iso->raise(
        http_error(*iso, "closed", "http/write " + url + ": the :body function has returned", url));
  }
  if (spec.body_length >= 0 &&
      upload_written + data.size() > static_cast<uint64_t>(spec.body_length)) {
    return iso->raise(http_error(*iso, "failed",
                                 "http/write " + url + ": more than the content-length (" +
                                     std::to_string(spec.body_length) + " bytes)",
                                 url));
  }
  upload_written += data.size();
  // Held while no connection takes it: before the head went out, or after
  // the server stopped taking it (the answer, or the failure, will end
  // the request and this fiber).
  size_t unsent;
  if (own && iso->h1_client().takes_body(this)) {
    unsent = static_cast<size_t>(iso->h1_client().write(this, std::string(data)));
  } else if (upload_cut) {
    return Value::nil();
  } else {
    upload_held.append(data);
    unsent = upload_held.size() - upload_taken;
    resume_send();  // curl asks for it at once
  }
  return unsent <= kWriteHighWater ? Value::nil() : park_writer();
}

void HttpOp::body_sendable() {
  if (!upload_held.empty()) {
    int64_t pending = iso->h1_client().write(this, std::move(upload_held));
    upload_held.clear();
    if (pending >= 0) {
      written(static_cast<size_t>(pending));
    }
  }
  if (upload_ended) {
    iso->h1_client().end_body(this);
  }
}

size_t HttpOp::upload_read(char* out, size_t room) {
  size_t n = std::min(room, upload_held.size() - upload_taken);
  if (n == 0) {
    if (upload_ended || upload_cut) {
      return 0;  // the end of the body
    }
    send_paused = true;
    return CURL_READFUNC_PAUSE;
  }
  upload_held.copy(out, n, upload_taken);
  upload_taken += n;
  if (upload_taken == upload_held.size()) {
    upload_held.clear();
    upload_taken = 0;
  }
  written(upload_held.size() - upload_taken);
  return n;
}

void HttpOp::cut_upload() {
  upload_cut = true;
  upload_held.clear();
  upload_taken = 0;
  release_writer(Value::nil());
  resume_send();
}

void HttpOp::upload_finished(Promise* p) {
  iso->unroot(upload_slot);
  upload_slot = kNoSlot;
  upload_done->data = nullptr;
  upload_done = nullptr;
  if (p->state == PromiseState::Rejected) {
    stop();
    if (head_settled) {
      // The response's reader learns of it; the error itself is the
      // function's fiber's.
      std::string why = "the :body function failed";
      if (p->value.is(Tag::Error)) {
        Value message = static_cast<Error*>(p->value.o)->message;
        why += ": " + std::string(static_cast<String*>(message.o)->view());
      }
      end_feed("failed", "http/request " + url + ": " + why);
    } else {
      HttpRequestCounters::process().count("failed");
      iso->end_op(this, false, p->value);
    }
    return;
  }
  upload_ended = true;
  if (spec.body_length >= 0 && upload_written < static_cast<uint64_t>(spec.body_length)) {
    stop();
    std::string why = "the :body function wrote " + std::to_string(upload_written) + " of the " +
                      std::to_string(spec.body_length) + " bytes its content-length gives";
    if (head_settled) {
      end_feed("failed", "http/request " + url + ": " + why);
    } else {
      fail("failed", why);
    }
    return;
  }
  if (own) {
    iso->h1_client().end_body(this);  // or at body_sendable()
  } else {
    resume_send();
  }
  if (!head_ready) {
    // The server has :timeout-ms from here: however long the body took
    // to write, it was not waiting to answer.
    uv_update_time(iso->loop());
    started_ms = uv_now(iso->loop());
    start_deadline();
  }
}

void HttpOp::end_upload() {
  if (writer_slot != kNoSlot) {
    iso->unroot(writer_slot);  // its fiber is cancelled below, or was
    writer_slot = kNoSlot;
  }
  if (upload_writer_slot != kNoSlot) {
    static_cast<BodyWriter*>(iso->rooted(upload_writer_slot).o)->op = nullptr;
    iso->unroot(upload_writer_slot);
    upload_writer_slot = kNoSlot;
  }
  if (upload_slot != kNoSlot) {
    auto* p = static_cast<Promise*>(iso->rooted(upload_slot).o);
    iso->unroot(upload_slot);
    upload_slot = kNoSlot;
    upload_done->data = nullptr;
    iso->cancel(p);
  }
}

void HttpOp::resume_send() {
  if (send_paused) {
    send_paused = false;
    curl_pause_as_flagged();
  }
}

void HttpOp::curl_pause_as_flagged() {
  curl_easy_pause(easy, (paused ? CURLPAUSE_RECV : 0) | (send_paused ? CURLPAUSE_SEND : 0));
}

}  // namespace valk::lisp
