// Compiled functions (Proto) and their closures.
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

#include "lisp/object.h"

namespace valk::lisp {

// A compiled function body: bytecode, constants and a line table. A
// multi-arity `fn` compiles to one Proto per arity; the first one lists
// the others in `arities` and the VM picks by argument count.
struct Proto : Obj {
  std::vector<uint32_t> code;
  std::vector<Value> constants;
  // (pc, position) pairs sorted by pc; the entry with the greatest pc not
  // above an instruction's pc gives its position.
  std::vector<std::pair<uint32_t, SourcePos>> lines;
  std::vector<Proto*> arities;
  String* name = nullptr;   // nullptr for anonymous functions
  uint32_t num_params = 0;  // required parameters
  bool variadic = false;    // a rest parameter follows the required ones
  uint32_t num_captures = 0;
  uint32_t max_stack = 0;  // stack slots the body uses above its base

  SourcePos position_at(uint32_t pc) const;
};

// A function value: a Proto plus the values it captured. Bindings are
// immutable, so closures capture values, not variables.
struct Closure : Obj {
  Proto* proto;
  uint32_t num_captured;
  Value captured[1];
};

}  // namespace valk::lisp
