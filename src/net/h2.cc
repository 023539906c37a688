#include "net/h2.h"

#include <nghttp2/nghttp2.h>

#include <algorithm>
#include <cassert>
#include <charconv>
#include <cstring>

#include "net/file_body.h"
#include "net/h2_memory.h"
#include "net/reactor.h"
#include "util/ascii.h"

namespace valk::net {

namespace {

constexpr uint8_t kDrainPing[8] = {'v', 'a', 'l', 'k', 'd', 'r', 'a', 'n'};

// A token bucket: `rate` tokens a second, holding at most `rate`.
struct Bucket {
  double tokens = -1;
  uint64_t last_ms = 0;
  bool take(uint32_t rate, uint64_t now_ms) {
    if (rate == 0) {
      return true;
    }
    if (tokens < 0) {
      tokens = rate;
    } else {
      tokens = std::min<double>(rate, tokens + (now_ms - last_ms) * rate / 1000.0);
    }
    last_ms = now_ms;
    if (tokens < 1) {
      return false;
    }
    tokens -= 1;
    return true;
  }
};

// `n` is lower case.
bool connection_specific(std::string_view n) {
  return n == "connection" || n == "keep-alive" || n == "transfer-encoding" || n == "upgrade" ||
         n == "proxy-connection";
}

// Writes `v` in decimal into `buf`; returns the length.
template <size_t N, typename T>
size_t to_chars(char (&buf)[N], T v) {
  return static_cast<size_t>(std::to_chars(buf, buf + N, v).ptr - buf);
}

nghttp2_nv make_nv(std::string_view n, std::string_view v) {
  return nghttp2_nv{const_cast<uint8_t*>(reinterpret_cast<const uint8_t*>(n.data())),
                    const_cast<uint8_t*>(reinterpret_cast<const uint8_t*>(v.data())), n.size(),
                    v.size(), NGHTTP2_NV_FLAG_NONE};
}

class H2Session final : public Session {
 public:
  explicit H2Session(Conn* c) : conn_(c), r_(c->reactor) {}

  ~H2Session() override {
    close_streams();
    nghttp2_session_del(s_);
  }

  bool init(std::string_view upgrade_settings, Stream* upgraded) {
    nghttp2_session_callbacks* cb;
    nghttp2_session_callbacks_new(&cb);
    nghttp2_session_callbacks_set_on_begin_frame_callback(cb, on_begin_frame);
    nghttp2_session_callbacks_set_on_begin_headers_callback(cb, on_begin_headers);
    nghttp2_session_callbacks_set_on_header_callback(cb, on_header);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cb, on_frame_recv);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, on_data_chunk);
    nghttp2_session_callbacks_set_on_stream_close_callback(cb, on_stream_close);
    nghttp2_session_callbacks_set_on_frame_send_callback(cb, on_frame_send);
    nghttp2_session_callbacks_set_send_data_callback(cb, send_data);
    nghttp2_session_callbacks_set_on_invalid_frame_recv_callback(cb, on_invalid_frame);
    nghttp2_session_callbacks_set_error_callback2(cb, on_error);
    const ServerLimits& lim = r_->options().limits;
    nghttp2_option* opt;
    nghttp2_option_new(&opt);
    nghttp2_option_set_max_continuations(opt, lim.max_continuations);
    // Received DATA opens the windows again only once consumed: at once,
    // unless a paced body reader holds it (on_data_chunk).
    nghttp2_option_set_no_auto_window_update(opt, 1);
    if (lim.max_resets_per_second != 0) {
      nghttp2_option_set_stream_reset_rate_limit(opt, lim.max_resets_per_second * 2ull,
                                                 lim.max_resets_per_second);
    }
    int rv = nghttp2_session_server_new3(&s_, cb, this, opt, memory_.mem());
    nghttp2_option_del(opt);
    nghttp2_session_callbacks_del(cb);
    if (rv != 0) {
      return false;
    }
    memory_.session_made();
    nghttp2_settings_entry iv[] = {
        {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, lim.max_concurrent_streams},
        {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, lim.body_window},
        {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, lim.max_header_list_size},
        {NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
        {NGHTTP2_SETTINGS_ENABLE_CONNECT_PROTOCOL, 1},  // last: sent only when enabled
    };
    size_t n_iv = sizeof iv / sizeof iv[0] - (r_->options().enable_connect_protocol ? 0 : 1);
    nghttp2_submit_settings(s_, NGHTTP2_FLAG_NONE, iv, n_iv);
    nghttp2_session_set_local_window_size(s_, NGHTTP2_FLAG_NONE, 0, 16 << 20);
    if (upgraded != nullptr) {
      rv = nghttp2_session_upgrade2(s_, reinterpret_cast<const uint8_t*>(upgrade_settings.data()),
                                    upgrade_settings.size(), upgraded->head_request, upgraded);
      if (rv != 0) {
        return false;
      }
      upgraded->h2_id = 1;
      upgraded->conn = conn_;
      upgraded->set_protocol(Protocol::kHttp2);
      link(upgraded);
      max_seen_id_ = 1;
      r_->count(Counter::kStreamsH2);
      update_timer();
      r_->dispatch(upgraded);
      upgraded->deliver_body({}, true);
    } else {
      update_timer();
    }
    conn_->mark_dirty();
    return true;
  }

  // ---- Session ----

  bool on_input(const uint8_t* p, size_t n) override {
    ssize_t rv = nghttp2_session_mem_recv(s_, p, n);
    if (rv < 0) {
      if (rv == NGHTTP2_ERR_FLOODED) {
        r_->count(Counter::kFloodsDetected);
      } else {
        r_->count(Counter::kProtocolErrors);
      }
      r_->log().log(LogLevel::kDebug, "h2 %s: %s", conn_->peer.c_str(),
                    nghttp2_strerror(static_cast<int>(rv)));
      return false;
    }
    update_timer();
    conn_->mark_dirty();
    return true;
  }

  bool produce() override {
    while (!conn_->over_high_water()) {
      const uint8_t* data = nullptr;
      ssize_t n = nghttp2_session_mem_send(s_, &data);
      if (n < 0) {
        return false;
      }
      if (n == 0) {
        break;
      }
      conn_->send(data, static_cast<size_t>(n));
    }
    // The last open stream may have closed with what was just sent: the
    // client, with its answer, may now send nothing until the idle timeout.
    update_timer();
    return true;
  }

  void on_completion(Stream* st, Completion& c) override {
    if (c.kind == Completion::Kind::kConsume) {
      uint64_t n = std::min(c.consumed, st->body_held);
      st->body_held -= n;
      nghttp2_session_consume(s_, st->h2_id, n);
      conn_->mark_dirty();  // a WINDOW_UPDATE may be due
      return;
    }
    if (c.kind == Completion::Kind::kReset) {
      nghttp2_submit_rst_stream(s_, NGHTTP2_FLAG_NONE, st->h2_id, NGHTTP2_INTERNAL_ERROR);
      conn_->mark_dirty();
      return;
    }
    bool had_head = st->head_ready;
    if (!st->apply(c)) {
      r_->log().log(LogLevel::kWarn, "responder call out of order; ignored");
      return;
    }
    if (!had_head) {
      submit_head(st);
    } else if (st->h2_deferred) {
      st->h2_deferred = false;
      nghttp2_session_resume_data(s_, st->h2_id);
    }
    conn_->mark_dirty();
  }

  void drain() override {
    if (draining_) {
      return;
    }
    draining_ = true;
    // Two-step GOAWAY: announce with 2^31-1, then after a round trip (our
    // PING comes back) send the last stream id we really processed.
    nghttp2_submit_shutdown_notice(s_);
    nghttp2_submit_ping(s_, NGHTTP2_FLAG_NONE, kDrainPing);
    // Event streams and tunnels end now (their writers are cancelled as if
    // the client reset them); the client's EventSource or WebSocket
    // connects again elsewhere.
    for (Stream* st = open_; st != nullptr; st = st->h2_next) {
      if (st->open_event_stream() || !st->connect_protocol.empty()) {
        nghttp2_submit_rst_stream(s_, NGHTTP2_FLAG_NONE, st->h2_id, NGHTTP2_NO_ERROR);
      }
    }
    conn_->mark_dirty();
  }

  void on_timeout(int kind) override {
    if (open_ == nullptr) {
      r_->count(Counter::kTimeoutsIdle);
      nghttp2_submit_goaway(s_, NGHTTP2_FLAG_NONE, nghttp2_session_get_last_proc_stream_id(s_),
                            NGHTTP2_NO_ERROR, nullptr, 0);
      produce();
      conn_->close_after_write();
    }
  }

  void close_streams() override {
    while (open_ != nullptr) {
      Stream* st = open_;
      unlink(st);
      set_stream(st->h2_id, nullptr);
      st->cancel();
      r_->free_stream(st);
    }
  }

  bool finished() const override {
    return nghttp2_session_want_read(s_) == 0 && nghttp2_session_want_write(s_) == 0;
  }

  Protocol protocol() const override { return Protocol::kHttp2; }

  size_t release_idle_memory() override {
    if (open_ != nullptr || nghttp2_session_want_write(s_) != 0) {
      return 0;
    }
    return memory_.release_idle();
  }

 private:
  static H2Session* self(void* u) { return static_cast<H2Session*>(u); }
  // The stream of `id`, or nullptr. The last one found is kept: a request's
  // HEADERS frame brings a callback per field, all for one stream, and
  // nghttp2 finds a stream's user data by a hash map search.
  Stream* stream(int32_t id) {
    if (id != last_id_) {
      last_id_ = id;
      last_ = static_cast<Stream*>(nghttp2_session_get_stream_user_data(s_, id));
    }
    return last_;
  }
  // Every change to a stream's user data goes through here, so that
  // stream() never answers from a stale cache.
  void set_stream(int32_t id, Stream* st) {
    nghttp2_session_set_stream_user_data(s_, id, st);
    if (id == last_id_) {
      last_ = st;
    }
  }
  uint64_t now_ms() { return uv_now(r_->loop()); }

  void link(Stream* st) {
    st->h2_next = open_;
    if (open_ != nullptr) {
      open_->h2_prev = st;
    }
    open_ = st;
  }
  void unlink(Stream* st) {
    if (st->h2_prev != nullptr) {
      st->h2_prev->h2_next = st->h2_next;
    } else {
      open_ = st->h2_next;
    }
    if (st->h2_next != nullptr) {
      st->h2_next->h2_prev = st->h2_prev;
    }
  }

  void update_timer() {
    bool idle = open_ == nullptr;
    if (idle != idle_) {
      idle_ = idle;
      conn_->set_timer(idle ? kTimerIdleRelease : kTimerNone);
    }
  }

  void calm_down() {
    r_->count(Counter::kFloodsDetected);
    nghttp2_session_terminate_session(s_, NGHTTP2_ENHANCE_YOUR_CALM);
  }

  // ---- receiving ----

  static int on_begin_frame(nghttp2_session* s, const nghttp2_frame_hd* hd, void* u) {
    H2Session* h = self(u);
    switch (hd->type) {
      case NGHTTP2_HEADERS:
        h->continuations_ = 0;
        // nghttp2 silently ignores a new HEADERS whose id is below one
        // already used when it no longer knows the stream; RFC 9113 5.1.1
        // wants a connection error.
        if ((hd->stream_id & 1) != 0 && hd->stream_id <= h->max_seen_id_ &&
            h->stream(hd->stream_id) == nullptr &&
            nghttp2_session_find_stream(s, hd->stream_id) == nullptr) {
          h->r_->count(Counter::kProtocolErrors);
          nghttp2_session_terminate_session(s, h->recently_closed(hd->stream_id)
                                                   ? NGHTTP2_STREAM_CLOSED
                                                   : NGHTTP2_PROTOCOL_ERROR);
        }
        break;
      case NGHTTP2_CONTINUATION:
        if (++h->continuations_ > h->r_->options().limits.max_continuations) {
          h->calm_down();
        }
        break;
      case NGHTTP2_SETTINGS:
      case NGHTTP2_PING:
        if ((hd->flags & NGHTTP2_FLAG_ACK) == 0 &&
            !h->control_.take(h->r_->options().limits.max_control_frames_per_second, h->now_ms())) {
          h->calm_down();
        }
        break;
      default:
        break;
    }
    return 0;
  }

  bool recently_closed(int32_t id) const {
    for (int32_t c : closed_ring_) {
      if (c == id) {
        return true;
      }
    }
    return false;
  }

  static int on_begin_headers(nghttp2_session* s, const nghttp2_frame* f, void* u) {
    H2Session* h = self(u);
    if (f->hd.type != NGHTTP2_HEADERS || f->headers.cat != NGHTTP2_HCAT_REQUEST) {
      return 0;
    }
    Stream* st = h->r_->new_stream(h->conn_);
    st->h2_id = f->hd.stream_id;
    h->link(st);
    h->max_seen_id_ = std::max(h->max_seen_id_, f->hd.stream_id);
    h->set_stream(f->hd.stream_id, st);
    h->r_->count(Counter::kStreamsH2);
    return 0;
  }

  static int on_header(nghttp2_session* s, const nghttp2_frame* f, const uint8_t* name,
                       size_t namelen, const uint8_t* value, size_t valuelen, uint8_t flags,
                       void* u) {
    H2Session* h = self(u);
    Stream* st = h->stream(f->hd.stream_id);
    if (st == nullptr || f->headers.cat != NGHTTP2_HCAT_REQUEST || st->status != 0) {
      return 0;  // trailers are not passed on; rejected streams are skipped
    }
    const ServerLimits& lim = h->r_->options().limits;
    std::string_view n(reinterpret_cast<const char*>(name), namelen);
    std::string_view v(reinterpret_cast<const char*>(value), valuelen);
    st->header_bytes += namelen + valuelen + 32;
    if (st->header_bytes > lim.max_header_list_size) {
      h->r_->count(Counter::kLimitHeaders);
      st->status = 431;
      return 0;
    }
    if (!n.empty() && n[0] == ':') {
      // The usual method and schemes are not copied: literals outlive the stream.
      if (n == ":method") {
        st->method = v == "GET" ? "GET" : st->intern(v);
      } else if (n == ":path") {
        if (valuelen > lim.max_url_length) {
          h->r_->count(Counter::kLimitUrl);
          st->status = 414;
          return 0;
        }
        st->url = st->intern(v);
      } else if (n == ":authority") {
        st->authority = st->intern(v);
      } else if (n == ":scheme") {
        st->scheme = v == "https" ? "https" : v == "http" ? "http" : st->intern(v);
      } else if (n == ":protocol") {
        st->connect_protocol = st->intern(v);  // nghttp2 allows it on CONNECT only
      }
      return 0;
    }
    st->add_header(n, v);
    return 0;
  }

  static int on_frame_recv(nghttp2_session* s, const nghttp2_frame* f, void* u) {
    H2Session* h = self(u);
    switch (f->hd.type) {
      case NGHTTP2_HEADERS: {
        Stream* st = h->stream(f->hd.stream_id);
        if (st == nullptr) {
          break;
        }
        bool end = (f->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0;
        if (f->headers.cat == NGHTTP2_HCAT_REQUEST) {
          h->start_request(st, end);
        } else if (end) {
          st->req_complete = true;
          st->deliver_body({}, true);
        }
        break;
      }
      case NGHTTP2_DATA: {
        Stream* st = h->stream(f->hd.stream_id);
        if (st != nullptr && (f->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0) {
          st->req_complete = true;
          st->deliver_body({}, true);
        }
        break;
      }
      case NGHTTP2_RST_STREAM: {
        h->r_->count(Counter::kClientResets);
        if (!h->resets_.take(h->r_->options().limits.max_resets_per_second, h->now_ms())) {
          h->calm_down();
        }
        break;
      }
      case NGHTTP2_PING:
        if ((f->hd.flags & NGHTTP2_FLAG_ACK) != 0 && h->draining_ && !h->goaway_sent_ &&
            memcmp(f->ping.opaque_data, kDrainPing, 8) == 0) {
          h->goaway_sent_ = true;
          nghttp2_submit_goaway(s, NGHTTP2_FLAG_NONE, nghttp2_session_get_last_proc_stream_id(s),
                                NGHTTP2_NO_ERROR, nullptr, 0);
        }
        break;
      default:
        break;
    }
    return 0;
  }

  void start_request(Stream* st, bool end) {
    int64_t cl = -1;
    std::string_view clh;
    for (const HeaderView& hv : st->headers) {
      if (hv.name == "content-length") {
        clh = hv.value;
      } else if (hv.name == "host" && st->authority.empty()) {
        st->authority = hv.value;
      }
    }
    if (!clh.empty()) {
      cl = strtoll(std::string(clh).c_str(), nullptr, 10);
    }
    st->finish_head(Protocol::kHttp2, conn_->peer, conn_->tls_info.get(), cl, !end);
    if (end) {
      st->req_complete = true;
    }
    if (st->status == 0 && cl > 0 &&
        static_cast<uint64_t>(cl) > r_->options().limits.max_body_size) {
      r_->count(Counter::kLimitBody);
      st->status = 413;
    }
    if (st->status != 0) {
      reject(st, st->status);
      return;
    }
    r_->dispatch(st);
    if (end) {
      st->deliver_body({}, true);
    }
  }

  // Answers a stream without its handler; the status was set by a limit.
  void reject(Stream* st, int status) {
    st->status = 0;
    st->cancel();
    Completion c{Completion::Kind::kRespond, st->serial, status, {}, "", nullptr};
    st->apply(c);
    submit_head(st);
  }

  static int on_data_chunk(nghttp2_session* s, uint8_t flags, int32_t id, const uint8_t* data,
                           size_t len, void* u) {
    H2Session* h = self(u);
    Stream* st = h->stream(id);
    bool paced = st != nullptr && !st->cancelled && st->req.body_flow() == BodyFlow::kPaced;
    if (!paced) {
      nghttp2_session_consume(s, id, len);
    }
    if (st == nullptr || st->cancelled) {
      return 0;
    }
    st->body_bytes += len;
    if (st->body_bytes > h->r_->options().limits.max_body_size) {
      h->r_->count(Counter::kLimitBody);
      if (paced) {
        nghttp2_session_consume(s, id, len);
      }
      if (!st->head_ready) {
        h->reject(st, 413);
      } else {
        st->cancel();
        nghttp2_submit_rst_stream(s, NGHTTP2_FLAG_NONE, id, NGHTTP2_CANCEL);
      }
      return 0;
    }
    if (paced) {
      st->body_held += len;
    }
    st->deliver_body(std::string_view(reinterpret_cast<const char*>(data), len), false);
    return 0;
  }

  static int on_stream_close(nghttp2_session* s, int32_t id, uint32_t error_code, void* u) {
    H2Session* h = self(u);
    h->closed_ring_[h->closed_next_++ % 16] = id;
    Stream* st = h->stream(id);
    if (st == nullptr) {
      return 0;
    }
    h->set_stream(id, nullptr);
    // Body bytes a paced reader never consumed still count against the
    // connection's window.
    if (st->body_held != 0) {
      nghttp2_session_consume_connection(s, st->body_held);
    }
    if (st->resp_done) {
      st->response_sent();
    } else {
      st->cancel();
    }
    h->unlink(st);
    h->r_->free_stream(st);
    return 0;
  }

  static int on_frame_send(nghttp2_session* s, const nghttp2_frame* f, void* u) {
    H2Session* h = self(u);
    if ((f->hd.type == NGHTTP2_HEADERS || f->hd.type == NGHTTP2_DATA) &&
        (f->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0) {
      Stream* st = h->stream(f->hd.stream_id);
      if (st != nullptr) {
        st->resp_done = true;
        if (!st->req_complete) {
          // Answered before the whole request came: the rest of the body
          // is read and dropped. (RST_STREAM NO_ERROR would stop it, but
          // libcurl 7.88 reports that as a failed request.)
          nghttp2_session_consume(s, f->hd.stream_id, st->stop_pacing());
        }
      }
    }
    return 0;
  }

  static int on_error(nghttp2_session*, int code, const char* msg, size_t len, void* u) {
    H2Session* h = self(u);
    h->r_->log().log(LogLevel::kDebug, "h2 %s: %.*s", h->conn_->peer.c_str(), static_cast<int>(len),
                     msg);
    return 0;
  }

  static int on_invalid_frame(nghttp2_session* s, const nghttp2_frame* f, int err, void* u) {
    self(u)->r_->count(Counter::kProtocolErrors);
    return 0;
  }

  // ---- sending ----

  // DATA payloads bypass nghttp2's frame buffer (NGHTTP2_DATA_FLAG_NO_COPY):
  // read_body puts them in the reactor's data buffer and send_data, called
  // next, hands header and payload to the connection. nghttp2's 16 KiB frame
  // buffer then carries only HEADERS and control frames, so most of its
  // pages are never touched and a connection that has served bodies stays
  // as small when idle as a fresh one.
  static ssize_t read_body(nghttp2_session* s, int32_t id, uint8_t*, size_t len, uint32_t* flags,
                           nghttp2_data_source* src, void* u) {
    H2Session* h = self(u);
    auto* st = static_cast<Stream*>(src->ptr);
    size_t n = 0;
    bool eof = false;
    // nghttp2 asks for at most 16 KiB (no read-length callback is set).
    len = std::min(len, Reactor::kDataBufSize);
    if (st->file != nullptr) {
      // Only sized here: send_data reads it straight into the connection.
      // Over TLS a frame with its 9-byte header fills one record exactly,
      // which the connection encrypts straight from the file's read ahead
      // (a 16 KiB payload would make a full record and a 9-byte one).
      if (h->conn_->tls()) {
        len = std::min(len, kTlsRecordPlain - 9);
      }
      n = static_cast<size_t>(std::min<uint64_t>(len, st->file->remaining()));
      eof = n == st->file->remaining();
    } else if (!st->take_body(h->r_->data_buf(), len, &n, &eof)) {
      return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    }
    if (n > 0 || eof) {
      *flags |= NGHTTP2_DATA_FLAG_NO_COPY;
    }
    if (eof) {
      *flags |= NGHTTP2_DATA_FLAG_EOF;
      if (!st->trailers.empty()) {
        std::vector<nghttp2_nv> nv;
        for (const Header& t : st->trailers) {
          nv.push_back(make_nv(t.name, t.value));
        }
        if (nghttp2_submit_trailer(s, id, nv.data(), nv.size()) == 0) {
          *flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
          st->resp_done = true;
        }
      }
      return static_cast<ssize_t>(n);
    }
    if (n == 0) {
      st->h2_deferred = true;
      return NGHTTP2_ERR_DEFERRED;
    }
    return static_cast<ssize_t>(n);
  }

  static int send_data(nghttp2_session*, nghttp2_frame* f, const uint8_t* framehd, size_t length,
                       nghttp2_data_source* src, void* u) {
    H2Session* h = self(u);
    auto* st = static_cast<Stream*>(src->ptr);
    assert(f->data.padlen == 0);  // no padding callback is set
    if (st->file != nullptr) {
      if (!h->conn_->send_file(framehd, 9, *st->file, length)) {
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;  // nothing was sent: reset the stream
      }
      st->file_sent(length);
    } else {
      h->conn_->send(framehd, 9);
      h->conn_->send(h->r_->data_buf(), length);
    }
    // nghttp2_session_mem_send goes on to the next DATA frame by itself:
    // pausing hands control back to produce(), which stops at high water.
    return h->conn_->over_high_water() ? NGHTTP2_ERR_PAUSE : 0;
  }

  void submit_head(Stream* st) {
    // The fields go in an array on the stack, or in a vector for a head
    // with more than it holds: the handler's, :status, date, server and
    // content-length.
    constexpr size_t kInlineFields = 16;
    nghttp2_nv inline_nv[kInlineFields];
    std::vector<nghttp2_nv> heap_nv;
    nghttp2_nv* nv = inline_nv;
    const Headers& headers = st->response_headers();
    if (headers.size() + 4 > kInlineFields) {
      heap_nv.resize(headers.size() + 4);
      nv = heap_nv.data();
    }
    // Shared headers were lower-cased when made.
    for (Header& x : st->resp_headers) {
      lower_in_place(x.name);
    }
    size_t n = 0;
    char status[24], length[24];
    nv[n++] = make_nv(":status", {status, to_chars(status, st->status)});
    bool user_cl = false;
    for (const Header& x : headers) {
      if (connection_specific(x.name)) {
        continue;
      }
      user_cl |= x.name == "content-length";
      nv[n++] = make_nv(x.name, x.value);
    }
    // RFC 9110 6.6.1: an origin server with a clock sends Date.
    nv[n++] = make_nv("date", r_->http_date());
    const std::string& server = r_->options().server_name;
    if (!server.empty()) {
      nv[n++] = make_nv("server", server);
    }
    bool no_body = st->head_request || st->status == 204 || st->status == 304;
    if (st->complete_body && !user_cl && st->status != 204 && st->status != 304) {
      size_t len = st->chunks.empty() ? 0 : st->chunks.front().size();
      nv[n++] = make_nv("content-length", {length, to_chars(length, len)});
    }
    if (st->status >= 500) {
      r_->count(Counter::kResponses5xx);
    } else if (st->status >= 400) {
      r_->count(Counter::kResponses4xx);
    }
    nghttp2_data_provider dp;
    dp.source.ptr = st;
    dp.read_callback = read_body;
    bool empty = st->complete_body && st->chunks.empty();
    if (no_body) {
      st->drop_chunks();
      st->drop_source();
    }
    int rv = nghttp2_submit_response(s_, st->h2_id, nv, n, no_body || empty ? nullptr : &dp);
    if (rv != 0) {
      nghttp2_submit_rst_stream(s_, NGHTTP2_FLAG_NONE, st->h2_id, NGHTTP2_INTERNAL_ERROR);
    }
  }

  Conn* conn_;
  Reactor* r_;
  H2Memory memory_;  // the session's; outlives it
  nghttp2_session* s_ = nullptr;
  Stream* open_ = nullptr;  // the open streams, linked through h2_prev/h2_next
  int32_t last_id_ = 0;     // stream()'s cache (no stream has id 0)
  Stream* last_ = nullptr;
  int32_t max_seen_id_ = 0;
  int32_t closed_ring_[16] = {};
  uint32_t closed_next_ = 0;
  uint32_t continuations_ = 0;
  Bucket resets_, control_;
  bool draining_ = false;
  bool goaway_sent_ = false;
  bool idle_ = false;
};

}  // namespace

std::unique_ptr<Session> make_h2_session(Conn* conn) {
  auto s = std::make_unique<H2Session>(conn);
  if (!s->init({}, nullptr)) {
    return nullptr;
  }
  return s;
}

std::unique_ptr<Session> make_h2_upgraded(Conn* conn, std::string_view settings, Stream* stream) {
  auto s = std::make_unique<H2Session>(conn);
  if (!s->init(settings, stream)) {
    return nullptr;
  }
  return s;
}

}  // namespace valk::net
