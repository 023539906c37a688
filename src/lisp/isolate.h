// An isolate: one Lisp heap, its globals, its fibers and the libuv loop
// that schedules them. Everything here belongs to the isolate's thread.
//
// This is the interpreter's internal interface; embedders use
// include/valk/valk.h instead.
#pragma once

#include <uv.h>

#include <cassert>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "lisp/fiber.h"
#include "lisp/heap.h"
#include "lisp/object.h"

namespace valk::lisp {

// An asynchronous operation in flight (a timer, a file read, ...). While
// linked into its isolate it keeps `promise` alive; it unlinks itself when
// it completes or is cancelled.
struct PendingOp {
  virtual ~PendingOp() = default;
  // Stops the operation; its promise is rejected with a cancellation error.
  virtual void cancel() = 0;
  // What it is, for an operator: "sleep 100 ms", "pg/query SELECT ...".
  virtual std::string describe() const { return "an operation"; }
  Promise* promise = nullptr;
  // The serial of the fiber that started it (Isolate::begin_op), 0 if none:
  // cancelling that fiber while it alone awaits the operation cancels it.
  uint64_t owner = 0;
  PendingOp* prev = nullptr;
  PendingOp* next = nullptr;
};

// PendingOp::describe of a database statement: "pg/query SELECT ...", the
// SQL cut after 120 characters.
std::string describe_statement(std::string_view fn, std::string_view sql);

// A reference to the global `var`, compiled at `pos` while it was undefined.
class HttpClient;
class H1Client;

// Something that holds handles on an isolate's loop for as long as the
// isolate lives (a database connection pool): the isolate keeps it, and
// closes it before the loop.
struct LoopResource {
  virtual ~LoopResource() = default;
  virtual void close() = 0;
};

struct UnresolvedRef {
  Var* var;
  SourcePos pos;
};

struct IsolateOptions {
  // Directories searched by `import`, in order.
  std::vector<std::string> module_paths;
  // Instructions a fiber runs before it yields to the others.
  uint32_t slice_budget = 10000;
  // Frames a fiber may have before a call raises a stack-overflow error.
  uint32_t max_frames = 100000;
  bool gc_stress = false;
  // Load lisp/valk/core.lisp at creation. Off only in tests of the VM.
  bool prelude = true;
  // Seeds `rand` and `rand-int`, so a run with the same seed repeats.
  uint64_t random_seed = 0x5EED5EED5EED5EEDULL;
};

// Outcome of running Lisp code to completion from C++.
struct EvalResult {
  bool ok;
  Value value;  // the result, or the raised value when !ok
};

// $VALK_PATH entries, then the standard library directory of the source
// tree (when it exists) and of the installation.
std::vector<std::string> default_module_paths();

// A root slot that holds nothing: what a member that roots a value only
// at times holds meanwhile.
constexpr uint32_t kNoSlot = UINT32_MAX;

class Isolate {
 public:
  explicit Isolate(IsolateOptions options = {});
  ~Isolate();
  Isolate(const Isolate&) = delete;
  Isolate& operator=(const Isolate&) = delete;

  Heap& heap() { return heap_; }
  uv_loop_t* loop() { return &loop_; }
  const IsolateOptions& options() const { return options_; }

  // ---- globals ------------------------------------------------------------
  // Returns the Var for `name`, creating an undefined one if needed.
  Var* var(Symbol* name);
  Var* var(std::string_view name) { return var(heap_.intern_symbol(name)); }
  void define(std::string_view name, Value value);
  // Defines a native; max_args -1 means variadic.
  Native* define_native(std::string_view name, NativeFn fn, int min_args, int max_args,
                        void* data = nullptr);

  // ---- running code (from C++; runs the loop until done) -------------------
  // Reads, compiles and runs every form of `source`; returns the last value.
  EvalResult eval_string(std::string_view source, std::string_view file_name);
  EvalResult eval_file(const std::string& path);
  // Calls `fn` with `args` in a new fiber and runs the loop until it ends.
  EvalResult call(Value fn, const Value* args, size_t n);
  // Compiles and runs one form (a top-level `do` is split so that macros it
  // defines apply to its later forms).
  EvalResult eval_form(Value form);
  // Runs the fibers and the loop until `p` settles.
  EvalResult run_until(Promise* p);
  // Runs a macro function to completion without running other fibers; a
  // macro that awaits gets an error.
  EvalResult call_macro(Value fn, const Value* args, size_t n);

  // ---- for natives ----------------------------------------------------------
  // The fiber running now (nullptr outside the VM).
  Fiber* current() { return current_; }
  // The native being called now (valid inside a native).
  Native* current_native() { return current_native_; }
  // Free for the embedding layer (the valk::Runtime that owns this isolate).
  void* embedder = nullptr;
  // Sets `raised` as the current fiber's pending error and returns the
  // Tag::Exception sentinel, which the native must return.
  Value raise(Value raised);
  // Raises an Error whose data is {:type :<type>} plus the pairs of `extra`
  // (a map or nil). `type` is a keyword name such as "type-error".
  Value raise_error(std::string_view type, std::string message, Value extra = Value::nil());
  // "fn-name: expected <expected>, got <type of got>" as a :type-error.
  Value type_error(std::string_view fn_name, std::string_view expected, Value got);
  // For a native about to allocate `bytes` in one go (range's elements):
  // false, with :allocation-exceeded raised, if that takes the current
  // fiber past its allocation budget. The VM checks the budget only
  // between instructions, too late for one call that allocates gigabytes.
  bool may_allocate(std::string_view fn_name, uint64_t bytes);
  // Bytes the current fiber may still allocate (SIZE_MAX without a
  // budget): the bound of text a native builds from data that does not
  // bound it (a structure holding one large value many times, printed).
  // Past it, may_allocate(fn_name, size) raises.
  size_t allocation_left() const;
  // A human-readable report of a raised value: the message, then the Lisp
  // stack trace with file:line:column, one frame a line.
  std::string describe(Value raised);
  // Makes an Error value with the current fiber's stack trace.
  Error* make_error(Value message, Value data);
  // The frames of `f`, innermost first (function and position).
  std::vector<TraceEntry> trace_of(const Fiber* f);
  // Gives `e` the current fiber's stack trace if it has none: an error
  // made in a loop callback (a failed query, file or HTTP request) gets
  // the trace of the fiber that awaits it.
  void add_trace(Error* e);
  // An Error of :type :cancelled.
  Error* make_cancelled(std::string_view message);
  // Asks the VM to call `fn` with `args` in place of the native; returns the
  // Tag::TailCall sentinel, which the native must return.
  Value tail_call(Value fn, const Value* args, size_t n);

  // ---- promises and fibers --------------------------------------------------
  Promise* make_promise();
  // Settles `p` if it is pending (a second settlement is ignored).
  void resolve(Promise* p, Value v);
  void reject(Promise* p, Value v);
  // Settles `target` the way `source` (settled) is.
  void settle_like(Promise* target, Promise* source);
  // Starts `fn` (called with no arguments) in a new fiber.
  Fiber* spawn(Value fn);
  // Starts `fn` called with `args` in a new fiber.
  Fiber* spawn_call(Value fn, const Value* args, size_t n);
  // As spawn_call, for a fiber that keeps to what the current one (if
  // any) has left of its deadline and budgets: a handler cannot outrun
  // them through fibers of its own.
  Fiber* spawn_child(Value fn, const Value* args, size_t n);
  // Calls reaction->fn when `p` settles (at once if it has).
  void on_settle(Promise* p, NativeReaction* reaction);
  // Runs ready fibers and loop events until `*stop` becomes true (checked
  // after each loop turn; set it from a loop callback).
  void run_loop(const bool* stop);
  // Whether a fiber is ready to run (or running).
  bool busy() const { return ready_head_ != nullptr || current_ != nullptr; }
  // Gives each fiber ready now one slice, from inside a loop callback: for
  // a host that has just made fibers ready there and wants them run before
  // the loop goes on. Not while a fiber runs (a native function that polls
  // the loop).
  void run_round() {
    assert(current_ == nullptr);
    run_ready(nullptr);
  }
  // Runs fibers and loop events until nothing is left to run: no ready
  // fiber, no timer or I/O pending (what `valk run` does at the end).
  void run_until_idle();
  // Called on the loop's thread each time the loop is about to block with no
  // fiber ready, before the heap's idle work: for a host that shares the
  // loop and has work of its own to finish first (valk serve's one-thread
  // mode writes its responses out).
  void set_before_block(std::function<void()> fn) { before_block_ = std::move(fn); }
  // Parks the current fiber until `p` settles; returns Tag::Park.
  Value park_on(Promise* p);
  // Requests cancellation of the fiber behind `p` (or of its operation).
  void cancel(Promise* p);
  // Cancels the operation behind `p` if the fiber numbered `owner` started
  // it and nothing waits on `p` any more: every reaction is a stale fiber
  // wait, or an `all`, `race` or `timeout` already settled. A fiber
  // cancelled, or a `timeout` run out, so stops the work it left.
  void cancel_unawaited_op(Promise* p, uint64_t owner);

  // Makes `fiber` runnable.
  void enqueue(Fiber* fiber);
  // A fresh number for gensym.
  uint64_t next_gensym() { return ++gensym_counter_; }
  // The state of the isolate's random number generator (builtins_number.cc).
  uint64_t& random_state() { return random_state_; }

  // The isolate's outgoing HTTP transfers (http/request), made at first use:
  // libcurl's, and its own for cleartext HTTP/1.1.
  HttpClient& http_client();
  H1Client& h1_client();
  // Keeps `r` until the isolate ends, and returns it.
  template <class T>
  T* keep(std::unique_ptr<T> r) {
    T* p = r.get();
    resources_.push_back(std::move(r));
    return p;
  }

  // Pending operations (timers, I/O) root their promises while linked.
  void link_op(PendingOp* op);
  void unlink_op(PendingOp* op);
  // For an operation allocated with new: links `op` and returns its new
  // promise.
  Promise* begin_op(PendingOp* op);
  // Unlinks `op`, fulfils (ok) or rejects its promise with `v`, then
  // deletes `op`.
  void end_op(PendingOp* op, bool ok, Value v);

  // Marks every value of `*values` at each collection until pop_roots().
  void push_roots(std::vector<Value>* values) { root_vectors_.push_back(values); }
  void pop_roots(std::vector<Value>* values);

  // Keeps `v` alive until unroot(); returns the slot index (never kNoSlot).
  uint32_t root(Value v);
  Value rooted(uint32_t slot) const { return roots_[slot]; }
  void unroot(uint32_t slot);

  // ---- code generations (valk serve's reload) -------------------------------
  // An app is loaded, and loaded again, in generations of globals. Code
  // refers to the Vars it was compiled against, so a generation's code
  // keeps running with its own definitions while the next one is loaded
  // beside it.
  //
  // Remembers the globals defined now (the core library, natives) and the
  // modules loaded: every generation starts from them.
  void mark_base();
  // Starts a generation: the globals become fresh Vars holding the base's
  // values and the modules those of the base, so that what is compiled and
  // defined from now on neither sees nor changes the previous generation.
  // The previous one stays current for `defonce` (previous_var) until
  // commit_generation() or abandon_generation(). After mark_base().
  void begin_generation();
  // Keeps the new generation; the previous one lives on in the code that
  // refers to its Vars, as long as that code does.
  void commit_generation();
  // Drops the new generation and makes the previous one current again.
  void abandon_generation();
  // The modules the current generation loaded beyond the base's (absolute
  // paths).
  std::vector<std::string> generation_modules() const;
  // The Var named `name` in the generation being replaced, if a new one is
  // being loaded and that one had it; else null.
  Var* previous_var(Symbol* name);

 private:
  friend class Vm;
  void mark_roots(Tracer& t);
  void load_prelude();
  Fiber* new_fiber(Value fn, const Value* args, size_t n);
  // Keeps a finished fiber's stack and frame vectors for the next fiber.
  void recycle_stack(Fiber* f);
  Closure* trampoline(uint32_t argc);
  void run_ready(Promise* until);
  // Polling the loop costs a clock read and a system call, too much to do
  // after every round of short slices: while fibers are ready, the loop is
  // polled once a slice budget of work (Vm::run adds to work_since_poll_)
  // has been done since the last poll, which bounds timer and I/O latency
  // as preemption does.
  bool poll_due() const {
    return ready_head_ == nullptr || work_since_poll_ >= options_.slice_budget;
  }
  // Polls the loop: without blocking while fibers are ready; otherwise
  // after the before-block hook and the heap's idle work. Returns uv_run's
  // result.
  int poll();
  void settle(Promise* p, PromiseState state, Value v);

  IsolateOptions options_;
  Heap heap_;
  uv_loop_t loop_;
  std::unordered_map<Symbol*, Var*> globals_;
  // The same Vars, marked from here at each collection: walking the map
  // would chase one cold node per global.
  std::vector<Var*> global_vars_;
  uint64_t random_state_ = 0;
  Fiber* current_ = nullptr;
  Native* current_native_ = nullptr;
  Fiber* ready_head_ = nullptr;
  Fiber* ready_tail_ = nullptr;
  // Inside poll()'s uv_run: a fiber made ready there stops the loop
  // (enqueue), since libuv 1.44's UV_RUN_ONCE runs the timers due when it
  // is entered and then blocks in the poll until the next timer or event,
  // whatever their callbacks made ready.
  bool polling_ = false;
  std::vector<Value> roots_;
  std::vector<uint32_t> free_roots_;
  std::vector<std::vector<Value>*> root_vectors_;
  std::vector<Closure*> trampolines_;  // index: argc
  // Stacks of finished fibers, reused by new ones: a request's fiber would
  // otherwise grow its stack from 16 slots, reallocating, every time.
  struct SpareStack {
    std::vector<Value> stack;
    std::vector<Frame> frames;
  };
  std::vector<SpareStack> spare_stacks_;
  size_t spare_slots_ = 0;    // the stack slots of spare_stacks_, in all
  PendingOp* ops_ = nullptr;  // intrusive list of pending operations
  uint64_t gensym_counter_ = 0;
  uint64_t fiber_serial_ = 0;
  uint64_t work_since_poll_ = 0;
  std::function<void()> before_block_;
  std::vector<std::unique_ptr<LoopResource>> resources_;
  HttpClient* http_client_ = nullptr;  // one of resources_, once made
  H1Client* h1_client_ = nullptr;      // the same
  // A set of globals, and the modules loaded into it.
  struct Generation {
    std::unordered_map<Symbol*, Var*> globals;
    std::vector<Var*> vars;
    std::unordered_map<std::string, bool> modules;
  };
  std::unique_ptr<Generation> base_;      // mark_base()
  std::unique_ptr<Generation> previous_;  // while a generation is begun

 public:
  // Absolute paths of modules imported so far.
  std::unordered_map<std::string, bool> modules;
  // When set, the compiler notes each reference to a global that is not
  // defined yet (a forward reference, or a typo that would fail when run);
  // a host checks after loading that they all got defined.
  std::vector<UnresolvedRef>* unresolved_refs = nullptr;
};

}  // namespace valk::lisp
