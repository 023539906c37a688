// GET /requests on the --metrics listener: what each worker holds, with
// what a parked handler waits on and its Lisp stack, answered even while a
// worker runs a handler that never awaits.
#include <gtest/gtest.h>

#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "../net/net_test_util.h"
#include "redis_server.h"
#include "serve_process.h"

namespace valk::test {
namespace {

const char* kApp = R"((import "valk/web")
(defn nap [ms] (await (sleep ms)))
(serve (router
         (GET "/nap/:ms" (fn [req] (nap (parse-long (get-in req [:params :ms]))) (text "rested")))
         (GET "/spin" (fn [req] (loop [] (recur))))
         (GET "/hold" (fn [req] (let [v (vec (range 200000))] (nap 2500) (text (str (count v)))))))
       {:port 0 :threads 2 :deadline-ms 3000})
)";

std::string page(ValkProcess& p) {
  CurlResult r = curl_get("http://127.0.0.1:" + std::to_string(p.metrics_port()) + "/requests",
                          CURL_HTTP_VERSION_1_1);
  EXPECT_EQ(r.status, 200);
  EXPECT_NE(r.headers.find("content-type: application/json"), std::string::npos) << r.headers;
  return r.body;
}

TEST(RequestsPage, ListsWhatTheWorkersHoldAndWhy) {
  ServeProcess s({"--metrics", "0", write_app("requests_page.lisp", kApp)});
  ASSERT_NE(s.port(), 0) << s.output();
  ASSERT_NE(s.metrics_port(), 0) << s.output();
  EXPECT_EQ(page(s),
            "{\"workers\":[{\"worker\":0,\"generation\":1,\"requests\":0},"
            "{\"worker\":1,\"generation\":1,\"requests\":0}],\"requests\":[]}\n");

  std::vector<std::thread> clients;
  clients.emplace_back([&] { curl_get(s.url("/nap/2500"), CURL_HTTP_VERSION_1_1); });
  clients.emplace_back([&] { curl_get(s.url("/nap/2600"), CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE); });
  clients.emplace_back([&] { curl_get(s.url("/spin"), CURL_HTTP_VERSION_1_1); });
  clients.emplace_back([&] { curl_get(s.url("/hold"), CURL_HTTP_VERSION_1_1); });
  std::string text;
  ASSERT_TRUE(eventually([&] {
    text = page(s);
    // All four held; the two naps parked, the spinner routed (it is
    // listed from its hand-over, before its fiber first runs).
    return count_of(text, "\"id\":") == 4 &&
           text.find("\"waiting_on\":\"sleep 2500 ms\"") !=
               text.rfind("\"waiting_on\":\"sleep 2500 ms\"") &&
           text.find("\"route\":\"GET /spin\"") != std::string::npos;
  })) << text;
  // What each has run and allocated: the vector of 200 000 held is 1.6 MB
  // at least; a nap, next to nothing.
  auto figure = [&](const char* path, const char* name) {
    std::smatch m;
    std::string pattern = std::string("\"path\":\"") + path + "\"[^}]*\"" + name + "\":(\\d+)";
    return std::regex_search(text, m, std::regex(pattern)) ? std::stoll(m[1]) : -1;
  };
  EXPECT_GE(figure("/hold", "allocated_bytes"), 200000 * 8) << text;
  EXPECT_GT(figure("/nap/2500", "allocated_bytes"), 0) << text;
  EXPECT_LT(figure("/nap/2500", "allocated_bytes"), 64 * 1024) << text;
  EXPECT_GT(figure("/nap/2500", "instructions"), 0) << text;
  EXPECT_NE(text.find("\"method\":\"GET\",\"path\":\"/nap/2500\",\"protocol\":\"HTTP/1.1\""),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("\"path\":\"/nap/2600\",\"protocol\":\"HTTP/2\""), std::string::npos) << text;
  EXPECT_NE(text.find("\"route\":\"GET /nap/:ms\""), std::string::npos) << text;
  EXPECT_NE(text.find("\"state\":\"parked\",\"answered\":false,\"waiting_on\":\"sleep 2500 ms\","
                      "\"stack\":[\"nap (" +
                      testing::TempDir()),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("requests_page.lisp:2:16)\""), std::string::npos) << text;
  // The spinning handler: its worker answers between two of its slices.
  EXPECT_NE(text.find("\"route\":\"GET /spin\",\"streaming\":false,\"state\":\"running\","
                      "\"answered\":false,\"waiting_on\":null"),
            std::string::npos)
      << text;
  for (std::thread& t : clients) {
    t.join();
  }
  text = page(s);
  EXPECT_NE(text.find("\"requests\":[]"), std::string::npos) << text;

  CurlResult other = curl_get("http://127.0.0.1:" + std::to_string(s.metrics_port()) + "/nothing",
                              CURL_HTTP_VERSION_1_1);
  EXPECT_EQ(other.status, 404);
  EXPECT_EQ(other.body, "Not Found: this listener answers /metrics and /requests\n");
}

// A handler parked on Redis shows the command it waits for.
TEST(RequestsPage, NamesTheRedisCommandAHandlerWaitsFor) {
  RedisServer redis(testing::TempDir() + "/requests_page_redis");
  ASSERT_TRUE(redis.up());
  std::string app = write_app("requests_redis.lisp", R"((import "valk/web")
(defonce r (redis/connect (getenv "REQUESTS_REDIS")))
(serve (fn [req] (text (str (await (redis/cmd r "BLPOP" "jobs" 2)))))
       {:port 0 :threads 1})
)");
  setenv("REQUESTS_REDIS", redis.url().c_str(), 1);
  ServeProcess s({"--metrics", "0", app});
  unsetenv("REQUESTS_REDIS");
  ASSERT_NE(s.port(), 0) << s.output();
  std::thread client([&] { EXPECT_EQ(curl_get(s.url("/"), CURL_HTTP_VERSION_1_1).body, ""); });
  std::string text;
  EXPECT_TRUE(eventually([&] {
    text = page(s);
    return text.find("\"waiting_on\":\"redis/cmd BLPOP jobs 2\"") != std::string::npos;
  })) << text;
  client.join();
}

}  // namespace
}  // namespace valk::test
