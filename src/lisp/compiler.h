// The compiler: expands macros and turns one form into bytecode.
//
// Thread affinity: the isolate's thread. Macro expansion runs Lisp code
// (in a nested fiber that may not await); everything the compiler holds
// across it is rooted.
#pragma once

#include "lisp/function.h"
#include "lisp/isolate.h"
#include "lisp/value.h"

namespace valk::lisp {

struct CompileResult {
  Proto* proto;  // a function of no parameters that evaluates the form
  Value error;   // when proto is nullptr: the error value to raise
};

// Compiles `form` as the body of a function of no arguments.
CompileResult compile_toplevel(Isolate& iso, Value form);

}  // namespace valk::lisp
