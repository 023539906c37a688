// Compiler from forms to bytecode: the core (emission, constants, scopes,
// the dispatch of a form, calls, macro expansion, intrinsics). The special
// forms are in compiler_forms.cc. See opcodes.h for the instruction set.
//
// Invariants: compile() emits code that leaves exactly one value on the
// stack; FnState::depth mirrors the stack height above the frame base at
// every emitted instruction, so a let-bound local's slot is the depth at
// which its value was pushed.
#include "lisp/compiler.h"

#include <string>
#include <vector>

#include "lisp/compiler_internal.h"
#include "lisp/printer.h"
#include "lisp/syntax_quote.h"

namespace valk::lisp {
namespace compiling {

Proto* Compiler::toplevel(Value form) {
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

void Compiler::fail(const std::string& message) {
  std::string where = heap_.file_name(fn_->pos.file) + ":" + std::to_string(fn_->pos.line) + ":" +
                      std::to_string(fn_->pos.column);
  Value kw = heap_.keyword("type");
  Value data[2] = {kw, heap_.keyword("syntax-error")};
  Error* e = iso_.make_error(heap_.string(where + ": " + message), map_from(heap_, data, 1));
  throw CompileError{val(e)};
}

Proto* Compiler::new_proto() {
  Proto* p = heap_.make<Proto>(Tag::Proto);
  keep_.push_back(val(p));
  return p;
}

void Compiler::note_position() {
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

uint32_t Compiler::emit(Op op, uint32_t a, int effect) {
  if (a > kMaxOperand) {
    fail("function too large");
  }
  note_position();
  fn_->proto->code.push_back(encode(op, a));
  adjust(effect);
  return here() - 1;
}

void Compiler::adjust(int effect) {
  fn_->depth += effect;
  if (fn_->depth > fn_->proto->max_stack) {
    fn_->proto->max_stack = fn_->depth;
  }
}

void Compiler::patch(uint32_t at, uint32_t target) {
  uint32_t& word = fn_->proto->code[at];
  word = encode(op_of(word), target);
  fn_->last_label = target;
}

uint32_t Compiler::emit_jump_if_false() {
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

uint32_t Compiler::constant(Value v) {
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

void Compiler::emit_constant(Value v) {
  if (v.is_nil()) {
    emit(OP_NIL, 0, 1);
  } else if (v.is(Tag::Bool)) {
    emit(v.b ? OP_TRUE : OP_FALSE, 0, 1);
  } else {
    emit(OP_CONST, constant(v), 1);
  }
}

Compiler::Resolved Compiler::resolve(FnState* fn, Symbol* name) {
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

bool Compiler::resolve_no_capture(FnState* fn, Symbol* name) {
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

Symbol* Compiler::expect_symbol(Value v, const char* what) {
  if (!v.is(Tag::Symbol)) {
    fail(std::string(what) + " must be a symbol, got " + print_str(v, true));
  }
  return static_cast<Symbol*>(v.o);
}

void Compiler::compile(Value form, bool tail) {
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
      if (!compile_map_values(form, items)) {
        compile_collection(form, OP_MAP, items);
      }
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

bool Compiler::is_constant_form(Value v) {
  return !(v.is(Tag::Symbol) || (v.is(Tag::List) && v.o != nullptr) || v.is(Tag::Vector) ||
           v.is(Tag::Map) || v.is(Tag::Set));
}

void Compiler::compile_collection(Value form, Op op, const std::vector<Value>& items) {
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

// A map literal with constant keys and some computed value: the values,
// then the keys copied from a prototype (the reader's map has distinct
// keys, so the prototype needs no checking). False if it is not one.
bool Compiler::compile_map_values(Value form, const std::vector<Value>& items) {
  size_t n = items.size() / 2;
  if (n == 0 || n > kMapProtoMax) {
    return false;
  }
  bool all_constant = true;
  std::vector<Value> keys_to_nil(2 * n);
  for (size_t i = 0; i < n; i++) {
    if (!is_constant_form(items[2 * i])) {
      return false;
    }
    keys_to_nil[2 * i] = items[2 * i];
    all_constant = all_constant && is_constant_form(items[2 * i + 1]);
  }
  if (all_constant) {
    return false;  // the literal itself is the constant
  }
  uint32_t proto = constant(map_from(heap_, keys_to_nil.data(), n));
  SourcePos saved = enter(form);
  for (size_t i = 0; i < n; i++) {
    compile(items[2 * i + 1], false);
  }
  emit(OP_MAP_VALUES, proto, 1 - static_cast<int>(n));
  fn_->pos = saved;
  return true;
}

void Compiler::compile_symbol(Symbol* name) {
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

SourcePos Compiler::enter(Value form) {
  SourcePos saved = fn_->pos;
  SourcePos pos;
  if (form.is_heap() && heap_.position(form.o, &pos)) {
    fn_->pos = pos;
  }
  return saved;
}

void Compiler::compile_list(Value form, bool tail) {
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
  if (head.is(Tag::Keyword) && compile_keyword_lookup(head, form, args)) {
    fn_->pos = saved;
    return;
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

// (:k coll) and (:k coll default), the usual way to read a map, compile to
// one instruction instead of a call of the keyword. False for other
// argument counts, which the call raises an arity error for.
bool Compiler::compile_keyword_lookup(Value keyword, Value form, Value args) {
  std::vector<Value> items = list_items(args);
  if (items.empty() || items.size() > 2) {
    return false;
  }
  for (Value a : items) {
    compile(a, false);
  }
  fn_->pos = enter(form);
  uint32_t k = constant(keyword);
  if (items.size() == 1) {
    emit(OP_GET_KEY, k, 0);
  } else {
    emit(OP_GET_KEY_OR, k, -1);
  }
  return true;
}

Value Compiler::expand(Var* macro, Value form, Value args) {
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

bool Compiler::compile_intrinsic(std::string_view name, Value args) {
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

bool Compiler::compile_immediate(Op op, Value args) {
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

}  // namespace compiling

CompileResult compile_toplevel(Isolate& iso, Value form) {
  compiling::Compiler compiler(iso);
  try {
    return {compiler.toplevel(form), Value::nil()};
  } catch (const compiling::CompileError& e) {
    return {nullptr, e.error};
  }
}

}  // namespace valk::lisp
