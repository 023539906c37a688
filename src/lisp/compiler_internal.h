// The compiler's internals, shared by compiler.cc (the core: emission,
// constants, scopes, calls, macros, intrinsics) and compiler_forms.cc (the
// special forms). What each function being compiled tracks: locals,
// captured variables, loop targets for recur, the stack depth, and the
// fusing state of comparison + branch. Used by those two files only.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "lisp/collections.h"
#include "lisp/function.h"
#include "lisp/isolate.h"
#include "lisp/opcodes.h"

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

// How deeply compile() and syntax-quote expansion may recurse, counting macro
// expansions: past this, a form is an error instead of a C++ stack
// overflow. The reader rejects source nested deeper than kMaxReadDepth, but
// eval and macros can build deeper forms, and a macro can expand into a call
// of itself forever.
#if defined(__SANITIZE_ADDRESS__)
// AddressSanitizer's frames are several times larger.
constexpr int kMaxCompileDepth = 3200;
#else
constexpr int kMaxCompileDepth = 10000;
#endif

// Shared by every Compiler of the thread: a macro that calls eval compiles
// with a new Compiler inside the outer one's recursion.
inline thread_local int compile_depth = 0;

// Thrown inside the compiler only and caught in compile_toplevel: a compile
// error unwinds the recursive descent in one step. It never crosses the VM
// loop: macro expansion returns its errors as values.
struct CompileError {
  Value error;
};

inline bool is_symbol(Value v, const char* name) {
  return v.is(Tag::Symbol) && static_cast<Symbol*>(v.o)->name->view() == name;
}

inline Cons* as_cons(Value v) {
  return static_cast<Cons*>(v.o);
}

inline std::vector<Value> list_items(Value list) {
  std::vector<Value> items;
  for (Value v = list; v.o != nullptr; v = as_cons(v)->rest) {
    items.push_back(as_cons(v)->first);
  }
  return items;
}

inline std::vector<Value> seq_items(Value v) {
  if (v.is(Tag::List)) {
    return list_items(v);
  }
  std::vector<Value> items;
  if (v.is(Tag::Vector)) {
    vector_each(v, [&](Value x) {
      items.push_back(x);
      return true;
    });
  }
  return items;
}

class Compiler {
 public:
  explicit Compiler(Isolate& iso) : iso_(iso), heap_(iso.heap()) { iso_.push_roots(&keep_); }
  ~Compiler() { iso_.pop_roots(&keep_); }

  Proto* toplevel(Value form);

 private:
  // ---- errors ---------------------------------------------------------------
  [[noreturn]] void fail(const std::string& message);

  // ---- emission ---------------------------------------------------------------
  Proto* new_proto();

  uint32_t here() const { return static_cast<uint32_t>(fn_->proto->code.size()); }

  void note_position();

  // Emits an instruction whose net effect on the stack depth is `effect`.
  uint32_t emit(Op op, uint32_t a = 0, int effect = 0);
  void adjust(int effect);
  void patch(uint32_t at, uint32_t target);

  // Emits "pop; if falsy, jump" (target patched later). When the value is
  // a comparison emitted just before, and no jump lands between the two,
  // the comparison becomes a compare-and-branch instruction instead.
  uint32_t emit_jump_if_false();
  uint32_t constant(Value v);
  void emit_constant(Value v);

  // ---- scopes ---------------------------------------------------------------
  // Where a symbol lives, seen from `fn`: -1 not found (global).
  enum class Where { Local, Self, Captured, Global };
  struct Resolved {
    Where where;
    uint32_t index;
  };

  Resolved resolve(FnState* fn, Symbol* name);

  bool is_local(Symbol* name) { return resolve_no_capture(fn_, name); }

  bool resolve_no_capture(FnState* fn, Symbol* name);
  Symbol* expect_symbol(Value v, const char* what);

  // ---- dispatch ---------------------------------------------------------------
  // Counts `weight` levels of recursion while alive. The steps that take
  // much C++ stack (a fn, a try, a macro expansion, which runs the VM) weigh
  // more than one.
  class DepthGuard {
   public:
    explicit DepthGuard(Compiler* c, int weight = 1) : weight_(weight) {
      if (compile_depth + weight > kMaxCompileDepth) {
        c->fail("form nested too deeply (more than " + std::to_string(kMaxCompileDepth) +
                " levels, counting macro expansions)");
      }
      compile_depth += weight;
    }
    ~DepthGuard() { compile_depth -= weight_; }
    DepthGuard(const DepthGuard&) = delete;
    DepthGuard& operator=(const DepthGuard&) = delete;

   private:
    int weight_;
  };

  void compile(Value form, bool tail);
  static bool is_constant_form(Value v);
  bool compile_keyword_lookup(Value keyword, Value form, Value args);
  bool compile_map_values(Value form, const std::vector<Value>& items);
  void compile_collection(Value form, Op op, const std::vector<Value>& items);
  void compile_symbol(Symbol* name);

  // Makes `form`'s position current (if it has one); returns the old one.
  SourcePos enter(Value form);
  void compile_list(Value form, bool tail);
  Value expand(Var* macro, Value form, Value args);
  bool compile_intrinsic(std::string_view name, Value args);

  // (+ x k), (+ k x), (- x k) and (< x k) ... (== x k), where k is an
  // integer literal, compile to one instruction with k as an operand
  // instead of a push of k and the operation: a signed 24-bit k in the
  // operand of OP_ADDI and OP_SUBI, a 32-bit one in the word after the
  // comparisons.
  bool compile_immediate(Op op, Value args);

  // ---- special forms -----------------------------------------------------------
  bool compile_special(std::string_view name, Value form, Value args, bool tail);
  void compile_body(const std::vector<Value>& forms, bool tail);
  void compile_if(const std::vector<Value>& a, bool tail);
  void compile_and_or(bool is_and, const std::vector<Value>& a, bool tail);
  void compile_def(bool is_macro, const std::vector<Value>& a);

  // (defmacro name doc? [params] body...) compiles like (fn name [params] body...).
  void compile_fn_parts(const std::vector<Value>& a, Symbol* name);

  // (fn name? [params] body...) or (fn name? ([params] body...) ...)
  void compile_fn(std::vector<Value> parts, Symbol* name);

  Proto* compile_arity(Value params, const std::vector<Value>& body, Symbol* self, Symbol* name,
                       std::vector<Capture>* captures);

  // (let [name init ...] body...) and (loop [...] body...).
  void compile_let(const std::vector<Value>& a, bool tail, bool is_loop);
  void compile_recur(const std::vector<Value>& a, bool tail);

  // (try body... (catch e handler...) (finally cleanup...))
  void compile_try(const std::vector<Value>& a);
  void emit_cleanup(const std::vector<Value>& cleanup);
  Isolate& iso_;
  Heap& heap_;
  FnState* fn_ = nullptr;
  std::vector<Value> keep_;  // rooted: forms, expansions and protos in progress
};

}  // namespace valk::lisp::compiling
