// Shared internals of the map and set implementations (map.cc, map_trie.cc), for
// set.cc, equality.cc and the tests. Not for use outside the collections.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>

#include "lisp/heap.h"
#include "lisp/value.h"

namespace valk::lisp {

// Maps and sets share one representation: a set maps each element to
// itself. EntryKind picks the tag of the objects an update builds.
enum class EntryKind { Map, Set };

// The hash used by the trie: hash(v) folded to 32 bits. Exposed so tests
// can craft keys whose hashes collide.
uint32_t hash32(Value v);

// True when a map or set is in array form (at most 8 entries, insertion
// order); false when it is a trie.
bool map_is_array(Value map_or_set);

// The operations behind map_* and set_*; `m` is a Map or Set value. Items
// come in groups of `stride` values (1 or 2): the first is the key, the
// last the value. Later keys win.
Value entries_from(Heap& heap, EntryKind kind, const Value* items, size_t n, size_t stride);
size_t entries_count(Value m);
bool entries_find(Value m, Value key, Value* out);
Value entries_assoc(Heap& heap, EntryKind kind, Value m, Value key, Value value);
Value entries_dissoc(Heap& heap, EntryKind kind, Value m, Value key);
void entries_each(Value m, const std::function<bool(Value, Value)>& f);

// The objects a map is made of (its root, trie nodes, collision nodes), for
// MapTemplate: the entries an object holds inline, and a walk in preorder.
Value* map_object_entries(Obj* o, uint32_t* n);
void map_each_object(Obj* o, const std::function<void(Obj*)>& f);
// Copies `o` and the objects under it (a map's root: the whole map), adding
// the copies to out[*count...] in preorder.
Obj* map_clone_objects(Heap& heap, Obj* o, Obj** out, uint32_t* count);

}  // namespace valk::lisp
