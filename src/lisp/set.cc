// Persistent sets: maps from each element to itself (see map.cc), so they
// share the array form (insertion order up to 8 elements) and the trie.
#include "lisp/collections.h"
#include "lisp/collections_internal.h"

namespace valk::lisp {

Value set_from(Heap& heap, const Value* items, size_t n) {
  return entries_from(heap, EntryKind::Set, items, n, 1);
}

size_t set_count(Value set) {
  return entries_count(set);
}

bool set_contains(Value set, Value item) {
  Value ignored;
  return entries_find(set, item, &ignored);
}

bool set_find(Value set, Value item, Value* out) {
  return entries_find(set, item, out);
}

Value set_conj(Heap& heap, Value set, Value item) {
  // Look first so that an equal element already present is kept as is.
  if (set_contains(set, item)) {
    return set;
  }
  return entries_assoc(heap, EntryKind::Set, set, item, item);
}

Value set_disj(Heap& heap, Value set, Value item) {
  return entries_dissoc(heap, EntryKind::Set, set, item);
}

void set_each(Value set, const std::function<bool(Value)>& f) {
  entries_each(set, [&](Value k, Value) { return f(k); });
}

}  // namespace valk::lisp
