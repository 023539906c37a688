// TLS server contexts: one SSL_CTX per certificate, SNI choosing among them,
// ALPN (h2, http/1.1), TLS 1.2 and 1.3, session resumption (cache and
// tickets) and client certificates. Built once; SSL_new on it is thread-safe.
// A reload builds a new one; the connections made from the old keep what
// they use through OpenSSL's reference counts.
//
// Each SSL sits on one TlsTransport BIO instead of a pair of memory BIOs:
// reads come straight from the bytes the socket just delivered, and
// ciphertext goes straight into the connection's pool blocks. Nothing is
// buffered in between, so an idle connection holds no BIO buffers (memory
// BIOs keep their high-water capacity) and output is copied once, not twice.
#pragma once

#include <openssl/ssl.h>

#include <string>

#include "net/buffer.h"
#include "valk/server.h"

namespace valk::net {

// The most plaintext one TLS record carries.
constexpr size_t kTlsRecordPlain = 16384;

// The byte source and sink under one connection's SSL. Reactor thread only.
struct TlsTransport {
  // Input of the current read callback not yet taken by OpenSSL. Set before
  // calling SSL_do_handshake or SSL_read on it; the bytes must stay valid
  // until the call returns. OpenSSL takes what it needs record by record and
  // sees "retry later" once this is empty.
  const uint8_t* in = nullptr;
  size_t in_len = 0;
  // Where ciphertext is appended (copied into pool blocks).
  BufChain* out = nullptr;
  BufferPool* pool = nullptr;
};

class TlsContext {
 public:
  TlsContext() = default;
  // Drops its reference to the default certificate's SSL_CTX, which holds
  // the SNI certificates' (in its ex_data): all of them live on while a
  // connection made from it does.
  ~TlsContext();
  TlsContext(const TlsContext&) = delete;
  TlsContext& operator=(const TlsContext&) = delete;

  // Loads every certificate; returns false with *error set on failure.
  bool init(const ServerOptions& opts, std::string* error);
  // A new server-side SSL reading from and writing to `t`, which must outlive
  // it; nullptr on failure. The caller owns the SSL (SSL_free).
  SSL* new_ssl(TlsTransport* t) const;

 private:
  SSL_CTX* default_ = nullptr;
};

// Fills `info` from a finished handshake.
void tls_fill_info(SSL* ssl, TlsInfo* info);

}  // namespace valk::net
