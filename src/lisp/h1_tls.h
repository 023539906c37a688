// TLS for the client connections of the own HTTP/1.1 client (h1_client.h)
// and of Redis (redis_client.h): an SSL per connection over a pair of
// memory BIOs. The server's certificate is verified against the system's
// CAs (or a CA file) and its name against the host asked for; SNI names
// the host, and ALPN offers what the client speaks (http/1.1), if it says.
// TLS 1.2 and 1.3.
#pragma once

#include <openssl/ssl.h>

#include <initializer_list>
#include <map>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>

namespace valk::lisp {

// How a client's TLS is set up.
struct ClientTlsSettings {
  std::string ca_file;  // the server's CAs ("": the system's)
  bool verify = true;   // the server's certificate and name checked
  // A certificate (chain) and key to show the server, if it asks (PEM).
  std::string cert_file;
  std::string key_file;

  auto key() const { return std::tie(ca_file, verify, cert_file, key_file); }
  bool operator<(const ClientTlsSettings& o) const { return key() < o.key(); }
};

// The client contexts of one client (an H1Client, a Redis connection),
// made at first use: one per settings.
class ClientTlsContexts {
 public:
  // `alpn`: the protocol ALPN offers ("" for no ALPN).
  explicit ClientTlsContexts(std::string alpn) : alpn_(std::move(alpn)) {}
  ~ClientTlsContexts();
  ClientTlsContexts(const ClientTlsContexts&) = delete;
  ClientTlsContexts& operator=(const ClientTlsContexts&) = delete;

  // The context for `settings`; nullptr with *error if a file does not
  // load.
  SSL_CTX* get(const ClientTlsSettings& settings, std::string* error);

 private:
  std::string alpn_;
  std::map<ClientTlsSettings, SSL_CTX*> contexts_;
};

// One connection's TLS: ciphertext in with received(), plaintext out with
// read(); plaintext in with seal(), ciphertext out.
class ClientTls {
 public:
  ClientTls() = default;
  ~ClientTls();
  ClientTls(const ClientTls&) = delete;
  ClientTls& operator=(const ClientTls&) = delete;

  // Sets up a client for `host` (an address if `is_address`, else a name)
  // on `ctx`; false with *error.
  bool start(SSL_CTX* ctx, const std::string& host, bool is_address, std::string* error);
  // Ciphertext the server sent.
  void received(const char* data, size_t n);
  enum class Step { kMore, kDone, kFailed };
  // Takes the handshake as far as what came allows; kFailed: why().
  Step handshake();
  // Up to `cap` bytes of plaintext into `out`: how many, 0 if none can be
  // read yet, -1 at the server's close_notify, -2 on an error (why()).
  long read(char* out, size_t cap);
  // The ciphertext of `parts`, one after another, with what the handshake
  // or the reads left to send before it.
  std::string seal(std::initializer_list<std::string_view> parts);
  // Ciphertext waiting to go (the handshake's), taken.
  std::string take_output();
  // Why the handshake or a read failed.
  std::string why() const { return why_; }

 private:
  void failed(int rc);

  SSL* ssl_ = nullptr;
  BIO* in_ = nullptr;   // owned by ssl_
  BIO* out_ = nullptr;  // owned by ssl_
  std::string why_;
};

}  // namespace valk::lisp
