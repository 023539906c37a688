// Persistent maps and sets.
//
// Up to 8 entries a map is an array map: its entries inline in one object,
// in insertion order, so an assoc is one allocation and a lookup a short
// scan. Past 8 entries it becomes a CHAMP trie (a compressed hash array
// mapped trie, Steindorfer & Vinju 2015): each node keeps two bitmaps, one
// for entries stored inline and one for child nodes, and both arrays are
// stored inside the node object, so a node is one allocation. The root of a
// hash map *is* the map object (with tag Map or Set and the entry count),
// which saves an allocation per update.
//
// A set shares all of this: it is a map from each element to itself, so
// `get` on a set returns the element stored.
//
// Hashes are folded to 32 bits, 5 bits a level (7 levels). Keys whose
// 32-bit hashes are equal share a collision node, which may sit at any
// level. The trie is kept canonical: a child left with a single entry is
// inlined into its parent.
#include <algorithm>
#include <bit>
#include <cstring>
#include <vector>

#include "lisp/collections.h"
#include "lisp/collections_internal.h"
#include "lisp/map_trie.h"

namespace valk::lisp {

namespace {

using namespace champ;

// ---------------------------------------------------------------------------
// Generic map/set operations on the top-level objects

size_t generic_count(Value m) {
  if (is_array(m)) {
    return static_cast<ArrayMap*>(m.o)->aux;
  }
  return static_cast<Node*>(m.o)->count;
}

// The lookups that may call equal() or hash, kept out of line so that the
// usual case of generic_find, a keyword in an array map, is a leaf that
// saves no registers.
[[gnu::noinline]] bool hash_find(Value m, Value key, Value* out) {
  return trie_find(m.o, key, hash32(key), out);
}

[[gnu::noinline]] bool array_find_equal(const ArrayMap* a, Value key, Value* out) {
  const Value* kv = const_cast<ArrayMap*>(a)->kv();
  for (const Value* end = kv + 2 * a->aux; kv != end; kv += 2) {
    if (keys_equal(kv[0], key)) {
      *out = kv[1];
      return true;
    }
  }
  return false;
}

bool generic_find(Value m, Value key, Value* out) {
  if (!is_array(m)) {
    return hash_find(m, key, out);
  }
  auto* a = static_cast<ArrayMap*>(m.o);
  if (!equal_only_if_identical(key)) {
    return array_find_equal(a, key, out);
  }
  // Keyword keys, the usual case, need no more than a compare per entry:
  // the payload words first, the tags only when those match.
  const Value* kv = a->kv();
  for (const Value* end = kv + 2 * a->aux; kv != end; kv += 2) {
    if (kv->i == key.i && kv->tag == key.tag) {
      *out = kv[1];
      return true;
    }
  }
  return false;
}

Value hash_assoc(Heap& heap, const Kind& kind, Node* root, Value key, Value value) {
  bool added = false;
  Shape shape = {kind.tag, kind.hash_cls};
  Obj* r = trie_assoc(heap, root, shape, key, value, hash32(key), 0, &added);
  if (r == root) {
    return val(root);
  }
  auto* nr = static_cast<Node*>(r);
  nr->count = root->count + (added ? 1 : 0);
  return val(nr);
}

// What root_assoc_pairs makes of one slot of the root: an entry inline
// (pointers to its key and value), or a child node. Plain pointers, so that
// an array of them is not initialized.
struct RootSlot {
  uint32_t bit;
  const Value* key;
  const Value* value;
  Obj* child;  // null for an entry inline
};

constexpr size_t kRootPairsMax = 8;

// Sets n pairs (n <= kRootPairsMax) in the hash map `root` with one new
// root object: each pair changes only the slot its hash picks at the
// root, so when no two pairs pick the same slot, the new root is the old
// one's slots with those replaced. Returns false, having allocated
// nothing, when two do (a repeated key among them, or a clash); then the
// pairs must be set one at a time.
bool root_assoc_pairs(Heap& heap, Node* root, const Value* kvs, size_t n, Value* out) {
  uint32_t hashes[kRootPairsMax];
  uint32_t touched = 0;
  for (size_t i = 0; i < n; i++) {
    hashes[i] = hash32(kvs[2 * i]);
    uint32_t bit = bit_at(hashes[i], 0);
    if (touched & bit) {
      return false;
    }
    touched |= bit;
  }
  RootSlot slots[kRootPairsMax];
  uint32_t datamap = root->datamap & ~touched;
  uint32_t nodemap = root->nodemap & ~touched;
  uint64_t added = 0;
  for (size_t i = 0; i < n; i++) {
    Value key = kvs[2 * i];
    Value value = kvs[2 * i + 1];
    RootSlot& s = slots[i];
    s = {bit_at(hashes[i], 0), &kvs[2 * i], &kvs[2 * i + 1], nullptr};
    if (root->datamap & s.bit) {
      const Value* e = root->kv() + 2 * index_of(root->datamap, s.bit);
      if (keys_equal(e[0], key)) {
        s.key = e;  // the map keeps the key it has, as trie_assoc does
      } else {
        s.child = merge(heap, e[0], e[1], hash32(e[0]), key, value, hashes[i], kBits);
        added++;
      }
    } else if (root->nodemap & s.bit) {
      bool child_added = false;
      Obj* child = root->kids()[index_of(root->nodemap, s.bit)];
      s.child = trie_assoc(heap, child, kInner, key, value, hashes[i], kBits, &child_added);
      added += child_added ? 1 : 0;
    } else {
      added++;
    }
    (s.child == nullptr ? datamap : nodemap) |= s.bit;
  }
  // The old root's entries and children, with the touched slots' taken
  // out and the new ones put in, in bit order: runs of plain copies
  // between the touched slots.
  std::sort(slots, slots + n, [](const RootSlot& a, const RootSlot& b) { return a.bit < b.bit; });
  Node* r = new_node(heap, {Tag::Map, &kHashMapClass}, datamap, nodemap);
  const Value* src = root->kv();
  Obj* const* src_kids = root->kids();
  Value* dst = r->kv();
  Obj** dst_kids = r->kids();
  uint32_t entries_done = 0, kids_done = 0;  // the old root's, copied or replaced
  for (size_t i = 0; i < n; i++) {
    const RootSlot& s = slots[i];
    uint32_t entries_below = index_of(root->datamap, s.bit);
    memcpy(dst, src + 2 * entries_done, 2 * (entries_below - entries_done) * sizeof(Value));
    dst += 2 * (entries_below - entries_done);
    entries_done = entries_below + ((root->datamap & s.bit) ? 1 : 0);
    uint32_t kids_below = index_of(root->nodemap, s.bit);
    memcpy(dst_kids, src_kids + kids_done, (kids_below - kids_done) * sizeof(Obj*));
    dst_kids += kids_below - kids_done;
    kids_done = kids_below + ((root->nodemap & s.bit) ? 1 : 0);
    if (s.child == nullptr) {
      dst[0] = *s.key;
      dst[1] = *s.value;
      dst += 2;
    } else {
      *dst_kids++ = s.child;
    }
  }
  memcpy(dst, src + 2 * entries_done, 2 * (root->data_len() - entries_done) * sizeof(Value));
  memcpy(dst_kids, src_kids + kids_done, (root->node_len() - kids_done) * sizeof(Obj*));
  r->count = root->count + added;
  *out = val(r);
  return true;
}

Value generic_assoc(Heap& heap, const Kind& kind, Value m, Value key, Value value) {
  if (!is_array(m)) {
    return hash_assoc(heap, kind, static_cast<Node*>(m.o), key, value);
  }
  auto* a = static_cast<ArrayMap*>(m.o);
  uint32_t len = a->aux;
  Value* kv = a->kv();
  for (uint32_t i = 0; i < len; i++) {
    if (keys_equal(kv[2 * i], key)) {
      if (identical(kv[2 * i + 1], value)) {
        return m;
      }
      ArrayMap* r = new_array(heap, kind, len);
      memcpy(r->kv(), kv, 2 * len * sizeof(Value));
      r->kv()[2 * i + 1] = value;
      return val(r);
    }
  }
  if (len < kArrayMax) {
    ArrayMap* r = new_array(heap, kind, len + 1);
    memcpy(r->kv(), kv, 2 * len * sizeof(Value));
    r->kv()[2 * len] = key;
    r->kv()[2 * len + 1] = value;
    return val(r);
  }
  // Promote to a trie.
  Value h = val(new_node(heap, {kind.tag, kind.hash_cls}, 0, 0));
  for (uint32_t i = 0; i < len; i++) {
    h = hash_assoc(heap, kind, static_cast<Node*>(h.o), kv[2 * i], kv[2 * i + 1]);
  }
  return hash_assoc(heap, kind, static_cast<Node*>(h.o), key, value);
}

Value generic_dissoc(Heap& heap, const Kind& kind, Value m, Value key) {
  if (is_array(m)) {
    auto* a = static_cast<ArrayMap*>(m.o);
    uint32_t len = a->aux;
    Value* kv = a->kv();
    for (uint32_t i = 0; i < len; i++) {
      if (keys_equal(kv[2 * i], key)) {
        ArrayMap* r = new_array(heap, kind, len - 1);
        memcpy(r->kv(), kv, 2 * i * sizeof(Value));
        memcpy(r->kv() + 2 * i, kv + 2 * (i + 1), 2 * (len - i - 1) * sizeof(Value));
        return val(r);
      }
    }
    return m;
  }
  auto* root = static_cast<Node*>(m.o);
  bool removed = false;
  Obj* r = trie_dissoc(heap, root, {kind.tag, kind.hash_cls}, key, hash32(key), 0, &removed);
  if (!removed) {
    return m;
  }
  auto* nr = static_cast<Node*>(r);
  nr->count = root->count - 1;
  return val(nr);
}

void generic_each(Value m, const std::function<bool(Value, Value)>& f) {
  if (is_array(m)) {
    auto* a = static_cast<ArrayMap*>(m.o);
    for (uint32_t i = 0; i < a->aux; i++) {
      if (!f(a->kv()[2 * i], a->kv()[2 * i + 1])) {
        return;
      }
    }
    return;
  }
  trie_each(m.o, f);
}

// ---------------------------------------------------------------------------
// Bulk construction
//
// Building a large map by repeated assoc copies a path per entry and leaves
// that garbage to the collector. Instead, entries are sorted into trie order
// and each node is built once, at its exact size.

// Past an array map's size, sorting wins: repeated assoc would copy the
// array once per item up to kArrayMax, then a trie path per item.
constexpr size_t kBulkMin = kArrayMax + 1;
// Entries of a bulk build up to this many live on the stack (request maps,
// JSON objects), so the build allocates only the nodes.
constexpr size_t kBulkInline = 32;

struct BuildEntry {
  Value key;
  Value value;
  uint64_t sort_key;  // trie_order(hash)
  uint32_t hash;
  uint32_t order;  // position in the input
};

// A sort key that orders hashes by their level-0 chunk, then level 1, ...:
// the 5-bit groups reversed, so each node's entries are contiguous.
uint64_t trie_order(uint32_t h) {
  uint64_t key = 0;
  for (uint32_t shift = 0; shift < 32; shift += kBits) {
    key = (key << kBits) | ((h >> shift) & kMask);
  }
  return key;
}

// Builds the node for entries [b, e), which agree on the hash bits below
// `shift` and have distinct keys.
Node* build_node(Heap& heap, const Shape& shape, const BuildEntry* b, const BuildEntry* e,
                 uint32_t shift) {
  uint32_t datamap = 0, nodemap = 0;
  for (const BuildEntry* g = b; g != e;) {
    uint32_t bit = bit_at(g->hash, shift);
    const BuildEntry* end = g + 1;
    while (end != e && bit_at(end->hash, shift) == bit) {
      end++;
    }
    (end - g == 1 ? datamap : nodemap) |= bit;
    g = end;
  }
  Node* n = new_node(heap, shape, datamap, nodemap);
  Value* kv = n->kv();
  Obj** kids = n->kids();
  for (const BuildEntry* g = b; g != e;) {
    uint32_t bit = bit_at(g->hash, shift);
    const BuildEntry* end = g + 1;
    bool same_hash = true;
    while (end != e && bit_at(end->hash, shift) == bit) {
      same_hash = same_hash && end->hash == g->hash;
      end++;
    }
    if (end - g == 1) {
      *kv++ = g->key;
      *kv++ = g->value;
    } else if (same_hash) {
      Collision* c = new_collision(heap, g->hash, static_cast<uint32_t>(end - g));
      Value* ckv = c->kv();
      for (const BuildEntry* x = g; x != end; x++) {
        *ckv++ = x->key;
        *ckv++ = x->value;
      }
      *kids++ = c;
    } else {
      *kids++ = build_node(heap, kInner, g, end, shift + kBits);
    }
    g = end;
  }
  return n;
}

Value bulk_from(Heap& heap, const Kind& kind, const Value* items, size_t n, size_t stride) {
  BuildEntry inline_entries[kBulkInline];
  std::vector<BuildEntry> heap_entries;
  BuildEntry* entries = inline_entries;
  if (n > kBulkInline) {
    heap_entries.resize(n);
    entries = heap_entries.data();
  }
  for (size_t i = 0; i < n; i++) {
    const Value* x = items + i * stride;
    uint32_t h = hash32(x[0]);
    entries[i] = {x[0], x[stride - 1], trie_order(h), h, static_cast<uint32_t>(i)};
  }
  // Input order breaks ties, so equal keys stay in input order.
  std::sort(entries, entries + n, [](const BuildEntry& a, const BuildEntry& b) {
    return a.sort_key < b.sort_key || (a.sort_key == b.sort_key && a.order < b.order);
  });
  // Merge equal keys (adjacent runs of one hash): the first key stays, the
  // last value wins, as with repeated assoc. A set keeps its first element.
  size_t out = 0;
  for (size_t i = 0; i < n;) {
    size_t run_end = i + 1;
    while (run_end < n && entries[run_end].hash == entries[i].hash) {
      run_end++;
    }
    size_t run_start = out;
    for (size_t j = i; j < run_end; j++) {
      size_t k = run_start;
      while (k < out && !keys_equal(entries[k].key, entries[j].key)) {
        k++;
      }
      if (k == out) {
        entries[out++] = entries[j];
      } else if (stride == 2) {
        entries[k].value = entries[j].value;
      }
    }
    i = run_end;
  }
  if (out <= kArrayMax) {
    std::sort(entries, entries + out,
              [](const BuildEntry& a, const BuildEntry& b) { return a.order < b.order; });
    ArrayMap* a = new_array(heap, kind, static_cast<uint32_t>(out));
    for (size_t i = 0; i < out; i++) {
      a->kv()[2 * i] = entries[i].key;
      a->kv()[2 * i + 1] = entries[i].value;
    }
    return val(a);
  }
  Node* root = build_node(heap, {kind.tag, kind.hash_cls}, entries, entries + out, 0);
  root->count = out;
  return val(root);
}

// Builds from key/value pairs (stride 2) or from elements used as both
// key and value (stride 1). Later keys win.
Value generic_from(Heap& heap, const Kind& kind, const Value* items, size_t n, size_t stride) {
  if (n >= kBulkMin) {
    return bulk_from(heap, kind, items, n, stride);
  }
  // A small collection is built in one allocation: an update per item would
  // copy the array once per item (JSON objects and literals are mostly
  // small).
  if (n <= kArrayMax) {
    ArrayMap* a = new_array(heap, kind, static_cast<uint32_t>(n));
    Value* kv = a->kv();
    uint32_t len = 0;
    for (size_t i = 0; i < n; i++) {
      const Value* e = items + i * stride;
      uint32_t j = 0;
      while (j < len && !keys_equal(kv[2 * j], e[0])) {
        j++;
      }
      if (j == len) {
        kv[2 * len] = e[0];
        kv[2 * len + 1] = e[stride - 1];
        len++;
      } else if (stride == 2) {
        kv[2 * j + 1] = e[1];  // a later key wins; a set keeps the element it has
      }
    }
    a->aux = len;
    return val(a);
  }
  Value m = val(new_array(heap, kind, 0));
  for (size_t i = 0; i < n; i++) {
    const Value* e = items + i * stride;
    Value ignored;
    if (stride == 1 && generic_find(m, e[0], &ignored)) {
      continue;  // a set keeps the element it has
    }
    m = generic_assoc(heap, kind, m, e[0], e[stride - 1]);
  }
  return m;
}

const Kind& kind_of(EntryKind k) {
  return k == EntryKind::Map ? kMapKind : kSetKind;
}

}  // namespace

Value entries_from(Heap& heap, EntryKind kind, const Value* items, size_t n, size_t stride) {
  return generic_from(heap, kind_of(kind), items, n, stride);
}
size_t entries_count(Value m) {
  return generic_count(m);
}
bool entries_find(Value m, Value key, Value* out) {
  return generic_find(m, key, out);
}
Value entries_assoc(Heap& heap, EntryKind kind, Value m, Value key, Value value) {
  return generic_assoc(heap, kind_of(kind), m, key, value);
}
Value entries_dissoc(Heap& heap, EntryKind kind, Value m, Value key) {
  return generic_dissoc(heap, kind_of(kind), m, key);
}
void entries_each(Value m, const std::function<bool(Value, Value)>& f) {
  generic_each(m, f);
}

uint32_t hash32(Value v) {
  // Symbols and keywords are interned and never change: their folded hash
  // is kept in the object's spare field (0: not computed yet), so a lookup
  // by keyword does not hash its name again.
  bool named = v.tag == Tag::Keyword || v.tag == Tag::Symbol;
  if (named && v.o->aux != 0) {
    return v.o->aux;
  }
  uint64_t h = hash(v);
  auto folded = static_cast<uint32_t>(h ^ (h >> 32));
  if (named) {
    v.o->aux = folded;
  }
  return folded;
}

bool map_is_array(Value map_or_set) {
  return is_array(map_or_set);
}

// ---- maps -------------------------------------------------------------------

Value map_from(Heap& heap, const Value* kvs, size_t num_pairs) {
  return generic_from(heap, kMapKind, kvs, num_pairs, 2);
}

size_t map_count(Value map) {
  return generic_count(map);
}

bool map_find(Value map, Value key, Value* out) {
  return generic_find(map, key, out);
}

Value map_assoc(Heap& heap, Value map, Value key, Value value) {
  return generic_assoc(heap, kMapKind, map, key, value);
}

Value map_assoc_pairs(Heap& heap, Value map, const Value* kvs, size_t n) {
  if (n >= 2 && n <= kRootPairsMax && !is_array(map)) {
    Value out;
    if (root_assoc_pairs(heap, static_cast<Node*>(map.o), kvs, n, &out)) {
      return out;
    }
  }
  for (size_t i = 0; i < n; i++) {
    map = generic_assoc(heap, kMapKind, map, kvs[2 * i], kvs[2 * i + 1]);
  }
  return map;
}

Value map_dissoc(Heap& heap, Value map, Value key) {
  return generic_dissoc(heap, kMapKind, map, key);
}

void map_each(Value map, const std::function<bool(Value key, Value value)>& f) {
  generic_each(map, f);
}

// ---- the objects of a map, for map templates ------------------------------------

namespace {

bool is_trie_node(const Obj* o) {
  const ObjClass* cls = static_cast<const ClassObj*>(o)->cls;
  return cls == &kHashMapClass || cls == &kNodeClass;
}

}  // namespace

Value map_with_values(Heap& heap, Value proto, const Value* values) {
  static_assert(kMapProtoMax <= kArrayMax, "map_from makes an array map of a prototype");
  auto* p = static_cast<ArrayMap*>(proto.o);
  uint32_t n = p->aux;
  ArrayMap* a = new_array(heap, kMapKind, n);
  for (uint32_t i = 0; i < n; i++) {
    a->kv()[2 * i] = p->kv()[2 * i];
    a->kv()[2 * i + 1] = values[i];
  }
  return val(a);
}

Value* map_object_entries(Obj* o, uint32_t* n) {
  if (is_trie_node(o)) {
    *n = static_cast<Node*>(o)->data_len();
    return static_cast<Node*>(o)->kv();
  }
  *n = o->aux;
  return is_collision(o) ? static_cast<Collision*>(o)->kv() : static_cast<ArrayMap*>(o)->kv();
}

void map_each_object(Obj* o, const std::function<void(Obj*)>& f) {
  f(o);
  if (is_trie_node(o)) {
    auto* n = static_cast<Node*>(o);
    for (uint32_t i = 0; i < n->node_len(); i++) {
      map_each_object(n->kids()[i], f);
    }
  }
}

Obj* map_clone_objects(Heap& heap, Obj* o, Obj** out, uint32_t* count) {
  uint32_t n;
  Value* from = map_object_entries(o, &n);
  Obj* copy;
  if (is_trie_node(o)) {
    auto* src = static_cast<Node*>(o);
    Node* dst = new_node(heap, {o->type, src->cls}, src->datamap, src->nodemap);
    dst->count = src->count;
    copy = dst;
  } else if (is_collision(o)) {
    copy = new_collision(heap, static_cast<Collision*>(o)->hash, n);
  } else {
    copy = new_array(heap, kMapKind, n);
  }
  uint32_t same;
  memcpy(map_object_entries(copy, &same), from, 2 * n * sizeof(Value));
  out[(*count)++] = copy;
  if (is_trie_node(o)) {
    auto* src = static_cast<Node*>(o);
    for (uint32_t i = 0; i < src->node_len(); i++) {
      static_cast<Node*>(copy)->kids()[i] = map_clone_objects(heap, src->kids()[i], out, count);
    }
  }
  return copy;
}

}  // namespace valk::lisp
