// The --metrics listener of `valk serve` and `valk static`: what each
// counter says after requests the test makes, scraped with libcurl.
#include <gtest/gtest.h>

#include <filesystem>
#include <sstream>
#include <string>
#include <thread>

#include "../net/net_test_util.h"
#include "redis_server.h"
#include "serve/serve_config.h"
#include "serve_process.h"

namespace valk::test {
namespace {

const char* kApp = R"(
(defn handler [req]
  (case (:path req)
    "/" "hello"
    "/boom" (error "boom")
    "/bad" 42
    "/spin" (loop [] (recur))
    "/pile" (loop [v [] i 0] (recur (conj v i) (inc i)))
    "/sleep" (do (await (sleep 1000)) "slept")
    "/park" (do (await (sleep 400)) "parked")
    "/garbage" (do (loop [i 0] (when (< i 500000) (vector i i i) (recur (inc i)))) "made")
    nil))
(serve handler {:port 0 :threads 2})
)";

// The value of the sample `series` (name and labels as exposed), or -1.
double sample(const std::string& text, const std::string& series) {
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.size() > series.size() && line.compare(0, series.size(), series) == 0 &&
        line[series.size()] == ' ') {
      return std::stod(line.substr(series.size() + 1));
    }
  }
  return -1;
}

std::string metrics_url(ValkProcess& p, const char* path = "/metrics") {
  return "http://127.0.0.1:" + std::to_string(p.metrics_port()) + path;
}

std::string scrape(ValkProcess& p) {
  CurlResult r = curl_get(metrics_url(p), CURL_HTTP_VERSION_1_1);
  EXPECT_EQ(r.status, 200);
  return r.body;
}

TEST(ServeMetrics, CountRequestsErrorsTimeoutsAndDurations) {
  ServeProcess s({"--metrics", "0", "--deadline-ms", "300", "--instruction-budget", "200000",
                  "--allocation-budget", "1000000", write_app("metrics_app.lisp", kApp)});
  ASSERT_NE(s.port(), 0) << s.output();
  ASSERT_NE(s.metrics_port(), 0) << s.output();
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(curl_get(s.url("/"), CURL_HTTP_VERSION_1_1).status, 200);
  }
  for (int i = 0; i < 2; ++i) {
    EXPECT_EQ(curl_get(s.url("/"), CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE).status, 200);
  }
  EXPECT_EQ(curl_get(s.url("/nope"), CURL_HTTP_VERSION_1_1).status, 404);
  EXPECT_EQ(curl_get(s.url("/boom"), CURL_HTTP_VERSION_1_1).status, 500);
  EXPECT_EQ(curl_get(s.url("/bad"), CURL_HTTP_VERSION_1_1).status, 500);
  EXPECT_EQ(curl_get(s.url("/spin"), CURL_HTTP_VERSION_1_1).status, 503);
  EXPECT_EQ(curl_get(s.url("/pile"), CURL_HTTP_VERSION_1_1).status, 503);
  EXPECT_EQ(curl_get(s.url("/sleep"), CURL_HTTP_VERSION_1_1).status, 503);

  std::string m = scrape(s);
  EXPECT_EQ(sample(m, "valk_requests_total{protocol=\"http1\"}"), 9) << m;
  EXPECT_EQ(sample(m, "valk_requests_total{protocol=\"http2\"}"), 2);
  EXPECT_EQ(sample(m, "valk_error_responses_total{class=\"4xx\"}"), 1);
  EXPECT_EQ(sample(m, "valk_error_responses_total{class=\"5xx\"}"), 5);
  EXPECT_EQ(sample(m, "valk_handler_errors_total"), 2);
  EXPECT_EQ(sample(m, "valk_handler_timeouts_total{limit=\"deadline\"}"), 1);
  EXPECT_EQ(sample(m, "valk_handler_timeouts_total{limit=\"instruction_budget\"}"), 1);
  EXPECT_EQ(sample(m, "valk_handler_timeouts_total{limit=\"allocation_budget\"}"), 1);
  EXPECT_EQ(sample(m, "valk_worker_queue_rejections_total"), 0);
  EXPECT_EQ(sample(m, "valk_workers"), 2);
  EXPECT_EQ(sample(m, "valk_connections_accepted_total"), 11);
  EXPECT_GT(sample(m, "valk_received_bytes_total"), 0);
  EXPECT_GT(sample(m, "valk_sent_bytes_total"), 0);
  EXPECT_GT(sample(m, "valk_lisp_allocated_bytes_total"), 0);

  // Every response sent is in the histogram once; the 503 past its 300 ms
  // deadline is in no bucket below 0.25 s.
  EXPECT_EQ(sample(m, "valk_request_duration_seconds_count"), 11);
  EXPECT_EQ(sample(m, "valk_request_duration_seconds_bucket{le=\"+Inf\"}"), 11);
  EXPECT_EQ(sample(m, "valk_request_duration_seconds_bucket{le=\"0.25\"}"), 10);
  EXPECT_GE(sample(m, "valk_request_duration_seconds_sum"), 0.3);
  double previous = 0;
  for (const char* le : {"0.0001", "0.001", "0.01", "0.1", "1", "10"}) {
    double n = sample(m, std::string("valk_request_duration_seconds_bucket{le=\"") + le + "\"}");
    EXPECT_GE(n, previous) << le;
    previous = n;
  }

  EXPECT_GT(sample(m, "process_resident_memory_bytes"), 1 << 20);
  EXPECT_GT(sample(m, "process_open_fds"), 3);
  // Whole clock ticks: a quick run may not have used one yet.
  EXPECT_GE(sample(m, "process_cpu_seconds_total"), 0);
  EXPECT_GT(sample(m, "process_start_time_seconds"), 1.7e9);
  EXPECT_NE(m.find("valk_build_info{version=\""), std::string::npos);
}

const char* kRoutedApp = R"(
(import "valk/web")
(def app
  (router
    (GET "/users/:id" (fn [req] (text (get-in req [:params :id]))))
    (POST "/users" (fn [req] (error "no")))
    (GET "/slow" (fn [req] (await (sleep 30)) (text "slow")))
    (GET "/quo\"te" (fn [req] (text "q")))
    (GET "/busy" (fn [req] (text (str (loop [i 0] (if (< i 100000) (recur (inc i)) i))))))
    (GET "/pile" (fn [req] (text (str (count (loop [v [] i 0]
                                              (if (< i 100000) (recur (conj v i) (inc i)) v)))))))))
(serve app {:port 0 :threads 2})
)";

// Each request is counted under the router's route that answered it, by
// status class, with its handler's time.
TEST(ServeMetrics, FiguresByRoute) {
  ServeProcess s({"--metrics", "0", write_app("routes_app.lisp", kRoutedApp)});
  ASSERT_NE(s.port(), 0) << s.output();
  for (const char* path :
       {"/users/1", "/users/2", "/users/3", "/slow", "/quo%22te", "/busy", "/pile"}) {
    EXPECT_EQ(curl_get(s.url(path), CURL_HTTP_VERSION_1_1).status, 200) << path;
  }
  EXPECT_EQ(curl_do(s.url("/users"), [](CURL* c) { curl_easy_setopt(c, CURLOPT_POSTFIELDS, "x"); })
                .status,
            500);
  EXPECT_EQ(curl_get(s.url("/nowhere"), CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE).status, 404);
  std::string text;
  // Published with each worker's 100 ms sweep, the two workers apart.
  const char* users = "valk_route_requests_total{route=\"GET /users/:id\",code=\"2xx\"}";
  const char* post = "valk_route_requests_total{route=\"POST /users\",code=\"5xx\"}";
  const char* quote = "valk_route_requests_total{route=\"GET /quo\\\"te\",code=\"2xx\"}";
  const char* slow = "valk_route_handler_seconds_count{route=\"GET /slow\"}";
  ASSERT_TRUE(eventually([&] {
    text = scrape(s);
    return sample(text, users) == 3 && sample(text, post) == 1 && sample(text, quote) == 1 &&
           sample(text, slow) == 1;
  })) << text;
  EXPECT_EQ(text.find("/nowhere"), std::string::npos);
  EXPECT_EQ(sample(text, "valk_route_handler_seconds_count{route=\"GET /users/:id\"}"), 3);
  // The slow route's 30 ms fall past the 25 ms bucket (libuv's timers
  // count from the loop's cached clock: a 30 ms sleep took 29.6 ms once).
  EXPECT_EQ(sample(text, "valk_route_handler_seconds_bucket{route=\"GET /slow\",le=\"0.025\"}"), 0);
  EXPECT_EQ(sample(text, "valk_route_handler_seconds_bucket{route=\"GET /slow\",le=\"+Inf\"}"), 1);
  EXPECT_GE(sample(text, "valk_route_handler_seconds_sum{route=\"GET /slow\"}"), 0.025);
  // Where the CPU goes: a loop of 100 000 turns (a safe point each) beside
  // three small handlers.
  ASSERT_TRUE(eventually([&] {
    text = scrape(s);
    return sample(text, "valk_route_instructions_total{route=\"GET /busy\"}") > 0 &&
           sample(text, "valk_route_allocated_bytes_total{route=\"GET /pile\"}") > 0;
  })) << text;
  EXPECT_GE(sample(text, "valk_route_instructions_total{route=\"GET /busy\"}"), 100000);
  double small = sample(text, "valk_route_instructions_total{route=\"GET /users/:id\"}");
  EXPECT_GT(small, 0);
  EXPECT_LT(small, 3 * 1000);
  // And the memory: 100 000 elements piled up take 8 bytes each at least.
  EXPECT_GE(sample(text, "valk_route_allocated_bytes_total{route=\"GET /pile\"}"), 800000);
  double little = sample(text, "valk_route_allocated_bytes_total{route=\"GET /users/:id\"}");
  EXPECT_GT(little, 0);
  EXPECT_LT(little, 3 * 4096);
}

TEST(ServeMetrics, GaugesShowParkedHandlersAndOpenConnections) {
  ServeProcess s({"--metrics", "0", write_app("metrics_gauges.lisp", kApp)});
  ASSERT_NE(s.metrics_port(), 0) << s.output();
  std::thread parked(
      [&] { EXPECT_EQ(curl_get(s.url("/park"), CURL_HTTP_VERSION_1_1).status, 200); });
  // Workers publish their gauges every 100 ms.
  EXPECT_TRUE(eventually([&] {
    std::string m = scrape(s);
    return sample(m, "valk_handlers_running") == 1 && sample(m, "valk_requests_open") == 1 &&
           sample(m, "valk_connections_open") == 1;
  }));
  parked.join();
  EXPECT_TRUE(eventually([&] {
    std::string m = scrape(s);
    return sample(m, "valk_handlers_running") == 0 && sample(m, "valk_requests_open") == 0;
  }));
}

// Garbage enough for collections: their count and the time they took, in
// all and the longest.
TEST(ServeMetrics, CollectionsAndTheirPauses) {
  ServeProcess s({"--metrics", "0", "--threads", "1", write_app("metrics_gc.lisp", kApp)});
  ASSERT_NE(s.metrics_port(), 0) << s.output();
  EXPECT_EQ(curl_get(s.url("/garbage"), CURL_HTTP_VERSION_1_1).body, "made");
  std::string m;
  // Workers publish their figures every 100 ms.
  EXPECT_TRUE(eventually([&] {
    m = scrape(s);
    return sample(m, "valk_lisp_collections_total") >= 2;
  })) << m;
  double total = sample(m, "valk_lisp_collection_seconds_total");
  double longest = sample(m, "valk_lisp_collection_longest_seconds");
  EXPECT_GT(longest, 0) << m;
  EXPECT_LE(longest, total);
  EXPECT_LT(total, 1) << "a collection of a small heap takes well under a second";
}

TEST(ServeMetrics, TheListenerAnswersOnlyGetAndHeadOfMetrics) {
  ServeProcess s({"--metrics", "127.0.0.1:0", write_app("metrics_paths.lisp", kApp)});
  ASSERT_NE(s.metrics_port(), 0) << s.output();
  CurlResult h2 = curl_get(metrics_url(s), CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE);
  EXPECT_EQ(h2.status, 200);
  EXPECT_NE(h2.body.find("# TYPE valk_requests_total counter\n"), std::string::npos);
  EXPECT_EQ(curl_get(metrics_url(s, "/"), CURL_HTTP_VERSION_1_1).status, 404);
  // The app's routes are not there, nor the metrics on the app's port.
  EXPECT_EQ(curl_get(metrics_url(s, "/boom"), CURL_HTTP_VERSION_1_1).status, 404);
  EXPECT_EQ(curl_get(s.url("/metrics"), CURL_HTTP_VERSION_1_1).status, 404);
  CurlResult post =
      curl_do(metrics_url(s), [](CURL* c) { curl_easy_setopt(c, CURLOPT_POSTFIELDS, "x"); });
  EXPECT_EQ(post.status, 405);
  CurlResult head =
      curl_do(metrics_url(s), [](CURL* c) { curl_easy_setopt(c, CURLOPT_NOBODY, 1L); });
  EXPECT_EQ(head.status, 200);
  EXPECT_EQ(head.body, "");
}

TEST(ServeMetrics, TheAppsOptionWorksAndTheFlagWins) {
  std::string app = write_app("metrics_option.lisp",
                              "(serve (fn [r] \"x\") {:port 0 :metrics \"127.0.0.2:0\"})\n");
  ServeProcess from_app({app});
  ASSERT_NE(from_app.metrics_port(), 0) << from_app.output();
  EXPECT_NE(from_app.output().find("metrics on http://127.0.0.2:"), std::string::npos);
  ServeProcess flagged({"--metrics", "0", app});
  ASSERT_NE(flagged.metrics_port(), 0) << flagged.output();
  EXPECT_NE(flagged.output().find("metrics on http://127.0.0.1:"), std::string::npos);
  EXPECT_NE(scrape(flagged).find("valk_workers "), std::string::npos);
  // A port alone, as a number.
  ServeProcess number(
      {write_app("metrics_number.lisp", "(serve (fn [r] \"x\") {:port 0 :metrics 0})\n")});
  ASSERT_NE(number.metrics_port(), 0) << number.output();
  EXPECT_NE(number.output().find("metrics on http://127.0.0.1:"), std::string::npos);
}

TEST(ServeMetrics, BadAddressesAreClearErrors) {
  std::string app = write_app("metrics_bad.lisp", "(serve (fn [r] \"x\") {:port 0})\n");
  ServeProcess flag({"--metrics", "localhost", app});
  EXPECT_EQ(flag.wait_exit(), 2);
  EXPECT_NE(flag.output().find("--metrics: the metrics address is [HOST:]PORT"), std::string::npos)
      << flag.output();

  for (const char* bad : {"\"::1:9\"", "70000", ":yes"}) {
    std::string text = std::string("(serve (fn [r] \"x\") {:port 0 :metrics ") + bad + "})\n";
    ServeProcess option({write_app("metrics_option_bad.lisp", text)});
    EXPECT_EQ(option.wait_exit(), 1) << bad;
    EXPECT_NE(
        option.output().find(std::string(":metrics must be a port or \"HOST:PORT\", got ") + bad),
        std::string::npos)
        << option.output();
  }

  ServeProcess first({"--metrics", "0", app});
  ASSERT_NE(first.metrics_port(), 0) << first.output();
  ServeProcess second({"--metrics", std::to_string(first.metrics_port()), app});
  EXPECT_EQ(second.wait_exit(), 1);
  EXPECT_NE(second.output().find("valk serve: metrics listener:"), std::string::npos)
      << second.output();
}

TEST(ServeMetrics, AddressesParse) {
  ListenAddress a;
  std::string error;
  ASSERT_TRUE(serve::parse_metrics_address("9464", &a, &error)) << error;
  EXPECT_EQ(a.host, "127.0.0.1");
  EXPECT_EQ(a.port, 9464);
  EXPECT_FALSE(a.tls);
  ASSERT_TRUE(serve::parse_metrics_address("0.0.0.0:1", &a, &error)) << error;
  EXPECT_EQ(a.host, "0.0.0.0");
  EXPECT_EQ(a.port, 1);
  ASSERT_TRUE(serve::parse_metrics_address("[::1]:9464", &a, &error)) << error;
  EXPECT_EQ(a.host, "::1");
  for (const char* bad :
       {"", ":", "x", "1:", ":80", "::1:80", "[::1]", "[::1]80", "65536", "80x", "-1", "[]:80"}) {
    EXPECT_FALSE(serve::parse_metrics_address(bad, &a, &error)) << bad;
  }
}

TEST(StaticMetrics, CountTheFilesServed) {
  std::string dir = testing::TempDir() + "/metrics_static";
  std::filesystem::create_directories(dir);
  std::ofstream(dir + "/a.txt") << "file a";
  ValkProcess s("static", {"--port", "0", "--metrics", "0", dir});
  ASSERT_NE(s.port(), 0) << s.output();
  ASSERT_NE(s.metrics_port(), 0) << s.output();
  EXPECT_EQ(curl_get(s.url("/a.txt"), CURL_HTTP_VERSION_1_1).body, "file a");
  EXPECT_EQ(curl_get(s.url("/missing"), CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE).status, 404);
  std::string m = scrape(s);
  EXPECT_EQ(sample(m, "valk_requests_total{protocol=\"http1\"}"), 1) << m;
  EXPECT_EQ(sample(m, "valk_requests_total{protocol=\"http2\"}"), 1);
  EXPECT_EQ(sample(m, "valk_error_responses_total{class=\"4xx\"}"), 1);
  EXPECT_EQ(sample(m, "valk_request_duration_seconds_count"), 2);
  EXPECT_EQ(m.find("valk_workers"), std::string::npos);
}

// Redis commands by how they ended, connections, and messages taken.
TEST(ServeMetrics, CountRedisCommandsConnectsAndMessages) {
  RedisServer redis(testing::TempDir() + "/metrics_redis");
  ASSERT_TRUE(redis.up());
  std::string app = write_app("metrics_redis.lisp", R"((import "valk/web")
(defonce r (redis/connect (getenv "METRICS_REDIS")))
(defonce down (redis/connect {:path "/nonexistent/redis.sock"}))
(defonce heard (atom 0))
(defonce sub (redis/subscribe (getenv "METRICS_REDIS") ["news"] (fn [_ _] (swap! heard inc))))
(defn outcome [p] (try (await p) "ok" (catch e (name (:kind (error-data e))))))
(serve (router
         (GET "/set" (fn [req] (text (outcome (redis/cmd r "SET" "k" "v")))))
         (GET "/wrong" (fn [req] (text (outcome (redis/cmd r "LPUSH" "k" "x")))))
         (GET "/down" (fn [req] (text (outcome (redis/cmd down "PING")))))
         (GET "/heard" (fn [req] (text (str @heard)))))
       {:port 0 :threads 1})
)");
  setenv("METRICS_REDIS", redis.url().c_str(), 1);
  ServeProcess s({"--metrics", "0", app});
  unsetenv("METRICS_REDIS");
  ASSERT_NE(s.port(), 0) << s.output();
  EXPECT_EQ(curl_get(s.url("/set"), CURL_HTTP_VERSION_1_1).body, "ok");
  EXPECT_EQ(curl_get(s.url("/set"), CURL_HTTP_VERSION_1_1).body, "ok");
  EXPECT_EQ(curl_get(s.url("/wrong"), CURL_HTTP_VERSION_1_1).body, "reply");
  EXPECT_EQ(curl_get(s.url("/down"), CURL_HTTP_VERSION_1_1).body, "connection");
  ASSERT_TRUE(eventually([&] { return redis.cli("PUBSUB NUMSUB news") == "news\n1\n"; }));
  EXPECT_EQ(redis.cli("PUBLISH news hello"), "1\n");
  ASSERT_TRUE(
      eventually([&] { return curl_get(s.url("/heard"), CURL_HTTP_VERSION_1_1).body == "1"; }));
  std::string m = scrape(s);
  EXPECT_EQ(sample(m, "valk_redis_commands_total{result=\"reply\"}"), 2) << m;
  EXPECT_EQ(sample(m, "valk_redis_commands_total{result=\"error\"}"), 1);
  EXPECT_EQ(sample(m, "valk_redis_commands_total{result=\"failed\"}"), 1);
  EXPECT_EQ(sample(m, "valk_redis_connects_total{result=\"made\"}"), 2);  // r and sub
  EXPECT_EQ(sample(m, "valk_redis_connects_total{result=\"failed\"}"), 1);
  EXPECT_EQ(sample(m, "valk_redis_messages_total"), 1);
}

// A subscription made while Redis is down keeps trying (each second), and
// takes messages once the server is up.
TEST(ServeMetrics, ASubscriptionMadeWhileRedisIsDownTakesMessagesOnceItIsUp) {
  std::string dir = testing::TempDir() + "/metrics_redis_late";
  std::filesystem::remove_all(dir);
  std::string app = write_app("metrics_redis_late.lisp", R"((import "valk/web")
(defonce heard (atom 0))
(defonce sub (redis/subscribe (getenv "METRICS_REDIS") ["news"] (fn [_ _] (swap! heard inc))))
(serve (router (GET "/heard" (fn [req] (text (str @heard))))) {:port 0 :threads 1})
)");
  setenv("METRICS_REDIS", ("unix://" + dir + "/redis.sock").c_str(), 1);
  ServeProcess s({"--metrics", "0", app});
  unsetenv("METRICS_REDIS");
  ASSERT_NE(s.port(), 0) << s.output();
  ASSERT_TRUE(eventually(
      [&] { return sample(scrape(s), "valk_redis_connects_total{result=\"failed\"}") >= 1; }));
  RedisServer redis(dir);
  ASSERT_TRUE(redis.up());
  ASSERT_TRUE(eventually([&] { return redis.cli("PUBSUB NUMSUB news") == "news\n1\n"; }));
  EXPECT_EQ(redis.cli("PUBLISH news hello"), "1\n");
  EXPECT_TRUE(
      eventually([&] { return curl_get(s.url("/heard"), CURL_HTTP_VERSION_1_1).body == "1"; }));
}

// http/request calls by how they ended, and the own client's connections.
TEST(ServeMetrics, CountOutgoingRequestsAndConnections) {
  TestServer upstream(base_options(), hello_handler());
  std::string app = write_app("metrics_outgoing.lisp", R"((import "valk/web")
(defn outcome [url opts] (try (:status (await (http/get url opts))) (catch e (:kind (error-data e)))))
(serve (router
         (GET "/ok" (fn [req] (text (str (outcome (getenv "METRICS_UPSTREAM") {})))))
         (GET "/big" (fn [req] (text (str (outcome (getenv "METRICS_UPSTREAM") {:max-body 1})))))
         (GET "/refused" (fn [req] (text (str (outcome (getenv "METRICS_REFUSED") {}))))))
       {:port 0 :threads 1})
)");
  setenv("METRICS_UPSTREAM", upstream.url("/").c_str(), 1);
  RefusedPort refused;
  setenv("METRICS_REFUSED", ("http://127.0.0.1:" + std::to_string(refused.port()) + "/").c_str(),
         1);
  ServeProcess s({"--metrics", "0", app});
  unsetenv("METRICS_UPSTREAM");
  unsetenv("METRICS_REFUSED");
  ASSERT_NE(s.port(), 0) << s.output();
  EXPECT_EQ(curl_get(s.url("/ok"), CURL_HTTP_VERSION_1_1).body, "200");
  EXPECT_EQ(curl_get(s.url("/ok"), CURL_HTTP_VERSION_1_1).body, "200");
  EXPECT_EQ(curl_get(s.url("/big"), CURL_HTTP_VERSION_1_1).body, ":too-large");
  EXPECT_EQ(curl_get(s.url("/ok"), CURL_HTTP_VERSION_1_1).body, "200");
  EXPECT_EQ(curl_get(s.url("/refused"), CURL_HTTP_VERSION_1_1).body, ":connect");
  std::string m = scrape(s);
  EXPECT_EQ(sample(m, "valk_outgoing_requests_total{result=\"response\"}"), 3) << m;
  EXPECT_EQ(sample(m, "valk_outgoing_requests_total{result=\"too-large\"}"), 1);
  EXPECT_EQ(sample(m, "valk_outgoing_requests_total{result=\"connect\"}"), 1);
  EXPECT_EQ(sample(m, "valk_outgoing_requests_total{result=\"timeout\"}"), 0);
  // The first three requests shared one; the body that was too large
  // left it in no state to keep, so the last took another.
  EXPECT_EQ(sample(m, "valk_outgoing_connections_total{result=\"made\"}"), 2);
  EXPECT_EQ(sample(m, "valk_outgoing_connections_total{result=\"failed\"}"), 1);
}

}  // namespace
}  // namespace valk::test
