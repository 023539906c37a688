// HTTP/1.1 upgrades a handler accepts with 101: the connection becomes a
// tunnel of raw bytes both ways (what a WebSocket runs on).
#include <fcntl.h>
#include <sys/socket.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "net_test_util.h"

namespace valk::test {
namespace {

const char* kUpgrade = "GET /t HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n";

// Accepts an upgrade with 101 and echoes what comes through the tunnel,
// upper-cased, each chunk as it comes; "bye" ends the tunnel from the
// handler's side, and the client's EOF makes it answer "eof" and end.
Handler tunnel_echo() {
  return [](Request& req, Responder res) {
    if (!req.upgrade_offered()) {
      res.respond(200, {}, "plain");
      return;
    }
    res.start(101, {{"upgrade", "echo"}});
    req.read_body(upper_case_echo(res, [res] { res.write("eof"); }), BodyFlow::kPaced);
  };
}

std::string head_of(const std::string& d) {
  return d.substr(0, d.find("\r\n\r\n") + 4);
}

TEST(Tunnel, A101TurnsTheConnectionIntoATunnel) {
  TestServer s(base_options(), tunnel_echo());
  int fd = tcp_connect(s.port());
  ASSERT_GE(fd, 0);
  // Bytes right behind the head, in the same write, are the tunnel's first.
  ASSERT_TRUE(send_all(fd, std::string(kUpgrade) + "first"));
  std::string r = read_until(fd, [](const std::string& d) { return d.find("FIRST") != d.npos; });
  std::string head = head_of(r);
  EXPECT_EQ(head.rfind("HTTP/1.1 101 Switching Protocols\r\n", 0), 0u) << r;
  EXPECT_NE(head.find("upgrade: echo\r\n"), std::string::npos) << r;
  EXPECT_NE(head.find("connection: upgrade\r\n"), std::string::npos) << r;
  EXPECT_EQ(head.find("content-length"), std::string::npos) << r;
  EXPECT_EQ(head.find("transfer-encoding"), std::string::npos) << r;
  EXPECT_EQ(r.substr(head.size()), "FIRST");  // no chunk framing
  // Bytes that would be an HTTP/1.1 request are data now.
  ASSERT_TRUE(send_all(fd, "GET / HTTP/1.1\r\n\r\n"));
  r = read_until(fd, [](const std::string& d) { return d.find("\r\n\r\n") != d.npos; });
  EXPECT_EQ(r, "GET / HTTP/1.1\r\n\r\n");
  // The handler's end() closes the connection once written.
  ASSERT_TRUE(send_all(fd, "bye"));
  bool closed = false;
  r = read_until(
      fd, [](const std::string&) { return false; }, 5000, &closed);
  EXPECT_EQ(r, "BYE");
  EXPECT_TRUE(closed);
  close(fd);
}

TEST(Tunnel, UnacknowledgedDataFailsTheConnectionAfterTheWriteTimeout) {
  ServerOptions o = base_options();
  o.timeouts.write = 4321;
  TestServer s(o, tunnel_echo());
  int fd = tcp_connect(s.port());
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(send_all(fd, std::string(kUpgrade) + "x"));
  read_until(fd, [](const std::string& d) { return d.find('X') != d.npos; });
  // A vanished peer is found at the next send, not after ~15 minutes.
  EXPECT_EQ(server_user_timeout(fd), 4321);
  // Plain HTTP/1.1 connections keep the kernel's default.
  int plain = tcp_connect(s.port());
  ASSERT_TRUE(send_all(plain, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
  read_until(plain, [](const std::string& d) { return d.find("plain") != d.npos; });
  EXPECT_EQ(server_user_timeout(plain), 0);
  close(plain);
  close(fd);
}

TEST(Tunnel, TheClientsEofEndsTheBodyAndTheHandlerFinishes) {
  TestServer s(base_options(), tunnel_echo());
  int fd = tcp_connect(s.port());
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(send_all(fd, std::string(kUpgrade) + "abc"));
  std::string r = read_until(fd, [](const std::string& d) { return d.find("ABC") != d.npos; });
  ASSERT_NE(r.find("ABC"), std::string::npos) << r;
  shutdown(fd, SHUT_WR);
  bool closed = false;
  r = read_until(
      fd, [](const std::string&) { return false; }, 5000, &closed);
  EXPECT_EQ(r, "eof");
  EXPECT_TRUE(closed);
  close(fd);
}

TEST(Tunnel, AnUpgradeAnsweredOtherwiseStaysHttp) {
  std::atomic<bool> offered{false};
  TestServer s(base_options(), [&](Request& req, Responder res) {
    offered = offered || req.upgrade_offered();
    res.respond(200, {}, std::string(req.path()));
  });
  int fd = tcp_connect(s.port());
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(send_all(fd, std::string(kUpgrade) + "GET /next HTTP/1.1\r\nHost: x\r\n\r\n"));
  std::string r = read_until(fd, [](const std::string& d) { return d.find("/next") != d.npos; });
  EXPECT_TRUE(offered);
  EXPECT_EQ(count_of(r, "HTTP/1.1 200 OK"), 2u) << r;
  EXPECT_NE(r.find("/t"), std::string::npos) << r;
  EXPECT_NE(r.find("/next"), std::string::npos) << r;
  close(fd);
}

TEST(Tunnel, NoUpgradeIsOfferedForH2cOrARequestWithoutUpgrade) {
  std::mutex mu;
  std::string seen;
  ServerOptions o = base_options();
  o.enable_h2c = false;  // h2c is still the server's own upgrade, never the handler's
  TestServer s(o, [&](Request& req, Responder res) {
    std::lock_guard<std::mutex> lock(mu);
    seen += req.upgrade_offered() ? "1" : "0";
    res.respond(200, {}, "ok");
  });
  int fd = tcp_connect(s.port());
  ASSERT_GE(fd, 0);
  const char* requests[] = {
      "GET /a HTTP/1.1\r\nHost: x\r\n\r\n",
      // Upgrade without "Connection: upgrade" is no upgrade (RFC 9110 7.8).
      "GET /b HTTP/1.1\r\nHost: x\r\nUpgrade: echo\r\n\r\n",
      "GET /c HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: "
      "h2c\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n\r\n",
      kUpgrade,
  };
  for (const char* r : requests) {
    ASSERT_TRUE(send_all(fd, r));
    read_until(fd, [](const std::string& d) { return d.find("ok") != d.npos; });
  }
  close(fd);
  std::lock_guard<std::mutex> lock(mu);
  EXPECT_EQ(seen, "0001");
}

TEST(Tunnel, A101ToARequestThatOfferedNoUpgradeIsRefused) {
  TestServer s(base_options(), [](Request& req, Responder res) { res.start(101, {}); });
  CurlResult r = curl_get(s.url("/"), CURL_HTTP_VERSION_1_1);
  EXPECT_EQ(r.status, 500);
}

// A handler that does not read holds the client back: the server stops
// reading the tunnel once a window's worth waits unread.
TEST(Tunnel, AHandlerThatDoesNotReadHoldsTheClientBack) {
  ServerOptions o = base_options();
  o.limits.body_window = 64 * 1024;
  auto delivered = std::make_shared<std::atomic<uint64_t>>(0);
  TestServer s(o, [delivered](Request& req, Responder res) {
    res.start(101, {{"upgrade", "sink"}});
    req.read_body([delivered](std::string_view chunk, bool) { *delivered += chunk.size(); },
                  BodyFlow::kPaced);
  });
  int fd = tcp_connect(s.port());
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(send_all(fd, kUpgrade));
  read_until(fd, [](const std::string& d) { return d.find("\r\n\r\n") != d.npos; });
  int flags = fcntl(fd, F_GETFL);
  fcntl(fd, F_SETFL, flags | O_NONBLOCK);
  std::string block(65536, 'x');
  uint64_t sent = 0;
  auto until = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  while (std::chrono::steady_clock::now() < until && sent < (64u << 20)) {
    ssize_t n = write(fd, block.data(), block.size());
    if (n > 0) {
      sent += static_cast<uint64_t>(n);
    } else {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }
  // The window and the kernel's buffers, not the 64 MiB offered.
  EXPECT_LT(sent, 32u << 20);
  EXPECT_LE(delivered->load(), 2 * o.limits.body_window + 65536);
  close(fd);
}

}  // namespace
}  // namespace valk::test
