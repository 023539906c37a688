// A fixture for tests of the compiler, the VM and the natives on a bare
// isolate (no core library), run twice: with the collector as usual and in
// stress mode (the test's parameter).
#pragma once

#include <gtest/gtest.h>

#include <string>

#include "lisp/isolate.h"
#include "lisp/printer.h"

namespace valk::lisp {

class BareIsolateTest : public ::testing::TestWithParam<bool> {
 protected:
  BareIsolateTest() : iso_(options(GetParam())) {}

  static IsolateOptions options(bool stress) {
    IsolateOptions o;
    o.prelude = false;
    o.gc_stress = stress;
    return o;
  }

  // What `src` evaluates to, printed; or "ERROR " and the error's report.
  std::string eval(const std::string& src) {
    EvalResult r = iso_.eval_string(src, "test.lisp");
    if (!r.ok) {
      return "ERROR " + iso_.describe(r.value);
    }
    return print_str(r.value, true);
  }

  Isolate iso_;
};

}  // namespace valk::lisp
