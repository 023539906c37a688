// Numeric primitives shared by the number natives (and meant for the VM's
// inlined arithmetic, so both agree): checked int64 arithmetic with
// double contagion, and exact comparison of mixed integers and doubles.
#pragma once

#include "lisp/value.h"

namespace valk::lisp {

enum class ArithOp { Add, Sub, Mul };

// *out = a op b for two numbers (the caller checks the types). Two
// integers give an integer, or false on int64 overflow (*out untouched);
// a double operand gives a double by IEEE rules.
bool arith(ArithOp op, Value a, Value b, Value* out);

// Compares two numbers (the caller checks the types) by their exact
// mathematical values, so 9007199254740993 > 9007199254740992.0 although
// the first converts to the second as a double. Returns -1, 0 or 1, or 2
// when either is NaN (unordered: every comparison is false).
int numeric_compare(Value a, Value b);

}  // namespace valk::lisp
