// The request/response spine over each protocol, with libcurl.
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <set>
#include <thread>

#include <uv.h>

#include "burst.h"
#include "h2_client.h"
#include "net_test_util.h"

namespace valk::test {
namespace {

TEST(Basic, Http11Get) {
  TestServer s(base_options(), hello_handler());
  CurlResult r = curl_do(s.url("/hello?x=1"));
  ASSERT_EQ(r.code, CURLE_OK);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "Hello, World!");
  EXPECT_EQ(r.version, CURL_HTTP_VERSION_1_1);
  EXPECT_NE(r.headers.find("content-length: 13"), std::string::npos);
}

TEST(Basic, RequestFieldsReachTheHandler) {
  std::string seen;
  TestServer s(base_options(), [&](Request& req, Responder res) {
    seen = std::string(req.method()) + " " + std::string(req.path()) + " " +
           std::string(req.query()) + " " + std::string(req.header("x-test")) + " " +
           std::string(req.authority()) + " " + std::string(req.scheme());
    res.respond(200, {}, "ok");
  });
  for (long v : {CURL_HTTP_VERSION_1_1, CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE}) {
    for (const char* method : {"GET", "DELETE"}) {
      CurlResult r = curl_do(s.url("/a/b?c=d"), [v, method](CURL* c) {
        static curl_slist* h = curl_slist_append(nullptr, "X-Test: yes");
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
        curl_easy_setopt(c, CURLOPT_HTTP_VERSION, v);
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
      });
      ASSERT_EQ(r.code, CURLE_OK);
      EXPECT_EQ(seen, std::string(method) + " /a/b c=d yes 127.0.0.1:" + std::to_string(s.port()) +
                          " http");
    }
  }
}

TEST(Basic, H2cPriorKnowledge) {
  TestServer s(base_options(), hello_handler());
  CurlResult r = curl_do(s.url("/"), [](CURL* c) {
    curl_easy_setopt(c, CURLOPT_HTTP_VERSION, CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE);
  });
  ASSERT_EQ(r.code, CURLE_OK);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.version, CURL_HTTP_VERSION_2_0);
  EXPECT_EQ(r.body, "Hello, World!");
}

// RFC 9110 6.6.1: an origin server with a clock sends Date, on every
// protocol, in the IMF-fixdate form.
TEST(Basic, EveryProtocolSendsDate) {
  TestServer s(base_options(), hello_handler());
  for (long version : {CURL_HTTP_VERSION_1_1, CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE}) {
    CurlResult r = curl_do(
        s.url("/"), [version](CURL* c) { curl_easy_setopt(c, CURLOPT_HTTP_VERSION, version); });
    ASSERT_EQ(r.code, CURLE_OK);
    size_t at = r.headers.find("date: ");
    ASSERT_NE(at, std::string::npos) << r.headers;
    std::string date = r.headers.substr(at + 6, r.headers.find("\r\n", at) - at - 6);
    EXPECT_EQ(date.size(), 29u) << date;  // "Sun, 06 Nov 1994 08:49:37 GMT"
    EXPECT_EQ(date.substr(25), " GMT") << date;
  }
}

TEST(Basic, H2cUpgrade) {
  TestServer s(base_options(), hello_handler());
  CurlResult r = curl_do(s.url("/up"), [](CURL* c) {
    curl_easy_setopt(c, CURLOPT_HTTP_VERSION, CURL_HTTP_VERSION_2_0);
  });
  ASSERT_EQ(r.code, CURLE_OK);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.version, CURL_HTTP_VERSION_2_0);
  EXPECT_EQ(r.body, "Hello, World!");
}

TEST(Basic, H2OverTls) {
  std::string alpn;
  TestServer s(tls_options(), [&](Request& req, Responder res) {
    alpn = req.tls() != nullptr ? req.tls()->alpn : "none";
    res.respond(200, {}, "Hello, World!");
  });
  CurlResult r = curl_do("https://localhost:" + std::to_string(s.port()) + "/");
  ASSERT_EQ(r.code, CURLE_OK) << curl_easy_strerror(r.code);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.version, CURL_HTTP_VERSION_2_0);
  EXPECT_EQ(alpn, "h2");
}

TEST(Basic, Http11OverTls) {
  TestServer s(tls_options(), hello_handler());
  CurlResult r = curl_do("https://localhost:" + std::to_string(s.port()) + "/", [](CURL* c) {
    curl_easy_setopt(c, CURLOPT_HTTP_VERSION, CURL_HTTP_VERSION_1_1);
  });
  ASSERT_EQ(r.code, CURLE_OK) << curl_easy_strerror(r.code);
  EXPECT_EQ(r.version, CURL_HTTP_VERSION_1_1);
  EXPECT_EQ(r.body, "Hello, World!");
}

TEST(Basic, RespondFromAnotherThread) {
  TestServer s(base_options(), [](Request& req, Responder res) {
    std::thread([res] {
      res.start(200, {{"content-type", "text/plain"}});
      for (int i = 0; i < 10; ++i) {
        res.write("chunk" + std::to_string(i) + ";");
      }
      res.end();
    }).detach();
  });
  for (long v : {CURL_HTTP_VERSION_1_1, CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE}) {
    CurlResult r =
        curl_do(s.url("/"), [v](CURL* c) { curl_easy_setopt(c, CURLOPT_HTTP_VERSION, v); });
    ASSERT_EQ(r.code, CURLE_OK);
    EXPECT_EQ(r.body, "chunk0;chunk1;chunk2;chunk3;chunk4;chunk5;chunk6;chunk7;chunk8;chunk9;");
  }
}

// The stream slab and the stream arenas report what they hold while
// requests are open, and give it back when they finish.
TEST(Counters, StreamAllocatorsReportTheirUse) {
  ServerOptions o = base_options();
  o.reactors = 1;
  std::mutex mu;
  std::vector<Responder> held;
  TestServer s(o, [&](Request&, Responder res) {
    std::lock_guard<std::mutex> g(mu);
    held.push_back(res);
  });
  auto count = [&](Counter c) { return s.server().counters()[c]; };
  H2Client c(s.port());
  // A head past the stream's 1 KiB inline buffer takes a heap block.
  std::vector<int32_t> ids = {c.submit("GET", "/a"), c.submit("GET", "/b"),
                              c.submit("GET", "/c", nullptr, {{"x-big", std::string(3000, 'v')}})};
  ASSERT_TRUE(c.run_until([&] {
    std::lock_guard<std::mutex> g(mu);
    return held.size() == 3;
  }));
  EXPECT_TRUE(eventually([&] { return count(Counter::kStreamSlotsInUse) == 3; }));
  EXPECT_GE(count(Counter::kArenaBytes), 3000u);
  {
    std::lock_guard<std::mutex> g(mu);
    for (Responder& r : held) {
      r.respond(200, {}, "done");
    }
  }
  ASSERT_TRUE(c.run_until([&] {
    return c.streams[ids[0]].closed && c.streams[ids[1]].closed && c.streams[ids[2]].closed;
  }));
  EXPECT_TRUE(eventually([&] { return count(Counter::kStreamSlotsInUse) == 0; }));
  EXPECT_EQ(count(Counter::kArenaBytes), 0u);
  EXPECT_EQ(count(Counter::kStreamSlotsHighWater), 3u);
}

// A Responder kept after its stream closed names nothing: what it sends is
// dropped, also once a later stream has taken the closed one's place.
TEST(Basic, StaleResponderIsDropped) {
  ServerOptions o = base_options();
  o.reactors = 1;
  Responder old;  // the reactor thread's only
  TestServer s(o, [&](Request& req, Responder res) {
    if (req.path() == "/first") {
      old = res;
      res.respond(200, {}, "first");
    } else {
      old.respond(200, {}, "stale");
      res.respond(200, {}, "second");
    }
  });
  for (long v : {CURL_HTTP_VERSION_1_1, CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE}) {
    auto version = [v](CURL* c) { curl_easy_setopt(c, CURLOPT_HTTP_VERSION, v); };
    EXPECT_EQ(curl_do(s.url("/first"), version).body, "first");
    EXPECT_EQ(curl_do(s.url("/second"), version).body, "second");
  }
}

// On the host's loop (options.loops), a response completed outside a read
// (here in the loop's check phase, as a host's own work would) goes out
// when the loop next prepares to poll; Server::flush() writes it at once.
TEST(HostLoop, FlushWritesCompletedResponsesAtOnce) {
  uv_loop_t loop;
  ASSERT_EQ(uv_loop_init(&loop), 0);
  ServerOptions o = base_options();
  o.loops = {&loop};
  struct Probe {
    Server* server = nullptr;
    std::optional<Responder> pending;
    bool flushed = false;
    uint64_t before = 0;
    uint64_t after = 0;
  } probe;
  Server server(o, [&](Request&, Responder res) { probe.pending = std::move(res); });
  std::string error;
  ASSERT_TRUE(server.start(&error)) << error;
  probe.server = &server;
  uv_check_t check;
  uv_check_init(&loop, &check);
  check.data = &probe;
  uv_check_start(&check, [](uv_check_t* c) {
    auto* p = static_cast<Probe*>(c->data);
    if (!p->pending) {
      return;
    }
    p->pending->respond(200, {}, "hi");
    p->before = p->server->counters()[Counter::kBytesOut];
    p->server->flush();
    p->after = p->server->counters()[Counter::kBytesOut];
    p->flushed = true;
    uv_close(reinterpret_cast<uv_handle_t*>(c), nullptr);
  });
  std::string reply;
  std::thread client([&] {
    int fd = tcp_connect(server.port());
    send_all(fd, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    reply = read_until(fd, [](const std::string& d) { return d.ends_with("hi"); });
    close(fd);
    server.shutdown();
  });
  uv_run(&loop, UV_RUN_DEFAULT);
  client.join();
  EXPECT_TRUE(probe.flushed);
  EXPECT_EQ(probe.before, 0u);
  EXPECT_GT(probe.after, 0u);
  EXPECT_TRUE(reply.starts_with("HTTP/1.1 200")) << reply;
  EXPECT_EQ(uv_loop_close(&loop), 0);
}

// A handler that answers at once: its response is written before the
// reactor reads the next connection, not at the end of the loop turn.
TEST(Basic, EachConnectionIsAnsweredBeforeTheNextIsRead) {
  ServerOptions o = base_options();
  o.reactors = 1;
  Burst burst;
  TestServer s(o, [&](Request& req, Responder res) {
    burst.on_request(req.path());
    res.respond(200, {}, "done");
  });
  burst.check(burst.run(s.port(), "done"));
}

// With options.on_input_handled, what a handler defers runs after each
// read from a connection, and its response is written before the next
// connection is read. The hook is told each read's protocol.
void expect_hook_answers_each_connection_in_turn(Protocol protocol) {
  uv_loop_t loop;
  ASSERT_EQ(uv_loop_init(&loop), 0);
  ServerOptions o = base_options();
  o.loops = {&loop};
  std::vector<Responder> deferred;
  std::set<Protocol> protocols;
  o.on_input_handled = [&](Protocol p) {
    protocols.insert(p);
    for (Responder& r : deferred) {
      r.respond(200, {}, "done");
    }
    deferred.clear();
  };
  Burst burst(protocol);
  Server server(o, [&](Request& req, Responder res) {
    burst.on_request(req.path());
    deferred.push_back(std::move(res));
  });
  std::string error;
  ASSERT_TRUE(server.start(&error)) << error;
  std::array<std::string, 3> replies;
  std::thread client([&] {
    replies = burst.run(server.port(), "done");
    server.shutdown();
  });
  uv_run(&loop, UV_RUN_DEFAULT);
  client.join();
  burst.check(replies);
  EXPECT_EQ(protocols, std::set<Protocol>{protocol});
  EXPECT_EQ(uv_loop_close(&loop), 0);
}

TEST(HostLoop, InputHandledHookAnswersEachConnectionBeforeTheNextIsRead) {
  expect_hook_answers_each_connection_in_turn(Protocol::kHttp11);
}

TEST(HostLoop, InputHandledHookAnswersEachHttp2ConnectionBeforeTheNextIsRead) {
  expect_hook_answers_each_connection_in_turn(Protocol::kHttp2);
}

// A thread of the host running its own libuv loop, which runs the steps
// handed to it (ServerOptions::run_on_loop) through an async handle.
class HostThread {
 public:
  HostThread() {
    uv_loop_init(&loop_);
    uv_async_init(&loop_, &async_, [](uv_async_t* a) {
      auto* h = static_cast<HostThread*>(a->data);
      std::lock_guard<std::mutex> lock(h->mu_);
      if (h->step_ != nullptr) {
        (*h->step_)();
        h->step_ = nullptr;
        h->cv_.notify_all();
      }
      if (h->quit_) {
        uv_close(reinterpret_cast<uv_handle_t*>(a), nullptr);
      }
    });
    async_.data = this;
    thread_ = std::thread([this] { uv_run(&loop_, UV_RUN_DEFAULT); });
  }
  ~HostThread() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      quit_ = true;
    }
    uv_async_send(&async_);
    thread_.join();
    uv_loop_close(&loop_);
  }
  uv_loop_t* loop() { return &loop_; }
  std::thread::id id() const { return thread_.get_id(); }
  void run(const std::function<void()>& step) {
    std::unique_lock<std::mutex> lock(mu_);
    step_ = &step;
    uv_async_send(&async_);
    cv_.wait(lock, [this] { return step_ == nullptr; });
  }

 private:
  uv_loop_t loop_;
  uv_async_t async_;
  std::mutex mu_;
  std::condition_variable cv_;
  const std::function<void()>* step_ = nullptr;
  bool quit_ = false;
  std::thread thread_;
};

// Reactors on two loops of the host, each set up on its own thread: the
// kernel spreads connections over both, and each connection's handler
// runs on the thread of its loop.
TEST(HostLoop, ReactorsRunOnSeveralHostLoops) {
  HostThread hosts[2];
  ServerOptions o = base_options();
  o.loops = {hosts[0].loop(), hosts[1].loop()};
  o.run_on_loop = [&](size_t i, const std::function<void()>& step) { hosts[i].run(step); };
  std::mutex mu;
  std::set<std::thread::id> ran_on;
  auto server = std::make_unique<Server>(o, [&](Request&, Responder res) {
    {
      std::lock_guard<std::mutex> lock(mu);
      ran_on.insert(std::this_thread::get_id());
    }
    res.respond(200, {}, "hi");
  });
  std::string error;
  ASSERT_TRUE(server->start(&error)) << error;
  for (int i = 0; i < 24; i++) {
    CurlResult r = curl_do("http://127.0.0.1:" + std::to_string(server->port()) + "/");
    ASSERT_EQ(r.body, "hi");
  }
  server->stop();
  server.reset();
  EXPECT_EQ(ran_on, (std::set<std::thread::id>{hosts[0].id(), hosts[1].id()}));
}

// A header value with CR LF would forge headers on HTTP/1.1: the reactor
// answers 500 instead of sending it, on every protocol.
TEST(ResponseHeads, InvalidHeadersBecome500) {
  TestServer s(base_options(), [](Request& req, Responder res) {
    if (req.path() == "/crlf") {
      res.respond(200, {{"x-evil", "a\r\nset-cookie: pwned=1"}}, "body");
    } else if (req.path() == "/name") {
      res.respond(200, {{"bad name", "v"}}, "body");
    } else if (req.path() == "/status") {
      res.respond(42, {}, "body");
    } else {
      res.respond(200, {{"X-Mixed-Case", "fine"}}, "ok");
    }
  });
  for (long version : {CURL_HTTP_VERSION_1_1, CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE}) {
    for (const char* path : {"/crlf", "/name", "/status"}) {
      CurlResult r = curl_do(s.url(path),
                             [&](CURL* c) { curl_easy_setopt(c, CURLOPT_HTTP_VERSION, version); });
      EXPECT_EQ(r.status, 500) << path;
      EXPECT_EQ(r.headers.find("pwned"), std::string::npos) << r.headers;
      EXPECT_EQ(r.body, "Internal Server Error\n");
    }
    CurlResult ok =
        curl_do(s.url("/"), [&](CURL* c) { curl_easy_setopt(c, CURLOPT_HTTP_VERSION, version); });
    EXPECT_EQ(ok.status, 200);
    EXPECT_EQ(ok.body, "ok");
  }
}

// Headers made once are checked when made, lower-cased, and sent with each
// response that carries them, on every protocol, as often as it is used.
TEST(ResponseHeads, SharedHeadersAreCheckedOnceAndSentEveryTime) {
  std::string error;
  EXPECT_EQ(SharedHeaders::make({{"x-evil", "a\r\nset-cookie: pwned=1"}}, &error), nullptr);
  EXPECT_NE(error.find("x-evil"), std::string::npos) << error;
  EXPECT_EQ(SharedHeaders::make({{"bad name", "v"}}, &error), nullptr);
  std::shared_ptr<const SharedHeaders> shared =
      SharedHeaders::make({{"Content-Type", "text/x-shared"}, {"X-Twice", "1"}}, &error);
  ASSERT_NE(shared, nullptr);
  EXPECT_EQ(shared->headers()[0].name, "content-type");
  TestServer s(base_options(), [shared](Request& req, Responder res) {
    res.respond_shared(200, shared, std::string(req.path()));
  });
  for (long version : {CURL_HTTP_VERSION_1_1, CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE}) {
    for (const char* path : {"/a", "/bb"}) {
      CurlResult r = curl_do(s.url(path),
                             [&](CURL* c) { curl_easy_setopt(c, CURLOPT_HTTP_VERSION, version); });
      EXPECT_EQ(r.status, 200);
      EXPECT_EQ(r.body, path);
      EXPECT_NE(r.headers.find("content-type: text/x-shared"), std::string::npos) << r.headers;
      EXPECT_NE(r.headers.find("x-twice: 1"), std::string::npos) << r.headers;
      EXPECT_NE(r.headers.find("content-length: " + std::to_string(strlen(path))),
                std::string::npos)
          << r.headers;
    }
  }
}

// A streamed response whose head was refused: the writes that follow are
// dropped but reported sent, so a writer waiting on them goes on.
TEST(ResponseHeads, WritesAfterARefusedHeadStillDrain) {
  std::atomic<uint64_t> sent{0};
  TestServer s(base_options(), [&](Request& req, Responder res) {
    res.start(200, {{"x-evil", "a\nb"}}, [&](uint64_t n) { sent = n; });
    res.write(std::string(1000, 'x'));
    res.write(std::string(500, 'y'));
    res.end();
  });
  CurlResult r = curl_do(s.url("/"));
  EXPECT_EQ(r.status, 500);
  EXPECT_TRUE(eventually([&] { return sent.load() == 1500; }));
}

TEST(ResponseHeads, InvalidTrailersAreDropped) {
  TestServer s(base_options(), [](Request& req, Responder res) {
    res.start(200, {});
    res.write("body");
    res.end({{"x-good", "yes"}, {"x-bad", "a\r\nb"}});
  });
  CurlResult r = curl_do(s.url("/"));
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "body");
  EXPECT_NE(r.headers.find("x-good: yes"), std::string::npos) << r.headers;
  EXPECT_EQ(r.headers.find("x-bad"), std::string::npos) << r.headers;
}

}  // namespace
}  // namespace valk::test
