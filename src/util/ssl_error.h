// OpenSSL's first queued error as text, the queue emptied: for messages
// that say why a certificate, a key or a handshake failed.
#pragma once

#include <openssl/err.h>

#include <string>

namespace valk {

inline std::string ssl_error() {
  char buf[256];
  ERR_error_string_n(ERR_get_error(), buf, sizeof buf);
  ERR_clear_error();
  return buf;
}

}  // namespace valk
