// Structural equality and hashing (Clojure `=` and `hash`).
//
// Equality walks nested collections with an explicit work list, so deep
// nesting costs heap memory, not C++ stack. Hashing recurses but stops
// descending past kMaxHashDepth, where a collection hashes by its kind
// and count alone; that stays consistent with equality (equal collections
// have equal counts) and bounds the stack.
#include <bit>
#include <cstring>
#include <utility>
#include <vector>

#include "lisp/collections.h"
#include "lisp/object.h"
#include "lisp/value.h"

namespace valk::lisp {

namespace {

constexpr int kMaxHashDepth = 16;

// Salts keep equal payloads of different kinds apart.
constexpr uint64_t kSaltNil = 0x9e3779b97f4a7c15ull;
constexpr uint64_t kSaltTrue = 0x3c6ef372fe94f82aull;
constexpr uint64_t kSaltFalse = 0xdaa66d2c7ddf743full;
constexpr uint64_t kSaltDouble = 0x78dde6e5fd29f054ull;
constexpr uint64_t kSaltSymbol = 0x1715609d230ab2f1ull;
constexpr uint64_t kSaltKeyword = 0xb54cda56c53b5f37ull;
constexpr uint64_t kSaltSeq = 0x53c5ca5d7d07a4b1ull;
constexpr uint64_t kSaltMap = 0xf1bbcdcbfa53e0abull;
constexpr uint64_t kSaltSet = 0x8f1bbcdc7e3c9a21ull;

// Murmur3's 64-bit finaliser: every input bit affects every output bit,
// which the trie needs since it consumes the hash 5 bits at a time.
inline uint64_t mix(uint64_t h) {
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdull;
  h ^= h >> 33;
  h *= 0xc4ceb9fe1a85ec53ull;
  h ^= h >> 33;
  return h;
}

uint64_t string_hash(String* s) {
  if (s->hash_code != 0) {
    return s->hash_code;
  }
  // FNV-1a, finalised; computed once per string and cached.
  uint64_t h = 0xcbf29ce484222325ull;
  for (uint32_t i = 0; i < s->size; i++) {
    h ^= static_cast<unsigned char>(s->data[i]);
    h *= 0x100000001b3ull;
  }
  h = mix(h ^ s->size);
  if (h == 0) {
    h = 1;  // 0 means "not computed"
  }
  s->hash_code = h;
  return h;
}

size_t seq_count(Value v) {
  if (v.tag == Tag::Vector) {
    return vector_count(v);
  }
  return v.o == nullptr ? 0 : static_cast<Cons*>(v.o)->count;
}

bool is_sequential(Value v) {
  return v.tag == Tag::List || v.tag == Tag::Vector;
}

uint64_t hash_at(Value v, int depth);

uint64_t hash_seq(Value v, int depth) {
  uint64_t h = kSaltSeq;
  if (v.tag == Tag::List) {
    for (Value c = v; c.o != nullptr; c = static_cast<Cons*>(c.o)->rest) {
      h = h * 31 + hash_at(static_cast<Cons*>(c.o)->first, depth + 1);
    }
  } else {
    vector_each(v, [&](Value e) {
      h = h * 31 + hash_at(e, depth + 1);
      return true;
    });
  }
  return mix(h);
}

uint64_t hash_at(Value v, int depth) {
  switch (v.tag) {
    case Tag::Nil:
      return kSaltNil;
    case Tag::Bool:
      return v.b ? kSaltTrue : kSaltFalse;
    case Tag::Int: {
      // Small non-negative ints hash to themselves, so dense int keys fill
      // the trie evenly and neighbouring keys share its upper nodes (which
      // stay in cache). The high half is multiplied in so that negative
      // ints do not collide with positive ones when the trie folds the
      // hash to 32 bits.
      uint64_t u = static_cast<uint64_t>(v.i);
      return static_cast<uint32_t>(u) ^ static_cast<uint32_t>((u >> 32) * 0x9e3779b1u);
    }
    case Tag::Double: {
      double d = v.d == 0.0 ? 0.0 : v.d;  // -0.0 equals 0.0
      return mix(std::bit_cast<uint64_t>(d) ^ kSaltDouble);
    }
    case Tag::String:
      return string_hash(static_cast<String*>(v.o));
    case Tag::Symbol:
      return mix(string_hash(static_cast<Symbol*>(v.o)->name) ^ kSaltSymbol);
    case Tag::Keyword:
      return mix(string_hash(static_cast<Symbol*>(v.o)->name) ^ kSaltKeyword);
    case Tag::List:
    case Tag::Vector:
      if (depth > kMaxHashDepth) {
        return mix(kSaltSeq ^ seq_count(v));
      }
      return hash_seq(v, depth);
    case Tag::Map: {
      if (depth > kMaxHashDepth) {
        return mix(kSaltMap ^ map_count(v));
      }
      // A sum of entry hashes does not depend on iteration order.
      uint64_t h = kSaltMap;
      map_each(v, [&](Value k, Value x) {
        h += mix(hash_at(k, depth + 1) * 31 + hash_at(x, depth + 1));
        return true;
      });
      return mix(h);
    }
    case Tag::Set: {
      if (depth > kMaxHashDepth) {
        return mix(kSaltSet ^ set_count(v));
      }
      uint64_t h = kSaltSet;
      set_each(v, [&](Value e) {
        h += hash_at(e, depth + 1);
        return true;
      });
      return mix(h);
    }
    default:
      // Identity for everything else; the empty list is handled above.
      return mix(reinterpret_cast<uintptr_t>(v.o) ^ static_cast<uint64_t>(v.tag));
  }
}

using Work = std::vector<std::pair<Value, Value>>;

// Compares a and b one level deep: scalars and strings completely, and
// for collections the sizes, queueing element pairs on `work`.
bool equal_step(Value a, Value b, Work& work);

// The same bits, and not NaN (which equals nothing, itself included, as
// IEEE 754 and Clojure's = have it).
inline bool same_value(Value a, Value b) {
  return identical(a, b) && !(a.tag == Tag::Double && a.d != a.d);
}

// Queues a pair, or decides it at once when neither side is a collection.
inline bool equal_or_queue(Value a, Value b, Work& work) {
  if (same_value(a, b)) {
    return true;
  }
  if (a.tag == Tag::List || a.tag == Tag::Vector || a.tag == Tag::Map || a.tag == Tag::Set) {
    work.emplace_back(a, b);
    return true;
  }
  return equal_step(a, b, work);
}

bool equal_seqs(Value a, Value b, Work& work) {
  size_t n = seq_count(a);
  if (n != seq_count(b)) {
    return false;
  }
  if (a.tag == Tag::List && b.tag == Tag::List) {
    Value x = a, y = b;
    while (x.o != nullptr) {
      auto* cx = static_cast<Cons*>(x.o);
      auto* cy = static_cast<Cons*>(y.o);
      if (!equal_or_queue(cx->first, cy->first, work)) {
        return false;
      }
      x = cx->rest;
      y = cy->rest;
    }
    return true;
  }
  if (a.tag == Tag::Vector && b.tag == Tag::Vector) {
    for (size_t i = 0; i < n;) {
      size_t la, lb;
      const Value* pa = vector_chunk(a, i, &la);
      const Value* pb = vector_chunk(b, i, &lb);
      size_t len = la < lb ? la : lb;
      for (size_t j = 0; j < len; j++) {
        if (!equal_or_queue(pa[j], pb[j], work)) {
          return false;
        }
      }
      i += len;
    }
    return true;
  }
  // A list and a vector.
  Value list = a.tag == Tag::List ? a : b;
  Value vec = a.tag == Tag::List ? b : a;
  size_t i = 0;
  bool ok = true;
  vector_each(vec, [&](Value e) {
    auto* c = static_cast<Cons*>(list.o);
    ok = equal_or_queue(c->first, e, work);
    list = c->rest;
    i++;
    return ok;
  });
  return ok;
}

bool strings_equal(Value a, Value b) {
  auto* x = static_cast<String*>(a.o);
  auto* y = static_cast<String*>(b.o);
  if (x->size != y->size) {
    return false;
  }
  if (x->hash_code != 0 && y->hash_code != 0 && x->hash_code != y->hash_code) {
    return false;
  }
  return memcmp(x->data, y->data, x->size) == 0;
}

bool equal_step(Value a, Value b, Work& work) {
  if (same_value(a, b)) {
    return true;
  }
  if (a.tag != b.tag) {
    return is_sequential(a) && is_sequential(b) && equal_seqs(a, b, work);
  }
  switch (a.tag) {
    case Tag::Double:
      return a.d == b.d;
    case Tag::String:
      return strings_equal(a, b);
    case Tag::List:
    case Tag::Vector:
      return equal_seqs(a, b, work);
    case Tag::Map: {
      if (map_count(a) != map_count(b)) {
        return false;
      }
      bool ok = true;
      map_each(a, [&](Value k, Value va) {
        Value vb;
        ok = map_find(b, k, &vb) && equal_or_queue(va, vb, work);
        return ok;
      });
      return ok;
    }
    case Tag::Set: {
      if (set_count(a) != set_count(b)) {
        return false;
      }
      bool ok = true;
      set_each(a, [&](Value e) {
        ok = set_contains(b, e);
        return ok;
      });
      return ok;
    }
    default:
      // Immediates differ (identical failed) and other objects compare
      // by identity.
      return false;
  }
}

}  // namespace

namespace {

// equal() of two collections, with a work list for their elements.
[[gnu::noinline]] bool equal_collections(Value a, Value b) {
  Work work;
  if (!equal_step(a, b, work)) {
    return false;
  }
  while (!work.empty()) {
    auto [x, y] = work.back();
    work.pop_back();
    if (!equal_step(x, y, work)) {
      return false;
    }
  }
  return true;
}

bool is_collection(Value v) {
  return v.tag == Tag::List || v.tag == Tag::Vector || v.tag == Tag::Map || v.tag == Tag::Set;
}

}  // namespace

bool equal(Value a, Value b) {
  if (same_value(a, b)) {
    return true;
  }
  if (is_collection(a) && is_collection(b)) {
    return equal_collections(a, b);
  }
  // The usual cases (a keyword against another, two strings) without the
  // work list. Different tags: a collection equals only a collection.
  if (a.tag != b.tag) {
    return false;
  }
  switch (a.tag) {
    case Tag::Double:
      return a.d == b.d;
    case Tag::String:
      return strings_equal(a, b);
    default:
      return false;  // identity, which same_value tested
  }
}

uint64_t hash(Value v) {
  return hash_at(v, 0);
}

std::string_view type_name(Value v) {
  switch (v.tag) {
    case Tag::Nil:
      return "nil";
    case Tag::Bool:
      return "boolean";
    case Tag::Int:
      return "int";
    case Tag::Double:
      return "double";
    case Tag::Exception:
    case Tag::Park:
    case Tag::TailCall:
      return "sentinel";
    case Tag::List:
      return "list";
    case Tag::String:
      return "string";
    case Tag::Symbol:
      return "symbol";
    case Tag::Keyword:
      return "keyword";
    case Tag::Vector:
      return "vector";
    case Tag::Map:
      return "map";
    case Tag::Set:
      return "set";
    case Tag::Bytes:
      return "bytes";
    case Tag::Proto:
      return "proto";
    case Tag::Closure:
    case Tag::Native:
      return "function";
    case Tag::Var:
      return "var";
    case Tag::Atom:
      return "atom";
    case Tag::Error:
      return "error";
    case Tag::Promise:
      return "promise";
    case Tag::Fiber:
      return "fiber";
    case Tag::Internal:
      return "internal";
  }
  return "unknown";
}

}  // namespace valk::lisp
