// JSON (RFC 8259) to and from valk values.
//
//   JSON            valk (parse)                 valk (write)
//   object          map, keyword keys (default)  map; keys: keyword → its name
//                   or string keys (option)      without ':', string as is,
//                                                anything else its printed form
//   array           vector                       vector, list, set
//   string          string                       string
//   number          int when integral and in     int, double (shortest text
//                   int64 range, else double     that reads back the same)
//   true/false      true/false                   true/false
//   null            nil                          nil
//
// The parser is strict: no comments, trailing commas, leading zeros, NaN or
// Infinity, single quotes, unescaped control characters, lone surrogates
// (escaped or not), byte order marks or invalid UTF-8. A number with a
// fraction or an exponent is always a double, so a double written with
// json_write (which always spells one with '.' or 'e') reads back as a
// double and `(= x (json/parse (json/write x)))` holds for any writable
// value whose maps have keyword keys and whose sequences are vectors.
//
// Both directions are iterative: depth costs heap memory, not C++ stack.
// The parser still limits depth (JsonParseOptions::max_depth) because
// other code may walk the result recursively and because a deeply nested
// document from a client is an attack, not data.
//
// Thread affinity: json_parse runs on the heap's thread; json_write touches
// no heap and may run on any thread that can safely read `v` (values are
// immutable, so any thread while the owning isolate cannot collect).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "lisp/heap.h"
#include "lisp/value.h"

namespace valk::lisp {

struct JsonParseOptions {
  // Object keys become keywords (interned; keywords are collected like any
  // other object, so hostile keys cannot leak). False keeps them strings.
  bool keywordize = true;
  // Arrays and objects nested deeper than this are an error. The top-level
  // value is at depth 1 if it is an array or an object.
  size_t max_depth = 512;
};

struct JsonError {
  // What is wrong, without the position: "expected ',' or '}' after object
  // member".
  std::string message;
  // Where: the offending character, or the start of an unterminated string,
  // or the end of the input when it ends too early.
  size_t offset = 0;    // in bytes
  uint32_t line = 0;    // 1-based
  uint32_t column = 0;  // 1-based, in code points

  // "message at line:column".
  std::string to_string() const;
};

// Parses `text`, which must hold exactly one JSON value (surrounded by
// optional whitespace). On success stores it in *out and returns true; on
// failure fills *err (when non-null) and returns false, leaving *out
// untouched. Texts of 4 GiB or more are rejected (valk strings are
// smaller).
//
// Allocates on `heap` but never collects: the result is unrooted, so the
// caller must root it before anything can collect (in a native, returning
// it is enough).
bool json_parse(Heap& heap, std::string_view text, const JsonParseOptions& options, Value* out,
                JsonError* err);

struct JsonWriteOptions {
  // Two-space indentation, one member or element a line, "key": value.
  bool pretty = false;
  // Write '/' as "\/" and U+2028/U+2029 as escapes, so the text can sit in
  // an HTML <script> element or a JavaScript string.
  bool escape_slash = false;
  // Stop, failing, once *out is longer: a structure holding one large
  // value many times is gigabytes of text (json/write passes what the
  // fiber's allocation budget has left).
  size_t max_bytes = SIZE_MAX;
};

// Appends the JSON text of `v` to *out. Returns false (with *err set to a
// message such as "cannot write a value of type atom as JSON (at
// [:users 3])" when err is non-null) for values JSON cannot express:
// functions, atoms, promises, bytes and other non-data types, NaN and
// infinities, and strings that are not valid UTF-8, and once *out passes
// options.max_bytes. On failure *out holds a partial text; callers discard
// it.
bool json_write(Value v, const JsonWriteOptions& options, std::string* out, std::string* err);

}  // namespace valk::lisp
