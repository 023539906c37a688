// Fuzzes the reader: any bytes must give forms or an error, never a crash,
// a leak or undefined behaviour. Each input also checks that reading form
// by form with read_one (as the REPL does) agrees with read_all.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "lisp/heap.h"
#include "lisp/reader.h"

using namespace valk::lisp;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view src(reinterpret_cast<const char*>(data), size);
  Heap heap;
  ReadResult all = read_all(heap, src, "fuzz.lisp");
  if (!all.ok && (all.error.message.empty() || all.error.pos.line == 0)) {
    __builtin_trap();  // every error names itself and its place
  }

  size_t offset = 0;
  size_t forms = 0;
  for (;;) {
    ReadOneResult one = read_one(heap, src, "fuzz.lisp", offset);
    if (one.status == ReadStatus::Ok) {
      if (one.end <= offset) {
        __builtin_trap();  // no progress
      }
      offset = one.end;
      forms++;
      continue;
    }
    bool one_ok = one.status == ReadStatus::End;
    if (one_ok != all.ok || (all.ok && forms != all.forms.size()) ||
        (!all.ok && (one.status == ReadStatus::Incomplete) != all.error.incomplete)) {
      __builtin_trap();
    }
    break;
  }
  return 0;
}
