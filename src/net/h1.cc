#include "net/h1.h"

#include <http_parser.h>
#include <charconv>

#include <algorithm>
#include <cstring>

#include "net/file_body.h"
#include "net/h2.h"
#include "net/reactor.h"
#include "net/tunnel.h"
#include "util/ascii.h"

namespace valk::net {

namespace {

// The most of a body read ahead of a paced reader (ServerLimits::body_window
// says more for the h2 window): past it TCP's buffers hold the client back
// as well, and each upload in flight holds that much less (bench/serve/
// upload.sh: 39 MB of RSS for 16 uploads through valk/proxy at 1 MiB,
// 16 MB at 256 KiB, the same throughput).
constexpr uint64_t kMaxReadAhead = 256 * 1024;

// Whether a comma-separated header value holds `token` (case-insensitive).
bool has_token(std::string_view v, std::string_view token) {
  while (!v.empty()) {
    size_t c = v.find(',');
    std::string_view t = v.substr(0, c);
    while (!t.empty() && (t.front() == ' ' || t.front() == '\t')) {
      t.remove_prefix(1);
    }
    while (!t.empty() && (t.back() == ' ' || t.back() == '\t')) {
      t.remove_suffix(1);
    }
    if (ascii_iequals(t, token)) {
      return true;
    }
    if (c == std::string_view::npos) {
      break;
    }
    v.remove_prefix(c + 1);
  }
  return false;
}

std::string base64url_decode(std::string_view in) {
  std::string out;
  uint32_t acc = 0;
  int bits = 0;
  for (char ch : in) {
    int v;
    if (ch >= 'A' && ch <= 'Z') {
      v = ch - 'A';
    } else if (ch >= 'a' && ch <= 'z') {
      v = ch - 'a' + 26;
    } else if (ch >= '0' && ch <= '9') {
      v = ch - '0' + 52;
    } else if (ch == '-' || ch == '+') {
      v = 62;
    } else if (ch == '_' || ch == '/') {
      v = 63;
    } else if (ch == '=') {
      break;
    } else {
      continue;
    }
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xff));
    }
  }
  return out;
}

class H1Session final : public Session {
 public:
  explicit H1Session(Conn* c) : conn_(c), r_(c->reactor) {
    http_parser_init(&parser_, HTTP_REQUEST);
    parser_.data = this;
  }

  ~H1Session() override { close_streams(); }

  // ---- Session ----

  bool on_input(const uint8_t* p, size_t n) override {
    if (paused_ || closing_) {
      if (!closing_) {
        backlog_.append(reinterpret_cast<const char*>(p), n);
      }
      conn_->stop_reading();
      return true;
    }
    return feed(reinterpret_cast<const char*>(p), n);
  }

  Protocol protocol() const override { return http10_ ? Protocol::kHttp10 : Protocol::kHttp11; }

  bool produce() override {
    Stream* s = cur_;
    if (s == nullptr || !s->head_ready || s->resp_done) {
      return true;
    }
    if (s->reset_requested) {
      return false;
    }
    if (!s->head_sent) {
      send_head(s);
      if (s->status == 101) {
        return switch_to_tunnel();
      }
    }
    // Large reads: each take_body may be a file read, a syscall. What one
    // read brings is written before the next: copied into the socket while
    // it is still in the cache (64 KiB writes took a 1 MiB download from
    // about 0.38 to 0.32 CPU-s/GB against 256 KiB ones).
    uint8_t buf[kBodyRead];
    while (!conn_->over_high_water(kBodyRead)) {
      if (s->head_request || no_body_) {
        // No body on the wire: wait for the end, drop what was written.
        s->drop_chunks();
        if (!s->body_ended && s->source == nullptr) {
          break;
        }
        s->drop_source();
        return finish_response();
      }
      if (!s->body_pending() && !s->body_ended) {
        break;  // waiting for write() or end()
      }
      if (s->file != nullptr && !chunked_) {
        // A file range: read straight into the connection's blocks.
        size_t n = static_cast<size_t>(std::min<uint64_t>(sizeof buf, s->file->remaining()));
        if (!conn_->send_file(nullptr, 0, *s->file, n)) {
          return false;
        }
        s->file_sent(n);
        if (s->source == nullptr) {
          return finish_response();
        }
        continue;
      }
      size_t n = 0;
      bool eof = false;
      if (!s->take_body(buf, sizeof buf, &n, &eof)) {
        return false;
      }
      if (n > 0) {
        if (chunked_) {
          char hex[24];
          int k = snprintf(hex, sizeof hex, "%zx\r\n", n);
          conn_->send(hex, static_cast<size_t>(k));
          conn_->send(buf, n);
          conn_->send("\r\n", 2);
        } else {
          conn_->send(buf, n);
        }
      }
      if (eof) {
        if (chunked_) {
          std::string tail = "0\r\n";
          for (const Header& h : s->trailers) {
            tail += h.name + ": " + h.value + "\r\n";
          }
          tail += "\r\n";
          conn_->send(tail);
        }
        return finish_response();
      }
      if (n == 0) {
        break;
      }
    }
    return true;
  }

  void on_completion(Stream* s, Completion& c) override {
    if (s != cur_) {
      return;
    }
    if (c.kind == Completion::Kind::kConsume) {
      consume_body(c.consumed);
      return;
    }
    if (!s->apply(c)) {
      r_->log().log(LogLevel::kWarn, "responder call out of order; ignored");
      return;
    }
    conn_->mark_dirty();
  }

  void drain() override {
    keep_alive_ = false;
    if (cur_ == nullptr || cur_->open_event_stream()) {
      conn_->close();  // an event stream's writer is cancelled, as if its client left
    }
  }

  void on_timeout(int kind) override {
    if (kind == kTimerHeader && cur_ != nullptr && !cur_->dispatched) {
      r_->count(Counter::kTimeoutsHeader);
      reject(408);
    } else if (kind == kTimerBody && cur_ != nullptr) {
      r_->count(Counter::kTimeoutsBody);
      reject(408);
    } else if (kind == kTimerHeader || kind == kTimerIdle) {
      r_->count(kind == kTimerIdle ? Counter::kTimeoutsIdle : Counter::kTimeoutsHeader);
      conn_->close();
    }
  }

  void close_streams() override {
    if (cur_ != nullptr) {
      Stream* s = cur_;
      cur_ = nullptr;
      s->cancel();
      r_->free_stream(s);
    }
  }

  bool on_eof() override {
    // EOF before the handler answered means the client left (curl timing
    // out, a closed tab): like nginx, close, which cancels the handler;
    // unless half-closed clients are served. A client that half-closes
    // after its answer started gets the rest.
    if (cur_ == nullptr || !cur_->req_complete ||
        (!cur_->head_ready && !r_->options().serve_half_closed)) {
      return false;
    }
    keep_alive_ = false;
    closing_eof_ = true;
    return true;
  }

  bool finished() const override { return false; }

 private:
  // ---- input ----

  bool feed(const char* p, size_t n) {
    while (n > 0 && !closing_) {
      size_t k = http_parser_execute(&parser_, &kSettings, p, n);
      if (error_status_ != 0) {
        reject(error_status_);
        return true;
      }
      http_errno err = HTTP_PARSER_ERRNO(&parser_);
      if (err == HPE_PAUSED) {
        // Pipelined bytes wait for this response. Without any, reading
        // goes on so that a client leaving (EOF) is seen at once; the
        // next read is kept (on_input) and reading stops then.
        if (k < n) {
          backlog_.assign(p + k, n - k);
          conn_->stop_reading();
        } else {
          backlog_.clear();  // not assign(): a call into libstdc++ per request
        }
        return true;
      }
      if (err != HPE_OK) {
        r_->count(Counter::kProtocolErrors);
        if (cur_ != nullptr && !cur_->head_sent) {
          reject(400);
          return true;
        }
        return false;
      }
      if (parser_.upgrade) {
        if (upgrade_ != nullptr) {
          return switch_to_h2(p + k, n - k);
        }
        // An upgrade we do not take (or CONNECT): go on as HTTP/1.1.
        http_parser_init(&parser_, HTTP_REQUEST);
        parser_.data = this;
        if (cur_ != nullptr) {
          paused_ = true;
          backlog_.assign(p + k, n - k);
          conn_->stop_reading();
          return true;
        }
      }
      p += k;
      n -= k;
    }
    return true;
  }

  static H1Session* self(http_parser* p) { return static_cast<H1Session*>(p->data); }

  static int on_message_begin(http_parser* p) {
    H1Session* s = self(p);
    s->cur_ = s->r_->new_stream(s->conn_);
    s->url_ = {};
    s->field_ = {};
    s->value_ = {};
    s->in_value_ = false;
    s->upgrade_ = nullptr;
    s->r_->count(Counter::kRequestsH1);
    s->conn_->set_timer(kTimerHeader);
    return 0;
  }

  static int on_url(http_parser* p, const char* at, size_t len) {
    H1Session* s = self(p);
    if (s->url_.size + len > s->r_->options().limits.max_url_length) {
      s->r_->count(Counter::kLimitUrl);
      s->error_status_ = 414;
      return -1;
    }
    s->cur_->append(s->url_, {at, len}, false);
    return 0;
  }

  bool add_header_bytes(size_t len) {
    cur_->header_bytes += len;
    if (cur_->header_bytes > r_->options().limits.max_header_list_size) {
      r_->count(Counter::kLimitHeaders);
      error_status_ = 431;
      return false;
    }
    return true;
  }

  void commit_header() {
    cur_->add_interned_header(field_.view(), value_.view());
    field_ = {};
    value_ = {};
  }

  static int on_header_field(http_parser* p, const char* at, size_t len) {
    H1Session* s = self(p);
    if (s->in_value_) {
      s->commit_header();
      s->in_value_ = false;
    }
    if (!s->add_header_bytes(len)) {
      return -1;
    }
    s->cur_->append(s->field_, {at, len}, true);
    return 0;
  }

  static int on_header_value(http_parser* p, const char* at, size_t len) {
    H1Session* s = self(p);
    s->in_value_ = true;
    if (!s->add_header_bytes(len)) {
      return -1;
    }
    s->cur_->append(s->value_, {at, len}, false);
    return 0;
  }

  static int on_headers_complete(http_parser* p) {
    H1Session* s = self(p);
    Stream* st = s->cur_;
    if (s->in_value_) {
      s->commit_header();
      s->in_value_ = false;
    }
    st->method = http_method_str(static_cast<http_method>(p->method));
    st->url = s->url_.view();
    st->scheme = s->conn_->tls_info != nullptr ? "https" : "http";
    bool has_cl = (p->flags & F_CONTENTLENGTH) != 0;
    bool chunked = (p->flags & F_CHUNKED) != 0;
    int64_t cl = has_cl ? static_cast<int64_t>(p->content_length) : -1;
    bool has_body = chunked || cl > 0;
    Protocol proto = p->http_minor == 0 ? Protocol::kHttp10 : Protocol::kHttp11;
    st->finish_head(proto, s->conn_->peer, s->conn_->tls_info.get(), cl, has_body);
    st->set_authority(st->req.header("host"));
    s->http10_ = proto == Protocol::kHttp10;
    s->keep_alive_ = http_should_keep_alive(p) != 0 && !s->r_->draining();
    if (cl > 0 && static_cast<uint64_t>(cl) > s->r_->options().limits.max_body_size) {
      s->r_->count(Counter::kLimitBody);
      s->error_status_ = 413;
      return -1;
    }
    if (p->upgrade && !has_body && s->conn_->tls_info == nullptr && s->r_->options().enable_h2c &&
        has_token(st->req.header("upgrade"), "h2c")) {
      std::string_view settings = st->req.header("http2-settings");
      if (!settings.empty()) {
        s->upgrade_ = st;
        s->h2_settings_ = base64url_decode(settings);
        return 0;
      }
    }
    if (p->upgrade && !has_body && p->method != HTTP_CONNECT &&
        !has_token(st->req.header("upgrade"), "h2c")) {
      st->offer_upgrade();
    }
    if (has_body && !s->http10_ && has_token(st->req.header("expect"), "100-continue")) {
      s->conn_->send("HTTP/1.1 100 Continue\r\n\r\n");
    }
    s->conn_->set_timer(has_body ? kTimerBody : kTimerNone);
    s->r_->dispatch(st);
    return 0;
  }

  static int on_body(http_parser* p, const char* at, size_t len) {
    H1Session* s = self(p);
    Stream* st = s->cur_;
    if (st == nullptr) {
      return 0;
    }
    st->body_bytes += len;
    if (st->body_bytes > s->r_->options().limits.max_body_size) {
      s->r_->count(Counter::kLimitBody);
      s->error_status_ = 413;
      return -1;
    }
    if (st->req.body_flow() == BodyFlow::kPaced) {
      st->body_held += len;
      if (st->body_held >= s->read_ahead()) {
        s->hold_body();
      }
    }
    if (!s->body_held_back_) {
      s->conn_->set_timer(kTimerBody);
    }
    st->deliver_body(std::string_view(at, len), false);
    return 0;
  }

  // What of a body is read ahead of a paced reader.
  uint64_t read_ahead() const {
    return std::min<uint64_t>(r_->options().limits.body_window, kMaxReadAhead);
  }

  // A paced reader has a window's worth of body it has not used: stop
  // reading (what is already read still gets parsed) until it catches up.
  // Its slowness is not the client's, so the body timer rests meanwhile.
  void hold_body() {
    if (!body_held_back_) {
      body_held_back_ = true;
      conn_->stop_reading();
      conn_->set_timer(kTimerNone);
    }
  }

  void consume_body(uint64_t n) {
    Stream* st = cur_;
    st->body_held -= std::min(n, st->body_held);
    if (body_held_back_ && st->body_held <= read_ahead() / 2) {
      body_held_back_ = false;
      if (!st->req_complete) {
        conn_->set_timer(kTimerBody);
      }
      if (!paused_ && !closing_) {
        conn_->start_reading();
      }
    }
  }

  static int on_message_complete(http_parser* p) {
    H1Session* s = self(p);
    Stream* st = s->cur_;
    if (st == nullptr) {
      return 0;
    }
    st->req_complete = true;
    s->conn_->set_timer(kTimerNone);
    if (s->upgrade_ != nullptr) {
      return 0;  // the parser stops here; feed() switches protocols
    }
    if (!st->req.upgrade_offered()) {
      st->deliver_body({}, true);  // else the body reader is the tunnel's, after a 101
    }
    // One request at a time: the next one stays unparsed until this
    // response is out, which keeps pipelined responses in order.
    http_parser_pause(p, 1);
    s->paused_ = true;
    return 0;
  }

  // ---- output ----

  void send_head(Stream* s) {
    s->head_sent = true;
    no_body_ = s->status == 204 || s->status == 304 || (s->status >= 100 && s->status < 200);
    bool user_cl = false;
    for (const Header& x : s->response_headers()) {
      user_cl = user_cl || ascii_iequals(x.name, "content-length");
    }
    chunked_ = false;
    bool has_length = false;
    if (!user_cl && !no_body_) {
      if (s->complete_body) {
        has_length = true;
      } else if (!http10_) {
        chunked_ = true;
      } else {
        keep_alive_ = false;  // the body ends when the connection does
      }
    }
    if (!s->req_complete || r_->draining() || closing_eof_) {
      keep_alive_ = false;
    }
    char status_digits[24], length_digits[24];
    std::string_view status(
        status_digits,
        std::to_chars(status_digits, status_digits + sizeof status_digits, s->status).ptr);
    std::string_view length;
    if (has_length) {
      size_t n = s->chunks.empty() ? 0 : s->chunks.front().size();
      length = {length_digits,
                std::to_chars(length_digits, length_digits + sizeof length_digits, n).ptr};
    }
    const std::string& server = r_->options().server_name;
    std::string_view reason = status_reason(s->status);
    std::string_view date = r_->http_date();
    // The head's pieces, walked twice: once to size the buffer, once to
    // fill it with plain copies.
    auto pieces = [&](auto&& put) {
      if (http10_) {
        put("HTTP/1.0 ");
      } else {
        put("HTTP/1.1 ");
      }
      put(status);
      put(" ");
      put(reason);
      put("\r\n");
      for (const Header& x : s->response_headers()) {
        if (ascii_iequals(x.name, "connection") || ascii_iequals(x.name, "transfer-encoding")) {
          continue;
        }
        put(x.name);
        put(": ");
        put(x.value);
        put("\r\n");
      }
      put("date: ");
      put(date);
      put("\r\n");
      if (!server.empty()) {
        put("server: ");
        put(server);
        put("\r\n");
      }
      if (has_length) {
        put("content-length: ");
        put(length);
        put("\r\n");
      } else if (chunked_) {
        put("transfer-encoding: chunked\r\n");
      }
      if (s->status == 101) {
        put("connection: upgrade\r\n");
      } else if (!keep_alive_) {
        put("connection: close\r\n");
      } else if (http10_) {
        put("connection: keep-alive\r\n");
      }
      put("\r\n");
    };
    size_t size = 0;
    pieces([&size](std::string_view p) { size += p.size(); });
    // One buffer per reactor thread: a head costs no allocation and an idle
    // connection holds none.
    static thread_local std::string h;
    h.resize(size);
    char* out = h.data();
    pieces([&out](std::string_view p) {
      if (!p.empty()) {  // an empty view's data() may be null
        memcpy(out, p.data(), p.size());
        out += p.size();
      }
    });
    conn_->send(h);
  }

  bool finish_response() {
    Stream* s = cur_;
    s->resp_done = true;
    if (s->status >= 500) {
      r_->count(Counter::kResponses5xx);
    } else if (s->status >= 400) {
      r_->count(Counter::kResponses4xx);
    }
    s->response_sent();
    if (!s->req_complete) {
      keep_alive_ = false;
    }
    cur_ = nullptr;
    body_held_back_ = false;
    r_->free_stream(s);
    if (!keep_alive_ || r_->draining()) {
      closing_ = true;
      conn_->close_after_write();
      return true;
    }
    conn_->set_timer(kTimerIdle);
    paused_ = false;
    http_parser_pause(&parser_, 0);
    if (!backlog_.empty()) {
      std::string input = std::move(backlog_);
      backlog_.clear();
      if (!feed(input.data(), input.size())) {
        return false;
      }
    }
    if (conn_->session.get() != this) {
      return true;  // switched to h2c; the new session reads from here on
    }
    if (!paused_ && !closing_) {
      conn_->start_reading();
    }
    return true;
  }

  // Answers a request we will not serve (and closes after it).
  void reject(int status) {
    closing_ = true;
    error_status_ = 0;
    if (cur_ != nullptr && cur_->head_sent) {
      conn_->close();
      return;
    }
    std::string h = "HTTP/1.1 " + std::to_string(status) + " " + status_reason(status) +
                    "\r\ncontent-length: 0\r\nconnection: close\r\n\r\n";
    conn_->send(h);
    r_->count(status >= 500 ? Counter::kResponses5xx : Counter::kResponses4xx);
    if (cur_ != nullptr) {
      Stream* s = cur_;
      cur_ = nullptr;
      if (s->method.empty()) {
        s->method = "-";
      }
      s->status = status;
      s->response_sent();
      s->cancel();
      r_->free_stream(s);
    }
    conn_->close_after_write();
  }

  bool switch_to_h2(const char* rest, size_t n) {
    Stream* st = upgrade_;
    upgrade_ = nullptr;
    cur_ = nullptr;
    conn_->send("HTTP/1.1 101 Switching Protocols\r\nconnection: Upgrade\r\nupgrade: h2c\r\n\r\n");
    Conn* conn = conn_;
    std::unique_ptr<Session> h2 = make_h2_upgraded(conn, h2_settings_, st);
    if (h2 == nullptr) {
      r_->free_stream(st);
      return false;
    }
    // Callers up the stack (finish_response, feed) still run in this
    // session, so it is retired rather than destroyed.
    conn->retired_session = std::move(conn->session);
    conn->session = std::move(h2);
    std::string input(rest, n);
    bool ok = conn->session->on_input(reinterpret_cast<const uint8_t*>(input.data()), n);
    conn->start_reading();
    return ok;
  }

  // The handler accepted the client's upgrade: the connection carries its
  // stream's bytes from here on, starting with what came after the head.
  bool switch_to_tunnel() {
    Stream* st = cur_;
    cur_ = nullptr;
    std::string input = std::move(backlog_);
    backlog_.clear();
    Conn* conn = conn_;
    // Callers up the stack (Conn::flush) still run in this session.
    conn->retired_session = std::move(conn->session);
    conn->session = make_tunnel_session(conn, st, input);
    return conn->session->produce();
  }

  static const http_parser_settings kSettings;
  static constexpr size_t kBodyRead = 65536;

  Conn* conn_;
  Reactor* r_;
  http_parser parser_;
  Stream* cur_ = nullptr;
  Stream* upgrade_ = nullptr;
  // The request line's target and the header being read, in the stream's
  // arena (lower-cased name), each grown if it comes in pieces.
  ArenaText url_, field_, value_;
  std::string backlog_, h2_settings_;
  bool in_value_ = false;
  bool paused_ = false;
  bool body_held_back_ = false;  // reads stopped for a paced body reader
  bool closing_ = false;
  bool keep_alive_ = true;
  bool closing_eof_ = false;  // the peer half-closed; finish the current response
  bool http10_ = false;
  bool chunked_ = false;
  bool no_body_ = false;
  int error_status_ = 0;
};

const http_parser_settings H1Session::kSettings = {
    .on_message_begin = H1Session::on_message_begin,
    .on_url = H1Session::on_url,
    .on_status = nullptr,
    .on_header_field = H1Session::on_header_field,
    .on_header_value = H1Session::on_header_value,
    .on_headers_complete = H1Session::on_headers_complete,
    .on_body = H1Session::on_body,
    .on_message_complete = H1Session::on_message_complete,
    .on_chunk_header = nullptr,
    .on_chunk_complete = nullptr,
};

}  // namespace

std::unique_ptr<Session> make_h1_session(Conn* conn) {
  return std::make_unique<H1Session>(conn);
}

}  // namespace valk::net
