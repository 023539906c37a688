// Precompressed .br and .gz siblings in the static handler: chosen by the
// request's Accept-Encoding, decoded by libcurl over HTTP/1.1 and h2.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "net_test_util.h"
#include "valk/static_files.h"

namespace valk::test {
namespace {

class StaticPrecompressed : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/valk-static-pre-XXXXXX";
    root_ = mkdtemp(tmpl);
    for (int i = 0; i < 200; ++i) {
      script_ += "console.log('line " + std::to_string(i) + "');\n";
    }
    for (int i = 0; i < 20000; ++i) {
      big_ += "row " + std::to_string(i) + " of a large text file\n";
    }
    write("app.js", script_);
    write("index.html", "<h1>home</h1>");
    write("plain.css", "body{}");
    write("big.txt", big_);
    std::string files = root_ + "/app.js " + root_ + "/index.html " + root_ + "/big.txt";
    ASSERT_EQ(system(("gzip -k -9 " + files).c_str()), 0);
    // app.js alone also has a brotli form (Debian's brotli command).
    ASSERT_EQ(system(("brotli -k " + root_ + "/app.js").c_str()), 0);
    start(true);
  }
  void TearDown() override {
    server_.reset();
    ASSERT_EQ(system(("rm -rf " + root_).c_str()), 0);
  }
  void start(bool precompressed) {
    server_.reset();
    StaticOptions so;
    so.root = root_;
    so.precompressed = precompressed;
    std::string err;
    Handler h = make_static_handler(so, &err);
    ASSERT_TRUE(h) << err;
    server_ = std::make_unique<TestServer>(base_options(), h);
  }
  void write(const std::string& name, const std::string& data) {
    std::ofstream(root_ + "/" + name, std::ios::binary) << data;
  }
  std::string read(const std::string& name) { return read_file(root_ + "/" + name); }
  // A GET with these request headers; curl decodes nothing.
  CurlResult get(const std::string& path, std::vector<std::string> headers = {},
                 long version = CURL_HTTP_VERSION_1_1) {
    return curl_get_with_headers(server_->url(path), headers, version);
  }
  static std::string header(const CurlResult& r, const std::string& name) {
    return response_header(r, name);
  }

  std::string root_, script_, big_;
  std::unique_ptr<TestServer> server_;
};

TEST_F(StaticPrecompressed, TheSiblingGoesToClientsThatTakeGzip) {
  for (long v : {CURL_HTTP_VERSION_1_1, CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE}) {
    CurlResult r = get("/app.js", {"Accept-Encoding: gzip"}, v);
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.body, read("app.js.gz"));
    EXPECT_EQ(header(r, "content-encoding"), "gzip");
    EXPECT_EQ(header(r, "content-type"), "text/javascript; charset=utf-8");
    EXPECT_EQ(header(r, "vary"), "Accept-Encoding");
    EXPECT_EQ(header(r, "content-length"), std::to_string(read("app.js.gz").size()));
  }
  // The index of a directory too.
  EXPECT_EQ(get("/", {"Accept-Encoding: gzip"}).body, read("index.html.gz"));
}

TEST_F(StaticPrecompressed, TheHigherQChoosesAndBrotliWinsATie) {
  auto coding = [&](const char* accept) {
    return header(get("/app.js", {std::string("Accept-Encoding: ") + accept}), "content-encoding");
  };
  EXPECT_EQ(coding("gzip, deflate, br"), "br");
  EXPECT_EQ(coding("br"), "br");
  EXPECT_EQ(coding("gzip"), "gzip");
  EXPECT_EQ(coding("br;q=0.5, gzip"), "gzip");
  EXPECT_EQ(coding("br;q=0, *"), "gzip");
  EXPECT_EQ(coding("*"), "br");
  EXPECT_EQ(get("/app.js", {"Accept-Encoding: br"}).body, read("app.js.br"));
  // big.txt has only a .gz: a client that takes br alone gets the file.
  EXPECT_EQ(header(get("/big.txt", {"Accept-Encoding: br"}), "content-encoding"), "");
  EXPECT_EQ(header(get("/big.txt", {"Accept-Encoding: br, gzip"}), "content-encoding"), "gzip");
}

TEST_F(StaticPrecompressed, OthersGetTheFileAndVary) {
  for (const char* accept : {"", "Accept-Encoding: deflate", "Accept-Encoding: gzip;q=0, br;q=0",
                             "Accept-Encoding: *;q=0", "Accept-Encoding: identity"}) {
    CurlResult r = get("/app.js", {accept});
    EXPECT_EQ(r.body, script_) << accept;
    EXPECT_EQ(header(r, "content-encoding"), "") << accept;
    EXPECT_EQ(header(r, "vary"), "Accept-Encoding") << accept;
  }
  CurlResult plain = get("/plain.css", {"Accept-Encoding: gzip"});
  EXPECT_EQ(plain.body, "body{}");
  EXPECT_EQ(header(plain, "vary"), "") << "no sibling, nothing varies";
  // The .gz itself, asked for by name, is a plain gzip file.
  CurlResult direct = get("/app.js.gz", {"Accept-Encoding: gzip"});
  EXPECT_EQ(header(direct, "content-type"), "application/gzip");
  EXPECT_EQ(header(direct, "content-encoding"), "");
}

TEST_F(StaticPrecompressed, CurlDecodesWhatItAskedFor) {
  struct Case {
    const char* path;
    const char* coding;
    const std::string& body;
  } cases[] = {
      {"/app.js", "gzip", script_}, {"/big.txt", "gzip", big_}, {"/app.js", "br", script_}};
  for (long v : {CURL_HTTP_VERSION_1_1, CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE}) {
    for (const Case& c : cases) {
      CurlResult r = curl_do(server_->url(c.path), [&](CURL* h) {
        curl_easy_setopt(h, CURLOPT_HTTP_VERSION, v);
        curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, c.coding);
      });
      ASSERT_EQ(r.code, CURLE_OK) << curl_easy_strerror(r.code);
      EXPECT_TRUE(r.body == c.body) << c.path << " " << c.coding << " " << r.body.size();
      EXPECT_EQ(header(r, "content-encoding"), c.coding);
    }
  }
}

TEST_F(StaticPrecompressed, ValidatorsAndRangesAreTheSiblings) {
  CurlResult file = get("/big.txt");
  CurlResult gz = get("/big.txt", {"Accept-Encoding: gzip"});
  ASSERT_NE(header(gz, "etag"), "");
  EXPECT_NE(header(gz, "etag"), header(file, "etag"));
  CurlResult not_modified =
      get("/big.txt", {"Accept-Encoding: gzip", "If-None-Match: " + header(gz, "etag")});
  EXPECT_EQ(not_modified.status, 304);
  EXPECT_EQ(header(not_modified, "vary"), "Accept-Encoding");
  EXPECT_EQ(get("/big.txt", {"If-None-Match: " + header(gz, "etag")}).status, 200);
  CurlResult range = get("/big.txt", {"Accept-Encoding: gzip", "Range: bytes=0-9"});
  EXPECT_EQ(range.status, 206);
  EXPECT_EQ(range.body, read("big.txt.gz").substr(0, 10));
  EXPECT_EQ(header(range, "content-range"),
            "bytes 0-9/" + std::to_string(read("big.txt.gz").size()));
}

int open_fds() {
  int n = 0;
  for (const auto& e : std::filesystem::directory_iterator("/proc/self/fd")) {
    (void)e;
    ++n;
  }
  return n;
}

TEST_F(StaticPrecompressed, ALargeFileIsClosedWhenItsSiblingGoesInstead) {
  get("/big.txt", {"Accept-Encoding: gzip"});
  int before = open_fds();
  for (int i = 0; i < 20; ++i) {
    EXPECT_EQ(get("/big.txt", {"Accept-Encoding: gzip"}).status, 200);
  }
  // Closed connections can take a moment to go on the server's side.
  EXPECT_TRUE(eventually([&] { return open_fds() <= before; })) << open_fds() << " " << before;
}

TEST_F(StaticPrecompressed, OffServesTheFilesAsTheyAre) {
  start(false);
  CurlResult r = get("/app.js", {"Accept-Encoding: gzip"});
  EXPECT_EQ(r.body, script_);
  EXPECT_EQ(header(r, "content-encoding"), "");
  EXPECT_EQ(header(r, "vary"), "");
}

TEST(AcceptedQ, ReadsCodingsAndQValues) {
  EXPECT_EQ(accepted_q("gzip", "gzip"), 1);
  EXPECT_EQ(accepted_q("GZIP", "gzip"), 1);
  EXPECT_EQ(accepted_q("x-gzip", "gzip"), 1);
  EXPECT_EQ(accepted_q("br;q=1.0, gzip;q=0.5", "gzip"), 0.5);
  EXPECT_EQ(accepted_q("br;q=1.0, gzip;q=0.5", "br"), 1);
  EXPECT_EQ(accepted_q(" gzip ; Q=0.25 ", "gzip"), 0.25);
  EXPECT_EQ(accepted_q("gzip;level=1;q=0.2", "gzip"), 0.2);
  EXPECT_EQ(accepted_q("*;q=0.3", "br"), 0.3);
  EXPECT_EQ(accepted_q("*, gzip;q=0", "gzip"), 0);
  EXPECT_EQ(accepted_q("gzip;q=0, *", "gzip"), 0);
  EXPECT_EQ(accepted_q("*;q=0", "br"), 0);
  EXPECT_EQ(accepted_q("gzip;q=-1", "gzip"), 0);
  EXPECT_EQ(accepted_q("", "gzip"), 0);
  EXPECT_EQ(accepted_q("identity", "gzip"), 0);
  EXPECT_EQ(accepted_q("gzipx, br", "gzip"), 0);
  EXPECT_EQ(accepted_q(",,", "gzip"), 0);
  EXPECT_EQ(accepted_q("gzip;q=nan", "gzip"), 0);
  EXPECT_EQ(accepted_q("gzip;q=1e9", "gzip"), 1);
}

}  // namespace
}  // namespace valk::test
