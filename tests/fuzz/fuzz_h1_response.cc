// Fuzzes what a server sends http/request's own HTTP/1.1 client
// (H1ResponseReader): any bytes, cut into reads where the input says, give
// a response, a failure saying why, or a wish for more, never a crash or
// undefined behaviour; and a body never grows past its bound, gzip or not.
// The first byte chooses: bit 0, a HEAD request; bit 1, the connection
// ends after the bytes; bits 2-6, the read size (1-31, or all at once);
// bit 7, a streamed body (:as :stream), taken after each read, which comes
// only after the head.
#include <cstddef>
#include <cstdint>

#include "lisp/h1_response_reader.h"

using valk::lisp::H1ResponseReader;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) {
    return 0;
  }
  constexpr size_t kMaxBody = 4096;
  uint8_t how = data[0];
  H1ResponseReader r((how & 1) != 0, kMaxBody);
  bool stream = (how & 0x80) != 0;
  size_t step = ((how >> 2) & 31) == 0 ? size : ((how >> 2) & 31);
  const char* bytes = reinterpret_cast<const char*>(data + 1);
  size_t left = size - 1;
  H1ResponseReader::State state = H1ResponseReader::State::kMore;
  while (left > 0 && state == H1ResponseReader::State::kMore) {
    size_t n = left < step ? left : step;
    state = r.feed(bytes, n);
    bytes += n;
    left -= n;
    if (stream) {
      if (!r.body().empty() && !r.head_complete()) {
        __builtin_trap();
      }
      r.body().clear();
    }
  }
  if (state == H1ResponseReader::State::kMore && (how & 2) != 0) {
    state = r.end();
  }
  if (r.body().size() > kMaxBody) {
    __builtin_trap();
  }
  if (state == H1ResponseReader::State::kFailed && r.error().empty()) {
    __builtin_trap();  // a failure says why
  }
  if (state == H1ResponseReader::State::kDone && (r.status() < 100 || r.status() > 999)) {
    __builtin_trap();
  }
  return 0;
}
