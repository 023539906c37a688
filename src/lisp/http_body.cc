#include "lisp/http_body.h"

#include "lisp/collections.h"
#include "lisp/utf8.h"

namespace valk::lisp {
namespace {

const ObjClass kHttpBodyClass = {
    "http-body", [](Obj* self, Tracer& t) { t.mark(static_cast<HttpBody*>(self)->whole); },
    [](Obj* self) {
      BodyFeed* feed = static_cast<HttpBody*>(self)->feed;
      if (feed->source != nullptr) {
        feed->source->abandon();
      }
      delete feed;
    }};

// How the feed ended, as the error a read raises.
Value feed_error(Isolate& iso, const BodyFeed& feed) {
  if (feed.error_kind == "cancelled") {
    return val(iso.make_cancelled(feed.error));
  }
  return http_error(iso, feed.error_kind, feed.error, feed.url);
}

Value busy_error(Isolate& iso, const char* message) {
  Heap& h = iso.heap();
  Value data[] = {h.keyword("type"), h.keyword("body-busy")};
  return val(iso.make_error(h.string(message), map_from(h, data, 1)));
}

}  // namespace

HttpBody* make_http_body(Heap& heap, BodyFeed* feed) {
  auto* b = heap.make_class<HttpBody>(Tag::Internal, &kHttpBodyClass);
  b->feed = feed;
  return b;
}

HttpBody* http_body_of(Value v, Value body_stream_key) {
  if (v.is(Tag::Map) && !map_find(v, body_stream_key, &v)) {
    return nullptr;
  }
  if (v.is(Tag::Internal) && static_cast<ClassObj*>(v.o)->cls == &kHttpBodyClass) {
    return static_cast<HttpBody*>(v.o);
  }
  return nullptr;
}

bool settle_read(Isolate& iso, HttpBody* b, bool whole, bool* ok, Value* out) {
  BodyFeed& feed = *b->feed;
  Heap& h = iso.heap();
  *ok = true;
  if (whole) {
    if (b->whole_read) {
      *out = b->whole;
      return true;
    }
    if (b->chunk_taken) {
      *ok = false;
      *out = busy_error(iso, "read-body: read-chunk already took part of this body");
      return true;
    }
    if (feed.bytes.unread() > feed.max_body) {
      std::string why = "http/request " + feed.url + ": the body is larger than :max-body (" +
                        std::to_string(feed.max_body) + " bytes)";
      if (feed.source != nullptr) {
        feed.source->stop_feeding("too-large", why);  // ends the feed with it
      } else {
        feed.error_kind = "too-large";
        feed.error = why;
      }
      feed.bytes.clear();
      *ok = false;
      *out = feed_error(iso, feed);
      return true;
    }
    if (!feed.ended) {
      return false;
    }
    if (!feed.error_kind.empty()) {
      *ok = false;
      *out = feed_error(iso, feed);
      return true;
    }
    std::string_view d = feed.bytes.peek();
    if (d.empty()) {
      b->whole = Value::nil();
    } else if (utf8_valid(d)) {
      b->whole = h.string(d);
    } else {
      b->whole = val(h.make_bytes(reinterpret_cast<const uint8_t*>(d.data()), d.size()));
    }
    feed.bytes.clear();
    b->whole_read = true;
    *out = b->whole;
    return true;
  }
  if (b->whole_read) {
    *out = Value::nil();
    return true;
  }
  if (feed.bytes.unread() != 0) {
    std::string_view chunk = feed.bytes.peek().substr(0, BodyFeed::kMaxChunk);
    *out = val(h.make_bytes(reinterpret_cast<const uint8_t*>(chunk.data()), chunk.size()));
    feed.bytes.take(chunk.size());
    b->chunk_taken = true;
    if (feed.source != nullptr) {
      feed.source->drained();
    }
    return true;
  }
  if (!feed.ended) {
    return false;
  }
  if (!feed.error_kind.empty()) {
    *ok = false;
    *out = feed_error(iso, feed);
    return true;
  }
  *out = Value::nil();
  return true;
}

Value read_http_body(Isolate& iso, HttpBody* b, bool whole) {
  bool ok;
  Value out;
  if (settle_read(iso, b, whole, &ok, &out)) {
    return ok ? out : iso.raise(out);
  }
  if (b->feed->reader_waits) {
    return iso.raise(busy_error(iso, whole ? "read-body: another fiber is reading this body"
                                           : "read-chunk: another fiber is reading this body"));
  }
  return iso.park_on(b->feed->source->wait(b, whole));
}

Value http_error(Isolate& iso, std::string_view kind, const std::string& message,
                 const std::string& url) {
  Heap& h = iso.heap();
  Value data[] = {h.keyword("type"), h.keyword("http-error"), h.keyword("kind"),
                  h.keyword(kind),   h.keyword("url"),        h.string(url)};
  return val(iso.make_error(h.string(message), map_from(h, data, 3)));
}

}  // namespace valk::lisp
