// Each example web app under examples/ served by `valk serve` and driven
// with libcurl over HTTP/1.1, h2c and h2 over TLS.
#include <gtest/gtest.h>

#include "../net/net_test_util.h"
#include "serve_process.h"

namespace valk::test {
namespace {

std::string example(const char* name) {
  return std::string(VALK_SOURCE_DIR) + "/examples/" + name;
}

CurlResult request(const std::string& url, const char* method = "GET", const std::string& body = "",
                   long version = CURL_HTTP_VERSION_1_1) {
  return curl_do(url, [&](CURL* c) {
    curl_easy_setopt(c, CURLOPT_HTTP_VERSION, version);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    if (!body.empty()) {
      static curl_slist* json = curl_slist_append(nullptr, "Content-Type: application/json");
      curl_easy_setopt(c, CURLOPT_HTTPHEADER, json);
      curl_easy_setopt(c, CURLOPT_POSTFIELDS, body.c_str());
    }
  });
}

TEST(Examples, HelloOverEveryProtocol) {
  std::string certs = std::string(VALK_SOURCE_DIR) + "/certs/";
  ServeProcess plain({"--port", "0", example("hello.lisp")});
  ASSERT_NE(plain.port(), 0) << plain.output();
  EXPECT_EQ(request(plain.url("/")).body, "Hello, World!");
  CurlResult h2c =
      request(plain.url("/hello/valk"), "GET", "", CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE);
  EXPECT_EQ(h2c.version, CURL_HTTP_VERSION_2_0);
  EXPECT_EQ(h2c.body, "Hello, valk!");
  EXPECT_EQ(request(plain.url("/slow")).body, "Sorry for the wait.");
  EXPECT_EQ(request(plain.url("/missing")).status, 404);

  ServeProcess tls({"--port", "0", "--tls-cert", certs + "dev.crt", "--tls-key", certs + "dev.key",
                    example("hello.lisp")});
  ASSERT_NE(tls.port(), 0) << tls.output();
  CurlResult h2 = request(tls.url("/", true), "GET", "", CURL_HTTP_VERSION_2TLS);
  EXPECT_EQ(h2.version, CURL_HTTP_VERSION_2_0);
  EXPECT_EQ(h2.body, "Hello, World!");
  CurlResult h1 = request(tls.url("/", true), "GET", "", CURL_HTTP_VERSION_1_1);
  EXPECT_EQ(h1.version, CURL_HTTP_VERSION_1_1);
  EXPECT_EQ(h1.body, "Hello, World!");
}

TEST(Examples, TodosCrud) {
  ServeProcess p({"--port", "0", "--workers", "1", example("todos.lisp")});
  ASSERT_NE(p.port(), 0) << p.output();
  CurlResult created = request(p.url("/todos"), "POST", R"({"title":"write docs"})");
  EXPECT_EQ(created.status, 201);
  EXPECT_EQ(created.body, R"({"id":1,"title":"write docs","done":false})");
  EXPECT_EQ(request(p.url("/todos"), "POST", R"({"title":""})").status, 400);
  CurlResult invalid = request(p.url("/todos"), "POST", R"({"title":5})");
  EXPECT_EQ(invalid.status, 400);
  EXPECT_NE(invalid.body.find("title must be a string"), std::string::npos) << invalid.body;
  EXPECT_EQ(request(p.url("/todos"), "POST", "{not json").status, 400);
  CurlResult done =
      request(p.url("/todos/1"), "PATCH", R"({"done":true})", CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE);
  EXPECT_EQ(done.status, 200);
  EXPECT_EQ(done.body, R"({"id":1,"title":"write docs","done":true})");
  EXPECT_EQ(request(p.url("/todos")).body, R"([{"id":1,"title":"write docs","done":true}])");
  EXPECT_EQ(request(p.url("/todos/1"), "DELETE").status, 204);
  EXPECT_EQ(request(p.url("/todos/1")).status, 404);
  CurlResult wrong_method = request(p.url("/todos"), "PUT");
  EXPECT_EQ(wrong_method.status, 405);
  EXPECT_NE(wrong_method.headers.find("allow: "), std::string::npos) << wrong_method.headers;
}

TEST(Examples, PageEscapesText) {
  ServeProcess p({"--port", "0", example("page.lisp")});
  ASSERT_NE(p.port(), 0) << p.output();
  CurlResult r = request(p.url("/?name=%3Cscript%3E"));
  EXPECT_EQ(r.status, 200);
  EXPECT_NE(r.headers.find("content-type: text/html"), std::string::npos) << r.headers;
  EXPECT_NE(r.body.find("<h1 class=\"greeting\">Hello, &lt;script&gt;!</h1>"), std::string::npos)
      << r.body;
  EXPECT_NE(r.body.find("<li>HTTP/2</li>"), std::string::npos) << r.body;
}

}  // namespace
}  // namespace valk::test
