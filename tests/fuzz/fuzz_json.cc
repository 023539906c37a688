// Fuzzes the JSON parser: any bytes must give a value or an error with a
// position, never a crash, a leak or undefined behaviour. A value must
// survive a round trip: written (compact and pretty) and parsed again it is
// `equal` to itself, and writing is deterministic.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "lisp/heap.h"
#include "lisp/json.h"

using namespace valk::lisp;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  Heap heap;
  JsonParseOptions options;
  // Exercise string keys too, on a bit of the input that the parser also
  // sees (so the corpus needs no special header).
  options.keywordize = size == 0 || (data[size - 1] & 1) == 0;
  Value v;
  JsonError err;
  if (!json_parse(heap, text, options, &v, &err)) {
    if (err.message.empty() || err.line == 0 || err.column == 0 || err.offset > size) {
      __builtin_trap();  // every error names itself and its place
    }
    return 0;
  }
  for (bool pretty : {false, true}) {
    JsonWriteOptions wo;
    wo.pretty = pretty;
    wo.escape_slash = (size & 1) != 0;
    std::string out;
    std::string werr;
    if (!json_write(v, wo, &out, &werr)) {
      __builtin_trap();  // whatever was parsed can be written
    }
    Value again;
    if (!json_parse(heap, out, options, &again, &err) || !equal(v, again)) {
      __builtin_trap();
    }
    std::string out2;
    if (!json_write(again, wo, &out2, &werr) || out2.size() != out.size()) {
      __builtin_trap();
    }
  }
  return 0;
}
