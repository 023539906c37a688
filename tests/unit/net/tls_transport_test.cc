// The TLS transport under each connection (src/net/tls.cc): records that
// straddle socket reads or share one, the handshake's last flight arriving
// with the first request, key updates (the server writes while it reads),
// many small writes, peers that vanish mid-record, the cipher chosen, and
// how large bodies and files are cut into records.
#include <nghttp2/nghttp2.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <vector>

#include "net_test_util.h"
#include "valk/static_files.h"

namespace valk::test {
namespace {

// A TLS client on a blocking socket whose ciphertext goes out exactly as
// the test slices it. HTTP/1.1 (ALPN http/1.1) unless told h2.
class RawTls {
 public:
  explicit RawTls(uint16_t port, bool h2 = false) : fd_(tcp_connect(port)) {
    ctx_ = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_min_proto_version(ctx_, TLS1_3_VERSION);
    static const unsigned char kH1[] = "\x08http/1.1";
    static const unsigned char kH2[] = "\x02h2";
    if (h2) {
      SSL_CTX_set_alpn_protos(ctx_, kH2, sizeof kH2 - 1);
    } else {
      SSL_CTX_set_alpn_protos(ctx_, kH1, sizeof kH1 - 1);
    }
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

// An HTTP/2 client over RawTls: nghttp2 in memory, its output encrypted by
// RawTls, what the server sends decrypted and fed back. Windows are large
// enough that it never needs to send a WINDOW_UPDATE.
class H2OverTls {
 public:
  explicit H2OverTls(uint16_t port) : tls_(port, true) {
    nghttp2_session_callbacks* cb;
    nghttp2_session_callbacks_new(&cb);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, on_data);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cb, on_frame);
    nghttp2_session_callbacks_set_on_stream_close_callback(cb, on_close);
    nghttp2_session_client_new(&s_, cb, this);
    nghttp2_session_callbacks_del(cb);
    nghttp2_settings_entry iv[] = {{NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, (1u << 31) - 1}};
    nghttp2_submit_settings(s_, NGHTTP2_FLAG_NONE, iv, 1);
    nghttp2_session_set_local_window_size(s_, NGHTTP2_FLAG_NONE, 0, (1 << 30));
  }
  ~H2OverTls() { nghttp2_session_del(s_); }

  RawTls& tls() { return tls_; }
  int32_t get(std::string_view path) {
    nghttp2_nv nv[] = {nv_of(":method", "GET"), nv_of(":scheme", "https"),
                       nv_of(":authority", "localhost"), nv_of(":path", path)};
    return nghttp2_submit_request(s_, nullptr, nv, 4, nullptr, nullptr);
  }
  // Sends what nghttp2 has queued, then reads until `streams` have closed.
  bool run(int streams) {
    const uint8_t* p;
    ssize_t n;
    while ((n = nghttp2_session_mem_send(s_, &p)) > 0) {
      tls_.write(std::string_view(reinterpret_cast<const char*>(p), static_cast<size_t>(n)));
    }
    if (!tls_.send(tls_.take_ciphertext())) {
      return false;
    }
    size_t fed = 0;
    tls_.read_until([&](const std::string& plain) {
      nghttp2_session_mem_recv(s_, reinterpret_cast<const uint8_t*>(plain.data()) + fed,
                               plain.size() - fed);
      fed = plain.size();
      return closed_ >= streams;
    });
    return closed_ >= streams;
  }

  std::map<int32_t, std::string> bodies;
  std::vector<size_t> data_frames;  // DATA payload sizes, in order

 private:
  // Points into n and v: nghttp2_submit_request copies them.
  static nghttp2_nv nv_of(std::string_view n, std::string_view v) {
    return {(uint8_t*)n.data(), (uint8_t*)v.data(), n.size(), v.size(), NGHTTP2_NV_FLAG_NONE};
  }
  static int on_data(nghttp2_session*, uint8_t, int32_t id, const uint8_t* d, size_t n, void* u) {
    static_cast<H2OverTls*>(u)->bodies[id].append(reinterpret_cast<const char*>(d), n);
    return 0;
  }
  static int on_frame(nghttp2_session*, const nghttp2_frame* f, void* u) {
    if (f->hd.type == NGHTTP2_DATA) {
      static_cast<H2OverTls*>(u)->data_frames.push_back(f->hd.length);
    }
    return 0;
  }
  static int on_close(nghttp2_session*, int32_t, uint32_t, void* u) {
    static_cast<H2OverTls*>(u)->closed_++;
    return 0;
  }

  RawTls tls_;
  nghttp2_session* s_ = nullptr;
  int closed_ = 0;
};

// A static file over h2 and TLS: each DATA frame, header included, is one
// full record (so the server encrypts it straight from the file's read
// ahead, and the client decrypts no small records between full ones), and
// two streams interleaving their frames each get their own bytes.
TEST(TlsTransport, FileFramesFillOneRecordEach) {
  char tmpl[] = "/tmp/valk-tls-file-XXXXXX";
  std::string root = mkdtemp(tmpl);
  std::string big(1000003, '\0');  // not a multiple of any frame or read
  for (size_t i = 0; i < big.size(); ++i) {
    big[i] = static_cast<char>(i * 7 + i / 1021);
  }
  std::ofstream(root + "/big.bin", std::ios::binary) << big;
  StaticOptions so;
  so.root = root;
  std::string err;
  Handler h = make_static_handler(so, &err);
  ASSERT_TRUE(h) << err;
  TestServer s(tls_options(), h);
  H2OverTls c(s.port());
  std::vector<size_t> records;
  SSL_set_msg_callback(c.tls().ssl(), count_records);
  SSL_set_msg_callback_arg(c.tls().ssl(), &records);
  ASSERT_TRUE(c.tls().handshake());
  int32_t a = c.get("/big.bin");
  int32_t b = c.get("/big.bin");
  records.clear();
  ASSERT_TRUE(c.run(2));
  EXPECT_TRUE(c.bodies[a] == big) << c.bodies[a].size();
  EXPECT_TRUE(c.bodies[b] == big) << c.bodies[b].size();
  size_t full_frames = std::count(c.data_frames.begin(), c.data_frames.end(), 16384u - 9);
  EXPECT_EQ(full_frames, 2 * (big.size() / (16384 - 9))) << c.data_frames.size() << " frames";
  size_t full_records = std::count(records.begin(), records.end(), 16384u);
  EXPECT_GE(full_records, full_frames);
  // Beside them: the last frame of each stream, HEADERS, SETTINGS, tickets.
  EXPECT_LE(records.size(), full_records + 10) << records.size() << " records";
  std::string cmd = "rm -rf " + root;
  ASSERT_EQ(system(cmd.c_str()), 0);
}

}  // namespace
}  // namespace valk::test
