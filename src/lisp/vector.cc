// Persistent vectors: Clojure's 32-way trie with a tail.
//
// The last 1..32 elements live in the tail, stored inline in the Vector
// object itself, so an append below a full tail is a single allocation.
// The other elements live in full 32-element leaves under a trie of
// branches; `shift` is 5 times the number of branch levels. The trie is
// always packed to the left: every leaf but the tail is full.
//
//   count <= 32:  root == nullptr, everything in the tail
//   otherwise:    elements [0, tailoff) in the trie, [tailoff, count) in the tail
//
// A null root stands for an empty branch, which saves an allocation for
// every small vector.
#include <cstring>

#include "lisp/collections.h"

namespace valk::lisp {

namespace {

constexpr uint32_t kBits = 5;
constexpr uint32_t kWidth = 1u << kBits;
constexpr uint32_t kMask = kWidth - 1;

// A trie node. Leaves hold 32 values; branches hold up to 32 children,
// filled from the left (unused slots are null).
struct VecNode : ClassObj {
  union {
    Obj* kids[kWidth];
    Value items[kWidth];
  };
  VecNode() : kids{} {}
};

// aux holds the number of elements in the tail.
struct Vector : ClassObj {
  uint64_t count;
  uint32_t shift;
  VecNode* root;
  Value* tail() { return reinterpret_cast<Value*>(this + 1); }
};

void trace_leaf(Obj* self, Tracer& t) {
  auto* n = static_cast<VecNode*>(self);
  for (Value v : n->items) {
    t.mark(v);
  }
}

void trace_branch(Obj* self, Tracer& t) {
  auto* n = static_cast<VecNode*>(self);
  for (Obj* kid : n->kids) {
    t.mark(kid);
  }
}

void trace_vector(Obj* self, Tracer& t) {
  auto* v = static_cast<Vector*>(self);
  t.mark(v->root);
  for (uint32_t i = 0; i < v->aux; i++) {
    t.mark(v->tail()[i]);
  }
}

const ObjClass kLeafClass = {"vector-leaf", trace_leaf, nullptr};
const ObjClass kBranchClass = {"vector-branch", trace_branch, nullptr};
const ObjClass kVectorClass = {"vector", trace_vector, nullptr};

Vector* as_vec(Value v) {
  return static_cast<Vector*>(v.o);
}

uint64_t tail_off(uint64_t count) {
  return count < kWidth ? 0 : ((count - 1) >> kBits) << kBits;
}

Vector* new_vector(Heap& heap, uint64_t count, uint32_t shift, VecNode* root, uint32_t tail_len) {
  Vector* v = heap.make_class<Vector>(Tag::Vector, &kVectorClass, tail_len * sizeof(Value));
  v->count = count;
  v->shift = shift;
  v->root = root;
  v->aux = tail_len;
  return v;
}

VecNode* new_leaf(Heap& heap, const Value* items) {
  VecNode* n = heap.make_class<VecNode>(Tag::Internal, &kLeafClass);
  memcpy(n->items, items, sizeof(n->items));
  return n;
}

// A copy of branch `src`, or a new empty branch when src is null.
VecNode* copy_branch(Heap& heap, const VecNode* src) {
  VecNode* n = heap.make_class<VecNode>(Tag::Internal, &kBranchClass);
  if (src != nullptr) {
    memcpy(n->kids, src->kids, sizeof(n->kids));
  }
  return n;
}

// The leaf holding element i (i < tailoff).
const VecNode* leaf_for(const Vector* v, uint64_t i) {
  const VecNode* node = v->root;
  for (uint32_t level = v->shift; level > 0; level -= kBits) {
    node = static_cast<const VecNode*>(node->kids[(i >> level) & kMask]);
  }
  return node;
}

// A chain of single-child branches from `level` down to `node`.
VecNode* new_path(Heap& heap, uint32_t level, VecNode* node) {
  if (level == 0) {
    return node;
  }
  VecNode* n = copy_branch(heap, nullptr);
  n->kids[0] = new_path(heap, level - kBits, node);
  return n;
}

// Copies the path to the slot after the last leaf and puts `leaf` there.
// `count` is the element count before the tail was pushed.
VecNode* push_tail(Heap& heap, uint64_t count, uint32_t level, const VecNode* parent,
                   VecNode* leaf) {
  VecNode* ret = copy_branch(heap, parent);
  uint32_t sub = ((count - 1) >> level) & kMask;
  if (level == kBits) {
    ret->kids[sub] = leaf;
  } else {
    auto* child = parent != nullptr ? static_cast<const VecNode*>(parent->kids[sub]) : nullptr;
    ret->kids[sub] = child != nullptr ? push_tail(heap, count, level - kBits, child, leaf)
                                      : new_path(heap, level - kBits, leaf);
  }
  return ret;
}

VecNode* assoc_in_trie(Heap& heap, uint32_t level, const VecNode* node, uint64_t i, Value item) {
  if (level == 0) {
    VecNode* leaf = new_leaf(heap, node->items);
    leaf->items[i & kMask] = item;
    return leaf;
  }
  VecNode* ret = copy_branch(heap, node);
  uint32_t sub = (i >> level) & kMask;
  ret->kids[sub] =
      assoc_in_trie(heap, level - kBits, static_cast<const VecNode*>(node->kids[sub]), i, item);
  return ret;
}

// Removes the last leaf; returns null when the branch becomes empty.
// `count` is the element count before the pop.
VecNode* pop_tail(Heap& heap, uint64_t count, uint32_t level, const VecNode* node) {
  uint32_t sub = ((count - 2) >> level) & kMask;
  if (level > kBits) {
    VecNode* child =
        pop_tail(heap, count, level - kBits, static_cast<const VecNode*>(node->kids[sub]));
    if (child == nullptr && sub == 0) {
      return nullptr;
    }
    VecNode* ret = copy_branch(heap, node);
    ret->kids[sub] = child;
    return ret;
  }
  if (sub == 0) {
    return nullptr;
  }
  VecNode* ret = copy_branch(heap, node);
  ret->kids[sub] = nullptr;
  return ret;
}

}  // namespace

Value vector_from(Heap& heap, const Value* items, size_t n) {
  if (n <= kWidth) {
    Vector* v = new_vector(heap, n, kBits, nullptr, static_cast<uint32_t>(n));
    if (n > 0) {
      memcpy(v->tail(), items, n * sizeof(Value));
    }
    return val(v);
  }
  // Build the trie bottom-up: full leaves, then levels of branches of 32,
  // which gives the same left-packed shape as repeated conj.
  size_t tail_len = ((n - 1) & kMask) + 1;
  size_t trie_len = n - tail_len;
  std::vector<Obj*> level;
  level.reserve(trie_len / kWidth);
  for (size_t i = 0; i < trie_len; i += kWidth) {
    level.push_back(new_leaf(heap, items + i));
  }
  uint32_t shift = kBits;
  while (level.size() > kWidth) {
    std::vector<Obj*> up;
    up.reserve((level.size() + kMask) / kWidth);
    for (size_t i = 0; i < level.size(); i += kWidth) {
      VecNode* b = copy_branch(heap, nullptr);
      size_t m = std::min<size_t>(kWidth, level.size() - i);
      memcpy(b->kids, level.data() + i, m * sizeof(Obj*));
      up.push_back(b);
    }
    level = std::move(up);
    shift += kBits;
  }
  VecNode* root = copy_branch(heap, nullptr);
  memcpy(root->kids, level.data(), level.size() * sizeof(Obj*));
  Vector* v = new_vector(heap, n, shift, root, static_cast<uint32_t>(tail_len));
  memcpy(v->tail(), items + trie_len, tail_len * sizeof(Value));
  return val(v);
}

size_t vector_count(Value vec) {
  return as_vec(vec)->count;
}

Value vector_nth(Value vec, size_t i) {
  Vector* v = as_vec(vec);
  uint64_t off = tail_off(v->count);
  if (i >= off) {
    return v->tail()[i - off];
  }
  return leaf_for(v, i)->items[i & kMask];
}

const Value* vector_chunk(Value vec, size_t i, size_t* len) {
  Vector* v = as_vec(vec);
  uint64_t off = tail_off(v->count);
  if (i >= off) {
    *len = v->count - i;
    return v->tail() + (i - off);
  }
  *len = kWidth - (i & kMask);
  return leaf_for(v, i)->items + (i & kMask);
}

Value vector_conj(Heap& heap, Value vec, Value item) {
  Vector* v = as_vec(vec);
  uint64_t count = v->count;
  uint32_t tail_len = v->aux;
  if (tail_len < kWidth) {
    Vector* r = new_vector(heap, count + 1, v->shift, v->root, tail_len + 1);
    memcpy(r->tail(), v->tail(), tail_len * sizeof(Value));
    r->tail()[tail_len] = item;
    return val(r);
  }
  // The tail is full: push it into the trie as a leaf.
  VecNode* leaf = new_leaf(heap, v->tail());
  VecNode* root;
  uint32_t shift = v->shift;
  if ((count >> kBits) > (uint64_t{1} << shift)) {
    // The trie is full at this height: grow a new root.
    root = copy_branch(heap, nullptr);
    root->kids[0] = v->root;
    root->kids[1] = new_path(heap, shift, leaf);
    shift += kBits;
  } else {
    root = push_tail(heap, count, shift, v->root, leaf);
  }
  Vector* r = new_vector(heap, count + 1, shift, root, 1);
  r->tail()[0] = item;
  return val(r);
}

Value vector_assoc(Heap& heap, Value vec, size_t i, Value item) {
  Vector* v = as_vec(vec);
  if (i == v->count) {
    return vector_conj(heap, vec, item);
  }
  uint64_t off = tail_off(v->count);
  if (i >= off) {
    Vector* r = new_vector(heap, v->count, v->shift, v->root, v->aux);
    memcpy(r->tail(), v->tail(), v->aux * sizeof(Value));
    r->tail()[i - off] = item;
    return val(r);
  }
  Vector* r =
      new_vector(heap, v->count, v->shift, assoc_in_trie(heap, v->shift, v->root, i, item), v->aux);
  memcpy(r->tail(), v->tail(), v->aux * sizeof(Value));
  return val(r);
}

Value vector_pop(Heap& heap, Value vec) {
  Vector* v = as_vec(vec);
  uint64_t count = v->count;
  if (count == 1) {
    return vector_from(heap, nullptr, 0);
  }
  if (v->aux > 1) {
    Vector* r = new_vector(heap, count - 1, v->shift, v->root, v->aux - 1);
    memcpy(r->tail(), v->tail(), (v->aux - 1) * sizeof(Value));
    return val(r);
  }
  // The tail empties: the last leaf of the trie becomes the new tail.
  const VecNode* new_tail = leaf_for(v, count - 2);
  VecNode* root = pop_tail(heap, count, v->shift, v->root);
  uint32_t shift = v->shift;
  if (shift > kBits && root != nullptr && root->kids[1] == nullptr) {
    root = static_cast<VecNode*>(root->kids[0]);
    shift -= kBits;
  }
  Vector* r = new_vector(heap, count - 1, shift, root, kWidth);
  memcpy(r->tail(), new_tail->items, sizeof(new_tail->items));
  return val(r);
}

void vector_each(Value vec, const std::function<bool(Value)>& f) {
  size_t n = vector_count(vec);
  size_t i = 0;
  while (i < n) {
    size_t len;
    const Value* chunk = vector_chunk(vec, i, &len);
    for (size_t j = 0; j < len; j++) {
      if (!f(chunk[j])) {
        return;
      }
    }
    i += len;
  }
}

}  // namespace valk::lisp
