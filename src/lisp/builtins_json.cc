// JSON natives: json/parse and json/write, thin wrappers over json.h.
//
//   (json/parse s)                      keyword keys
//   (json/parse s {:keywordize false})  string keys
//   (json/parse s {:max-depth 64})      tighter nesting limit
//   (json/write v)                      compact text
//   (json/write v {:pretty true :escape-slash true})
//
// json/parse accepts a string or bytes (a request body). Both raise errors
// of :type :json-error; a parse error's data also holds :line, :column
// (1-based, code points) and :offset (bytes).
#include <string>

#include "lisp/builtins.h"
#include "lisp/collections.h"
#include "lisp/isolate.h"
#include "lisp/json.h"

namespace valk::lisp {
namespace {

// Looks `name` up in the options map `opts`; false when absent.
bool option(Isolate& iso, Value opts, std::string_view name, Value* out) {
  return map_find(opts, iso.heap().keyword(name), out);
}

Value n_json_parse(Isolate& iso, Value* args, int argc) {
  std::string_view text;
  if (!text_or_bytes(args[0], &text)) {
    return iso.type_error("json/parse", "a string or bytes", args[0]);
  }
  JsonParseOptions options;
  if (argc > 1 && !args[1].is_nil()) {
    if (!args[1].is(Tag::Map)) {
      return iso.type_error("json/parse", "an options map as the second argument", args[1]);
    }
    Value v;
    if (option(iso, args[1], "keywordize", &v)) {
      options.keywordize = v.truthy();
    }
    if (option(iso, args[1], "max-depth", &v)) {
      if (!v.is_int() || v.i < 1) {
        return iso.type_error("json/parse", "a positive int as :max-depth", v);
      }
      options.max_depth = static_cast<size_t>(v.i);
    }
  }
  Value out;
  JsonError err;
  if (!json_parse(iso.heap(), text, options, &out, &err)) {
    Heap& h = iso.heap();
    Value kvs[] = {h.keyword("line"),   Value::integer(err.line),
                   h.keyword("column"), Value::integer(err.column),
                   h.keyword("offset"), Value::integer(static_cast<int64_t>(err.offset))};
    return iso.raise_error("json-error", "json/parse: " + err.to_string(), map_from(h, kvs, 3));
  }
  return out;
}

Value n_json_write(Isolate& iso, Value* args, int argc) {
  JsonWriteOptions options;
  if (argc > 1 && !args[1].is_nil()) {
    if (!args[1].is(Tag::Map)) {
      return iso.type_error("json/write", "an options map as the second argument", args[1]);
    }
    Value v;
    if (option(iso, args[1], "pretty", &v)) {
      options.pretty = v.truthy();
    }
    if (option(iso, args[1], "escape-slash", &v)) {
      options.escape_slash = v.truthy();
    }
  }
  std::string out;
  std::string err;
  options.max_bytes = iso.allocation_left();
  if (!json_write(args[0], options, &out, &err)) {
    if (out.size() > options.max_bytes) {
      iso.may_allocate("json/write", out.size());  // raises
      return Value::sentinel(Tag::Exception);
    }
    return iso.raise_error("json-error", "json/write: " + err);
  }
  return iso.heap().string(out);
}

}  // namespace

void register_json_natives(Isolate& iso) {
  iso.define_native("json/parse", n_json_parse, 1, 2);
  iso.define_native("json/write", n_json_write, 1, 2);
}

}  // namespace valk::lisp
