// The valk Lisp reader: Clojure syntax in, Values out.
//
// Lists are built with Heap::list, vectors, maps and sets with the
// functions of collections.h. Every non-empty list and every vector, map
// and set the reader builds gets its SourcePos (the position of its opening
// delimiter or reader macro) recorded with Heap::set_position, so the
// compiler and error messages can point at source. Lines and columns are
// 1-based and columns count code points, not bytes.
//
// Reader macros and their expansions:
//   'x  (quote x)            `x  (syntax-quote x)     @x  (deref x)
//   ~x  (unquote x)          ~@x (unquote-splicing x)  #_x (nothing)
//   #(+ % %2 %&)  (fn [%1 %2 & %&] (+ %1 %2 %&))
//   \a \newline \space \tab \uXXXX: one-character strings (no char type)
//   ##Inf ##-Inf ##NaN: doubles
//
// The reader is iterative: nesting depth costs heap memory, not C++ stack.
// Forms nested deeper than kMaxReadDepth are still rejected with an error,
// because later stages (the compiler, the printer) may walk forms
// recursively.
//
// Thread affinity: the heap's thread. The reader allocates but never runs
// Lisp code, so no collection happens while it runs; the returned Values
// are unrooted and the caller must root them before anything can collect.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "lisp/heap.h"
#include "lisp/object.h"
#include "lisp/value.h"

namespace valk::lisp {

// Collections, quote forms and discards nested deeper than this are an
// error.
constexpr size_t kMaxReadDepth = 10000;

struct ReadError {
  // A complete sentence fragment that names the problem and, where another
  // place in the source matters (the start of an unterminated string), that
  // place too: "unterminated string starting at 3:5".
  std::string message;
  // Where the problem is: the offending character or token, or the start
  // of the form that the input ended inside.
  SourcePos pos;
  // True when the input ended inside a form: more input could complete it.
  bool incomplete = false;

  // "file:line:column: message".
  std::string to_string(const Heap& heap) const;
};

struct ReadResult {
  bool ok = false;
  std::vector<Value> forms;  // every top-level form, in order (when ok)
  ReadError error;           // the first error (when !ok)
};

// Reads every top-level form of `source`. `file_name` names the source in
// positions (through Heap::file_id). On error, returns the first one and
// no forms. Input must be valid UTF-8; sources of 4 GiB or more are
// rejected.
ReadResult read_all(Heap& heap, std::string_view source, std::string_view file_name);

enum class ReadStatus : uint8_t {
  Ok,          // `form` holds the next form; `end` is just past it
  End,         // only whitespace and comments were left
  Incomplete,  // the input ends inside a form; the REPL should read more
  Error,       // `error` says what is wrong
};

struct ReadOneResult {
  ReadStatus status = ReadStatus::End;
  Value form;
  size_t end = 0;  // byte offset where the next read_one should start
  ReadError error;
};

// Reads the one form that starts at byte `offset` of `source` (after
// whitespace and comments), for the REPL: it reports input that ends
// inside a form as Incomplete rather than as an error, so the caller can
// append a line and call again with the same offset. Positions are
// relative to the start of `source`. `offset` must be at most
// source.size() and at a code point boundary (0 or a previous `end`).
ReadOneResult read_one(Heap& heap, std::string_view source, std::string_view file_name,
                       size_t offset = 0);

}  // namespace valk::lisp
