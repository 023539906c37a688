// Each example web app under examples/ served by `valk serve` and driven
// with libcurl over HTTP/1.1, h2c and h2 over TLS.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <regex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "../net/net_test_util.h"
#include "redis_server.h"
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
  ServeProcess p({"--port", "0", "--threads", "2", example("todos.lisp")});
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

// The todos live in the shared store: with workers taking requests in
// turn, each sees every todo, and todos made at once get ids of their own.
TEST(Examples, TodosAreOneListForEveryWorker) {
  ServeProcess p({"--port", "0", "--workers", "2", "--reactors", "1", example("todos.lisp")});
  ASSERT_NE(p.port(), 0) << p.output();
  std::vector<std::thread> clients;
  std::atomic<int> created{0};
  for (int c = 0; c < 4; c++) {
    clients.emplace_back([&] {
      for (int i = 0; i < 10; i++) {
        created += request(p.url("/todos"), "POST", R"({"title":"t"})").status == 201;
      }
    });
  }
  for (std::thread& t : clients) {
    t.join();
  }
  EXPECT_EQ(created.load(), 40);
  for (int i = 0; i < 4; i++) {  // both workers, in turn
    std::string list = request(p.url("/todos")).body;
    for (int id = 1; id <= 40; id++) {
      EXPECT_NE(list.find("{\"id\":" + std::to_string(id) + ","), std::string::npos) << id;
    }
    EXPECT_EQ(request(p.url("/todos/40")).status, 200);
  }
  EXPECT_EQ(request(p.url("/todos/7"), "PATCH", R"({"done":true})").status, 200);
  EXPECT_EQ(request(p.url("/todos/7"), "DELETE").status, 204);
  for (int i = 0; i < 2; i++) {
    EXPECT_EQ(request(p.url("/todos/7")).status, 404);
    EXPECT_EQ(request(p.url("/todos/7"), "PATCH", R"({"done":true})").status, 404);
  }
}

// The links live in a SQLite file: two servers (one over TLS) share it,
// each with two workers, and a server started later finds them.
TEST(Examples, LinksLiveInSqlite) {
  std::string db = testing::TempDir() + "/links_example.db";
  for (const char* suffix : {"", "-wal", "-shm"}) {
    std::filesystem::remove(db + suffix);
  }
  setenv("LINKS_DB", db.c_str(), 1);
  std::string certs = std::string(VALK_SOURCE_DIR) + "/certs/";
  std::string code;
  {
    ServeProcess plain({"--port", "0", "--threads", "2", example("links.lisp")});
    ServeProcess tls({"--port", "0", "--threads", "2", "--tls-cert", certs + "dev.crt", "--tls-key",
                      certs + "dev.key", example("links.lisp")});
    ASSERT_NE(plain.port(), 0) << plain.output();
    ASSERT_NE(tls.port(), 0) << tls.output();
    CurlResult made = request(plain.url("/links"), "POST", R"({"url":"https://example.com/x"})",
                              CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE);
    EXPECT_EQ(made.status, 201) << made.body;
    std::smatch m;
    ASSERT_TRUE(std::regex_search(made.body, m, std::regex(R"re("code":"([A-Za-z0-9_-]{7})")re")))
        << made.body;
    code = m[1];
    EXPECT_NE(made.body.find(R"("url":"https://example.com/x","hits":0)"), std::string::npos);
    CurlResult bad =
        request(tls.url("/links", true), "POST", R"({"url":"ftp://x"})", CURL_HTTP_VERSION_2TLS);
    EXPECT_EQ(bad.status, 400);
    EXPECT_EQ(bad.body, R"({"error":"url must be an http or https URL"})");
    CurlResult h1 = request(plain.url("/" + code));
    EXPECT_EQ(h1.status, 302);
    EXPECT_NE(h1.headers.find("location: https://example.com/x"), std::string::npos) << h1.headers;
    EXPECT_EQ(request(tls.url("/" + code, true), "GET", "", CURL_HTTP_VERSION_2TLS).status, 302);
    EXPECT_EQ(request(plain.url("/nope")).status, 404);
    // Made at once through both servers: each gets a code of its own.
    std::vector<std::thread> clients;
    std::mutex mu;
    std::set<std::string> codes;
    for (int c = 0; c < 4; c++) {
      clients.emplace_back([&, c] {
        for (int i = 0; i < 5; i++) {
          CurlResult r = c % 2 ? request(plain.url("/links"), "POST", R"({"url":"http://a.test/"})")
                               : request(tls.url("/links", true), "POST",
                                         R"({"url":"http://a.test/"})", CURL_HTTP_VERSION_2TLS);
          std::smatch found;
          std::lock_guard<std::mutex> lock(mu);
          EXPECT_EQ(r.status, 201) << r.body;
          if (std::regex_search(r.body, found, std::regex(R"re("code":"([^"]+)")re"))) {
            codes.insert(found[1]);
          }
        }
      });
    }
    for (std::thread& t : clients) {
      t.join();
    }
    EXPECT_EQ(codes.size(), 20u);
  }
  ServeProcess later({"--port", "0", example("links.lisp")});
  unsetenv("LINKS_DB");
  ASSERT_NE(later.port(), 0) << later.output();
  EXPECT_EQ(request(later.url("/links/" + code)).body,
            R"({"code":")" + code + R"(","url":"https://example.com/x","hits":2})");
}

TEST(Examples, GatewayForwardsAndFansOut) {
  ServeProcess upstream({"--port", "0", example("hello.lisp")});
  ASSERT_NE(upstream.port(), 0) << upstream.output();
  setenv("UPSTREAM", upstream.url("").c_str(), 1);
  std::string certs = std::string(VALK_SOURCE_DIR) + "/certs/";
  ServeProcess tls({"--port", "0", "--tls-cert", certs + "dev.crt", "--tls-key", certs + "dev.key",
                    example("gateway.lisp")});
  ServeProcess plain({"--port", "0", example("gateway.lisp")});
  unsetenv("UPSTREAM");
  ASSERT_NE(tls.port(), 0) << tls.output();
  ASSERT_NE(plain.port(), 0) << plain.output();
  CurlResult h2 = request(tls.url("/proxy/hello/you", true), "GET", "", CURL_HTTP_VERSION_2TLS);
  EXPECT_EQ(h2.version, CURL_HTTP_VERSION_2_0);
  EXPECT_EQ(h2.body, "Hello, you!");
  EXPECT_EQ(response_header(h2, "content-type"), "text/plain; charset=utf-8");
  EXPECT_EQ(request(plain.url("/proxy/missing")).status, 404);
  CurlResult api = request(tls.url("/api/hello/you", true), "GET", "", CURL_HTTP_VERSION_2TLS);
  EXPECT_EQ(api.status, 200);
  EXPECT_EQ(api.body, "Hello, you!");
  EXPECT_EQ(request(plain.url("/api/missing")).status, 404);
  CurlResult fanout = request(plain.url("/fanout"), "GET", "", CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE);
  EXPECT_EQ(fanout.body,
            R"({"statuses":[200,200,200],"bodies":["Hello, World!","Hello, a!","Hello, b!"]})");
  EXPECT_EQ(request(plain.url("/fanout")).body, fanout.body);  // HTTP/1.1

  RefusedPort refused;
  setenv("UPSTREAM", ("http://127.0.0.1:" + std::to_string(refused.port())).c_str(), 1);
  ServeProcess orphan({"--port", "0", example("gateway.lisp")});
  unsetenv("UPSTREAM");
  ASSERT_NE(orphan.port(), 0) << orphan.output();
  CurlResult down = request(orphan.url("/proxy/"));
  EXPECT_EQ(down.status, 502);
  EXPECT_NE(down.body.find(R"("error":"upstream failed","kind":"connect")"), std::string::npos)
      << down.body;
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

// What a streamed body looked like on arrival: the text, and the time from
// the first byte to the last.
struct Timed {
  std::string body;
  std::chrono::steady_clock::time_point first, last;
};
size_t timed_collect(char* p, size_t sz, size_t n, void* ud) {
  auto* t = static_cast<Timed*>(ud);
  auto now = std::chrono::steady_clock::now();
  if (t->body.empty()) {
    t->first = now;
  }
  t->last = now;
  t->body.append(p, sz * n);
  return sz * n;
}

Timed timed_get(const std::string& url, long version, const char* header = nullptr) {
  Timed t;
  CurlResult r = curl_do(url, [&](CURL* c) {
    curl_easy_setopt(c, CURLOPT_HTTP_VERSION, version);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, timed_collect);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &t);
    if (header != nullptr) {
      static curl_slist* h = nullptr;
      curl_slist_free_all(h);
      h = curl_slist_append(nullptr, header);
      curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    }
  });
  EXPECT_EQ(r.code, CURLE_OK);
  EXPECT_EQ(r.status, 200);
  return t;
}

// /relay passes the upstream's body on as it comes: examples/stream.lisp's
// lines arrive spread over time, not all at the end; an upstream that is
// down is a 502.
TEST(Examples, GatewayRelaysABodyAsItComes) {
  ServeProcess upstream({"--port", "0", "--metrics", "0", example("stream.lisp")});
  ASSERT_NE(upstream.port(), 0) << upstream.output();
  setenv("UPSTREAM", upstream.url("").c_str(), 1);
  ServeProcess gateway({"--port", "0", example("gateway.lisp")});
  unsetenv("UPSTREAM");
  ASSERT_NE(gateway.port(), 0) << gateway.output();
  for (long version : {CURL_HTTP_VERSION_1_1, CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE}) {
    for (const char* path : {"/relay/count?n=4", "/api/count?n=4"}) {
      Timed lines = timed_get(gateway.url(path), version);
      EXPECT_EQ(lines.body, "line 1 of 4\nline 2 of 4\nline 3 of 4\nline 4 of 4\n");
      EXPECT_GE(lines.last - lines.first, std::chrono::milliseconds(100)) << version << path;
    }
  }
  CurlResult events = request(gateway.url("/relay/ticks?n=1"));
  EXPECT_EQ(response_header(events, "content-type"), "text/event-stream");
  EXPECT_NE(events.body.find("event: tick\nid: 1\n"), std::string::npos) << events.body;
  EXPECT_EQ(request(gateway.url("/relay/nowhere")).status, 404);
  // A client that leaves takes the upstream request with it.
  for (long version : {CURL_HTTP_VERSION_1_1, CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE}) {
    std::string seen;
    CurlResult left = curl_do(gateway.url("/relay/ticks"), [&](CURL* c) {
      curl_easy_setopt(c, CURLOPT_HTTP_VERSION, version);
      curl_easy_setopt(c, CURLOPT_WRITEDATA, &seen);
      curl_easy_setopt(
          c, CURLOPT_WRITEFUNCTION, +[](char* p, size_t sz, size_t n, void* ud) {
            auto* seen = static_cast<std::string*>(ud);
            seen->append(p, sz * n);
            return seen->find("id: 2\n") == std::string::npos ? sz * n : 0;
          });
    });
    EXPECT_EQ(left.code, CURLE_WRITE_ERROR) << seen;
    std::string metrics =
        "http://127.0.0.1:" + std::to_string(upstream.metrics_port()) + "/metrics";
    EXPECT_TRUE(eventually([&] {
      return curl_get(metrics, CURL_HTTP_VERSION_1_1).body.find("\nvalk_requests_open 0\n") !=
             std::string::npos;
    })) << version;
  }

  RefusedPort refused;
  setenv("UPSTREAM", ("http://127.0.0.1:" + std::to_string(refused.port())).c_str(), 1);
  ServeProcess orphan({"--port", "0", example("gateway.lisp")});
  unsetenv("UPSTREAM");
  ASSERT_NE(orphan.port(), 0) << orphan.output();
  EXPECT_EQ(request(orphan.url("/relay/count")).status, 502);
}

TEST(Examples, StreamAndServerSentEventsOverEveryProtocol) {
  std::string certs = std::string(VALK_SOURCE_DIR) + "/certs/";
  ServeProcess plain({"--port", "0", example("stream.lisp")});
  ASSERT_NE(plain.port(), 0) << plain.output();
  ServeProcess tls({"--port", "0", "--tls-cert", certs + "dev.crt", "--tls-key", certs + "dev.key",
                    example("stream.lisp")});
  ASSERT_NE(tls.port(), 0) << tls.output();
  struct Case {
    std::string base;
    long version;
  };
  for (const Case& c : {Case{plain.url(""), CURL_HTTP_VERSION_1_1},
                        Case{plain.url(""), CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE},
                        Case{tls.url("", true), CURL_HTTP_VERSION_2TLS}}) {
    // Four lines 50 ms apart: they arrive as written, not all at the end.
    Timed lines = timed_get(c.base + "/count?n=4", c.version);
    EXPECT_EQ(lines.body, "line 1 of 4\nline 2 of 4\nline 3 of 4\nline 4 of 4\n");
    EXPECT_GE(lines.last - lines.first, std::chrono::milliseconds(100)) << c.version;

    Timed events = timed_get(c.base + "/ticks?n=2", c.version);
    EXPECT_EQ(events.body,
              ": ticks from the valk stream example\nretry: 2000\n\n"
              "event: tick\nid: 1\ndata: {\"n\":1}\n\n"
              "event: tick\nid: 2\ndata: {\"n\":2}\n\n");
    // A reconnecting EventSource goes on after the last id it saw.
    Timed resumed = timed_get(c.base + "/ticks?n=6", c.version, "Last-Event-ID: 4");
    EXPECT_NE(resumed.body.find("id: 5\ndata: {\"n\":5}"), std::string::npos) << resumed.body;
    EXPECT_EQ(resumed.body.find("id: 4\n"), std::string::npos) << resumed.body;
  }
  CurlResult page = request(plain.url("/"));
  EXPECT_NE(page.body.find("new EventSource('/ticks')"), std::string::npos) << page.body;
}

// Two servers share one Redis: a client's five requests a minute are
// counted across both, by API key.
TEST(Examples, RateLimitIsSharedThroughRedis) {
  RedisServer redis(testing::TempDir() + "/rate_limit_redis");
  ASSERT_TRUE(redis.up());
  setenv("REDIS_URL", redis.url().c_str(), 1);
  std::string certs = std::string(VALK_SOURCE_DIR) + "/certs/";
  ServeProcess plain({"--port", "0", "--threads", "2", example("rate_limit.lisp")});
  ServeProcess tls({"--port", "0", "--threads", "2", "--tls-cert", certs + "dev.crt", "--tls-key",
                    certs + "dev.key", example("rate_limit.lisp")});
  ASSERT_NE(plain.port(), 0) << plain.output();
  ASSERT_NE(tls.port(), 0) << tls.output();
  auto ask = [](const std::string& url, const char* key, long version) {
    curl_slist* headers =
        key != nullptr ? curl_slist_append(nullptr, (std::string("x-api-key: ") + key).c_str())
                       : nullptr;
    CurlResult r = curl_do(url, [&](CURL* c) {
      curl_easy_setopt(c, CURLOPT_HTTP_VERSION, version);
      curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
    });
    curl_slist_free_all(headers);
    return r;
  };
  // Five from k1, over every protocol and both servers, then a sixth.
  CurlResult r = ask(plain.url("/quote"), "k1", CURL_HTTP_VERSION_1_1);
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_NE(r.body.find("\"quote\":"), std::string::npos) << r.body;
  EXPECT_NE(r.headers.find("x-ratelimit-remaining: 4"), std::string::npos) << r.headers;
  EXPECT_EQ(ask(plain.url("/quote"), "k1", CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE).status, 200);
  EXPECT_EQ(ask(tls.url("/quote", true), "k1", CURL_HTTP_VERSION_2TLS).status, 200);
  EXPECT_EQ(ask(tls.url("/quote", true), "k1", CURL_HTTP_VERSION_1_1).status, 200);
  r = ask(plain.url("/quote"), "k1", CURL_HTTP_VERSION_1_1);
  EXPECT_EQ(r.status, 200);
  EXPECT_NE(r.headers.find("x-ratelimit-remaining: 0"), std::string::npos) << r.headers;
  r = ask(tls.url("/quote", true), "k1", CURL_HTTP_VERSION_2TLS);
  EXPECT_EQ(r.status, 429) << r.body;
  std::smatch m;
  ASSERT_TRUE(std::regex_search(r.headers, m, std::regex(R"(retry-after: (\d+))"))) << r.headers;
  EXPECT_GT(std::stoi(m[1]), 50);
  EXPECT_LE(std::stoi(m[1]), 60);
  EXPECT_NE(r.body.find(R"("error":"too many requests")"), std::string::npos) << r.body;
  // Another key has its own count; a client without one is counted by its
  // address.
  EXPECT_EQ(ask(plain.url("/quote"), "k2", CURL_HTTP_VERSION_1_1).status, 200);
  for (int i = 0; i < 5; i++) {
    EXPECT_EQ(ask(plain.url("/quote"), nullptr, CURL_HTTP_VERSION_1_1).status, 200) << i;
  }
  EXPECT_EQ(ask(tls.url("/quote", true), nullptr, CURL_HTTP_VERSION_2TLS).status, 429);
  unsetenv("REDIS_URL");
}

// A listener of an event stream: what came, and whether it has the text
// it waits for (then it hangs up).
struct Listener {
  std::string wanted;
  std::string got;
  std::atomic<bool> listening{false};
  std::mutex mu;
};
size_t listen_collect(char* p, size_t sz, size_t n, void* ud) {
  auto* l = static_cast<Listener*>(ud);
  std::lock_guard<std::mutex> lock(l->mu);
  l->got.append(p, sz * n);
  if (l->got.find(": listening") != std::string::npos) {
    l->listening = true;
  }
  return l->got.find(l->wanted) != std::string::npos ? 0 : sz * n;
}

// Four listeners on two servers of two workers each, sharing one Redis:
// a message posted to one server reaches every listener.
TEST(Examples, ChatReachesEveryListenerOfEveryServer) {
  RedisServer redis(testing::TempDir() + "/chat_redis");
  ASSERT_TRUE(redis.up());
  setenv("REDIS_URL", redis.url().c_str(), 1);
  ServeProcess a({"--port", "0", "--threads", "2", example("chat.lisp")});
  ServeProcess b({"--port", "0", "--threads", "2", example("chat.lisp")});
  unsetenv("REDIS_URL");
  ASSERT_NE(a.port(), 0) << a.output();
  ASSERT_NE(b.port(), 0) << b.output();
  const std::string wanted = "event: message\ndata: {\"from\":\"ann\",\"text\":\"hello all\"}\n\n";
  Listener listeners[4];
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; i++) {
    listeners[i].wanted = wanted;
    std::string url = (i < 2 ? a : b).url("/events");
    long version = i % 2 ? CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE : CURL_HTTP_VERSION_1_1;
    threads.emplace_back([&, i, url, version] {
      curl_do(url, [&](CURL* c) {
        curl_easy_setopt(c, CURLOPT_HTTP_VERSION, version);
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, listen_collect);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, &listeners[i]);
        curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 10000L);
      });
    });
  }
  // Each of the four workers subscribed, each listener listening.
  EXPECT_TRUE(eventually([&] { return redis.cli("PUBSUB NUMSUB chat") == "chat\n4\n"; }))
      << redis.cli("PUBSUB NUMSUB chat");
  EXPECT_TRUE(eventually([&] {
    for (Listener& l : listeners) {
      if (!l.listening) {
        return false;
      }
    }
    return true;
  }));
  EXPECT_EQ(request(b.url("/messages"), "POST", R"({"from":"ann"})").status, 400);
  EXPECT_EQ(request(a.url("/messages"), "POST", R"({"from":"ann","text":"hello all"})").status,
            204);
  for (std::thread& t : threads) {
    t.join();
  }
  for (Listener& l : listeners) {
    EXPECT_NE(l.got.find(wanted), std::string::npos) << l.got;
    EXPECT_EQ(l.got.find("ann\"}"), l.got.rfind("ann\"}")) << "once: " << l.got;
  }
}

}  // namespace
}  // namespace valk::test
