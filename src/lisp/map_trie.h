// The layout of maps and sets (array maps, CHAMP trie nodes, collision
// nodes) and the operations on a trie below its root, shared by map.cc
// (the map and set operations on whole maps, bulk construction) and
// map_trie.cc (finding, adding and removing one key in a trie). See map.cc
// for the design. Internal to the collections.
#pragma once

#include <bit>
#include <cstdint>
#include <functional>

#include "lisp/collections.h"
#include "lisp/collections_internal.h"
#include "lisp/heap.h"

namespace valk::lisp::champ {

inline constexpr uint32_t kArrayMax = 8;
inline constexpr uint32_t kBits = 5;
inline constexpr uint32_t kMask = (1u << kBits) - 1;

// ---------------------------------------------------------------------------
// Layouts

// Array map or set: aux holds the entry count; 2*aux values follow.
struct ArrayMap : ClassObj {
  Value* kv() { return reinterpret_cast<Value*>(this + 1); }
};

// A trie node (and the root object of a hash map or set). After the header
// come 2*popcount(datamap) values (key, value pairs) and then
// popcount(nodemap) child pointers, both in bit order.
struct Node : ClassObj {
  uint32_t datamap;
  uint32_t nodemap;
  uint64_t count;  // entries in the whole trie; kept on root objects only

  uint32_t data_len() const { return std::popcount(datamap); }
  uint32_t node_len() const { return std::popcount(nodemap); }
  Value* kv() { return reinterpret_cast<Value*>(this + 1); }
  Obj** kids() { return reinterpret_cast<Obj**>(kv() + 2 * data_len()); }
};

// Entries whose keys have the same 32-bit hash: aux holds the count.
struct Collision : ClassObj {
  uint32_t hash;
  Value* kv() { return reinterpret_cast<Value*>(this + 1); }
};

inline void trace_array(Obj* self, Tracer& t) {
  auto* m = static_cast<ArrayMap*>(self);
  for (uint32_t i = 0; i < 2 * m->aux; i++) {
    t.mark(m->kv()[i]);
  }
}

inline void trace_node(Obj* self, Tracer& t) {
  auto* n = static_cast<Node*>(self);
  uint32_t dl = n->data_len();
  for (uint32_t i = 0; i < 2 * dl; i++) {
    t.mark(n->kv()[i]);
  }
  uint32_t nl = n->node_len();
  for (uint32_t i = 0; i < nl; i++) {
    t.mark(n->kids()[i]);
  }
}

inline void trace_collision(Obj* self, Tracer& t) {
  auto* c = static_cast<Collision*>(self);
  for (uint32_t i = 0; i < 2 * c->aux; i++) {
    t.mark(c->kv()[i]);
  }
}

inline const ObjClass kArrayMapClass = {"array-map", trace_array, nullptr};
inline const ObjClass kArraySetClass = {"array-set", trace_array, nullptr};
inline const ObjClass kHashMapClass = {"hash-map", trace_node, nullptr};
inline const ObjClass kHashSetClass = {"hash-set", trace_node, nullptr};
inline const ObjClass kNodeClass = {"hamt-node", trace_node, nullptr};
inline const ObjClass kCollisionClass = {"hamt-collision", trace_collision, nullptr};

// Which top-level objects an operation builds: maps or sets.
struct Kind {
  Tag tag;
  const ObjClass* array_cls;
  const ObjClass* hash_cls;
};
inline const Kind kMapKind = {Tag::Map, &kArrayMapClass, &kHashMapClass};
inline const Kind kSetKind = {Tag::Set, &kArraySetClass, &kHashSetClass};

// How to allocate a trie node: as a root object or an inner node.
struct Shape {
  Tag tag;
  const ObjClass* cls;
};
inline const Shape kInner = {Tag::Internal, &kNodeClass};

// Only strings, doubles and collections can be equal without being
// identical; symbols, keywords, ints, booleans and nil only by identity.
inline bool equal_only_if_identical(Value v) {
  switch (v.tag) {
    case Tag::String:
    case Tag::Double:
    case Tag::List:
    case Tag::Vector:
    case Tag::Map:
    case Tag::Set:
      return false;
    default:
      return true;
  }
}

inline bool keys_equal(Value a, Value b) {
  if (identical(a, b)) {
    return true;
  }
  // String keys (headers, JSON objects) mostly differ in length: told
  // apart here without the call.
  if (a.tag == Tag::String && b.tag == Tag::String &&
      static_cast<const String*>(a.o)->size != static_cast<const String*>(b.o)->size) {
    return false;
  }
  return !equal_only_if_identical(a) && equal(a, b);
}

inline uint32_t bit_at(uint32_t h, uint32_t shift) {
  return 1u << ((h >> shift) & kMask);
}

inline uint32_t index_of(uint32_t bitmap, uint32_t bit) {
  return std::popcount(bitmap & (bit - 1));
}

inline ArrayMap* new_array(Heap& heap, const Kind& kind, uint32_t n) {
  ArrayMap* m = heap.make_class<ArrayMap>(kind.tag, kind.array_cls, 2 * n * sizeof(Value));
  m->aux = n;
  return m;
}

inline Node* new_node(Heap& heap, const Shape& shape, uint32_t datamap, uint32_t nodemap) {
  size_t extra = 2 * std::popcount(datamap) * sizeof(Value) + std::popcount(nodemap) * sizeof(Obj*);
  Node* n = heap.make_class<Node>(shape.tag, shape.cls, extra);
  n->datamap = datamap;
  n->nodemap = nodemap;
  n->count = 0;
  return n;
}

inline Collision* new_collision(Heap& heap, uint32_t hash, uint32_t n) {
  Collision* c = heap.make_class<Collision>(Tag::Internal, &kCollisionClass, 2 * n * sizeof(Value));
  c->hash = hash;
  c->aux = n;
  return c;
}

inline bool is_array(Value m) {
  const ObjClass* cls = static_cast<ClassObj*>(m.o)->cls;
  return cls == &kArrayMapClass || cls == &kArraySetClass;
}

inline bool is_collision(const Obj* o) {
  return static_cast<const ClassObj*>(o)->cls == &kCollisionClass;
}

// ---------------------------------------------------------------------------
// Trie operations (map_trie.cc). `shift` is the level's first hash bit;
// a node made at this level is allocated with `shape` (a root or kInner).

// Finds `key` (with hash h) under `o`, a Node or a Collision.
bool trie_find(const Obj* o, Value key, uint32_t h, Value* out);
// A node holding two entries with different keys, at level `shift`.
Obj* merge(Heap& heap, Value k0, Value v0, uint32_t h0, Value k1, Value v1, uint32_t h1,
           uint32_t shift);
// Copies `n` into a node of `shape` with the same bitmaps.
Node* copy_node(Heap& heap, Node* n, const Shape& shape);
// Returns `o` with key set to value (o itself when nothing changes);
// *added tells whether the key is new.
Obj* trie_assoc(Heap& heap, Obj* o, const Shape& shape, Value key, Value value, uint32_t h,
                uint32_t shift, bool* added);
// The single entry of `o` if it holds exactly one, for inlining.
bool single_entry(Obj* o, Value** entry);
// Returns `o` without key (o itself if key is absent). May return a node
// with no entries or a single one; the parent inlines or drops it.
Obj* trie_dissoc(Heap& heap, Obj* o, const Shape& shape, Value key, uint32_t h, uint32_t shift,
                 bool* removed);
// Calls f on every entry under `o`; false when f stopped early.
bool trie_each(Obj* o, const std::function<bool(Value, Value)>& f);

}  // namespace valk::lisp::champ
