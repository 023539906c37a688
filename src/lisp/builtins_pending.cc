// Temporary weak definitions of native groups still being written on other
// branches; each branch's strong definition replaces its stub at link time.
// This file goes away once every group has landed.
#include "lisp/builtins.h"

namespace valk::lisp {

__attribute__((weak)) void register_collection_natives(Isolate&) {}
__attribute__((weak)) void register_string_natives(Isolate&) {}
__attribute__((weak)) void register_number_natives(Isolate&) {}

}  // namespace valk::lisp
