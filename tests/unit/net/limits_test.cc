// Limits and timeouts over HTTP/1.1 and TLS, connection limits, abrupt
// disconnects.
#include <atomic>
#include <chrono>

#include "net_test_util.h"

namespace valk::test {
namespace {

std::string exchange(uint16_t port, const std::string& req, bool* closed, int ms = 5000) {
  int fd = tcp_connect(port);
  send_all(fd, req);
  std::string r = read_until(
      fd, [](const std::string&) { return false; }, ms, closed);
  close(fd);
  return r;
}

int64_t ms_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() -
                                                               t0)
      .count();
}

TEST(Limits, UrlTooLongIs414) {
  ServerOptions o = base_options();
  o.limits.max_url_length = 64;
  TestServer s(o, hello_handler());
  bool closed = false;
  std::string r =
      exchange(s.port(), "GET /" + std::string(100, 'a') + " HTTP/1.1\r\n\r\n", &closed);
  EXPECT_EQ(r.rfind("HTTP/1.1 414", 0), 0u) << r;
  EXPECT_TRUE(closed);
  EXPECT_EQ(s.server().counters()[Counter::kLimitUrl], 1u);
}

TEST(Limits, HeadersTooLargeAre431) {
  ServerOptions o = base_options();
  o.limits.max_header_list_size = 1024;
  TestServer s(o, hello_handler());
  bool closed = false;
  std::string r = exchange(
      s.port(), "GET / HTTP/1.1\r\nX-Big: " + std::string(2000, 'h') + "\r\n\r\n", &closed);
  EXPECT_EQ(r.rfind("HTTP/1.1 431", 0), 0u) << r;
  EXPECT_TRUE(closed);
}

TEST(Limits, BodyTooLargeIs413) {
  ServerOptions o = base_options();
  o.limits.max_body_size = 100;
  std::atomic<int> calls{0};
  TestServer s(o, [&](Request& req, Responder res) {
    calls++;
    req.read_body([res](std::string_view, bool last) {
      if (last) {
        res.respond(200, {}, "");
      }
    });
  });
  bool closed = false;
  std::string r = exchange(s.port(), "POST / HTTP/1.1\r\nContent-Length: 1000\r\n\r\n", &closed);
  EXPECT_EQ(r.rfind("HTTP/1.1 413", 0), 0u) << r;
  EXPECT_EQ(calls.load(), 0);
  std::string chunked = "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n";
  for (int i = 0; i < 5; ++i) {
    chunked += "40\r\n" + std::string(64, 'c') + "\r\n";
  }
  r = exchange(s.port(), chunked, &closed);
  EXPECT_EQ(r.rfind("HTTP/1.1 413", 0), 0u) << r;
  EXPECT_TRUE(closed);
}

TEST(Timeouts, SlowlorisHeadersGet408) {
  ServerOptions o = base_options();
  o.timeouts.header_read = 150;
  TestServer s(o, hello_handler());
  bool closed = false;
  std::string r = exchange(s.port(), "GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ", &closed);
  EXPECT_EQ(r.rfind("HTTP/1.1 408", 0), 0u) << r;
  EXPECT_TRUE(closed);
  EXPECT_EQ(s.server().counters()[Counter::kTimeoutsHeader], 1u);
}

TEST(Timeouts, StalledBodyGets408) {
  ServerOptions o = base_options();
  o.timeouts.body_read = 150;
  TestServer s(o,
               [](Request& req, Responder res) { req.read_body([](std::string_view, bool) {}); });
  bool closed = false;
  std::string r = exchange(s.port(), "POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\nab", &closed);
  EXPECT_EQ(r.rfind("HTTP/1.1 408", 0), 0u) << r;
  EXPECT_TRUE(closed);
  EXPECT_EQ(s.server().counters()[Counter::kTimeoutsBody], 1u);
}

TEST(Timeouts, IdleKeepAliveCloses) {
  ServerOptions o = base_options();
  o.timeouts.idle = 150;
  TestServer s(o, hello_handler());
  bool closed = false;
  std::string r = exchange(s.port(), "GET / HTTP/1.1\r\nHost: x\r\n\r\n", &closed);
  EXPECT_NE(r.find("Hello, World!"), std::string::npos);
  EXPECT_TRUE(closed);
  EXPECT_EQ(s.server().counters()[Counter::kTimeoutsIdle], 1u);
}

// The connection timer is moved only when a deadline comes earlier than it
// is due: a later idle deadline must outlast the header deadline set before
// it, and an earlier header deadline must cut a long idle wait short.
TEST(Timeouts, LaterIdleDeadlineOutlastsTheHeaderDeadline) {
  ServerOptions o = base_options();
  o.timeouts.header_read = 100;
  o.timeouts.idle = 600;
  TestServer s(o, hello_handler());
  auto t0 = std::chrono::steady_clock::now();
  bool closed = false;
  std::string r = exchange(s.port(), "GET / HTTP/1.1\r\nHost: x\r\n\r\n", &closed);
  auto ms = ms_since(t0);
  EXPECT_NE(r.find("Hello, World!"), std::string::npos);
  EXPECT_TRUE(closed);
  EXPECT_GE(ms, 550);
  EXPECT_EQ(s.server().counters()[Counter::kTimeoutsIdle], 1u);
  EXPECT_EQ(s.server().counters()[Counter::kTimeoutsHeader], 0u);
}

TEST(Timeouts, EarlierHeaderDeadlineCutsTheIdleWaitShort) {
  ServerOptions o = base_options();
  o.timeouts.header_read = 150;
  o.timeouts.idle = 5000;
  TestServer s(o, hello_handler());
  int fd = tcp_connect(s.port());
  send_all(fd, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
  std::string first = read_until(
      fd, [](const std::string& got) { return got.find("Hello, World!") != std::string::npos; },
      5000, nullptr);
  ASSERT_NE(first.find("Hello, World!"), std::string::npos);
  auto t0 = std::chrono::steady_clock::now();
  send_all(fd, "GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ");
  bool closed = false;
  std::string r = read_until(
      fd, [](const std::string&) { return false; }, 5000, &closed);
  auto ms = ms_since(t0);
  close(fd);
  EXPECT_EQ(r.rfind("HTTP/1.1 408", 0), 0u) << r;
  EXPECT_TRUE(closed);
  EXPECT_LT(ms, 2000);
  EXPECT_EQ(s.server().counters()[Counter::kTimeoutsHeader], 1u);
}

TEST(Timeouts, TlsHandshakeTimesOut) {
  ServerOptions o = tls_options();
  o.timeouts.handshake = 150;
  TestServer s(o, hello_handler());
  bool closed = false;
  exchange(s.port(), "", &closed);
  EXPECT_TRUE(closed);
  EXPECT_EQ(s.server().counters()[Counter::kTimeoutsHandshake], 1u);
}

TEST(Timeouts, SlowReaderIsCutOff) {
  ServerOptions o = base_options();
  o.timeouts.write = 200;
  TestServer s(o, [](Request& req, Responder res) {
    res.start(200, {});
    for (int i = 0; i < 64; ++i) {
      res.write(std::string(1 << 20, 'w'));
    }
    res.end();
  });
  expect_unread_answer_is_cut_off(s, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
}

TEST(Limits, MaxConnectionsBacksOff) {
  ServerOptions o = base_options();
  o.reactors = 1;
  o.limits.max_connections = 2;
  TestServer s(o, hello_handler());
  int a = tcp_connect(s.port()), b = tcp_connect(s.port()), c = tcp_connect(s.port());
  ASSERT_TRUE(
      eventually([&] { return s.server().counters()[Counter::kConnectionsRejected] >= 1; }));
  send_all(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
  std::string r = read_until(
      c, [](const std::string& d) { return !d.empty(); }, 200);
  EXPECT_EQ(r, "");  // not served while at the limit
  close(a);
  r = read_until(c, [](const std::string& d) { return d.find("Hello") != std::string::npos; });
  EXPECT_NE(r.find("Hello, World!"), std::string::npos);
  close(b);
  close(c);
}

// max_connections counts the connections of every reactor, wherever the
// kernel puts them. With 4 reactors and a limit of 8, 8 connections are
// all served (shared out 2 per reactor, the kernel would seldom spread
// them so evenly), and each further one waits until one of them closes,
// on its reactor or, 3 times in 4, another's.
TEST(Limits, MaxConnectionsCountsEveryReactor) {
  ServerOptions o = base_options();
  o.reactors = 4;
  o.limits.max_connections = 8;
  TestServer s(o, hello_handler());
  auto served = [](int fd, int ms) {
    std::string r = read_until(
        fd, [](const std::string& d) { return d.find("Hello") != std::string::npos; }, ms);
    return r.find("Hello, World!") != std::string::npos;
  };
  auto answered = [&](int fd, int ms) {
    send_all(fd, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    return served(fd, ms);
  };
  std::vector<int> open;
  for (int i = 0; i < 8; i++) {
    open.push_back(tcp_connect(s.port()));
    EXPECT_TRUE(answered(open.back(), 5000)) << "connection " << i;
  }
  for (int i = 0; i < 4; i++) {
    int extra = tcp_connect(s.port());
    EXPECT_FALSE(answered(extra, 200)) << "served past the limit, round " << i;
    close(open[i]);
    EXPECT_TRUE(served(extra, 5000)) << "round " << i;
    open[i] = extra;
  }
  EXPECT_EQ(s.server().counters()[Counter::kConnectionsRejected], 4u);
  // Two waiting at once (on two reactors, 3 times in 4): one close lets
  // one of them in, and wakes both reactors; the other goes on waiting.
  int extras[2] = {tcp_connect(s.port()), tcp_connect(s.port())};
  for (int fd : extras) {
    send_all(fd, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
  }
  EXPECT_FALSE(served(extras[0], 200) || served(extras[1], 0)) << "served past the limit";
  close(open[4]);
  bool first = served(extras[0], 1000);
  bool second = served(extras[1], first ? 200 : 1000);
  EXPECT_NE(first, second) << "one place, one of the two served";
  close(open[5]);
  EXPECT_TRUE(first || served(extras[0], 5000));
  EXPECT_TRUE(second || served(extras[1], 5000));
  open[4] = extras[0];
  open[5] = extras[1];
  // Each waiting connection counted once, however many closes woke its
  // reactor to retry.
  EXPECT_EQ(s.server().counters()[Counter::kConnectionsRejected], 6u);
  for (int fd : open) {
    close(fd);
  }
}

TEST(Abrupt, DisconnectMidRequestCancels) {
  std::atomic<int> cancelled{0}, started{0};
  TestServer s(base_options(), [&](Request& req, Responder res) {
    started++;
    req.on_cancel([&] { cancelled++; });
    req.read_body([](std::string_view, bool) {});
  });
  int fd = tcp_connect(s.port());
  send_all(fd, "POST / HTTP/1.1\r\nContent-Length: 100000\r\n\r\npartial");
  ASSERT_TRUE(eventually([&] { return started.load() == 1; }));
  close(fd);
  EXPECT_TRUE(eventually([&] { return cancelled.load() == 1; }));
  EXPECT_TRUE(eventually([&] { return s.server().counters()[Counter::kStreamsActive] == 0; }));
}

TEST(Abrupt, DisconnectMidResponse) {
  TestServer s(base_options(), [](Request& req, Responder res) {
    res.start(200, {});
    for (int i = 0; i < 16; ++i) {
      res.write(std::string(1 << 20, 'x'));
    }
    res.end();
  });
  for (const char* preface : {"GET / HTTP/1.1\r\nHost: x\r\n\r\n"}) {
    int fd = tcp_connect(s.port());
    send_all(fd, preface);
    read_until(fd, [](const std::string& d) { return d.size() > 100000; });
    close(fd);
  }
  EXPECT_TRUE(eventually([&] { return s.server().counters()[Counter::kConnectionsActive] == 0; }));
  EXPECT_TRUE(eventually([&] { return s.server().counters()[Counter::kStreamsActive] == 0; }));
  // Still serving.
  CurlResult r = curl_do(s.url("/"), [](CURL* c) { curl_easy_setopt(c, CURLOPT_NOBODY, 1L); });
  EXPECT_EQ(r.status, 200);
}

}  // namespace
}  // namespace valk::test
