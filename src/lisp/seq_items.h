// Turning any seqable value into its elements, for the sequence natives.
#pragma once

#include <vector>

#include "lisp/heap.h"
#include "lisp/value.h"

namespace valk::lisp {

// True for the values `seq` accepts: nil, lists, vectors, maps, sets and
// strings.
bool is_seqable(Value v);

// Appends the elements of `coll` to `out` in sequence order: nothing for
// nil, the elements of a list, vector or set, [key value] vectors for a
// map, one-character strings for a string. Returns false, appending
// nothing, when `coll` is not seqable. Allocates map entries and string
// characters on `heap`; never runs Lisp code.
bool seq_items(Heap& heap, Value coll, std::vector<Value>* out);

// A map entry: the vector [key value].
Value map_entry(Heap& heap, Value key, Value value);

}  // namespace valk::lisp
