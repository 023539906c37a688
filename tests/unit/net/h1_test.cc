// HTTP/1.1 over raw sockets: keep-alive, pipelining, chunked both ways,
// Expect: 100-continue, HEAD, Connection: close.
#include <netinet/tcp.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <thread>
#include <vector>

#include "net_test_util.h"

namespace valk::test {
namespace {

// Echoes "METHOD PATH BODY".
Handler echo_handler() {
  return [](Request& req, Responder res) {
    auto body = std::make_shared<std::string>(std::string(req.method()) + " " +
                                              std::string(req.path()) + " ");
    req.read_body([body, res](std::string_view chunk, bool last) {
      body->append(chunk);
      if (last) {
        res.respond(200, {}, *body);
      }
    });
  };
}

bool has_responses(const std::string& d, size_t n) {
  // Each test response here is small and carries content-length.
  size_t count = 0, pos = 0;
  while ((pos = d.find("\r\n\r\n", pos)) != std::string::npos) {
    size_t head = d.rfind("HTTP/1.", pos);
    size_t cl = d.find("content-length: ", head);
    if (cl == std::string::npos || cl > pos) {
      break;
    }
    size_t len = std::stoul(d.substr(cl + 16));
    if (d.size() < pos + 4 + len) {
      return false;
    }
    pos += 4 + len;
    ++count;
  }
  return count >= n;
}

TEST(H1, KeepAliveReusesTheConnection) {
  TestServer s(base_options(), echo_handler());
  int fd = tcp_connect(s.port());
  ASSERT_GE(fd, 0);
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(send_all(fd, "GET /k" + std::to_string(i) + " HTTP/1.1\r\nHost: x\r\n\r\n"));
    std::string r = read_until(fd, [](const std::string& d) { return has_responses(d, 1); });
    EXPECT_NE(r.find("GET /k" + std::to_string(i) + " "), std::string::npos) << r;
  }
  EXPECT_EQ(s.server().counters()[Counter::kConnectionsAccepted], 1u);
  close(fd);
}

// Answers with what the parser handed over: "path?query|name=value|...".
void echo_target_and_headers(Request& req, Responder res) {
  std::string seen = std::string(req.path()) + "?" + std::string(req.query()) + "|";
  for (const HeaderView& h : req.headers()) {
    seen += std::string(h.name) + "=" + std::string(h.value) + "|";
  }
  res.respond(200, {}, seen);
}

// The parser hands over the URL and each header name and value in one
// piece unless a read ends inside it; then the piece must be kept across
// reads. The head goes out cut at every position in turn, each cut a
// separate read on the server (TCP_NODELAY and a pause between the parts).
TEST(H1, HeadCutAcrossReadsAtEveryByte) {
  TestServer s(base_options(), echo_target_and_headers);
  const std::string head =
      "GET /some/path?x=1 HTTP/1.1\r\nHost: h\r\nX-Mixed-Case: Value One\r\n\r\n";
  const std::string want = "/some/path?x=1|host=h|x-mixed-case=Value One|";
  for (size_t cut = 1; cut < head.size(); cut++) {
    int fd = tcp_connect(s.port());
    ASSERT_GE(fd, 0);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    ASSERT_TRUE(send_all(fd, head.substr(0, cut)));
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
    ASSERT_TRUE(send_all(fd, head.substr(cut)));
    std::string r = read_until(fd, [](const std::string& d) { return has_responses(d, 1); });
    EXPECT_NE(r.find(want), std::string::npos) << "cut at " << cut << ": " << r;
    close(fd);
  }
}

// The same head a byte a read: each name, value and the target grow from
// many pieces.
TEST(H1, HeadOneByteARead) {
  TestServer s(base_options(), echo_target_and_headers);
  const std::string head =
      "GET /some/longer/path?x=1 HTTP/1.1\r\nHost: h\r\n"
      "X-Quite-Long-Mixed-Case-Name: A Value Of Some Length\r\n\r\n";
  int fd = tcp_connect(s.port());
  ASSERT_GE(fd, 0);
  for (char c : head) {
    ASSERT_TRUE(send_all(fd, std::string_view(&c, 1)));
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  std::string r = read_until(fd, [](const std::string& d) { return has_responses(d, 1); });
  EXPECT_NE(r.find("/some/longer/path?x=1|host=h|"
                   "x-quite-long-mixed-case-name=A Value Of Some Length|"),
            std::string::npos)
      << r;
  close(fd);
}

TEST(H1, PipelinedResponsesComeInOrder) {
  TestServer s(base_options(), echo_handler());
  int fd = tcp_connect(s.port());
  std::string batch;
  for (int i = 0; i < 20; ++i) {
    batch += "POST /p" + std::to_string(i) + " HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc";
  }
  ASSERT_TRUE(send_all(fd, batch));
  std::string r = read_until(fd, [](const std::string& d) { return has_responses(d, 20); });
  size_t last = 0;
  for (int i = 0; i < 20; ++i) {
    size_t p = r.find("POST /p" + std::to_string(i) + " abc");
    ASSERT_NE(p, std::string::npos) << i;
    EXPECT_GE(p, last);
    last = p;
  }
  close(fd);
}

TEST(H1, ChunkedRequestBody) {
  TestServer s(base_options(), echo_handler());
  int fd = tcp_connect(s.port());
  ASSERT_TRUE(send_all(fd,
                       "POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                       "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"));
  std::string r = read_until(fd, [](const std::string& d) { return has_responses(d, 1); });
  EXPECT_NE(r.find("POST /c hello world"), std::string::npos) << r;
  close(fd);
}

TEST(H1, ChunkedResponseWithTrailers) {
  TestServer s(base_options(), [](Request& req, Responder res) {
    res.start(200, {{"content-type", "text/plain"}});
    res.write("abc");
    res.write("defg");
    res.end({{"x-checksum", "42"}});
  });
  int fd = tcp_connect(s.port());
  ASSERT_TRUE(send_all(fd, "GET / HTTP/1.1\r\nHost: x\r\nTE: trailers\r\n\r\n"));
  std::string r = read_until(fd, [](const std::string& d) {
    return d.find("\r\n0\r\n") != std::string::npos && d.ends_with("\r\n\r\n") &&
           d.find("x-checksum") != std::string::npos;
  });
  EXPECT_NE(r.find("transfer-encoding: chunked"), std::string::npos) << r;
  EXPECT_NE(r.find("7\r\nabcdefg\r\n0\r\nx-checksum: 42\r\n\r\n"), std::string::npos) << r;
  close(fd);
}

TEST(H1, ExpectContinue) {
  TestServer s(base_options(), echo_handler());
  int fd = tcp_connect(s.port());
  ASSERT_TRUE(send_all(fd,
                       "POST /e HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n"
                       "Expect: 100-continue\r\n\r\n"));
  std::string r =
      read_until(fd, [](const std::string& d) { return d.find("\r\n\r\n") != std::string::npos; });
  EXPECT_EQ(r, "HTTP/1.1 100 Continue\r\n\r\n");
  ASSERT_TRUE(send_all(fd, "data"));
  r = read_until(fd, [](const std::string& d) { return has_responses(d, 1); });
  EXPECT_NE(r.find("POST /e data"), std::string::npos) << r;
  close(fd);
}

TEST(H1, HeadHasNoBody) {
  TestServer s(base_options(), hello_handler());
  int fd = tcp_connect(s.port());
  ASSERT_TRUE(send_all(fd, "HEAD / HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n"));
  std::string r = read_until(
      fd, [](const std::string& d) { return d.find("Hello, World!") != std::string::npos; });
  EXPECT_EQ(count_of(r, "content-length: 13"), 2u) << r;
  EXPECT_EQ(count_of(r, "Hello, World!"), 1u) << r;
  close(fd);
}

TEST(H1, ConnectionCloseIsHonoured) {
  TestServer s(base_options(), hello_handler());
  int fd = tcp_connect(s.port());
  ASSERT_TRUE(send_all(fd, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"));
  bool closed = false;
  std::string r = read_until(
      fd, [](const std::string&) { return false; }, 5000, &closed);
  EXPECT_TRUE(closed);
  EXPECT_NE(r.find("connection: close"), std::string::npos) << r;
  EXPECT_NE(r.find("Hello, World!"), std::string::npos);
  close(fd);
}

TEST(H1, Http10ClosesByDefault) {
  TestServer s(base_options(), hello_handler());
  int fd = tcp_connect(s.port());
  ASSERT_TRUE(send_all(fd, "GET / HTTP/1.0\r\n\r\n"));
  bool closed = false;
  std::string r = read_until(
      fd, [](const std::string&) { return false; }, 5000, &closed);
  EXPECT_TRUE(closed);
  EXPECT_EQ(r.rfind("HTTP/1.0 200 OK\r\n", 0), 0u) << r;
  close(fd);
}

TEST(H1, HalfClosedClientStillGetsItsResponse) {
  ServerOptions o = base_options();
  o.serve_half_closed = true;
  TestServer s(o, [](Request& req, Responder res) {
    std::thread([res] { res.respond(200, {}, "late answer"); }).detach();
  });
  int fd = tcp_connect(s.port());
  ASSERT_TRUE(send_all(fd, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
  shutdown(fd, SHUT_WR);
  bool closed = false;
  std::string r = read_until(
      fd, [](const std::string&) { return false; }, 5000, &closed);
  EXPECT_NE(r.find("late answer"), std::string::npos) << r;
  EXPECT_TRUE(closed);
  close(fd);
}

TEST(H1, ClientEofBeforeTheAnswerCancelsTheRequest) {
  std::atomic<int> cancelled{0};
  std::vector<Responder> held;
  std::mutex mu;
  TestServer s(base_options(), [&](Request& req, Responder res) {
    req.on_cancel([&] { cancelled++; });
    std::lock_guard<std::mutex> lock(mu);
    held.push_back(res);  // never answered
  });
  for (int how : {SHUT_WR, SHUT_RDWR}) {
    int before = cancelled.load();
    int fd = tcp_connect(s.port());
    ASSERT_TRUE(send_all(fd, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
    EXPECT_TRUE(eventually([&] {
      std::lock_guard<std::mutex> lock(mu);
      return held.size() == static_cast<size_t>(before + 1);
    }));
    shutdown(fd, how);
    EXPECT_TRUE(eventually([&] { return cancelled.load() == before + 1; })) << how;
    close(fd);
  }
}

// Found by fuzz_h1: an h2c upgrade pipelined behind another request
// replaced the HTTP/1.1 session while its code was still running.
TEST(H1, PipelinedH2cUpgrade) {
  TestServer s(base_options(), hello_handler());
  int fd = tcp_connect(s.port());
  ASSERT_TRUE(send_all(fd,
                       "HEAD / HTTP/1.1\r\nHost: a\r\n\r\n"
                       "GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade, HTTP2-Settings\r\n"
                       "Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n"));
  std::string r = read_until(fd, [](const std::string& d) {
    return d.find("101 Switching Protocols") != std::string::npos &&
           d.find("Hello, World!") != std::string::npos;
  });
  EXPECT_NE(r.find("HTTP/1.1 200 OK"), std::string::npos) << r;
  EXPECT_NE(r.find("101 Switching Protocols"), std::string::npos) << r;
  EXPECT_NE(r.find("Hello, World!"), std::string::npos);  // stream 1 over h2
  close(fd);
}

TEST(H1, GarbageGets400) {
  TestServer s(base_options(), hello_handler());
  int fd = tcp_connect(s.port());
  ASSERT_TRUE(send_all(fd, "GET / HTTP/1.1\r\nBad Header\r\n\r\n"));
  bool closed = false;
  std::string r = read_until(
      fd, [](const std::string&) { return false; }, 5000, &closed);
  EXPECT_TRUE(closed);
  EXPECT_EQ(r.rfind("HTTP/1.1 400", 0), 0u) << r;
  close(fd);
}

TEST(H1, ThrowingHandlerGives500) {
  TestServer s(base_options(), [](Request&, Responder) { throw std::runtime_error("boom"); });
  CurlResult r = curl_do(s.url("/"));
  ASSERT_EQ(r.code, CURLE_OK);
  EXPECT_EQ(r.status, 500);
}

}  // namespace
}  // namespace valk::test
