// Persistent collections: vectors, maps and sets.
//
// All are immutable: every "update" returns a new collection sharing
// structure with the old one. Maps of up to 8 entries keep insertion order
// (array maps); larger maps are hash array mapped tries. Sets are maps
// whose values are ignored, with the same ordering rule.
//
// Every function here is a leaf: it allocates on `heap` but never runs Lisp
// code and never triggers a collection. Arguments documented as a vector,
// map or set must have that tag (callers check types and raise errors).
#pragma once

#include <cstddef>
#include <functional>

#include "lisp/heap.h"
#include "lisp/value.h"

namespace valk::lisp {

// ---- vectors --------------------------------------------------------------
Value vector_from(Heap& heap, const Value* items, size_t n);
size_t vector_count(Value vec);
Value vector_nth(Value vec, size_t i);  // requires i < count
// The elements stored contiguously from index i (requires i < count):
// returns a pointer to element i and sets *len to how many follow it in the
// same chunk (at least 1). Valid until the next collection.
const Value* vector_chunk(Value vec, size_t i, size_t* len);
Value vector_conj(Heap& heap, Value vec, Value item);
Value vector_assoc(Heap& heap, Value vec, size_t i, Value item);  // requires i <= count
Value vector_pop(Heap& heap, Value vec);                          // requires count > 0
// Calls f on each element in order; stops early when f returns false.
void vector_each(Value vec, const std::function<bool(Value)>& f);

// ---- maps -----------------------------------------------------------------
Value map_from(Heap& heap, const Value* kvs, size_t num_pairs);  // later keys win
// A map literal whose keys are constants ({:status s :body b}) is built by
// copying the keys of a prototype made at compile time: no key compares.
// A prototype is an array map (map_from makes one of up to this many
// distinct keys, in their order).
constexpr size_t kMapProtoMax = 8;
// `proto`'s keys, in order, with values[i] as the value of the i-th.
Value map_with_values(Heap& heap, Value proto, const Value* values);
size_t map_count(Value map);
bool map_find(Value map, Value key, Value* out);  // false if absent
Value map_assoc(Heap& heap, Value map, Value key, Value value);
// `map` with kvs[2i] set to kvs[2i+1] for each of the n pairs, as n
// map_assoc calls in order would give, but a hash map's root is copied
// once, not once a pair, when the keys fall into distinct slots of it.
Value map_assoc_pairs(Heap& heap, Value map, const Value* kvs, size_t n);
Value map_dissoc(Heap& heap, Value map, Value key);
// Calls f on each entry; stops early when f returns false.
void map_each(Value map, const std::function<bool(Value key, Value value)>& f);

// Many maps with the same keys (a request map per request): the map for
// the keys is laid out once, and each map made is a copy of its objects
// with the values written in, without map_from's hashing and sorting.
class MapTemplate {
 public:
  MapTemplate() = default;
  // `keys` must be distinct. The prototype map it builds must stay
  // reachable while the template is used: root proto().
  MapTemplate(Heap& heap, const Value* keys, size_t n);
  // The map of keys[i] -> values[i] (n values).
  Value make(Heap& heap, const Value* values) const;
  Value proto() const { return proto_; }

 private:
  struct Slot {
    uint32_t object;  // preorder index of the object holding the entry
    uint32_t offset;  // byte offset of the entry's value in that object
  };
  std::vector<Value> keys_;  // reachable through proto_
  Value proto_;
  std::vector<Slot> slots_;  // where each key's value goes, in key order
  uint32_t objects_ = 0;
};

// ---- sets -----------------------------------------------------------------
Value set_from(Heap& heap, const Value* items, size_t n);
size_t set_count(Value set);
bool set_contains(Value set, Value item);
// Sets *out to the element of `set` equal to `item`; false if absent.
bool set_find(Value set, Value item, Value* out);
Value set_conj(Heap& heap, Value set, Value item);
Value set_disj(Heap& heap, Value set, Value item);
void set_each(Value set, const std::function<bool(Value)>& f);

// ---- lookup -----------------------------------------------------------------
// Looks `key` up in `coll` as `get` does and as calling a collection or a
// keyword does: a map by key, a set by element (giving the element stored),
// a vector by integer index. Returns true and sets *out when found; false
// when absent, when `coll` is anything else (nil, a number, a string, ...)
// or when a vector gets a key that is not an in-range integer. Leaf: never
// allocates.
bool collection_lookup(Value coll, Value key, Value* out);

}  // namespace valk::lisp
