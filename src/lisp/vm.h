// The bytecode interpreter.
#pragma once

#include "lisp/fiber.h"
#include "lisp/isolate.h"

namespace valk::lisp {

class Vm {
 public:
  // Runs `fiber` until it parks, finishes, or (unless `nested`) uses up its
  // instruction budget, in which case it goes back to the run queue.
  // `nested` runs a macro: no preemption, and parking is an error.
  // Lisp-to-Lisp calls never recurse on the C++ stack.
  static void run(Isolate& iso, Fiber* fiber, bool nested);
};

// Whether `argc` arguments fit `proto`'s parameters.
inline bool arity_fits(const Proto* p, uint32_t argc) {
  return p->variadic ? argc >= p->num_params : argc == p->num_params;
}

}  // namespace valk::lisp
