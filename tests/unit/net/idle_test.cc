// Idle connections: an h2 session gives back the memory it can do without
// once idle a while (ServerTimeouts::release_idle_memory) and serves on;
// the idle timeout runs from the last response, and an h2 connection over
// TLS that has sent no request yet waits for it, as one in cleartext does.
#include <openssl/ssl.h>
#include <signal.h>
#include <sys/socket.h>

#include <chrono>
#include <thread>

#include "h2_client.h"
#include "net_test_util.h"

namespace valk::test {
namespace {

uint64_t released(TestServer& s) {
  return s.server().counters()[Counter::kIdleMemoryReleased];
}

TEST(IdleMemory, AnIdleH2SessionGivesItsBuffersBackAndServesOn) {
  ServerOptions o = base_options();
  o.timeouts.release_idle_memory = 50;
  TestServer s(o, hello_handler());
  H2Client c(s.port());
  for (int round = 0; round < 3; round++) {
    uint64_t before = released(s);
    int32_t id = c.submit("GET", "/");
    ASSERT_TRUE(c.run_until([&] { return c.streams[id].closed; }));
    EXPECT_EQ(c.streams[id].status, 200);
    EXPECT_EQ(c.streams[id].body, "Hello, World!");
    EXPECT_TRUE(eventually([&] { return released(s) > before; })) << "round " << round;
  }
  EXPECT_EQ(s.server().counters()[Counter::kTimeoutsIdle], 0u);
}

// release_idle_memory 0: nothing is given back, and the idle timeout
// still runs.
TEST(IdleMemory, ZeroKeepsTheBuffersAndTheIdleTimeout) {
  ServerOptions o = base_options();
  o.timeouts.release_idle_memory = 0;
  o.timeouts.idle = 300;
  TestServer s(o, hello_handler());
  H2Client c(s.port());
  int32_t id = c.submit("GET", "/");
  ASSERT_TRUE(c.run_until([&] { return c.streams[id].closed; }));
  EXPECT_EQ(c.streams[id].body, "Hello, World!");
  ASSERT_TRUE(c.run_until([&] { return c.goaways > 0; }, 3000));
  EXPECT_EQ(s.server().counters()[Counter::kTimeoutsIdle], 1u);
  EXPECT_EQ(released(s), 0u);
}

// The client says nothing after its answer (a small body needs no
// WINDOW_UPDATE): the idle timeout still runs from the response that
// closed the last stream.
TEST(Timeouts, AnH2ConnectionSilentAfterItsLastResponseTimesOut) {
  ServerOptions o = base_options();
  o.timeouts.idle = 300;
  TestServer s(o, hello_handler());
  H2Client c(s.port());
  // The first request's answer comes with the server's SETTINGS, whose ACK
  // the client sends after it: the second one is followed by silence.
  int32_t first = c.submit("GET", "/");
  ASSERT_TRUE(c.run_until([&] { return c.streams[first].closed; }));
  c.pump(50);
  int32_t id = c.submit("GET", "/");
  ASSERT_TRUE(c.run_until([&] { return c.streams[id].closed; }));
  auto t0 = std::chrono::steady_clock::now();
  ASSERT_TRUE(c.run_until([&] { return c.goaways > 0; }, 3000));
  EXPECT_EQ(c.goaway_last_id, id);
  EXPECT_EQ(s.server().counters()[Counter::kTimeoutsIdle], 1u);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(1500));
}

// Reads h2 frames from `ssl` until a PING ACK arrives (true) or the
// connection ends or stays silent for 2 s (false).
bool read_ping_ack(SSL* ssl) {
  std::string in;
  char buf[16384];
  for (;;) {
    while (in.size() >= 9) {
      size_t len = (static_cast<uint8_t>(in[0]) << 16) | (static_cast<uint8_t>(in[1]) << 8) |
                   static_cast<uint8_t>(in[2]);
      if (in.size() < 9 + len) {
        break;
      }
      if (in[3] == NGHTTP2_PING && (in[4] & NGHTTP2_FLAG_ACK) != 0) {
        return true;
      }
      in.erase(0, 9 + len);
    }
    int n = SSL_read(ssl, buf, sizeof buf);
    if (n <= 0) {
      return false;
    }
    in.append(buf, static_cast<size_t>(n));
  }
}

TEST(Timeouts, AFreshH2ConnectionOverTlsWaitsForTheIdleTimeout) {
  ServerOptions o = tls_options();
  o.timeouts.header_read = 100;  // for HTTP/1.1 request heads
  o.timeouts.idle = 5000;
  o.timeouts.release_idle_memory = 50;
  TestServer s(o, hello_handler());
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  SSL_CTX_set_alpn_protos(ctx, reinterpret_cast<const unsigned char*>("\x02h2"), 3);
  // A server that closed too early must fail the test, not kill it with
  // SIGPIPE at the next write.
  signal(SIGPIPE, SIG_IGN);
  int fd = tcp_connect(s.port());
  timeval two_seconds{2, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &two_seconds, sizeof two_seconds);
  SSL* ssl = SSL_new(ctx);
  SSL_set_fd(ssl, fd);
  ASSERT_EQ(SSL_connect(ssl), 1);
  std::string preface = std::string("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n") +
                        std::string("\0\0\0\x04\0\0\0\0\0", 9);  // empty SETTINGS
  ASSERT_EQ(SSL_write(ssl, preface.data(), static_cast<int>(preface.size())),
            static_cast<int>(preface.size()));
  std::this_thread::sleep_for(std::chrono::milliseconds(400));
  std::string ping = std::string("\0\0\x08\x06\0\0\0\0\0", 9) + "12345678";
  ASSERT_EQ(SSL_write(ssl, ping.data(), static_cast<int>(ping.size())),
            static_cast<int>(ping.size()));
  EXPECT_TRUE(read_ping_ack(ssl));
  EXPECT_EQ(s.server().counters()[Counter::kTimeoutsIdle], 0u);
  EXPECT_EQ(s.server().counters()[Counter::kTimeoutsHeader], 0u);
  EXPECT_GT(released(s), 0u);  // over TLS too, in the 400 ms
  SSL_free(ssl);
  close(fd);
  SSL_CTX_free(ctx);
}

}  // namespace
}  // namespace valk::test
