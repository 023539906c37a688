// valk serve end to end: a Lisp app behind the network core, driven by
// libcurl over HTTP/1.1, h2c and h2 over TLS.
#include <gtest/gtest.h>
#include <sched.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <thread>
#include <vector>

#include "../net/h2_client.h"
#include "../net/net_test_util.h"
#include "serve_process.h"

namespace valk::test {
namespace {

const char* kApp = R"(
(defn handler [req]
  (case (:path req)
    "/" {:status 200 :headers {"content-type" "text/plain"} :body "Hello, World!"}
    "/req" {:status 200 :body (pr-str [(:method req) (:query-string req) (:protocol req)
                                       (get (:headers req) "x-test") (:scheme req)])}
    "/sleep" (do (await (sleep 200)) "slept")
    "/boom" (error "boom" {:x 1})
    "/rid" (:request-id req)
    "/echo" {:status 201 :headers {"x-len" (str (count (:body req)))} :body (:body req)}
    "/spin" (loop [] (recur))
    "/multi" {:headers {"set-cookie" ["a=1" "b=2"]} :body "two cookies"}
    "/bad" 42
    "/inject" {:headers {"x-evil" "a\r\nset-cookie: pwned=1"} :body "no"}
    nil))
(serve handler {:port 0 :workers 2 :reactors 1})
)";

class ServeTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    std::string app = write_app("serve_app.lisp", kApp);
    server_ = new ServeProcess({"--deadline-ms", "1000", app});
  }
  // Checked in each test, not in the suite's setup: a failed assertion
  // there marks the tests skipped, which ctest counts as no failure.
  void SetUp() override { ASSERT_NE(server_->port(), 0) << server_->output(); }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }
  static ServeProcess* server_;
};

ServeProcess* ServeTest::server_ = nullptr;

TEST_F(ServeTest, HelloOverHttp1AndH2c) {
  CurlResult h1 = curl_get(server_->url("/"), CURL_HTTP_VERSION_1_1);
  EXPECT_EQ(h1.status, 200);
  EXPECT_EQ(h1.body, "Hello, World!");
  CurlResult h2 = curl_get(server_->url("/"), CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE);
  EXPECT_EQ(h2.status, 200);
  EXPECT_EQ(h2.version, CURL_HTTP_VERSION_2_0);
  EXPECT_EQ(h2.body, "Hello, World!");
}

TEST_F(ServeTest, RequestMapCarriesMethodQueryHeadersAndProtocol) {
  CurlResult r = curl_do(server_->url("/req?a=1&b=2"), [](CURL* c) {
    static curl_slist* headers = curl_slist_append(nullptr, "X-Test: yes");
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(c, CURLOPT_HTTP_VERSION, CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE);
  });
  EXPECT_EQ(r.body, "[:get \"a=1&b=2\" \"HTTP/2\" \"yes\" :http]");
}

TEST_F(ServeTest, RepeatedHeadersAreJoined) {
  CurlResult r = curl_do(server_->url("/req"), [](CURL* c) {
    static curl_slist* headers =
        curl_slist_append(curl_slist_append(nullptr, "X-Test: a"), "X-Test: b");
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
  });
  EXPECT_EQ(r.body, "[:get nil \"HTTP/1.1\" \"a, b\" :http]");
}

// A worker hands out the headers map of a header list it saw before
// (RecentHeaders): each request must still see its own headers.
TEST_F(ServeTest, EachRequestSeesItsOwnHeaders) {
  struct Case {
    const char* header;
    const char* seen;
  } cases[] = {{"X-Test: one", "\"one\""}, {"X-Test: two", "\"two\""}, {"X-Test: one", "\"one\""},
               {nullptr, "nil"},           {"X-Test: one", "\"one\""}, {"X-Test: onf", "\"onf\""}};
  for (int round = 0; round < 2; round++) {
    for (const Case& c : cases) {
      curl_slist* headers = c.header ? curl_slist_append(nullptr, c.header) : nullptr;
      CurlResult r = curl_do(server_->url("/req"), [headers](CURL* curl) {
        curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
      });
      curl_slist_free_all(headers);
      EXPECT_EQ(r.body, std::string("[:get nil \"HTTP/1.1\" ") + c.seen + " :http]");
    }
  }
}

TEST_F(ServeTest, HandlersAwaitWithoutBlockingOthers) {
  auto start = std::chrono::steady_clock::now();
  std::vector<std::thread> clients;
  std::atomic<int> ok{0};
  for (int i = 0; i < 20; i++) {
    clients.emplace_back([&] {
      if (curl_get(server_->url("/sleep"), CURL_HTTP_VERSION_1_1).body == "slept") {
        ok++;
      }
    });
  }
  for (auto& t : clients) {
    t.join();
  }
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() -
                                                                  start)
                .count();
  EXPECT_EQ(ok.load(), 20);
  EXPECT_LT(ms, 2000) << "20 sleeping handlers of 200 ms should overlap";
}

TEST_F(ServeTest, PostBodyReachesTheHandler) {
  std::string body(100000, 'x');
  CurlResult r = curl_do(server_->url("/echo"), [&](CURL* c) {
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body.c_str());
    curl_easy_setopt(c, CURLOPT_HTTP_VERSION, CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE);
  });
  EXPECT_EQ(r.status, 201);
  EXPECT_EQ(r.body, body);
  EXPECT_NE(r.headers.find("x-len: 100000"), std::string::npos) << r.headers;
}

TEST_F(ServeTest, LispErrorGives500WithRequestIdAndServerGoesOn) {
  CurlResult r = curl_get(server_->url("/boom"), CURL_HTTP_VERSION_1_1);
  EXPECT_EQ(r.status, 500);
  EXPECT_NE(r.body.find("request "), std::string::npos);
  EXPECT_NE(r.headers.find("x-request-id: "), std::string::npos);
  server_->read_until([&] { return server_->output().find("boom") != std::string::npos; }, 5000);
  EXPECT_NE(server_->output().find("serve_app.lisp:8:"), std::string::npos) << server_->output();
  EXPECT_EQ(curl_get(server_->url("/"), CURL_HTTP_VERSION_1_1).status, 200);
}

// A request's id is "<worker>-<n>": the same in :request-id, in the
// x-request-id header of an error answer and in its body.
TEST_F(ServeTest, RequestIdsAreWorkerDashNumber) {
  std::regex form("[0-9]+-[0-9]+");
  std::string first = curl_get(server_->url("/rid"), CURL_HTTP_VERSION_1_1).body;
  std::string second = curl_get(server_->url("/rid"), CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE).body;
  EXPECT_TRUE(std::regex_match(first, form)) << first;
  EXPECT_TRUE(std::regex_match(second, form)) << second;
  EXPECT_NE(first, second);
  CurlResult r = curl_get(server_->url("/boom"), CURL_HTTP_VERSION_1_1);
  std::smatch m;
  ASSERT_TRUE(std::regex_search(r.headers, m, std::regex("x-request-id: ([0-9]+-[0-9]+)")))
      << r.headers;
  EXPECT_NE(r.body.find("(request " + m[1].str() + ")"), std::string::npos) << r.body;
}

TEST_F(ServeTest, InvalidResponseGives500) {
  EXPECT_EQ(curl_get(server_->url("/bad"), CURL_HTTP_VERSION_1_1).status, 500);
}

TEST_F(ServeTest, HeaderValueWithCrLfGives500AndForgesNothing) {
  CurlResult r = curl_get(server_->url("/inject"), CURL_HTTP_VERSION_1_1);
  EXPECT_EQ(r.status, 500);
  EXPECT_EQ(r.headers.find("pwned"), std::string::npos) << r.headers;
  EXPECT_NE(r.headers.find("x-request-id: "), std::string::npos) << r.headers;
  server_->read_until(
      [&] { return server_->output().find("x-evil has a CR") != std::string::npos; }, 5000);
  EXPECT_NE(server_->output().find("response header x-evil has a CR, LF or NUL"), std::string::npos)
      << server_->output();
}

TEST_F(ServeTest, NilIs404AndRepeatedHeadersAreSent) {
  EXPECT_EQ(curl_get(server_->url("/nothing"), CURL_HTTP_VERSION_1_1).status, 404);
  CurlResult r = curl_get(server_->url("/multi"), CURL_HTTP_VERSION_1_1);
  EXPECT_NE(r.headers.find("set-cookie: a=1"), std::string::npos) << r.headers;
  EXPECT_NE(r.headers.find("set-cookie: b=2"), std::string::npos) << r.headers;
}

TEST_F(ServeTest, RunawayHandlerGets503AndOthersKeepRunning) {
  std::thread spinner([&] {
    CurlResult r = curl_get(server_->url("/spin"), CURL_HTTP_VERSION_1_1);
    EXPECT_EQ(r.status, 503);
  });
  // While one fiber spins, the other requests on the same workers finish.
  for (int i = 0; i < 5; i++) {
    EXPECT_EQ(curl_get(server_->url("/"), CURL_HTTP_VERSION_1_1).body, "Hello, World!");
  }
  spinner.join();
}

TEST(ServeTls, H2OverTlsWithAlpn) {
  std::string app = write_app("tls_app.lisp", "(serve (fn [req] \"secure\") {:port 0})\n");
  std::string certs = std::string(VALK_SOURCE_DIR) + "/certs/";
  ServeProcess p({"--tls-cert", certs + "dev.crt", "--tls-key", certs + "dev.key", app});
  ASSERT_NE(p.port(), 0) << p.output();
  CurlResult r = curl_do(p.url("/", true), [](CURL* c) {
    curl_easy_setopt(c, CURLOPT_HTTP_VERSION, CURL_HTTP_VERSION_2TLS);
  });
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.version, CURL_HTTP_VERSION_2_0);
  EXPECT_EQ(r.body, "secure");
  EXPECT_EQ(p.signal_and_wait(SIGTERM), 0);
}

TEST(ServeStatic, DirectoriesAreServedBesideTheApp) {
  std::string dir = testing::TempDir() + "/static_site";
  std::filesystem::create_directories(dir + "/public/css");
  std::filesystem::create_directories(dir + "/other");
  std::ofstream(dir + "/public/hello.txt") << "hello from disk\n";
  std::ofstream(dir + "/public/css/site.css") << "body { color: teal }\n";
  std::ofstream(dir + "/other/note.txt") << "from the flag\n";
  std::ofstream(dir + "/app.lisp")
      << "(serve (fn [req] (str \"app: \" (:path req))) {:port 0 :static {\"/assets\" "
         "\"public\" \"/docs\" \"public\"}})\n";
  ServeProcess p({"--static", "/docs=" + dir + "/other", dir + "/app.lisp"});
  ASSERT_NE(p.port(), 0) << p.output();

  for (long version : {CURL_HTTP_VERSION_1_1, CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE}) {
    CurlResult css = curl_get(p.url("/assets/css/site.css"), version);
    EXPECT_EQ(css.status, 200);
    EXPECT_EQ(css.body, "body { color: teal }\n");
    EXPECT_NE(css.headers.find("content-type: text/css"), std::string::npos) << css.headers;
  }
  CurlResult hello = curl_get(p.url("/assets/hello.txt"), CURL_HTTP_VERSION_1_1);
  size_t at = hello.headers.find("etag: ");
  ASSERT_NE(at, std::string::npos) << hello.headers;
  std::string etag = hello.headers.substr(at + 6, hello.headers.find('\r', at) - at - 6);
  CurlResult again = curl_do(p.url("/assets/hello.txt"), [&](CURL* c) {
    static curl_slist* h = nullptr;
    curl_slist_free_all(h);
    h = curl_slist_append(nullptr, ("If-None-Match: " + etag).c_str());
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
  });
  EXPECT_EQ(again.status, 304);
  // The flag's directory wins over the app's for the same prefix.
  EXPECT_EQ(curl_get(p.url("/docs/note.txt"), CURL_HTTP_VERSION_1_1).body, "from the flag\n");
  EXPECT_EQ(curl_get(p.url("/assets/missing.txt"), CURL_HTTP_VERSION_1_1).status, 404);
  CurlResult bare = curl_get(p.url("/assets"), CURL_HTTP_VERSION_1_1);
  EXPECT_EQ(bare.status, 301);
  EXPECT_NE(bare.headers.find("location: /assets/"), std::string::npos) << bare.headers;
  CurlResult escape = curl_do(p.url("/assets/../app.lisp"),
                              [](CURL* c) { curl_easy_setopt(c, CURLOPT_PATH_AS_IS, 1L); });
  EXPECT_EQ(escape.status, 403);
  EXPECT_EQ(escape.body.find("serve"), std::string::npos);
  // Everything else, including look-alike prefixes, goes to the app.
  EXPECT_EQ(curl_get(p.url("/assetsx/hello.txt"), CURL_HTTP_VERSION_1_1).body,
            "app: /assetsx/hello.txt");
  EXPECT_EQ(curl_get(p.url("/"), CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE).body, "app: /");
}

TEST(ServeStatic, MissingDirectoryIsAStartupError) {
  std::string app = write_app("static_missing.lisp",
                              "(serve (fn [r] \"x\") {:port 0 :static {\"/s\" \"nope\"}})\n");
  ServeProcess p({app});
  EXPECT_EQ(p.wait_exit(), 1);
  EXPECT_NE(p.output().find("static /s: not a directory"), std::string::npos) << p.output();
  ServeProcess bad({"--static", "assets=public", app});
  EXPECT_EQ(bad.wait_exit(), 2);
  EXPECT_NE(bad.output().find("a static URL prefix looks like"), std::string::npos) << bad.output();
}

// A process limited to one CPU (taskset, a cpuset) runs one thread by
// default, a worker and a reactor on one loop, whatever the machine has.
TEST(ServeSingleThread, IsTheDefaultWhenPinnedToOneCpu) {
  std::string app = write_app("pinned_app.lisp", R"((import "valk/web")
(serve (fn [req] (text (str "pinned " (count (or (read-body req) ""))))) {:port 0})
)");
  cpu_set_t saved, one;
  ASSERT_EQ(sched_getaffinity(0, sizeof saved, &saved), 0);
  CPU_ZERO(&one);
  for (int c = 0; c < CPU_SETSIZE; c++) {
    if (CPU_ISSET(c, &saved)) {
      CPU_SET(c, &one);
      break;
    }
  }
  ASSERT_EQ(sched_setaffinity(0, sizeof one, &one), 0);
  // The child inherits the mask.
  ServeProcess p({app});
  sched_setaffinity(0, sizeof saved, &saved);
  ASSERT_NE(p.port(), 0) << p.output();
  EXPECT_NE(p.output().find("(1 thread, each running a worker and a reactor on one loop)"),
            std::string::npos)
      << p.output();
  EXPECT_EQ(curl_get(p.url("/"), CURL_HTTP_VERSION_1_1).body, "pinned 0");
  // A body over the buffered limit streams in on the shared loop: the
  // reader parks, and the reactor's arrivals wake it in the same thread.
  std::string body(3 << 20, 'b');
  for (long v : {CURL_HTTP_VERSION_1_1, CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE}) {
    CurlResult r = curl_do(p.url("/"), [&](CURL* c) {
      curl_easy_setopt(c, CURLOPT_HTTP_VERSION, v);
      curl_easy_setopt(c, CURLOPT_POSTFIELDS, body.c_str());
      curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
    });
    EXPECT_EQ(r.body, "pinned 3145728") << "version " << v;
  }
}

// --single-thread: the worker's loop also runs the reactor (no thread hop).
TEST(ServeSingleThread, ServesAwaitsStreamsAndDrains) {
  std::string app = write_app("single_app.lisp", R"((import "valk/web")
(serve (router
         (GET "/" (fn [req] (text "one thread")))
         (GET "/sleep" (fn [req] (await (sleep 200)) (text "slept")))
         (GET "/big" (fn [req] (stream (fn [out] (dotimes [i 100] (write out (apply str (repeat 1000 "x")))))))))
       {:port 0 :workers 4})
)");
  ServeProcess p({"--single-thread", app});
  ASSERT_NE(p.port(), 0) << p.output();
  EXPECT_NE(p.output().find("(1 thread, each running a worker and a reactor on one loop)"),
            std::string::npos)
      << p.output();
  EXPECT_EQ(curl_get(p.url("/"), CURL_HTTP_VERSION_1_1).body, "one thread");
  EXPECT_EQ(curl_get(p.url("/"), CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE).body, "one thread");
  auto start = std::chrono::steady_clock::now();
  std::vector<std::thread> clients;
  std::atomic<int> ok{0};
  for (int i = 0; i < 10; i++) {
    clients.emplace_back([&] {
      if (curl_get(p.url("/sleep"), CURL_HTTP_VERSION_1_1).body == "slept") {
        ok++;
      }
    });
  }
  for (auto& t : clients) {
    t.join();
  }
  EXPECT_EQ(ok.load(), 10);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(1500));
  {
    H2Client h2(p.port());
    int32_t id = h2.submit("GET", "/big");
    ASSERT_TRUE(h2.run_until([&] { return h2.streams[id].closed; }));
    EXPECT_EQ(h2.streams[id].body.size(), 100000u);
  }
  CurlResult r;
  std::thread slow([&] { r = curl_get(p.url("/sleep"), CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE); });
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_EQ(p.signal_and_wait(SIGTERM), 0) << p.output();
  slow.join();
  EXPECT_EQ(r.body, "slept");
}

// The worker index that answered each of `per_connection` requests on each
// of `connections` keep-alive HTTP/1.1 connections, from a :request-id
// ("WORKER-N").
std::vector<std::vector<int>> workers_seen(uint16_t port, int connections, int per_connection) {
  std::vector<std::vector<int>> seen(connections);
  std::vector<int> fds;
  for (int c = 0; c < connections; c++) {
    fds.push_back(tcp_connect(port));
  }
  for (int c = 0; c < connections; c++) {
    for (int i = 0; i < per_connection; i++) {
      send_all(fds[c], "GET / HTTP/1.1\r\nhost: x\r\n\r\n");
      std::string reply = read_until(fds[c], [](const std::string& d) {
        return d.find("id=") != std::string::npos && d.ends_with(";");
      });
      size_t at = reply.find("id=");
      seen[c].push_back(at == std::string::npos ? -1 : std::atoi(reply.c_str() + at + 3));
    }
  }
  for (int fd : fds) {
    close(fd);
  }
  return seen;
}

constexpr const char* kWhoApp =
    "(serve (fn [req] (str \"id=\" (:request-id req) \";\")) {:port 0})\n";

// --threads (the default layout): a connection's requests all run on the
// worker of the thread that accepted it, and the kernel spreads the
// connections over every thread.
TEST(ServeThreads, AConnectionStaysOnItsThreadAndConnectionsUseThemAll) {
  std::string app = write_app("who_threads.lisp", kWhoApp);
  ServeProcess p({"--threads", "2", app});
  ASSERT_NE(p.port(), 0) << p.output();
  EXPECT_NE(p.output().find("(2 threads, each running a worker and a reactor on one loop)"),
            std::string::npos)
      << p.output();
  std::set<int> used;
  for (const std::vector<int>& conn : workers_seen(p.port(), 24, 3)) {
    ASSERT_NE(conn[0], -1);
    EXPECT_EQ(std::set<int>(conn.begin(), conn.end()).size(), 1u);
    used.insert(conn[0]);
  }
  EXPECT_EQ(used, (std::set<int>{0, 1}));
}

// --workers/--reactors: reactor threads hand requests to the workers in
// turn, so one connection's requests run on every worker.
TEST(ServeThreads, SeparateWorkersTakeAnyConnectionsRequests) {
  std::string app = write_app("who_workers.lisp", kWhoApp);
  ServeProcess p({"--workers", "2", "--reactors", "1", app});
  ASSERT_NE(p.port(), 0) << p.output();
  EXPECT_NE(p.output().find("(2 workers, 1 reactor)"), std::string::npos) << p.output();
  std::vector<int> conn = workers_seen(p.port(), 1, 4)[0];
  EXPECT_EQ(std::set<int>(conn.begin(), conn.end()), (std::set<int>{0, 1}));
}

// The app's options choose the layout, the flags over them; both layouts at
// once are a startup error.
TEST(ServeThreads, LayoutFlagsReplaceTheAppsAndMixingThemFails) {
  std::string app = write_app("who_app_workers.lisp",
                              "(serve (fn [req] \"x\") {:port 0 :workers 3 :reactors 1})\n");
  ServeProcess threads({"--threads", "2", app});
  ASSERT_NE(threads.port(), 0) << threads.output();
  EXPECT_NE(threads.output().find("(2 threads,"), std::string::npos) << threads.output();
  ServeProcess split({app});
  ASSERT_NE(split.port(), 0) << split.output();
  EXPECT_NE(split.output().find("(3 workers, 1 reactor)"), std::string::npos) << split.output();
  std::string threads_app =
      write_app("who_app_threads.lisp", "(serve (fn [req] \"x\") {:port 0 :threads 1})\n");
  ServeProcess from_app({threads_app});
  ASSERT_NE(from_app.port(), 0) << from_app.output();
  EXPECT_NE(from_app.output().find("(1 thread,"), std::string::npos) << from_app.output();
  ServeProcess both({"--threads", "2", "--workers", "2", app});
  EXPECT_EQ(both.wait_exit(), 1);
  EXPECT_NE(both.output().find("two layouts: choose one"), std::string::npos) << both.output();
}

TEST(ServeSingleThread, PortInUseExitsOne) {
  std::string app = write_app("single_port.lisp", "(serve (fn [r] \"x\") {:port 0})\n");
  ServeProcess first({app});
  ASSERT_NE(first.port(), 0);
  ServeProcess second({"--single-thread", "--port", std::to_string(first.port()), app});
  EXPECT_EQ(second.wait_exit(), 1);
  EXPECT_NE(second.output().find("valk serve:"), std::string::npos) << second.output();
}

TEST(ServeStartup, SyntaxErrorExitsOneWithPosition) {
  std::string app = write_app("broken.lisp", "(defn f [x]\n  (+ x 1)\n(serve f)\n");
  ServeProcess p({app});
  EXPECT_EQ(p.wait_exit(), 1);
  EXPECT_NE(p.output().find("broken.lisp:1:1"), std::string::npos) << p.output();
}

TEST(ServeStartup, UnboundSymbolInARouteExitsOneWithPosition) {
  std::string app = write_app("unbound.lisp", R"((import "valk/web")
(defn show [req] (text (str (helper req))))
(defn user [req]
  (json (lookup-user (get-in req [:params :id]))))
(defn helper [req] "defined after use: fine")
(serve (router (GET "/" show) (GET "/users/:id" user)) {:port 0})
)");
  ServeProcess p({app});
  EXPECT_EQ(p.wait_exit(), 1);
  EXPECT_NE(p.output().find("unbound.lisp:4:9: unable to resolve symbol: lookup-user"),
            std::string::npos)
      << p.output();
  EXPECT_EQ(p.output().find("helper"), std::string::npos) << p.output();
}

TEST(ServeStartup, AppThatNeverCallsServeExitsOne) {
  std::string app = write_app("noserve.lisp", "(def x 1)\n");
  ServeProcess p({app});
  EXPECT_EQ(p.wait_exit(), 1);
  EXPECT_NE(p.output().find("never called (serve"), std::string::npos) << p.output();
}

TEST(ServeStartup, PortInUseExitsOne) {
  std::string app = write_app("port_app.lisp", "(serve (fn [r] \"x\") {:port 0})\n");
  ServeProcess first({app});
  ASSERT_NE(first.port(), 0);
  ServeProcess second({"--port", std::to_string(first.port()), app});
  EXPECT_EQ(second.wait_exit(), 1);
  EXPECT_NE(second.output().find("valk serve:"), std::string::npos) << second.output();
}

TEST(ServeStartup, UnreadableTlsFileExitsOne) {
  std::string app = write_app("tls_missing.lisp",
                              "(serve (fn [r] \"x\") {:port 0 :tls {:cert \"/nonexistent.crt\" "
                              ":key \"/nonexistent.key\"}})\n");
  ServeProcess p({app});
  EXPECT_EQ(p.wait_exit(), 1);
  EXPECT_NE(p.output().find("nonexistent"), std::string::npos) << p.output();
}

TEST(ServeCheck, AGoodAppPassesWithoutTakingThePort) {
  std::string app = write_app("check_good.lisp", "(serve (fn [r] \"x\") {:port 0})\n");
  ServeProcess running({app});
  ASSERT_NE(running.port(), 0) << running.output();
  // The port the running server holds: a check must not need it.
  ServeProcess check({"--check", "--port", std::to_string(running.port()), app});
  EXPECT_EQ(check.wait_exit(), 0) << check.output();
  EXPECT_NE(check.output().find("check_good.lisp checked"), std::string::npos) << check.output();
  EXPECT_EQ(check.output().find("serving"), std::string::npos) << check.output();
  EXPECT_EQ(curl_get(running.url("/"), CURL_HTTP_VERSION_1_1).body, "x");
}

TEST(ServeCheck, WhatWouldStopTheServerFailsTheCheck) {
  std::string unbound =
      write_app("check_unbound.lisp", "(defn h [r] (no-such-fn r))\n(serve h {:port 0})\n");
  ServeProcess code({"--check", unbound});
  EXPECT_EQ(code.wait_exit(), 1);
  EXPECT_NE(code.output().find("check_unbound.lisp:1:13: unable to resolve symbol: no-such-fn"),
            std::string::npos)
      << code.output();

  std::string good = write_app("check_tls.lisp", "(serve (fn [r] \"x\") {:port 0})\n");
  ServeProcess tls(
      {"--check", "--tls-cert", "/nonexistent.crt", "--tls-key", "/nonexistent.key", good});
  EXPECT_EQ(tls.wait_exit(), 1);
  EXPECT_NE(tls.output().find("cannot load certificate /nonexistent.crt"), std::string::npos)
      << tls.output();

  ServeProcess dir({"--check", "--static", "/assets=/nonexistent-dir", good});
  EXPECT_EQ(dir.wait_exit(), 1);
  EXPECT_NE(dir.output().find("nonexistent-dir"), std::string::npos) << dir.output();
}

TEST(ServeShutdown, SigtermDrainsRequestsInFlight) {
  std::string app =
      write_app("drain_app.lisp", "(serve (fn [r] (await (sleep 500)) \"drained\") {:port 0})\n");
  ServeProcess p({app});
  ASSERT_NE(p.port(), 0) << p.output();
  CurlResult r;
  std::thread client([&] { r = curl_get(p.url("/"), CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE); });
  std::this_thread::sleep_for(std::chrono::milliseconds(150));
  EXPECT_EQ(p.signal_and_wait(SIGTERM), 0) << p.output();
  client.join();
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "drained");
}

}  // namespace
}  // namespace valk::test
