// The shared store under `valk serve`: --store-max-bytes (or the app's
// :store-max-bytes) bounds it, a write past the limit raises :store-full,
// and /metrics shows its size and limit.
#include <gtest/gtest.h>

#include <string>

#include "../net/net_test_util.h"
#include "serve_process.h"

namespace valk::test {
namespace {

const char* kApp = R"((import "valk/web")
(serve (router
         (PUT "/:key/:n" (fn [req]
                           (let [{:keys [key n]} (:params req)]
                             (try (store/put! key (apply str (repeat (parse-long n) "x")))
                                  (text "stored")
                                  (catch e (text (str (:type (error-data e)))))))))
         (DELETE "/:key" (fn [req] (store/delete! (get-in req [:params :key])) (text "gone"))))
       {:port 0 :store-max-bytes 5000})
)";

std::string call(ValkProcess& p, const char* method, const std::string& path) {
  return curl_do(p.url(path), [&](CURL* c) { curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method); })
      .body;
}

TEST(ServeStore, AWritePastTheLimitRaisesStoreFull) {
  // The flag wins over the app's 5000.
  ServeProcess s(
      {"--store-max-bytes", "2000", "--metrics", "0", write_app("store_limit.lisp", kApp)});
  ASSERT_NE(s.port(), 0) << s.output();
  EXPECT_EQ(call(s, "PUT", "/a/1500"), "stored");
  EXPECT_EQ(call(s, "PUT", "/b/1000"), ":store-full");
  EXPECT_EQ(call(s, "PUT", "/b/400"), "stored");
  EXPECT_EQ(call(s, "DELETE", "/a"), "gone");
  EXPECT_EQ(call(s, "PUT", "/b/1900"), "stored") << "room again";
  CurlResult m = curl_get("http://127.0.0.1:" + std::to_string(s.metrics_port()) + "/metrics",
                          CURL_HTTP_VERSION_1_1);
  EXPECT_NE(m.body.find("\nvalk_store_max_bytes 2000\n"), std::string::npos) << m.body;
  EXPECT_NE(m.body.find("\nvalk_store_entries 1\n"), std::string::npos) << m.body;
}

}  // namespace
}  // namespace valk::test
