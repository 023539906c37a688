// Number natives: arithmetic, comparison, predicates, bit operations,
// random numbers and the Math functions.
//
// Integers are int64 and never wrap: overflow raises :overflow-error and
// integer division by zero raises :arithmetic-error. An operation with a
// double operand is done in doubles, by IEEE rules. The compiler inlines
// two-argument + - * < <= > >= == inc dec as VM instructions; these natives
// serve every other call (other arities, apply, higher-order use) and must
// agree with the VM.
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>

#include "lisp/builtins.h"
#include "lisp/isolate.h"
#include "lisp/numeric.h"
#include "util/os_random.h"

namespace valk::lisp {
namespace {

double as_double(Value v) {
  return v.is_int() ? static_cast<double>(v.i) : v.d;
}

Value overflow(Isolate& iso, const char* fn) {
  return iso.raise_error("overflow-error", std::string(fn) + ": integer overflow");
}

Value divide_by_zero(Isolate& iso, const char* fn) {
  return iso.raise_error("arithmetic-error", std::string(fn) + ": division by zero");
}

// Raises a type error unless every one of args[0..n) is a number.
bool numbers(Isolate& iso, const char* fn, const Value* args, int n, Value* raised) {
  for (int i = 0; i < n; i++) {
    if (!args[i].is_number()) {
      *raised = iso.type_error(fn, "a number", args[i]);
      return false;
    }
  }
  return true;
}

bool integers(Isolate& iso, const char* fn, const Value* args, int n, Value* raised) {
  for (int i = 0; i < n; i++) {
    if (!args[i].is_int()) {
      *raised = iso.type_error(fn, "an integer", args[i]);
      return false;
    }
  }
  return true;
}

// ---------------------------------------------------------------------------
// + - * /

// Folds args[from..argc) into `acc` with `op`, after checking that every
// argument is a number: integers stay integers until a double appears, as
// in Clojure.
Value fold(Isolate& iso, const char* fn, ArithOp op, Value acc, const Value* args, int argc,
           int from) {
  Value raised;
  if (!numbers(iso, fn, args, argc, &raised)) {
    return raised;
  }
  for (int i = from; i < argc; i++) {
    if (!arith(op, acc, args[i], &acc)) {
      return overflow(iso, fn);
    }
  }
  return acc;
}

Value n_add(Isolate& iso, Value* args, int argc) {
  if (argc == 0) {
    return Value::integer(0);
  }
  return fold(iso, "+", ArithOp::Add, args[0], args, argc, 1);
}

Value n_mul(Isolate& iso, Value* args, int argc) {
  if (argc == 0) {
    return Value::integer(1);
  }
  return fold(iso, "*", ArithOp::Mul, args[0], args, argc, 1);
}

// (- x) negates; (- x y ...) subtracts from x.
Value n_sub(Isolate& iso, Value* args, int argc) {
  if (argc == 1 && args[0].is_double()) {
    return Value::number(-args[0].d);
  }
  if (argc == 1) {
    return fold(iso, "-", ArithOp::Sub, Value::integer(0), args, 1, 0);
  }
  return fold(iso, "-", ArithOp::Sub, args[0], args, argc, 1);
}

// Integer division gives an integer when exact and a double otherwise.
Value divide(Isolate& iso, Value a, Value b) {
  if (a.is_int() && b.is_int()) {
    if (b.i == 0) {
      return divide_by_zero(iso, "/");
    }
    if (a.i == std::numeric_limits<int64_t>::min() && b.i == -1) {
      return overflow(iso, "/");
    }
    if (a.i % b.i == 0) {
      return Value::integer(a.i / b.i);
    }
  }
  return Value::number(as_double(a) / as_double(b));
}

Value n_div(Isolate& iso, Value* args, int argc) {
  Value raised;
  if (!numbers(iso, "/", args, argc, &raised)) {
    return raised;
  }
  if (argc == 1) {
    return divide(iso, Value::integer(1), args[0]);
  }
  Value acc = args[0];
  for (int i = 1; i < argc; i++) {
    acc = divide(iso, acc, args[i]);
    if (acc.is_sentinel()) {
      return acc;
    }
  }
  return acc;
}

// ---------------------------------------------------------------------------
// quot rem mod

enum class DivKind { Quot, Rem, Mod };

Value int_division(Isolate& iso, const char* fn, DivKind kind, Value* args, int argc) {
  Value raised;
  if (!numbers(iso, fn, args, 2, &raised)) {
    return raised;
  }
  Value a = args[0];
  Value b = args[1];
  if (a.is_int() && b.is_int()) {
    if (b.i == 0) {
      return divide_by_zero(iso, fn);
    }
    if (b.i == -1) {
      // Avoids INT64_MIN / -1, which traps; only quot overflows.
      if (kind != DivKind::Quot) {
        return Value::integer(0);
      }
      if (a.i == std::numeric_limits<int64_t>::min()) {
        return overflow(iso, fn);
      }
      return Value::integer(-a.i);
    }
    int64_t q = a.i / b.i;
    int64_t r = a.i % b.i;
    switch (kind) {
      case DivKind::Quot:
        return Value::integer(q);
      case DivKind::Rem:
        return Value::integer(r);
      case DivKind::Mod:
        return Value::integer(r != 0 && ((r < 0) != (b.i < 0)) ? r + b.i : r);
    }
  }
  double x = as_double(a);
  double y = as_double(b);
  if (y == 0) {
    return divide_by_zero(iso, fn);
  }
  switch (kind) {
    case DivKind::Quot:
      return Value::number(std::trunc(x / y));
    case DivKind::Rem:
      return Value::number(std::fmod(x, y));
    case DivKind::Mod: {
      double r = std::fmod(x, y);
      return Value::number(r != 0 && ((r < 0) != (y < 0)) ? r + y : r);
    }
  }
  return Value::nil();
}

Value n_quot(Isolate& iso, Value* args, int argc) {
  return int_division(iso, "quot", DivKind::Quot, args, argc);
}
Value n_rem(Isolate& iso, Value* args, int argc) {
  return int_division(iso, "rem", DivKind::Rem, args, argc);
}
Value n_mod(Isolate& iso, Value* args, int argc) {
  return int_division(iso, "mod", DivKind::Mod, args, argc);
}

// ---------------------------------------------------------------------------
// inc dec abs max min

Value n_inc(Isolate& iso, Value* args, int argc) {
  Value one = Value::integer(1);
  Value raised;
  if (!numbers(iso, "inc", args, 1, &raised)) {
    return raised;
  }
  return fold(iso, "inc", ArithOp::Add, args[0], &one, 1, 0);
}

Value n_dec(Isolate& iso, Value* args, int argc) {
  Value one = Value::integer(1);
  Value raised;
  if (!numbers(iso, "dec", args, 1, &raised)) {
    return raised;
  }
  return fold(iso, "dec", ArithOp::Sub, args[0], &one, 1, 0);
}

Value n_abs(Isolate& iso, Value* args, int argc) {
  Value raised;
  if (!numbers(iso, "abs", args, 1, &raised)) {
    return raised;
  }
  if (args[0].is_double()) {
    return Value::number(std::fabs(args[0].d));
  }
  if (args[0].i == std::numeric_limits<int64_t>::min()) {
    return overflow(iso, "abs");
  }
  return Value::integer(args[0].i < 0 ? -args[0].i : args[0].i);
}

// (max x & more) (min x & more): the greatest (least) argument itself,
// compared numerically; NaN if any argument is NaN.
Value extreme(Isolate& iso, const char* fn, int want, Value* args, int argc) {
  Value raised;
  if (!numbers(iso, fn, args, argc, &raised)) {
    return raised;
  }
  Value best = args[0];
  for (int i = 0; i < argc; i++) {
    if (args[i].is_double() && std::isnan(args[i].d)) {
      return args[i];
    }
    if (i > 0 && numeric_compare(args[i], best) == want) {
      best = args[i];
    }
  }
  return best;
}

Value n_max(Isolate& iso, Value* args, int argc) {
  return extreme(iso, "max", 1, args, argc);
}
Value n_min(Isolate& iso, Value* args, int argc) {
  return extreme(iso, "min", -1, args, argc);
}

// ---------------------------------------------------------------------------
// Comparisons: true when every adjacent pair is in order. NaN is unordered:
// every comparison with it is false.

enum class Cmp { Lt, Gt, Le, Ge, Eq };

template <Cmp kCmp>
Value n_compare(Isolate& iso, Value* args, int argc) {
  static const char* kNames[] = {"<", ">", "<=", ">=", "=="};
  Value raised;
  if (!numbers(iso, kNames[static_cast<int>(kCmp)], args, argc, &raised)) {
    return raised;
  }
  for (int i = 0; i + 1 < argc; i++) {
    int c = numeric_compare(args[i], args[i + 1]);
    bool ok = c != 2 && (kCmp == Cmp::Lt   ? c < 0
                         : kCmp == Cmp::Gt ? c > 0
                         : kCmp == Cmp::Le ? c <= 0
                         : kCmp == Cmp::Ge ? c >= 0
                                           : c == 0);
    if (!ok) {
      return Value::boolean(false);
    }
  }
  return Value::boolean(true);
}

// ---------------------------------------------------------------------------
// Predicates

template <int kSign>
Value n_sign_p(Isolate& iso, Value* args, int argc) {
  static const char* kNames[] = {"neg?", "zero?", "pos?"};
  Value raised;
  if (!numbers(iso, kNames[kSign + 1], args, 1, &raised)) {
    return raised;
  }
  Value v = args[0];
  int sign = v.is_int() ? (v.i > 0) - (v.i < 0) : (v.d > 0) - (v.d < 0);
  if (v.is_double() && std::isnan(v.d)) {
    return Value::boolean(false);
  }
  return Value::boolean(sign == kSign);
}

template <int kParity>
Value n_parity_p(Isolate& iso, Value* args, int argc) {
  Value raised;
  if (!integers(iso, kParity == 0 ? "even?" : "odd?", args, 1, &raised)) {
    return raised;
  }
  return Value::boolean((args[0].i & 1) == kParity);
}

Value n_number_p(Isolate& iso, Value* args, int argc) {
  return Value::boolean(args[0].is_number());
}
Value n_int_p(Isolate& iso, Value* args, int argc) {
  return Value::boolean(args[0].is_int());
}
Value n_double_p(Isolate& iso, Value* args, int argc) {
  return Value::boolean(args[0].is_double());
}

Value n_nan_p(Isolate& iso, Value* args, int argc) {
  Value raised;
  if (!numbers(iso, "NaN?", args, 1, &raised)) {
    return raised;
  }
  return Value::boolean(args[0].is_double() && std::isnan(args[0].d));
}

Value n_infinite_p(Isolate& iso, Value* args, int argc) {
  Value raised;
  if (!numbers(iso, "infinite?", args, 1, &raised)) {
    return raised;
  }
  return Value::boolean(args[0].is_double() && std::isinf(args[0].d));
}

// ---------------------------------------------------------------------------
// Bit operations (on integers; shift counts are taken mod 64, as in Java)

template <int kOp>
Value n_bit_fold(Isolate& iso, Value* args, int argc) {
  static const char* kNames[] = {"bit-and", "bit-or", "bit-xor"};
  Value raised;
  if (!integers(iso, kNames[kOp], args, argc, &raised)) {
    return raised;
  }
  uint64_t acc = static_cast<uint64_t>(args[0].i);
  for (int i = 1; i < argc; i++) {
    uint64_t x = static_cast<uint64_t>(args[i].i);
    acc = kOp == 0 ? acc & x : kOp == 1 ? acc | x : acc ^ x;
  }
  return Value::integer(static_cast<int64_t>(acc));
}

Value n_bit_not(Isolate& iso, Value* args, int argc) {
  Value raised;
  if (!integers(iso, "bit-not", args, 1, &raised)) {
    return raised;
  }
  return Value::integer(~args[0].i);
}

enum class Shift { Left, Right, UnsignedRight };

template <Shift kShift>
Value n_shift(Isolate& iso, Value* args, int argc) {
  static const char* kNames[] = {"bit-shift-left", "bit-shift-right", "unsigned-bit-shift-right"};
  Value raised;
  if (!integers(iso, kNames[static_cast<int>(kShift)], args, 2, &raised)) {
    return raised;
  }
  unsigned n = static_cast<unsigned>(args[1].i & 63);
  uint64_t x = static_cast<uint64_t>(args[0].i);
  switch (kShift) {
    case Shift::Left:
      return Value::integer(static_cast<int64_t>(x << n));
    case Shift::Right:
      return Value::integer(args[0].i >> n);  // arithmetic in C++20
    case Shift::UnsignedRight:
      return Value::integer(static_cast<int64_t>(x >> n));
  }
  return Value::nil();
}

// ---------------------------------------------------------------------------
// Random numbers: a splitmix64 state per isolate, seeded from
// IsolateOptions::random_seed, so a run with the same seed repeats.

uint64_t next_random(Isolate& iso) {
  // splitmix64: small state, good enough statistics, trivially seedable.
  uint64_t z = (iso.random_state() += 0x9E3779B97F4A7C15ULL);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

double random_unit(Isolate& iso) {
  return static_cast<double>(next_random(iso) >> 11) * 0x1.0p-53;
}

// (rand) a double in [0, 1); (rand n) a double in [0, n).
Value n_rand(Isolate& iso, Value* args, int argc) {
  if (argc == 0) {
    return Value::number(random_unit(iso));
  }
  Value raised;
  if (!numbers(iso, "rand", args, 1, &raised)) {
    return raised;
  }
  return Value::number(random_unit(iso) * as_double(args[0]));
}

// (rand-int n): an integer in [0, n) (in (n, 0] for a negative n, 0 for 0),
// without modulo bias.
Value n_rand_int(Isolate& iso, Value* args, int argc) {
  Value raised;
  if (!integers(iso, "rand-int", args, 1, &raised)) {
    return raised;
  }
  int64_t n = args[0].i;
  if (n == 0) {
    return Value::integer(0);
  }
  uint64_t bound = n > 0 ? static_cast<uint64_t>(n) : 0 - static_cast<uint64_t>(n);
  uint64_t threshold = (0 - bound) % bound;  // 2^64 mod bound
  uint64_t r;
  do {
    r = next_random(iso);
  } while (r < threshold);
  uint64_t x = r % bound;
  return Value::integer(n > 0 ? static_cast<int64_t>(x) : -static_cast<int64_t>(x));
}

constexpr int64_t kMaxRandomBytes = 65536;

bool random_count(Isolate& iso, const char* fn, Value v, Value* raised) {
  if (!v.is_int() || v.i < 0 || v.i > kMaxRandomBytes) {
    *raised = iso.type_error(fn, "a count from 0 to 65536", v);
    return false;
  }
  return true;
}

// (random-bytes n): n bytes from the operating system's generator.
Value n_random_bytes(Isolate& iso, Value* args, int) {
  Value raised;
  if (!random_count(iso, "random-bytes", args[0], &raised)) {
    return raised;
  }
  std::vector<uint8_t> buf(static_cast<size_t>(args[0].i));
  if (!os_random(buf.data(), buf.size())) {
    return iso.raise_error("io-error", "random-bytes: the system's generator failed");
  }
  return val(iso.heap().make_bytes(buf.data(), buf.size()));
}

// (random-token) (random-token n): n (22: 132 bits) characters of
// A-Z a-z 0-9 - _ from the operating system's generator, for session ids,
// keys and codes that must not be guessed.
Value n_random_token(Isolate& iso, Value* args, int argc) {
  Value n = argc > 0 ? args[0] : Value::integer(22);
  Value raised;
  if (!random_count(iso, "random-token", n, &raised)) {
    return raised;
  }
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string token(static_cast<size_t>(n.i), '\0');
  if (!os_random(reinterpret_cast<uint8_t*>(token.data()), token.size())) {
    return iso.raise_error("io-error", "random-token: the system's generator failed");
  }
  for (char& c : token) {
    c = kAlphabet[static_cast<uint8_t>(c) & 63];  // 64 symbols: no bias
  }
  return iso.heap().string(token);
}

// ---------------------------------------------------------------------------
// Math

Value math1(Isolate& iso, const char* fn, double (*f)(double), Value* args) {
  Value raised;
  if (!numbers(iso, fn, args, 1, &raised)) {
    return raised;
  }
  return Value::number(f(as_double(args[0])));
}

// (sqrt x) (floor x) (ceil x): doubles, as clojure.math's.
Value n_sqrt(Isolate& iso, Value* args, int argc) {
  return math1(
      iso, "sqrt", [](double x) { return std::sqrt(x); }, args);
}
Value n_floor(Isolate& iso, Value* args, int argc) {
  return math1(
      iso, "floor", [](double x) { return std::floor(x); }, args);
}
Value n_ceil(Isolate& iso, Value* args, int argc) {
  return math1(
      iso, "ceil", [](double x) { return std::ceil(x); }, args);
}

// (round x): the nearest integer, halves rounded up (Java's Math/round);
// an integer argument is returned as is.
Value n_round(Isolate& iso, Value* args, int argc) {
  Value raised;
  if (!numbers(iso, "round", args, 1, &raised)) {
    return raised;
  }
  if (args[0].is_int()) {
    return args[0];
  }
  double r = std::floor(args[0].d + 0.5);
  // Below 2^52, x + 0.5 is exact; above, every double is an integer already.
  if (std::fabs(args[0].d) >= 0x1.0p52) {
    r = args[0].d;
  }
  if (std::isnan(r) || r < -0x1.0p63 || r >= 0x1.0p63) {
    return iso.raise_error("arithmetic-error",
                           "round: " + std::to_string(args[0].d) + " has no integer value");
  }
  return Value::integer(static_cast<int64_t>(r));
}

Value n_pow(Isolate& iso, Value* args, int argc) {
  Value raised;
  if (!numbers(iso, "pow", args, 2, &raised)) {
    return raised;
  }
  return Value::number(std::pow(as_double(args[0]), as_double(args[1])));
}

}  // namespace

void register_number_natives(Isolate& iso) {
  iso.random_state() = iso.options().random_seed;
  iso.define_native("+", n_add, 0, -1);
  iso.define_native("-", n_sub, 1, -1);
  iso.define_native("*", n_mul, 0, -1);
  iso.define_native("/", n_div, 1, -1);
  iso.define_native("quot", n_quot, 2, 2);
  iso.define_native("rem", n_rem, 2, 2);
  iso.define_native("mod", n_mod, 2, 2);
  iso.define_native("inc", n_inc, 1, 1);
  iso.define_native("dec", n_dec, 1, 1);
  iso.define_native("abs", n_abs, 1, 1);
  iso.define_native("max", n_max, 1, -1);
  iso.define_native("min", n_min, 1, -1);
  iso.define_native("<", n_compare<Cmp::Lt>, 1, -1);
  iso.define_native(">", n_compare<Cmp::Gt>, 1, -1);
  iso.define_native("<=", n_compare<Cmp::Le>, 1, -1);
  iso.define_native(">=", n_compare<Cmp::Ge>, 1, -1);
  iso.define_native("==", n_compare<Cmp::Eq>, 1, -1);
  iso.define_native("neg?", n_sign_p<-1>, 1, 1);
  iso.define_native("zero?", n_sign_p<0>, 1, 1);
  iso.define_native("pos?", n_sign_p<1>, 1, 1);
  iso.define_native("even?", n_parity_p<0>, 1, 1);
  iso.define_native("odd?", n_parity_p<1>, 1, 1);
  iso.define_native("number?", n_number_p, 1, 1);
  iso.define_native("int?", n_int_p, 1, 1);
  iso.define_native("integer?", n_int_p, 1, 1);
  iso.define_native("double?", n_double_p, 1, 1);
  iso.define_native("float?", n_double_p, 1, 1);
  iso.define_native("NaN?", n_nan_p, 1, 1);
  iso.define_native("infinite?", n_infinite_p, 1, 1);
  iso.define_native("bit-and", n_bit_fold<0>, 2, -1);
  iso.define_native("bit-or", n_bit_fold<1>, 2, -1);
  iso.define_native("bit-xor", n_bit_fold<2>, 2, -1);
  iso.define_native("bit-not", n_bit_not, 1, 1);
  iso.define_native("bit-shift-left", n_shift<Shift::Left>, 2, 2);
  iso.define_native("bit-shift-right", n_shift<Shift::Right>, 2, 2);
  iso.define_native("unsigned-bit-shift-right", n_shift<Shift::UnsignedRight>, 2, 2);
  iso.define_native("rand", n_rand, 0, 1);
  iso.define_native("rand-int", n_rand_int, 1, 1);
  iso.define_native("random-bytes", n_random_bytes, 1, 1);
  iso.define_native("random-token", n_random_token, 0, 1);
  iso.define_native("sqrt", n_sqrt, 1, 1);
  iso.define_native("floor", n_floor, 1, 1);
  iso.define_native("ceil", n_ceil, 1, 1);
  iso.define_native("round", n_round, 1, 1);
  iso.define_native("pow", n_pow, 2, 2);
}

}  // namespace valk::lisp
