// HTTP/2 extended CONNECT (RFC 8441): the server offers it in its SETTINGS,
// and a stream that asks for a protocol is a tunnel whose request body and
// response body are the two directions (what WebSockets over HTTP/2 run on).
#include <atomic>
#include <chrono>
#include <memory>
#include <string>

#include "h2_client.h"

namespace valk::test {
namespace {

using Headers = std::vector<std::pair<std::string, std::string>>;

const Headers kWebSocket = {{":protocol", "websocket"}, {"sec-websocket-version", "13"}};

// Takes extended CONNECTs (a 101, sent as 200) and echoes their bytes upper-cased,
// each chunk as it comes; "bye" ends the response, and so does the
// client's end of its side. Anything else is answered with its method
// and protocol.
Handler connect_echo() {
  return [](Request& req, Responder res) {
    if (req.method() != "CONNECT" || req.connect_protocol().empty()) {
      res.respond(200, {},
                  std::string(req.method()) + " [" + std::string(req.connect_protocol()) + "]");
      return;
    }
    res.start(101, {{"x-protocol", std::string(req.connect_protocol())}});
    req.read_body(upper_case_echo(res), BodyFlow::kPaced);
  };
}

// Waits for the server's SETTINGS: a client may send :protocol only once
// the server has said it takes it.
uint32_t connect_protocol_setting(H2Client& c) {
  c.run_until(
      [&] {
        return nghttp2_session_get_remote_settings(c.session(),
                                                   NGHTTP2_SETTINGS_ENABLE_CONNECT_PROTOCOL) != 0;
      },
      500);
  return nghttp2_session_get_remote_settings(c.session(), NGHTTP2_SETTINGS_ENABLE_CONNECT_PROTOCOL);
}

// Opens a WebSocket's extended CONNECT to `path`, its body left open for
// send_more(); -1 if the server did not offer extended CONNECT.
int32_t open_tunnel(H2Client& c, const std::string& path = "/chat") {
  if (connect_protocol_setting(c) != 1) {
    return -1;
  }
  std::string none;
  return c.submit("CONNECT", path, &none, kWebSocket, true);
}

TEST(ConnectProtocol, AnExtendedConnectIsATunnelBothWays) {
  TestServer s(base_options(), connect_echo());
  H2Client c(s.port());
  int32_t id = open_tunnel(c);
  ASSERT_GT(id, 0);
  c.send_more(id, "hello");
  ASSERT_TRUE(c.run_until([&] { return c.streams[id].body == "HELLO"; }));
  H2Stream& st = c.streams[id];
  EXPECT_EQ(st.status, 200);
  EXPECT_FALSE(st.closed);
  bool named = false;
  for (auto& [n, v] : st.headers) {
    named |= n == "x-protocol" && v == "websocket";
    EXPECT_NE(n, "content-length");
  }
  EXPECT_TRUE(named);
  // Either side may speak at any time, for as long as it likes.
  c.send_more(id, " again");
  ASSERT_TRUE(c.run_until([&] { return st.body == "HELLO AGAIN"; }));
  // A vanished client is found as an HTTP/1.1 tunnel's is.
  EXPECT_EQ(server_user_timeout(c.fd()), 30000);
  // Ending the client's side ends the handler's too.
  c.send_more(id, "", true);
  ASSERT_TRUE(c.run_until([&] { return st.closed; }));
  EXPECT_EQ(st.error, 0u);
  // The connection serves other streams as before.
  int32_t plain = c.submit("GET", "/");
  ASSERT_TRUE(c.run_until([&] { return c.streams[plain].closed; }));
  EXPECT_EQ(c.streams[plain].body, "GET []");
}

TEST(ConnectProtocol, AnyOther2xxIsRefusedWith501) {
  TestServer s(base_options(), [](Request& req, Responder res) {
    if (req.path() == "/whole") {
      res.respond(200, {}, "not a tunnel");
    } else {
      res.start(204, {});
      res.end();
    }
  });
  H2Client c(s.port());
  int32_t whole = open_tunnel(c, "/whole");
  int32_t started = open_tunnel(c, "/started");
  ASSERT_GT(whole, 0);
  ASSERT_TRUE(
      c.run_until([&] { return c.streams[whole].status != 0 && c.streams[started].status != 0; }));
  EXPECT_EQ(c.streams[whole].status, 501);
  EXPECT_EQ(c.streams[started].status, 501);
}

TEST(ConnectProtocol, TheHandlerMayEndItFirst) {
  TestServer s(base_options(), connect_echo());
  H2Client c(s.port());
  int32_t id = open_tunnel(c);
  ASSERT_GT(id, 0);
  c.send_more(id, "bye");
  ASSERT_TRUE(c.run_until([&] {
    return nghttp2_session_get_stream_remote_close(c.session(), id) == 1 || c.streams[id].closed;
  }));
  EXPECT_EQ(c.streams[id].body, "BYE");
  // The client closes its side in turn.
  c.send_more(id, "", true);
  ASSERT_TRUE(c.run_until([&] { return c.streams[id].closed; }));
}

// Sends an extended CONNECT by hand, as a client that ignores the
// server's SETTINGS would; returns what came back within a second.
std::string raw_extended_connect(uint16_t port) {
  RawH2 raw(port);
  std::string block = raw.header_block("/chat", kWebSocket, "CONNECT");
  raw.frame(NGHTTP2_HEADERS, NGHTTP2_FLAG_END_HEADERS, 1, block);
  const std::string rst("\x00\x00\x04\x03\x00\x00\x00\x00\x01", 9);  // RST_STREAM on 1
  return read_until(
      raw.fd(), [&](const std::string& d) { return d.find(rst) != std::string::npos; }, 1000);
}

TEST(ConnectProtocol, NotOfferedWhenTurnedOff) {
  ServerOptions o = base_options();
  o.enable_connect_protocol = false;
  auto calls = std::make_shared<std::atomic<int>>(0);
  Handler echo = connect_echo();
  TestServer s(o, [calls, echo](Request& req, Responder res) {
    ++*calls;
    echo(req, res);
  });
  H2Client c(s.port());
  EXPECT_EQ(connect_protocol_setting(c), 0u);
  // A client that asks all the same has its stream reset, unanswered.
  std::string got = raw_extended_connect(s.port());
  EXPECT_NE(got.find(std::string("\x00\x00\x04\x03\x00\x00\x00\x00\x01", 9)), std::string::npos);
  EXPECT_EQ(calls->load(), 0);
  int32_t plain = c.submit("GET", "/");
  ASSERT_TRUE(c.run_until([&] { return c.streams[plain].closed; }));
  EXPECT_EQ(c.streams[plain].body, "GET []");
  EXPECT_EQ(calls->load(), 1);
}

TEST(ConnectProtocol, OfferedItIsTakenFromAnyClient) {
  auto calls = std::make_shared<std::atomic<int>>(0);
  Handler echo = connect_echo();
  TestServer s(base_options(), [calls, echo](Request& req, Responder res) {
    ++*calls;
    echo(req, res);
  });
  RawH2 raw(s.port());
  raw.frame(NGHTTP2_HEADERS, NGHTTP2_FLAG_END_HEADERS, 1,
            raw.header_block("/chat", kWebSocket, "CONNECT"));
  read_until(
      raw.fd(), [&](const std::string&) { return calls->load() == 1; }, 2000);
  EXPECT_EQ(calls->load(), 1);
}

TEST(ConnectProtocol, AGracefulShutdownResetsTunnelsAtOnce) {
  ServerOptions o = base_options();
  o.timeouts.drain = 10000;
  TestServer s(o, connect_echo());
  H2Client c(s.port());
  int32_t id = open_tunnel(c);
  ASSERT_GT(id, 0);
  c.send_more(id, "hi");
  ASSERT_TRUE(c.run_until([&] { return c.streams[id].body == "HI"; }));
  auto start = std::chrono::steady_clock::now();
  s.server().shutdown();
  ASSERT_TRUE(c.run_until([&] { return c.streams[id].closed; }, 5000));
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(3));
  s.server().wait();
}

}  // namespace
}  // namespace valk::test
