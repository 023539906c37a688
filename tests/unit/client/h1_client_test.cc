// http/request's own HTTP/1.1 client (h1_client.h) against a server that
// answers with exact bytes, so that each framing, a kept connection the
// server has closed, and a broken response can be made on purpose. The
// common behaviour of http/request (options, errors, redirects, limits)
// is in http_client_test.cc, which runs its http:// cases through this
// client too.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "../net/net_test_util.h"
#include "deflated.h"
#include "lisp/h1_client.h"
#include "lisp/isolate.h"
#include "lisp/printer.h"

namespace valk::test {
namespace {

using lisp::EvalResult;
using lisp::Isolate;

// A server on 127.0.0.1 that reads each request (head, and a body of
// Content-Length bytes) and answers with what `answer` returns for it:
// the bytes to send, and whether to close the connection after them. An
// empty answer closes the connection without one.
class ScriptedServer {
 public:
  struct Answer {
    std::string bytes;
    bool close = false;
  };
  // `conn`: the connection's number (from 0), `nth`: the request's on it.
  using Script = std::function<Answer(const std::string& request, int conn, int nth)>;

  explicit ScriptedServer(Script script) : script_(std::move(script)) {
    listener_ = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(listener_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    bind(listener_, reinterpret_cast<sockaddr*>(&a), sizeof a);
    listen(listener_, 64);
    getsockname(listener_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    acceptor_ = std::thread([this] { accept_loop(); });
  }

  ~ScriptedServer() {
    shutdown(listener_, SHUT_RDWR);
    close(listener_);
    acceptor_.join();
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (int fd : open_) {
        shutdown(fd, SHUT_RDWR);  // a kept connection's thread waits to read
      }
    }
    for (std::thread& t : conns_) {
      t.join();
    }
  }

  std::string url(const std::string& path) const {
    return "http://127.0.0.1:" + std::to_string(port_) + path;
  }
  uint16_t port() const { return port_; }
  int connections() const { return accepted_.load(); }
  size_t open_connections() {
    std::lock_guard<std::mutex> lock(mu_);
    return open_.size();
  }
  std::vector<std::string> requests() {
    std::lock_guard<std::mutex> lock(mu_);
    return requests_;
  }

 private:
  void accept_loop() {
    for (;;) {
      int fd = accept(listener_, nullptr, nullptr);
      if (fd < 0) {
        return;
      }
      int n = accepted_++;
      {
        std::lock_guard<std::mutex> lock(mu_);
        open_.push_back(fd);
      }
      conns_.emplace_back([this, fd, n] { serve(fd, n); });
    }
  }

  void serve(int fd, int conn) {
    std::string pending;
    for (int nth = 0;; ++nth) {
      std::string request = read_request(fd, &pending);
      if (request.empty()) {
        break;
      }
      {
        std::lock_guard<std::mutex> lock(mu_);
        requests_.push_back(request);
      }
      Answer a = script_(request, conn, nth);
      if (a.bytes.empty() || !send_all(fd, a.bytes) || a.close) {
        break;
      }
    }
    std::lock_guard<std::mutex> lock(mu_);
    std::erase(open_, fd);
    close(fd);
  }

  // One request from `fd` (what came after it stays in *pending), or ""
  // when the client closed first.
  static std::string read_request(int fd, std::string* pending) {
    auto whole = [](const std::string& d) {
      size_t end = d.find("\r\n\r\n");
      if (end == std::string::npos) {
        return false;
      }
      size_t at = d.find("Content-Length: ");
      size_t length = at != std::string::npos && at < end ? std::stoul(d.substr(at + 16)) : 0;
      return d.size() >= end + 4 + length;
    };
    bool closed = false;
    while (!whole(*pending) && !closed) {
      *pending += read_until(fd, whole, 5000, &closed);
      if (!closed && !whole(*pending)) {
        return "";  // nothing came for five seconds
      }
    }
    if (!whole(*pending)) {
      return "";
    }
    size_t end = pending->find("\r\n\r\n");
    size_t at = pending->find("Content-Length: ");
    size_t length = at != std::string::npos && at < end ? std::stoul(pending->substr(at + 16)) : 0;
    std::string request = pending->substr(0, end + 4 + length);
    pending->erase(0, request.size());
    return request;
  }

  Script script_;
  int listener_;
  uint16_t port_;
  std::thread acceptor_;
  std::vector<std::thread> conns_;
  std::atomic<int> accepted_{0};
  std::mutex mu_;
  std::vector<std::string> requests_;
  std::vector<int> open_;  // connections not yet closed
};

ScriptedServer::Answer ok(const std::string& body, const std::string& headers = "") {
  return {"HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(body.size()) + "\r\n" + headers +
          "\r\n" + body};
}

class H1ClientTest : public ::testing::TestWithParam<bool> {
 protected:
  H1ClientTest() : iso_(options()) {}

  lisp::IsolateOptions options() {
    lisp::IsolateOptions o;
    o.gc_stress = GetParam();
    return o;
  }

  // What `src` evaluates to, printed, with {url} replaced by the server's
  // base URL; or "ERROR " and the error's report.
  std::string run(ScriptedServer& s, std::string src) {
    for (size_t at = src.find("{url}"); at != std::string::npos; at = src.find("{url}")) {
      src.replace(at, 5, s.url(""));
    }
    EvalResult r = iso_.eval_string(src, "test.lisp");
    if (!r.ok) {
      return "ERROR " + iso_.describe(r.value);
    }
    return lisp::print_str(r.value, true);
  }

  Isolate iso_;
};

TEST_P(H1ClientTest, KeepsOneConnectionForRequestsInTurn) {
  ScriptedServer s([](const std::string&, int, int nth) { return ok(std::to_string(nth)); });
  EXPECT_EQ(run(s, "(mapv (fn [_] (:body (await (http/get \"{url}/a/b?x=1&y=%20\")))) (range 5))"),
            "[\"0\" \"1\" \"2\" \"3\" \"4\"]");
  EXPECT_EQ(s.connections(), 1);
  EXPECT_EQ(iso_.h1_client().connections(), 1u);
  std::string first = s.requests().at(0);
  EXPECT_TRUE(first.starts_with("GET /a/b?x=1&y=%20 HTTP/1.1\r\n")) << first;
  EXPECT_NE(first.find("\r\nHost: 127.0.0.1:" + std::to_string(s.port()) + "\r\n"),
            std::string::npos)
      << first;
  EXPECT_NE(first.find("\r\nUser-Agent: valk/"), std::string::npos) << first;
  EXPECT_NE(first.find("\r\nAccept-Encoding: gzip, deflate\r\n"), std::string::npos) << first;
}

TEST_P(H1ClientTest, ReadsEveryFraming) {
  ScriptedServer s([](const std::string& req, int, int) -> ScriptedServer::Answer {
    if (req.starts_with("GET /chunked ")) {
      return {
          "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
          "3\r\nabc\r\n4\r\ndefg\r\n0\r\nX-Trailer: t\r\n\r\n"};
    }
    if (req.starts_with("GET /to-the-end ")) {
      return {"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the close", true};
    }
    if (req.starts_with("GET /interim ")) {
      return {
          "HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\n"
          // An interim response has no body, whatever it says (RFC 9110,
          // 15.2): the bytes after its head are the next response.
          "HTTP/1.1 100 Continue\r\nContent-Length: 5\r\n\r\n"
          "HTTP/1.1 201 Created\r\nContent-Length: 4\r\n\r\nmade"};
    }
    if (req.starts_with("HEAD /head ")) {
      return {"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n"};
    }
    if (req.starts_with("GET /gzip ")) {
      std::string body = deflated("squeezed, then unsqueezed", 15 + 16);
      return ok(body, "Content-Encoding: gzip\r\n");
    }
    if (req.starts_with("GET /deflate ")) {
      return ok(deflated("deflated", 15), "Content-Encoding: deflate\r\n");
    }
    if (req.starts_with("GET /empty ")) {
      return {"HTTP/1.1 204 No Content\r\n\r\n"};
    }
    return {"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"};
  });
  EXPECT_EQ(run(s, "(:body (await (http/get \"{url}/chunked\")))"), "\"abcdefg\"");
  EXPECT_EQ(run(s, "(let [r (await (http/get \"{url}/to-the-end\"))] [(:body r) (:protocol r)])"),
            "[\"until the close\" \"HTTP/1.0\"]");
  for (const char* as : {"", " {:as :stream}"}) {
    EXPECT_EQ(run(s, std::string("(let [r (await (http/get \"{url}/interim\"") + as +
                         "))] [(:status r) (or (:body r) (read-body r))])"),
              "[201 \"made\"]")
        << as;
  }
  EXPECT_EQ(run(s, "(let [r (await (http/head \"{url}/head\"))] [(:status r) (:body r)])"),
            "[200 \"\"]");
  // After the HEAD, the connection still reads the next answer right.
  EXPECT_EQ(run(s, "(:body (await (http/get \"{url}/gzip\")))"), "\"squeezed, then unsqueezed\"");
  EXPECT_EQ(run(s, "(:body (await (http/get \"{url}/deflate\")))"), "\"deflated\"");
  EXPECT_EQ(run(s, "(let [r (await (http/get \"{url}/empty\"))] [(:status r) (:body r)])"),
            "[204 \"\"]");
  // A body read to the connection's end leaves no connection to reuse.
  EXPECT_EQ(s.connections(), 2);
}

// The server closes a kept connection as the next request reaches it (as
// one whose idle timeout ran out would): that request goes again, once,
// on a new connection.
TEST_P(H1ClientTest, SendsAgainWhenAKeptConnectionWasClosed) {
  ScriptedServer s([](const std::string&, int conn, int nth) -> ScriptedServer::Answer {
    if (nth == 1 || conn == 2) {
      return {};  // closes without an answer
    }
    return ok("conn " + std::to_string(conn));
  });
  EXPECT_EQ(run(s, "(:body (await (http/get \"{url}/\")))"), "\"conn 0\"");
  EXPECT_EQ(run(s, "(:body (await (http/get \"{url}/\")))"), "\"conn 1\"");
  EXPECT_EQ(s.connections(), 2);
  // A new connection is not tried again: the third's first request fails.
  EXPECT_EQ(run(s, "(try (await (http/get \"{url}/\")) (catch e (:kind (error-data e))))"),
            ":failed");
  EXPECT_EQ(s.connections(), 3);
  EXPECT_EQ(s.requests().size(), 5u);
}

TEST_P(H1ClientTest, ABrokenResponseFailsSayingWhy) {
  ScriptedServer s([](const std::string& req, int, int) -> ScriptedServer::Answer {
    if (req.starts_with("GET /garbage ")) {
      return {"HTTP/1.1 abc\r\n\r\n", true};
    }
    if (req.starts_with("GET /cut ")) {
      return {"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", true};
    }
    if (req.starts_with("GET /bad-gzip ")) {
      return ok("not gzip at all", "Content-Encoding: gzip\r\n");
    }
    return {"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabcdef"};  // three too many
  });
  EXPECT_EQ(run(s,
                "(try (await (http/get \"{url}/garbage\")) (catch e [(:kind (error-data e)) "
                "(includes? (error-message e) \"malformed\")]))"),
            "[:failed true]");
  EXPECT_EQ(
      run(s, "(try (await (http/get \"{url}/cut\")) (catch e (error-message e)))"),
      "\"http/request " + s.url("/cut") + ": the connection closed before the response ended\"");
  EXPECT_EQ(run(s, "(try (await (http/get \"{url}/bad-gzip\")) (catch e (error-message e)))"),
            "\"http/request " + s.url("/bad-gzip") + ": the body's gzip data is broken\"");
  // Bytes after a response are no answer's: the connection is not kept.
  int before = s.connections();
  EXPECT_EQ(run(s,
                "[(:body (await (http/get \"{url}/extra\")))"
                " (:body (await (http/get \"{url}/extra\")))]"),
            "[\"abc\" \"abc\"]");
  EXPECT_EQ(s.connections() - before, 2);
}

TEST_P(H1ClientTest, FramesTheBodyItself) {
  ScriptedServer s([](const std::string&, int, int) { return ok("ok"); });
  EXPECT_EQ(run(s,
                "(:body (await (http/post \"{url}/\" {:body \"abc\" :headers "
                "{\"content-length\" \"999\" \"transfer-encoding\" \"chunked\" "
                "\"host\" \"example.test\"}})))"),
            "\"ok\"");
  std::string req = s.requests().at(0);
  EXPECT_TRUE(req.starts_with("POST / HTTP/1.1\r\n")) << req;
  EXPECT_NE(req.find("\r\nContent-Length: 3\r\n"), std::string::npos) << req;
  EXPECT_EQ(req.find("999"), std::string::npos) << req;
  EXPECT_EQ(req.find("chunked"), std::string::npos) << req;
  EXPECT_NE(req.find("\r\nhost: example.test\r\n"), std::string::npos) << req;
  EXPECT_EQ(req.find("\r\nHost: 127.0.0.1"), std::string::npos) << req;
  EXPECT_TRUE(req.ends_with("\r\n\r\nabc")) << req;
}

// A name is looked up (localhost may give ::1 first, where nothing
// listens: the next address is tried).
TEST_P(H1ClientTest, ConnectsToANameThroughItsAddresses) {
  ScriptedServer s([](const std::string&, int, int) { return ok("found"); });
  EXPECT_EQ(
      run(s, "(:body (await (http/get \"http://localhost:" + std::to_string(s.port()) + "/\")))"),
      "\"found\"");
}

// A connection the server closes while it is idle is let go at once.
TEST_P(H1ClientTest, DropsAnIdleConnectionTheServerCloses) {
  ScriptedServer s([](const std::string&, int, int) -> ScriptedServer::Answer {
    return {"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", true};  // and closes
  });
  EXPECT_EQ(run(s, "(:body (await (http/get \"{url}/\")))"), "\"ok\"");
  for (int i = 0; i < 200 && iso_.h1_client().connections() != 0; ++i) {
    run(s, "(await (sleep 5))");
  }
  EXPECT_EQ(iso_.h1_client().connections(), 0u);
}

// A socket listening on 127.0.0.1 (a port of the kernel's choice, in
// *addr) with `backlog`; -1 if that failed.
int listen_on_loopback(int backlog, sockaddr_in* addr) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  *addr = sockaddr_in{};
  addr->sin_family = AF_INET;
  addr->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof *addr;
  if (bind(fd, reinterpret_cast<sockaddr*>(addr), sizeof *addr) != 0 || listen(fd, backlog) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(addr), &len) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

// An answer that comes before the whole request went out (a 413 to a
// large upload) leaves the connection in no state for another request:
// the next one goes on a new connection.
TEST_P(H1ClientTest, AnAnswerBeforeTheWholeRequestLeavesItsConnection) {
  sockaddr_in a;
  int listener = listen_on_loopback(8, &a);
  ASSERT_GE(listener, 0);
  std::string url = "http://127.0.0.1:" + std::to_string(ntohs(a.sin_port)) + "/";
  std::atomic<int> accepted{0};
  std::atomic<bool> done{false};
  std::thread server([&] {
    std::vector<int> fds;
    for (int fd; (fd = accept(listener, nullptr, nullptr)) >= 0;) {
      fds.push_back(fd);
      int n = accepted++;
      auto head = [](const std::string& d) { return d.find("\r\n\r\n") != std::string::npos; };
      read_until(fd, head, 5000);
      // The first is answered at its head, its body left unread.
      send_all(fd, n == 0 ? "HTTP/1.1 413 Payload Too Large\r\nContent-Length: 0\r\n\r\n"
                          : "HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nsecond");
    }
    while (!done) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    for (int fd : fds) {
      close(fd);
    }
  });
  std::string src =
      "(def big (apply str (repeat 16384 (apply str (repeat 1024 \"x\")))))"
      "[(:status (await (http/post \"" +
      url +
      "\" {:body big})))"
      " (:body (await (http/get \"" +
      url + "\")))]";
  EvalResult r = iso_.eval_string(src, "test.lisp");
  EXPECT_TRUE(r.ok) << iso_.describe(r.value);
  EXPECT_EQ(lisp::print_str(r.value, true), "[413 \"second\"]");
  EXPECT_EQ(accepted.load(), 2);
  shutdown(listener, SHUT_RDWR);
  close(listener);
  done = true;
  server.join();
}

// A server that takes no connection (its backlog is full, and the SYNs
// are dropped) fails the request with :timeout after :connect-timeout-ms.
TEST_P(H1ClientTest, AConnectionThatIsNotTakenTimesOut) {
  sockaddr_in a;
  int listener = listen_on_loopback(0, &a);
  ASSERT_GE(listener, 0);
  // Connections nobody accepts fill the backlog.
  std::vector<int> fillers;
  for (int i = 0; i < 4; ++i) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
    fillers.push_back(fd);
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  std::string url = "http://127.0.0.1:" + std::to_string(ntohs(a.sin_port)) + "/";
  auto start = std::chrono::steady_clock::now();
  EvalResult r = iso_.eval_string(
      "(try (await (http/get \"" + url +
          "\" {:connect-timeout-ms 300})) (catch e [(:kind (error-data e)) (error-message e)]))",
      "test.lisp");
  auto took = std::chrono::steady_clock::now() - start;
  ASSERT_TRUE(r.ok) << iso_.describe(r.value);
  EXPECT_EQ(lisp::print_str(r.value, true),
            "[:timeout \"http/request " + url + ": could not connect within 300 ms\"]");
  EXPECT_GE(took, std::chrono::milliseconds(290));  // libuv's clock is in whole ms
  EXPECT_LT(took, std::chrono::seconds(3));
  for (int fd : fillers) {
    close(fd);
  }
  close(listener);
}

// A name that does not resolve (.invalid never does, RFC 6761) fails the
// request, as :connect once the resolver answers or as :timeout if it is
// slower than :connect-timeout-ms (a machine without a DNS server).
TEST_P(H1ClientTest, ANameThatDoesNotResolveFails) {
  EvalResult r = iso_.eval_string(
      "(try (await (http/get \"http://no-such-host.invalid/\" {:connect-timeout-ms 2000}))"
      "  (catch e (:kind (error-data e))))",
      "test.lisp");
  ASSERT_TRUE(r.ok) << iso_.describe(r.value);
  std::string kind = lisp::print_str(r.value, true);
  EXPECT_TRUE(kind == ":connect" || kind == ":timeout") << kind;
}

// The client on a loop of its own, with an idle timeout of 50 ms.
TEST(H1ClientIdle, ClosesAConnectionIdleTooLong) {
  struct Exchange : lisp::H1Exchange {
    int status = 0;
    bool done = false;
    void answered(lisp::H1ResponseReader& r) override {
      status = r.status();
      done = true;
    }
    void failed(std::string_view, const std::string&) override { done = true; }
  };
  ScriptedServer s([](const std::string&, int, int) { return ok("x"); });
  uv_loop_t loop;
  uv_loop_init(&loop);
  {
    lisp::H1Client client(&loop, 50);
    Exchange x;
    x.host = "127.0.0.1";
    x.port = s.port();
    x.origin = "127.0.0.1:" + std::to_string(s.port());
    x.request = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    x.max_body = 100;
    client.start(&x);
    while (!x.done) {
      uv_run(&loop, UV_RUN_ONCE);
    }
    EXPECT_EQ(x.status, 200);
    EXPECT_EQ(client.connections(), 1u);
    EXPECT_EQ(s.open_connections(), 1u);
    // Idle, it holds nothing of the loop; a timer of the test's keeps the
    // loop turning (as a server's handles do) until the idle one fires.
    EXPECT_EQ(uv_run(&loop, UV_RUN_NOWAIT), 0);
    uv_timer_t tick;
    uv_timer_init(&loop, &tick);
    uv_timer_start(
        &tick, [](uv_timer_t*) {}, 5, 5);
    for (int i = 0; i < 200 && client.connections() != 0; ++i) {  // a second; the server waits 5
      uv_run(&loop, UV_RUN_ONCE);
    }
    EXPECT_EQ(client.connections(), 0u);
    uv_close(reinterpret_cast<uv_handle_t*>(&tick), nullptr);
    EXPECT_TRUE(eventually([&] { return s.open_connections() == 0; }));
    client.close();
  }
  uv_run(&loop, UV_RUN_DEFAULT);
  EXPECT_EQ(uv_loop_close(&loop), 0);
}

INSTANTIATE_TEST_SUITE_P(Collector, H1ClientTest, ::testing::Values(false, true),
                         [](const auto& info) { return info.param ? "Stress" : "Normal"; });

}  // namespace
}  // namespace valk::test
