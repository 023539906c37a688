// Compiler from forms to bytecode. See opcodes.h for the instruction set.
//
// Invariants: compile() emits code that leaves exactly one value on the
// stack; FnState::depth mirrors the stack height above the frame base at
// every emitted instruction, so a let-bound local's slot is the depth at
// which its value was pushed.
#include "lisp/compiler.h"

#include <algorithm>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "lisp/collections.h"
#include "lisp/compiler_state.h"
#include "lisp/destructure.h"
#include "lisp/opcodes.h"
#include "lisp/printer.h"
#include "lisp/syntax_quote.h"

namespace valk::lisp {
namespace {

using compiling::Capture;
using compiling::FnState;
using compiling::Local;
using compiling::LoopTarget;

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
thread_local int compile_depth = 0;

// Thrown inside the compiler only and caught in compile_toplevel: a compile
// error unwinds the recursive descent in one step. It never crosses the VM
// loop: macro expansion returns its errors as values.
struct CompileError {
  Value error;
};

bool is_symbol(Value v, const char* name) {
  return v.is(Tag::Symbol) && static_cast<Symbol*>(v.o)->name->view() == name;
}

Cons* as_cons(Value v) {
  return static_cast<Cons*>(v.o);
}

std::vector<Value> list_items(Value list) {
  std::vector<Value> items;
  for (Value v = list; v.o != nullptr; v = as_cons(v)->rest) {
    items.push_back(as_cons(v)->first);
  }
  return items;
}

std::vector<Value> seq_items(Value v) {
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

  Proto* toplevel(Value form) {
    keep_.push_back(form);
    Proto* proto = new_proto();
    proto->name = heap_.make_string("<top level>");
    FnState fn;
    fn.proto = proto;
    std::vector<Capture> captures;
    fn.captures = &captures;
    fn.loops.push_back({0, 0, 0, 0, true});
    SourcePos pos;
    if (form.is_heap() && heap_.position(form.o, &pos)) {
      fn.pos = pos;
    }
    fn_ = &fn;
    compile(form, true);
    emit(OP_RETURN);
    fn_ = nullptr;
    return proto;
  }

 private:
  // ---- errors ---------------------------------------------------------------
  [[noreturn]] void fail(const std::string& message) {
    std::string where = heap_.file_name(fn_->pos.file) + ":" + std::to_string(fn_->pos.line) + ":" +
                        std::to_string(fn_->pos.column);
    Value kw = heap_.keyword("type");
    Value data[2] = {kw, heap_.keyword("syntax-error")};
    Error* e = iso_.make_error(heap_.string(where + ": " + message), map_from(heap_, data, 1));
    throw CompileError{val(e)};
  }

  // ---- emission ---------------------------------------------------------------
  Proto* new_proto() {
    Proto* p = heap_.make<Proto>(Tag::Proto);
    keep_.push_back(val(p));
    return p;
  }

  uint32_t here() const { return static_cast<uint32_t>(fn_->proto->code.size()); }

  void note_position() {
    Proto* p = fn_->proto;
    if (fn_->pos.line == 0) {
      return;
    }
    if (!p->lines.empty()) {
      const SourcePos& last = p->lines.back().second;
      if (last.line == fn_->pos.line && last.column == fn_->pos.column &&
          last.file == fn_->pos.file) {
        return;
      }
      if (p->lines.back().first == here()) {
        p->lines.back().second = fn_->pos;
        return;
      }
    }
    p->lines.emplace_back(here(), fn_->pos);
  }

  // Emits an instruction whose net effect on the stack depth is `effect`.
  uint32_t emit(Op op, uint32_t a = 0, int effect = 0) {
    if (a > kMaxOperand) {
      fail("function too large");
    }
    note_position();
    fn_->proto->code.push_back(encode(op, a));
    adjust(effect);
    return here() - 1;
  }

  void adjust(int effect) {
    fn_->depth += effect;
    if (fn_->depth > fn_->proto->max_stack) {
      fn_->proto->max_stack = fn_->depth;
    }
  }

  void patch(uint32_t at, uint32_t target) {
    uint32_t& word = fn_->proto->code[at];
    word = encode(op_of(word), target);
    fn_->last_label = target;
  }

  // Emits "pop; if falsy, jump" (target patched later). When the value is
  // a comparison emitted just before, and no jump lands between the two,
  // the comparison becomes a compare-and-branch instruction instead.
  uint32_t emit_jump_if_false() {
    uint32_t end = here();
    if (fn_->compare_end == end && fn_->last_label != end) {
      if (fn_->compare_has_literal) {
        // The literal stays in the word after the comparison.
        uint32_t& word = fn_->proto->code[end - 2];
        word = encode(static_cast<Op>(OP_JUMP_UNLESS_LTI + (op_of(word) - OP_LTI)));
        fn_->compare_end = UINT32_MAX;
        adjust(-1);
        return end - 2;
      }
      uint32_t& word = fn_->proto->code[end - 1];
      Op fused = static_cast<Op>(OP_JUMP_UNLESS_LT + (op_of(word) - OP_LT));
      word = encode(fused);
      fn_->compare_end = UINT32_MAX;
      adjust(-1);
      return end - 1;
    }
    return emit(OP_JUMP_IF_FALSE, 0, -1);
  }

  uint32_t constant(Value v) {
    uint64_t key = (static_cast<uint64_t>(v.i) * 31) ^ static_cast<uint64_t>(v.tag);
    auto it = fn_->constant_index.find(key);
    if (it != fn_->constant_index.end() && identical(fn_->proto->constants[it->second], v)) {
      return it->second;
    }
    auto index = static_cast<uint32_t>(fn_->proto->constants.size());
    fn_->proto->constants.push_back(v);
    fn_->constant_index[key] = index;
    return index;
  }

  void emit_constant(Value v) {
    if (v.is_nil()) {
      emit(OP_NIL, 0, 1);
    } else if (v.is(Tag::Bool)) {
      emit(v.b ? OP_TRUE : OP_FALSE, 0, 1);
    } else {
      emit(OP_CONST, constant(v), 1);
    }
  }

  // ---- scopes ---------------------------------------------------------------
  // Where a symbol lives, seen from `fn`: -1 not found (global).
  enum class Where { Local, Self, Captured, Global };
  struct Resolved {
    Where where;
    uint32_t index;
  };

  Resolved resolve(FnState* fn, Symbol* name) {
    for (size_t i = fn->locals.size(); i > 0; i--) {
      if (fn->locals[i - 1].name == name) {
        return {Where::Local, fn->locals[i - 1].slot};
      }
    }
    if (fn->self_name == name) {
      return {Where::Self, 0};
    }
    for (size_t i = 0; i < fn->captures->size(); i++) {
      if ((*fn->captures)[i].name == name) {
        return {Where::Captured, static_cast<uint32_t>(i)};
      }
    }
    if (fn->parent == nullptr) {
      return {Where::Global, 0};
    }
    Resolved outer = resolve(fn->parent, name);
    uint32_t word = 0;
    switch (outer.where) {
      case Where::Global:
        return outer;
      case Where::Local:
        word = kCaptureLocal | outer.index;
        break;
      case Where::Self:
        word = kCaptureSelf;
        break;
      case Where::Captured:
        word = kCaptureCaptured | outer.index;
        break;
    }
    fn->captures->push_back({name, word});
    return {Where::Captured, static_cast<uint32_t>(fn->captures->size() - 1)};
  }

  bool is_local(Symbol* name) { return resolve_no_capture(fn_, name); }

  bool resolve_no_capture(FnState* fn, Symbol* name) {
    for (FnState* f = fn; f != nullptr; f = f->parent) {
      for (const Local& l : f->locals) {
        if (l.name == name) {
          return true;
        }
      }
      if (f->self_name == name) {
        return true;
      }
    }
    return false;
  }

  Symbol* expect_symbol(Value v, const char* what) {
    if (!v.is(Tag::Symbol)) {
      fail(std::string(what) + " must be a symbol, got " + print_str(v, true));
    }
    return static_cast<Symbol*>(v.o);
  }

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

  void compile(Value form, bool tail) {
    DepthGuard guard(this);
    switch (form.tag) {
      case Tag::Symbol:
        compile_symbol(static_cast<Symbol*>(form.o));
        return;
      case Tag::List:
        if (form.o == nullptr) {
          emit_constant(form);
        } else {
          compile_list(form, tail);
        }
        return;
      case Tag::Vector:
        compile_collection(form, OP_VECTOR, seq_items(form));
        return;
      case Tag::Map: {
        std::vector<Value> items;
        map_each(form, [&](Value k, Value v) {
          items.push_back(k);
          items.push_back(v);
          return true;
        });
        compile_collection(form, OP_MAP, items);
        return;
      }
      case Tag::Set: {
        std::vector<Value> items;
        set_each(form, [&](Value x) {
          items.push_back(x);
          return true;
        });
        compile_collection(form, OP_SET, items);
        return;
      }
      default:
        emit_constant(form);
        return;
    }
  }

  static bool is_constant_form(Value v) {
    return !(v.is(Tag::Symbol) || (v.is(Tag::List) && v.o != nullptr) || v.is(Tag::Vector) ||
             v.is(Tag::Map) || v.is(Tag::Set));
  }

  void compile_collection(Value form, Op op, const std::vector<Value>& items) {
    bool all_constant = true;
    for (Value v : items) {
      all_constant = all_constant && is_constant_form(v);
    }
    if (all_constant) {
      emit_constant(form);
      return;
    }
    SourcePos saved = enter(form);
    for (Value v : items) {
      compile(v, false);
    }
    emit(op, static_cast<uint32_t>(items.size()), 1 - static_cast<int>(items.size()));
    fn_->pos = saved;
  }

  void compile_symbol(Symbol* name) {
    Resolved r = resolve(fn_, name);
    switch (r.where) {
      case Where::Local:
        emit(OP_LOCAL, r.index, 1);
        return;
      case Where::Self:
        emit(OP_SELF, 0, 1);
        return;
      case Where::Captured:
        emit(OP_CAPTURED, r.index, 1);
        return;
      case Where::Global: {
        Var* var = iso_.var(name);
        if (!var->defined && iso_.unresolved_refs != nullptr) {
          iso_.unresolved_refs->push_back({var, fn_->pos});
        }
        emit(OP_GLOBAL, constant(val(var)), 1);
        return;
      }
    }
  }

  // Makes `form`'s position current (if it has one); returns the old one.
  SourcePos enter(Value form) {
    SourcePos saved = fn_->pos;
    SourcePos pos;
    if (form.is_heap() && heap_.position(form.o, &pos)) {
      fn_->pos = pos;
    }
    return saved;
  }

  void compile_list(Value form, bool tail) {
    SourcePos saved = enter(form);
    Value head = as_cons(form)->first;
    Value args = as_cons(form)->rest;
    if (head.is(Tag::Symbol) && !is_local(static_cast<Symbol*>(head.o))) {
      auto* sym = static_cast<Symbol*>(head.o);
      if (compile_special(sym->name->view(), form, args, tail)) {
        fn_->pos = saved;
        return;
      }
      Var* var = iso_.var(sym);
      if (var->is_macro && var->defined) {
        Value expansion = expand(var, form, args);
        compile(expansion, tail);
        fn_->pos = saved;
        return;
      }
      if (compile_intrinsic(sym->name->view(), args)) {
        fn_->pos = saved;
        return;
      }
    }
    compile(head, false);
    uint32_t argc = 0;
    for (Value a = args; a.o != nullptr; a = as_cons(a)->rest) {
      compile(as_cons(a)->first, false);
      argc++;
    }
    fn_->pos = enter(form);
    bool tail_call = tail && fn_->loops.back().calls_in_tail && fn_->try_depth == 0;
    emit(tail_call ? OP_TAILCALL : OP_CALL, argc, -static_cast<int>(argc));
    fn_->pos = saved;
  }

  Value expand(Var* macro, Value form, Value args) {
    DepthGuard guard(this, 2);
    std::vector<Value> items = list_items(args);
    EvalResult r = iso_.call_macro(macro->value, items.data(), items.size());
    if (!r.ok) {
      // A syntax error from a compile inside the macro (it called eval) goes
      // on as it is: wrapping it again at every level of a recursive
      // expansion would print each inner message, escaped, into the next.
      Value type;
      if (r.value.is(Tag::Error) && static_cast<Error*>(r.value.o)->data.is(Tag::Map) &&
          map_find(static_cast<Error*>(r.value.o)->data, heap_.keyword("type"), &type) &&
          identical(type, heap_.keyword("syntax-error"))) {
        throw CompileError{r.value};
      }
      std::string msg = "while expanding " + std::string(macro->name->name->view()) + ": " +
                        print_str(r.value, false);
      fail(msg);
    }
    keep_.push_back(r.value);
    // Expanded code takes the position of the macro call where it has none.
    if (r.value.is_heap()) {
      SourcePos pos;
      if (!heap_.position(r.value.o, &pos) && heap_.position(form.o, &pos)) {
        heap_.set_position(r.value.o, pos);
      }
    }
    return r.value;
  }

  bool compile_intrinsic(std::string_view name, Value args) {
    struct Intrinsic {
      const char* name;
      Op op;
      int argc;
    };
    static constexpr Intrinsic kIntrinsics[] = {
        {"+", OP_ADD, 2}, {"-", OP_SUB, 2},   {"*", OP_MUL, 2},   {"<", OP_LT, 2},
        {"<=", OP_LE, 2}, {">", OP_GT, 2},    {">=", OP_GE, 2},   {"==", OP_NUM_EQ, 2},
        {"=", OP_EQ, 2},  {"inc", OP_INC, 1}, {"dec", OP_DEC, 1}, {"not", OP_NOT, 1},
    };
    int64_t argc = args.o == nullptr ? 0 : as_cons(args)->count;
    for (const Intrinsic& in : kIntrinsics) {
      if (name == in.name && argc == in.argc) {
        if (argc == 2 && compile_immediate(in.op, args)) {
          return true;
        }
        for (Value a = args; a.o != nullptr; a = as_cons(a)->rest) {
          compile(as_cons(a)->first, false);
        }
        emit(in.op, 0, 1 - in.argc);
        if (in.op >= OP_LT && in.op <= OP_NUM_EQ) {
          fn_->compare_end = here();
          fn_->compare_has_literal = false;
        }
        return true;
      }
    }
    return false;
  }

  // (+ x k), (+ k x), (- x k) and (< x k) ... (== x k), where k is an
  // integer literal, compile to one instruction with k as an operand
  // instead of a push of k and the operation: a signed 24-bit k in the
  // operand of OP_ADDI and OP_SUBI, a 32-bit one in the word after the
  // comparisons.
  bool compile_immediate(Op op, Value args) {
    Value x = as_cons(args)->first;
    Value k = as_cons(as_cons(args)->rest)->first;
    bool compare = op >= OP_LT && op <= OP_NUM_EQ;
    int64_t min = compare ? INT32_MIN : kMinOperand;
    int64_t max = compare ? INT32_MAX : kMaxSignedOperand;
    auto fits = [&](Value v) { return v.is_int() && v.i >= min && v.i <= max; };
    if (op != OP_ADD && op != OP_SUB && !compare) {
      return false;
    }
    if (op == OP_ADD && !fits(k)) {
      std::swap(x, k);  // k is a literal: evaluating it first or last is the same
    }
    if (!fits(k)) {
      return false;
    }
    compile(x, false);
    if (!compare) {
      emit(op == OP_ADD ? OP_ADDI : OP_SUBI, static_cast<uint32_t>(k.i) & kMaxOperand, 0);
      return true;
    }
    emit(static_cast<Op>(OP_LTI + (op - OP_LT)), 0, 0);
    fn_->proto->code.push_back(static_cast<uint32_t>(k.i));
    fn_->compare_end = here();
    fn_->compare_has_literal = true;
    return true;
  }

  // ---- special forms -----------------------------------------------------------
  bool compile_special(std::string_view name, Value form, Value args, bool tail) {
    std::vector<Value> a;
    auto items = [&]() -> std::vector<Value>& {
      a = list_items(args);
      return a;
    };
    if (name == "quote") {
      if (items().size() != 1) {
        fail("quote takes one form");
      }
      emit_constant(a[0]);
    } else if (name == "if") {
      compile_if(items(), tail);
    } else if (name == "do") {
      compile_body(items(), tail);
    } else if (name == "def" || name == "defmacro") {
      compile_def(name == "defmacro", items());
    } else if (name == "fn" || name == "λ" || name == "fn*") {
      compile_fn(items(), nullptr);
    } else if (name == "let") {
      compile_let(items(), tail, false);
    } else if (name == "loop") {
      compile_let(items(), tail, true);
    } else if (name == "recur") {
      compile_recur(items(), tail);
    } else if (name == "try") {
      compile_try(items());
    } else if (name == "throw") {
      if (items().size() != 1) {
        fail("throw takes one form");
      }
      compile(a[0], false);
      emit(OP_THROW);
    } else if (name == "and" || name == "or") {
      compile_and_or(name == "and", items(), tail);
    } else if (name == "syntax-quote") {
      if (items().size() != 1) {
        fail("syntax-quote takes one form");
      }
      Value expanded;
      std::string error;
      if (!expand_syntax_quote(iso_, a[0], kMaxCompileDepth - compile_depth, &expanded, &error)) {
        fail(error);
      }
      keep_.push_back(expanded);
      compile(expanded, tail);
    } else if (name == "unquote" || name == "unquote-splicing") {
      fail(std::string(name) + " outside syntax-quote");
    } else {
      return false;
    }
    return true;
  }

  void compile_body(const std::vector<Value>& forms, bool tail) {
    if (forms.empty()) {
      emit(OP_NIL, 0, 1);
      return;
    }
    for (size_t i = 0; i < forms.size(); i++) {
      bool last = i + 1 == forms.size();
      compile(forms[i], tail && last);
      if (!last) {
        emit(OP_POP, 0, -1);
      }
    }
  }

  void compile_if(const std::vector<Value>& a, bool tail) {
    if (a.size() < 2 || a.size() > 3) {
      fail("if takes a test, a then form and an optional else form");
    }
    compile(a[0], false);
    uint32_t to_else = emit_jump_if_false();
    compile(a[1], tail);
    uint32_t to_end = emit(OP_JUMP);
    adjust(-1);  // the else branch starts without the then branch's value
    patch(to_else, here());
    if (a.size() == 3) {
      compile(a[2], tail);
    } else {
      emit(OP_NIL, 0, 1);
    }
    patch(to_end, here());
  }

  void compile_and_or(bool is_and, const std::vector<Value>& a, bool tail) {
    if (a.empty()) {
      emit(is_and ? OP_TRUE : OP_NIL, 0, 1);
      return;
    }
    std::vector<uint32_t> jumps;
    for (size_t i = 0; i < a.size(); i++) {
      bool last = i + 1 == a.size();
      compile(a[i], tail && last);
      if (!last) {
        jumps.push_back(emit(is_and ? OP_AND_JUMP : OP_OR_JUMP, 0, -1));
      }
    }
    for (uint32_t j : jumps) {
      patch(j, here());
    }
  }

  void compile_def(bool is_macro, const std::vector<Value>& a) {
    if (a.empty() || (!is_macro && a.size() > 3)) {
      fail("def takes a name, an optional docstring and a value");
    }
    Symbol* name = expect_symbol(a[0], "the name in def");
    Value init = a.size() == 1 ? Value::nil() : a.back();
    if (is_macro) {
      compile_fn_parts(a, name);
    } else {
      if (init.is(Tag::List) && init.o != nullptr && as_cons(init)->first.is(Tag::Symbol) &&
          (is_symbol(as_cons(init)->first, "fn") || is_symbol(as_cons(init)->first, "λ"))) {
        // Name anonymous functions after their var, for stack traces.
        std::vector<Value> parts = list_items(as_cons(init)->rest);
        SourcePos saved = enter(init);
        compile_fn(parts, name);
        fn_->pos = saved;
      } else {
        compile(init, false);
      }
    }
    emit(is_macro ? OP_DEFMACRO : OP_DEF, constant(val(iso_.var(name))));
  }

  // (defmacro name doc? [params] body...) compiles like (fn name [params] body...).
  void compile_fn_parts(const std::vector<Value>& a, Symbol* name) {
    std::vector<Value> parts(a.begin() + 1, a.end());
    if (!parts.empty() && parts[0].is(Tag::String) && parts.size() > 1) {
      parts.erase(parts.begin());
    }
    compile_fn(parts, name);
  }

  // (fn name? [params] body...) or (fn name? ([params] body...) ...)
  void compile_fn(std::vector<Value> parts, Symbol* name) {
    DepthGuard guard(this, 2);
    Symbol* self = nullptr;
    if (!parts.empty() && parts[0].is(Tag::Symbol)) {
      self = static_cast<Symbol*>(parts[0].o);
      parts.erase(parts.begin());
    }
    if (name == nullptr) {
      name = self;
    }
    // Parameters are a vector, or a list of symbols: (fn (a b) ...). A list
    // whose first element is itself a vector or list is an arity clause.
    auto is_params = [](Value v) {
      return v.is(Tag::Vector) ||
             (v.is(Tag::List) && (v.o == nullptr || as_cons(v)->first.is(Tag::Symbol)));
    };
    std::vector<std::pair<Value, std::vector<Value>>> arities;
    if (!parts.empty() && is_params(parts[0])) {
      arities.emplace_back(parts[0], std::vector<Value>(parts.begin() + 1, parts.end()));
    } else {
      for (Value p : parts) {
        if (!p.is(Tag::List) || p.o == nullptr || !is_params(as_cons(p)->first)) {
          fail("fn needs a parameter vector, or lists of (params body...) for several arities");
        }
        arities.emplace_back(as_cons(p)->first, list_items(as_cons(p)->rest));
      }
    }
    if (arities.empty()) {
      fail("fn needs a parameter vector");
    }
    std::vector<Capture> captures;
    std::vector<Proto*> protos;
    for (auto& [params, body] : arities) {
      protos.push_back(compile_arity(params, body, self, name, &captures));
    }
    Proto* main = protos[0];
    if (protos.size() > 1) {
      for (Proto* p : protos) {
        main->arities.push_back(p);
      }
    }
    for (Proto* p : protos) {
      p->num_captures = static_cast<uint32_t>(captures.size());
    }
    emit(OP_CLOSURE, constant(val(main)), 1);
    for (const Capture& c : captures) {
      note_position();
      fn_->proto->code.push_back(c.word);
    }
  }

  Proto* compile_arity(Value params, const std::vector<Value>& body, Symbol* self, Symbol* name,
                       std::vector<Capture>* captures) {
    Proto* proto = new_proto();
    if (name != nullptr) {
      proto->name = name->name;
    }
    FnState fn;
    fn.parent = fn_;
    fn.proto = proto;
    fn.captures = captures;
    fn.self_name = self;
    fn.pos = fn_->pos;
    std::vector<Value> ps = seq_items(params);
    std::vector<Value> unpacked_body;
    if (std::any_of(ps.begin(), ps.end(), is_pattern)) {
      unpacked_body = {unpack_params(iso_, &ps, body)};
      keep_.push_back(unpacked_body[0]);
    }
    const std::vector<Value>& fn_body = unpacked_body.empty() ? body : unpacked_body;
    bool rest = false;
    for (size_t i = 0; i < ps.size(); i++) {
      Symbol* p = expect_symbol(ps[i], "a parameter");
      if (p->name->view() == "&") {
        if (i + 2 != ps.size()) {
          fail("& must be followed by exactly one parameter");
        }
        rest = true;
        continue;
      }
      fn.locals.push_back({p, fn.depth});
      fn.depth++;
    }
    proto->num_params = static_cast<uint32_t>(fn.locals.size()) - (rest ? 1 : 0);
    proto->variadic = rest;
    proto->max_stack = fn.depth;
    fn.loops.push_back({0, 0, static_cast<uint32_t>(fn.locals.size()), fn.depth, true});
    FnState* outer = fn_;
    fn_ = &fn;
    compile_body(fn_body, true);
    emit(OP_RETURN);
    fn_ = outer;
    return proto;
  }

  // (let [name init ...] body...) and (loop [...] body...).
  void compile_let(const std::vector<Value>& a, bool tail, bool is_loop) {
    if (a.empty() || !a[0].is(Tag::Vector)) {
      fail(std::string(is_loop ? "loop" : "let") + " needs a binding vector");
    }
    std::vector<Value> bindings = seq_items(a[0]);
    if (bindings.size() % 2 != 0) {
      fail("a binding vector needs an even number of forms");
    }
    bool has_pattern = false;
    for (size_t i = 0; i < bindings.size(); i += 2) {
      has_pattern = has_pattern || is_pattern(bindings[i]);
    }
    if (has_pattern && is_loop) {
      std::vector<Value> plain = loop_without_patterns(iso_, bindings, a);
      keep_.push_back(vector_from(heap_, plain.data(), plain.size()));
      compile_let(plain, tail, true);
      return;
    }
    if (has_pattern) {
      std::vector<Value> plain;
      std::string error;
      if (!destructure(iso_, bindings, &plain, &error)) {
        fail(error);
      }
      keep_.push_back(vector_from(heap_, plain.data(), plain.size()));
      bindings = std::move(plain);
    }
    size_t locals_before = fn_->locals.size();
    uint32_t depth_before = fn_->depth;
    for (size_t i = 0; i < bindings.size(); i += 2) {
      Symbol* name = expect_symbol(bindings[i], "a binding name");
      compile(bindings[i + 1], false);
      fn_->locals.push_back({name, fn_->depth - 1});
    }
    auto count = static_cast<uint32_t>(bindings.size() / 2);
    std::vector<Value> body(a.begin() + 1, a.end());
    if (is_loop) {
      bool calls_in_tail = tail && fn_->loops.back().calls_in_tail && fn_->try_depth == 0;
      fn_->loops.push_back({here(), depth_before, count, fn_->depth, calls_in_tail});
      compile_body(body, true);
      fn_->loops.pop_back();
    } else {
      compile_body(body, tail);
    }
    fn_->locals.resize(locals_before);
    if (count > 0) {
      emit(OP_SLIDE, count, -static_cast<int>(count));
    }
  }

  void compile_recur(const std::vector<Value>& a, bool tail) {
    if (!tail) {
      fail("recur must be in tail position");
    }
    const LoopTarget target = fn_->loops.back();
    uint32_t depth_at_recur = fn_->depth;
    if (a.size() != target.count) {
      fail("recur expects " + std::to_string(target.count) + " arguments, got " +
           std::to_string(a.size()));
    }
    for (Value v : a) {
      compile(v, false);
    }
    for (size_t i = a.size(); i > 0; i--) {
      emit(OP_SET_LOCAL, target.first_slot + static_cast<uint32_t>(i - 1), -1);
    }
    if (fn_->depth > target.depth) {
      emit(OP_POPN, fn_->depth - target.depth, -static_cast<int>(fn_->depth - target.depth));
    }
    emit(OP_LOOP, target.start_pc);
    // Control never falls through; keep the depth bookkeeping of a value.
    adjust(static_cast<int>(depth_at_recur + 1 - fn_->depth));
  }

  // (try body... (catch e handler...) (finally cleanup...))
  void compile_try(const std::vector<Value>& a) {
    DepthGuard guard(this, 2);
    std::vector<Value> body;
    Value catch_form, finally_form;
    for (Value v : a) {
      if (v.is(Tag::List) && v.o != nullptr && is_symbol(as_cons(v)->first, "catch")) {
        catch_form = v;
      } else if (v.is(Tag::List) && v.o != nullptr && is_symbol(as_cons(v)->first, "finally")) {
        finally_form = v;
      } else if (!catch_form.is_nil() || !finally_form.is_nil()) {
        fail("catch and finally must come last in try");
      } else {
        body.push_back(v);
      }
    }
    std::vector<Value> cleanup =
        finally_form.is_nil() ? std::vector<Value>{} : list_items(as_cons(finally_form)->rest);
    bool has_finally = !finally_form.is_nil();
    uint32_t depth0 = fn_->depth;

    uint32_t try_at = emit(OP_TRY);
    fn_->try_depth++;
    compile_body(body, false);
    fn_->try_depth--;
    emit(OP_END_TRY);
    uint32_t to_ok = emit(OP_JUMP);
    std::vector<uint32_t> rethrow_tries;

    fn_->depth = depth0;
    patch(try_at, here());
    adjust(1);  // the raised value
    if (!catch_form.is_nil()) {
      std::vector<Value> c = list_items(as_cons(catch_form)->rest);
      if (c.empty()) {
        fail("catch needs a name for the raised value");
      }
      Symbol* name = expect_symbol(c[0], "the name in catch");
      uint32_t inner_try = 0;
      if (has_finally) {
        inner_try = emit(OP_TRY);
        fn_->try_depth++;
      }
      fn_->locals.push_back({name, fn_->depth - 1});
      compile_body(std::vector<Value>(c.begin() + 1, c.end()), false);
      fn_->locals.pop_back();
      emit(OP_SLIDE, 1, -1);
      if (has_finally) {
        fn_->try_depth--;
        emit(OP_END_TRY);
        rethrow_tries.push_back(inner_try);
      }
    } else {
      // No catch: run the cleanup, then raise again.
      emit_cleanup(cleanup);
      emit(OP_THROW);
    }
    patch(to_ok, here());
    if (has_finally) {
      emit_cleanup(cleanup);
    }
    if (!rethrow_tries.empty()) {
      uint32_t to_end = emit(OP_JUMP);
      fn_->depth = depth0;
      for (uint32_t t : rethrow_tries) {
        patch(t, here());
      }
      adjust(1);
      emit_cleanup(cleanup);
      emit(OP_THROW);
      patch(to_end, here());
    }
    fn_->depth = depth0 + 1;
  }

  void emit_cleanup(const std::vector<Value>& cleanup) {
    if (cleanup.empty()) {
      return;
    }
    compile_body(cleanup, false);
    emit(OP_POP, 0, -1);
  }

  Isolate& iso_;
  Heap& heap_;
  FnState* fn_ = nullptr;
  std::vector<Value> keep_;  // rooted: forms, expansions and protos in progress
};

}  // namespace

CompileResult compile_toplevel(Isolate& iso, Value form) {
  Compiler compiler(iso);
  try {
    return {compiler.toplevel(form), Value::nil()};
  } catch (const CompileError& e) {
    return {nullptr, e.error};
  }
}

}  // namespace valk::lisp
