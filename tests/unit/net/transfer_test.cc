// Large bodies both ways with checksums, over HTTP/1.1, h2c and h2 over TLS.
#include "net_test_util.h"

namespace valk::test {
namespace {

#if defined(__SANITIZE_ADDRESS__)
constexpr uint64_t kBig = 16ull << 20;  // sanitizers are slow; keep the suite bounded
#else
constexpr uint64_t kBig = 100ull << 20;
#endif

struct Fnv {
  uint64_t h = 1469598103934665603ull;
  void add(const void* p, size_t n) {
    auto* b = static_cast<const uint8_t*>(p);
    for (size_t i = 0; i < n; ++i) {
      h = (h ^ b[i]) * 1099511628211ull;
    }
  }
};

uint64_t expected_sum(uint64_t n) {
  Fnv f;
  uint8_t buf[65536];
  for (uint64_t off = 0; off < n;) {
    size_t k = static_cast<size_t>(std::min<uint64_t>(sizeof buf, n - off));
    for (size_t i = 0; i < k; ++i) {
      buf[i] = byte_at(off + i);
    }
    f.add(buf, k);
    off += k;
  }
  return f.h;
}

class PatternSource : public BodySource {
 public:
  explicit PatternSource(uint64_t n) : left_(n) {}
  int64_t read(std::span<uint8_t> buf, bool* eof) override {
    size_t k = static_cast<size_t>(std::min<uint64_t>(buf.size(), left_));
    for (size_t i = 0; i < k; ++i) {
      buf[i] = byte_at(off_ + i);
    }
    off_ += k;
    left_ -= k;
    *eof = left_ == 0;
    return static_cast<int64_t>(k);
  }

 private:
  uint64_t off_ = 0, left_;
};

// GET /download?N streams N pattern bytes; POST /upload answers the FNV
// of the body.
Handler transfer_handler() {
  return [](Request& req, Responder res) {
    if (req.path() == "/download") {
      uint64_t n = std::stoull(std::string(req.query()));
      res.respond_with_source(200, {{"content-length", std::to_string(n)}},
                              std::make_unique<PatternSource>(n));
      return;
    }
    auto f = std::make_shared<Fnv>();
    auto count = std::make_shared<uint64_t>(0);
    req.read_body([f, count, res](std::string_view chunk, bool last) {
      f->add(chunk.data(), chunk.size());
      *count += chunk.size();
      if (last) {
        res.respond(200, {}, std::to_string(*count) + ":" + std::to_string(f->h));
      }
    });
  };
}

struct Sink {
  Fnv f;
  uint64_t n = 0;
};

size_t sink_write(char* p, size_t sz, size_t n, void* ud) {
  auto* s = static_cast<Sink*>(ud);
  s->f.add(p, sz * n);
  s->n += sz * n;
  return sz * n;
}

struct Mode {
  const char* name;
  bool tls;
  long version;
};

void PrintTo(const Mode& m, std::ostream* os) {
  *os << m.name;
}

constexpr Mode kModes[] = {
    {"http1.1", false, CURL_HTTP_VERSION_1_1},
    {"h2c", false, CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE},
    {"http1.1-tls", true, CURL_HTTP_VERSION_1_1},
    {"h2-tls", true, CURL_HTTP_VERSION_2TLS},
};

class Transfer : public ::testing::TestWithParam<Mode> {};

TEST_P(Transfer, BigDownloadAndUploadWithChecksums) {
  const Mode m = GetParam();
  ServerOptions o = m.tls ? tls_options() : base_options();
  o.limits.max_body_size = kBig + 1;
  TestServer s(o, transfer_handler());
  std::string base =
      std::string(m.tls ? "https://localhost:" : "http://127.0.0.1:") + std::to_string(s.port());
  uint64_t want = expected_sum(kBig);

  Sink sink;
  CurlResult down = curl_do(base + "/download?" + std::to_string(kBig), [&](CURL* c) {
    curl_easy_setopt(c, CURLOPT_HTTP_VERSION, m.version);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sink_write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &sink);
  });
  ASSERT_EQ(down.code, CURLE_OK) << curl_easy_strerror(down.code);
  EXPECT_EQ(sink.n, kBig);
  EXPECT_EQ(sink.f.h, want);

  Gen gen{0, kBig};
  CurlResult up = curl_do(base + "/upload", [&](CURL* c) {
    curl_easy_setopt(c, CURLOPT_HTTP_VERSION, m.version);
    curl_easy_setopt(c, CURLOPT_POST, 1L);
    curl_easy_setopt(c, CURLOPT_READFUNCTION, gen_read);
    curl_easy_setopt(c, CURLOPT_READDATA, &gen);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(kBig));
  });
  ASSERT_EQ(up.code, CURLE_OK) << curl_easy_strerror(up.code);
  EXPECT_EQ(up.body, std::to_string(kBig) + ":" + std::to_string(want));
}

INSTANTIATE_TEST_SUITE_P(Net, Transfer, ::testing::ValuesIn(kModes), [](const auto& info) {
  std::string n = info.param.name;
  for (char& c : n) {
    if (c == '-' || c == '.') {
      c = '_';
    }
  }
  return n;
});

// A reader with a tiny receive window makes the socket take only part of
// each write: the rest goes out later from the right offset, and the
// connection stays usable for the next request.
TEST(Transfer, PartialWritesKeepEveryByteInOrder) {
  TestServer s(base_options(), transfer_handler());
  // Set before connecting, so the window is small from the start (shrunk
  // afterwards, TCP would crawl on zero-window probes).
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  int small = 16384;
  setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(s.port());
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  constexpr uint64_t kSize = 12ull << 20;
  for (int round = 0; round < 2; round++) {
    ASSERT_TRUE(
        send_all(fd, "GET /download?" + std::to_string(kSize) + " HTTP/1.1\r\nHost: x\r\n\r\n"));
    std::string data = read_until(
        fd,
        [&](const std::string& d) {
          size_t head = d.find("\r\n\r\n");
          return head != std::string::npos && d.size() >= head + 4 + kSize;
        },
        20000);
    size_t head = data.find("\r\n\r\n");
    ASSERT_NE(head, std::string::npos);
    ASSERT_EQ(data.size(), head + 4 + kSize) << "round " << round;
    Fnv f;
    f.add(data.data() + head + 4, kSize);
    EXPECT_EQ(f.h, expected_sum(kSize)) << "round " << round;
  }
  close(fd);
}

TEST(Transfer, ChunkedUploadOfUnknownLength) {
  TestServer s(base_options(), transfer_handler());
  Gen gen{0, 3 << 20};
  CurlResult up = curl_do(s.url("/upload"), [&](CURL* c) {
    curl_easy_setopt(c, CURLOPT_POST, 1L);
    curl_easy_setopt(c, CURLOPT_READFUNCTION, gen_read);
    curl_easy_setopt(c, CURLOPT_READDATA, &gen);
  });
  ASSERT_EQ(up.code, CURLE_OK);
  EXPECT_EQ(up.body, std::to_string(3 << 20) + ":" + std::to_string(expected_sum(3 << 20)));
}

}  // namespace
}  // namespace valk::test
