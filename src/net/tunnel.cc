#include "net/tunnel.h"

#include <algorithm>

#include "net/reactor.h"

namespace valk::net {

namespace {

class TunnelSession final : public Session {
 public:
  TunnelSession(Conn* c, Stream* s) : conn_(c), r_(c->reactor), s_(s) {
    // A tunnel may rightly be quiet for hours (a WebSocket between
    // messages): no read timeout. Writes that do not progress still time
    // out, and so does what the peer does not acknowledge (a WebSocket's
    // pings find a vanished client so); the handler may close the
    // connection whenever it likes.
    conn_->set_timer(kTimerNone);
    conn_->fail_unacknowledged_after(r_->options().timeouts.write);
  }

  ~TunnelSession() override { close_streams(); }

  void start(std::string_view input) {
    if (!input.empty()) {
      on_input(reinterpret_cast<const uint8_t*>(input.data()), input.size());
    }
    if (!held_back_) {
      conn_->start_reading();  // HTTP/1.1 stopped for its answer
    }
  }

  bool on_input(const uint8_t* p, size_t n) override {
    if (s_ == nullptr || ended_input_) {
      return true;  // the handler finished: what else comes is dropped
    }
    s_->body_bytes += n;
    s_->body_held += n;
    if (s_->body_held >= r_->options().limits.body_window) {
      held_back_ = true;
      conn_->stop_reading();
    }
    s_->deliver_body(std::string_view(reinterpret_cast<const char*>(p), n), false);
    return true;
  }

  bool produce() override {
    Stream* s = s_;
    if (s == nullptr) {
      return true;
    }
    uint8_t buf[kWrite];
    if (s->reset_requested) {
      // A tunnel has no framing of its own to abort with: what was written
      // goes out (a WebSocket's close frame saying why), then it closes.
      size_t n = 0;
      bool eof = false;
      while (!s->chunks.empty() && s->take_body(buf, sizeof buf, &n, &eof)) {
        conn_->send(buf, n);
      }
      return false;
    }
    while (!conn_->over_high_water(kWrite)) {
      if (!s->body_pending() && !s->body_ended) {
        return true;  // waiting for write() or end()
      }
      size_t n = 0;
      bool eof = false;
      if (!s->take_body(buf, sizeof buf, &n, &eof)) {
        return false;
      }
      conn_->send(buf, n);
      if (eof) {
        finish();
        return true;
      }
      if (n == 0) {
        return true;
      }
    }
    return true;
  }

  void on_completion(Stream* s, Completion& c) override {
    if (s != s_) {
      return;
    }
    if (c.kind == Completion::Kind::kConsume) {
      s->body_held -= std::min(c.consumed, s->body_held);
      if (held_back_ && s->body_held <= r_->options().limits.body_window / 2) {
        held_back_ = false;
        if (!ended_input_) {
          conn_->start_reading();
        }
      }
      return;
    }
    if (!s->apply(c)) {
      r_->log().log(LogLevel::kWarn, "responder call out of order; ignored");
      return;
    }
    conn_->mark_dirty();
  }

  // Shutting down: a tunnel does not end by itself, so waiting for it would
  // only hold the shutdown to its deadline. Closing cancels the handler,
  // as if its client left; a WebSocket client connects again by itself.
  void drain() override { conn_->close(); }

  void on_timeout(int) override {}

  void close_streams() override {
    if (s_ != nullptr) {
      Stream* s = s_;
      s_ = nullptr;
      s->cancel();
      r_->free_stream(s);
    }
  }

  // The client half-closed: its side of the tunnel is over, and the
  // handler may still write (a WebSocket's closing handshake) and end.
  bool on_eof() override {
    if (s_ == nullptr) {
      return false;
    }
    ended_input_ = true;
    s_->deliver_body({}, true);
    return true;
  }

  bool finished() const override { return false; }

  Protocol protocol() const override { return Protocol::kHttp11; }

 private:
  void finish() {
    Stream* s = s_;
    s_ = nullptr;
    s->resp_done = true;
    s->response_sent();
    r_->free_stream(s);
    conn_->close_after_write();
  }

  static constexpr size_t kWrite = 65536;

  Conn* conn_;
  Reactor* r_;
  Stream* s_;
  bool held_back_ = false;    // reading stopped: the handler has a window's worth unread
  bool ended_input_ = false;  // the client's EOF was delivered
};

}  // namespace

std::unique_ptr<Session> make_tunnel_session(Conn* conn, Stream* stream, std::string_view input) {
  auto t = std::make_unique<TunnelSession>(conn, stream);
  t->start(input);
  return t;
}

}  // namespace valk::net
