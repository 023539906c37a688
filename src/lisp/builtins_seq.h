// Internals shared by builtins_collections.cc and builtins_seq.cc.
#pragma once

#include "lisp/value.h"

namespace valk::lisp {

class Isolate;

// Registers the sequence natives (first, rest, concat, range, sort, ...);
// called by register_collection_natives.
void register_seq_natives(Isolate& iso);

// (conj coll x) for one item: prepends to a list (or nil), appends to a
// vector, adds to a set, and adds a [k v] vector or merges a map into a
// map (nil adds nothing). Returns false with a type-error raised for
// anything else.
bool conj_one(Isolate& iso, Value coll, Value x, Value* out);

// Clojure's compare (builtins_core.cc): sets *out to -1, 0 or 1, or returns
// false with a type-error raised for values that do not compare.
bool compare_values(Isolate& iso, Value a, Value b, int* out);

}  // namespace valk::lisp
