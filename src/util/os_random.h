// Bytes from the operating system's generator (getrandom), for what must
// not be guessed: session ids, tokens, WebSocket keys and masks.
#pragma once

#include <sys/random.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>

namespace valk {

// Fills `out`; false if the generator failed.
inline bool os_random(uint8_t* out, size_t n) {
  while (n > 0) {
    ssize_t got = getrandom(out, n, 0);
    if (got < 0 && errno == EINTR) {
      continue;
    }
    if (got <= 0) {
      return false;
    }
    out += got;
    n -= static_cast<size_t>(got);
  }
  return true;
}

}  // namespace valk
