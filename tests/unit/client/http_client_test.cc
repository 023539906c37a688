// http/request and its shorthands, against a real server (libvalk's, with
// native handlers) over HTTP/1.1, h2c and h2 over TLS. Each test runs with
// the collector as usual and in stress mode (the parameter), since a
// transfer's promise and result are made from loop callbacks.
#include <gtest/gtest.h>
#include <sys/resource.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <mutex>
#include <string>
#include <vector>

#include "../net/net_test_util.h"
#include "deflated.h"
#include "lisp/isolate.h"
#include "lisp/printer.h"

namespace valk::test {
namespace {

using lisp::EvalResult;
using lisp::Isolate;
using lisp::IsolateOptions;

// Paths the test server answers:
//   /echo        the request body back; x-method, x-content-type, x-accept
//                and x-user-agent say what came with it
//   /headers     repeated headers and two cookies
//   /binary      bytes that are not UTF-8
//   /status/N    status N
//   /redirect    302 to /echo;  /loop  302 to itself
//   /to-tls      307 to the TLS server's /echo
//   /big         100 000 bytes
//   /hold        no answer; held_ counts them, cancelled_ their cancellations
// The soft limit on this process's descriptors raised to the hard one (as
// valk serve does), for tests that hold hundreds of connections at both
// ends; false if even the hard one is too low for that.
bool raise_descriptor_limit() {
  rlimit l;
  getrlimit(RLIMIT_NOFILE, &l);
  l.rlim_cur = l.rlim_max;
  return setrlimit(RLIMIT_NOFILE, &l) == 0 && l.rlim_cur >= 2048;
}

class HttpClientTest : public ::testing::TestWithParam<bool> {
 protected:
  HttpClientTest()
      : plain_(base_options(), [this](Request& req, Responder res) { handle(req, res); }),
        tls_(tls_options(), [this](Request& req, Responder res) { handle(req, res); }),
        iso_(options(GetParam())) {}

  ~HttpClientTest() override {
    std::lock_guard<std::mutex> lock(mu_);
    for (const Responder& r : held_responders_) {
      r.respond(200, {}, "late");
    }
  }

  static IsolateOptions options(bool stress) {
    IsolateOptions o;
    o.gc_stress = stress;
    return o;
  }

  void handle(Request& req, Responder res) {
    std::string path(req.path());
    if (path == "/echo") {
      Headers h = {{"content-type", "application/json"},
                   {"x-method", std::string(req.method())},
                   {"x-content-type", std::string(req.header("content-type"))},
                   {"x-accept", std::string(req.header("accept"))},
                   {"x-user-agent", std::string(req.header("user-agent"))},
                   {"x-test", std::string(req.header("x-test"))},
                   {"x-authorization", "[" + std::string(req.header("authorization")) + "]"}};
      auto body = std::make_shared<std::string>();
      req.read_body([res, h, body](std::string_view chunk, bool last) {
        body->append(chunk);
        if (last) {
          res.respond(200, h, *body);
        }
      });
      if (!req.has_body()) {
        res.respond(200, h, "");
      }
    } else if (path == "/headers") {
      res.respond(200,
                  {{"x-multi", "a"},
                   {"x-multi", "b"},
                   {"set-cookie", "a=1; Expires=Wed, 21 Oct 2026 07:28:00 GMT"},
                   {"set-cookie", "b=2"}},
                  "ok");
    } else if (path == "/gzipped") {
      res.respond(200, {{"content-encoding", "gzip"}, {"content-type", "text/plain"}},
                  deflated("squeezed, then unsqueezed", 15 + 16));
    } else if (path == "/binary") {
      res.respond(200, {{"content-type", "application/octet-stream"}},
                  std::string("\xff\xfe\0a", 4));
    } else if (path.starts_with("/status/")) {
      res.respond(std::atoi(path.c_str() + 8), {}, "status");
    } else if (path == "/redirect") {
      res.respond(302, {{"location", "/echo"}}, "");
    } else if (path == "/to-tls") {
      res.respond(307, {{"location", tls_.url("/echo", true)}}, "");
    } else if (path == "/loop") {
      res.respond(302, {{"location", "/loop"}}, "");
    } else if (path == "/big") {
      res.respond(200, {}, std::string(100000, 'x'));
    } else if (path == "/hold") {
      req.on_cancel([this] { cancelled_++; });
      std::lock_guard<std::mutex> lock(mu_);
      held_responders_.push_back(res);
      held_++;
    } else {
      res.respond(404, {}, "not found");
    }
  }

  // What `src` evaluates to, printed; or "ERROR " and the error's report.
  std::string eval(const std::string& src) {
    EvalResult r = iso_.eval_string(src, "test.lisp");
    if (!r.ok) {
      return "ERROR " + iso_.describe(r.value);
    }
    return lisp::print_str(r.value, true);
  }

  // `src` with {plain} and {tls} replaced by the two servers' base URLs and
  // {ca} by the development CA's path.
  std::string expand(std::string src) {
    auto replace = [&](const std::string& from, const std::string& to) {
      for (size_t at = src.find(from); at != std::string::npos; at = src.find(from, at)) {
        src.replace(at, from.size(), to);
        at += to.size();
      }
    };
    replace("{plain}", plain_.url(""));
    replace("{tls}", tls_.url("", true));
    replace("{ca}", cert_path("ca.crt"));
    return src;
  }

  std::string run(const std::string& src) { return eval(expand(src)); }

  // Runs `iso`'s loop until the server holds `n` requests of /hold.
  void wait_held(Isolate& iso, int n) {
    for (int i = 0; i < 500 && held_.load() < n; ++i) {
      ASSERT_TRUE(iso.eval_string("(await (sleep 10))", "wait.lisp").ok);
    }
    ASSERT_EQ(held_.load(), n);
  }

  TestServer plain_;
  TestServer tls_;
  Isolate iso_;
  std::mutex mu_;
  std::vector<Responder> held_responders_;
  std::atomic<int> held_{0};
  std::atomic<int> cancelled_{0};
};

TEST_P(HttpClientTest, GetOverEachProtocol) {
  EXPECT_EQ(
      run("(let [r (await (http/get \"{plain}/echo\" {:headers {\"x-test\" \"yes\"}}))]"
          "  [(:status r) (:protocol r) (get (:headers r) \"x-method\")"
          "   (get (:headers r) \"x-test\") (starts-with? (get (:headers r) \"x-user-agent\") "
          "\"valk/\")])"),
      "[200 \"HTTP/1.1\" \"GET\" \"yes\" true]");
  EXPECT_EQ(run("(let [r (await (http/get \"{plain}/echo\" {:version :http2}))]"
                "  [(:status r) (:protocol r)])"),
            "[200 \"HTTP/2\"]");
  EXPECT_EQ(run("(let [r (await (http/get \"{tls}/echo\" {:ca-file \"{ca}\"}))]"
                "  [(:status r) (:protocol r) (:url r)])"),
            expand("[200 \"HTTP/2\" \"{tls}/echo\"]"));
  EXPECT_EQ(
      run("(:protocol (await (http/get \"{tls}/echo\" {:ca-file \"{ca}\" :version :http1})))"),
      "\"HTTP/1.1\"");
}

TEST_P(HttpClientTest, SendsBodiesAndReadsJson) {
  EXPECT_EQ(
      run("(let [r (await (http/post \"{plain}/echo\" {:json {:a 1 :b [true nil]} :as :json}))]"
          "  [(:body r) (get (:headers r) \"x-content-type\") (get (:headers r) "
          "\"x-accept\")])"),
      "[{:a 1, :b [true nil]} \"application/json\" \"application/json\"]");
  // Over h2 as well, with a method of its own and a body of bytes.
  EXPECT_EQ(run("(let [r (await (http/request {:url \"{tls}/echo\" :ca-file \"{ca}\" :method :put"
                "                              :body (string->bytes \"abc\") :as :bytes}))]"
                "  [(get (:headers r) \"x-method\") (bytes->string (:body r)) (:protocol r)])"),
            "[\"PUT\" \"abc\" \"HTTP/2\"]");
  EXPECT_EQ(
      run("(let [r (await (http/patch \"{plain}/echo\" {:body \"x=1\" :headers {:content-type "
          "\"text/plain\"}}))]"
          "  [(get (:headers r) \"x-method\") (get (:headers r) \"x-content-type\") (:body "
          "r)])"),
      "[\"PATCH\" \"text/plain\" \"x=1\"]");
  EXPECT_EQ(run("(let [r (await (http/head \"{plain}/big\"))] [(:status r) (:body r)])"),
            "[200 \"\"]");
  EXPECT_EQ(run("(get (:headers (await (http/delete \"{plain}/echo\"))) \"x-method\")"),
            "\"DELETE\"");
  EXPECT_EQ(run("(get (:headers (await (http/post \"{plain}/echo\"))) \"x-method\")"), "\"POST\"");
}

TEST_P(HttpClientTest, ResponseHeadersAndBodies) {
  EXPECT_EQ(run("(let [h (:headers (await (http/get \"{plain}/headers\")))]"
                "  [(get h \"x-multi\") (get h \"set-cookie\")])"),
            "[\"a, b\" \"a=1; Expires=Wed, 21 Oct 2026 07:28:00 GMT\\nb=2\"]");
  // Decoded as it came: gzip and deflate are asked for (and brotli and
  // zstd by curl, over TLS and h2c).
  // The decoded body's content-encoding and content-length are gone.
  for (const char* opts : {"{}", "{:ca-file \"{ca}\"}"}) {
    std::string base = opts[1] == '}' ? "{plain}" : "{tls}";
    EXPECT_EQ(run("(let [r (await (http/get \"" + base + "/gzipped\" " + opts +
                  "))]"
                  "  [(:body r) (get (:headers r) \"content-encoding\")"
                  "   (get (:headers r) \"content-length\") (get (:headers r) \"content-type\")])"),
              "[\"squeezed, then unsqueezed\" nil nil \"text/plain\"]")
        << base;
    // Asked for by the app, the encoding is the app's to undo.
    EXPECT_EQ(
        run("(let [r (await (http/get \"" + base + "/gzipped\" (assoc " + opts +
            " :headers {\"accept-encoding\" \"gzip\"} :as :bytes)))]"
            "  [(get (:headers r) \"content-encoding\") (bytes->string (gunzip (:body r)))])"),
        "[\"gzip\" \"squeezed, then unsqueezed\"]")
        << base;
  }
  EXPECT_EQ(run("(let [b (:body (await (http/get \"{plain}/binary\")))] [(bytes? b) (count b)])"),
            "[true 4]");
  EXPECT_EQ(run("(try (await (http/get \"{plain}/binary\" {:as :text}))"
                "  (catch e (:kind (error-data e))))"),
            ":failed");
  EXPECT_EQ(run("(try (await (http/get \"{plain}/echo\" {:body \"{\\\"a\\\":\" :as :json}))"
                "  (catch e [(:type (error-data e)) (:line (error-data e))]))"),
            "[:json-error 1]");
  // Statuses are answers, not errors.
  EXPECT_EQ(run("(mapv (fn [s] (:status (await (http/get (str \"{plain}/status/\" s))))) [404 500 "
                "503])"),
            "[404 500 503]");
}

TEST_P(HttpClientTest, FollowsRedirectsWithinALimit) {
  EXPECT_EQ(run("(let [r (await (http/get \"{plain}/redirect\"))] [(:status r) (:url r)])"),
            expand("[200 \"{plain}/echo\"]"));
  EXPECT_EQ(run("(let [r (await (http/get \"{plain}/redirect\" {:max-redirects 0}))]"
                "  [(:status r) (get (:headers r) \"location\")])"),
            "[302 \"/echo\"]");
  EXPECT_EQ(run("(try (await (http/get \"{plain}/loop\")) (catch e (:kind (error-data e))))"),
            ":redirects");
  // From cleartext HTTP/1.1 (the own client) to TLS (curl's), with the
  // method and body of a 307; the credentials stay with their origin.
  EXPECT_EQ(run("(let [r (await (http/put \"{plain}/to-tls\" {:ca-file \"{ca}\" :body \"b\""
                "                  :headers {\"authorization\" \"secret\" \"x-test\" \"t\"}}))"
                "      h (:headers r)]"
                "  [(:status r) (:url r) (:protocol r) (get h \"x-method\") (:body r)"
                "   (get h \"x-authorization\") (get h \"x-test\")])"),
            expand("[200 \"{tls}/echo\" \"HTTP/2\" \"PUT\" \"b\" \"[]\" \"t\"]"));
  EXPECT_EQ(run("(get (:headers (await (http/get \"{plain}/redirect\" {:headers {\"authorization\" "
                "\"kept\"}}))) \"x-authorization\")"),
            "\"[kept]\"");
}

TEST_P(HttpClientTest, FailuresAreHttpErrorsOfAKind) {
  RefusedPort refused;
  uint16_t closed = refused.port();
  EXPECT_EQ(run("(try (await (http/get \"http://127.0.0.1:" + std::to_string(closed) +
                "/\")) (catch e [(:type (error-data e)) (:kind (error-data e))]))"),
            "[:http-error :connect]");
  // The development CA is not the system's.
  EXPECT_EQ(run("(try (await (http/get \"{tls}/echo\")) (catch e (:kind (error-data e))))"),
            ":tls");
  EXPECT_EQ(run("(:status (await (http/get \"{tls}/echo\" {:insecure true})))"), "200");
  EXPECT_EQ(run("(try (await (http/get \"{plain}/big\" {:max-body 99999}))"
                "  (catch e [(:kind (error-data e)) (error-message e)]))"),
            expand("[:too-large \"http/request {plain}/big: the body is larger than :max-body "
                   "(99999 bytes)\"]"));
  EXPECT_EQ(run("(count (:body (await (http/get \"{plain}/big\" {:max-body 100000}))))"), "100000");
  auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(run("(try (await (http/get \"{plain}/hold\" {:timeout-ms 200}))"
                "  (catch e (:kind (error-data e))))"),
            ":timeout");
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(3));
}

TEST_P(HttpClientTest, BadArgumentsRaiseAtTheCall) {
  for (const char* src :
       {"(http/get \"file:///etc/passwd\")", "(http/get \"not a url\")",
        "(http/get \"{plain}/\" {:timeout 5})", "(http/get \"{plain}/\" {:as :xml})",
        "(http/get \"{plain}/\" {:headers {\"x\" \"a\\r\\nInjected: 1\"}})",
        "(http/post \"{plain}/\" {:body \"a\" :json 1})", "(http/request {:method :get})",
        "(http/get \"{plain}/\" {:max-body -1})"}) {
    std::string out = run(src);
    EXPECT_TRUE(out.starts_with("ERROR ")) << src << " gave " << out;
    EXPECT_NE(out.find("http/request"), std::string::npos) << out;
  }
  EXPECT_NE(run("(http/get \"{plain}/\" {:timeout 5})").find("unknown option :timeout"),
            std::string::npos);
}

TEST_P(HttpClientTest, ConcurrentRequestsShareOneHttp2Connection) {
  uint64_t before = tls_.server().counters()[Counter::kConnectionsAccepted];
  EXPECT_EQ(run("(let [ps (mapv (fn [i] (http/get (str \"{tls}/status/\" (+ 200 (mod i 2)))"
                "                           {:ca-file \"{ca}\"}))"
                "             (range 100))]"
                "  (frequencies (map :status (await (all ps)))))"),
            "{200 50, 201 50}");
  EXPECT_EQ(tls_.server().counters()[Counter::kConnectionsAccepted] - before, 1u);
  // Kept for the next requests.
  EXPECT_EQ(run("(:status (await (http/get \"{tls}/echo\" {:ca-file \"{ca}\"})))"), "200");
  EXPECT_EQ(tls_.server().counters()[Counter::kConnectionsAccepted] - before, 1u);
}

// 512 run at once to one origin on cleartext HTTP/1.1 (64 through curl);
// the rest wait, in order, and leave the wait when cancelled. Other
// origins do not wait for them.
TEST_P(HttpClientTest, BeyondWhatRunsAtOnceRequestsWait) {
  if (!raise_descriptor_limit()) {  // 512 connections, each end in this process
    GTEST_SKIP() << "fewer than 2048 descriptors allowed";
  }
  EXPECT_EQ(run("(def held (mapv (fn [_] (http/get \"{plain}/hold\")) (range 600)))"), "held");
  wait_held(iso_, 512);
  run("(await (sleep 50))");
  EXPECT_EQ(held_.load(), 512);
  EXPECT_EQ(run("(:status (await (http/get \"{tls}/echo\" {:ca-file \"{ca}\"})))"), "200");
  EXPECT_EQ(run("(cancel (last held)) (:type (error-data (try (await (last held)) (catch e e))))"),
            ":cancelled");
  EXPECT_EQ(run("(cancel (first held)) (realized? (first held))"), "true");
  wait_held(iso_, 513);  // a waiting one took its place
  uint64_t before = plain_.server().counters()[Counter::kConnectionsAccepted];
  EXPECT_EQ(run("(mapv (fn [p] (cancel p)) held)"
                "(frequencies (map :status (await (all (mapv (fn [_] (http/get \"{plain}/echo\"))"
                "                                            (range 1000))))))"),
            "{200 1000}");
  EXPECT_LE(plain_.server().counters()[Counter::kConnectionsAccepted] - before, 512u);
  // Through curl (TLS), 64 at once.
  EXPECT_EQ(run("(def tls-held (mapv (fn [_] (http/get \"{tls}/hold\" {:ca-file \"{ca}\"}))"
                "                    (range 100)))"),
            "tls-held");
  wait_held(iso_, 513 + 64);
  run("(await (sleep 50))");
  EXPECT_EQ(held_.load(), 513 + 64);
  run("(doseq [p tls-held] (cancel p))");
}

// :timeout-ms counts from the call, the wait for a connection included.
TEST_P(HttpClientTest, ATimeoutBoundsTheWaitForAConnection) {
  if (!raise_descriptor_limit()) {
    GTEST_SKIP() << "fewer than 2048 descriptors allowed";
  }
  EXPECT_EQ(run("(def held (mapv (fn [_] (http/get \"{plain}/hold\")) (range 512)))"), "held");
  wait_held(iso_, 512);
  auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(run("(try (await (http/get \"{plain}/echo\" {:timeout-ms 200}))"
                "  (catch e [(:kind (error-data e)) (error-message e)]))"),
            expand("[:timeout \"http/request {plain}/echo: no answer within 200 ms\"]"));
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(2));
  EXPECT_EQ(held_.load(), 512);
  run("(doseq [p held] (cancel p))");
}

TEST_P(HttpClientTest, CancellingAbortsTheTransfer) {
  EXPECT_EQ(run("(def p (http/get \"{plain}/hold\"))"), "p");
  wait_held(iso_, 1);
  EXPECT_EQ(run("(cancel p) (try (await p) (catch e (:type (error-data e))))"), ":cancelled");
  // The server sees the connection go.
  EXPECT_TRUE(eventually([&] { return cancelled_.load() == 1; }));
  // Over h2 the stream is reset, though nothing else uses the connection
  // (curl 7.88 to 8.14 would hold the RST_STREAM back).
  EXPECT_EQ(run("(def p (http/get \"{tls}/hold\" {:ca-file \"{ca}\"}))"), "p");
  wait_held(iso_, 2);
  EXPECT_EQ(run("(cancel p) (try (await p) (catch e (:type (error-data e))))"), ":cancelled");
  EXPECT_TRUE(eventually([&] { return cancelled_.load() == 2; }));
}

// A fiber cancelled while it awaits a request it made, alone, takes the
// request with it; a request another fiber made, or another awaits too,
// goes on.
TEST_P(HttpClientTest, ACancelledFiberTakesItsOwnRequestWithIt) {
  EXPECT_EQ(run("(def f (spawn (fn [] (await (http/get \"{plain}/hold\")))))"), "f");
  wait_held(iso_, 1);
  EXPECT_EQ(run("(cancel f) (:type (error-data (try (await f) (catch e e))))"), ":cancelled");
  EXPECT_TRUE(eventually([&] { return cancelled_.load() == 1; }));
  // Made by another fiber (the top level).
  EXPECT_EQ(run("(def p (http/get \"{plain}/hold\")) (def g (spawn (fn [] (await p)))) :ok"),
            ":ok");
  wait_held(iso_, 2);
  // Awaited by another fiber too.
  EXPECT_EQ(run("(def shared (atom nil))"
                "(def h (spawn (fn [] (let [q (http/get \"{plain}/hold\")]"
                "                       (reset! shared q)"
                "                       (await q)))))"
                "(await (sleep 10))"
                "(def k (spawn (fn [] (await @shared)))) :ok"),
            ":ok");
  wait_held(iso_, 3);
  EXPECT_EQ(run("(cancel g) (cancel h) (await (sleep 100)) [(realized? p) (realized? @shared)]"),
            "[false false]");
  EXPECT_EQ(cancelled_.load(), 1);
}

// A timeout around a request the fiber made, and nothing else awaits,
// stops the request when it runs out.
TEST_P(HttpClientTest, ATimeoutStopsTheRequestItBounds) {
  // The fiber makes the request, waits until the test has seen it reach
  // the server, then bounds it with a short timeout.
  EXPECT_EQ(run("(def reached (atom false))"
                "(def f (spawn (fn [] (let [p (http/get \"{plain}/hold\")]"
                "                       (loop [] (when-not @reached (await (sleep 5)) (recur)))"
                "                       (try (await (timeout 20 p))"
                "                         (catch e (:type (error-data e))))))))"
                ":ok"),
            ":ok");
  wait_held(iso_, 1);
  EXPECT_EQ(run("(reset! reached true) (await f)"), ":timeout");
  EXPECT_TRUE(eventually([&] { return cancelled_.load() == 1; }));
  // Awaited elsewhere too, it goes on.
  EXPECT_EQ(run("(def p (http/get \"{plain}/hold\"))"
                "(def g (spawn (fn [] (await p))))"
                "(try (await (timeout 100 p)) (catch e (:type (error-data e))))"),
            ":timeout");
  run("(await (sleep 100))");
  EXPECT_EQ(run("(realized? p)"), "false");
  EXPECT_EQ(cancelled_.load(), 1);
}

TEST_P(HttpClientTest, AnIsolateEndsWithTransfersInFlight) {
  auto iso = std::make_unique<Isolate>(options(GetParam()));
  EvalResult r = iso->eval_string(
      expand("(def p (http/get \"{plain}/hold\")) (def q (http/get \"{tls}/echo\" {:ca-file "
             "\"{ca}\"}))"),
      "test.lisp");
  ASSERT_TRUE(r.ok) << iso->describe(r.value);
  wait_held(*iso, 1);
  iso.reset();  // under ASan: nothing leaks, nothing is touched after
  EXPECT_TRUE(eventually([&] { return cancelled_.load() == 1; }));
}

INSTANTIATE_TEST_SUITE_P(Collector, HttpClientTest, ::testing::Values(false, true),
                         [](const auto& info) { return info.param ? "Stress" : "Normal"; });

// `valk run` ends once its last transfer has, though the connection is
// kept open for reuse.
TEST(HttpClientScript, EndsWhenTheTransfersHave) {
  TestServer s(base_options(), hello_handler());
  std::string script = testing::TempDir() + "/http_client_script.lisp";
  std::ofstream(script) << "(println (:body (await (http/get \"" << s.url("/") << "\"))))\n";
  auto start = std::chrono::steady_clock::now();
  std::string cmd = "timeout 10 " + std::string(VALK_BINARY) + " run " + script + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  ASSERT_NE(p, nullptr);
  char buf[256] = {};
  size_t n = fread(buf, 1, sizeof(buf) - 1, p);
  int status = pclose(p);
  EXPECT_EQ(std::string(buf, n), "Hello, World!\n");
  EXPECT_EQ(status, 0);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
}

}  // namespace
}  // namespace valk::test
