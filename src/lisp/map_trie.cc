// Finding, adding and removing one key in a CHAMP trie below a map's root
// (see map.cc for the design and map_trie.h for the layouts).
#include "lisp/map_trie.h"

#include <cstring>

namespace valk::lisp::champ {

bool trie_find(const Obj* o, Value key, uint32_t h, Value* out) {
  uint32_t shift = 0;
  for (;;) {
    if (is_collision(o)) {
      auto* c = const_cast<Collision*>(static_cast<const Collision*>(o));
      if (c->hash != h) {
        return false;
      }
      for (uint32_t i = 0; i < c->aux; i++) {
        if (keys_equal(c->kv()[2 * i], key)) {
          *out = c->kv()[2 * i + 1];
          return true;
        }
      }
      return false;
    }
    auto* n = const_cast<Node*>(static_cast<const Node*>(o));
    uint32_t bit = bit_at(h, shift);
    if (n->datamap & bit) {
      Value* e = n->kv() + 2 * index_of(n->datamap, bit);
      if (keys_equal(e[0], key)) {
        *out = e[1];
        return true;
      }
      return false;
    }
    if (!(n->nodemap & bit)) {
      return false;
    }
    o = n->kids()[index_of(n->nodemap, bit)];
    shift += kBits;
  }
}

Obj* merge(Heap& heap, Value k0, Value v0, uint32_t h0, Value k1, Value v1, uint32_t h1,
           uint32_t shift) {
  if (h0 == h1) {
    Collision* c = new_collision(heap, h0, 2);
    Value* kv = c->kv();
    kv[0] = k0;
    kv[1] = v0;
    kv[2] = k1;
    kv[3] = v1;
    return c;
  }
  uint32_t b0 = bit_at(h0, shift);
  uint32_t b1 = bit_at(h1, shift);
  if (b0 == b1) {
    Node* n = new_node(heap, kInner, 0, b0);
    n->kids()[0] = merge(heap, k0, v0, h0, k1, v1, h1, shift + kBits);
    return n;
  }
  Node* n = new_node(heap, kInner, b0 | b1, 0);
  Value* kv = n->kv();
  if (b0 < b1) {
    kv[0] = k0, kv[1] = v0, kv[2] = k1, kv[3] = v1;
  } else {
    kv[0] = k1, kv[1] = v1, kv[2] = k0, kv[3] = v0;
  }
  return n;
}

Node* copy_node(Heap& heap, Node* n, const Shape& shape) {
  Node* r = new_node(heap, shape, n->datamap, n->nodemap);
  memcpy(r->kv(), n->kv(), 2 * n->data_len() * sizeof(Value) + n->node_len() * sizeof(Obj*));
  r->count = n->count;
  return r;
}

namespace {

// Assoc into a collision node.
Obj* collision_assoc(Heap& heap, Collision* c, Value key, Value value, uint32_t h, uint32_t shift,
                     bool* added) {
  if (c->hash != h) {
    // A different hash reaches this collision node: nest it under a node
    // of this level and insert there.
    Node* n = new_node(heap, kInner, 0, bit_at(c->hash, shift));
    n->kids()[0] = c;
    return trie_assoc(heap, n, kInner, key, value, h, shift, added);
  }
  uint32_t len = c->aux;
  for (uint32_t i = 0; i < len; i++) {
    if (keys_equal(c->kv()[2 * i], key)) {
      if (identical(c->kv()[2 * i + 1], value)) {
        return c;
      }
      Collision* r = new_collision(heap, h, len);
      memcpy(r->kv(), c->kv(), 2 * len * sizeof(Value));
      r->kv()[2 * i + 1] = value;
      return r;
    }
  }
  Collision* r = new_collision(heap, h, len + 1);
  memcpy(r->kv(), c->kv(), 2 * len * sizeof(Value));
  r->kv()[2 * len] = key;
  r->kv()[2 * len + 1] = value;
  *added = true;
  return r;
}

}  // namespace

Obj* trie_assoc(Heap& heap, Obj* o, const Shape& shape, Value key, Value value, uint32_t h,
                uint32_t shift, bool* added) {
  if (is_collision(o)) {
    return collision_assoc(heap, static_cast<Collision*>(o), key, value, h, shift, added);
  }
  auto* n = static_cast<Node*>(o);
  uint32_t bit = bit_at(h, shift);
  if (n->datamap & bit) {
    uint32_t i = index_of(n->datamap, bit);
    Value k0 = n->kv()[2 * i];
    Value v0 = n->kv()[2 * i + 1];
    if (keys_equal(k0, key)) {
      if (identical(v0, value)) {
        return n;
      }
      Node* r = copy_node(heap, n, shape);
      r->kv()[2 * i + 1] = value;
      return r;
    }
    // Two keys at the same slot: move the entry down into a new child.
    Obj* child = merge(heap, k0, v0, hash32(k0), key, value, h, shift + kBits);
    Node* r = new_node(heap, shape, n->datamap ^ bit, n->nodemap | bit);
    uint32_t dl = n->data_len();
    uint32_t j = index_of(n->nodemap, bit);
    Value* src = n->kv();
    Value* dst = r->kv();
    memcpy(dst, src, 2 * i * sizeof(Value));
    memcpy(dst + 2 * i, src + 2 * (i + 1), 2 * (dl - i - 1) * sizeof(Value));
    Obj** sk = n->kids();
    Obj** dk = r->kids();
    memcpy(dk, sk, j * sizeof(Obj*));
    dk[j] = child;
    memcpy(dk + j + 1, sk + j, (n->node_len() - j) * sizeof(Obj*));
    *added = true;
    return r;
  }
  if (n->nodemap & bit) {
    uint32_t j = index_of(n->nodemap, bit);
    Obj* child = n->kids()[j];
    Obj* nc = trie_assoc(heap, child, kInner, key, value, h, shift + kBits, added);
    if (nc == child) {
      return n;
    }
    Node* r = copy_node(heap, n, shape);
    r->kids()[j] = nc;
    return r;
  }
  // A free slot: insert the entry inline.
  uint32_t i = index_of(n->datamap, bit);
  uint32_t dl = n->data_len();
  Node* r = new_node(heap, shape, n->datamap | bit, n->nodemap);
  Value* src = n->kv();
  Value* dst = r->kv();
  memcpy(dst, src, 2 * i * sizeof(Value));
  dst[2 * i] = key;
  dst[2 * i + 1] = value;
  memcpy(dst + 2 * (i + 1), src + 2 * i, 2 * (dl - i) * sizeof(Value));
  memcpy(r->kids(), n->kids(), n->node_len() * sizeof(Obj*));
  *added = true;
  return r;
}

bool single_entry(Obj* o, Value** entry) {
  if (is_collision(o)) {
    auto* c = static_cast<Collision*>(o);
    if (c->aux == 1) {
      *entry = c->kv();
      return true;
    }
    return false;
  }
  auto* n = static_cast<Node*>(o);
  if (n->nodemap == 0 && std::popcount(n->datamap) == 1) {
    *entry = n->kv();
    return true;
  }
  return false;
}

Obj* trie_dissoc(Heap& heap, Obj* o, const Shape& shape, Value key, uint32_t h, uint32_t shift,
                 bool* removed) {
  if (is_collision(o)) {
    auto* c = static_cast<Collision*>(o);
    if (c->hash != h) {
      return c;
    }
    uint32_t len = c->aux;
    for (uint32_t i = 0; i < len; i++) {
      if (keys_equal(c->kv()[2 * i], key)) {
        Collision* r = new_collision(heap, h, len - 1);
        memcpy(r->kv(), c->kv(), 2 * i * sizeof(Value));
        memcpy(r->kv() + 2 * i, c->kv() + 2 * (i + 1), 2 * (len - i - 1) * sizeof(Value));
        *removed = true;
        return r;
      }
    }
    return c;
  }
  auto* n = static_cast<Node*>(o);
  uint32_t bit = bit_at(h, shift);
  if (n->datamap & bit) {
    uint32_t i = index_of(n->datamap, bit);
    if (!keys_equal(n->kv()[2 * i], key)) {
      return n;
    }
    uint32_t dl = n->data_len();
    Node* r = new_node(heap, shape, n->datamap ^ bit, n->nodemap);
    memcpy(r->kv(), n->kv(), 2 * i * sizeof(Value));
    memcpy(r->kv() + 2 * i, n->kv() + 2 * (i + 1), 2 * (dl - i - 1) * sizeof(Value));
    memcpy(r->kids(), n->kids(), n->node_len() * sizeof(Obj*));
    *removed = true;
    return r;
  }
  if (!(n->nodemap & bit)) {
    return n;
  }
  uint32_t j = index_of(n->nodemap, bit);
  Obj* child = n->kids()[j];
  Obj* nc = trie_dissoc(heap, child, kInner, key, h, shift + kBits, removed);
  if (nc == child) {
    return n;
  }
  Value* entry;
  if (single_entry(nc, &entry)) {
    // Inline the child's last entry here, where its hash bits put it.
    uint32_t i = index_of(n->datamap, bit);
    uint32_t dl = n->data_len();
    uint32_t nl = n->node_len();
    Node* r = new_node(heap, shape, n->datamap | bit, n->nodemap ^ bit);
    Value* src = n->kv();
    Value* dst = r->kv();
    memcpy(dst, src, 2 * i * sizeof(Value));
    dst[2 * i] = entry[0];
    dst[2 * i + 1] = entry[1];
    memcpy(dst + 2 * (i + 1), src + 2 * i, 2 * (dl - i) * sizeof(Value));
    memcpy(r->kids(), n->kids(), j * sizeof(Obj*));
    memcpy(r->kids() + j, n->kids() + j + 1, (nl - j - 1) * sizeof(Obj*));
    return r;
  }
  Node* r = copy_node(heap, n, shape);
  r->kids()[j] = nc;
  return r;
}

bool trie_each(Obj* o, const std::function<bool(Value, Value)>& f) {
  if (is_collision(o)) {
    auto* c = static_cast<Collision*>(o);
    for (uint32_t i = 0; i < c->aux; i++) {
      if (!f(c->kv()[2 * i], c->kv()[2 * i + 1])) {
        return false;
      }
    }
    return true;
  }
  auto* n = static_cast<Node*>(o);
  uint32_t dl = n->data_len();
  for (uint32_t i = 0; i < dl; i++) {
    if (!f(n->kv()[2 * i], n->kv()[2 * i + 1])) {
      return false;
    }
  }
  uint32_t nl = n->node_len();
  for (uint32_t i = 0; i < nl; i++) {
    if (!trie_each(n->kids()[i], f)) {
      return false;
    }
  }
  return true;
}

}  // namespace valk::lisp::champ
