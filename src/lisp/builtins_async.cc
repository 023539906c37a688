// Promises, fibers and timers: spawn await sleep all race timeout cancel.
#include <string>

#include "lisp/builtins.h"
#include "lisp/collections.h"
#include "lisp/isolate.h"

namespace valk::lisp {
namespace {

// State of an `all`: results filled in as the promises settle.
struct AllState : ClassObj {
  std::vector<Value> results;
  size_t remaining;
  Promise* target;
};

const ObjClass kAllStateClass = {
    "all-state",
    [](Obj* self, Tracer& t) {
      auto* s = static_cast<AllState*>(self);
      for (Value v : s->results) {
        t.mark(v);
      }
      t.mark(s->target);
    },
    [](Obj* self) { static_cast<AllState*>(self)->~AllState(); },
};

// A libuv timer that settles a promise: `sleep` fulfils it with nil,
// `timeout` rejects it with a timeout error.
struct TimerOp : PendingOp {
  Isolate* iso;
  uv_timer_t timer;
  bool rejects;
  // A `timeout`'s: the operation's promise it bounds, if it bounds one.
  Promise* guarded = nullptr;
  int64_t ms = 0;

  std::string describe() const override {
    return std::string(rejects ? "timeout " : "sleep ") + std::to_string(ms) + " ms";
  }

  void finish() {
    iso->unlink_op(this);
    promise->op = nullptr;
    uv_timer_stop(&timer);
    uv_close(reinterpret_cast<uv_handle_t*>(&timer),
             [](uv_handle_t* h) { delete static_cast<TimerOp*>(h->data); });
  }

  void cancel() override {
    Promise* p = promise;
    finish();
    iso->reject(p, val(iso->make_cancelled("the timer was cancelled")));
  }
};

Promise* start_timer(Isolate& iso, int64_t ms, bool rejects) {
  Promise* p = iso.make_promise();
  auto* op = new TimerOp();
  op->iso = &iso;
  op->promise = p;
  op->rejects = rejects;
  op->ms = ms;
  op->owner = iso.current() != nullptr ? iso.current()->serial : 0;
  p->op = op;
  iso.link_op(op);
  uv_timer_init(iso.loop(), &op->timer);
  op->timer.data = op;
  // The loop's clock is as of its last turn, which may be long past (a
  // script idle between evaluations, a batch of requests): count from now.
  uv_update_time(iso.loop());
  uv_timer_start(
      &op->timer,
      [](uv_timer_t* t) {
        auto* op = static_cast<TimerOp*>(t->data);
        Isolate& iso = *op->iso;
        Promise* p = op->promise;
        bool rejects = op->rejects;
        Promise* guarded = op->guarded;
        uint64_t owner = op->owner;
        op->finish();
        if (rejects) {
          Heap& h = iso.heap();
          Value data[2] = {h.keyword("type"), h.keyword("timeout")};
          iso.reject(p, val(iso.make_error(h.string("timed out"), map_from(h, data, 1))));
          if (guarded != nullptr) {
            // (timeout 100 (http/get url)) stops the request.
            iso.cancel_unawaited_op(guarded, owner);
          }
        } else {
          iso.resolve(p, Value::nil());
        }
      },
      static_cast<uint64_t>(ms), 0);
  return p;
}

bool as_promise_list(Isolate& iso, const char* fn, Value coll, std::vector<Promise*>* out) {
  bool ok = true;
  auto add = [&](Value v) {
    if (!v.is(Tag::Promise)) {
      ok = false;
      iso.type_error(fn, "a collection of promises", v);
      return false;
    }
    out->push_back(static_cast<Promise*>(v.o));
    return true;
  };
  if (coll.is(Tag::Vector)) {
    vector_each(coll, add);
  } else if (coll.is(Tag::List)) {
    for (Value v = coll; v.o != nullptr && ok; v = static_cast<Cons*>(v.o)->rest) {
      add(static_cast<Cons*>(v.o)->first);
    }
  } else {
    iso.type_error(fn, "a vector or list of promises", coll);
    return false;
  }
  return ok;
}

bool ms_arg(Isolate& iso, const char* fn, Value v, int64_t* ms) {
  if (!v.is_int() || v.i < 0) {
    iso.type_error(fn, "a non-negative integer of milliseconds", v);
    return false;
  }
  *ms = v.i;
  return true;
}

// ---- natives ------------------------------------------------------------------

Value n_spawn(Isolate& iso, Value* args, int argc) {
  Value fn = args[0];
  if (argc > 1) {
    return iso.raise_error("arity-error", "spawn: takes one function of no arguments");
  }
  return val(iso.spawn_child(fn, nullptr, 0)->result);
}

Value n_await(Isolate& iso, Value* args, int argc) {
  if (!args[0].is(Tag::Promise)) {
    return args[0];
  }
  auto* p = static_cast<Promise*>(args[0].o);
  switch (p->state) {
    case PromiseState::Fulfilled:
      return p->value;
    case PromiseState::Rejected:
      if (p->value.is(Tag::Error)) {
        iso.add_trace(static_cast<Error*>(p->value.o));
      }
      return iso.raise(p->value);
    case PromiseState::Pending:
      break;
  }
  return iso.park_on(p);
}

Value n_sleep(Isolate& iso, Value* args, int argc) {
  int64_t ms;
  if (!ms_arg(iso, "sleep", args[0], &ms)) {
    return Value::sentinel(Tag::Exception);
  }
  return val(start_timer(iso, ms, false));
}

Value n_all(Isolate& iso, Value* args, int argc) {
  std::vector<Promise*> ps;
  if (!as_promise_list(iso, "all", args[0], &ps)) {
    return Value::sentinel(Tag::Exception);
  }
  Heap& h = iso.heap();
  Promise* target = iso.make_promise();
  auto* state = h.make_class<AllState>(Tag::Internal, &kAllStateClass);
  state->results.resize(ps.size());
  state->remaining = ps.size();
  state->target = target;
  for (size_t i = 0; i < ps.size() && target->state == PromiseState::Pending; i++) {
    Promise* p = ps[i];
    if (p->state == PromiseState::Fulfilled) {
      state->results[i] = p->value;
      state->remaining--;
    } else if (p->state == PromiseState::Rejected) {
      iso.reject(target, p->value);
    } else {
      p->reactions.push_back(Reaction{state, ReactionKind::AllSlot, static_cast<uint32_t>(i), 0});
    }
  }
  if (state->remaining == 0 && target->state == PromiseState::Pending) {
    iso.resolve(target, vector_from(h, state->results.data(), state->results.size()));
  }
  return val(target);
}

Value n_race(Isolate& iso, Value* args, int argc) {
  std::vector<Promise*> ps;
  if (!as_promise_list(iso, "race", args[0], &ps)) {
    return Value::sentinel(Tag::Exception);
  }
  Promise* target = iso.make_promise();
  for (Promise* p : ps) {
    if (p->state == PromiseState::Fulfilled) {
      iso.resolve(target, p->value);
    } else if (p->state == PromiseState::Rejected) {
      iso.reject(target, p->value);
    } else {
      p->reactions.push_back(Reaction{target, ReactionKind::Race, 0, 0});
    }
    if (target->state != PromiseState::Pending) {
      break;
    }
  }
  return val(target);
}

Value n_timeout(Isolate& iso, Value* args, int argc) {
  int64_t ms;
  if (!ms_arg(iso, "timeout", args[0], &ms)) {
    return Value::sentinel(Tag::Exception);
  }
  if (!args[1].is(Tag::Promise)) {
    return iso.type_error("timeout", "a promise", args[1]);
  }
  auto* p = static_cast<Promise*>(args[1].o);
  Promise* target = iso.make_promise();
  if (p->state != PromiseState::Pending) {
    iso.settle_like(target, p);
    return val(target);
  }
  Promise* timer = start_timer(iso, ms, true);
  if (p->op != nullptr) {
    // Alive while the timer runs: linked with its operation until it
    // settles, and then the timer is cancelled (below).
    static_cast<TimerOp*>(timer->op)->guarded = p;
  }
  p->reactions.push_back(Reaction{target, ReactionKind::Race, 0, 0});
  timer->reactions.push_back(Reaction{target, ReactionKind::Race, 0, 0});
  // When `p` wins, the timer is stopped so it does not linger.
  p->reactions.push_back(Reaction{timer, ReactionKind::CancelOp, 0, 0});
  return val(target);
}

Value n_cancel(Isolate& iso, Value* args, int argc) {
  if (!args[0].is(Tag::Promise)) {
    return iso.type_error("cancel", "a promise", args[0]);
  }
  iso.cancel(static_cast<Promise*>(args[0].o));
  return Value::nil();
}

Value n_promise_p(Isolate& iso, Value* args, int argc) {
  return Value::boolean(args[0].is(Tag::Promise));
}

Value n_realized_p(Isolate& iso, Value* args, int argc) {
  if (!args[0].is(Tag::Promise)) {
    return iso.type_error("realized?", "a promise", args[0]);
  }
  return Value::boolean(static_cast<Promise*>(args[0].o)->state != PromiseState::Pending);
}

}  // namespace

const ObjClass kNativeReactionClass = {"native-reaction", [](Obj*, Tracer&) {}, nullptr};

void Isolate::on_settle(Promise* p, NativeReaction* reaction) {
  if (p->state != PromiseState::Pending) {
    reaction->fn(*this, reaction, p);
    return;
  }
  p->reactions.push_back(Reaction{reaction, ReactionKind::Callback, 0, 0});
}

void Isolate::cancel_unawaited_op(Promise* p, uint64_t owner) {
  if (p->state != PromiseState::Pending || p->op == nullptr || owner == 0 ||
      p->op->owner != owner) {
    return;
  }
  for (const Reaction& r : p->reactions) {
    bool waits = false;
    switch (r.kind) {
      case ReactionKind::ResumeFiber: {
        auto* f = static_cast<Fiber*>(r.target);
        waits = f->state == FiberState::Parked && f->wait_gen == r.gen;
        break;
      }
      case ReactionKind::AllSlot:
        waits = static_cast<AllState*>(r.target)->target->state == PromiseState::Pending;
        break;
      case ReactionKind::Race:
        waits = static_cast<Promise*>(r.target)->state == PromiseState::Pending;
        break;
      case ReactionKind::CancelOp:
        break;  // not a wait: it stops another operation when `p` settles
      case ReactionKind::Callback:
        waits = true;
        break;
    }
    if (waits) {
      return;
    }
  }
  p->op->cancel();
}

void Isolate::settle_like(Promise* target, Promise* source) {
  settle(target, source->state, source->value);
}

void Isolate::settle(Promise* p, PromiseState state, Value v) {
  if (p->state != PromiseState::Pending) {
    return;
  }
  p->state = state;
  p->value = v;
  std::vector<Reaction> reactions = std::move(p->reactions);
  p->reactions.clear();
  for (const Reaction& r : reactions) {
    switch (r.kind) {
      case ReactionKind::ResumeFiber: {
        auto* f = static_cast<Fiber*>(r.target);
        if (f->state != FiberState::Parked || f->wait_gen != r.gen) {
          break;  // stale: the fiber stopped waiting on this (timeout, cancel)
        }
        f->has_resume = true;
        f->resume_value = v;
        f->resume_error = state == PromiseState::Rejected;
        f->state = FiberState::Ready;
        enqueue(f);
        break;
      }
      case ReactionKind::AllSlot: {
        auto* s = static_cast<AllState*>(r.target);
        if (s->target->state != PromiseState::Pending) {
          break;
        }
        if (state == PromiseState::Rejected) {
          reject(s->target, v);
          break;
        }
        s->results[r.index] = v;
        if (--s->remaining == 0) {
          resolve(s->target, vector_from(heap_, s->results.data(), s->results.size()));
        }
        break;
      }
      case ReactionKind::Race:
        settle(static_cast<Promise*>(r.target), state, v);
        break;
      case ReactionKind::Callback: {
        auto* n = static_cast<NativeReaction*>(r.target);
        n->fn(*this, n, p);
        break;
      }
      case ReactionKind::CancelOp: {
        auto* other = static_cast<Promise*>(r.target);
        if (other->op != nullptr) {
          other->op->cancel();
        }
        break;
      }
    }
  }
}

void register_async_natives(Isolate& iso) {
  iso.define_native("spawn", n_spawn, 1, 1);
  iso.define_native("await", n_await, 1, 1);
  iso.define_native("sleep", n_sleep, 1, 1);
  iso.define_native("all", n_all, 1, 1);
  iso.define_native("race", n_race, 1, 1);
  iso.define_native("timeout", n_timeout, 2, 2);
  iso.define_native("cancel", n_cancel, 1, 1);
  iso.define_native("promise?", n_promise_p, 1, 1);
  iso.define_native("realized?", n_realized_p, 1, 1);
}

}  // namespace valk::lisp
