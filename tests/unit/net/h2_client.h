// Two HTTP/2 clients for tests over a blocking loopback socket: H2Client
// drives nghttp2's client session; RawH2 writes hand-made frames (for the
// attacks nghttp2 would refuse to send) and parses what comes back.
#pragma once

#include <nghttp2/nghttp2.h>

#include <map>
#include <string>
#include <vector>

#include "net_test_util.h"

namespace valk::test {

struct H2Stream {
  int status = 0;
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers, trailers;
  bool closed = false;
  uint32_t error = 0;  // RST_STREAM code, 0 if closed cleanly
};

class H2Client {
 public:
  explicit H2Client(uint16_t port, uint32_t window = 1 << 20) {
    fd_ = tcp_connect(port);
    nghttp2_session_callbacks* cb;
    nghttp2_session_callbacks_new(&cb);
    nghttp2_session_callbacks_set_on_header_callback(cb, on_header);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, on_data);
    nghttp2_session_callbacks_set_on_stream_close_callback(cb, on_close);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cb, on_frame);
    nghttp2_session_client_new(&s_, cb, this);
    nghttp2_session_callbacks_del(cb);
    nghttp2_settings_entry iv[] = {{NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, window},
                                   {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, 100000}};
    nghttp2_submit_settings(s_, NGHTTP2_FLAG_NONE, iv, 2);
    nghttp2_session_set_local_window_size(s_, NGHTTP2_FLAG_NONE, 0, 1 << 30);
  }
  ~H2Client() {
    nghttp2_session_del(s_);
    if (fd_ >= 0) {
      close(fd_);
    }
  }

  // Submits a request; `body` (if any) is sent from memory. With `open`,
  // the body goes on as send_more() gives more, until it says `last`.
  int32_t submit(const std::string& method, const std::string& path,
                 const std::string* body = nullptr,
                 std::vector<std::pair<std::string, std::string>> extra = {}, bool open = false) {
    std::vector<std::pair<std::string, std::string>> h = {
        {":method", method}, {":scheme", "http"}, {":authority", "127.0.0.1"}, {":path", path}};
    for (auto& e : extra) {
      h.push_back(e);
    }
    std::vector<nghttp2_nv> nv;
    for (auto& [n, v] : h) {
      nv.push_back(
          {(uint8_t*)n.data(), (uint8_t*)v.data(), n.size(), v.size(), NGHTTP2_NV_FLAG_NONE});
    }
    nghttp2_data_provider dp;
    auto* src = new BodySrc{body != nullptr ? *body : std::string(), 0, open};
    dp.source.ptr = src;
    dp.read_callback = read_body;
    int32_t id = nghttp2_submit_request(s_, nullptr, nv.data(), nv.size(),
                                        body != nullptr ? &dp : nullptr, src);
    if (body == nullptr) {
      delete src;
    } else {
      srcs_.emplace_back(src);
      open_bodies_[id] = src;
    }
    streams[id];
    return id;
  }

  // More of an open body (submit's `open`); `last` ends it.
  void send_more(int32_t id, std::string_view more, bool last = false) {
    BodySrc* b = open_bodies_.at(id);
    b->data.append(more);
    b->open = !last;
    nghttp2_session_resume_data(s_, id);
  }

  void reset(int32_t id, uint32_t code = NGHTTP2_CANCEL) {
    nghttp2_submit_rst_stream(s_, NGHTTP2_FLAG_NONE, id, code);
  }

  // Pumps the session until `done()` or `ms` pass or the connection ends.
  bool run_until(const std::function<bool()>& done, int ms = 10000) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
    for (;;) {
      for (;;) {
        const uint8_t* data;
        ssize_t n = nghttp2_session_mem_send(s_, &data);
        if (n <= 0) {
          break;
        }
        if (!send_all(fd_, std::string_view(reinterpret_cast<const char*>(data), n))) {
          conn_closed = true;
          break;
        }
      }
      if (done()) {
        return true;
      }
      if (conn_closed) {
        return false;
      }
      int left = static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                      deadline - std::chrono::steady_clock::now())
                                      .count());
      if (left <= 0) {
        return false;
      }
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, std::min(left, 50)) <= 0) {
        continue;
      }
      uint8_t buf[65536];
      ssize_t n = recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) {
        conn_closed = true;
        continue;
      }
      if (nghttp2_session_mem_recv(s_, buf, n) < 0) {
        conn_closed = true;
      }
    }
  }

  // One step: sends what is pending, then reads once if data arrives
  // within `ms`.
  void pump(int ms) {
    for (;;) {
      const uint8_t* data;
      ssize_t n = nghttp2_session_mem_send(s_, &data);
      if (n <= 0) {
        break;
      }
      if (!send_all(fd_, std::string_view(reinterpret_cast<const char*>(data), n))) {
        conn_closed = true;
        return;
      }
    }
    pollfd p{fd_, POLLIN, 0};
    if (poll(&p, 1, ms) <= 0) {
      return;
    }
    uint8_t buf[65536];
    ssize_t n = recv(fd_, buf, sizeof buf, 0);
    if (n <= 0 || nghttp2_session_mem_recv(s_, buf, n) < 0) {
      conn_closed = true;
    }
  }

  bool all_closed() const {
    for (auto& [id, st] : streams) {
      if (!st.closed) {
        return false;
      }
    }
    return true;
  }

  nghttp2_session* session() { return s_; }
  int fd() const { return fd_; }

  std::map<int32_t, H2Stream> streams;
  bool conn_closed = false;
  int goaways = 0;
  int32_t goaway_last_id = -1;
  uint32_t goaway_error = 0;

 private:
  struct BodySrc {
    std::string data;
    size_t off;
    bool open;  // more may come (send_more)
  };
  static ssize_t read_body(nghttp2_session*, int32_t, uint8_t* buf, size_t len, uint32_t* flags,
                           nghttp2_data_source* src, void*) {
    auto* b = static_cast<BodySrc*>(src->ptr);
    size_t n = std::min(len, b->data.size() - b->off);
    if (n == 0 && b->open) {
      return NGHTTP2_ERR_DEFERRED;
    }
    memcpy(buf, b->data.data() + b->off, n);
    b->off += n;
    if (b->off == b->data.size() && !b->open) {
      *flags |= NGHTTP2_DATA_FLAG_EOF;
    }
    return static_cast<ssize_t>(n);
  }
  static int on_header(nghttp2_session*, const nghttp2_frame* f, const uint8_t* name, size_t nl,
                       const uint8_t* value, size_t vl, uint8_t, void* u) {
    auto* c = static_cast<H2Client*>(u);
    H2Stream& st = c->streams[f->hd.stream_id];
    std::string n(reinterpret_cast<const char*>(name), nl),
        v(reinterpret_cast<const char*>(value), vl);
    if (n == ":status") {
      st.status = std::stoi(v);
    } else if (st.status != 0 && f->headers.cat == NGHTTP2_HCAT_HEADERS) {
      st.trailers.emplace_back(n, v);
    } else {
      st.headers.emplace_back(n, v);
    }
    return 0;
  }
  static int on_data(nghttp2_session*, uint8_t, int32_t id, const uint8_t* d, size_t n, void* u) {
    static_cast<H2Client*>(u)->streams[id].body.append(reinterpret_cast<const char*>(d), n);
    return 0;
  }
  static int on_close(nghttp2_session*, int32_t id, uint32_t code, void* u) {
    H2Stream& st = static_cast<H2Client*>(u)->streams[id];
    st.closed = true;
    st.error = code;
    return 0;
  }
  static int on_frame(nghttp2_session*, const nghttp2_frame* f, void* u) {
    auto* c = static_cast<H2Client*>(u);
    if (f->hd.type == NGHTTP2_GOAWAY) {
      ++c->goaways;
      c->goaway_last_id = f->goaway.last_stream_id;
      c->goaway_error = f->goaway.error_code;
    }
    return 0;
  }

  int fd_ = -1;
  nghttp2_session* s_ = nullptr;
  std::vector<std::unique_ptr<BodySrc>> srcs_;
  std::map<int32_t, BodySrc*> open_bodies_;
};

// Hand-made frames.
class RawH2 {
 public:
  explicit RawH2(uint16_t port) {
    fd_ = tcp_connect(port);
    nghttp2_hd_deflate_new(&deflater_, 4096);
    send_all(fd_, "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
    frame(NGHTTP2_SETTINGS, 0, 0, "");
  }
  ~RawH2() {
    nghttp2_hd_deflate_del(deflater_);
    close(fd_);
  }

  static std::string frame_bytes(uint8_t type, uint8_t flags, int32_t id,
                                 std::string_view payload) {
    std::string f;
    size_t n = payload.size();
    f.push_back(static_cast<char>(n >> 16));
    f.push_back(static_cast<char>(n >> 8));
    f.push_back(static_cast<char>(n));
    f.push_back(static_cast<char>(type));
    f.push_back(static_cast<char>(flags));
    f.push_back(static_cast<char>((id >> 24) & 0x7f));
    f.push_back(static_cast<char>(id >> 16));
    f.push_back(static_cast<char>(id >> 8));
    f.push_back(static_cast<char>(id));
    f.append(payload);
    return f;
  }
  bool frame(uint8_t type, uint8_t flags, int32_t id, std::string_view payload) {
    return send_all(fd_, frame_bytes(type, flags, id, payload));
  }

  std::string header_block(const std::string& path,
                           std::vector<std::pair<std::string, std::string>> extra = {},
                           const std::string& method = "GET") {
    std::vector<std::pair<std::string, std::string>> h = {
        {":method", method}, {":scheme", "http"}, {":authority", "127.0.0.1"}, {":path", path}};
    for (auto& e : extra) {
      h.push_back(e);
    }
    std::vector<nghttp2_nv> nv;
    for (auto& [n, v] : h) {
      nv.push_back(
          {(uint8_t*)n.data(), (uint8_t*)v.data(), n.size(), v.size(), NGHTTP2_NV_FLAG_NONE});
    }
    std::string out(nghttp2_hd_deflate_bound(deflater_, nv.data(), nv.size()), '\0');
    ssize_t n = nghttp2_hd_deflate_hd(deflater_, reinterpret_cast<uint8_t*>(out.data()), out.size(),
                                      nv.data(), nv.size());
    out.resize(n > 0 ? n : 0);
    return out;
  }
  std::string headers_frame(int32_t id, const std::string& path, bool end_stream = true) {
    return frame_bytes(NGHTTP2_HEADERS,
                       NGHTTP2_FLAG_END_HEADERS | (end_stream ? NGHTTP2_FLAG_END_STREAM : 0), id,
                       header_block(path));
  }
  static std::string rst_frame(int32_t id, uint32_t code = NGHTTP2_CANCEL) {
    std::string p = {static_cast<char>(code >> 24), static_cast<char>(code >> 16),
                     static_cast<char>(code >> 8), static_cast<char>(code)};
    return frame_bytes(NGHTTP2_RST_STREAM, 0, id, p);
  }

  // Reads frames until a GOAWAY arrives, the peer closes, or `ms` pass.
  // Returns the GOAWAY error code, or -1 without one.
  int64_t wait_goaway(int ms = 5000, bool* closed = nullptr) {
    int64_t code = -1;
    read_until(
        fd_,
        [&](const std::string& d) {
          code = find_goaway(d);
          return code >= 0;
        },
        ms, closed);
    return code;
  }

  // Parses frames in `d` (after the server's preface-free stream start).
  static int64_t find_goaway(const std::string& d) {
    size_t p = 0;
    while (p + 9 <= d.size()) {
      size_t len = (static_cast<uint8_t>(d[p]) << 16) | (static_cast<uint8_t>(d[p + 1]) << 8) |
                   static_cast<uint8_t>(d[p + 2]);
      uint8_t type = static_cast<uint8_t>(d[p + 3]);
      if (p + 9 + len > d.size()) {
        break;
      }
      if (type == NGHTTP2_GOAWAY && len >= 8) {
        const uint8_t* q = reinterpret_cast<const uint8_t*>(d.data() + p + 9 + 4);
        return (q[0] << 24) | (q[1] << 16) | (q[2] << 8) | q[3];
      }
      p += 9 + len;
    }
    return -1;
  }

  int fd() const { return fd_; }

 private:
  int fd_;
  nghttp2_hd_deflater* deflater_;
};

}  // namespace valk::test
