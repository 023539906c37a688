// Destructuring, as Clojure has it, in the bindings of let, loop and fn:
//
//   [a b & more :as all]       by position (nth), the rest as a seq
//   {a :a, b "b", :keys [c d], :strs [e], :syms [f], :or {c 0}, :as m}
//                              by key (get), with defaults for missing keys
//
// Patterns nest. The compiler rewrites a pattern into plain bindings of
// generated names before compiling, so the VM never sees one.
#pragma once

#include <string>
#include <vector>

#include "lisp/isolate.h"

namespace valk::lisp {

// A binding target that is a pattern (a vector or a map) rather than a name.
inline bool is_pattern(Value target) {
  return target.is(Tag::Vector) || target.is(Tag::Map);
}

// Rewrites binding pairs (target, init) whose targets may be patterns into
// pairs whose targets are all symbols, appended to *out. False with a
// message on a malformed pattern.
bool destructure(Isolate& iso, const std::vector<Value>& pairs, std::vector<Value>* out,
                 std::string* error);

// A fresh name for a value a pattern takes apart.
Value destructure_name(Isolate& iso, const char* prefix);

}  // namespace valk::lisp
