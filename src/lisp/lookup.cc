// collection_lookup: the lookup shared by `get`, `contains?` and the VM's
// calls of keywords, maps, sets and vectors.
#include "lisp/collections.h"

namespace valk::lisp {

bool collection_lookup(Value coll, Value key, Value* out) {
  switch (coll.tag) {
    case Tag::Map:
      return map_find(coll, key, out);
    case Tag::Set:
      return set_find(coll, key, out);
    case Tag::Vector:
      if (key.is_int() && key.i >= 0 && static_cast<uint64_t>(key.i) < vector_count(coll)) {
        *out = vector_nth(coll, static_cast<size_t>(key.i));
        return true;
      }
      return false;
    default:
      return false;
  }
}

}  // namespace valk::lisp
