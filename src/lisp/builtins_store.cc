// The shared store (shared_store.h) from Lisp: state every worker of valk
// serve sees, where an atom is one worker's own.
//
//   (store/get k)  (store/get k default)   the value at k, or default (nil)
//   (store/put! k v)  (store/put! k v {:ttl-ms n})
//                                          sets k (nil removes it); returns v
//   (store/delete! k)                      true if k was there
//   (store/incr! k)  (store/incr! k n)  (store/incr! k n {:ttl-ms n})
//                                          adds n (1) to the integer at k (0
//                                          if absent), atomically; the sum
//   (store/swap! k f & args)               core.lisp, on entry and cas! below
//   (store/keys)                           the keys, in no order
//   (store/clear!)                         removes everything
//
// Keys are strings, keywords or integers; values are data (value_codec.h),
// copied in and out, so a value read is the reader's own.
#include "lisp/builtins.h"
#include "lisp/collections.h"
#include "lisp/isolate.h"
#include "lisp/printer.h"
#include "lisp/shared_store.h"
#include "lisp/value_codec.h"

namespace valk::lisp {
namespace {

bool key_arg(Isolate& iso, const char* fn, Value k, std::string* out, Value* raised) {
  std::string unused;
  if (!(k.is(Tag::String) || k.is(Tag::Keyword) || k.is(Tag::Int)) ||
      !encode_value(k, out, &unused)) {
    *raised = iso.type_error(fn, "a key (a string, keyword or integer)", k);
    return false;
  }
  return true;
}

bool value_arg(Isolate& iso, const char* fn, Value v, std::string* out, Value* raised) {
  std::string what;
  if (!encode_value(v, out, &what)) {
    *raised =
        iso.raise_error("type-error", std::string(fn) + ": only data can be stored, not " + what +
                                          " (nil, booleans, numbers, strings, " +
                                          "keywords, symbols, bytes and collections of them)");
    return false;
  }
  return true;
}

// The :ttl-ms of nil or an options map, in *ttl_ms.
bool ttl_arg(Isolate& iso, const char* fn, Value opts, uint64_t* ttl_ms, Value* raised) {
  *ttl_ms = 0;
  if (opts.is_nil()) {
    return true;
  }
  Value ttl = Value::nil();
  if (!opts.is(Tag::Map) || map_count(opts) != 1 ||
      !map_find(opts, iso.heap().keyword("ttl-ms"), &ttl)) {
    *raised = iso.type_error(fn, "an options map of :ttl-ms", opts);
    return false;
  }
  if (!ttl.is(Tag::Int) || ttl.i <= 0) {
    *raised = iso.type_error(fn, "a :ttl-ms of a positive integer", ttl);
    return false;
  }
  *ttl_ms = static_cast<uint64_t>(ttl.i);
  return true;
}

// A write refused for the store's limit (SharedStore::set_max_bytes).
Value full_error(Isolate& iso, const char* fn) {
  SharedStore& store = SharedStore::process();
  return iso.raise_error("store-full", std::string(fn) + ": the shared store is full (" +
                                           std::to_string(store.stats().bytes) + " bytes of " +
                                           std::to_string(store.max_bytes()) +
                                           ": :store-max-bytes)");
}

Value n_get(Isolate& iso, Value* args, int argc) {
  std::string key;
  Value raised;
  if (!key_arg(iso, "store/get", args[0], &key, &raised)) {
    return raised;
  }
  Value v = argc > 1 ? args[1] : Value::nil();
  SharedStore::process().read(
      key, [&](std::string_view value, uint64_t) { v = decode_value(iso.heap(), value); });
  return v;
}

Value n_put(Isolate& iso, Value* args, int argc) {
  std::string key, value;
  uint64_t ttl_ms;
  Value raised;
  if (!key_arg(iso, "store/put!", args[0], &key, &raised) ||
      !ttl_arg(iso, "store/put!", argc > 2 ? args[2] : Value::nil(), &ttl_ms, &raised)) {
    return raised;
  }
  if (args[1].is_nil()) {
    SharedStore::process().erase(key);
    return Value::nil();
  }
  if (!value_arg(iso, "store/put!", args[1], &value, &raised)) {
    return raised;
  }
  if (SharedStore::process().put(key, std::move(value), ttl_ms) == SharedStore::Put::kFull) {
    return full_error(iso, "store/put!");
  }
  return args[1];
}

Value n_delete(Isolate& iso, Value* args, int) {
  std::string key;
  Value raised;
  if (!key_arg(iso, "store/delete!", args[0], &key, &raised)) {
    return raised;
  }
  return Value::boolean(SharedStore::process().erase(key));
}

Value n_incr(Isolate& iso, Value* args, int argc) {
  std::string key;
  uint64_t ttl_ms;
  Value raised;
  if (!key_arg(iso, "store/incr!", args[0], &key, &raised) ||
      !ttl_arg(iso, "store/incr!", argc > 2 ? args[2] : Value::nil(), &ttl_ms, &raised)) {
    return raised;
  }
  Value by = argc > 1 ? args[1] : Value::integer(1);
  if (!by.is(Tag::Int)) {
    return iso.type_error("store/incr!", "an integer", by);
  }
  // Read, add and write back in one step under the entry's lock.
  enum { kAdded, kNotInteger, kOverflow } outcome = kAdded;
  int64_t sum = 0;
  SharedStore::Put put = SharedStore::process().update(
      key, ttl_ms, [&](std::optional<std::string_view> old, std::string* out) {
        int64_t now = 0;
        if (old) {
          Value v = decode_value(iso.heap(), *old);  // an integer allocates nothing
          if (!v.is(Tag::Int)) {
            outcome = kNotInteger;
            return false;
          }
          now = v.i;
        }
        if (__builtin_add_overflow(now, by.i, &sum)) {
          outcome = kOverflow;
          return false;
        }
        std::string unused;
        return encode_value(Value::integer(sum), out, &unused);
      });
  if (outcome == kNotInteger) {
    return iso.raise_error("type-error", "store/incr!: the value at " + print_str(args[0], true) +
                                             " is not an integer");
  }
  if (outcome == kOverflow) {
    return iso.raise_error("arithmetic-error", "store/incr!: integer overflow");
  }
  if (put == SharedStore::Put::kFull) {
    return full_error(iso, "store/incr!");
  }
  return Value::integer(sum);
}

Value n_keys(Isolate& iso, Value*, int) {
  std::vector<std::string> keys;
  SharedStore::process().each(
      [&](std::string_view key, std::string_view) { keys.emplace_back(key); });
  std::vector<Value> items;
  items.reserve(keys.size());
  for (const std::string& k : keys) {
    items.push_back(decode_value(iso.heap(), k));
  }
  return vector_from(iso.heap(), items.data(), items.size());
}

Value n_clear(Isolate&, Value*, int) {
  SharedStore::process().clear();
  return Value::nil();
}

// (valk.store/entry k): [value version], version 0 if k is absent.
Value n_entry(Isolate& iso, Value* args, int) {
  std::string key;
  Value raised;
  if (!key_arg(iso, "store/swap!", args[0], &key, &raised)) {
    return raised;
  }
  Value pair[2] = {Value::nil(), Value::integer(0)};
  SharedStore::process().read(key, [&](std::string_view value, uint64_t version) {
    pair[0] = decode_value(iso.heap(), value);
    pair[1] = Value::integer(static_cast<int64_t>(version));
  });
  return vector_from(iso.heap(), pair, 2);
}

// (valk.store/cas! k version v): sets k to v (nil: removes it) if its
// version is still `version`; false if another write came first.
Value n_cas(Isolate& iso, Value* args, int) {
  std::string key, value;
  Value raised;
  if (!key_arg(iso, "store/swap!", args[0], &key, &raised)) {
    return raised;
  }
  if (!args[1].is(Tag::Int)) {
    return iso.type_error("valk.store/cas!", "a version", args[1]);
  }
  std::optional<std::string> stored;
  if (!args[2].is_nil()) {
    if (!value_arg(iso, "store/swap!", args[2], &value, &raised)) {
      return raised;
    }
    stored = std::move(value);
  }
  SharedStore::Put put = SharedStore::process().compare_and_put(
      key, static_cast<uint64_t>(args[1].i), std::move(stored));
  if (put == SharedStore::Put::kFull) {
    return full_error(iso, "store/swap!");
  }
  return Value::boolean(put == SharedStore::Put::kStored);
}

}  // namespace

void register_store_natives(Isolate& iso) {
  iso.define_native("store/get", n_get, 1, 2);
  iso.define_native("store/put!", n_put, 2, 3);
  iso.define_native("store/delete!", n_delete, 1, 1);
  iso.define_native("store/incr!", n_incr, 1, 3);
  iso.define_native("store/keys", n_keys, 0, 0);
  iso.define_native("store/clear!", n_clear, 0, 0);
  iso.define_native("valk.store/entry", n_entry, 1, 1);
  iso.define_native("valk.store/cas!", n_cas, 3, 3);
}

}  // namespace valk::lisp
