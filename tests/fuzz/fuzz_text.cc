// Fuzzes the text helpers behind the string natives: format strings (which
// scripts control), split, case mapping, trimming and number parsing, on
// arbitrary bytes including invalid UTF-8.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "lisp/heap.h"
#include "lisp/text.h"

using namespace valk::lisp;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) {
    return 0;
  }
  std::string_view in(reinterpret_cast<const char*>(data), size);
  Heap heap;
  // The first byte picks up to four argument types; the rest is the format
  // and, after its first NUL, the text the other helpers work on.
  std::vector<Value> args;
  uint8_t kinds = data[0];
  for (int i = 0; i < (kinds & 3) + 1; i++) {
    switch ((kinds >> (2 + i)) & 3) {
      case 0:
        args.push_back(Value::integer(static_cast<int64_t>(size) * (i % 2 == 0 ? -1 : 1)));
        break;
      case 1:
        args.push_back(Value::number(static_cast<double>(size) / 3.0));
        break;
      case 2:
        args.push_back(heap.string(in.substr(1, 8)));
        break;
      default:
        args.push_back(Value::nil());
        break;
    }
  }
  std::string_view rest = in.substr(1);
  size_t nul = rest.find('\0');
  std::string_view fmt = rest.substr(0, nul);
  std::string_view text = nul == std::string_view::npos ? rest : rest.substr(nul + 1);

  std::string out;
  FormatError err;
  format_text(fmt, args.data(), static_cast<int>(args.size()), &out, &err);

  std::string_view sep = text.substr(0, text.size() % 3);
  std::vector<std::string_view> parts = split_parts(text, sep, static_cast<int64_t>(size % 5) - 2);
  for (std::string_view p : parts) {
    if (p.data() < text.data() || p.data() + p.size() > text.data() + text.size()) {
      __builtin_trap();  // parts must point into the input
    }
  }
  if (trim_start(text) > text.size() || trim_end(text) > text.size()) {
    __builtin_trap();
  }
  map_case(text, true);
  map_case(text, false);
  int64_t l;
  parse_long_text(text, &l);
  double d;
  parse_double_text(text, &d);
  return 0;
}
