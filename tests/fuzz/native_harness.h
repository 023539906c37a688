// The shared part of the fuzz targets that call natives (fuzz_web,
// fuzz_websocket): one isolate for the whole run, without the prelude (the
// natives need no Lisp), and a call that says whether the native returned.
#pragma once

#include <initializer_list>

#include "lisp/isolate.h"

namespace valk::fuzz {

inline lisp::Isolate& isolate() {
  static lisp::Isolate* iso = [] {
    lisp::IsolateOptions options;
    options.prelude = false;
    return new lisp::Isolate(options);
  }();
  return *iso;
}

// Calls the native `name`: true if it returned (its value in *result),
// false if it raised (the error in *result).
inline bool call(const char* name, std::initializer_list<lisp::Value> args, lisp::Value* result) {
  lisp::Isolate& iso = isolate();
  lisp::EvalResult r = iso.call(iso.var(name)->value, args.begin(), args.size());
  *result = r.value;
  return r.ok;
}

}  // namespace valk::fuzz
