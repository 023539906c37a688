// Printing values as text: `pr-str` (readable) and `str`/`println`.
#pragma once

#include <cstdint>
#include <string>

#include "lisp/value.h"

namespace valk::lisp {

// Appends the printed form of `v` to `out`.
//
// readably=true is `pr-str`: strings are quoted and escaped so that
// `read-string` reads the text back to an equal value (for nil, booleans,
// numbers, strings, symbols, keywords and collections of those).
// readably=false is `print`/`println`: strings appear raw at every depth
// (`[a]` for ["a"]). Clojure's `str` differs: it prints a top-level string
// raw and nil as "", but collections readably (`(str ["a"])` is `["a"]`);
// `str` gets that with print_for_str.
//
// Never recurses on the C++ stack for nested collections, so any depth is
// safe. An atom whose contents lead back to atoms more than a few levels
// deep prints `#<atom ...>`, which also cuts cycles through atoms. Never
// allocates on a Lisp heap; safe to call from any native.
//
// Stops, returning false, once `out` has grown past `limit` bytes: a
// structure that holds one large value many times prints as gigabytes.
bool print_to(std::string& out, Value v, bool readably, size_t limit = SIZE_MAX);

// The printed form of `v` as a new string (see print_to).
std::string print_str(Value v, bool readably);

// Appends what Clojure's `str` makes of one argument: nothing for nil, a
// string's text raw, anything else printed readably; false (as print_to)
// once `out` is past `limit` bytes.
bool print_for_str(std::string& out, Value v, size_t limit = SIZE_MAX);

}  // namespace valk::lisp
