// The TLS transport under each connection (src/net/tls.cc): records that
// straddle socket reads or share one, the handshake's last flight arriving
// with the first request, key updates (the server writes while it reads),
// many small writes, peers that vanish mid-record, the cipher chosen, and
// how large bodies are cut into records.
#include <openssl/err.h>
#include <openssl/ssl.h>

#include <algorithm>
#include <vector>

#include "net_test_util.h"

namespace valk::test {
namespace {

// A TLS client on a blocking socket whose ciphertext goes out exactly as
// the test slices it. HTTP/1.1 only (ALPN http/1.1).
class RawTls {
 public:
  explicit RawTls(uint16_t port) : fd_(tcp_connect(port)) {
    ctx_ = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_min_proto_version(ctx_, TLS1_3_VERSION);
    static const unsigned char kAlpn[] = "\x08http/1.1";
    SSL_CTX_set_alpn_protos(ctx_, kAlpn, sizeof kAlpn - 1);
    ssl_ = SSL_new(ctx_);
    SSL_set_bio(ssl_, BIO_new(BIO_s_mem()), BIO_new(BIO_s_mem()));
    SSL_set_connect_state(ssl_);
  }
  ~RawTls() {
    SSL_free(ssl_);
    SSL_CTX_free(ctx_);
    if (fd_ >= 0) {
      close(fd_);
    }
  }

  // Runs the handshake, sending each flight in slices of `slice` bytes. With
  // `send_last` false the client's last flight (its Finished) stays queued
  // for the next send.
  bool handshake(size_t slice = 1 << 20, bool send_last = true) {
    for (int i = 0; i < 20; ++i) {
      int r = SSL_do_handshake(ssl_);
      if (r == 1) {
        return !send_last || send(take_ciphertext(), slice);
      }
      if (SSL_get_error(ssl_, r) != SSL_ERROR_WANT_READ || !send(take_ciphertext(), slice) ||
          !receive()) {
        return false;
      }
    }
    return false;
  }

  // Encrypts `plain` as one record (a KeyUpdate, if requested, goes first);
  // the ciphertext is queued.
  void write(std::string_view plain) {
    ASSERT_EQ(SSL_write(ssl_, plain.data(), static_cast<int>(plain.size())),
              static_cast<int>(plain.size()));
  }

  // What is queued for the server, taken out of the client's write BIO.
  std::string take_ciphertext() {
    std::string out;
    char buf[16384];
    int n;
    while ((n = BIO_read(SSL_get_wbio(ssl_), buf, sizeof buf)) > 0) {
      out.append(buf, static_cast<size_t>(n));
    }
    return out;
  }

  // Sends `data` in slices of `slice` bytes, one send() each.
  bool send(std::string_view data, size_t slice = 1 << 20) {
    while (!data.empty()) {
      size_t k = std::min(slice, data.size());
      if (!send_all(fd_, data.substr(0, k))) {
        return false;
      }
      data.remove_prefix(k);
    }
    return true;
  }

  // Decrypts what arrives until `done(plaintext)` holds or the server
  // closes; returns the plaintext.
  std::string read_until(const std::function<bool(const std::string&)>& done) {
    std::string plain;
    char buf[16384];
    while (!done(plain)) {
      int n = SSL_read(ssl_, buf, sizeof buf);
      if (n > 0) {
        plain.append(buf, static_cast<size_t>(n));
        continue;
      }
      if (SSL_get_error(ssl_, n) != SSL_ERROR_WANT_READ) {
        break;
      }
      send(take_ciphertext());  // a KeyUpdate answer, say
      if (!receive()) {
        break;
      }
    }
    return plain;
  }

  SSL* ssl() { return ssl_; }
  int fd() const { return fd_; }

 private:
  // Moves what the socket has (at least one byte) into the read BIO.
  bool receive() {
    std::string got = valk::test::read_until(fd_, [](const std::string& d) { return !d.empty(); });
    if (got.empty()) {
      return false;
    }
    BIO_write(SSL_get_rbio(ssl_), got.data(), static_cast<int>(got.size()));
    return true;
  }

  int fd_;
  SSL_CTX* ctx_ = nullptr;
  SSL* ssl_ = nullptr;
};

constexpr char kGet[] = "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n";

// `n` responses from hello_handler have arrived.
auto responses(size_t n) {
  return [n](const std::string& p) { return count_of(p, "Hello, World!") >= n; };
}

TEST(TlsTransport, RecordsSplitAcrossReads) {
  TestServer s(tls_options(), hello_handler());
  RawTls c(s.port());
  ASSERT_TRUE(c.handshake(1));
  c.write(kGet);
  ASSERT_TRUE(c.send(c.take_ciphertext(), 1));
  EXPECT_EQ(count_of(c.read_until(responses(1)), "Hello, World!"), 1u);
}

TEST(TlsTransport, ManyRecordsInOneRead) {
  TestServer s(tls_options(), hello_handler());
  RawTls c(s.port());
  ASSERT_TRUE(c.handshake());
  for (int i = 0; i < 200; ++i) {
    c.write(kGet);  // one record each, pipelined
  }
  ASSERT_TRUE(c.send(c.take_ciphertext()));
  EXPECT_EQ(count_of(c.read_until(responses(200)), "Hello, World!"), 200u);
}

TEST(TlsTransport, FinishedAndRequestInOneWrite) {
  TestServer s(tls_options(), hello_handler());
  RawTls c(s.port());
  ASSERT_TRUE(c.handshake(1 << 20, false));
  c.write(kGet);
  ASSERT_TRUE(c.send(c.take_ciphertext()));  // Finished + request together
  EXPECT_EQ(count_of(c.read_until(responses(1)), "Hello, World!"), 1u);
}

TEST(TlsTransport, KeyUpdateBothWays) {
  TestServer s(tls_options(), [](Request& req, Responder res) {
    res.respond(200, {}, std::string(100000, 'k') + "Hello, World!");
  });
  RawTls c(s.port());
  ASSERT_TRUE(c.handshake());
  for (size_t i = 1; i <= 3; ++i) {
    // The server must answer with a KeyUpdate of its own, written while it
    // reads; the client then decrypts with the server's new keys.
    ASSERT_EQ(SSL_key_update(c.ssl(), SSL_KEY_UPDATE_REQUESTED), 1);
    c.write(kGet);
    ASSERT_TRUE(c.send(c.take_ciphertext()));
    std::string got = c.read_until(responses(1));
    EXPECT_GT(got.size(), 100000u) << i;
    EXPECT_EQ(count_of(got, "Hello, World!"), 1u) << i;
  }
}

TEST(TlsTransport, ManySmallWrites) {
  TestServer s(tls_options(), [](Request& req, Responder res) {
    res.start(200, {{"content-type", "text/plain"}});
    for (int i = 0; i < 5000; ++i) {
      res.write(std::to_string(i % 10));
    }
    res.end();
  });
  CurlResult r = curl_do("https://localhost:" + std::to_string(s.port()) + "/", [](CURL* c) {
    curl_easy_setopt(c, CURLOPT_HTTP_VERSION, CURL_HTTP_VERSION_2TLS);
  });
  ASSERT_EQ(r.code, CURLE_OK) << curl_easy_strerror(r.code);
  ASSERT_EQ(r.body.size(), 5000u);
  EXPECT_EQ(r.body.substr(0, 12), "012345678901");
}

TEST(TlsTransport, PeerVanishesMidRecord) {
  TestServer s(tls_options(), hello_handler());
  for (int linger_reset = 0; linger_reset < 2; ++linger_reset) {
    RawTls c(s.port());
    ASSERT_TRUE(c.handshake());
    c.write(kGet);
    std::string rec = c.take_ciphertext();
    ASSERT_TRUE(c.send(std::string_view(rec).substr(0, rec.size() / 2)));
    if (linger_reset == 1) {
      linger l{1, 0};  // close with a RST
      setsockopt(c.fd(), SOL_SOCKET, SO_LINGER, &l, sizeof l);
    }
  }
  // The connections are gone; the server still serves.
  RawTls c(s.port());
  ASSERT_TRUE(c.handshake());
  c.write(kGet);
  ASSERT_TRUE(c.send(c.take_ciphertext()));
  EXPECT_EQ(count_of(c.read_until(responses(1)), "Hello, World!"), 1u);
}

TEST(TlsTransport, GarbageAfterHandshakeClosesTheConnection) {
  TestServer s(tls_options(), hello_handler());
  RawTls c(s.port());
  ASSERT_TRUE(c.handshake());
  // A well-formed application-data record that does not decrypt.
  ASSERT_TRUE(c.send(std::string("\x17\x03\x03\x00\x20", 5) + std::string(32, 'x')));
  bool closed = false;
  read_until(
      c.fd(), [](const std::string&) { return false; }, 5000, &closed);
  EXPECT_TRUE(closed);
}

// Records the sizes of the records the server sends (TLS 1.3: 16 bytes of
// tag and one of content type on top of the plaintext).
void count_records(int write_p, int, int content_type, const void* buf, size_t len, SSL*,
                   void* arg) {
  if (write_p == 0 && content_type == SSL3_RT_HEADER && len == 5) {
    auto* p = static_cast<const uint8_t*>(buf);
    static_cast<std::vector<size_t>*>(arg)->push_back((p[3] << 8 | p[4]) - 17u);
  }
}

TEST(TlsTransport, LargeBodyGoesOutInFullRecords) {
  constexpr size_t kBody = 300000;
  TestServer s(tls_options(), [](Request& req, Responder res) {
    res.respond(200, {}, std::string(kBody, 'r') + "Hello, World!");
  });
  RawTls c(s.port());
  std::vector<size_t> records;
  SSL_set_msg_callback(c.ssl(), count_records);
  SSL_set_msg_callback_arg(c.ssl(), &records);
  ASSERT_TRUE(c.handshake());
  records.clear();
  c.write(kGet);
  ASSERT_TRUE(c.send(c.take_ciphertext()));
  ASSERT_EQ(count_of(c.read_until(responses(1)), "Hello, World!"), 1u);
  // A record carries 16 KiB of plaintext (the most TLS allows), which the
  // client decrypts in one go; a block of plaintext larger than that would
  // add a small record after each full one. The last may be short, and
  // session tickets may come too.
  size_t full = std::count(records.begin(), records.end(), 16384u);
  EXPECT_GE(full, kBody / 16384) << records.size() << " records";
  EXPECT_LE(records.size(), full + 4);
}

// The server's TLS 1.3 preference: AES-128-GCM before AES-256-GCM (which a
// client may list first), and ChaCha20 for a client that puts it first.
TEST(TlsTransport, CipherPreference) {
  TestServer s(tls_options(), hello_handler());
  struct Case {
    const char* offered;
    const char* chosen;
  };
  for (Case k : {Case{"TLS_AES_256_GCM_SHA384:TLS_AES_128_GCM_SHA256", "TLS_AES_128_GCM_SHA256"},
                 Case{"TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_GCM_SHA256",
                      "TLS_CHACHA20_POLY1305_SHA256"}}) {
    RawTls c(s.port());
    ASSERT_EQ(SSL_set_ciphersuites(c.ssl(), k.offered), 1);
    ASSERT_TRUE(c.handshake());
    EXPECT_STREQ(SSL_get_cipher_name(c.ssl()), k.chosen) << k.offered;
  }
}

}  // namespace
}  // namespace valk::test
