// valk/proxy's `proxy` in `valk serve`, in front of an upstream (libvalk's
// server with native handlers): what goes up (method, path, query, body,
// headers but those of one connection, x-forwarded-*), what comes back
// (status, headers, cookies, a redirect as it is), a body streamed as it
// comes, and an upstream that is down or slow.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "../net/net_test_util.h"
#include "serve_process.h"

namespace valk::test {
namespace {

const char* kApp = R"(
(import "valk/proxy")
(def upstream (getenv "UPSTREAM"))
(def app
  (router
    (ANY "/tls/*rest" (fn [req] (proxy req (getenv "TLS_UPSTREAM")
                                       {:path (str "/" (get-in req [:params :rest]))
                                        :ca-file (getenv "CA")})))
    (ANY "/api/*rest" (fn [req] (proxy req upstream {:path (str "/" (get-in req [:params :rest]))
                                                     :headers {"x-via" "valk"}
                                                     :timeout-ms 500})))
    (ANY "/*all" (fn [req] (proxy req upstream)))))
(serve app {:port 0 :threads 1})
)";

// /echo answers with what came (the method, target, body and headers,
// one per line) and with headers of its own, some of one connection;
// /drip sends "one", then "two" 300 ms later; /moved is a redirect;
// /hold does not answer; /count reads the body as it comes (counted in
// body_seen) and answers with its size and framing ("chunked" or
// "length <n>").
class Upstream {
 public:
  Upstream()
      : server_(base_options(), [this](Request& req, Responder res) { handle(req, res); }),
        tls_(tls_options(), [this](Request& req, Responder res) { handle(req, res); }) {}
  ~Upstream() {
    std::lock_guard<std::mutex> lock(mu_);
    for (const Responder& r : held_) {
      r.respond(200, {}, "late");
    }
    for (std::thread& t : later_) {
      t.join();
    }
  }
  std::string url() const { return server_.url(""); }
  // The same over TLS (the development certificates).
  std::string tls_url() const { return tls_.url("", true); }
  std::atomic<uint64_t> body_seen{0};
  std::atomic<int> count_cancelled{0};  // /count requests whose client left

 private:
  void handle(Request& req, Responder res) {
    std::string path(req.path());
    if (path == "/count") {
      std::string framing = req.header("transfer-encoding") == "chunked"
                                ? "chunked"
                                : "length " + std::to_string(req.content_length());
      auto bytes = std::make_shared<uint64_t>(0);
      req.on_cancel([this] { count_cancelled++; });
      req.read_body([this, res, bytes, framing](std::string_view chunk, bool last) {
        *bytes += chunk.size();
        body_seen += chunk.size();
        if (last) {
          res.respond(200, {}, std::to_string(*bytes) + " " + framing);
        }
      });
    } else if (path == "/echo") {
      std::string seen = std::string(req.method()) + " " + path + "?" + std::string(req.query());
      for (const HeaderView& h : req.headers()) {
        seen += "\n" + std::string(h.name) + ": " + std::string(h.value);
      }
      auto body = std::make_shared<std::string>();
      std::string protocol = req.protocol() == Protocol::kHttp2 ? "2" : "1.1";
      auto answer = [res, seen, body, protocol] {
        res.respond(201,
                    {{"content-type", "text/plain"},
                     {"x-upstream-protocol", protocol},
                     {"set-cookie", "a=1; Path=/"},
                     {"set-cookie", "b=2"},
                     {"keep-alive", "timeout=5"},
                     {"x-kept", "yes"}},
                    seen + "\n\n" + *body);
      };
      if (!req.has_body()) {
        answer();
        return;
      }
      req.read_body([answer, body](std::string_view chunk, bool last) {
        body->append(chunk);
        if (last) {
          answer();
        }
      });
    } else if (path == "/drip") {
      res.start(200, {{"content-type", "text/plain"}});
      res.write("one\n");
      std::lock_guard<std::mutex> lock(mu_);
      later_.emplace_back([res] {
        std::this_thread::sleep_for(std::chrono::milliseconds(300));
        res.write("two\n");
        res.end();
      });
    } else if (path == "/moved") {
      res.respond(302, {{"location", "/elsewhere"}}, "");
    } else if (path == "/hold") {
      std::lock_guard<std::mutex> lock(mu_);
      held_.push_back(res);
    } else {
      res.respond(404, {}, "no such path upstream");
    }
  }

  TestServer server_;
  TestServer tls_;
  std::mutex mu_;
  std::vector<std::thread> later_;
  std::vector<Responder> held_;
};

class ProxyTest : public ::testing::Test {
 protected:
  ProxyTest() {
    setenv("UPSTREAM", upstream_.url().c_str(), 1);
    setenv("TLS_UPSTREAM", upstream_.tls_url().c_str(), 1);
    setenv("CA", cert_path("ca.crt").c_str(), 1);
    app_ =
        std::make_unique<ServeProcess>(std::vector<std::string>{write_app("proxy_app.lisp", kApp)});
    unsetenv("UPSTREAM");
    unsetenv("TLS_UPSTREAM");
    unsetenv("CA");
  }
  void SetUp() override { ASSERT_NE(app_->port(), 0) << app_->output(); }

  Upstream upstream_;
  std::unique_ptr<ServeProcess> app_;
};

TEST_F(ProxyTest, PassesTheRequestUpAndTheAnswerBack) {
  for (long version : {CURL_HTTP_VERSION_1_1, CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE}) {
    curl_slist* headers = nullptr;
    headers = curl_slist_append(headers, "X-Custom: kept");
    headers = curl_slist_append(headers, "X-Forwarded-For: 203.0.113.9");
    headers = curl_slist_append(headers, "X-Secret: hop");
    headers = curl_slist_append(headers, "Connection: X-Secret");
    CurlResult r = curl_do(app_->url("/api/echo?q=1&r=%20"), [&](CURL* c) {
      curl_easy_setopt(c, CURLOPT_HTTP_VERSION, version);
      curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
      curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, "PUT");
      curl_easy_setopt(c, CURLOPT_POSTFIELDS, "the body");
    });
    curl_slist_free_all(headers);
    EXPECT_EQ(r.status, 201) << r.body;
    const std::string& seen = r.body;
    EXPECT_TRUE(seen.starts_with("PUT /echo?q=1&r=%20\n")) << seen;
    EXPECT_TRUE(seen.ends_with("\n\nthe body")) << seen;
    EXPECT_NE(seen.find("\nx-custom: kept\n"), std::string::npos) << seen;
    EXPECT_NE(seen.find("\nx-via: valk\n"), std::string::npos) << seen;
    EXPECT_NE(seen.find("\nx-forwarded-for: 203.0.113.9, 127.0.0.1\n"), std::string::npos) << seen;
    EXPECT_NE(seen.find("\nx-forwarded-proto: http\n"), std::string::npos) << seen;
    EXPECT_NE(seen.find("\nx-forwarded-host: 127.0.0.1:" + std::to_string(app_->port())),
              std::string::npos)
        << seen;
    // Headers of one connection stay on it (HTTP/2 has no Connection
    // header: there X-Secret is any header).
    if (version == CURL_HTTP_VERSION_1_1) {
      EXPECT_EQ(seen.find("x-secret"), std::string::npos) << seen;
    }
    EXPECT_EQ(seen.find("\nconnection:"), std::string::npos) << seen;
    // What comes back: the status, its headers and both cookies, but not
    // the upstream connection's headers (libvalk's server sends no
    // Connection header, but a handler's Keep-Alive, as this one's).
    EXPECT_EQ(response_header(r, "x-kept"), "yes") << r.headers;
    EXPECT_EQ(response_header(r, "content-type"), "text/plain") << r.headers;
    EXPECT_NE(r.headers.find("set-cookie: a=1; Path=/\r\n"), std::string::npos) << r.headers;
    EXPECT_NE(r.headers.find("set-cookie: b=2\r\n"), std::string::npos) << r.headers;
    EXPECT_EQ(r.headers.find("keep-alive"), std::string::npos) << r.headers;
  }
  // Without :path, the request's own.
  EXPECT_TRUE(
      curl_get(app_->url("/echo?x"), CURL_HTTP_VERSION_1_1).body.starts_with("GET /echo?x\n"));
  // A redirect comes back as it is; an upstream's 404 too.
  CurlResult moved = curl_get(app_->url("/moved"), CURL_HTTP_VERSION_1_1);
  EXPECT_EQ(moved.status, 302);
  EXPECT_EQ(response_header(moved, "location"), "/elsewhere");
  CurlResult missing = curl_get(app_->url("/nowhere"), CURL_HTTP_VERSION_1_1);
  EXPECT_EQ(missing.status, 404);
  EXPECT_EQ(missing.body, "no such path upstream");
}

// An https:// upstream is asked over HTTP/1.1, by the own client's TLS
// (which verifies it against the :ca-file given).
TEST_F(ProxyTest, PassesTheRequestUpToAnHttpsUpstream) {
  for (long version : {CURL_HTTP_VERSION_1_1, CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE}) {
    CurlResult r = curl_do(app_->url("/tls/echo?q=1"), [&](CURL* c) {
      curl_easy_setopt(c, CURLOPT_HTTP_VERSION, version);
      curl_easy_setopt(c, CURLOPT_POSTFIELDS, "over tls");
    });
    EXPECT_EQ(r.status, 201) << r.body;
    EXPECT_TRUE(r.body.starts_with("POST /echo?q=1\n")) << r.body;
    EXPECT_TRUE(r.body.ends_with("\n\nover tls")) << r.body;
    EXPECT_NE(r.body.find("\nx-forwarded-proto: http\n"), std::string::npos) << r.body;
    EXPECT_EQ(response_header(r, "x-upstream-protocol"), "1.1");
  }
}

// The body comes back as the upstream sends it, not once it has all come.
TEST_F(ProxyTest, StreamsTheAnswerAsItComes) {
  std::string seen;
  std::chrono::steady_clock::time_point first;
  CurlResult r = curl_do(app_->url("/drip"), [&](CURL* c) {
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &seen);
    curl_easy_setopt(
        c, CURLOPT_WRITEFUNCTION, +[](char* p, size_t sz, size_t n, void* ud) {
          static_cast<std::string*>(ud)->append(p, sz * n);
          return sz * n;
        });
    curl_easy_setopt(
        c, CURLOPT_XFERINFOFUNCTION,
        +[](void* ud, curl_off_t, curl_off_t now, curl_off_t, curl_off_t) {
          auto* first = static_cast<std::chrono::steady_clock::time_point*>(ud);
          if (now > 0 && first->time_since_epoch().count() == 0) {
            *first = std::chrono::steady_clock::now();
          }
          return 0;
        });
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, &first);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
  });
  auto end = std::chrono::steady_clock::now();
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(seen, "one\ntwo\n");
  EXPECT_GE(end - first, std::chrono::milliseconds(200)) << "the body came all at once";
}

// An upstream that is down answers 502, one that is slow 504; the log says
// which request and why.
TEST_F(ProxyTest, AnUpstreamDownOrSlowIsA502OrA504) {
  CurlResult slow = curl_get(app_->url("/api/hold"), CURL_HTTP_VERSION_1_1);
  EXPECT_EQ(slow.status, 504);
  EXPECT_EQ(slow.body, "upstream timed out\n");
  RefusedPort refused;
  setenv("UPSTREAM", ("http://127.0.0.1:" + std::to_string(refused.port())).c_str(), 1);
  ServeProcess orphan({write_app("proxy_orphan.lisp", kApp)});
  unsetenv("UPSTREAM");
  ASSERT_NE(orphan.port(), 0) << orphan.output();
  CurlResult down = curl_get(orphan.url("/x"), CURL_HTTP_VERSION_1_1);
  EXPECT_EQ(down.status, 502);
  EXPECT_EQ(down.body, "upstream failed\n");
  std::string logged = "proxied to http://127.0.0.1:" + std::to_string(refused.port()) + "/x: ";
  orphan.read_until([&] { return orphan.output().find(logged) != std::string::npos; }, 5000);
  EXPECT_NE(orphan.output().find(logged), std::string::npos) << orphan.output();
}

// A body that streams in goes up as it comes: the upstream has its first
// megabyte before the client sends the rest. Without a length it goes up
// chunked; with one (over :buffered-body-limit), with that length.
constexpr uint64_t kUploadSize = 4 << 20, kUploadFirst = 1 << 20;

TEST_F(ProxyTest, StreamsTheRequestBodyUpAsItComes) {
  struct Upload {
    std::atomic<uint64_t>* seen;
    uint64_t sent = 0;
    bool upstream_had_part = false;
  };
  for (long version : {CURL_HTTP_VERSION_1_1, CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE}) {
    for (bool with_length : {false, true}) {
      upstream_.body_seen = 0;
      Upload up{&upstream_.body_seen};
      curl_slist* headers = curl_slist_append(nullptr, "Expect:");
      CurlResult r = curl_do(app_->url("/count"), [&](CURL* c) {
        curl_easy_setopt(c, CURLOPT_HTTP_VERSION, version);
        curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, "POST");
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
        curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, with_length ? curl_off_t{kUploadSize} : -1);
        curl_easy_setopt(c, CURLOPT_READDATA, &up);
        curl_easy_setopt(
            c, CURLOPT_READFUNCTION, +[](char* out, size_t size, size_t n, void* ud) -> size_t {
              auto* up = static_cast<Upload*>(ud);
              if (up->sent == kUploadFirst) {
                // The rest only once the upstream has some of the body.
                for (int i = 0; i < 500 && *up->seen == 0; ++i) {
                  std::this_thread::sleep_for(std::chrono::milliseconds(10));
                }
                up->upstream_had_part = *up->seen > 0;
              }
              uint64_t room = std::min<uint64_t>(size * n, kUploadSize - up->sent);
              if (up->sent < kUploadFirst) {
                room = std::min(room, kUploadFirst - up->sent);
              }
              memset(out, 'u', room);
              up->sent += room;
              return room;
            });
      });
      curl_slist_free_all(headers);
      EXPECT_EQ(r.status, 200) << r.body;
      EXPECT_EQ(r.body,
                std::to_string(kUploadSize) + (with_length ? " length 4194304" : " chunked"))
          << version;
      EXPECT_TRUE(up.upstream_had_part) << "the body went up whole, version " << version;
    }
  }
}

// A client that leaves mid-upload takes the upstream request with it:
// the upstream sees its client (the proxy) go, and the proxy serves on.
TEST_F(ProxyTest, AClientLeavingMidUploadEndsTheUpstreamRequest) {
  struct Upload {
    uint64_t sent = 0;
  } up;
  curl_slist* headers = curl_slist_append(nullptr, "Expect:");
  CurlResult r = curl_do(app_->url("/count"), [&](CURL* c) {
    curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, "POST");
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(c, CURLOPT_READDATA, &up);
    curl_easy_setopt(
        c, CURLOPT_READFUNCTION, +[](char* out, size_t size, size_t n, void* ud) -> size_t {
          auto* up = static_cast<Upload*>(ud);
          if (up->sent >= (2 << 20)) {
            std::this_thread::sleep_for(std::chrono::milliseconds(200));  // let it go up
            return CURL_READFUNC_ABORT;
          }
          memset(out, 'u', size * n);
          up->sent += size * n;
          return size * n;
        });
  });
  curl_slist_free_all(headers);
  EXPECT_EQ(r.code, CURLE_ABORTED_BY_CALLBACK);
  EXPECT_TRUE(eventually([&] { return upstream_.count_cancelled.load() == 1; }))
      << "the upstream request went on";
  EXPECT_GT(upstream_.body_seen.load(), 0u);
  EXPECT_EQ(curl_get(app_->url("/echo"), CURL_HTTP_VERSION_1_1).status, 201);
}

}  // namespace
}  // namespace valk::test
