// Bytecode of the valk VM.
//
// An instruction is one 32-bit word: the opcode in the low 8 bits and an
// operand `a` in the high 24 bits. OP_CLOSURE is followed by one word per
// captured value. Stack slots are addressed relative to the frame's base
// (the first argument); locals are ordinary stack slots.
#pragma once

#include <cstdint>

namespace valk::lisp {

// Every opcode, in order, with its meaning; the VM builds its dispatch
// table from this list.
#define VALK_OPCODES(X)                                                                \
  X(OP_CONST)         /* push constants[a] */                                          \
  X(OP_NIL)           /* push nil */                                                   \
  X(OP_TRUE)          /* push true */                                                  \
  X(OP_FALSE)         /* push false */                                                 \
  X(OP_LOCAL)         /* push slot a */                                                \
  X(OP_SET_LOCAL)     /* slot a = pop */                                               \
  X(OP_CAPTURED)      /* push captured value a of the running closure */               \
  X(OP_SELF)          /* push the running closure */                                   \
  X(OP_GLOBAL)        /* push the value of Var constants[a]; error if undefined */     \
  X(OP_DEF)           /* Var constants[a] = pop; push the var's symbol */              \
  X(OP_DEFMACRO)      /* as OP_DEF, and mark the var as a macro */                     \
  X(OP_POP)           /* drop the top */                                               \
  X(OP_POPN)          /* drop a values */                                              \
  X(OP_SLIDE)         /* keep the top, drop the a values below it */                   \
  X(OP_JUMP)          /* pc = a */                                                     \
  X(OP_JUMP_IF_FALSE) /* pop; if falsy, pc = a */                                      \
  X(OP_AND_JUMP)      /* if the top is falsy, pc = a keeping it; else pop */           \
  X(OP_OR_JUMP)       /* if the top is truthy, pc = a keeping it; else pop */          \
  X(OP_LOOP)          /* pc = a; a safe point that also charges the budget */          \
  X(OP_CALL)          /* call the value below a arguments */                           \
  X(OP_TAILCALL)      /* the same, replacing the running frame */                      \
  X(OP_RETURN)        /* return the top to the caller */                               \
  X(OP_CLOSURE)       /* push a closure of Proto constants[a]; capture words follow */ \
  X(OP_TRY)           /* enter a try; on a raise, unwind and continue at a */          \
  X(OP_END_TRY)       /* leave the innermost try */                                    \
  X(OP_THROW)         /* raise the top */                                              \
  X(OP_GET_KEY)       /* (:k coll): replace the top by its value at constants[a] */    \
  X(OP_GET_KEY_OR)    /* (:k coll default): pop default; the same, else default */     \
  /* Intrinsics for the core functions (binary forms only). */                         \
  X(OP_ADD)                                                                            \
  X(OP_SUB)                                                                            \
  X(OP_MUL)                                                                            \
  X(OP_LT)                                                                             \
  X(OP_LE)                                                                             \
  X(OP_GT)                                                                             \
  X(OP_GE)                                                                             \
  X(OP_NUM_EQ) /* (== a b) */                                                          \
  X(OP_EQ)     /* (= a b) */                                                           \
  X(OP_INC)                                                                            \
  X(OP_DEC)                                                                            \
  X(OP_NOT)                                                                            \
  X(OP_VECTOR)     /* build a vector from the top a values */                          \
  X(OP_MAP)        /* build a map from the top a values (key, value, ...) */           \
  X(OP_MAP_VALUES) /* the array map constants[a] with its values replaced by the top   \
                      count ones, in entry order */                                    \
  X(OP_SET)        /* build a set from the top a values */                             \
  /* Compare and branch, fused from OP_LT ... + OP_JUMP_IF_FALSE. */                   \
  X(OP_JUMP_UNLESS_LT)     /* pop b, pop a; unless a < b, pc = a */                    \
  X(OP_JUMP_UNLESS_LE)     /* the same with <= */                                      \
  X(OP_JUMP_UNLESS_GT)     /* the same with > */                                       \
  X(OP_JUMP_UNLESS_GE)     /* the same with >= */                                      \
  X(OP_JUMP_UNLESS_NUM_EQ) /* the same with == */                                      \
  /* With an integer literal as the second operand: a, signed (sarg_of), */            \
  /* for OP_ADDI and OP_SUBI; the next word, a signed 32-bit integer, for */           \
  /* the comparisons. */                                                               \
  X(OP_ADDI)    /* top + a */                                                          \
  X(OP_SUBI)    /* top - a */                                                          \
  X(OP_LTI)     /* top < literal */                                                    \
  X(OP_LEI)     /* top <= literal */                                                   \
  X(OP_GTI)     /* top > literal */                                                    \
  X(OP_GEI)     /* top >= literal */                                                   \
  X(OP_NUM_EQI) /* (== top literal) */                                                 \
  /* Fused from OP_LTI ... + OP_JUMP_IF_FALSE; a is the jump target. */                \
  X(OP_JUMP_UNLESS_LTI)     /* pop x; unless x < literal, pc = a */                    \
  X(OP_JUMP_UNLESS_LEI)     /* the same with <= */                                     \
  X(OP_JUMP_UNLESS_GTI)     /* the same with > */                                      \
  X(OP_JUMP_UNLESS_GEI)     /* the same with >= */                                     \
  X(OP_JUMP_UNLESS_NUM_EQI) /* the same with == */

enum Op : uint8_t {
#define VALK_OP_ENUM(name) name,
  VALK_OPCODES(VALK_OP_ENUM)
#undef VALK_OP_ENUM
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
// The operand read as a signed 24-bit integer.
inline int32_t sarg_of(uint32_t word) {
  return static_cast<int32_t>(word) >> 8;
}

static_assert(OP_JUMP_UNLESS_NUM_EQ - OP_JUMP_UNLESS_LT == OP_NUM_EQ - OP_LT,
              "the compare-and-branch opcodes follow the order of the comparisons");

static_assert(OP_NUM_EQI - OP_LTI == OP_NUM_EQ - OP_LT &&
                  OP_JUMP_UNLESS_NUM_EQI - OP_JUMP_UNLESS_LTI == OP_NUM_EQ - OP_LT,
              "the immediate comparisons follow the order of the comparisons");

constexpr uint32_t kMaxOperand = (1u << 24) - 1;
// The range of a signed operand (OP_ADDI, OP_SUBI).
constexpr int64_t kMinOperand = -(1 << 23);
constexpr int64_t kMaxSignedOperand = (1 << 23) - 1;

}  // namespace valk::lisp
