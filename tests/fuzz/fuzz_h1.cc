// libFuzzer target: raw bytes into the HTTP/1.1 request path of a real
// in-process server, the way a client sends them.
#include "server_harness.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return valk::fuzz::send_to_server({}, data, size);
}
