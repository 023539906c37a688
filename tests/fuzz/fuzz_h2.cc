// libFuzzer target: raw bytes into an HTTP/2 server session over cleartext
// prior knowledge, after the client preface and an empty SETTINGS frame, so
// the input starts at frame level.
#include "server_harness.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const char kPreface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0\0\x04\0\0\0\0\0";
  return valk::fuzz::send_to_server({kPreface, sizeof kPreface - 1}, data, size);
}
