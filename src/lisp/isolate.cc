#include "lisp/isolate.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "lisp/builtins.h"
#include "lisp/collections.h"
#include "lisp/compiler.h"
#include "lisp/h1_client.h"
#include "lisp/http_client.h"
#include "lisp/opcodes.h"
#include "lisp/printer.h"
#include "lisp/reader.h"
#include "lisp/vm.h"

namespace valk::lisp {

Isolate::Isolate(IsolateOptions options) : options_(std::move(options)) {
  uv_loop_init(&loop_);
  heap_.set_root_marker([this](Tracer& t) { mark_roots(t); });
  heap_.set_stress(options_.gc_stress);
  register_core_natives(*this);
  register_async_natives(*this);
  register_collection_natives(*this);
  register_string_natives(*this);
  register_compress_natives(*this);
  register_number_natives(*this);
  register_json_natives(*this);
  register_web_natives(*this);
  register_http_natives(*this);
  register_file_natives(*this);
  register_store_natives(*this);
  register_sqlite_natives(*this);
  register_pg_natives(*this);
  register_redis_natives(*this);
  register_websocket_natives(*this);
  // Syntax-quote and destructuring expand to calls of these names, which
  // user code cannot shadow by accident.
  for (const char* name :
       {"list", "concat", "vec", "apply", "hash-map", "set", "nth", "get", "seq", "drop"}) {
    Var* v = var(name);
    define(std::string("valk.core/") + name, v->value);
  }
  for (std::string& dir : default_module_paths()) {
    options_.module_paths.push_back(std::move(dir));
  }
  if (options_.prelude) {
    load_prelude();
  }
}

void Isolate::load_prelude() {
  // The core library defines what `import` itself uses, so it is
  // evaluated directly.
  std::string core;
  for (const std::string& dir : options_.module_paths) {
    std::error_code ec;
    std::filesystem::path p = std::filesystem::path(dir) / "valk" / "core.lisp";
    if (std::filesystem::is_regular_file(p, ec)) {
      core = std::filesystem::weakly_canonical(p, ec).string();
      break;
    }
  }
  if (core.empty()) {
    fprintf(stderr, "valk: cannot find valk/core.lisp in the module path\n");
    abort();
  }
  modules[core] = true;
  EvalResult r = eval_file(core);
  if (!r.ok) {
    fprintf(stderr, "valk: cannot load the core library: %s\n", describe(r.value).c_str());
    abort();
  }
}

std::vector<std::string> default_module_paths() {
  std::vector<std::string> paths;
  if (const char* env = getenv("VALK_PATH")) {
    std::string_view rest = env;
    while (!rest.empty()) {
      size_t colon = rest.find(':');
      std::string_view dir = rest.substr(0, colon);
      if (!dir.empty()) {
        paths.emplace_back(dir);
      }
      rest = colon == std::string_view::npos ? "" : rest.substr(colon + 1);
    }
  }
  std::error_code ec;
  if (std::filesystem::is_directory(VALK_LISP_DIR_BUILD, ec)) {
    paths.emplace_back(VALK_LISP_DIR_BUILD);
  }
  paths.emplace_back(VALK_LISP_DIR_INSTALL);
  return paths;
}

Isolate::~Isolate() {
  // Cancel what is still pending so its handles close, then drain the loop.
  while (ops_ != nullptr) {
    PendingOp* op = ops_;
    op->cancel();
    if (ops_ == op) {
      unlink_op(op);  // a cancel that did not unlink itself
    }
  }
  for (auto& r : resources_) {
    r->close();
  }
  uv_run(&loop_, UV_RUN_DEFAULT);
  uv_loop_close(&loop_);
}

std::string describe_statement(std::string_view fn, std::string_view sql) {
  constexpr size_t kShown = 120;
  std::string out = std::string(fn) + " " + std::string(sql.substr(0, kShown));
  if (sql.size() > kShown) {
    out += "...";
  }
  return out;
}

HttpClient& Isolate::http_client() {
  if (http_client_ == nullptr) {
    http_client_ = keep(std::make_unique<HttpClient>(&loop_));
  }
  return *http_client_;
}

H1Client& Isolate::h1_client() {
  if (h1_client_ == nullptr) {
    h1_client_ = keep(std::make_unique<H1Client>(&loop_));
  }
  return *h1_client_;
}

Promise* Isolate::begin_op(PendingOp* op) {
  Promise* p = make_promise();
  op->promise = p;
  op->owner = current_ != nullptr ? current_->serial : 0;
  p->op = op;
  link_op(op);
  return p;
}

void Isolate::end_op(PendingOp* op, bool ok, Value v) {
  Promise* p = op->promise;
  unlink_op(op);
  p->op = nullptr;
  // Settled first: `v` is rooted by nothing else, and the op's destructor
  // may allocate (an HttpOp cancels its :body function's fiber).
  if (ok) {
    resolve(p, v);
  } else {
    reject(p, v);
  }
  delete op;
}

bool Isolate::may_allocate(std::string_view fn_name, uint64_t bytes) {
  Fiber* f = current_;
  if (f == nullptr || f->allocation_limit == 0 || f->allocated + bytes < f->allocation_limit) {
    return true;
  }
  f->allocation_limit = 0;  // spent, as when the VM finds it so
  raise_error("allocation-exceeded", std::string(fn_name) + ": " + std::to_string(bytes) +
                                         " bytes would take the fiber past its allocation budget");
  return false;
}

size_t Isolate::allocation_left() const {
  const Fiber* f = current_;
  if (f == nullptr || f->allocation_limit == 0) {
    return SIZE_MAX;
  }
  return f->allocated < f->allocation_limit ? f->allocation_limit - f->allocated : 0;
}

Error* Isolate::make_cancelled(std::string_view message) {
  Value data[2] = {heap_.keyword("type"), heap_.keyword("cancelled")};
  return make_error(heap_.string(message), map_from(heap_, data, 1));
}

void Isolate::mark_roots(Tracer& t) {
  for (Var* v : global_vars_) {
    t.mark(v);
  }
  for (const Generation* g : {base_.get(), previous_.get()}) {
    if (g != nullptr) {
      for (Var* v : g->vars) {
        t.mark(v);
      }
    }
  }
  for (Value v : roots_) {
    t.mark(v);
  }
  for (const std::vector<Value>* vec : root_vectors_) {
    for (Value v : *vec) {
      t.mark(v);
    }
  }
  for (Closure* c : trampolines_) {
    t.mark(c);
  }
  for (Fiber* f = ready_head_; f != nullptr; f = f->next_ready) {
    t.mark(f);
  }
  t.mark(current_);
  for (PendingOp* op = ops_; op != nullptr; op = op->next) {
    t.mark(op->promise);
  }
}

void Isolate::pop_roots(std::vector<Value>* values) {
  auto it = std::find(root_vectors_.rbegin(), root_vectors_.rend(), values);
  if (it != root_vectors_.rend()) {
    root_vectors_.erase(std::next(it).base());
  }
}

uint32_t Isolate::root(Value v) {
  if (!free_roots_.empty()) {
    uint32_t slot = free_roots_.back();
    free_roots_.pop_back();
    roots_[slot] = v;
    return slot;
  }
  roots_.push_back(v);
  return static_cast<uint32_t>(roots_.size() - 1);
}

void Isolate::unroot(uint32_t slot) {
  roots_[slot] = Value::nil();
  free_roots_.push_back(slot);
}

void Isolate::link_op(PendingOp* op) {
  op->prev = nullptr;
  op->next = ops_;
  if (ops_ != nullptr) {
    ops_->prev = op;
  }
  ops_ = op;
}

void Isolate::unlink_op(PendingOp* op) {
  if (op->prev != nullptr) {
    op->prev->next = op->next;
  } else if (ops_ == op) {
    ops_ = op->next;
  }
  if (op->next != nullptr) {
    op->next->prev = op->prev;
  }
  op->prev = op->next = nullptr;
}

// ---------------------------------------------------------------------------
// Globals

Var* Isolate::var(Symbol* name) {
  auto it = globals_.find(name);
  if (it != globals_.end()) {
    return it->second;
  }
  Var* v = heap_.make<Var>(Tag::Var);
  v->name = name;
  globals_.emplace(name, v);
  global_vars_.push_back(v);
  return v;
}

void Isolate::define(std::string_view name, Value value) {
  Var* v = var(name);
  v->value = value;
  v->defined = true;
}

void Isolate::mark_base() {
  // A generation starts from the base's Vars and modules; nothing looks a
  // name up in the base itself.
  base_ = std::make_unique<Generation>(Generation{{}, global_vars_, modules});
}

void Isolate::begin_generation() {
  assert(base_ != nullptr && previous_ == nullptr);
  previous_ = std::make_unique<Generation>(
      Generation{std::move(globals_), std::move(global_vars_), std::move(modules)});
  globals_.clear();
  global_vars_.clear();
  modules = base_->modules;
  for (Var* b : base_->vars) {
    Var* v = var(b->name);
    v->value = b->value;
    v->defined = b->defined;
    v->is_macro = b->is_macro;
  }
}

void Isolate::commit_generation() {
  previous_.reset();
}

void Isolate::abandon_generation() {
  assert(previous_ != nullptr);
  globals_ = std::move(previous_->globals);
  global_vars_ = std::move(previous_->vars);
  modules = std::move(previous_->modules);
  previous_.reset();
}

std::vector<std::string> Isolate::generation_modules() const {
  std::vector<std::string> paths;
  for (const auto& [path, loaded] : modules) {
    if (base_ == nullptr || base_->modules.count(path) == 0) {
      paths.push_back(path);
    }
  }
  return paths;
}

Var* Isolate::previous_var(Symbol* name) {
  if (previous_ == nullptr) {
    return nullptr;
  }
  auto it = previous_->globals.find(name);
  return it != previous_->globals.end() ? it->second : nullptr;
}

Native* Isolate::define_native(std::string_view name, NativeFn fn, int min_args, int max_args,
                               void* data) {
  Native* n = heap_.make<Native>(Tag::Native);
  n->fn = fn;
  n->name = heap_.make_string(name);
  n->min_args = static_cast<int16_t>(min_args);
  n->max_args = static_cast<int16_t>(max_args);
  n->data = data;
  define(name, val(n));
  return n;
}

// ---------------------------------------------------------------------------
// Errors

Error* Isolate::make_error(Value message, Value data) {
  Error* e = heap_.make<Error>(Tag::Error);
  e->message = message;
  e->data = data;
  add_trace(e);
  return e;
}

std::vector<TraceEntry> Isolate::trace_of(const Fiber* f) {
  std::vector<TraceEntry> trace;
  for (size_t i = f->frames.size(); i > 0; i--) {
    const Frame& fr = f->frames[i - 1];
    uint32_t t = fr.proto->num_params - 1;
    if (i == 1 && t < trampolines_.size() && fr.closure == trampolines_[t]) {
      continue;  // the fiber's entry trampoline
    }
    TraceEntry entry;
    entry.function = fr.proto->name != nullptr ? std::string(fr.proto->name->view()) : "fn";
    entry.pos = fr.proto->position_at(fr.pc > 0 ? fr.pc - 1 : 0);
    trace.push_back(std::move(entry));
  }
  return trace;
}

void Isolate::add_trace(Error* e) {
  if (current_ != nullptr && e->trace.empty()) {
    e->trace = trace_of(current_);
  }
}

std::string Isolate::describe(Value raised) {
  if (!raised.is(Tag::Error)) {
    return "uncaught: " + print_str(raised, true);
  }
  auto* e = static_cast<Error*>(raised.o);
  std::string out = "error: " + print_str(e->message, false);
  Value type;
  if (e->data.is(Tag::Map) && map_find(e->data, heap_.keyword("type"), &type)) {
    out += " (" + print_str(type, true) + ")";
  }
  for (const TraceEntry& t : e->trace) {
    out += "\n  at " + t.function;
    if (t.pos.line != 0) {
      out += " (" + heap_.file_name(t.pos.file) + ":" + std::to_string(t.pos.line) + ":" +
             std::to_string(t.pos.column) + ")";
    }
  }
  return out;
}

Value Isolate::raise(Value raised) {
  if (current_ != nullptr) {
    current_->pending_error = raised;
  }
  return Value::sentinel(Tag::Exception);
}

Value Isolate::raise_error(std::string_view type, std::string message, Value extra) {
  Value data = map_from(heap_, nullptr, 0);
  if (extra.is(Tag::Map)) {
    data = extra;
  }
  data = map_assoc(heap_, data, heap_.keyword("type"), heap_.keyword(type));
  return raise(val(make_error(heap_.string(message), data)));
}

Value Isolate::type_error(std::string_view fn_name, std::string_view expected, Value got) {
  return raise_error("type-error", std::string(fn_name) + ": expected " + std::string(expected) +
                                       ", got " + std::string(type_name(got)));
}

Value Isolate::tail_call(Value fn, const Value* args, size_t n) {
  Fiber* f = current_;
  f->tail_fn = fn;
  f->tail_args.assign(args, args + n);
  return Value::sentinel(Tag::TailCall);
}

// ---------------------------------------------------------------------------
// Promises and fibers

Promise* Isolate::make_promise() {
  return heap_.make<Promise>(Tag::Promise);
}

void Isolate::resolve(Promise* p, Value v) {
  settle(p, PromiseState::Fulfilled, v);
}

void Isolate::reject(Promise* p, Value v) {
  settle(p, PromiseState::Rejected, v);
}

void Isolate::enqueue(Fiber* f) {
  f->next_ready = nullptr;
  if (ready_tail_ != nullptr) {
    ready_tail_->next_ready = f;
  } else {
    ready_head_ = f;
  }
  ready_tail_ = f;
  if (polling_) {
    uv_stop(&loop_);  // the poll does not block: this turn ends, and the fiber runs
  }
}

Closure* Isolate::trampoline(uint32_t argc) {
  while (trampolines_.size() <= argc) {
    auto n = static_cast<uint32_t>(trampolines_.size());
    Proto* p = heap_.make<Proto>(Tag::Proto);
    p->code = {encode(OP_CALL, n), encode(OP_RETURN)};
    p->num_params = n + 1;
    p->max_stack = n + 2;
    Closure* c = heap_.make<Closure>(Tag::Closure);
    c->proto = p;
    c->num_captured = 0;
    trampolines_.push_back(c);
  }
  return trampolines_[argc];
}

// A fiber starts in a trampoline frame whose only instructions call `fn`
// with the arguments already on the stack, then return.
Fiber* Isolate::new_fiber(Value fn, const Value* args, size_t n) {
  Closure* t = trampoline(static_cast<uint32_t>(n));
  Fiber* f = heap_.make<Fiber>(Tag::Fiber);
  f->serial = ++fiber_serial_;
  f->result = make_promise();
  f->result->fiber = f;
  size_t need = std::max<size_t>(16, n + 10);
  if (!spare_stacks_.empty()) {
    // Slots past sp are never read before written, nor traced: the old
    // values may stay.
    f->stack = std::move(spare_stacks_.back().stack);
    f->frames = std::move(spare_stacks_.back().frames);
    spare_stacks_.pop_back();
    spare_slots_ -= f->stack.size();
  }
  if (f->stack.size() < need) {
    f->stack.resize(need);
  }
  f->stack[0] = val(t);
  f->stack[1] = fn;
  for (size_t i = 0; i < n; i++) {
    f->stack[2 + i] = args[i];
  }
  f->sp = static_cast<uint32_t>(n + 2);
  // Room for the trampoline and the function it calls, so that the first
  // call does not reallocate (more would cost ~48 bytes per parked fiber).
  f->frames.reserve(2);
  f->frames.push_back(Frame{t, t->proto, 0, 1});
  return f;
}

void Isolate::recycle_stack(Fiber* f) {
  // Deep recursion's stacks are not worth keeping. The spares may hold
  // 256 KiB of slots in all: enough for the fibers of a loop turn's
  // requests (with 16 spares, a turn of 32 requests grew half its stacks
  // afresh: 2.5 % of the instructions of an HTTP/1.1 request).
  constexpr size_t kMaxSlots = 4096, kMaxSpareSlots = 16384;
  f->sp = 0;
  f->frames.clear();
  if (f->stack.size() <= kMaxSlots && spare_slots_ + f->stack.size() <= kMaxSpareSlots) {
    spare_slots_ += f->stack.size();
    spare_stacks_.push_back(SpareStack{std::move(f->stack), std::move(f->frames)});
  }
  f->stack = std::vector<Value>();
  f->frames = std::vector<Frame>();
}

Fiber* Isolate::spawn(Value fn) {
  Fiber* f = new_fiber(fn, nullptr, 0);
  enqueue(f);
  return f;
}

Fiber* Isolate::spawn_call(Value fn, const Value* args, size_t n) {
  Fiber* f = new_fiber(fn, args, n);
  enqueue(f);
  return f;
}

namespace {

// What a fiber has left of a budget (0: none to keep to).
uint64_t left_of(uint64_t limit, uint64_t used) {
  return limit == 0 ? 0 : used >= limit ? 1 : limit - used;
}

}  // namespace

Fiber* Isolate::spawn_child(Value fn, const Value* args, size_t n) {
  Fiber* child = spawn_call(fn, args, n);
  if (Fiber* parent = current_) {
    child->deadline_ms = parent->deadline_ms;
    child->instruction_limit = left_of(parent->instruction_limit, parent->instructions);
    child->allocation_limit = left_of(parent->allocation_limit, parent->allocated);
  }
  return child;
}

void Isolate::run_loop(const bool* stop) {
  while (!*stop) {
    run_ready(nullptr);
    if (*stop) {
      break;
    }
    if (!poll_due()) {
      continue;
    }
    poll();
  }
}

int Isolate::poll() {
  work_since_poll_ = 0;
  if (ready_head_ == nullptr) {
    if (before_block_) {
      before_block_();
    }
    heap_.idle_work();
  }
  polling_ = true;
  int alive = uv_run(&loop_, ready_head_ != nullptr ? UV_RUN_NOWAIT : UV_RUN_ONCE);
  polling_ = false;
  return alive;
}

void Isolate::run_until_idle() {
  for (;;) {
    run_ready(nullptr);
    if (poll() == 0 && ready_head_ == nullptr) {
      return;
    }
  }
}

Value Isolate::park_on(Promise* p) {
  Fiber* f = current_;
  if (f->cancel_requested) {
    f->cancel_requested = false;
    return raise_error("cancelled", "the fiber was cancelled");
  }
  f->wait_gen++;
  p->reactions.push_back(Reaction{f, ReactionKind::ResumeFiber, 0, f->wait_gen});
  f->waiting_on = p;
  f->state = FiberState::Parked;
  return Value::sentinel(Tag::Park);
}

void Isolate::cancel(Promise* p) {
  if (p->state != PromiseState::Pending) {
    return;
  }
  if (p->op != nullptr) {
    p->op->cancel();
    return;
  }
  Fiber* f = p->fiber;
  if (f == nullptr) {
    reject(p, val(make_cancelled("cancelled")));
    return;
  }
  if (f->state == FiberState::Parked) {
    // Wake it with a cancellation error at its await; the wait it was in
    // becomes stale.
    f->wait_gen++;
    Fiber* saved = current_;
    current_ = f;
    Error* e = make_cancelled("the fiber was cancelled");
    current_ = saved;
    f->has_resume = true;
    f->resume_error = true;
    f->resume_value = val(e);
    f->state = FiberState::Ready;
    enqueue(f);
    // An operation the fiber started and alone awaited goes with it: a
    // handler whose client left stops its outgoing request or query.
    if (f->waiting_on != nullptr) {
      cancel_unawaited_op(f->waiting_on, f->serial);
    }
  } else if (f->state != FiberState::Done) {
    f->cancel_requested = true;
  }
}

// Runs one round: each fiber that is ready now gets one slice (until it
// parks, ends or uses up its budget). Fibers made ready during the round
// wait for the next one, so a fiber that never parks, preempted and
// requeued, cannot keep the loop from polling timers and I/O. Stops early
// once `until` (if given) settles.
void Isolate::run_ready(Promise* until) {
  size_t n = 0;
  for (Fiber* f = ready_head_; f != nullptr; f = f->next_ready) {
    n++;
  }
  for (; n > 0 && ready_head_ != nullptr; n--) {
    if (until != nullptr && until->state != PromiseState::Pending) {
      return;
    }
    Fiber* f = ready_head_;
    ready_head_ = f->next_ready;
    if (ready_head_ == nullptr) {
      ready_tail_ = nullptr;
    }
    f->next_ready = nullptr;
    Vm::run(*this, f, false);
  }
}

// Returns as soon as `p` settles, even if other fibers are still ready:
// they go on at the next await or evaluation.
EvalResult Isolate::run_until(Promise* p) {
  uint32_t slot = root(val(p));
  while (p->state == PromiseState::Pending) {
    run_ready(p);
    if (p->state != PromiseState::Pending) {
      break;
    }
    if (!poll_due()) {
      continue;
    }
    if (poll() == 0 && ready_head_ == nullptr && p->state == PromiseState::Pending) {
      unroot(slot);
      Value data[2] = {heap_.keyword("type"), heap_.keyword("deadlock")};
      return {false, val(make_error(heap_.string("awaited a promise that can never settle"),
                                    map_from(heap_, data, 1)))};
    }
  }
  unroot(slot);
  return {p->state == PromiseState::Fulfilled, p->value};
}

EvalResult Isolate::call(Value fn, const Value* args, size_t n) {
  Fiber* f = new_fiber(fn, args, n);
  enqueue(f);
  return run_until(f->result);
}

EvalResult Isolate::call_macro(Value fn, const Value* args, size_t n) {
  Fiber* f = new_fiber(fn, args, n);
  uint32_t slot = root(val(f));
  Vm::run(*this, f, true);
  unroot(slot);
  return {f->result->state == PromiseState::Fulfilled, f->result->value};
}

// ---------------------------------------------------------------------------
// Evaluation

EvalResult Isolate::eval_form(Value form) {
  if (form.is(Tag::List) && form.o != nullptr) {
    auto* c = static_cast<Cons*>(form.o);
    if (c->first.is(Tag::Symbol) && static_cast<Symbol*>(c->first.o)->name->view() == "do") {
      std::vector<Value> forms{form};
      push_roots(&forms);
      EvalResult r{true, Value::nil()};
      for (Value v = c->rest; v.o != nullptr && r.ok; v = static_cast<Cons*>(v.o)->rest) {
        r = eval_form(static_cast<Cons*>(v.o)->first);
      }
      pop_roots(&forms);
      return r;
    }
  }
  uint32_t slot = root(form);
  CompileResult compiled = compile_toplevel(*this, form);
  unroot(slot);
  if (compiled.proto == nullptr) {
    return {false, compiled.error};
  }
  Closure* c = heap_.make<Closure>(Tag::Closure);
  c->proto = compiled.proto;
  c->num_captured = 0;
  return call(val(c), nullptr, 0);
}

EvalResult Isolate::eval_string(std::string_view source, std::string_view file_name) {
  ReadResult read = read_all(heap_, source, file_name);
  if (!read.ok) {
    Value data[2] = {heap_.keyword("type"), heap_.keyword("read-error")};
    std::string where = std::string(file_name) + ":" + std::to_string(read.error.pos.line) + ":" +
                        std::to_string(read.error.pos.column);
    return {false, val(make_error(heap_.string(where + ": " + read.error.message),
                                  map_from(heap_, data, 1)))};
  }
  push_roots(&read.forms);
  EvalResult r{true, Value::nil()};
  for (Value form : read.forms) {
    r = eval_form(form);
    if (!r.ok) {
      break;
    }
  }
  pop_roots(&read.forms);
  return r;
}

EvalResult Isolate::eval_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    Value data[2] = {heap_.keyword("type"), heap_.keyword("io-error")};
    return {false, val(make_error(heap_.string("cannot read " + path), map_from(heap_, data, 1)))};
  }
  std::stringstream buf;
  buf << in.rdbuf();
  return eval_string(buf.str(), path);
}

SourcePos Proto::position_at(uint32_t pc) const {
  SourcePos pos;
  for (const auto& [at, p] : lines) {
    if (at > pc) {
      break;
    }
    pos = p;
  }
  return pos;
}

}  // namespace valk::lisp
