// Streamed responses through `valk serve`: chunks over time, backpressure
// from slow readers (h1 socket, h2 flow control), a client leaving cancels
// the writer, a failing writer aborts the stream; and the request limits
// around handlers (queue full, instruction and allocation budgets).
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <fstream>
#include <iterator>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "../net/h2_client.h"
#include "../net/net_test_util.h"
#include "serve_process.h"

namespace valk::test {
namespace {

const char* kApp = R"(
(import "valk/web")

(def stats (atom {:written 0 :closed 0 :refused 0 :big-cancelled 0}))
(defn bump [k n] (swap! stats update k + n))

(defn text-of-size [size]
  (loop [s "x"] (if (>= (count s) size) (subs s 0 size) (recur (str s s)))))

(def app
  (wrap-params
    (router
      ;; n chunks of `size` bytes, counted as they are written.
      (GET "/big" (fn [req]
                    (let [n (parse-long (get-in req [:query :n]))
                          chunk (text-of-size (parse-long (get-in req [:query :size])))]
                      (stream (fn [out]
                                (try
                                  (dotimes [i n]
                                    (write out chunk)
                                    (bump :written (count chunk)))
                                  (catch e
                                    (when (= :cancelled (:type (error-data e)))
                                      (bump :big-cancelled 1))
                                    (throw e))))))))
      (GET "/forever" (fn [req]
                        (sse (fn [out]
                               (try
                                 (loop [i 0]
                                   (send-event out {:id i :data "tick"})
                                   (await (sleep 10))
                                   (recur (inc i)))
                                 (finally (bump :closed 1)))))))
      (GET "/hang" (fn [req]
                     (try (await (sleep 20000)) "late"
                          (finally (bump :closed 1)))))
      (GET "/fail" (fn [req]
                     (stream (fn [out]
                               (write out "partial\n")
                               (await (sleep 50))
                               (error "the writer broke")))))
      (GET "/trailers" (fn [req]
                         (stream (fn [out]
                                   (write out "data")
                                   (end-stream out {"x-checksum" "abc"})
                                   (try (write out "more")
                                        (catch e (when (= :stream-closed (:type (error-data e)))
                                                   (bump :refused 1))))))))
      (GET "/stats" (fn [req] (json @stats))))))

(serve app {:port 0 :workers 1 :reactors 1})
)";

class StreamTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { server_ = new ServeProcess({write_app("stream_app.lisp", kApp)}); }
  // Checked in each test, not in the suite's setup: a failed assertion
  // there marks the tests skipped, which ctest counts as no failure.
  void SetUp() override { ASSERT_NE(server_->port(), 0) << server_->output(); }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }

  // A counter of the app's stats map.
  static long stat(const std::string& name) {
    std::string body = curl_do(server_->url("/stats")).body;
    size_t p = body.find("\"" + name + "\":");
    return p == std::string::npos ? -1 : std::stol(body.substr(p + name.size() + 3));
  }

  // Lets the writer run as far as it can: the bytes written, once that
  // figure is above `before` and stops moving.
  static long written_once_settled(long before) {
    long last = -1;
    EXPECT_TRUE(eventually(
        [&] {
          std::this_thread::sleep_for(std::chrono::milliseconds(200));
          long now = stat("written");
          bool settled = now == last && now > before;
          last = now;
          return settled;
        },
        10000));
    return last;
  }

  static ServeProcess* server_;
};

ServeProcess* StreamTest::server_ = nullptr;

// A write callback that stops the transfer after `limit` bytes.
struct Abort {
  std::string body;
  size_t limit;
};
size_t abort_after(char* p, size_t sz, size_t n, void* ud) {
  auto* a = static_cast<Abort*>(ud);
  a->body.append(p, sz * n);
  return a->body.size() >= a->limit ? 0 : sz * n;
}

TEST_F(StreamTest, BigStreamArrivesWholeOverEveryProtocol) {
  CurlResult h1 = curl_do(server_->url("/big?n=300&size=10000"));
  EXPECT_EQ(h1.code, CURLE_OK);
  EXPECT_EQ(h1.status, 200);
  EXPECT_NE(h1.headers.find("transfer-encoding: chunked"), std::string::npos) << h1.headers;
  EXPECT_EQ(h1.body.size(), 3000000u);
  EXPECT_EQ(h1.body.find_first_not_of('x'), std::string::npos);
  // nghttp2's client over h2c. (libcurl 7.88 over h2 at times misses the
  // END_STREAM at the end of a long body and waits for its timeout.)
  H2Client h2(server_->port());
  int32_t id = h2.submit("GET", "/big?n=300&size=10000");
  ASSERT_TRUE(h2.run_until([&] { return h2.streams[id].closed; }));
  EXPECT_EQ(h2.streams[id].status, 200);
  EXPECT_EQ(h2.streams[id].error, 0u);
  EXPECT_EQ(h2.streams[id].body.size(), 3000000u);
}

// A client that does not read: the writer parks once the socket buffers
// and the server's high-water mark are full, instead of the server
// buffering the whole 64 MiB body.
TEST_F(StreamTest, SlowHttp1ReaderParksTheWriter) {
  long before = stat("written");
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  int small = 64 * 1024;
  setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(server_->port());
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  ASSERT_TRUE(send_all(fd, "GET /big?n=1024&size=65536 HTTP/1.1\r\nHost: x\r\n\r\n"));
  long last = written_once_settled(before);
  EXPECT_LT(last - before, 16l << 20) << "the writer ran ahead of the reader";
  // Reading everything lets the writer finish.
  std::string data = read_until(
      fd, [](const std::string& d) { return d.size() >= 5 && d.ends_with("0\r\n\r\n"); }, 60000);
  close(fd);
  EXPECT_GT(data.size(), 64u << 20);
  EXPECT_TRUE(eventually([&] { return stat("written") - before == 64l << 20; }));
}

// Over h2 the peer's flow-control window sets the pace: without
// WINDOW_UPDATE frames the server may send 64 KiB, and the writer stops
// soon after.
TEST_F(StreamTest, H2FlowControlWindowParksTheWriter) {
  long before = stat("written");
  RawH2 h2(server_->port());
  ASSERT_TRUE(send_all(h2.fd(), h2.headers_frame(1, "/big?n=1024&size=16384")));
  long last = written_once_settled(before);
  EXPECT_LT(last - before, 1l << 20) << "the writer ignored the flow-control window";
  // Resetting the stream cancels the parked writer (at its write).
  long cancelled = stat("big-cancelled");
  ASSERT_TRUE(send_all(h2.fd(), RawH2::rst_frame(1)));
  EXPECT_TRUE(eventually([&] { return stat("big-cancelled") == cancelled + 1; }));
  EXPECT_EQ(stat("written"), last);
}

TEST_F(StreamTest, ClientLeavingCancelsTheWriterAndRunsFinally) {
  for (long version : {CURL_HTTP_VERSION_1_1, CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE}) {
    long closed = stat("closed");
    Abort a{"", 100};
    CurlResult r = curl_do(server_->url("/forever"), [&](CURL* c) {
      curl_easy_setopt(c, CURLOPT_HTTP_VERSION, version);
      curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, abort_after);
      curl_easy_setopt(c, CURLOPT_WRITEDATA, &a);
    });
    EXPECT_EQ(r.code, CURLE_WRITE_ERROR);
    EXPECT_NE(a.body.find("id: 0\ndata: tick\n\n"), std::string::npos) << a.body;
    EXPECT_TRUE(eventually([&] { return stat("closed") == closed + 1; })) << version;
  }
}

TEST_F(StreamTest, ClientLeavingCancelsAnAwaitingHandler) {
  for (long version : {CURL_HTTP_VERSION_1_1, CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE}) {
    long closed = stat("closed");
    CurlResult r = curl_do(server_->url("/hang"), [&](CURL* c) {
      curl_easy_setopt(c, CURLOPT_HTTP_VERSION, version);
      curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 300L);
    });
    EXPECT_EQ(r.code, CURLE_OPERATION_TIMEDOUT);
    EXPECT_TRUE(eventually([&] { return stat("closed") == closed + 1; })) << version;
  }
}

TEST_F(StreamTest, FailingWriterAbortsTheStream) {
  CurlResult h1 = curl_do(server_->url("/fail"));
  EXPECT_EQ(h1.status, 200);
  EXPECT_EQ(h1.body, "partial\n");
  EXPECT_NE(h1.code, CURLE_OK) << "a truncated chunked body must not look complete";
  CurlResult h2 = curl_do(server_->url("/fail"), [](CURL* c) {
    curl_easy_setopt(c, CURLOPT_HTTP_VERSION, CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE);
  });
  EXPECT_EQ(h2.body, "partial\n");
  EXPECT_EQ(h2.code, CURLE_HTTP2_STREAM);
  server_->read_until(
      [&] { return server_->output().find("the writer broke") != std::string::npos; }, 5000);
  EXPECT_NE(server_->output().find("stream writer failed"), std::string::npos) << server_->output();
  EXPECT_NE(server_->output().find("stream_app.lisp:"), std::string::npos) << server_->output();
}

TEST_F(StreamTest, EndStreamSendsTrailersAndRefusesLaterWrites) {
  long refused = stat("refused");
  CurlResult h1 = curl_do(server_->url("/trailers"));
  EXPECT_EQ(h1.code, CURLE_OK);
  EXPECT_EQ(h1.body, "data");
  EXPECT_NE(h1.headers.find("x-checksum: abc"), std::string::npos) << h1.headers;
  H2Client h2(server_->port());
  int32_t id = h2.submit("GET", "/trailers");
  ASSERT_TRUE(h2.run_until([&] { return h2.streams[id].closed; }));
  EXPECT_EQ(h2.streams[id].body, "data");
  ASSERT_EQ(h2.streams[id].trailers.size(), 1u);
  EXPECT_EQ(h2.streams[id].trailers[0].first, "x-checksum");
  EXPECT_EQ(h2.streams[id].trailers[0].second, "abc");
  EXPECT_TRUE(eventually([&] { return stat("refused") == refused + 2; }));
}

// What a client got of a stream, and when it ended.
struct Received {
  std::string body;
  std::chrono::steady_clock::time_point ended;
  std::mutex mu;
};
size_t received_collect(char* p, size_t sz, size_t n, void* ud) {
  auto* r = static_cast<Received*>(ud);
  std::lock_guard<std::mutex> lock(r->mu);
  r->body.append(p, sz * n);
  return sz * n;
}

// On SIGTERM, event streams end at once (their clients connect again by
// themselves, elsewhere) while other streams are waited for: the server
// stops when the last of those is done, not at the drain timeout.
TEST(ServeDrain, EventStreamsEndAndOtherStreamsFinish) {
  std::string app = write_app("drain_app.lisp", R"((import "valk/web")
(serve (router
         (GET "/events" (fn [req] (sse (fn [out]
                                         (loop [i 0]
                                           (send-event out {:data i})
                                           (await (sleep 100))
                                           (recur (inc i)))))))
         (GET "/slow" (fn [req] (stream (fn [out]
                                          (dotimes [i 15]
                                            (write out (str i "\n"))
                                            (await (sleep 100))))))))
       {:port 0 :threads 1 :drain-timeout 8000})
)");
  ServeProcess p({app});
  ASSERT_NE(p.port(), 0) << p.output();
  struct Client {
    const char* path;
    long version;
    Received got;
  } clients[] = {{"/events", CURL_HTTP_VERSION_1_1, {}},
                 {"/events", CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE, {}},
                 {"/slow", CURL_HTTP_VERSION_1_1, {}}};
  std::vector<std::thread> threads;
  for (Client& c : clients) {
    threads.emplace_back([&p, &c] {
      curl_do(p.url(c.path), [&](CURL* h) {
        curl_easy_setopt(h, CURLOPT_HTTP_VERSION, c.version);
        curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, received_collect);
        curl_easy_setopt(h, CURLOPT_WRITEDATA, &c.got);
        curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 20000L);
      });
      c.got.ended = std::chrono::steady_clock::now();
    });
  }
  ASSERT_TRUE(eventually([&] {
    for (Client& c : clients) {
      std::lock_guard<std::mutex> lock(c.got.mu);
      if (c.got.body.empty()) {
        return false;
      }
    }
    return true;
  }));
  auto stop = std::chrono::steady_clock::now();
  EXPECT_EQ(p.signal_and_wait(SIGTERM), 0);
  auto stopped = std::chrono::steady_clock::now();
  for (std::thread& t : threads) {
    t.join();
  }
  for (int i = 0; i < 2; i++) {
    EXPECT_LT(clients[i].got.ended - stop, std::chrono::milliseconds(1000)) << i;
    EXPECT_NE(clients[i].got.body.find("data: 0\n\n"), std::string::npos) << clients[i].got.body;
  }
  std::string whole;
  for (int i = 0; i < 15; i++) {
    whole += std::to_string(i) + "\n";
  }
  EXPECT_EQ(clients[2].got.body, whole);
  // The drain timeout (8 s) did not come into it.
  EXPECT_LT(stopped - stop, std::chrono::milliseconds(5000));
}

TEST(ServeLimits, FullQueueAnswers503AndLogsIt) {
  // The first request keeps the worker busy in one long native call, so
  // the next ones pile up in a queue of two. Long enough (1.5 s under
  // ASan) that a test client slowed by the tests beside it still sends
  // the others while it runs.
  std::string app = write_app("queue_app.lisp", R"(
(serve (fn [req]
         (if (= (:path req) "/block")
           (str (count (json/write (vec (range 1600000)))))
           "ok"))
       {:port 0 :workers 1 :reactors 1 :queue-size 2})
)");
  ServeProcess p({app});
  ASSERT_NE(p.port(), 0) << p.output();
  H2Client h2(p.port());
  int32_t block = h2.submit("GET", "/block");
  h2.pump(50);
  std::vector<int32_t> ids;
  for (int i = 0; i < 20; i++) {
    ids.push_back(h2.submit("GET", "/x"));
  }
  h2.run_until([&] { return h2.all_closed(); }, 20000);
  int ok = 0, busy = 0;
  for (int32_t id : ids) {
    const H2Stream& s = h2.streams[id];
    if (s.status == 200) {
      ok++;
    } else if (s.status == 503) {
      busy++;
      auto retry = std::find(s.headers.begin(), s.headers.end(),
                             std::pair<std::string, std::string>("retry-after", "1"));
      EXPECT_NE(retry, s.headers.end());
    }
  }
  EXPECT_EQ(h2.streams[block].status, 200);
  EXPECT_EQ(ok + busy, 20);
  EXPECT_GE(busy, 10) << "a queue of two cannot hold 20 requests";
  p.read_until([&] { return p.output().find("queue full") != std::string::npos; }, 5000);
  EXPECT_NE(p.output().find("queue full (2 requests waiting): answered 503"), std::string::npos)
      << p.output();
}

TEST(ServeLimits, InstructionBudgetGives503) {
  std::string app = write_app("budget_app.lisp", R"(
(serve (fn [req]
         (if (= (:path req) "/spin")
           (loop [i 0] (recur (inc i)))
           (do (reduce + (range 1000)) "fine")))
       {:port 0 :workers 1 :instruction-budget 1000000})
)");
  ServeProcess p({app});
  ASSERT_NE(p.port(), 0) << p.output();
  CurlResult spin = curl_do(p.url("/spin"));
  EXPECT_EQ(spin.status, 503);
  EXPECT_NE(spin.headers.find("x-request-id:"), std::string::npos);
  EXPECT_EQ(curl_do(p.url("/")).body, "fine");
  p.read_until([&] { return p.output().find("instruction budget") != std::string::npos; }, 5000);
  EXPECT_NE(p.output().find("GET /spin ran past its instruction budget"), std::string::npos)
      << p.output();
}

// The CPU time (user + system, in clock ticks) process `pid` has used.
long cpu_ticks(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::istringstream fields(stat.substr(stat.rfind(')') + 2));
  std::string f;
  long utime = 0, stime = 0;
  for (int i = 3; i <= 15 && fields >> f; i++) {
    if (i == 14) {
      utime = std::stol(f);
    } else if (i == 15) {
      stime = std::stol(f);
    }
  }
  return utime + stime;
}

// A fiber a handler spawns keeps to the handler's deadline: past it, a
// spinning child stops too, and the worker goes idle.
TEST(ServeLimits, ASpawnedFiberKeepsToItsHandlersDeadline) {
  std::string app = write_app("spawn_deadline_app.lisp", R"(
(serve (fn [req]
         (if (= (:path req) "/spin")
           (await (spawn (fn [] (loop [] (recur)))))
           "fine"))
       {:port 0 :threads 1 :deadline-ms 300})
)");
  ServeProcess p({app});
  ASSERT_NE(p.port(), 0) << p.output();
  EXPECT_EQ(curl_do(p.url("/spin")).status, 503);
  EXPECT_EQ(curl_do(p.url("/")).body, "fine");
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  long before = cpu_ticks(p.pid());
  std::this_thread::sleep_for(std::chrono::milliseconds(1000));
  // A spinning child would use the whole second (100 ticks).
  EXPECT_LT(cpu_ticks(p.pid()) - before, 30);
}

// A handler that piles up data is stopped at its allocation budget, long
// before its deadline and before it holds the process's memory; the budget
// is per request, so requests that each allocate less all pass.
TEST(ServeLimits, AllocationBudgetGives503) {
  std::string app = write_app("allocation_app.lisp", R"(
(defn pile [n] (loop [v [] i 0] (if (< i n) (recur (conj v i) (inc i)) (count v))))
(def big (apply str (repeat 100000 "x")))
;; Ten gigabytes printed: the same 100 KB string 100 000 times.
(def shared (vec (repeat 100000 big)))
(serve (fn [req]
         (case (:path req)
           "/pile" (str (pile 1000000000))
           ;; One call each that would make gigabytes.
           "/range" (str (count (range 100000000)))
           "/str" (str (count (apply str (repeat 100000 big))))
           "/join" (str (count (join big (range 100000))))
           "/replace" (str (count (replace big "x" big)))
           ;; Text printed from data that holds one large value many times.
           "/str-vec" (str (count (str shared)))
           "/pr-str" (str (count (pr-str shared)))
           "/json" (str (count (json/write shared)))
           "/html" (str (count (web/render-html (into [:p] shared))))
           (str (pile 100000))))
       {:port 0 :workers 1 :allocation-budget 50000000})
)");
  ServeProcess p({app});
  ASSERT_NE(p.port(), 0) << p.output();
  auto started = std::chrono::steady_clock::now();
  CurlResult pile = curl_do(p.url("/pile"));
  EXPECT_EQ(pile.status, 503);
  EXPECT_NE(pile.body.find("needed too much memory"), std::string::npos) << pile.body;
  EXPECT_NE(pile.headers.find("x-request-id:"), std::string::npos);
  // The default deadline is 30 s: the budget stopped it.
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(10));
  for (const char* path :
       {"/range", "/str", "/join", "/replace", "/str-vec", "/pr-str", "/json", "/html"}) {
    CurlResult r = curl_do(p.url(path));
    EXPECT_EQ(r.status, 503) << path;
    EXPECT_NE(r.body.find("needed too much memory"), std::string::npos) << path << r.body;
  }
  std::ifstream status("/proc/" + std::to_string(p.pid()) + "/status");
  std::string line;
  while (std::getline(status, line) && line.rfind("VmHWM:", 0) != 0) {
  }
  EXPECT_LT(std::stoll(line.substr(6)), 1 << 20) << "KiB: " << line;
  // 100 000 elements take ~2 MB each time: 40 of them are 80 MB in all.
  for (int i = 0; i < 40; i++) {
    ASSERT_EQ(curl_do(p.url("/")).body, "100000") << i;
  }
  p.read_until([&] { return p.output().find("allocation budget") != std::string::npos; }, 5000);
  EXPECT_NE(p.output().find("GET /pile allocated past its allocation budget (50000000 bytes)"),
            std::string::npos)
      << p.output();
}

}  // namespace
}  // namespace valk::test
