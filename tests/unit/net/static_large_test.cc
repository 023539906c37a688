// Large static files (streamed as a FileBody, read straight into the
// connection's blocks) over every transport: ranges, HEAD, small h2 flow
// control windows, a file that shrinks mid-response, clients that leave
// or stop reading.
#include <fcntl.h>
#include <sys/stat.h>

#include <fstream>

#include "h2_client.h"
#include "net_test_util.h"
#include "valk/static_files.h"

namespace valk::test {
namespace {

class StaticLarge : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/valk-static-large-XXXXXX";
    root_ = mkdtemp(tmpl);
    big_.resize(5 * 1000 * 1000 + 17);  // not a multiple of any block or frame
    for (size_t i = 0; i < big_.size(); ++i) {
      big_[i] = static_cast<char>(i * 31 + i / 4099);
    }
    write_big();
    std::ofstream(root_ + "/small.txt") << "small";
    std::string err;
    StaticOptions so;
    so.root = root_;
    handler_ = make_static_handler(so, &err);
    ASSERT_TRUE(handler_) << err;
  }
  void TearDown() override {
    std::string cmd = "rm -rf " + root_;
    ASSERT_EQ(system(cmd.c_str()), 0);
  }
  void write_big() { std::ofstream(root_ + "/big.bin", std::ios::binary) << big_; }

  CurlResult get(TestServer& s, bool tls, long version, const std::string& range = "") {
    curl_slist* h = nullptr;
    if (!range.empty()) {
      h = curl_slist_append(h, ("Range: bytes=" + range).c_str());
    }
    std::string url =
        tls ? "https://localhost:" + std::to_string(s.port()) + "/big.bin" : s.url("/big.bin");
    CurlResult r = curl_do(url, [&](CURL* c) {
      curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
      curl_easy_setopt(c, CURLOPT_HTTP_VERSION, version);
    });
    curl_slist_free_all(h);
    return r;
  }

  std::string root_, big_;
  Handler handler_;
};

struct Transport {
  bool tls;
  long version;
};
constexpr Transport kTransports[] = {{false, CURL_HTTP_VERSION_1_1},
                                     {false, CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE},
                                     {true, CURL_HTTP_VERSION_1_1},
                                     {true, CURL_HTTP_VERSION_2TLS}};

TEST_F(StaticLarge, WholeFileAndRangesOnEveryTransport) {
  TestServer plain(base_options(), handler_);
  TestServer tls(tls_options(), handler_);
  for (const Transport& t : kTransports) {
    TestServer& s = t.tls ? tls : plain;
    SCOPED_TRACE(std::string(t.tls ? "tls " : "") + std::to_string(t.version));
    CurlResult r = get(s, t.tls, t.version);
    ASSERT_EQ(r.code, CURLE_OK) << curl_easy_strerror(r.code);
    EXPECT_EQ(r.status, 200);
    EXPECT_TRUE(r.body == big_) << r.body.size();
    // Odd offsets and lengths: the first read is not block-aligned.
    r = get(s, t.tls, t.version, "70001-3333332");
    EXPECT_EQ(r.status, 206);
    EXPECT_TRUE(r.body == big_.substr(70001, 3333332 - 70001 + 1)) << r.body.size();
    r = get(s, t.tls, t.version, "-100000");
    EXPECT_EQ(r.status, 206);
    EXPECT_TRUE(r.body == big_.substr(big_.size() - 100000)) << r.body.size();
  }
}

TEST_F(StaticLarge, HeadSendsNoBody) {
  TestServer s(base_options(), handler_);
  for (long v : {CURL_HTTP_VERSION_1_1, CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE}) {
    CurlResult r = curl_do(s.url("/big.bin"), [v](CURL* c) {
      curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
      curl_easy_setopt(c, CURLOPT_HTTP_VERSION, v);
    });
    EXPECT_EQ(r.status, 200);
    EXPECT_NE(r.headers.find(std::to_string(big_.size())), std::string::npos) << r.headers;
    EXPECT_EQ(r.body, "");
  }
  // The connection is still in step after a HEAD: a GET on it works.
  CurlResult r = get(s, false, CURL_HTTP_VERSION_1_1);
  EXPECT_TRUE(r.body == big_);
}

// A 1000-byte window makes every DATA frame a small one cut out of the
// read ahead, at offsets that never line up with it.
TEST_F(StaticLarge, SmallH2WindowsGiveSmallFrames) {
  TestServer s(base_options(), handler_);
  for (uint32_t window : {1000u, 16385u, 100000u}) {
    H2Client c(s.port(), window);
    int32_t id = c.submit("GET", "/big.bin");
    ASSERT_TRUE(c.run_until([&] { return c.streams[id].closed; }, 20000)) << window;
    EXPECT_EQ(c.streams[id].error, 0u);
    EXPECT_TRUE(c.streams[id].body == big_) << window << ": " << c.streams[id].body.size();
  }
}

// The file loses its tail while it is sent: on h2 the stream is reset
// (INTERNAL_ERROR) before a frame is promised that cannot be filled, and
// the connection goes on.
TEST_F(StaticLarge, FileThatShrinksResetsTheH2Stream) {
  TestServer s(base_options(), handler_);
  H2Client c(s.port(), 16384);
  int32_t id = c.submit("GET", "/big.bin");
  ASSERT_TRUE(c.run_until([&] { return !c.streams[id].body.empty(); }));
  ASSERT_EQ(truncate((root_ + "/big.bin").c_str(), 200000), 0);
  ASSERT_TRUE(c.run_until([&] { return c.streams[id].closed; }, 20000));
  EXPECT_EQ(c.streams[id].error, static_cast<uint32_t>(NGHTTP2_INTERNAL_ERROR));
  EXPECT_LT(c.streams[id].body.size(), big_.size());
  EXPECT_TRUE(c.streams[id].body == big_.substr(0, c.streams[id].body.size()));
  int32_t next = c.submit("GET", "/small.txt");
  ASSERT_TRUE(c.run_until([&] { return c.streams[next].closed; }));
  EXPECT_EQ(c.streams[next].body, "small");
  EXPECT_FALSE(c.conn_closed);
}

TEST_F(StaticLarge, ClientLeavingMidFileFreesTheConnection) {
  TestServer s(base_options(), handler_);
  for (int i = 0; i < 3; ++i) {
    int fd = tcp_connect(s.port());
    send_all(fd, "GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n");
    std::string got = read_until(fd, [](const std::string& d) { return d.size() > 100000; });
    EXPECT_GT(got.size(), 100000u);
    close(fd);
  }
  EXPECT_TRUE(eventually([&] { return s.server().counters()[Counter::kConnectionsActive] == 0; }));
  CurlResult r = get(s, false, CURL_HTTP_VERSION_1_1);
  EXPECT_TRUE(r.body == big_);
}

TEST_F(StaticLarge, SlowReaderOfAFileIsCutOff) {
  ServerOptions o = base_options();
  o.timeouts.write = 200;
  TestServer s(o, handler_);
  expect_unread_answer_is_cut_off(s, "GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n");
}

}  // namespace
}  // namespace valk::test
