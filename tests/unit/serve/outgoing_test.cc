// Handlers of `valk serve` that await outgoing HTTP (http/get to an
// upstream, libvalk's server with native handlers): answers pass through,
// and a client that goes away, a deadline or many at once leave the server
// serving.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <mutex>
#include <thread>
#include <vector>

#include "../net/h2_client.h"
#include "../net/net_test_util.h"
#include "serve_process.h"

namespace valk::test {
namespace {

const char* kApp = R"(
(def upstream (getenv "UPSTREAM"))
(defn handler [req]
  (case (:path req)
    "/via" (:body (await (http/get (str upstream "/fast"))))
    "/slow-via" (:body (await (http/get (str upstream "/slow"))))
    nil))
(serve handler {:port 0 :threads 1})
)";

// /fast answers at once, /slow after 300 ms (from a thread of its own).
class Upstream {
 public:
  Upstream()
      : server_(base_options(), [this](Request& req, Responder res) {
          if (req.path() == "/fast") {
            res.respond(200, {}, "fast");
            return;
          }
          slow_seen_++;
          req.on_cancel([this] { slow_cancelled_++; });
          std::lock_guard<std::mutex> lock(mu_);
          later_.emplace_back([res] {
            std::this_thread::sleep_for(std::chrono::milliseconds(300));
            res.respond(200, {}, "slow");
          });
        }) {}
  ~Upstream() {
    std::lock_guard<std::mutex> lock(mu_);
    for (std::thread& t : later_) {
      t.join();
    }
  }
  std::string url() const { return server_.url(""); }
  int slow_seen() const { return slow_seen_.load(); }
  int slow_cancelled() const { return slow_cancelled_.load(); }

 private:
  TestServer server_;
  std::atomic<int> slow_seen_{0};
  std::atomic<int> slow_cancelled_{0};
  std::mutex mu_;
  std::vector<std::thread> later_;
};

class OutgoingTest : public ::testing::Test {
 protected:
  OutgoingTest() {
    setenv("UPSTREAM", upstream_.url().c_str(), 1);
    app_ = std::make_unique<ServeProcess>(
        std::vector<std::string>{"--deadline-ms", "1000", write_app("outgoing_app.lisp", kApp)});
    unsetenv("UPSTREAM");
  }
  Upstream upstream_;
  std::unique_ptr<ServeProcess> app_;
};

TEST_F(OutgoingTest, AnswersPassThroughOnEveryProtocol) {
  ASSERT_NE(app_->port(), 0) << app_->output();
  EXPECT_EQ(curl_get(app_->url("/via"), CURL_HTTP_VERSION_1_1).body, "fast");
  EXPECT_EQ(curl_get(app_->url("/via"), CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE).body, "fast");
  EXPECT_EQ(curl_get(app_->url("/slow-via"), CURL_HTTP_VERSION_1_1).body, "slow");
}

TEST_F(OutgoingTest, AClientThatLeavesTakesItsHandlersRequestWithIt) {
  ASSERT_NE(app_->port(), 0) << app_->output();
  for (int i = 0; i < 5; i++) {
    CurlResult gone = curl_do(app_->url("/slow-via"), [](CURL* c) {
      curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 50L);  // leaves before the answer
    });
    EXPECT_EQ(gone.code, CURLE_OPERATION_TIMEDOUT);
  }
  EXPECT_TRUE(eventually([&] { return upstream_.slow_seen() == 5; }));
  // Each handler's fiber is cancelled, and the request it alone awaited
  // with it: the upstream sees its clients go.
  EXPECT_TRUE(eventually([&] { return upstream_.slow_cancelled() == 5; }))
      << upstream_.slow_cancelled();
  EXPECT_EQ(curl_get(app_->url("/via"), CURL_HTTP_VERSION_1_1).body, "fast");
  EXPECT_EQ(app_->output().find("ERROR"), std::string::npos) << app_->output();
}

TEST_F(OutgoingTest, ManyHandlersAwaitAtOnce) {
  ASSERT_NE(app_->port(), 0) << app_->output();
  H2Client h2(app_->port());
  std::vector<int32_t> ids;
  for (int i = 0; i < 200; i++) {
    ids.push_back(h2.submit("GET", "/via"));
  }
  auto all_closed = [&] {
    return std::all_of(ids.begin(), ids.end(), [&](int32_t id) { return h2.streams[id].closed; });
  };
  ASSERT_TRUE(h2.run_until(all_closed));
  for (int32_t id : ids) {
    EXPECT_EQ(h2.streams[id].status, 200);
    EXPECT_EQ(h2.streams[id].body, "fast");
  }
}

}  // namespace
}  // namespace valk::test
