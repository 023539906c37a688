#include "lisp/value_codec.h"

#include <cstring>
#include <vector>

#include "lisp/collections.h"
#include "lisp/heap.h"
#include "lisp/object.h"
#include "lisp/printer.h"

namespace valk::lisp {
namespace {

enum Code : uint8_t {
  kNil,
  kFalse,
  kTrue,
  kInt,
  kDouble,
  kString,
  kKeyword,
  kSymbol,
  kBytes,
  kList,
  kVector,
  kMap,
  kSet
};

void put_u32(std::string* out, uint32_t n) {
  out->append(reinterpret_cast<const char*>(&n), sizeof n);
}

void put_text(std::string* out, Code code, std::string_view text) {
  out->push_back(static_cast<char>(code));
  put_u32(out, static_cast<uint32_t>(text.size()));
  out->append(text);
}

bool encode(Value v, std::string* out, std::string* what, int depth) {
  if (depth > kMaxCodecDepth) {
    *what = "nesting deeper than " + std::to_string(kMaxCodecDepth);
    return false;
  }
  bool ok = true;
  auto item = [&](Value x) {
    ok = ok && encode(x, out, what, depth + 1);
    return ok;
  };
  switch (v.tag) {
    case Tag::Nil:
      out->push_back(kNil);
      return true;
    case Tag::Bool:
      out->push_back(v.b ? kTrue : kFalse);
      return true;
    case Tag::Int:
    case Tag::Double:
      out->push_back(v.tag == Tag::Int ? kInt : kDouble);
      out->append(reinterpret_cast<const char*>(&v.i), sizeof v.i);
      return true;
    case Tag::String:
      put_text(out, kString, static_cast<String*>(v.o)->view());
      return true;
    case Tag::Keyword:
    case Tag::Symbol:
      put_text(out, v.tag == Tag::Keyword ? kKeyword : kSymbol,
               static_cast<Symbol*>(v.o)->name->view());
      return true;
    case Tag::Bytes: {
      auto* b = static_cast<Bytes*>(v.o);
      put_text(out, kBytes, std::string_view(reinterpret_cast<const char*>(b->data), b->size));
      return true;
    }
    case Tag::List: {
      out->push_back(kList);
      auto* c = static_cast<Cons*>(v.o);
      put_u32(out, c == nullptr ? 0 : static_cast<uint32_t>(c->count));
      for (; c != nullptr && ok; c = static_cast<Cons*>(c->rest.o)) {
        item(c->first);
      }
      return ok;
    }
    case Tag::Vector:
      out->push_back(kVector);
      put_u32(out, static_cast<uint32_t>(vector_count(v)));
      vector_each(v, item);
      return ok;
    case Tag::Map:
      out->push_back(kMap);
      put_u32(out, static_cast<uint32_t>(map_count(v)));
      map_each(v, [&](Value k, Value x) { return item(k) && item(x); });
      return ok;
    case Tag::Set:
      out->push_back(kSet);
      put_u32(out, static_cast<uint32_t>(set_count(v)));
      set_each(v, item);
      return ok;
    default:
      *what = "a " + std::string(type_name(v));
      return false;
  }
}

class Decoder {
 public:
  Decoder(Heap& heap, std::string_view bytes) : heap_(heap), at_(bytes.data()) {}

  Value value() {
    auto code = static_cast<Code>(*at_++);
    switch (code) {
      case kNil:
        return Value::nil();
      case kFalse:
      case kTrue:
        return Value::boolean(code == kTrue);
      case kInt:
      case kDouble: {
        int64_t i;
        memcpy(&i, at_, sizeof i);
        at_ += sizeof i;
        if (code == kInt) {
          return Value::integer(i);
        }
        double d;
        memcpy(&d, &i, sizeof d);
        return Value::number(d);
      }
      case kString:
        return heap_.string(text());
      case kKeyword:
        return heap_.keyword(text());
      case kSymbol:
        return val(heap_.intern_symbol(text()));
      case kBytes: {
        std::string_view b = text();
        return val(heap_.make_bytes(reinterpret_cast<const uint8_t*>(b.data()), b.size()));
      }
      case kList:
      case kVector:
      case kMap:
      case kSet: {
        size_t n = u32() * (code == kMap ? 2 : 1);
        // No collection runs inside a native (only at the VM's safe
        // points), so the items need no rooting while they are gathered.
        std::vector<Value> items(n);
        for (Value& x : items) {
          x = value();
        }
        switch (code) {
          case kList:
            return heap_.list(items.data(), n);
          case kVector:
            return vector_from(heap_, items.data(), n);
          case kMap:
            return map_from(heap_, items.data(), n / 2);
          default:
            return set_from(heap_, items.data(), n);
        }
      }
    }
    return Value::nil();
  }

 private:
  uint32_t u32() {
    uint32_t n;
    memcpy(&n, at_, sizeof n);
    at_ += sizeof n;
    return n;
  }
  std::string_view text() {
    uint32_t n = u32();
    std::string_view t(at_, n);
    at_ += n;
    return t;
  }

  Heap& heap_;
  const char* at_;
};

}  // namespace

bool encode_value(Value v, std::string* out, std::string* what) {
  return encode(v, out, what, 0);
}

Value decode_value(Heap& heap, std::string_view bytes) {
  return Decoder(heap, bytes).value();
}

}  // namespace valk::lisp
