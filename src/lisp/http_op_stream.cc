// http/request with :as :stream: the op's side of http_body.h. The promise
// settles with the head; the body goes into the HttpBody's feed, and the
// reader waiting on it is settled as it comes.
#include <string>

#include "lisp/http_op.h"

namespace valk::lisp {

void HttpOp::head_came(int status, const char* protocol, const http::HeaderList& headers,
                       bool decoded) {
  head_ready = true;
  head_status = status;
  head_protocol = protocol;
  head_headers = headers;
  head_decoded = decoded;
  feed = new BodyFeed;
  feed->url = url;
  feed->max_body = static_cast<size_t>(spec.max_body);
  feed->source = this;
}

bool HttpOp::take_body(const char* data, size_t len) {
  if (feed == nullptr || following) {
    return true;  // a redirect's body, or nobody's: its HttpBody was collected
  }
  feed->bytes.append(std::string_view(data, len));
  if (feed->reader_waits) {
    arm_read_timeout();  // bytes came: the wait starts again
  }
  return !(feed->reader_waits && reader_whole && feed->bytes.unread() > feed->max_body);
}

void HttpOp::arm_read_timeout() {
  if (spec.read_timeout_ms == 0) {
    return;
  }
  uv_timer_start(
      timer,
      [](uv_timer_t* t) {
        auto* op = static_cast<HttpOp*>(t->data);
        op->stop_feeding("timeout", "http/request " + op->url + ": no body bytes came for " +
                                        std::to_string(op->spec.read_timeout_ms) + " ms");
      },
      static_cast<uint64_t>(spec.read_timeout_ms), 0);
}

void HttpOp::pump() {
  if (head_ready && !head_settled) {
    settle_head();
  }
  if (feed == nullptr || !feed->reader_waits) {
    return;
  }
  auto* b = static_cast<HttpBody*>(iso->rooted(reader_slot).o);
  bool ok;
  Value out;
  // (settle_read stops no transfer from here: take_body keeps what a
  // waiting read-body has within :max-body.)
  if (!settle_read(*iso, b, reader_whole, &ok, &out)) {
    return;
  }
  feed->reader_waits = false;
  uv_timer_stop(timer);  // the read's timeout, or this very pump on its turn
  iso->unroot(reader_slot);
  reader_slot = kNoSlot;
  Promise* p = promise;
  promise = nullptr;
  p->op = nullptr;
  if (ok) {
    iso->resolve(p, out);
  } else {
    iso->reject(p, out);
  }
}

void HttpOp::pump_soon() {
  uv_timer_start(
      timer, [](uv_timer_t* t) { static_cast<HttpOp*>(t->data)->pump(); }, 0, 0);
}

void HttpOp::settle_head() {
  head_settled = true;
  uv_timer_stop(timer);  // the deadline was the head's
  HttpBody* b = make_http_body(iso->heap(), feed);
  Value v = response(head_status, head_protocol, head_headers, "", head_decoded, val(b));
  head_headers.clear();
  HttpRequestCounters::process().count("response");
  // The op lives on while the transfer runs, linked (so that the isolate's
  // end stops it), with a promise only while a reader waits.
  Promise* p = promise;
  promise = nullptr;
  p->op = nullptr;
  iso->resolve(p, v);
}

void HttpOp::end_feed(std::string_view kind, const std::string& why) {
  if (writer_slot != kNoSlot) {
    release_writer(http_error(*iso, kind.empty() ? "closed" : kind,
                              "http/write " + url + ": the connection ended", url));
  }
  if (feed != nullptr) {
    feed->ended = true;
    feed->error_kind = kind;
    feed->error = why;
    feed->source = nullptr;
  }
  pump();  // the head if it is not settled yet, and a waiting reader
  iso->unlink_op(this);
  delete this;
}

Promise* HttpOp::wait(HttpBody* body, bool whole) {
  Promise* p = iso->make_promise();
  promise = p;
  p->op = this;
  owner = iso->current() != nullptr ? iso->current()->serial : 0;
  reader_slot = iso->root(val(body));
  reader_whole = whole;
  feed->reader_waits = true;
  arm_read_timeout();
  if (whole) {
    drained();  // read-body gathers the whole body: no pause
  }
  return p;
}

void HttpOp::drained() {
  if (!paused || over_high_water()) {
    return;
  }
  paused = false;
  if (own) {
    iso->h1_client().resume(this);
  } else {
    curl_pause_as_flagged();  // may give what it held at once
  }
}

void HttpOp::stop_feeding(std::string_view kind, const std::string& why) {
  stop();
  end_feed(kind, why);
}

Value write_on_closed(Isolate& iso, const std::string& url) {
  return iso.raise(
      http_error(iso, "closed", "http/write " + url + ": the connection is closed", url));
}

Value HttpOp::write(std::string data) {
  int64_t pending = iso->h1_client().write(this, std::move(data));
  if (pending < 0) {
    return write_on_closed(*iso, url);
  }
  return static_cast<size_t>(pending) <= kWriteHighWater ? Value::nil() : park_writer();
}

Value HttpOp::park_writer() {
  if (writer_slot == kNoSlot) {
    writer_slot = iso->root(val(iso->make_promise()));
  }
  // Several fibers may write: they wait together.
  return iso->park_on(static_cast<Promise*>(iso->rooted(writer_slot).o));
}

void HttpOp::written(size_t pending) {
  if (pending <= kWriteLowWater) {
    release_writer(Value::nil());
  }
}

void HttpOp::release_writer(Value error) {
  if (writer_slot == kNoSlot) {
    return;
  }
  auto* p = static_cast<Promise*>(iso->rooted(writer_slot).o);
  iso->unroot(writer_slot);
  writer_slot = kNoSlot;
  if (error.is_nil()) {
    iso->resolve(p, Value::nil());
  } else {
    iso->reject(p, error);
  }
}

void HttpOp::abandon() {
  feed = nullptr;
  // Not now: the collector runs this inside an allocation, and stopping
  // a transfer calls into the clients.
  uv_timer_start(
      timer,
      [](uv_timer_t* t) {
        auto* op = static_cast<HttpOp*>(t->data);
        op->stop();
        op->iso->unlink_op(op);
        delete op;
      },
      0, 0);
}

}  // namespace valk::lisp
