// Sequence natives. valk has no lazy sequences: every function here that
// returns a sequence returns a list, built eagerly. Lists are walked in
// place (and shared where Clojure would share them, as by `rest` and
// `drop`); other collections are first turned into their elements.
//
// All are leaf natives. Errors raised: type-error, argument-error (a
// count or step that makes no sense) and index-error.
#include <algorithm>
#include <cmath>
#include <string>
#include <unordered_set>
#include <vector>

#include "lisp/builtins_seq.h"
#include "lisp/collections.h"
#include "lisp/isolate.h"
#include "lisp/seq_items.h"
#include "lisp/utf8.h"

namespace valk::lisp {
namespace {

// `range` refuses to build more elements than this, so that a script
// cannot exhaust memory (which aborts the process) with one call.
constexpr int64_t kMaxRange = int64_t{1} << 27;

Value exception() {
  return Value::sentinel(Tag::Exception);
}

Cons* as_cons(Value v) {
  return static_cast<Cons*>(v.o);
}

Value list_of(Heap& heap, const std::vector<Value>& items, size_t from = 0) {
  if (from >= items.size()) {
    return Value::empty_list();
  }
  return heap.list(items.data() + from, items.size() - from);
}

// The elements of `coll`, raising a type error naming `fn` if it is not
// seqable.
bool items_of(Isolate& iso, std::string_view fn, Value coll, std::vector<Value>* out) {
  if (seq_items(iso.heap(), coll, out)) {
    return true;
  }
  iso.type_error(fn, "a collection", coll);
  return false;
}

// The first element of a non-list seqable, without building them all.
// Sets *found to false for an empty collection.
bool first_of(Isolate& iso, std::string_view fn, Value coll, Value* out, bool* found) {
  *found = false;
  switch (coll.tag) {
    case Tag::Nil:
      return true;
    case Tag::List:
      if (coll.o != nullptr) {
        *out = as_cons(coll)->first;
        *found = true;
      }
      return true;
    case Tag::Vector:
      if (vector_count(coll) > 0) {
        *out = vector_nth(coll, 0);
        *found = true;
      }
      return true;
    case Tag::String: {
      std::string_view s = static_cast<String*>(coll.o)->view();
      if (!s.empty()) {
        *out = iso.heap().string(s.substr(0, utf8_offset(s, 1)));
        *found = true;
      }
      return true;
    }
    case Tag::Map:
      map_each(coll, [&](Value k, Value v) {
        *out = map_entry(iso.heap(), k, v);
        *found = true;
        return false;
      });
      return true;
    case Tag::Set:
      set_each(coll, [&](Value e) {
        *out = e;
        *found = true;
        return false;
      });
      return true;
    default:
      iso.type_error(fn, "a collection", coll);
      return false;
  }
}

// ---- first, rest and friends ------------------------------------------------------

Value n_first(Isolate& iso, Value* args, int argc) {
  Value out;
  bool found;
  if (!first_of(iso, "first", args[0], &out, &found)) {
    return exception();
  }
  return found ? out : Value::nil();
}

Value n_second(Isolate& iso, Value* args, int argc) {
  Value c = args[0];
  if (c.is(Tag::List)) {
    return c.o != nullptr && as_cons(c)->count >= 2 ? as_cons(as_cons(c)->rest)->first
                                                    : Value::nil();
  }
  if (c.is(Tag::Vector)) {
    return vector_count(c) >= 2 ? vector_nth(c, 1) : Value::nil();
  }
  std::vector<Value> items;
  if (!items_of(iso, "second", c, &items)) {
    return exception();
  }
  return items.size() >= 2 ? items[1] : Value::nil();
}

Value n_last(Isolate& iso, Value* args, int argc) {
  Value c = args[0];
  if (c.is(Tag::List)) {
    if (c.o == nullptr) {
      return Value::nil();
    }
    while (as_cons(c)->rest.o != nullptr) {
      c = as_cons(c)->rest;
    }
    return as_cons(c)->first;
  }
  if (c.is(Tag::Vector)) {
    size_t n = vector_count(c);
    return n > 0 ? vector_nth(c, n - 1) : Value::nil();
  }
  std::vector<Value> items;
  if (!items_of(iso, "last", c, &items)) {
    return exception();
  }
  return items.empty() ? Value::nil() : items.back();
}

// (rest coll) as a list, empty when there is nothing after the first.
bool rest_of(Isolate& iso, std::string_view fn, Value c, Value* out) {
  if (c.is(Tag::List)) {
    *out = c.o == nullptr ? c : as_cons(c)->rest;
    return true;
  }
  std::vector<Value> items;
  if (!items_of(iso, fn, c, &items)) {
    return false;
  }
  *out = list_of(iso.heap(), items, 1);
  return true;
}

Value n_rest(Isolate& iso, Value* args, int argc) {
  Value out;
  return rest_of(iso, "rest", args[0], &out) ? out : exception();
}

Value n_next(Isolate& iso, Value* args, int argc) {
  Value out;
  if (!rest_of(iso, "next", args[0], &out)) {
    return exception();
  }
  return out.o == nullptr ? Value::nil() : out;
}

Value n_seq(Isolate& iso, Value* args, int argc) {
  Value c = args[0];
  if (c.is(Tag::List)) {
    return c.o == nullptr ? Value::nil() : c;
  }
  std::vector<Value> items;
  if (!items_of(iso, "seq", c, &items)) {
    return exception();
  }
  return items.empty() ? Value::nil() : list_of(iso.heap(), items);
}

Value n_cons(Isolate& iso, Value* args, int argc) {
  Value c = args[1];
  if (c.is(Tag::List)) {
    return iso.heap().cons(args[0], c);
  }
  std::vector<Value> items{args[0]};
  if (!items_of(iso, "cons", c, &items)) {
    return exception();
  }
  return list_of(iso.heap(), items);
}

Value n_concat(Isolate& iso, Value* args, int argc) {
  if (argc == 0) {
    return Value::empty_list();
  }
  // A final list is shared as the tail of the result.
  Value tail = Value::empty_list();
  int n = argc;
  if (args[argc - 1].is(Tag::List)) {
    tail = args[argc - 1];
    n--;
  }
  std::vector<Value> items;
  for (int i = 0; i < n; i++) {
    if (!items_of(iso, "concat", args[i], &items)) {
      return exception();
    }
  }
  Value out = tail;
  for (size_t i = items.size(); i > 0; i--) {
    out = iso.heap().cons(items[i - 1], out);
  }
  return out;
}

Value n_reverse(Isolate& iso, Value* args, int argc) {
  Value c = args[0];
  Value out = Value::empty_list();
  if (c.is(Tag::List)) {
    for (; c.o != nullptr; c = as_cons(c)->rest) {
      out = iso.heap().cons(as_cons(c)->first, out);
    }
    return out;
  }
  std::vector<Value> items;
  if (!items_of(iso, "reverse", c, &items)) {
    return exception();
  }
  for (Value x : items) {
    out = iso.heap().cons(x, out);
  }
  return out;
}

// ---- range, take, drop --------------------------------------------------------------

Value n_range(Isolate& iso, Value* args, int argc) {
  for (int i = 0; i < argc; i++) {
    if (!args[i].is_number()) {
      return iso.type_error("range", "numbers", args[i]);
    }
  }
  Value start = argc > 1 ? args[0] : Value::integer(0);
  Value end = argc > 1 ? args[1] : args[0];
  Value step = argc > 2 ? args[2] : Value::integer(1);
  bool ints = start.is_int() && end.is_int() && step.is_int();
  auto as_double = [](Value v) { return v.is_int() ? static_cast<double>(v.i) : v.d; };
  double s = as_double(start), e = as_double(end), st = as_double(step);
  if (st == 0 || std::isnan(st) || std::isnan(s) || std::isnan(e)) {
    return iso.raise_error("argument-error", "range: the step must be a non-zero number");
  }
  // The element count, computed in doubles first to reject huge ranges.
  double span = std::ceil((e - s) / st);
  if (span <= 0) {
    return Value::empty_list();
  }
  if (span > static_cast<double>(kMaxRange)) {
    return iso.raise_error("argument-error", "range: too many elements");
  }
  // The elements, here and in the list made of them.
  if (!iso.may_allocate("range", static_cast<uint64_t>(span) * (sizeof(Value) + sizeof(Cons)))) {
    return exception();
  }
  std::vector<Value> items;
  if (ints) {
    __int128 x = start.i;
    while (st > 0 ? x < end.i : x > end.i) {
      items.push_back(Value::integer(static_cast<int64_t>(x)));
      x += step.i;
    }
  } else {
    // As Clojure: the first element is `start` as given, each next one the
    // previous plus step (so floating-point error accumulates the same way).
    Value x = start;
    double d = s;
    while ((st > 0 ? d < e : d > e) && static_cast<int64_t>(items.size()) <= kMaxRange) {
      items.push_back(x);
      d += st;
      x = Value::number(d);
    }
  }
  return list_of(iso.heap(), items);
}

bool count_arg(Isolate& iso, std::string_view fn, Value v, int64_t* out) {
  if (!v.is_int()) {
    iso.type_error(fn, "an integer count", v);
    return false;
  }
  *out = v.i;
  return true;
}

Value n_take(Isolate& iso, Value* args, int argc) {
  int64_t n;
  if (!count_arg(iso, "take", args[0], &n)) {
    return exception();
  }
  std::vector<Value> items;
  Value c = args[1];
  if (c.is(Tag::List)) {
    for (; c.o != nullptr && static_cast<int64_t>(items.size()) < n; c = as_cons(c)->rest) {
      items.push_back(as_cons(c)->first);
    }
    return list_of(iso.heap(), items);
  }
  if (!items_of(iso, "take", c, &items)) {
    return exception();
  }
  if (n < static_cast<int64_t>(items.size())) {
    items.resize(n < 0 ? 0 : n);
  }
  return list_of(iso.heap(), items);
}

Value n_drop(Isolate& iso, Value* args, int argc) {
  int64_t n;
  if (!count_arg(iso, "drop", args[0], &n)) {
    return exception();
  }
  Value c = args[1];
  if (c.is(Tag::List)) {
    for (int64_t i = 0; i < n && c.o != nullptr; i++) {
      c = as_cons(c)->rest;
    }
    return c;
  }
  std::vector<Value> items;
  if (!items_of(iso, "drop", c, &items)) {
    return exception();
  }
  return list_of(iso.heap(), items, n < 0 ? 0 : static_cast<size_t>(n));
}

// ---- sort ---------------------------------------------------------------------------

// -1, 0 or 1 comparing an int with a double exactly (no rounding of the
// int), so that the order stays a strict weak order. NaN sorts last.
int compare_int_double(int64_t i, double d) {
  if (std::isnan(d)) {
    return -1;
  }
  if (d >= 9223372036854775808.0) {
    return -1;
  }
  if (d < -9223372036854775808.0) {
    return 1;
  }
  auto t = static_cast<int64_t>(d);  // truncates toward zero; exact here
  if (i != t) {
    return i < t ? -1 : 1;
  }
  double frac = d - static_cast<double>(t);
  return frac > 0 ? -1 : (frac < 0 ? 1 : 0);
}

int compare_numbers(Value a, Value b) {
  if (a.is_int() && b.is_int()) {
    return a.i < b.i ? -1 : (a.i > b.i ? 1 : 0);
  }
  if (a.is_int()) {
    return compare_int_double(a.i, b.d);
  }
  if (b.is_int()) {
    return -compare_int_double(b.i, a.d);
  }
  bool na = std::isnan(a.d), nb = std::isnan(b.d);
  if (na || nb) {
    return na == nb ? 0 : (na ? 1 : -1);
  }
  return a.d < b.d ? -1 : (a.d > b.d ? 1 : 0);
}

// Sorts in natural order: all numbers, all strings or all keywords.
Value n_sort(Isolate& iso, Value* args, int argc) {
  std::vector<Value> items;
  if (!items_of(iso, "sort", args[0], &items)) {
    return exception();
  }
  if (items.empty()) {
    return Value::empty_list();
  }
  Value first = items[0];
  bool fast = true;  // numbers, strings or keywords, all of one kind
  for (Value x : items) {
    bool same = first.is_number() ? x.is_number() : x.tag == first.tag;
    fast = fast && same && (x.is_number() || x.is(Tag::String) || x.is(Tag::Keyword));
  }
  if (!fast) {
    // Anything else `compare` orders (vectors, booleans, nil, mixes with
    // nil); the first pair it cannot compare raises its error.
    bool failed = false;
    std::stable_sort(items.begin(), items.end(), [&](Value a, Value b) {
      int c = 0;
      if (!failed && !compare_values(iso, a, b, &c)) {
        failed = true;
      }
      return !failed && c < 0;
    });
    return failed ? exception() : list_of(iso.heap(), items);
  }
  if (first.is_number()) {
    std::stable_sort(items.begin(), items.end(),
                     [](Value a, Value b) { return compare_numbers(a, b) < 0; });
  } else if (first.is(Tag::String)) {
    std::stable_sort(items.begin(), items.end(), [](Value a, Value b) {
      return static_cast<String*>(a.o)->view() < static_cast<String*>(b.o)->view();
    });
  } else {
    std::stable_sort(items.begin(), items.end(), [](Value a, Value b) {
      return static_cast<Symbol*>(a.o)->name->view() < static_cast<Symbol*>(b.o)->name->view();
    });
  }
  return list_of(iso.heap(), items);
}

// ---- distinct, flatten, interleave, interpose, partition ------------------------------

struct ValueHash {
  size_t operator()(Value v) const { return hash(v); }
};
struct ValueEqual {
  bool operator()(Value a, Value b) const { return equal(a, b); }
};

Value n_distinct(Isolate& iso, Value* args, int argc) {
  std::vector<Value> items;
  if (!items_of(iso, "distinct", args[0], &items)) {
    return exception();
  }
  std::unordered_set<Value, ValueHash, ValueEqual> seen;
  std::vector<Value> out;
  for (Value x : items) {
    if (seen.insert(x).second) {
      out.push_back(x);
    }
  }
  return list_of(iso.heap(), out);
}

// Flattens nested lists and vectors with an explicit stack, so any depth
// is safe. Anything else is a leaf; a non-sequential argument gives ().
Value n_flatten(Isolate& iso, Value* args, int argc) {
  std::vector<Value> out;
  Value root = args[0];
  if (!root.is(Tag::List) && !root.is(Tag::Vector)) {
    return Value::empty_list();
  }
  std::vector<Value> stack{root};
  std::vector<Value> items;
  while (!stack.empty()) {
    Value v = stack.back();
    stack.pop_back();
    if (!v.is(Tag::List) && !v.is(Tag::Vector)) {
      out.push_back(v);
      continue;
    }
    items.clear();
    seq_items(iso.heap(), v, &items);
    for (size_t i = items.size(); i > 0; i--) {
      stack.push_back(items[i - 1]);
    }
  }
  return list_of(iso.heap(), out);
}

Value n_interleave(Isolate& iso, Value* args, int argc) {
  std::vector<std::vector<Value>> colls(argc);
  size_t shortest = SIZE_MAX;
  for (int i = 0; i < argc; i++) {
    if (!items_of(iso, "interleave", args[i], &colls[i])) {
      return exception();
    }
    shortest = std::min(shortest, colls[i].size());
  }
  std::vector<Value> out;
  for (size_t j = 0; argc > 0 && j < shortest; j++) {
    for (int i = 0; i < argc; i++) {
      out.push_back(colls[i][j]);
    }
  }
  return list_of(iso.heap(), out);
}

Value n_interpose(Isolate& iso, Value* args, int argc) {
  std::vector<Value> items;
  if (!items_of(iso, "interpose", args[1], &items)) {
    return exception();
  }
  std::vector<Value> out;
  for (size_t i = 0; i < items.size(); i++) {
    if (i > 0) {
      out.push_back(args[0]);
    }
    out.push_back(items[i]);
  }
  return list_of(iso.heap(), out);
}

// (partition n coll), (partition n step coll), (partition n step pad coll):
// lists of n elements starting every step elements; a short final group is
// dropped unless pad is given, which fills it up to n (or as far as pad
// goes).
Value n_partition(Isolate& iso, Value* args, int argc) {
  int64_t n, step;
  if (!count_arg(iso, "partition", args[0], &n)) {
    return exception();
  }
  step = n;
  if (argc > 2 && !count_arg(iso, "partition", args[1], &step)) {
    return exception();
  }
  if (n <= 0 || step <= 0) {
    return iso.raise_error("argument-error", "partition: n and step must be positive");
  }
  std::vector<Value> items, pad;
  if (!items_of(iso, "partition", args[argc - 1], &items)) {
    return exception();
  }
  bool padded = argc == 4;
  if (padded && !items_of(iso, "partition", args[2], &pad)) {
    return exception();
  }
  Heap& heap = iso.heap();
  std::vector<Value> groups;
  for (size_t start = 0; start < items.size(); start += step) {
    size_t end = std::min(items.size(), start + static_cast<size_t>(n));
    std::vector<Value> group(items.begin() + start, items.begin() + end);
    if (static_cast<int64_t>(group.size()) < n) {
      if (!padded) {
        break;
      }
      for (size_t i = 0; i < pad.size() && static_cast<int64_t>(group.size()) < n; i++) {
        group.push_back(pad[i]);
      }
      groups.push_back(list_of(heap, group));
      break;
    }
    groups.push_back(list_of(heap, group));
  }
  return list_of(heap, groups);
}

}  // namespace

void register_seq_natives(Isolate& iso) {
  iso.define_native("first", n_first, 1, 1);
  iso.define_native("second", n_second, 1, 1);
  iso.define_native("last", n_last, 1, 1);
  iso.define_native("rest", n_rest, 1, 1);
  iso.define_native("next", n_next, 1, 1);
  iso.define_native("seq", n_seq, 1, 1);
  iso.define_native("cons", n_cons, 2, 2);
  iso.define_native("concat", n_concat, 0, -1);
  iso.define_native("reverse", n_reverse, 1, 1);
  iso.define_native("range", n_range, 1, 3);
  iso.define_native("take", n_take, 2, 2);
  iso.define_native("drop", n_drop, 2, 2);
  iso.define_native("sort", n_sort, 1, 1);
  iso.define_native("distinct", n_distinct, 1, 1);
  iso.define_native("flatten", n_flatten, 1, 1);
  iso.define_native("interleave", n_interleave, 0, -1);
  iso.define_native("interpose", n_interpose, 2, 2);
  iso.define_native("partition", n_partition, 2, 4);
}

}  // namespace valk::lisp
