// Lisp data as bytes, for what leaves an isolate and comes back into
// another (the shared store): nil, booleans, integers, doubles, strings,
// keywords, symbols, bytes, lists, vectors, maps and sets, nested up to
// kMaxDepth. Functions, atoms, promises and the like are not data.
#pragma once

#include <string>
#include <string_view>

#include "lisp/value.h"

namespace valk::lisp {

class Heap;

constexpr int kMaxCodecDepth = 256;

// Appends the encoding of `v` to *out. False, with *what naming the type
// of the first value that is not data (or "nesting deeper than 256"),
// otherwise.
bool encode_value(Value v, std::string* out, std::string* what);

// The value `bytes` (an encode_value result) encodes, made on `heap`.
Value decode_value(Heap& heap, std::string_view bytes);

}  // namespace valk::lisp
