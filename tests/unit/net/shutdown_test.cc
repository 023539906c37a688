// Graceful shutdown: GOAWAY (2^31-1, then the real last id), in-flight
// requests finish, the drain deadline cuts what remains.
#include <atomic>
#include <mutex>

#include "h2_client.h"

namespace valk::test {
namespace {

// Parks every responder until release() answers them all.
struct Parked {
  std::mutex mu;
  std::vector<Responder> waiting;
  std::atomic<int> cancelled{0};
  Handler handler() {
    return [this](Request& req, Responder res) {
      req.on_cancel([this] { cancelled++; });
      std::lock_guard<std::mutex> g(mu);
      waiting.push_back(res);
    };
  }
  size_t count() {
    std::lock_guard<std::mutex> g(mu);
    return waiting.size();
  }
  void release() {
    std::lock_guard<std::mutex> g(mu);
    for (Responder& r : waiting) {
      r.respond(200, {}, "done");
    }
    waiting.clear();
  }
};

TEST(Shutdown, H2InFlightStreamsFinish) {
  Parked parked;
  ServerOptions o = base_options();
  o.reactors = 1;
  TestServer s(o, parked.handler());
  H2Client c(s.port());
  std::vector<int32_t> ids;
  for (int i = 0; i < 5; ++i) {
    ids.push_back(c.submit("GET", "/" + std::to_string(i)));
  }
  ASSERT_TRUE(c.run_until([&] { return parked.count() == 5; }));
  s.server().shutdown();
  // First GOAWAY announces 2^31-1; after the PING round trip the real one
  // names the last stream we processed.
  ASSERT_TRUE(c.run_until([&] { return c.goaways >= 2; }));
  EXPECT_EQ(c.goaway_last_id, ids.back());
  EXPECT_EQ(c.goaway_error, 0u);
  parked.release();
  ASSERT_TRUE(c.run_until([&] { return c.all_closed(); }));
  for (int32_t id : ids) {
    EXPECT_EQ(c.streams[id].status, 200);
    EXPECT_EQ(c.streams[id].body, "done");
  }
  EXPECT_TRUE(c.run_until([&] { return c.conn_closed; }));
  s.server().wait();
  EXPECT_EQ(parked.cancelled.load(), 0);
}

TEST(Shutdown, H1InFlightRequestFinishesWithConnectionClose) {
  Parked parked;
  TestServer s(base_options(), parked.handler());
  int busy = tcp_connect(s.port());
  int idle = tcp_connect(s.port());
  send_all(busy, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
  ASSERT_TRUE(eventually([&] { return parked.count() == 1; }));
  s.server().shutdown();
  bool idle_closed = false;
  read_until(
      idle, [](const std::string&) { return false; }, 5000, &idle_closed);
  EXPECT_TRUE(idle_closed);
  parked.release();
  bool closed = false;
  std::string r = read_until(
      busy, [](const std::string&) { return false; }, 5000, &closed);
  EXPECT_NE(r.find("connection: close"), std::string::npos) << r;
  EXPECT_NE(r.find("done"), std::string::npos);
  EXPECT_TRUE(closed);
  s.server().wait();
  close(busy);
  close(idle);
}

TEST(Shutdown, DrainDeadlineCancelsWhatRemains) {
  Parked parked;
  ServerOptions o = base_options();
  o.timeouts.drain = 200;
  TestServer s(o, parked.handler());
  H2Client c(s.port());
  c.submit("GET", "/");
  ASSERT_TRUE(c.run_until([&] { return parked.count() == 1; }));
  auto t0 = std::chrono::steady_clock::now();
  s.server().stop();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(3));
  EXPECT_EQ(parked.cancelled.load(), 1);
  parked.release();  // late answers are dropped, not crashed on
}

TEST(Shutdown, NewConnectionsAreRefused) {
  TestServer s(base_options(), hello_handler());
  s.server().stop();
  EXPECT_LT(tcp_connect(s.port()), 0);
}

}  // namespace
}  // namespace valk::test
