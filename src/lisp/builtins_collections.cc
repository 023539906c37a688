// Collection natives: constructors, lookup, update and predicates. The
// sequence functions (first, rest, concat, range, sort, ...) are in
// builtins_seq.cc. All are leaf natives: they never call Lisp.
//
// Semantics and argument order follow Clojure. Errors raised: type-error
// (wrong kind of argument), index-error (an index out of range) and
// arity-error (an odd number of key/value arguments).
#include <string>
#include <unordered_map>
#include <vector>

#include "lisp/builtins.h"
#include "lisp/builtins_seq.h"
#include "lisp/collections.h"
#include "lisp/isolate.h"
#include "lisp/seq_items.h"
#include "lisp/utf8.h"

namespace valk::lisp {
namespace {

Value exception() {
  return Value::sentinel(Tag::Exception);
}

struct ValueHash {
  size_t operator()(Value v) const { return hash(v); }
};
struct ValueEqual {
  bool operator()(Value a, Value b) const { return equal(a, b); }
};

Value index_error(Isolate& iso, std::string_view fn, int64_t i, size_t count) {
  return iso.raise_error("index-error", std::string(fn) + ": index " + std::to_string(i) +
                                            " out of range for count " + std::to_string(count));
}

// ---- constructors -------------------------------------------------------------

Value n_list(Isolate& iso, Value* args, int argc) {
  return iso.heap().list(args, argc);
}

Value n_vector(Isolate& iso, Value* args, int argc) {
  return vector_from(iso.heap(), args, argc);
}

Value n_hash_map(Isolate& iso, Value* args, int argc) {
  if (argc % 2 != 0) {
    return iso.raise_error("arity-error", "hash-map: expected an even number of arguments");
  }
  return map_from(iso.heap(), args, argc / 2);
}

Value n_hash_set(Isolate& iso, Value* args, int argc) {
  return set_from(iso.heap(), args, argc);
}

Value n_vec(Isolate& iso, Value* args, int argc) {
  if (args[0].is(Tag::Vector)) {
    return args[0];
  }
  std::vector<Value> items;
  if (!seq_items(iso.heap(), args[0], &items)) {
    return iso.type_error("vec", "a collection", args[0]);
  }
  return vector_from(iso.heap(), items.data(), items.size());
}

Value n_set(Isolate& iso, Value* args, int argc) {
  if (args[0].is(Tag::Set)) {
    return args[0];
  }
  std::vector<Value> items;
  if (!seq_items(iso.heap(), args[0], &items)) {
    return iso.type_error("set", "a collection", args[0]);
  }
  return set_from(iso.heap(), items.data(), items.size());
}

// ---- lookup ---------------------------------------------------------------------

// `get` on one level: collections through collection_lookup, strings by
// code point index.
bool get_one(Heap& heap, Value coll, Value key, Value* out) {
  if (coll.is(Tag::String) && key.is_int()) {
    auto* s = static_cast<String*>(coll.o);
    if (key.i < 0 || static_cast<uint64_t>(key.i) >= s->char_count) {
      return false;
    }
    size_t from = utf8_offset(s->view(), key.i);
    size_t to = from + utf8_offset(s->view().substr(from), 1);
    *out = heap.string(s->view().substr(from, to - from));
    return true;
  }
  return collection_lookup(coll, key, out);
}

Value n_count(Isolate& iso, Value* args, int argc) {
  Value v = args[0];
  switch (v.tag) {
    case Tag::Nil:
      return Value::integer(0);
    case Tag::List:
      return Value::integer(v.o == nullptr ? 0 : static_cast<Cons*>(v.o)->count);
    case Tag::Vector:
      return Value::integer(vector_count(v));
    case Tag::Map:
      return Value::integer(map_count(v));
    case Tag::Set:
      return Value::integer(set_count(v));
    case Tag::String:
      return Value::integer(static_cast<String*>(v.o)->char_count);
    case Tag::Bytes:
      return Value::integer(static_cast<Bytes*>(v.o)->size);
    default:
      return iso.type_error("count", "a collection or string", v);
  }
}

Value n_get(Isolate& iso, Value* args, int argc) {
  Value out;
  if (get_one(iso.heap(), args[0], args[1], &out)) {
    return out;
  }
  return argc > 2 ? args[2] : Value::nil();
}

Value n_get_in(Isolate& iso, Value* args, int argc) {
  std::vector<Value> path;
  if (!seq_items(iso.heap(), args[1], &path)) {
    return iso.type_error("get-in", "a sequence of keys", args[1]);
  }
  Value not_found = argc > 2 ? args[2] : Value::nil();
  Value cur = args[0];
  for (Value k : path) {
    if (!get_one(iso.heap(), cur, k, &cur)) {
      return not_found;
    }
  }
  return cur;
}

Value n_contains(Isolate& iso, Value* args, int argc) {
  Value c = args[0];
  Value k = args[1];
  Value ignored;
  switch (c.tag) {
    case Tag::Nil:
      return Value::boolean(false);
    case Tag::Map:
    case Tag::Set:
    case Tag::Vector:
      return Value::boolean(collection_lookup(c, k, &ignored));
    case Tag::String:
      return Value::boolean(k.is_int() && k.i >= 0 &&
                            static_cast<uint64_t>(k.i) < static_cast<String*>(c.o)->char_count);
    default:
      return iso.type_error("contains?", "a map, set, vector or string", c);
  }
}

Value n_nth(Isolate& iso, Value* args, int argc) {
  Value c = args[0];
  if (!args[1].is_int()) {
    return iso.type_error("nth", "an integer index", args[1]);
  }
  int64_t i = args[1].i;
  Value out;
  size_t count = 0;
  switch (c.tag) {
    case Tag::Nil:
      return argc > 2 ? args[2] : Value::nil();
    case Tag::Vector:
      count = vector_count(c);
      if (i >= 0 && static_cast<uint64_t>(i) < count) {
        return vector_nth(c, i);
      }
      break;
    case Tag::List: {
      count = c.o == nullptr ? 0 : static_cast<Cons*>(c.o)->count;
      if (i >= 0 && static_cast<uint64_t>(i) < count) {
        for (int64_t j = 0; j < i; j++) {
          c = static_cast<Cons*>(c.o)->rest;
        }
        return static_cast<Cons*>(c.o)->first;
      }
      break;
    }
    case Tag::String:
      count = static_cast<String*>(c.o)->char_count;
      if (get_one(iso.heap(), c, args[1], &out)) {
        return out;
      }
      break;
    default:
      return iso.type_error("nth", "a vector, list or string", c);
  }
  if (argc > 2) {
    return args[2];
  }
  return index_error(iso, "nth", i, count);
}

Value n_keys(Isolate& iso, Value* args, int argc) {
  if (args[0].is_nil()) {
    return Value::nil();
  }
  if (!args[0].is(Tag::Map)) {
    return iso.type_error("keys", "a map", args[0]);
  }
  std::vector<Value> out;
  map_each(args[0], [&](Value k, Value) {
    out.push_back(k);
    return true;
  });
  return out.empty() ? Value::nil() : iso.heap().list(out.data(), out.size());
}

Value n_vals(Isolate& iso, Value* args, int argc) {
  if (args[0].is_nil()) {
    return Value::nil();
  }
  if (!args[0].is(Tag::Map)) {
    return iso.type_error("vals", "a map", args[0]);
  }
  std::vector<Value> out;
  map_each(args[0], [&](Value, Value v) {
    out.push_back(v);
    return true;
  });
  return out.empty() ? Value::nil() : iso.heap().list(out.data(), out.size());
}

// ---- update -------------------------------------------------------------------

// (assoc coll k v) for one pair; false (with an error raised) when coll is
// not a map, vector or nil or the index is out of range.
bool assoc_one(Isolate& iso, Value coll, Value k, Value v, Value* out) {
  Heap& heap = iso.heap();
  switch (coll.tag) {
    case Tag::Nil:
      *out = map_assoc(heap, map_from(heap, nullptr, 0), k, v);
      return true;
    case Tag::Map:
      *out = map_assoc(heap, coll, k, v);
      return true;
    case Tag::Vector: {
      size_t n = vector_count(coll);
      if (!k.is_int()) {
        iso.type_error("assoc", "an integer index for a vector", k);
        return false;
      }
      if (k.i < 0 || static_cast<uint64_t>(k.i) > n) {
        index_error(iso, "assoc", k.i, n);
        return false;
      }
      *out = vector_assoc(heap, coll, k.i, v);
      return true;
    }
    default:
      iso.type_error("assoc", "a map, vector or nil", coll);
      return false;
  }
}

Value n_assoc(Isolate& iso, Value* args, int argc) {
  if (argc % 2 != 1) {
    return iso.raise_error("arity-error", "assoc: expected key/value pairs after the collection");
  }
  Value coll = args[0];
  if (coll.is(Tag::Map)) {
    return map_assoc_pairs(iso.heap(), coll, args + 1, static_cast<size_t>(argc / 2));
  }
  for (int i = 1; i < argc; i += 2) {
    if (!assoc_one(iso, coll, args[i], args[i + 1], &coll)) {
      return exception();
    }
  }
  return coll;
}

// (assoc-in m [k & ks] v): walks down the path, then rebuilds it bottom-up.
Value n_assoc_in(Isolate& iso, Value* args, int argc) {
  std::vector<Value> path;
  if (!seq_items(iso.heap(), args[1], &path)) {
    return iso.type_error("assoc-in", "a sequence of keys", args[1]);
  }
  if (path.empty()) {
    path.push_back(Value::nil());  // as Clojure: (assoc m nil v)
  }
  std::vector<Value> levels{args[0]};
  for (size_t i = 0; i + 1 < path.size(); i++) {
    Value next;
    if (!get_one(iso.heap(), levels.back(), path[i], &next)) {
      next = Value::nil();
    }
    levels.push_back(next);
  }
  Value v = args[2];
  for (size_t i = path.size(); i > 0; i--) {
    if (!assoc_one(iso, levels[i - 1], path[i - 1], v, &v)) {
      return exception();
    }
  }
  return v;
}

Value n_dissoc(Isolate& iso, Value* args, int argc) {
  Value m = args[0];
  if (m.is_nil()) {
    return m;
  }
  if (!m.is(Tag::Map)) {
    return iso.type_error("dissoc", "a map", m);
  }
  for (int i = 1; i < argc; i++) {
    m = map_dissoc(iso.heap(), m, args[i]);
  }
  return m;
}

Value n_disj(Isolate& iso, Value* args, int argc) {
  Value s = args[0];
  if (s.is_nil()) {
    return s;
  }
  if (!s.is(Tag::Set)) {
    return iso.type_error("disj", "a set", s);
  }
  for (int i = 1; i < argc; i++) {
    s = set_disj(iso.heap(), s, args[i]);
  }
  return s;
}

Value n_conj(Isolate& iso, Value* args, int argc) {
  if (argc == 0) {
    return vector_from(iso.heap(), nullptr, 0);
  }
  Value coll = args[0];
  for (int i = 1; i < argc; i++) {
    if (!conj_one(iso, coll, args[i], &coll)) {
      return exception();
    }
  }
  return coll;
}

// Adds many entries to a map or set at once. When the additions are at
// least as many as the entries already there, rebuilding in one pass
// (map_from/set_from) beats repeated assoc; returns false to let the caller
// conj one by one otherwise.
bool bulk_into(Isolate& iso, Value coll, const std::vector<Value>& items, Value* out) {
  Heap& heap = iso.heap();
  if (coll.is(Tag::Set)) {
    if (items.size() < 16 || items.size() < set_count(coll)) {
      return false;
    }
    std::vector<Value> all;
    seq_items(heap, coll, &all);
    all.insert(all.end(), items.begin(), items.end());
    *out = set_from(heap, all.data(), all.size());
    return true;
  }
  if (!coll.is(Tag::Map) || items.size() < 16 || items.size() < map_count(coll)) {
    return false;
  }
  std::vector<Value> kvs;
  map_each(coll, [&](Value k, Value v) {
    kvs.push_back(k);
    kvs.push_back(v);
    return true;
  });
  for (Value x : items) {
    if (!x.is(Tag::Vector) || vector_count(x) != 2) {
      return false;  // let conj_one merge maps or report the error
    }
    kvs.push_back(vector_nth(x, 0));
    kvs.push_back(vector_nth(x, 1));
  }
  *out = map_from(heap, kvs.data(), kvs.size() / 2);
  return true;
}

Value n_into(Isolate& iso, Value* args, int argc) {
  if (argc == 0) {
    return vector_from(iso.heap(), nullptr, 0);
  }
  if (argc == 1) {
    return args[0];
  }
  std::vector<Value> items;
  if (!seq_items(iso.heap(), args[1], &items)) {
    return iso.type_error("into", "a collection to take from", args[1]);
  }
  Value coll = args[0];
  if (bulk_into(iso, coll, items, &coll)) {
    return coll;
  }
  for (Value x : items) {
    if (!conj_one(iso, coll, x, &coll)) {
      return exception();
    }
  }
  return coll;
}

Value n_merge(Isolate& iso, Value* args, int argc) {
  Value result = Value::nil();
  for (int i = 0; i < argc; i++) {
    Value m = args[i];
    if (m.is_nil()) {
      continue;
    }
    if (!m.is(Tag::Map)) {
      return iso.type_error("merge", "maps", m);
    }
    if (result.is_nil()) {
      result = m;
      continue;
    }
    map_each(m, [&](Value k, Value v) {
      result = map_assoc(iso.heap(), result, k, v);
      return true;
    });
  }
  return result;
}

Value n_select_keys(Isolate& iso, Value* args, int argc) {
  std::vector<Value> ks;
  if (!seq_items(iso.heap(), args[1], &ks)) {
    return iso.type_error("select-keys", "a sequence of keys", args[1]);
  }
  if (!args[0].is_nil() && !args[0].is(Tag::Map)) {
    return iso.type_error("select-keys", "a map", args[0]);
  }
  Value out = map_from(iso.heap(), nullptr, 0);
  for (Value k : ks) {
    Value v;
    if (!args[0].is_nil() && map_find(args[0], k, &v)) {
      out = map_assoc(iso.heap(), out, k, v);
    }
  }
  return out;
}

Value n_zipmap(Isolate& iso, Value* args, int argc) {
  std::vector<Value> ks, vs;
  if (!seq_items(iso.heap(), args[0], &ks)) {
    return iso.type_error("zipmap", "a sequence of keys", args[0]);
  }
  if (!seq_items(iso.heap(), args[1], &vs)) {
    return iso.type_error("zipmap", "a sequence of values", args[1]);
  }
  std::vector<Value> kvs;
  for (size_t i = 0; i < ks.size() && i < vs.size(); i++) {
    kvs.push_back(ks[i]);
    kvs.push_back(vs[i]);
  }
  return map_from(iso.heap(), kvs.data(), kvs.size() / 2);
}

Value n_frequencies(Isolate& iso, Value* args, int argc) {
  std::vector<Value> items;
  if (!seq_items(iso.heap(), args[0], &items)) {
    return iso.type_error("frequencies", "a collection", args[0]);
  }
  // Count first, then build the map once; the counts keep first-seen order.
  std::unordered_map<Value, size_t, ValueHash, ValueEqual> index;
  std::vector<Value> kvs;
  for (Value x : items) {
    auto [it, fresh] = index.emplace(x, kvs.size());
    if (fresh) {
      kvs.push_back(x);
      kvs.push_back(Value::integer(1));
    } else {
      kvs[it->second + 1].i++;
    }
  }
  return map_from(iso.heap(), kvs.data(), kvs.size() / 2);
}

Value n_empty(Isolate& iso, Value* args, int argc) {
  Heap& heap = iso.heap();
  switch (args[0].tag) {
    case Tag::List:
      return Value::empty_list();
    case Tag::Vector:
      return vector_from(heap, nullptr, 0);
    case Tag::Map:
      return map_from(heap, nullptr, 0);
    case Tag::Set:
      return set_from(heap, nullptr, 0);
    default:
      return Value::nil();
  }
}

Value n_empty_p(Isolate& iso, Value* args, int argc) {
  Value v = args[0];
  switch (v.tag) {
    case Tag::Nil:
      return Value::boolean(true);
    case Tag::List:
      return Value::boolean(v.o == nullptr);
    case Tag::Vector:
      return Value::boolean(vector_count(v) == 0);
    case Tag::Map:
      return Value::boolean(map_count(v) == 0);
    case Tag::Set:
      return Value::boolean(set_count(v) == 0);
    case Tag::String:
      return Value::boolean(static_cast<String*>(v.o)->size == 0);
    case Tag::Bytes:
      return Value::boolean(static_cast<Bytes*>(v.o)->size == 0);
    default:
      return iso.type_error("empty?", "a collection or string", v);
  }
}

Value n_subvec(Isolate& iso, Value* args, int argc) {
  if (!args[0].is(Tag::Vector)) {
    return iso.type_error("subvec", "a vector", args[0]);
  }
  size_t n = vector_count(args[0]);
  for (int i = 1; i < argc; i++) {
    if (!args[i].is_int()) {
      return iso.type_error("subvec", "integer indices", args[i]);
    }
  }
  int64_t start = args[1].i;
  int64_t end = argc > 2 ? args[2].i : static_cast<int64_t>(n);
  if (start < 0 || start > static_cast<int64_t>(n)) {
    return index_error(iso, "subvec", start, n);
  }
  if (end < start || end > static_cast<int64_t>(n)) {
    return index_error(iso, "subvec", end, n);
  }
  std::vector<Value> items;
  items.reserve(end - start);
  for (int64_t i = start; i < end; i++) {
    items.push_back(vector_nth(args[0], i));
  }
  return vector_from(iso.heap(), items.data(), items.size());
}

Value n_peek(Isolate& iso, Value* args, int argc) {
  Value c = args[0];
  switch (c.tag) {
    case Tag::Nil:
      return Value::nil();
    case Tag::List:
      return c.o == nullptr ? Value::nil() : static_cast<Cons*>(c.o)->first;
    case Tag::Vector: {
      size_t n = vector_count(c);
      return n == 0 ? Value::nil() : vector_nth(c, n - 1);
    }
    default:
      return iso.type_error("peek", "a vector or list", c);
  }
}

Value n_pop(Isolate& iso, Value* args, int argc) {
  Value c = args[0];
  switch (c.tag) {
    case Tag::Nil:
      return Value::nil();
    case Tag::List:
      if (c.o == nullptr) {
        return iso.raise_error("index-error", "pop: cannot pop an empty list");
      }
      return static_cast<Cons*>(c.o)->rest;
    case Tag::Vector:
      if (vector_count(c) == 0) {
        return iso.raise_error("index-error", "pop: cannot pop an empty vector");
      }
      return vector_pop(iso.heap(), c);
    default:
      return iso.type_error("pop", "a vector or list", c);
  }
}

// ---- predicates -------------------------------------------------------------------

template <Tag T>
Value is_tag(Isolate& iso, Value* args, int argc) {
  return Value::boolean(args[0].is(T));
}

Value n_coll_p(Isolate& iso, Value* args, int argc) {
  Tag t = args[0].tag;
  return Value::boolean(t == Tag::List || t == Tag::Vector || t == Tag::Map || t == Tag::Set);
}

Value n_sequential_p(Isolate& iso, Value* args, int argc) {
  Tag t = args[0].tag;
  return Value::boolean(t == Tag::List || t == Tag::Vector);
}

}  // namespace

bool conj_one(Isolate& iso, Value coll, Value x, Value* out) {
  Heap& heap = iso.heap();
  switch (coll.tag) {
    case Tag::Nil:
    case Tag::List:
      *out = heap.cons(x, coll.is_nil() ? Value::empty_list() : coll);
      return true;
    case Tag::Vector:
      *out = vector_conj(heap, coll, x);
      return true;
    case Tag::Set:
      *out = set_conj(heap, coll, x);
      return true;
    case Tag::Map:
      if (x.is_nil()) {
        *out = coll;
        return true;
      }
      if (x.is(Tag::Vector) && vector_count(x) == 2) {
        *out = map_assoc(heap, coll, vector_nth(x, 0), vector_nth(x, 1));
        return true;
      }
      if (x.is(Tag::Map)) {
        Value m = coll;
        map_each(x, [&](Value k, Value v) {
          m = map_assoc(heap, m, k, v);
          return true;
        });
        *out = m;
        return true;
      }
      iso.type_error("conj", "a [key value] vector or a map to add to a map", x);
      return false;
    default:
      iso.type_error("conj", "a collection or nil", coll);
      return false;
  }
}

void register_collection_natives(Isolate& iso) {
  iso.define_native("list", n_list, 0, -1);
  iso.define_native("vector", n_vector, 0, -1);
  iso.define_native("hash-map", n_hash_map, 0, -1);
  iso.define_native("hash-set", n_hash_set, 0, -1);
  iso.define_native("vec", n_vec, 1, 1);
  iso.define_native("set", n_set, 1, 1);
  iso.define_native("count", n_count, 1, 1);
  iso.define_native("get", n_get, 2, 3);
  iso.define_native("get-in", n_get_in, 2, 3);
  iso.define_native("contains?", n_contains, 2, 2);
  iso.define_native("nth", n_nth, 2, 3);
  iso.define_native("keys", n_keys, 1, 1);
  iso.define_native("vals", n_vals, 1, 1);
  iso.define_native("assoc", n_assoc, 3, -1);
  iso.define_native("assoc-in", n_assoc_in, 3, 3);
  iso.define_native("dissoc", n_dissoc, 1, -1);
  iso.define_native("disj", n_disj, 1, -1);
  iso.define_native("conj", n_conj, 0, -1);
  iso.define_native("into", n_into, 0, 2);
  iso.define_native("merge", n_merge, 0, -1);
  iso.define_native("select-keys", n_select_keys, 2, 2);
  iso.define_native("zipmap", n_zipmap, 2, 2);
  iso.define_native("frequencies", n_frequencies, 1, 1);
  iso.define_native("empty", n_empty, 1, 1);
  iso.define_native("empty?", n_empty_p, 1, 1);
  iso.define_native("subvec", n_subvec, 2, 3);
  iso.define_native("peek", n_peek, 1, 1);
  iso.define_native("pop", n_pop, 1, 1);
  iso.define_native("vector?", is_tag<Tag::Vector>, 1, 1);
  iso.define_native("map?", is_tag<Tag::Map>, 1, 1);
  iso.define_native("set?", is_tag<Tag::Set>, 1, 1);
  iso.define_native("list?", is_tag<Tag::List>, 1, 1);
  iso.define_native("seq?", is_tag<Tag::List>, 1, 1);
  iso.define_native("coll?", n_coll_p, 1, 1);
  iso.define_native("sequential?", n_sequential_p, 1, 1);
  register_seq_natives(iso);
}

}  // namespace valk::lisp
