#include "lisp/h1_tls.h"

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "util/ssl_error.h"

namespace valk::lisp {

ClientTlsContexts::~ClientTlsContexts() {
  for (auto& [key, ctx] : contexts_) {
    SSL_CTX_free(ctx);
  }
}

SSL_CTX* ClientTlsContexts::get(const ClientTlsSettings& settings, std::string* error) {
  if (auto it = contexts_.find(settings); it != contexts_.end()) {
    return it->second;
  }
  const std::string& ca_file = settings.ca_file;
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  if (!alpn_.empty()) {
    // ALPN's wire form: the name's length, then the name.
    std::string wire = static_cast<char>(alpn_.size()) + alpn_;
    SSL_CTX_set_alpn_protos(ctx, reinterpret_cast<const unsigned char*>(wire.data()),
                            static_cast<unsigned>(wire.size()));
  }
  if (!settings.cert_file.empty() &&
      (SSL_CTX_use_certificate_chain_file(ctx, settings.cert_file.c_str()) != 1 ||
       SSL_CTX_use_PrivateKey_file(ctx, settings.key_file.c_str(), SSL_FILETYPE_PEM) != 1 ||
       SSL_CTX_check_private_key(ctx) != 1)) {
    *error = "could not load the client certificate " + settings.cert_file + " and key " +
             settings.key_file + " (" + ssl_error() + ")";
    SSL_CTX_free(ctx);
    return nullptr;
  }
  if (settings.verify) {
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
    bool loaded = ca_file.empty()
                      ? SSL_CTX_set_default_verify_paths(ctx) == 1
                      : SSL_CTX_load_verify_locations(ctx, ca_file.c_str(), nullptr) == 1;
    if (!loaded) {
      *error = "could not load the CA certificates " +
               (ca_file.empty() ? std::string("of the system") : ca_file) + " (" + ssl_error() +
               ")";
      SSL_CTX_free(ctx);
      return nullptr;
    }
  } else {
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nullptr);
  }
  contexts_.emplace(settings, ctx);
  return ctx;
}

ClientTls::~ClientTls() {
  SSL_free(ssl_);
}

bool ClientTls::start(SSL_CTX* ctx, const std::string& host, bool is_address, std::string* error) {
  ssl_ = SSL_new(ctx);
  in_ = BIO_new(BIO_s_mem());
  out_ = BIO_new(BIO_s_mem());
  BIO_set_mem_eof_return(in_, -1);  // empty: "retry", not the end
  SSL_set_bio(ssl_, in_, out_);
  SSL_set_connect_state(ssl_);
  bool named;
  if (is_address) {
    named = X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl_), host.c_str()) == 1;
  } else {
    named =
        SSL_set_tlsext_host_name(ssl_, host.c_str()) == 1 && SSL_set1_host(ssl_, host.c_str()) == 1;
  }
  if (!named) {
    *error = "cannot verify the host " + host + " (" + ssl_error() + ")";
    return false;
  }
  return true;
}

void ClientTls::received(const char* data, size_t n) {
  BIO_write(in_, data, static_cast<int>(n));
}

void ClientTls::failed(int rc) {
  long verify = SSL_get_verify_result(ssl_);
  if (verify != X509_V_OK) {
    why_ = std::string("the server's certificate was not accepted: ") +
           X509_verify_cert_error_string(verify);
  } else {
    int code = SSL_get_error(ssl_, rc);  // before the queue is emptied
    why_ = ERR_peek_error() != 0 ? ssl_error()
                                 : "the connection failed (SSL error " + std::to_string(code) + ")";
  }
}

ClientTls::Step ClientTls::handshake() {
  int rc = SSL_do_handshake(ssl_);
  if (rc == 1) {
    return Step::kDone;
  }
  if (SSL_get_error(ssl_, rc) == SSL_ERROR_WANT_READ) {
    return Step::kMore;
  }
  failed(rc);
  return Step::kFailed;
}

long ClientTls::read(char* out, size_t cap) {
  int rc = SSL_read(ssl_, out, static_cast<int>(cap));
  if (rc > 0) {
    return rc;
  }
  switch (SSL_get_error(ssl_, rc)) {
    case SSL_ERROR_WANT_READ:
      return 0;
    case SSL_ERROR_ZERO_RETURN:
      return -1;
    default:
      failed(rc);
      return -2;
  }
}

std::string ClientTls::seal(std::initializer_list<std::string_view> parts) {
  for (std::string_view p : parts) {
    // A memory BIO takes all: SSL_write writes the whole part.
    if (!p.empty()) {
      SSL_write(ssl_, p.data(), static_cast<int>(p.size()));
    }
  }
  return take_output();
}

std::string ClientTls::take_output() {
  std::string out(BIO_ctrl_pending(out_), '\0');
  if (!out.empty()) {
    BIO_read(out_, out.data(), static_cast<int>(out.size()));
  }
  return out;
}

}  // namespace valk::lisp
