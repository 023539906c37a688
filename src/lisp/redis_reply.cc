#include "lisp/redis_reply.h"

#include <string>
#include <vector>

#include "lisp/collections.h"
#include "lisp/utf8.h"

namespace valk::lisp {

Value redis_error_value(Isolate& iso, std::string_view fn, std::string_view kind,
                        std::string_view message) {
  Heap& h = iso.heap();
  std::string text = std::string(fn) + ": " + std::string(message);
  if (kind == "reply") {
    std::string_view code = message.substr(0, message.find(' '));
    Value data[] = {h.keyword("type"),  h.keyword("redis-error"), h.keyword("kind"),
                    h.keyword("reply"), h.keyword("code"),        h.string(code)};
    return val(iso.make_error(h.string(text), map_from(h, data, 3)));
  }
  Value data[] = {h.keyword("type"), h.keyword("redis-error"), h.keyword("kind"), h.keyword(kind)};
  return val(iso.make_error(h.string(text), map_from(h, data, 2)));
}

Value redis_text_value(Heap& h, const char* s, size_t n) {
  std::string_view v(s, n);
  if (utf8_valid(v)) {
    return h.string(v);
  }
  return val(h.make_bytes(reinterpret_cast<const uint8_t*>(s), n));
}

// The Lisp form of a reply; an error reply inside an array (EXEC's) is an
// error value there.
Value redis_reply_value(Isolate& iso, const redisReply* r, std::string_view fn) {
  Heap& h = iso.heap();
  switch (r->type) {
    case REDIS_REPLY_STRING:
    case REDIS_REPLY_STATUS:
      return redis_text_value(h, r->str, r->len);
    case REDIS_REPLY_INTEGER:
      return Value::integer(r->integer);
    case REDIS_REPLY_ARRAY: {
      std::vector<Value> items;
      items.reserve(r->elements);
      for (size_t i = 0; i < r->elements; i++) {
        items.push_back(redis_reply_value(iso, r->element[i], fn));
      }
      return vector_from(h, items.data(), items.size());
    }
    case REDIS_REPLY_ERROR:
      return redis_error_value(iso, fn, "reply", std::string_view(r->str, r->len));
    default:
      return Value::nil();
  }
}

}  // namespace valk::lisp
