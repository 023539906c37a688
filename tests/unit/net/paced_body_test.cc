// A paced body reader (BodyFlow::kPaced) holds the client back while it
// has a window's worth of body it has not consumed: h2 flow control on
// h2, stopped reads on HTTP/1.1; consuming lets the rest through.
#include <mutex>

#include "h2_client.h"

namespace valk::test {
namespace {

constexpr uint32_t kWindow = 256 * 1024;

// POST /held reads its body paced and consumes nothing until open() is
// called; then it consumes as it goes and answers with the byte count.
struct Held {
  std::mutex mu;
  uint64_t delivered = 0;
  uint64_t owed = 0;  // delivered while closed
  bool is_open = false;
  bool started = false;
  Responder res;

  uint64_t seen() {
    std::lock_guard<std::mutex> lock(mu);
    return delivered;
  }
  void open() {
    std::lock_guard<std::mutex> lock(mu);
    is_open = true;
    res.consume_body(owed);
    owed = 0;
  }
};

Handler held_handler(std::shared_ptr<Held> held) {
  return [held](Request& req, Responder res) {
    if (req.path() == "/early") {
      // Answers at once and never consumes what it is given.
      req.read_body([](std::string_view, bool) {}, BodyFlow::kPaced);
      res.respond(200, {}, "early");
      return;
    }
    if (req.path() != "/held") {
      res.respond(200, {}, "hi");
      return;
    }
    {
      std::lock_guard<std::mutex> lock(held->mu);
      held->res = res;
      held->started = true;
    }
    req.read_body(
        [held, res](std::string_view chunk, bool last) {
          std::lock_guard<std::mutex> lock(held->mu);
          held->delivered += chunk.size();
          if (held->is_open) {
            res.consume_body(chunk.size());
          } else {
            held->owed += chunk.size();
          }
          if (last) {
            res.respond(200, {}, std::to_string(held->delivered));
          }
        },
        BodyFlow::kPaced);
  };
}

ServerOptions paced_options() {
  ServerOptions o = base_options();
  o.reactors = 1;
  o.limits.body_window = kWindow;
  o.timeouts.body_read = 300;  // the reader's own slowness must not trip it
  return o;
}

TEST(PacedBody, H2HoldsTheClientAtTheStreamWindow) {
  auto held = std::make_shared<Held>();
  TestServer s(paced_options(), held_handler(held));
  H2Client c(s.port());
  const std::string body(4 << 20, 'x');
  int32_t up = c.submit("POST", "/held", &body);
  c.run_until([] { return false; }, 800);
  EXPECT_GT(held->seen(), 0u);
  EXPECT_LE(held->seen(), kWindow);
  EXPECT_FALSE(c.streams[up].closed);

  // Other streams on the connection go on meanwhile.
  int32_t get = c.submit("GET", "/");
  ASSERT_TRUE(c.run_until([&] { return c.streams[get].closed; }));
  EXPECT_EQ(c.streams[get].status, 200);

  held->open();
  ASSERT_TRUE(c.run_until([&] { return c.streams[up].closed; }));
  EXPECT_EQ(c.streams[up].status, 200);
  EXPECT_EQ(c.streams[up].body, std::to_string(body.size()));
}

// Streams that end with their body unconsumed give the connection window
// back: more of them than the connection window could hold leave it open.
TEST(PacedBody, H2StreamsResetWhileHeldReleaseTheConnectionWindow) {
  auto held = std::make_shared<Held>();
  TestServer s(paced_options(), held_handler(held));
  H2Client c(s.port());
  const std::string body(2 * kWindow, 'x');
  constexpr int kStreams = 80;  // 80 x 256 KiB held = 20 MiB > the 16 MiB window
  for (int i = 0; i < kStreams; i++) {
    uint64_t before = held->seen();
    int32_t id = c.submit("POST", "/held", &body);
    ASSERT_TRUE(c.run_until([&] { return held->seen() == before + kWindow; }))
        << "stream " << i << " got " << held->seen() - before;
    c.reset(id);
    c.run_until([&] { return c.streams[id].closed; });
  }
  int32_t get = c.submit("GET", "/");
  ASSERT_TRUE(c.run_until([&] { return c.streams[get].closed; }));
  EXPECT_EQ(c.streams[get].status, 200);
}

// Once the answer is complete the rest of the body is read and dropped,
// so the client finishes sending instead of waiting for window forever.
TEST(PacedBody, H2AnswerBeforeTheBodyLetsTheRestThrough) {
  auto held = std::make_shared<Held>();
  TestServer s(paced_options(), held_handler(held));
  H2Client c(s.port());
  const std::string body(4 << 20, 'x');
  int32_t id = c.submit("POST", "/early", &body);
  ASSERT_TRUE(c.run_until([&] { return c.streams[id].closed; }));
  EXPECT_EQ(c.streams[id].status, 200);
  EXPECT_EQ(c.streams[id].error, 0u);
  EXPECT_EQ(c.streams[id].body, "early");
}

TEST(PacedBody, Http1StopsReadingUntilConsumedAndKeepsTheBodyTimerAtRest) {
  auto held = std::make_shared<Held>();
  TestServer s(paced_options(), held_handler(held));
  constexpr size_t kSize = 8 << 20;
  int fd = tcp_connect(s.port());
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(send_all(fd, "POST /held HTTP/1.1\r\nHost: x\r\nContent-Length: " +
                               std::to_string(kSize) + "\r\n\r\n"));
  RawUpload upload(fd, kSize);
  ASSERT_LT(upload.send_for(800), kSize) << "the kernel took the whole body; make it bigger";
  uint64_t seen = held->seen();
  EXPECT_GE(seen, kWindow);
  // A window, plus at most what one read brought in after the limit.
  EXPECT_LE(seen, kWindow + 64 * 1024);

  held->open();
  upload.send_rest_in_background();
  std::string resp = read_until(
      fd, [](const std::string& d) { return d.find("\r\n\r\n") != std::string::npos; }, 10000);
  upload.finish();
  EXPECT_EQ(resp.substr(0, 15), "HTTP/1.1 200 OK") << resp;
  resp += read_until(
      fd, [&](const std::string& d) { return (resp + d).ends_with(std::to_string(kSize)); }, 2000);
  EXPECT_TRUE(resp.ends_with(std::to_string(kSize))) << resp;
  close(fd);
}

// HTTP/1.1 reads at most 256 KiB ahead of a paced reader, however large
// the window (which is h2's): TCP holds the client back from there.
TEST(PacedBody, Http1ReadsAheadAtMost256KiB) {
  auto held = std::make_shared<Held>();
  ServerOptions o = paced_options();
  o.limits.body_window = 4 << 20;
  TestServer s(o, held_handler(held));
  constexpr size_t kSize = 32 << 20;
  int fd = tcp_connect(s.port());
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(send_all(fd, "POST /held HTTP/1.1\r\nHost: x\r\nContent-Length: " +
                               std::to_string(kSize) + "\r\n\r\n"));
  RawUpload upload(fd, kSize);
  ASSERT_LT(upload.send_for(800), kSize);
  EXPECT_GE(held->seen(), 256u * 1024);
  EXPECT_LE(held->seen(), 256u * 1024 + 64 * 1024);
  held->open();
  upload.send_rest_in_background();
  std::string resp = read_until(
      fd, [&](const std::string& d) { return d.ends_with(std::to_string(kSize)); }, 20000);
  upload.finish();
  EXPECT_TRUE(resp.ends_with(std::to_string(kSize))) << resp.substr(0, 200);
  close(fd);
}

}  // namespace
}  // namespace valk::test
