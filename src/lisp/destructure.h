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

// Parameters that are patterns become generated names (replaced in
// *params), taken apart by a let around the body: (fn [[a b]] body) is
// (fn [p] (let [[a b] p] body)). A map pattern after & reads the rest
// arguments as key/value pairs. Returns the let form.
Value unpack_params(Isolate& iso, std::vector<Value>* params, const std::vector<Value>& body);

// (loop [[a b] init] body...) is (loop [g init] (let [[a b] g] body...)),
// so that recur rebinds the generated names. Takes the loop's binding
// pairs and its arguments (bindings vector, then the body); returns the
// new arguments.
std::vector<Value> loop_without_patterns(Isolate& iso, const std::vector<Value>& bindings,
                                         const std::vector<Value>& loop_args);

}  // namespace valk::lisp
