// String natives: Clojure's clojure.string functions (unqualified here),
// `subs`, `format`, `parse-long`, `parse-double` and `string?`.
//
// Strings are UTF-8 and every index is in code points, as `count` is.
// Separators and patterns are strings: there are no regular expressions.
// All of these are leaf natives: they allocate but never call Lisp.
#include <charconv>
#include <cmath>
#include <cstdio>
#include <limits>
#include <string>
#include <string_view>

#include "lisp/builtins.h"
#include "lisp/collections.h"
#include "lisp/isolate.h"
#include "lisp/printer.h"
#include "lisp/text.h"
#include "lisp/utf8.h"

namespace valk::lisp {
namespace {

String* as_string(Value v) {
  return static_cast<String*>(v.o);
}
std::string_view view(Value v) {
  return as_string(v)->view();
}

// Code point index of byte offset `byte` in `s`.
int64_t char_index(std::string_view s, size_t byte) {
  return static_cast<int64_t>(utf8_count(s.substr(0, byte)));
}

// Raises a type error unless every one of args[0..n) is a string.
bool strings(Isolate& iso, const char* fn, Value* args, int n, Value* raised) {
  for (int i = 0; i < n; i++) {
    if (!args[i].is(Tag::String)) {
      *raised = iso.type_error(fn, "a string", args[i]);
      return false;
    }
  }
  return true;
}

// ---------------------------------------------------------------------------
// subs, index-of, last-index-of

// (subs s start) (subs s start end): code points [start, end).
Value n_subs(Isolate& iso, Value* args, int argc) {
  Value raised;
  if (!strings(iso, "subs", args, 1, &raised)) {
    return raised;
  }
  for (int i = 1; i < argc; i++) {
    if (!args[i].is_int()) {
      return iso.type_error("subs", "an integer index", args[i]);
    }
  }
  String* s = as_string(args[0]);
  int64_t count = s->char_count;
  int64_t start = args[1].i;
  int64_t end = argc == 3 ? args[2].i : count;
  if (start < 0 || end > count || start > end) {
    return iso.raise_error("index-error", "subs: range [" + std::to_string(start) + ", " +
                                              std::to_string(end) +
                                              ") is out of bounds for a string of " +
                                              std::to_string(count) + " characters");
  }
  std::string_view text = s->view();
  if (s->is_ascii()) {
    return iso.heap().string(text.substr(start, end - start));
  }
  size_t b = utf8_offset(text, start);
  size_t e = b + utf8_offset(text.substr(b), end - start);
  return iso.heap().string(text.substr(b, e - b));
}

// (index-of s value) (index-of s value from): the code point index of the
// first occurrence at or after `from`, or nil.
Value n_index_of(Isolate& iso, Value* args, int argc) {
  Value raised;
  if (!strings(iso, "index-of", args, 2, &raised)) {
    return raised;
  }
  if (argc == 3 && !args[2].is_int()) {
    return iso.type_error("index-of", "an integer index", args[2]);
  }
  std::string_view s = view(args[0]);
  int64_t from = argc == 3 ? args[2].i : 0;
  if (from < 0) {
    from = 0;
  }
  if (from > static_cast<int64_t>(as_string(args[0])->char_count)) {
    return Value::nil();
  }
  size_t at = s.find(view(args[1]), utf8_offset(s, static_cast<size_t>(from)));
  return at == std::string_view::npos ? Value::nil() : Value::integer(char_index(s, at));
}

// (last-index-of s value) (last-index-of s value from): the code point
// index of the last occurrence starting at or before `from`, or nil.
Value n_last_index_of(Isolate& iso, Value* args, int argc) {
  Value raised;
  if (!strings(iso, "last-index-of", args, 2, &raised)) {
    return raised;
  }
  if (argc == 3 && !args[2].is_int()) {
    return iso.type_error("last-index-of", "an integer index", args[2]);
  }
  std::string_view s = view(args[0]);
  size_t from = std::string_view::npos;
  if (argc == 3) {
    if (args[2].i < 0) {
      return Value::nil();
    }
    from = utf8_offset(s, static_cast<size_t>(args[2].i));
  }
  size_t at = s.rfind(view(args[1]), from);
  return at == std::string_view::npos ? Value::nil() : Value::integer(char_index(s, at));
}

// ---------------------------------------------------------------------------
// Predicates

Value n_starts_with(Isolate& iso, Value* args, int argc) {
  Value raised;
  if (!strings(iso, "starts-with?", args, 2, &raised)) {
    return raised;
  }
  return Value::boolean(view(args[0]).starts_with(view(args[1])));
}

Value n_ends_with(Isolate& iso, Value* args, int argc) {
  Value raised;
  if (!strings(iso, "ends-with?", args, 2, &raised)) {
    return raised;
  }
  return Value::boolean(view(args[0]).ends_with(view(args[1])));
}

Value n_includes(Isolate& iso, Value* args, int argc) {
  Value raised;
  if (!strings(iso, "includes?", args, 2, &raised)) {
    return raised;
  }
  return Value::boolean(view(args[0]).find(view(args[1])) != std::string_view::npos);
}

// (blank? s): true for nil and for strings of whitespace only.
Value n_blank(Isolate& iso, Value* args, int argc) {
  if (args[0].is_nil()) {
    return Value::boolean(true);
  }
  Value raised;
  if (!strings(iso, "blank?", args, 1, &raised)) {
    return raised;
  }
  std::string_view s = view(args[0]);
  return Value::boolean(trim_start(s) == s.size());
}

Value n_string_p(Isolate& iso, Value* args, int argc) {
  return Value::boolean(args[0].is(Tag::String));
}

// ---------------------------------------------------------------------------
// Case and whitespace

Value n_upper_case(Isolate& iso, Value* args, int argc) {
  Value raised;
  if (!strings(iso, "upper-case", args, 1, &raised)) {
    return raised;
  }
  return iso.heap().string(map_case(view(args[0]), true));
}

Value n_lower_case(Isolate& iso, Value* args, int argc) {
  Value raised;
  if (!strings(iso, "lower-case", args, 1, &raised)) {
    return raised;
  }
  return iso.heap().string(map_case(view(args[0]), false));
}

// (capitalize s): the first character upper-case, the rest lower-case.
Value n_capitalize(Isolate& iso, Value* args, int argc) {
  Value raised;
  if (!strings(iso, "capitalize", args, 1, &raised)) {
    return raised;
  }
  std::string_view s = view(args[0]);
  size_t first = utf8_offset(s, 1);
  return iso.heap().string(map_case(s.substr(0, first), true) + map_case(s.substr(first), false));
}

Value n_trim(Isolate& iso, Value* args, int argc) {
  Value raised;
  if (!strings(iso, "trim", args, 1, &raised)) {
    return raised;
  }
  std::string_view s = view(args[0]);
  size_t b = trim_start(s);
  size_t e = trim_end(s);
  return b >= e ? iso.heap().string("") : iso.heap().string(s.substr(b, e - b));
}

Value n_triml(Isolate& iso, Value* args, int argc) {
  Value raised;
  if (!strings(iso, "triml", args, 1, &raised)) {
    return raised;
  }
  std::string_view s = view(args[0]);
  return iso.heap().string(s.substr(trim_start(s)));
}

Value n_trimr(Isolate& iso, Value* args, int argc) {
  Value raised;
  if (!strings(iso, "trimr", args, 1, &raised)) {
    return raised;
  }
  std::string_view s = view(args[0]);
  return iso.heap().string(s.substr(0, trim_end(s)));
}

// (trim-newline s): removes every trailing \n and \r.
Value n_trim_newline(Isolate& iso, Value* args, int argc) {
  Value raised;
  if (!strings(iso, "trim-newline", args, 1, &raised)) {
    return raised;
  }
  std::string_view s = view(args[0]);
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) {
    s.remove_suffix(1);
  }
  return iso.heap().string(s);
}

// ---------------------------------------------------------------------------
// split, split-lines, join, replace

Value string_vector(Isolate& iso, const std::vector<std::string_view>& parts) {
  std::vector<Value> items;
  items.reserve(parts.size());
  for (std::string_view p : parts) {
    items.push_back(iso.heap().string(p));
  }
  return vector_from(iso.heap(), items.data(), items.size());
}

// (split s sep) (split s sep limit), as Java's String.split with `sep`
// taken literally: without a positive limit, trailing empty strings are
// dropped; an empty separator splits between characters.
Value n_split(Isolate& iso, Value* args, int argc) {
  Value raised;
  if (!strings(iso, "split", args, 2, &raised)) {
    return raised;
  }
  if (argc == 3 && !args[2].is_int()) {
    return iso.type_error("split", "an integer limit", args[2]);
  }
  int64_t limit = argc == 3 ? args[2].i : 0;
  return string_vector(iso, split_parts(view(args[0]), view(args[1]), limit));
}

// (split-lines s): splits on \n and \r\n, dropping trailing empty lines.
Value n_split_lines(Isolate& iso, Value* args, int argc) {
  Value raised;
  if (!strings(iso, "split-lines", args, 1, &raised)) {
    return raised;
  }
  std::vector<std::string_view> parts = split_parts(view(args[0]), "\n", 0);
  for (std::string_view& p : parts) {
    if (!p.empty() && p.back() == '\r') {
      p.remove_suffix(1);
    }
  }
  while (parts.size() > 1 && parts.back().empty()) {
    parts.pop_back();
  }
  return string_vector(iso, parts);
}

// Calls f on each element of a list, vector, set, map (entries as [k v]),
// string (characters) or nil; false if `coll` is none of those.
bool each_element(Isolate& iso, Value coll, const std::function<void(Value)>& f) {
  switch (coll.tag) {
    case Tag::Nil:
      return true;
    case Tag::List:
      for (Value p = coll; p.o != nullptr; p = static_cast<Cons*>(p.o)->rest) {
        f(static_cast<Cons*>(p.o)->first);
      }
      return true;
    case Tag::Vector:
      vector_each(coll, [&](Value x) {
        f(x);
        return true;
      });
      return true;
    case Tag::Set:
      set_each(coll, [&](Value x) {
        f(x);
        return true;
      });
      return true;
    case Tag::Map:
      map_each(coll, [&](Value k, Value v) {
        Value kv[2] = {k, v};
        f(vector_from(iso.heap(), kv, 2));
        return true;
      });
      return true;
    case Tag::String: {
      std::string_view s = view(coll);
      for (size_t i = 0; i < s.size();) {
        size_t n = utf8_offset(s.substr(i), 1);
        f(iso.heap().string(s.substr(i, n)));
        i += n;
      }
      return true;
    }
    default:
      return false;
  }
}

// (join coll) (join sep coll): the elements as `str` shows them.
Value n_join(Isolate& iso, Value* args, int argc) {
  Value coll = args[argc - 1];
  std::string sep;
  if (argc == 2) {
    print_for_str(sep, args[0]);
  }
  std::string out;
  bool first = true;
  size_t left = iso.allocation_left();
  bool over = false;
  bool ok = each_element(iso, coll, [&](Value x) {
    if (over) {
      return;
    }
    if (!first) {
      out += sep;
    }
    first = false;
    over = !print_for_str(out, x, left);
  });
  if (!ok) {
    return iso.type_error("join", "a collection", coll);
  }
  if (over) {
    iso.may_allocate("join", out.size());  // raises
    return Value::sentinel(Tag::Exception);
  }
  return iso.heap().string(out);
}

// (replace s match replacement): every occurrence, literally. An empty
// match inserts the replacement between characters and at both ends.
Value n_replace(Isolate& iso, Value* args, int argc) {
  Value raised;
  if (!strings(iso, "replace", args, 3, &raised)) {
    return raised;
  }
  std::string_view s = view(args[0]);
  std::string_view match = view(args[1]);
  std::string_view repl = view(args[2]);
  // The result's size, against the allocation budget before it is made:
  // a long replacement of a frequent match multiplies.
  size_t matches = 0;
  if (match.empty()) {
    matches = utf8_count(s) + 1;
  } else {
    for (size_t at = s.find(match); at != std::string_view::npos;
         at = s.find(match, at + match.size())) {
      matches++;
    }
  }
  if (!iso.may_allocate("replace", s.size() + matches * repl.size())) {
    return Value::sentinel(Tag::Exception);
  }
  std::string out;
  if (match.empty()) {
    out += repl;
    for (size_t i = 0; i < s.size();) {
      size_t n = utf8_offset(s.substr(i), 1);
      out += s.substr(i, n);
      out += repl;
      i += n;
    }
    return iso.heap().string(out);
  }
  size_t from = 0;
  for (size_t at; (at = s.find(match, from)) != std::string_view::npos; from = at + match.size()) {
    out += s.substr(from, at - from);
    out += repl;
  }
  out += s.substr(from);
  return iso.heap().string(out);
}

// ---------------------------------------------------------------------------
// format, parse-long, parse-double

// (format fmt & args): printf-style, see format_text.
Value n_format(Isolate& iso, Value* args, int argc) {
  Value raised;
  if (!strings(iso, "format", args, 1, &raised)) {
    return raised;
  }
  std::string out;
  FormatError err;
  if (!format_text(view(args[0]), args + 1, argc - 1, &out, &err)) {
    return iso.raise_error(err.type_error ? "type-error" : "format-error",
                           "format: " + err.message);
  }
  return iso.heap().string(out);
}

// (parse-long s): the integer `s` spells ([+-]?[0-9]+, within int64), or
// nil.
Value n_parse_long(Isolate& iso, Value* args, int argc) {
  Value raised;
  if (!strings(iso, "parse-long", args, 1, &raised)) {
    return raised;
  }
  int64_t v;
  return parse_long_text(view(args[0]), &v) ? Value::integer(v) : Value::nil();
}

// (parse-double s): the double `s` spells, or nil. Accepts what Java's
// Double/parseDouble does for decimal text: surrounding whitespace, a
// sign, "1.", ".5", exponents, Infinity and NaN.
Value n_parse_double(Isolate& iso, Value* args, int argc) {
  Value raised;
  if (!strings(iso, "parse-double", args, 1, &raised)) {
    return raised;
  }
  double v;
  return parse_double_text(view(args[0]), &v) ? Value::number(v) : Value::nil();
}

// (bytes->string b): the text of UTF-8 bytes (a request body's chunks, for
// one); an :encoding-error when they are not UTF-8, which a chunk cut in
// the middle of a character is not.
Value n_bytes_to_string(Isolate& iso, Value* args, int) {
  if (!args[0].is(Tag::Bytes)) {
    return iso.type_error("bytes->string", "bytes", args[0]);
  }
  auto* b = static_cast<Bytes*>(args[0].o);
  std::string_view text(reinterpret_cast<const char*>(b->data), b->size);
  if (!utf8_valid(text)) {
    return iso.raise_error("encoding-error", "bytes->string: the bytes are not valid UTF-8");
  }
  return iso.heap().string(text);
}

// (string->bytes s): the UTF-8 bytes of `s`.
Value n_string_to_bytes(Isolate& iso, Value* args, int) {
  Value raised;
  if (!strings(iso, "string->bytes", args, 1, &raised)) {
    return raised;
  }
  std::string_view text = view(args[0]);
  return val(iso.heap().make_bytes(reinterpret_cast<const uint8_t*>(text.data()), text.size()));
}

}  // namespace

void register_string_natives(Isolate& iso) {
  iso.define_native("bytes->string", n_bytes_to_string, 1, 1);
  iso.define_native("string->bytes", n_string_to_bytes, 1, 1);
  iso.define_native("subs", n_subs, 2, 3);
  iso.define_native("index-of", n_index_of, 2, 3);
  iso.define_native("last-index-of", n_last_index_of, 2, 3);
  iso.define_native("starts-with?", n_starts_with, 2, 2);
  iso.define_native("ends-with?", n_ends_with, 2, 2);
  iso.define_native("includes?", n_includes, 2, 2);
  iso.define_native("blank?", n_blank, 1, 1);
  iso.define_native("string?", n_string_p, 1, 1);
  iso.define_native("upper-case", n_upper_case, 1, 1);
  iso.define_native("lower-case", n_lower_case, 1, 1);
  iso.define_native("capitalize", n_capitalize, 1, 1);
  iso.define_native("trim", n_trim, 1, 1);
  iso.define_native("triml", n_triml, 1, 1);
  iso.define_native("trimr", n_trimr, 1, 1);
  iso.define_native("trim-newline", n_trim_newline, 1, 1);
  iso.define_native("split", n_split, 2, 3);
  iso.define_native("split-lines", n_split_lines, 1, 1);
  iso.define_native("join", n_join, 1, 2);
  iso.define_native("replace", n_replace, 3, 3);
  iso.define_native("format", n_format, 1, -1);
  iso.define_native("parse-long", n_parse_long, 1, 1);
  iso.define_native("parse-double", n_parse_double, 1, 1);
}

}  // namespace valk::lisp
