// wrap-gzip end to end: libcurl asks for gzip (Accept-Encoding) over
// HTTP/1.1, h2c and h2 over TLS, and decodes what valk serve sends.
#include <gtest/gtest.h>

#include <regex>
#include <string>

#include "../net/net_test_util.h"
#include "serve_process.h"

namespace valk::test {
namespace {

const char* kApp = R"(
(import "valk/web")
(def page (apply str "<!doctype html><title>x</title>" (repeat 500 "<p>gzip me</p>")))
(def app (-> (router (GET "/" (fn [req] (html page)))
                     (GET "/small" (fn [req] (text "tiny"))))
             (wrap-gzip)))
(serve app {:port 0 :tls-port 0 :tls {:cert "CERT" :key "KEY"}})
)";

std::string expected_page() {
  std::string page = "<!doctype html><title>x</title>";
  for (int i = 0; i < 500; ++i) {
    page += "<p>gzip me</p>";
  }
  return page;
}

TEST(ServeGzip, CurlGetsGzipOnEveryProtocolAndDecodesIt) {
  std::string app = kApp;
  app.replace(app.find("CERT"), 4, cert_path("dev.crt"));
  app.replace(app.find("KEY"), 3, cert_path("dev.key"));
  ServeProcess s({write_app("gzip_app.lisp", app)});
  ASSERT_NE(s.port(), 0) << s.output();
  std::smatch m;
  std::regex tls_port("and https://127\\.0\\.0\\.1:([0-9]+)");
  ASSERT_TRUE(std::regex_search(s.output(), m, tls_port)) << s.output();
  std::string https = "https://127.0.0.1:" + m[1].str() + "/";
  struct Case {
    std::string url;
    long version;
  } cases[] = {{s.url("/"), CURL_HTTP_VERSION_1_1},
               {s.url("/"), CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE},
               {https, CURL_HTTP_VERSION_2TLS}};
  for (const Case& c : cases) {
    CurlResult r = curl_do(c.url, [&](CURL* h) {
      curl_easy_setopt(h, CURLOPT_HTTP_VERSION, c.version);
      curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, "gzip");
    });
    ASSERT_EQ(r.code, CURLE_OK) << c.url << ": " << curl_easy_strerror(r.code);
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(response_header(r, "content-encoding"), "gzip") << r.headers;
    EXPECT_EQ(response_header(r, "vary"), "Accept-Encoding");
    EXPECT_EQ(r.body, expected_page());
    // What went over the wire: far less than the page.
    int64_t wire = std::stoll(response_header(r, "content-length"));
    EXPECT_LT(wire, static_cast<int64_t>(expected_page().size()) / 10) << wire;
  }
}

TEST(ServeGzip, ClientsThatDoNotAskGetThePlainBody) {
  std::string app = kApp;
  app.replace(app.find(" :tls-port 0 :tls {:cert \"CERT\" :key \"KEY\"}"),
              std::string(" :tls-port 0 :tls {:cert \"CERT\" :key \"KEY\"}").size(), "");
  ServeProcess s({write_app("gzip_plain.lisp", app)});
  ASSERT_NE(s.port(), 0) << s.output();
  CurlResult r = curl_get(s.url("/"), CURL_HTTP_VERSION_1_1);
  EXPECT_EQ(response_header(r, "content-encoding"), "");
  EXPECT_EQ(response_header(r, "vary"), "Accept-Encoding");
  EXPECT_EQ(r.body, expected_page());
  CurlResult small = curl_do(s.url("/small"),
                             [](CURL* h) { curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, "gzip"); });
  EXPECT_EQ(response_header(small, "content-encoding"), "");
  EXPECT_EQ(small.body, "tiny");
}

}  // namespace
}  // namespace valk::test
