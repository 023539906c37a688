// The static file handler and the `valk static` command.
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <atomic>
#include <cstdio>
#include <fstream>

#include "net_test_util.h"
#include "valk/static_files.h"
#include "valk_process.h"

namespace valk::test {
namespace {

class StaticFiles : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/valk-static-XXXXXX";
    root_ = mkdtemp(tmpl);
    write("index.html", "<h1>home</h1>");
    mkdir((root_ + "/sub").c_str(), 0755);
    write("sub/index.html", "sub home");
    write("style.css", "body{}");
    write("data.bin", "0123456789");
    big_.resize(3 << 20);
    for (size_t i = 0; i < big_.size(); ++i) {
      big_[i] = static_cast<char>(i * 7 + 3);
    }
    write("big.dat", big_);
    std::ofstream(root_ + "/../valk-static-secret") << "secret";
    symlink("/etc/hostname", (root_ + "/escape").c_str());
    std::string err;
    StaticOptions so;
    so.root = root_;
    handler_ = make_static_handler(so, &err);
    ASSERT_TRUE(handler_) << err;
    server_ = std::make_unique<TestServer>(base_options(), handler_);
  }
  void TearDown() override {
    server_.reset();
    std::string cmd = "rm -rf " + root_;
    ASSERT_EQ(system(cmd.c_str()), 0);
  }
  void write(const std::string& name, const std::string& data) {
    std::ofstream(root_ + "/" + name, std::ios::binary) << data;
  }
  CurlResult get(const std::string& path, std::vector<std::string> headers = {},
                 long version = CURL_HTTP_VERSION_1_1) {
    return curl_get_with_headers(server_->url(path), headers, version);
  }
  static std::string header(const CurlResult& r, const std::string& name) {
    return response_header(r, name);
  }

  std::string root_, big_;
  Handler handler_;
  std::unique_ptr<TestServer> server_;
};

TEST_F(StaticFiles, IndexAndMimeTypes) {
  CurlResult r = get("/");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "<h1>home</h1>");
  EXPECT_EQ(header(r, "content-type"), "text/html; charset=utf-8");
  EXPECT_EQ(get("/style.css").body, "body{}");
  EXPECT_EQ(header(get("/style.css"), "content-type"), "text/css; charset=utf-8");
  EXPECT_EQ(header(get("/data.bin"), "content-type"), "application/octet-stream");
  EXPECT_EQ(get("/sub/").body, "sub home");
  CurlResult redirect = get("/sub");
  EXPECT_EQ(redirect.status, 301);
  EXPECT_EQ(header(redirect, "location"), "/sub/");
  EXPECT_EQ(get("/missing").status, 404);
}

TEST_F(StaticFiles, TraversalIsRefused) {
  EXPECT_EQ(get("/../valk-static-secret").status, 403);
  EXPECT_EQ(get("/%2e%2e/valk-static-secret").status, 403);
  EXPECT_EQ(get("/sub/%2E%2E/%2E%2E/valk-static-secret").status, 403);
  EXPECT_EQ(get("/escape").status, 403);  // a symlink out of the root
  EXPECT_EQ(get("/a%00b").status, 400);
}

TEST_F(StaticFiles, ConditionalRequestsGet304) {
  CurlResult r = get("/data.bin");
  std::string etag = header(r, "etag");
  std::string modified = header(r, "last-modified");
  ASSERT_FALSE(etag.empty());
  ASSERT_FALSE(modified.empty());
  EXPECT_EQ(get("/data.bin", {"If-None-Match: " + etag}).status, 304);
  EXPECT_EQ(get("/data.bin", {"If-None-Match: \"other\""}).status, 200);
  EXPECT_EQ(get("/data.bin", {"If-Modified-Since: " + modified}).status, 304);
  EXPECT_EQ(get("/data.bin", {"If-Modified-Since: Thu, 01 Jan 1970 00:00:00 GMT"}).status, 200);
}

TEST_F(StaticFiles, Ranges) {
  CurlResult r = get("/data.bin", {"Range: bytes=2-5"});
  EXPECT_EQ(r.status, 206);
  EXPECT_EQ(r.body, "2345");
  EXPECT_EQ(header(r, "content-range"), "bytes 2-5/10");
  EXPECT_EQ(get("/data.bin", {"Range: bytes=-3"}).body, "789");
  EXPECT_EQ(get("/data.bin", {"Range: bytes=7-"}).body, "789");
  EXPECT_EQ(get("/data.bin", {"Range: bytes=20-30"}).status, 416);
  CurlResult big =
      get("/big.dat", {"Range: bytes=1000000-2999999"}, CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE);
  EXPECT_EQ(big.status, 206);
  EXPECT_EQ(big.body, big_.substr(1000000, 2000000));
}

TEST_F(StaticFiles, LargeFileIsStreamed) {
  for (long v : {CURL_HTTP_VERSION_1_1, CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE}) {
    CurlResult r = get("/big.dat", {}, v);
    EXPECT_EQ(r.status, 200);
    EXPECT_TRUE(r.body == big_) << r.body.size();
  }
  // Streamed through the pool: buffers stay bounded by the high-water mark.
  EXPECT_LT(server_->server().counters()[Counter::kBufferBytes], 2u << 20);
}

TEST_F(StaticFiles, HeadAndMethods) {
  CurlResult head =
      curl_do(server_->url("/big.dat"), [](CURL* c) { curl_easy_setopt(c, CURLOPT_NOBODY, 1L); });
  EXPECT_EQ(head.status, 200);
  EXPECT_EQ(header(head, "content-length"), std::to_string(3 << 20));
  EXPECT_EQ(head.body, "");
  CurlResult post =
      curl_do(server_->url("/"), [](CURL* c) { curl_easy_setopt(c, CURLOPT_POSTFIELDS, "x"); });
  EXPECT_EQ(post.status, 405);
}

TEST(StaticCommand, HelpAndBadUsage) {
  std::string cmd = std::string(VALK_BINARY) + " static --help > /dev/null";
  EXPECT_EQ(WEXITSTATUS(system(cmd.c_str())), 0);
  cmd = std::string(VALK_BINARY) + " static 2> /dev/null";
  EXPECT_EQ(WEXITSTATUS(system(cmd.c_str())), 2);
  cmd = std::string(VALK_BINARY) + " static --port nope /tmp 2> /dev/null";
  EXPECT_EQ(WEXITSTATUS(system(cmd.c_str())), 2);
  cmd = std::string(VALK_BINARY) + " static --https-redirect /tmp 2> /dev/null";
  EXPECT_EQ(WEXITSTATUS(system(cmd.c_str())), 2);
  cmd = std::string(VALK_BINARY) + " static /nonexistent-dir 2> /dev/null";
  EXPECT_EQ(WEXITSTATUS(system(cmd.c_str())), 1);
}

// Runs `valk static` on port 0, reads the port from its banner, serves a
// request, then SIGTERM drains it and it exits 0.
TEST(StaticCommand, ServesAndDrainsOnSigterm) {
  ValkProcess p("static", {"--port", "0", "--reactors", "1", VALK_SOURCE_DIR "/certs"});
  ASSERT_NE(p.port(), 0) << p.output();
  CurlResult r = curl_do(p.url("/README.md"));
  EXPECT_EQ(r.status, 200);
  EXPECT_NE(r.body.find("Development certificates"), std::string::npos);
  EXPECT_EQ(p.signal_and_wait(SIGTERM), 0) << p.output();
}

TEST(StaticCommand, HttpsRedirectSendsPlainRequestsToTheTlsPort) {
  uint16_t tls = free_port();
  ValkProcess p("static", {"--port", "0", "--tls-port", std::to_string(tls), "--https-redirect",
                           "--tls-cert", cert_path("dev.crt"), "--tls-key", cert_path("dev.key"),
                           "--reactors", "1", VALK_SOURCE_DIR "/certs"});
  ASSERT_NE(p.port(), 0) << p.output();
  CurlResult plain = curl_do(p.url("/README.md?x"));
  EXPECT_EQ(plain.status, 308);
  EXPECT_NE(
      plain.headers.find("location: https://127.0.0.1:" + std::to_string(tls) + "/README.md?x"),
      std::string::npos)
      << plain.headers;
  CurlResult secure = curl_do("https://127.0.0.1:" + std::to_string(tls) + "/README.md");
  EXPECT_NE(secure.body.find("Development certificates"), std::string::npos);
}

}  // namespace
}  // namespace valk::test
