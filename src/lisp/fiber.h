// Fibers and promises: the units of asynchronous work in an isolate.
//
// A fiber's Lisp frames and operand stack are ordinary heap data, so a
// parked fiber costs only its own memory and the collector sees every
// value it holds.
#pragma once

#include <cstdint>
#include <vector>

#include "lisp/function.h"
#include "lisp/heap.h"
#include "lisp/object.h"

namespace valk::lisp {

struct Promise;
struct PendingOp;

struct Frame {
  Closure* closure;
  Proto* proto;   // the arity of closure->proto being run
  uint32_t pc;    // index of the next instruction in closure->proto->code
  uint32_t base;  // stack index of the first argument; the callee is at base-1
};

// An active `try`: where to unwind to when something is raised.
struct Handler {
  uint32_t frame_depth;   // frames.size() when the try was entered
  uint32_t stack_height;  // stack.size() when the try was entered
  uint32_t catch_pc;      // in the frame at frame_depth-1
};

enum class FiberState : uint8_t {
  Ready,    // in the isolate's run queue
  Running,  // on the VM now
  Parked,   // waiting on a promise
  Done,     // finished; `result` is settled
};

struct Fiber : Obj {
  // Slots [0, sp) are live; the vector is grown ahead of need so the VM can
  // address it through a raw pointer between calls.
  std::vector<Value> stack;
  uint32_t sp = 0;
  std::vector<Frame> frames;
  std::vector<Handler> handlers;
  Promise* result = nullptr;  // settles when the fiber returns or raises
  FiberState state = FiberState::Ready;
  // Counts parks; a wake-up that carries an older generation is stale.
  uint32_t wait_gen = 0;
  bool cancel_requested = false;
  // What resuming delivers: a value, or (when resume_error) a raise.
  bool has_resume = false;
  Value resume_value;
  bool resume_error = false;
  // Set by Isolate::raise(); read when a native returns Tag::Exception.
  Value pending_error;
  // Set by Isolate::tail_call(); read when a native returns Tag::TailCall.
  Value tail_fn;
  std::vector<Value> tail_args;
  Fiber* next_ready = nullptr;  // intrusive run-queue link
  uint64_t deadline_ms = 0;     // 0: none
  // Instructions run so far (counted when a slice ends or the fiber parks)
  // and the most it may run before it raises :budget-exceeded; 0: no limit.
  uint64_t instructions = 0;
  uint64_t instruction_limit = 0;
  // Bytes of the heap allocated while it ran (counted as its instructions
  // are, and at each safe point that collects), and the most it may
  // allocate before it raises :allocation-exceeded; 0: no limit. What a
  // completion allocates for it (a query's rows) is not counted.
  uint64_t allocated = 0;
  uint64_t allocation_limit = 0;
  // What the fiber serves, for figures by route: the router sets its
  // route ("GET /users/:id"). nil if nothing did.
  Value label;
  // The promise it is parked on (kept until it resumes).
  Promise* waiting_on = nullptr;
  // Tells fibers apart for as long as the isolate lives (addresses are
  // reused): an operation notes the serial of the fiber that started it.
  uint64_t serial = 0;
};

enum class PromiseState : uint8_t { Pending, Fulfilled, Rejected };

// What happens when a promise settles.
enum class ReactionKind : uint8_t {
  ResumeFiber,  // target: Fiber parked on the promise, gen must match
  AllSlot,      // target: AllState; index: slot
  Race,         // target: Promise settled by the first settlement
  CancelOp,     // target: Promise whose pending operation is cancelled
  Callback,     // target: a NativeReaction whose function is called
};

struct Reaction {
  Obj* target;
  ReactionKind kind;
  uint32_t index;
  uint32_t gen;
};

class Isolate;

// A C++ function to call when a promise settles (see ReactionKind::Callback).
// Allocate with Heap::make_class<NativeReaction>(Tag::Internal,
// &kNativeReactionClass); `data` is not traced.
struct NativeReaction : ClassObj {
  void (*fn)(Isolate& iso, NativeReaction* self, Promise* settled);
  void* data;
  uint64_t id;
};
extern const ObjClass kNativeReactionClass;

struct Promise : Obj {
  PromiseState state = PromiseState::Pending;
  Value value;  // result or raised value once settled
  std::vector<Reaction> reactions;
  Fiber* fiber = nullptr;   // the fiber whose result this is, if any
  PendingOp* op = nullptr;  // the I/O operation that settles it, if any
};

}  // namespace valk::lisp
