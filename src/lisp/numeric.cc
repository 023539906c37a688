#include "lisp/numeric.h"

#include <cmath>
#include <cstdint>

namespace valk::lisp {

bool arith(ArithOp op, Value a, Value b, Value* out) {
  if (a.is_int() && b.is_int()) {
    int64_t r;
    bool overflow = op == ArithOp::Add   ? __builtin_add_overflow(a.i, b.i, &r)
                    : op == ArithOp::Sub ? __builtin_sub_overflow(a.i, b.i, &r)
                                         : __builtin_mul_overflow(a.i, b.i, &r);
    if (overflow) {
      return false;
    }
    *out = Value::integer(r);
    return true;
  }
  double x = a.is_int() ? static_cast<double>(a.i) : a.d;
  double y = b.is_int() ? static_cast<double>(b.i) : b.d;
  *out = Value::number(op == ArithOp::Add ? x + y : op == ArithOp::Sub ? x - y : x * y);
  return true;
}

namespace {

// Compares an integer with a double exactly: split the double into its
// integral part (compared as an integer when in range) and its fraction.
int compare_int_double(int64_t i, double d) {
  if (std::isnan(d)) {
    return 2;
  }
  if (d >= 0x1.0p63) {
    return -1;
  }
  if (d < -0x1.0p63) {
    return 1;
  }
  double t = std::trunc(d);
  auto ti = static_cast<int64_t>(t);  // in range: -2^63 <= t < 2^63
  if (i != ti) {
    return i < ti ? -1 : 1;
  }
  double frac = d - t;
  return frac > 0 ? -1 : frac < 0 ? 1 : 0;
}

}  // namespace

int numeric_compare(Value a, Value b) {
  if (a.is_int() && b.is_int()) {
    return a.i < b.i ? -1 : a.i > b.i ? 1 : 0;
  }
  if (a.is_int()) {
    return compare_int_double(a.i, b.d);
  }
  if (b.is_int()) {
    int c = compare_int_double(b.i, a.d);
    return c == 2 ? 2 : -c;
  }
  if (std::isnan(a.d) || std::isnan(b.d)) {
    return 2;
  }
  return a.d < b.d ? -1 : a.d > b.d ? 1 : 0;
}

}  // namespace valk::lisp
