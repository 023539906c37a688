// Burst: two requests that a server reads in one loop turn, to see whether
// it answers each connection before it reads the next.
#pragma once

#include <poll.h>

#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "h2_client.h"
#include "net_test_util.h"

namespace valk::test {

// Holds a server loop's thread: a handler calls hold(), which returns once
// the test calls release() (or after 5 s). Meanwhile the test sends more
// requests, which the loop's next turn then reads all at once.
class LoopGate {
 public:
  // In the handler of the blocking request, on the loop's thread.
  void hold() {
    std::unique_lock<std::mutex> lock(mu_);
    held_ = true;
    cv_.notify_all();
    cv_.wait_for(lock, std::chrono::seconds(5), [this] { return released_; });
  }
  // The test's thread: waits until the loop is held.
  void wait_held() {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_for(lock, std::chrono::seconds(5), [this] { return held_; });
  }
  void release() {
    std::lock_guard<std::mutex> lock(mu_);
    released_ = true;
    cv_.notify_all();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool held_ = false;
  bool released_ = false;
};

// Whether `fd` has bytes to read within `ms`, without taking them. (On
// loopback, bytes a server has written may reach the client's socket a
// moment after its write returned: the receive side can run in a softirq.)
inline bool readable_within(int fd, int ms) {
  pollfd p{fd, POLLIN, 0};
  return poll(&p, 1, ms) == 1;
}

// GET /a and GET /b on two connections, sent while GET /block on a third
// holds the server's loop (its handler calls gate().hold()), so that the
// loop's next turn reads them together. Each connection is warmed up with
// GET /warm first. The handlers of /a and /b call answered_before() to
// see whether the response to the one handled earlier has reached its
// client by then. The clients speak HTTP/1.1, or HTTP/2 with prior
// knowledge (Protocol::kHttp2).
class Burst {
 public:
  // What the server should do with the two: answer each connection before
  // the next one's handler runs, or run both handlers before either answer
  // leaves.
  enum class Answers { kInTurn, kTogether };

  explicit Burst(Protocol protocol = Protocol::kHttp11, Answers expected = Answers::kInTurn)
      : protocol_(protocol), expected_(expected) {}

  LoopGate& gate() { return gate_; }
  // What a native handler does before it answers: hold the loop for
  // /block, check the earlier answer for /a and /b.
  void on_request(std::string_view path) {
    if (path == "/block") {
      gate_.hold();
    } else if (path != "/warm") {
      answered_before(path);
    }
  }
  // In the handler of /a or /b, on the server's thread.
  void answered_before(std::string_view path) {
    std::lock_guard<std::mutex> lock(mu_);
    int fd = fds_[path == "/a" ? 1 : 2].load();
    // An answer expected may take a moment to reach the client's socket
    // (above); one not expected cannot be written while this handler holds
    // the loop's thread, so a short look suffices to see it is not there.
    int wait_ms = expected_ == Answers::kInTurn ? 500 : 50;
    if (!handled_.empty() && !readable_within(handled_.back(), wait_ms)) {
      all_answered_ = false;
    }
    handled_.push_back(fd);
    handled_cv_.notify_all();
  }
  // After run(): every request was answered, as expected.
  void check(const std::array<std::string, 3>& replies) {
    std::string ok = protocol_ == Protocol::kHttp2 ? "HTTP/2 200" : "HTTP/1.1 200";
    for (const std::string& r : replies) {
      EXPECT_TRUE(r.starts_with(ok)) << r;
    }
    std::lock_guard<std::mutex> lock(mu_);
    EXPECT_EQ(handled_.size(), 2u);
    EXPECT_EQ(all_answered_, expected_ == Answers::kInTurn);
  }
  // The clients; every response body ends with `tail`. Returns the
  // responses to /block, /a and /b: on HTTP/2, "HTTP/2 <status>" and the
  // body.
  std::array<std::string, 3> run(uint16_t port, const std::string& tail) {
    return protocol_ == Protocol::kHttp2 ? run_h2(port) : run_h1(port, tail);
  }

 private:
  // The clients read the answers to /a and /b only once both handlers have
  // run, so as not to take the bytes answered_before() looks for.
  void wait_handled() {
    std::unique_lock<std::mutex> lock(mu_);
    handled_cv_.wait_for(lock, std::chrono::seconds(5), [this] { return handled_.size() == 2; });
  }

  std::array<std::string, 3> run_h1(uint16_t port, const std::string& tail) {
    auto done = [&tail](const std::string& d) { return d.ends_with(tail); };
    for (std::atomic<int>& fd : fds_) {
      fd = tcp_connect(port);
      send_all(fd, "GET /warm HTTP/1.1\r\nHost: x\r\n\r\n");
      read_until(fd, done);
    }
    send_all(fds_[0], "GET /block HTTP/1.1\r\nHost: x\r\n\r\n");
    gate_.wait_held();
    send_all(fds_[1], "GET /a HTTP/1.1\r\nHost: x\r\n\r\n");
    send_all(fds_[2], "GET /b HTTP/1.1\r\nHost: x\r\n\r\n");
    gate_.release();
    wait_handled();
    std::array<std::string, 3> replies;
    for (int i = 0; i < 3; i++) {
      replies[i] = read_until(fds_[i], done);
      close(fds_[i]);
    }
    return replies;
  }

  std::array<std::string, 3> run_h2(uint16_t port) {
    std::array<std::unique_ptr<H2Client>, 3> clients;
    for (int i = 0; i < 3; i++) {
      clients[i] = std::make_unique<H2Client>(port);
      H2Client& c = *clients[i];
      int32_t warm = c.submit("GET", "/warm");
      c.run_until([&] { return c.streams[warm].closed; });
      // Whatever else the server sends now (a SETTINGS ack) is taken here,
      // so that the socket turns readable later only for an answer.
      while (readable_within(c.fd(), 50)) {
        c.pump(0);
      }
      fds_[i] = c.fd();
    }
    const char* paths[3] = {"/block", "/a", "/b"};
    int32_t ids[3];
    ids[0] = clients[0]->submit("GET", paths[0]);
    clients[0]->pump(0);
    gate_.wait_held();
    for (int i = 1; i < 3; i++) {
      ids[i] = clients[i]->submit("GET", paths[i]);
      clients[i]->pump(0);
    }
    gate_.release();
    wait_handled();
    std::array<std::string, 3> replies;
    for (int i = 0; i < 3; i++) {
      H2Client& c = *clients[i];
      H2Stream& st = c.streams[ids[i]];
      c.run_until([&] { return st.closed; });
      replies[i] = "HTTP/2 " + std::to_string(st.status) + "\r\n\r\n" + st.body;
    }
    return replies;
  }

  Protocol protocol_;
  Answers expected_;
  LoopGate gate_;
  std::atomic<int> fds_[3] = {-1, -1, -1};
  std::mutex mu_;
  std::condition_variable handled_cv_;
  std::vector<int> handled_;
  bool all_answered_ = true;
};

}  // namespace valk::test
