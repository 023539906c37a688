// Expansion of syntax-quote (`form) into code that builds the form.
#pragma once

#include <string>

#include "lisp/isolate.h"
#include "lisp/value.h"

namespace valk::lisp {

// Returns code that builds `form` at run time: symbols are quoted (a
// trailing # makes one fresh symbol per expansion), ~x inserts x and ~@x
// splices it, collections are rebuilt through valk.core/concat and friends.
// Returns false with a message in *error for a misplaced ~@ or a form
// nested deeper than `max_depth`.
bool expand_syntax_quote(Isolate& iso, Value form, int max_depth, Value* out, std::string* error);

}  // namespace valk::lisp
