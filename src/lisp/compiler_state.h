// What the compiler tracks of each function it compiles: locals, captured
// variables, loop targets for recur, the stack depth, and the fusing state
// of comparison + branch. Used by compiler.cc only.
#pragma once

#include <cstdint>
#include <unordered_map>
#include <vector>

#include "lisp/function.h"

namespace valk::lisp::compiling {

struct Local {
  Symbol* name;
  uint32_t slot;
};

struct Capture {
  Symbol* name;
  uint32_t word;  // CaptureKind | index in the enclosing function
};

struct LoopTarget {
  uint32_t start_pc;
  uint32_t first_slot;
  uint32_t count;
  uint32_t depth;  // stack depth right after the bindings
  // Whether a call in tail position of this loop's body may replace the
  // frame: only when the loop itself is in the function's tail position
  // and no try is active.
  bool calls_in_tail;
};

struct FnState {
  FnState* parent = nullptr;
  Proto* proto = nullptr;
  std::vector<Local> locals;
  std::vector<Capture>* captures = nullptr;  // shared by all arities of a fn
  Symbol* self_name = nullptr;
  uint32_t depth = 0;
  std::vector<LoopTarget> loops;  // innermost last; [0] is the fn itself
  int try_depth = 0;
  SourcePos pos;
  std::unordered_map<uint64_t, uint32_t> constant_index;
  // here() just after the last comparison intrinsic, and the last position
  // a forward jump was patched to land on: a comparison followed by a
  // conditional jump fuses unless a jump lands between the two.
  uint32_t compare_end = UINT32_MAX;
  bool compare_has_literal = false;  // the comparison is OP_LTI ... and its literal
  uint32_t last_label = UINT32_MAX;
};

}  // namespace valk::lisp::compiling
