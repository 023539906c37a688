// wrap-session through `valk serve`: a session made by one worker is the
// session of the next request, whichever worker takes it (they share the
// store), over HTTP/1.1 and h2c.
#include <gtest/gtest.h>

#include <string>

#include "../net/net_test_util.h"
#include "serve_process.h"

namespace valk::test {
namespace {

const char* kApp = R"((import "valk/web")
(serve (wrap-session
         (router
           (POST "/login" (fn [req] {:status 200 :body "in" :session {:user "ann" :n 0}}))
           (GET "/count" (fn [req]
                           (let [s (update (:session req) :n (fnil inc 0))]
                             {:status 200 :body (str (:user s) " " (:n s)) :session s})))
           (POST "/logout" (fn [req] {:status 200 :body "out" :session nil}))))
       {:port 0})
)";

CurlResult call(ValkProcess& p, const char* method, const std::string& path,
                const std::string& cookie, long version = CURL_HTTP_VERSION_1_1) {
  return curl_do(p.url(path), [&](CURL* c) {
    curl_easy_setopt(c, CURLOPT_HTTP_VERSION, version);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    if (!cookie.empty()) {
      curl_easy_setopt(c, CURLOPT_COOKIE, cookie.c_str());
    }
  });
}

TEST(ServeSession, EveryWorkerSeesTheSession) {
  // Workers take requests in turn: the next request goes to the other.
  ServeProcess s({"--workers", "2", "--reactors", "1", write_app("session_app.lisp", kApp)});
  ASSERT_NE(s.port(), 0) << s.output();
  CurlResult login = call(s, "POST", "/login", "");
  ASSERT_EQ(login.status, 200);
  size_t at = login.headers.find("set-cookie: valk-session=");
  ASSERT_NE(at, std::string::npos) << login.headers;
  std::string cookie = login.headers.substr(at + 12, login.headers.find(';', at) - at - 12);
  EXPECT_NE(login.headers.find("; Path=/; Max-Age=86400; HttpOnly; SameSite=Lax"),
            std::string::npos)
      << login.headers;
  for (int i = 1; i <= 4; i++) {
    CurlResult r = call(s, "GET", "/count", cookie,
                        i % 2 ? CURL_HTTP_VERSION_1_1 : CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE);
    EXPECT_EQ(r.body, "ann " + std::to_string(i));
    EXPECT_EQ(r.headers.find("set-cookie"), std::string::npos) << "the same id";
  }
  EXPECT_EQ(call(s, "POST", "/logout", cookie).body, "out");
  EXPECT_EQ(call(s, "GET", "/count", cookie).body, " 1") << "no session: a fresh one";
  EXPECT_EQ(call(s, "GET", "/count", cookie).body, " 1");
}

}  // namespace
}  // namespace valk::test
