// Bytecode of the valk VM.
//
// An instruction is one 32-bit word: the opcode in the low 8 bits and an
// operand `a` in the high 24 bits. OP_CLOSURE is followed by one word per
// captured value. Stack slots are addressed relative to the frame's base
// (the first argument); locals are ordinary stack slots.
#pragma once

#include <cstdint>

namespace valk::lisp {

enum Op : uint8_t {
  OP_CONST,          // push constants[a]
  OP_NIL,            // push nil
  OP_TRUE,           // push true
  OP_FALSE,          // push false
  OP_LOCAL,          // push slot a
  OP_SET_LOCAL,      // slot a = pop
  OP_CAPTURED,       // push captured value a of the running closure
  OP_SELF,           // push the running closure
  OP_GLOBAL,         // push the value of Var constants[a]; error if undefined
  OP_DEF,            // Var constants[a] = pop; push the var's symbol
  OP_DEFMACRO,       // as OP_DEF, and mark the var as a macro
  OP_POP,            // drop the top
  OP_POPN,           // drop a values
  OP_SLIDE,          // keep the top, drop the a values below it
  OP_JUMP,           // pc = a
  OP_JUMP_IF_FALSE,  // pop; if falsy, pc = a
  OP_AND_JUMP,       // if the top is falsy, pc = a keeping it; else pop
  OP_OR_JUMP,        // if the top is truthy, pc = a keeping it; else pop
  OP_LOOP,           // pc = a; a safe point that also charges the budget
  OP_CALL,           // call the value below a arguments
  OP_TAILCALL,       // the same, replacing the running frame
  OP_RETURN,         // return the top to the caller
  OP_CLOSURE,        // push a closure of Proto constants[a]; capture words follow
  OP_TRY,            // enter a try; on a raise, unwind and continue at a
  OP_END_TRY,        // leave the innermost try
  OP_THROW,          // raise the top
  // Intrinsics for the core functions (binary forms only).
  OP_ADD,
  OP_SUB,
  OP_MUL,
  OP_LT,
  OP_LE,
  OP_GT,
  OP_GE,
  OP_NUM_EQ,  // ==
  OP_EQ,      // =
  OP_INC,
  OP_DEC,
  OP_NOT,
  OP_VECTOR,  // build a vector from the top a values
  OP_MAP,     // build a map from the top a values (key, value, ...)
  OP_SET,     // build a set from the top a values
  OP_COUNT_,  // number of opcodes
};

// Capture words after OP_CLOSURE: kind in the top 2 bits, index below.
enum CaptureKind : uint32_t {
  kCaptureLocal = 0u << 30,     // slot of the enclosing frame
  kCaptureCaptured = 1u << 30,  // captured value of the enclosing closure
  kCaptureSelf = 2u << 30,      // the enclosing closure itself
};
constexpr uint32_t kCaptureIndexMask = (1u << 30) - 1;

inline uint32_t encode(Op op, uint32_t a = 0) {
  return static_cast<uint32_t>(op) | (a << 8);
}
inline Op op_of(uint32_t word) {
  return static_cast<Op>(word & 0xFF);
}
inline uint32_t arg_of(uint32_t word) {
  return word >> 8;
}

constexpr uint32_t kMaxOperand = (1u << 24) - 1;

}  // namespace valk::lisp
