// The special forms: if, do, and/or, def, fn (with arities and
// destructured parameters), let/loop/recur, try/catch/finally, quote,
// syntax-quote. Each leaves one value on the stack, as compile() does.
#include <algorithm>
#include <string>
#include <vector>

#include "lisp/compiler_internal.h"
#include "lisp/destructure.h"
#include "lisp/syntax_quote.h"

namespace valk::lisp::compiling {

bool Compiler::compile_special(std::string_view name, Value form, Value args, bool tail) {
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

void Compiler::compile_body(const std::vector<Value>& forms, bool tail) {
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

void Compiler::compile_if(const std::vector<Value>& a, bool tail) {
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

void Compiler::compile_and_or(bool is_and, const std::vector<Value>& a, bool tail) {
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

void Compiler::compile_def(bool is_macro, const std::vector<Value>& a) {
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

void Compiler::compile_fn_parts(const std::vector<Value>& a, Symbol* name) {
  std::vector<Value> parts(a.begin() + 1, a.end());
  if (!parts.empty() && parts[0].is(Tag::String) && parts.size() > 1) {
    parts.erase(parts.begin());
  }
  compile_fn(parts, name);
}

void Compiler::compile_fn(std::vector<Value> parts, Symbol* name) {
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

Proto* Compiler::compile_arity(Value params, const std::vector<Value>& body, Symbol* self,
                               Symbol* name, std::vector<Capture>* captures) {
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

void Compiler::compile_let(const std::vector<Value>& a, bool tail, bool is_loop) {
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

void Compiler::compile_recur(const std::vector<Value>& a, bool tail) {
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

void Compiler::compile_try(const std::vector<Value>& a) {
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

void Compiler::emit_cleanup(const std::vector<Value>& cleanup) {
  if (cleanup.empty()) {
    return;
  }
  compile_body(cleanup, false);
  emit(OP_POP, 0, -1);
}

}  // namespace valk::lisp::compiling
