// The VM dispatch loop.
//
// Registers: `S` is the fiber's stack storage, `sp` the first free slot,
// `base` the running frame's first argument, `code`/`pc` its instructions
// and `K` its constants. SAVE() writes pc and sp back to the fiber before
// anything that may inspect it (a native, a raise, a collection, a switch);
// LOAD() reloads all registers from the top frame. The stack may move only
// in grow(), which reloads `S`.
#include "lisp/vm.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "lisp/collections.h"
#include "lisp/numeric.h"
#include "lisp/opcodes.h"
#include "lisp/printer.h"

namespace valk::lisp {
namespace {

constexpr uint32_t kStackSlack = 8;

Proto* select_arity(Closure* c, uint32_t argc) {
  Proto* p = c->proto;
  if (p->arities.empty()) {
    return arity_fits(p, argc) ? p : nullptr;
  }
  for (Proto* a : p->arities) {
    if (!a->variadic && a->num_params == argc) {
      return a;
    }
  }
  for (Proto* a : p->arities) {
    if (a->variadic && argc >= a->num_params) {
      return a;
    }
  }
  return nullptr;
}

std::string fn_name(Value callee) {
  if (callee.is(Tag::Closure)) {
    String* n = static_cast<Closure*>(callee.o)->proto->name;
    return n != nullptr ? std::string(n->view()) : "fn";
  }
  if (callee.is(Tag::Native)) {
    return std::string(static_cast<Native*>(callee.o)->name->view());
  }
  return print_str(callee, true);
}

// Arithmetic on two numbers; false (with an error raised) on failure.
enum class Arith { Add, Sub, Mul };

bool arith(Isolate& iso, Arith op, Value a, Value b, Value* out) {
  if (a.is_int() && b.is_int()) {
    int64_t r;
    bool overflow = op == Arith::Add   ? __builtin_add_overflow(a.i, b.i, &r)
                    : op == Arith::Sub ? __builtin_sub_overflow(a.i, b.i, &r)
                                       : __builtin_mul_overflow(a.i, b.i, &r);
    if (overflow) {
      const char* name = op == Arith::Add ? "+" : op == Arith::Sub ? "-" : "*";
      iso.raise_error("overflow-error", std::string(name) + ": integer overflow");
      return false;
    }
    *out = Value::integer(r);
    return true;
  }
  if (!a.is_number() || !b.is_number()) {
    const char* name = op == Arith::Add ? "+" : op == Arith::Sub ? "-" : "*";
    iso.type_error(name, "a number", a.is_number() ? b : a);
    return false;
  }
  double x = a.is_int() ? static_cast<double>(a.i) : a.d;
  double y = b.is_int() ? static_cast<double>(b.i) : b.d;
  *out = Value::number(op == Arith::Add ? x + y : op == Arith::Sub ? x - y : x * y);
  return true;
}

// Numeric comparison; returns -2 (with an error raised) on a non-number.
int compare_numbers(Isolate& iso, const char* name, Value a, Value b) {
  if (a.is_int() && b.is_int()) {
    return a.i < b.i ? -1 : a.i > b.i ? 1 : 0;
  }
  if (!a.is_number() || !b.is_number()) {
    iso.type_error(name, "a number", a.is_number() ? b : a);
    return -2;
  }
  // Exact, as the comparison natives do; 2 means unordered (NaN).
  return numeric_compare(a, b);
}

// Names of OP_LT ... OP_NUM_EQ for error messages.
constexpr const char* kCompareNames[] = {"<", "<=", ">", ">=", "=="};

// Whether comparison `op` (OP_LT ... OP_NUM_EQ) holds, given the result of
// compare_numbers (-1, 0, 1, or 2 when unordered).
bool compare_holds(Op op, int c) {
  switch (op) {
    case OP_LT:
      return c == -1;
    case OP_LE:
      return c == -1 || c == 0;
    case OP_GT:
      return c == 1;
    case OP_GE:
      return c == 1 || c == 0;
    default:
      return c == 0;
  }
}

// Errors and slow paths out of line: their temporaries (strings above
// all) would otherwise widen Vm::run's frame, which matters in unoptimised
// builds, where macros that expand through eval nest that frame deeply.

[[gnu::cold, gnu::noinline]] void raise_plain(Isolate& iso, const char* type, const char* message) {
  iso.raise_error(type, message);
}

[[gnu::cold, gnu::noinline]] void raise_unbound(Isolate& iso, Var* var) {
  iso.raise_error("unbound-symbol",
                  "unable to resolve symbol: " + std::string(var->name->name->view()));
}

[[gnu::cold, gnu::noinline]] void raise_arity_error(Isolate& iso, Value callee, uint32_t argc) {
  iso.raise_error("arity-error",
                  fn_name(callee) + ": wrong number of arguments (" + std::to_string(argc) + ")");
}

[[gnu::cold, gnu::noinline]] void raise_stack_overflow(Isolate& iso) {
  iso.raise_error("stack-overflow", "stack overflow: more than " +
                                        std::to_string(iso.options().max_frames) + " nested calls");
}

[[gnu::cold, gnu::noinline]] void raise_not_a_function(Isolate& iso, Value callee) {
  iso.raise_error("type-error", "not a function: " + print_str(callee, true));
}

[[gnu::cold, gnu::noinline]] void raise_bad_opcode(Isolate& iso, uint32_t op) {
  iso.raise_error("internal-error", "bad opcode " + std::to_string(op));
}

// OP_ADDI or OP_SUBI on a top that is not an int, or that overflowed.
// False with an error raised.
[[gnu::noinline]] bool arith_literal(Isolate& iso, uint32_t word, Value* top) {
  Value out;
  Arith kind = op_of(word) == OP_ADDI ? Arith::Add : Arith::Sub;
  if (!arith(iso, kind, *top, Value::integer(sarg_of(word)), &out)) {
    return false;
  }
  *top = out;
  return true;
}

// Whether `x` compares to the literal `k` as OP_LTI ... or
// OP_JUMP_UNLESS_LTI ... in `word` asks: 1 or 0, or -1 with an error raised
// when x is not a number.
[[gnu::noinline]] int compare_literal(Isolate& iso, uint32_t word, Value x, int64_t k) {
  Op op = op_of(word);
  auto cmp =
      static_cast<Op>(OP_LT + (op - (op >= OP_JUMP_UNLESS_LTI ? OP_JUMP_UNLESS_LTI : OP_LTI)));
  int c = compare_numbers(iso, kCompareNames[cmp - OP_LT], x, Value::integer(k));
  if (c == -2) {
    return -1;
  }
  return compare_holds(cmp, c) ? 1 : 0;
}

}  // namespace

void Vm::run(Isolate& iso, Fiber* f, bool nested) {
  Heap& heap = iso.heap();
  Fiber* outer = iso.current_;
  iso.current_ = f;
  f->state = FiberState::Running;
  const uint32_t slice = nested ? UINT32_MAX : iso.options().slice_budget;
  uint32_t budget = slice;

  Value* S;
  uint32_t sp;
  uint32_t base;
  uint32_t pc;
  const uint32_t* code;
  Value* K;
  Closure* cl;
  Proto* proto;

#define SAVE()                \
  do {                        \
    f->sp = sp;               \
    f->frames.back().pc = pc; \
  } while (0)
#define LOAD()                     \
  do {                             \
    Frame& fr_ = f->frames.back(); \
    cl = fr_.closure;              \
    proto = fr_.proto;             \
    code = proto->code.data();     \
    K = proto->constants.data();   \
    base = fr_.base;               \
    pc = fr_.pc;                   \
    S = f->stack.data();           \
    sp = f->sp;                    \
  } while (0)
  // Charges the fiber with the heap bytes allocated since the last charge.
  uint64_t allocated_mark = heap.allocated_total();
#define CHARGE_ALLOCATION()                           \
  do {                                                \
    uint64_t allocated_now_ = heap.allocated_total(); \
    f->allocated += allocated_now_ - allocated_mark;  \
    allocated_mark = allocated_now_;                  \
  } while (0)
  // Every way out of the loop: restore the outer fiber, charge the fiber
  // with its allocation and this slice's work (at least one unit) to the
  // isolate; see Isolate::poll_due().
#define LEAVE()                                 \
  do {                                          \
    iso.current_ = outer;                       \
    iso.work_since_poll_ += slice - budget + 1; \
    CHARGE_ALLOCATION();                        \
  } while (0)
#define RAISE()    \
  do {             \
    SAVE();        \
    goto do_raise; \
  } while (0)

  LOAD();
  if (f->has_resume) {
    f->has_resume = false;
    f->waiting_on = nullptr;  // no longer keeps the promise (and its value) alive
    Value v = f->resume_value;
    f->resume_value = Value::nil();
    if (f->resume_error) {
      f->resume_error = false;
      if (v.is(Tag::Error)) {
        iso.add_trace(static_cast<Error*>(v.o));
      }
      f->pending_error = v;
      goto do_raise;
    }
    S[sp++] = v;
  }

  // Threaded dispatch (a GNU extension that GCC and Clang support): the
  // compiler copies the jump through this table to the end of each handler,
  // so every handler predicts its successor on its own, with no range
  // check. The switch below is never entered by its head; it only gives
  // the handlers their structure (`break` ends one).
#define CASE(op) \
  case op:       \
    L_##op
  // The table is padded with 256 entries for invalid opcodes, so that any
  // 8-bit opcode indexes it without a bounds check.
#define VALK_OP_LABEL(name) &&L_##name,
#define VALK_BAD4 &&L_bad_opcode, &&L_bad_opcode, &&L_bad_opcode, &&L_bad_opcode,
#define VALK_BAD32 VALK_BAD4 VALK_BAD4 VALK_BAD4 VALK_BAD4 VALK_BAD4 VALK_BAD4 VALK_BAD4 VALK_BAD4
  static const void* const kDispatch[OP_COUNT_ + 256] = {
      VALK_OPCODES(VALK_OP_LABEL)
          VALK_BAD32 VALK_BAD32 VALK_BAD32 VALK_BAD32 VALK_BAD32 VALK_BAD32 VALK_BAD32 VALK_BAD32};
#undef VALK_BAD32
#undef VALK_BAD4
#undef VALK_OP_LABEL

  uint32_t word;
  for (;;) {
    word = code[pc++];
    goto* kDispatch[op_of(word)];
    switch (op_of(word)) {
      CASE(OP_CONST) : S[sp++] = K[arg_of(word)];
      break;
      CASE(OP_NIL) : S[sp++] = Value::nil();
      break;
      CASE(OP_TRUE) : S[sp++] = Value::boolean(true);
      break;
      CASE(OP_FALSE) : S[sp++] = Value::boolean(false);
      break;
      CASE(OP_LOCAL) : S[sp++] = S[base + arg_of(word)];
      break;
      CASE(OP_SET_LOCAL) : S[base + arg_of(word)] = S[--sp];
      break;
      CASE(OP_CAPTURED) : S[sp++] = cl->captured[arg_of(word)];
      break;
      CASE(OP_SELF) : S[sp++] = val(cl);
      break;
      CASE(OP_GLOBAL) : {
        auto* var = static_cast<Var*>(K[arg_of(word)].o);
        if (!var->defined) {
          SAVE();
          raise_unbound(iso, var);
          goto do_raise;
        }
        S[sp++] = var->value;
        break;
      }
      CASE(OP_DEF) : CASE(OP_DEFMACRO) : {
        auto* var = static_cast<Var*>(K[arg_of(word)].o);
        var->value = S[sp - 1];
        var->defined = true;
        var->is_macro = op_of(word) == OP_DEFMACRO;
        S[sp - 1] = val(var->name);
        break;
      }
      CASE(OP_POP) : sp--;
      break;
      CASE(OP_POPN) : sp -= arg_of(word);
      break;
      CASE(OP_SLIDE) : {
        uint32_t n = arg_of(word);
        S[sp - 1 - n] = S[sp - 1];
        sp -= n;
        break;
      }
      CASE(OP_JUMP) : pc = arg_of(word);
      break;
      CASE(OP_JUMP_IF_FALSE) : if (!S[--sp].truthy()) {
        pc = arg_of(word);
      }
      break;
      CASE(OP_AND_JUMP) : if (!S[sp - 1].truthy()) {
        pc = arg_of(word);
      }
      else {
        sp--;
      }
      break;
      CASE(OP_OR_JUMP) : if (S[sp - 1].truthy()) {
        pc = arg_of(word);
      }
      else {
        sp--;
      }
      break;
      CASE(OP_LOOP) : pc = arg_of(word);
      if (--budget == 0 || heap.should_collect()) {
        SAVE();
        goto safe_point;
      }
      break;

      CASE(OP_CALL) : CASE(OP_TAILCALL) : {
        uint32_t argc = arg_of(word);
        bool tail = op_of(word) == OP_TAILCALL;
        if (--budget == 0 || heap.should_collect()) {
          pc--;  // redo the call after the safe point
          SAVE();
          goto safe_point;
        }
      do_call:
        Value callee = S[sp - argc - 1];
        switch (callee.tag) {
          case Tag::Closure: {
            auto* c = static_cast<Closure*>(callee.o);
            Proto* p = select_arity(c, argc);
            if (p == nullptr) {
              SAVE();
              raise_arity_error(iso, callee, argc);
              goto do_raise;
            }
            if (p->variadic) {
              // Pack the extra arguments into a list in the rest slot.
              Value rest = Value::empty_list();
              for (uint32_t i = argc; i > p->num_params; i--) {
                rest = heap.cons(S[sp - argc + i - 1], rest);
              }
              sp -= argc - p->num_params;
              S[sp++] = rest;
              argc = p->num_params + 1;
            }
            uint32_t new_base;
            if (tail) {
              // Slide callee and arguments down over the running frame.
              uint32_t from = sp - argc - 1;
              for (uint32_t i = 0; i <= argc; i++) {
                S[base - 1 + i] = S[from + i];
              }
              sp = base + argc;
              new_base = base;
              f->frames.back() = Frame{c, p, 0, new_base};
            } else {
              if (f->frames.size() >= iso.options().max_frames) {
                SAVE();
                raise_stack_overflow(iso);
                goto do_raise;
              }
              f->frames.back().pc = pc;
              new_base = sp - argc;
              f->frames.push_back(Frame{c, p, 0, new_base});
            }
            uint32_t need = new_base + p->max_stack + kStackSlack;
            if (need > f->stack.size()) {
              f->stack.resize(std::max<size_t>(need, f->stack.size() * 2));
              S = f->stack.data();
            }
            f->sp = sp;
            // The registers of the new frame, as LOAD() would read them back.
            cl = c;
            proto = p;
            code = p->code.data();
            K = p->constants.data();
            base = new_base;
            pc = 0;
            break;
          }
          case Tag::Native: {
            auto* n = static_cast<Native*>(callee.o);
            if (static_cast<int>(argc) < n->min_args ||
                (n->max_args >= 0 && static_cast<int>(argc) > n->max_args)) {
              SAVE();
              raise_arity_error(iso, callee, argc);
              goto do_raise;
            }
            SAVE();
            iso.current_native_ = n;
            Value r = n->fn(iso, &S[sp - argc], static_cast<int>(argc));
            S = f->stack.data();
            sp -= argc + 1;
            if (!r.is_sentinel()) {
              S[sp++] = r;
              if (tail) {
                goto do_return;
              }
              break;
            }
            if (r.is(Tag::Exception)) {
              f->sp = sp;
              goto do_raise;
            }
            if (r.is(Tag::Park)) {
              // The resume value lands where the result would have; in tail
              // position the instructions that follow return it.
              SAVE();
              goto parked;
            }
            // Tail call requested by the native: call tail_fn in its place.
            size_t n_args = f->tail_args.size();
            if (sp + n_args + 1 + kStackSlack > f->stack.size()) {
              f->stack.resize(std::max<size_t>(sp + n_args + 1 + kStackSlack, f->stack.size() * 2));
              S = f->stack.data();
            }
            S[sp++] = f->tail_fn;
            for (Value a : f->tail_args) {
              S[sp++] = a;
            }
            f->tail_fn = Value::nil();
            f->tail_args.clear();
            argc = static_cast<uint32_t>(n_args);
            goto do_call;
          }
          case Tag::Keyword:
          case Tag::Map:
          case Tag::Set:
          case Tag::Vector: {
            if (argc < 1 || argc > 2) {
              SAVE();
              raise_arity_error(iso, callee, argc);
              goto do_raise;
            }
            Value coll = callee.is(Tag::Keyword) ? S[sp - argc] : callee;
            Value key = callee.is(Tag::Keyword) ? callee : S[sp - argc];
            Value found = argc == 2 ? S[sp - 1] : Value::nil();
            Value out;
            if (collection_lookup(coll, key, &out)) {
              found = out;
            }
            sp -= argc + 1;
            S[sp++] = found;
            if (tail) {
              goto do_return;
            }
            break;
          }
          default:
            SAVE();
            raise_not_a_function(iso, callee);
            goto do_raise;
        }
        break;
      }

      CASE(OP_RETURN) : do_return : {
        Value result = S[sp - 1];
        sp = base - 1;
        S[sp++] = result;
        f->frames.pop_back();
        if (f->frames.empty()) {
          f->sp = sp;
          goto finished;
        }
        f->sp = sp;
        LOAD();
        break;
      }

      CASE(OP_CLOSURE) : {
        auto* p = static_cast<Proto*>(K[arg_of(word)].o);
        uint32_t n = p->num_captures;
        auto* c = heap.make<Closure>(Tag::Closure, n > 0 ? (n - 1) * sizeof(Value) : 0);
        c->proto = p;
        c->num_captured = n;
        for (uint32_t i = 0; i < n; i++) {
          uint32_t w = code[pc++];
          uint32_t index = w & kCaptureIndexMask;
          switch (w & ~kCaptureIndexMask) {
            case kCaptureLocal:
              c->captured[i] = S[base + index];
              break;
            case kCaptureCaptured:
              c->captured[i] = cl->captured[index];
              break;
            default:
              c->captured[i] = val(cl);
              break;
          }
        }
        S[sp++] = val(c);
        break;
      }

      CASE(OP_TRY)
          : f->handlers.push_back(
                Handler{static_cast<uint32_t>(f->frames.size()), sp, arg_of(word)});
      break;
      CASE(OP_END_TRY) : f->handlers.pop_back();
      break;
      CASE(OP_THROW) : f->pending_error = S[--sp];
      RAISE();

      CASE(OP_ADD) : CASE(OP_SUB) : CASE(OP_MUL) : {
        Value a = S[sp - 2], b = S[sp - 1];
        if (a.is_int() && b.is_int()) {
          int64_t r;
          Op op = op_of(word);
          bool overflow = op == OP_ADD   ? __builtin_add_overflow(a.i, b.i, &r)
                          : op == OP_SUB ? __builtin_sub_overflow(a.i, b.i, &r)
                                         : __builtin_mul_overflow(a.i, b.i, &r);
          if (!overflow) {
            S[sp - 2] = Value::integer(r);
            sp--;
            break;
          }
        }
        Value out;
        Arith kind = op_of(word) == OP_ADD   ? Arith::Add
                     : op_of(word) == OP_SUB ? Arith::Sub
                                             : Arith::Mul;
        SAVE();
        if (!arith(iso, kind, a, b, &out)) {
          goto do_raise;
        }
        S[sp - 2] = out;
        sp--;
        break;
      }
      CASE(OP_INC) : CASE(OP_DEC) : {
        Value a = S[sp - 1];
        if (a.is_int()) {
          int64_t r;
          bool overflow = op_of(word) == OP_INC ? __builtin_add_overflow(a.i, 1, &r)
                                                : __builtin_sub_overflow(a.i, 1, &r);
          if (!overflow) {
            S[sp - 1] = Value::integer(r);
            break;
          }
        }
        Value out;
        SAVE();
        if (!arith(iso, op_of(word) == OP_INC ? Arith::Add : Arith::Sub, a, Value::integer(1),
                   &out)) {
          goto do_raise;
        }
        S[sp - 1] = out;
        break;
      }
      CASE(OP_LT) : CASE(OP_LE) : CASE(OP_GT) : CASE(OP_GE) : CASE(OP_NUM_EQ) : {
        Value a = S[sp - 2], b = S[sp - 1];
        int c;
        if (a.is_int() && b.is_int()) {
          c = a.i < b.i ? -1 : a.i > b.i ? 1 : 0;
        } else {
          SAVE();
          c = compare_numbers(iso, kCompareNames[op_of(word) - OP_LT], a, b);
          if (c == -2) {
            goto do_raise;
          }
        }
        S[sp - 2] = Value::boolean(compare_holds(op_of(word), c));
        sp--;
        break;
      }
      // OP_JUMP_UNLESS_xx: the comparison, then OP_JUMP_IF_FALSE's jump.
#define COMPARE_AND_BRANCH(op, cmp, int_test)                         \
  CASE(op) : {                                                        \
    Value a = S[sp - 2], b = S[sp - 1];                               \
    bool r;                                                           \
    if (a.is_int() && b.is_int()) {                                   \
      r = a.i int_test b.i;                                           \
    } else {                                                          \
      SAVE();                                                         \
      int c = compare_numbers(iso, kCompareNames[cmp - OP_LT], a, b); \
      if (c == -2) {                                                  \
        goto do_raise;                                                \
      }                                                               \
      r = compare_holds(cmp, c);                                      \
    }                                                                 \
    sp -= 2;                                                          \
    if (!r) {                                                         \
      pc = arg_of(word);                                              \
    }                                                                 \
    break;                                                            \
  }
      COMPARE_AND_BRANCH(OP_JUMP_UNLESS_LT, OP_LT, <)
      COMPARE_AND_BRANCH(OP_JUMP_UNLESS_LE, OP_LE, <=)
      COMPARE_AND_BRANCH(OP_JUMP_UNLESS_GT, OP_GT, >)
      COMPARE_AND_BRANCH(OP_JUMP_UNLESS_GE, OP_GE, >=)
      COMPARE_AND_BRANCH(OP_JUMP_UNLESS_NUM_EQ, OP_NUM_EQ, ==)
#undef COMPARE_AND_BRANCH
      // OP_ADDI ... OP_JUMP_UNLESS_NUM_EQI: only the integer fast paths
      // here, with as few locals as possible; the rest is shared below
      // (every local of a handler widens Vm::run's frame in unoptimised
      // builds, and macros that expand through eval nest that frame).
#define ARITH_IMMEDIATE(op, overflows)                                      \
  CASE(op) : {                                                              \
    int64_t r;                                                              \
    if (S[sp - 1].is_int() && !overflows(S[sp - 1].i, sarg_of(word), &r)) { \
      S[sp - 1] = Value::integer(r);                                        \
      break;                                                                \
    }                                                                       \
    goto arith_literal;                                                     \
  }
      ARITH_IMMEDIATE(OP_ADDI, __builtin_add_overflow)
      ARITH_IMMEDIATE(OP_SUBI, __builtin_sub_overflow)
#undef ARITH_IMMEDIATE
      // The literal is the next word.
#define COMPARE_IMMEDIATE(op, int_test)                                              \
  CASE(op) : if (!S[sp - 1].is_int()) {                                              \
    goto compare_literal;                                                            \
  }                                                                                  \
  S[sp - 1] = Value::boolean(S[sp - 1].i int_test static_cast<int32_t>(code[pc++])); \
  break;
#define COMPARE_IMMEDIATE_AND_BRANCH(op, int_test)                              \
  CASE(op) : if (!S[sp - 1].is_int()) {                                         \
    goto compare_literal;                                                       \
  }                                                                             \
  sp--;                                                                         \
  pc = S[sp].i int_test static_cast<int32_t>(code[pc]) ? pc + 1 : arg_of(word); \
  break;
      COMPARE_IMMEDIATE(OP_LTI, <)
      COMPARE_IMMEDIATE(OP_LEI, <=)
      COMPARE_IMMEDIATE(OP_GTI, >)
      COMPARE_IMMEDIATE(OP_GEI, >=)
      COMPARE_IMMEDIATE(OP_NUM_EQI, ==)
      COMPARE_IMMEDIATE_AND_BRANCH(OP_JUMP_UNLESS_LTI, <)
      COMPARE_IMMEDIATE_AND_BRANCH(OP_JUMP_UNLESS_LEI, <=)
      COMPARE_IMMEDIATE_AND_BRANCH(OP_JUMP_UNLESS_GTI, >)
      COMPARE_IMMEDIATE_AND_BRANCH(OP_JUMP_UNLESS_GEI, >=)
      COMPARE_IMMEDIATE_AND_BRANCH(OP_JUMP_UNLESS_NUM_EQI, ==)
#undef COMPARE_IMMEDIATE_AND_BRANCH
#undef COMPARE_IMMEDIATE
#undef COMPARE_IMMEDIATE
      CASE(OP_EQ) : {
        Value a = S[sp - 2], b = S[sp - 1];
        S[sp - 2] = Value::boolean(equal(a, b));  // equal() tests identity first
        sp--;
        break;
      }
      CASE(OP_NOT) : S[sp - 1] = Value::boolean(!S[sp - 1].truthy());
      break;
      CASE(OP_VECTOR) : CASE(OP_MAP) : CASE(OP_SET) : {
        uint32_t n = arg_of(word);
        Value* items = &S[sp - n];
        Value r = op_of(word) == OP_VECTOR ? vector_from(heap, items, n)
                  : op_of(word) == OP_MAP  ? map_from(heap, items, n / 2)
                                           : set_from(heap, items, n);
        sp -= n;
        S[sp++] = r;
        break;
      }
      CASE(OP_GET_KEY) : {
        Value out;
        if (!collection_lookup(S[sp - 1], K[arg_of(word)], &out)) {
          out = Value::nil();
        }
        S[sp - 1] = out;
        break;
      }
      CASE(OP_GET_KEY_OR) : {
        Value out;
        sp--;
        S[sp - 1] = collection_lookup(S[sp - 1], K[arg_of(word)], &out) ? out : S[sp];
        break;
      }
      CASE(OP_MAP_VALUES) : {
        Value proto = K[arg_of(word)];
        size_t n = map_count(proto);
        Value r = map_with_values(heap, proto, &S[sp - n]);
        sp -= n;
        S[sp++] = r;
        break;
      }
      default:
      L_bad_opcode:
        SAVE();
        raise_bad_opcode(iso, op_of(word));
        goto do_raise;
    }
    continue;

  arith_literal:
    SAVE();
    if (!arith_literal(iso, word, &S[sp - 1])) {
      goto do_raise;
    }
    continue;

  compare_literal : {
    SAVE();
    int holds = compare_literal(iso, word, S[sp - 1], static_cast<int32_t>(code[pc++]));
    if (holds < 0) {
      goto do_raise;
    }
    if (op_of(word) < OP_JUMP_UNLESS_LTI) {
      S[sp - 1] = Value::boolean(holds);
    } else if (sp--, !holds) {
      pc = arg_of(word);
    }
    continue;
  }

  safe_point : {
    // Registers are saved. Collect, then yield if the slice is used up. The
    // fiber's allocation is checked before each collection (so at least
    // once per collection threshold's worth) and each slice.
    bool collect = heap.should_collect();
    if (collect || budget == 0) {
      CHARGE_ALLOCATION();
      if (f->allocation_limit != 0 && f->allocated >= f->allocation_limit) {
        f->allocation_limit = 0;
        raise_plain(iso, "allocation-exceeded", "the fiber allocated past its allocation budget");
        f->instructions += slice - budget;
        budget = slice;  // the handler that catches it runs with a fresh slice
        goto do_raise;
      }
    }
    if (collect) {
      heap.collect();
    }
    if (budget == 0) {
      f->instructions += slice;
      if (f->instruction_limit != 0 && f->instructions >= f->instruction_limit) {
        f->instruction_limit = 0;
        raise_plain(iso, "budget-exceeded", "the fiber ran past its instruction budget");
        budget = slice;  // the handler that catches it runs with a fresh slice
        goto do_raise;
      }
      uv_update_time(iso.loop());
      if (f->deadline_ms != 0 && uv_now(iso.loop()) >= f->deadline_ms) {
        f->deadline_ms = 0;
        raise_plain(iso, "deadline-exceeded", "the fiber ran past its deadline");
        budget = slice;
        goto do_raise;
      }
      f->state = FiberState::Ready;
      iso.enqueue(f);
      LEAVE();
      return;
    }
    LOAD();
    continue;
  }

  do_raise : {
    // f->sp and the top frame's pc are saved; the raised value is pending.
    Value raised = f->pending_error;
    f->pending_error = Value::nil();
    if (f->handlers.empty()) {
      f->state = FiberState::Done;
      f->instructions += slice - budget;  // the last slice's
      LEAVE();
      iso.recycle_stack(f);
      iso.reject(f->result, raised);
      return;
    }
    Handler h = f->handlers.back();
    f->handlers.pop_back();
    f->frames.resize(h.frame_depth);
    f->frames.back().pc = h.catch_pc;
    f->sp = h.stack_height;
    LOAD();
    S[sp++] = raised;
    continue;
  }
  }

parked:
  f->instructions += slice - budget;  // unused when nested
  LEAVE();
  if (nested) {
    // A macro may not wait: forget the wait and fail the expansion.
    f->wait_gen++;
    f->state = FiberState::Done;
    iso.reject(f->result, val(iso.make_error(heap.string("a macro cannot await"), Value::nil())));
  }
  return;

finished:
  f->state = FiberState::Done;
  f->instructions += slice - budget;  // the last slice's
  LEAVE();
  Value result = f->stack[f->sp - 1];
  iso.recycle_stack(f);
  iso.resolve(f->result, result);

#undef SAVE
#undef LOAD
#undef RAISE
#undef LEAVE
#undef CHARGE_ALLOCATION
#undef CASE
}

}  // namespace valk::lisp
