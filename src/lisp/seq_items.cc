#include "lisp/seq_items.h"

#include "lisp/collections.h"
#include "lisp/utf8.h"

namespace valk::lisp {

bool is_seqable(Value v) {
  switch (v.tag) {
    case Tag::Nil:
    case Tag::List:
    case Tag::Vector:
    case Tag::Map:
    case Tag::Set:
    case Tag::String:
      return true;
    default:
      return false;
  }
}

Value map_entry(Heap& heap, Value key, Value value) {
  Value kv[2] = {key, value};
  return vector_from(heap, kv, 2);
}

bool seq_items(Heap& heap, Value coll, std::vector<Value>* out) {
  switch (coll.tag) {
    case Tag::Nil:
      return true;
    case Tag::List:
      for (Value c = coll; c.o != nullptr; c = static_cast<Cons*>(c.o)->rest) {
        out->push_back(static_cast<Cons*>(c.o)->first);
      }
      return true;
    case Tag::Vector: {
      size_t n = vector_count(coll);
      out->reserve(out->size() + n);
      for (size_t i = 0; i < n;) {
        size_t len;
        const Value* chunk = vector_chunk(coll, i, &len);
        out->insert(out->end(), chunk, chunk + len);
        i += len;
      }
      return true;
    }
    case Tag::Map:
      map_each(coll, [&](Value k, Value v) {
        out->push_back(map_entry(heap, k, v));
        return true;
      });
      return true;
    case Tag::Set:
      set_each(coll, [&](Value e) {
        out->push_back(e);
        return true;
      });
      return true;
    case Tag::String: {
      auto* s = static_cast<String*>(coll.o);
      std::string_view text = s->view();
      size_t i = 0;
      while (i < text.size()) {
        size_t next = i + utf8_offset(text.substr(i), 1);
        out->push_back(heap.string(text.substr(i, next - i)));
        i = next;
      }
      return true;
    }
    default:
      return false;
  }
}

}  // namespace valk::lisp
