// TLS server contexts: one SSL_CTX per certificate, SNI choosing among them,
// ALPN (h2, http/1.1), TLS 1.2 and 1.3, session resumption (cache and
// tickets) and client certificates. Built once; SSL_new on it is thread-safe.
#pragma once

#include <openssl/ssl.h>

#include <string>
#include <vector>

#include "valk/server.h"

namespace valk::net {

class TlsContext {
 public:
  TlsContext() = default;
  ~TlsContext();
  TlsContext(const TlsContext&) = delete;
  TlsContext& operator=(const TlsContext&) = delete;

  // Loads every certificate; returns false with *error set on failure.
  bool init(const ServerOptions& opts, std::string* error);
  // A new server-side SSL on memory BIOs, or nullptr on failure.
  SSL* new_ssl() const;

 private:
  static int on_servername(SSL* ssl, int* alert, void* arg);
  std::vector<SSL_CTX*> ctxs_;
};

// Fills `info` from a finished handshake.
void tls_fill_info(SSL* ssl, TlsInfo* info);

}  // namespace valk::net
