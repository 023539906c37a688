#include "lisp/h1_client.h"

#include <netdb.h>

#include <cstdio>
#include <cstring>
#include <vector>

namespace valk::lisp {
namespace {

// Connections open to one origin at once; more exchanges wait for one. So
// many because each exchange holds its connection for the upstream's whole
// answer: 64 (curl's bound, HttpClient) would cap a worker at 640 calls a
// second to a service that answers in 100 ms. A bound all the same, as each
// holds a descriptor, and an upstream is spared a flood.
constexpr size_t kMaxPerOrigin = 512;

}  // namespace

// A TCP handle and the requests made on it. It outlives its connection
// until libuv has closed it, as cancelled requests are called back first.
struct H1Client::Socket {
  uv_tcp_t tcp;
  uv_connect_t connect;
  uv_write_t write;
  std::string out;  // the part of a request uv_write still sends
  H1Conn* conn;     // nullptr once the connection has let go of it
};

struct H1Conn {
  H1Client* client = nullptr;
  H1Client::Pool* pool = nullptr;
  std::string address;  // "host:port", for messages
  H1Client::Socket* socket = nullptr;
  // The connect timeout, then the idle one. Unreferenced: the socket
  // holds the loop while it connects or an exchange runs.
  uv_timer_t* timer = nullptr;
  uv_getaddrinfo_t* resolve = nullptr;  // while the name is looked up
  addrinfo* addrs = nullptr;
  addrinfo* next_addr = nullptr;
  sockaddr_storage literal{};  // the address, when the host is one
  bool has_literal = false;
  H1Exchange* x = nullptr;
  std::unique_ptr<H1ResponseReader> reader;
  bool connected = false;
  bool paused = false;        // its exchange's reader is behind: not read
  bool tunnel = false;        // a 101 gave it to its exchange (H1Exchange::upgrade)
  bool body_open = false;     // its exchange's streamed body has not ended
  bool body_sent = false;     // some of that body went out
  bool write_failed = false;  // ... and then a write of it failed
  size_t write_pending = 0;   // written by the exchange, not handed to the kernel yet
  bool idle = false;
  bool reused = false;  // has answered an exchange before
  // Over TLS, made once the TCP connection is: `connected` waits for its
  // handshake.
  std::unique_ptr<ClientTls> tls;
  bool handshaking() const { return tls != nullptr && !connected; }
  std::string last_error;
};

HttpRequestCounters& HttpRequestCounters::process() {
  static HttpRequestCounters counters;
  return counters;
}

void HttpRequestCounters::count(std::string_view result) {
  for (size_t i = 0; i < std::size(kResults); ++i) {
    if (result == kResults[i]) {
      ended[i].fetch_add(1, std::memory_order_relaxed);
      return;
    }
  }
}

H1Client::H1Client(uv_loop_t* loop, uint64_t max_idle_ms)
    : loop_(loop), max_idle_ms_(max_idle_ms), kick_(new uv_timer_t) {
  uv_timer_init(loop_, kick_);
  kick_->data = this;
}

H1Client::~H1Client() {
  close();
}

void H1Client::close() {
  closed_ = true;
  for (H1Conn* c : std::vector<H1Conn*>(conns_.begin(), conns_.end())) {
    c->x = nullptr;
    close_conn(c);
  }
  pools_.clear();
  if (kick_ != nullptr) {
    uv_close(reinterpret_cast<uv_handle_t*>(kick_),
             [](uv_handle_t* h) { delete reinterpret_cast<uv_timer_t*>(h); });
    kick_ = nullptr;
  }
}

void H1Client::start(H1Exchange* x) {
  Pool& pool = pools_[x->origin];
  if (!x->retried && !pool.idle.empty()) {
    H1Conn* c = pool.idle.back();
    pool.idle.pop_back();
    c->idle = false;
    assign(c, x);
    return;
  }
  if (pool.open < kMaxPerOrigin) {
    open_conn(pool, x);
  } else {
    pool.waiting.push_back(x);
  }
}

void H1Client::abort(H1Exchange* x) {
  if (x->conn != nullptr) {
    H1Conn* c = x->conn;
    c->x = nullptr;
    x->conn = nullptr;
    close_conn(c);  // mid-exchange: what the server sends next is no one's
    return;
  }
  auto it = pools_.find(x->origin);
  if (it != pools_.end()) {
    auto& w = it->second.waiting;
    for (auto at = w.begin(); at != w.end(); ++at) {
      if (*at == x) {
        w.erase(at);
        break;
      }
    }
    if (it->second.open == 0 && w.empty()) {
      pools_.erase(it);
    }
  }
}

void H1Client::open_conn(Pool& pool, H1Exchange* x) {
  auto* c = new H1Conn;
  c->client = this;
  c->pool = &pool;
  c->address = x->host.find(':') != std::string::npos ? "[" + x->host + "]" : x->host;
  c->address += ":" + std::to_string(x->port);
  conns_.insert(c);
  pool.open++;
  c->x = x;
  x->conn = c;
  c->timer = new uv_timer_t;
  uv_timer_init(loop_, c->timer);
  uv_unref(reinterpret_cast<uv_handle_t*>(c->timer));
  c->timer->data = c;
  uv_timer_start(
      c->timer,
      [](uv_timer_t* t) {
        auto* c = static_cast<H1Conn*>(t->data);
        c->client->fail(c, "timeout",
                        "could not connect within " + std::to_string(c->x->connect_timeout_ms) +
                            " ms" + (c->last_error.empty() ? "" : " (" + c->last_error + ")"));
      },
      x->connect_timeout_ms, 0);
  auto* in4 = reinterpret_cast<sockaddr_in*>(&c->literal);
  auto* in6 = reinterpret_cast<sockaddr_in6*>(&c->literal);
  if (uv_ip4_addr(x->host.c_str(), x->port, in4) == 0 ||
      uv_ip6_addr(x->host.c_str(), x->port, in6) == 0) {
    c->has_literal = true;
    connect_next(c);
    return;
  }
  c->resolve = new uv_getaddrinfo_t;
  c->resolve->data = c;
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  int rc = uv_getaddrinfo(
      loop_, c->resolve,
      [](uv_getaddrinfo_t* req, int status, addrinfo* res) {
        auto* c = static_cast<H1Conn*>(req->data);
        delete req;
        if (c == nullptr) {  // the connection closed while the name was looked up
          uv_freeaddrinfo(res);
          return;
        }
        c->resolve = nullptr;
        c->client->resolved(c, status, res);
      },
      x->host.c_str(), std::to_string(x->port).c_str(), &hints);
  if (rc != 0) {
    delete c->resolve;
    c->resolve = nullptr;
    resolved(c, rc, nullptr);
  }
}

void H1Client::resolved(H1Conn* c, int status, addrinfo* addrs) {
  if (status != 0 || addrs == nullptr) {
    HttpRequestCounters::process().connect_failures.fetch_add(1, std::memory_order_relaxed);
    uv_freeaddrinfo(addrs);
    fail(c, "connect",
         "could not resolve " + c->x->host + " (" + std::string(uv_strerror(status)) + ")");
    return;
  }
  c->addrs = c->next_addr = addrs;
  connect_next(c);
}

// Connects to the literal address, or to the next address the name has.
void H1Client::connect_next(H1Conn* c) {
  const sockaddr* addr = nullptr;
  if (c->has_literal) {
    addr = reinterpret_cast<const sockaddr*>(&c->literal);
    c->has_literal = false;  // tried once
  } else {
    while (c->next_addr != nullptr && c->next_addr->ai_family != AF_INET &&
           c->next_addr->ai_family != AF_INET6) {
      c->next_addr = c->next_addr->ai_next;
    }
    if (c->next_addr != nullptr) {
      addr = c->next_addr->ai_addr;
      c->next_addr = c->next_addr->ai_next;
    }
  }
  if (addr == nullptr) {
    HttpRequestCounters::process().connect_failures.fetch_add(1, std::memory_order_relaxed);
    fail(c, "connect", "could not connect to " + c->address + " (" + c->last_error + ")");
    return;
  }
  auto* s = new Socket{};
  s->conn = c;
  c->socket = s;
  uv_tcp_init(loop_, &s->tcp);
  s->tcp.data = s;
  s->connect.data = s;
  s->write.data = s;
  int rc = uv_tcp_connect(&s->connect, &s->tcp, addr, [](uv_connect_t* req, int status) {
    auto* s = static_cast<Socket*>(req->data);
    if (s->conn != nullptr) {
      s->conn->client->connected(s->conn, status);
    }
  });
  if (rc != 0) {
    connected(c, rc);
  }
}

void H1Client::connected(H1Conn* c, int status) {
  if (status != 0) {
    c->last_error = uv_strerror(status);
    Socket* s = c->socket;
    c->socket = nullptr;
    s->conn = nullptr;
    uv_close(reinterpret_cast<uv_handle_t*>(&s->tcp),
             [](uv_handle_t* h) { delete static_cast<Socket*>(h->data); });
    connect_next(c);
    return;
  }
  bool by_address = c->addrs == nullptr;  // a name was looked up, or the host is an address
  uv_freeaddrinfo(c->addrs);
  c->addrs = c->next_addr = nullptr;
  uv_tcp_nodelay(&c->socket->tcp, 1);
  start_reading(c);
  if (c->x->tls) {
    // The connect timeout goes on to cover the handshake.
    std::string why;
    SSL_CTX* ctx = tls_contexts_.get({c->x->ca_file, !c->x->insecure, "", ""}, &why);
    c->tls = std::make_unique<ClientTls>();
    if (ctx == nullptr || !c->tls->start(ctx, c->x->host, by_address, &why)) {
      fail(c, "tls", why);
      return;
    }
    received_tls(c, 0);  // the ClientHello
    return;
  }
  c->connected = true;
  HttpRequestCounters::process().connects.fetch_add(1, std::memory_order_relaxed);
  uv_timer_stop(c->timer);
  assign(c, c->x);
}

void H1Client::start_reading(H1Conn* c) {
  uv_read_start(
      reinterpret_cast<uv_stream_t*>(&c->socket->tcp),
      [](uv_handle_t* h, size_t, uv_buf_t* buf) {
        auto* s = static_cast<Socket*>(h->data);
        H1Client* client = s->conn->client;
        *buf = uv_buf_init(client->read_buf_, sizeof client->read_buf_);
      },
      [](uv_stream_t* stream, ssize_t nread, const uv_buf_t*) {
        auto* s = static_cast<Socket*>(stream->data);
        if (s->conn != nullptr && nread != 0) {
          s->conn->client->received(s->conn, nread);
        }
      });
}

void H1Client::pause(H1Exchange* x) {
  if (x->conn != nullptr && x->conn->socket != nullptr) {
    x->conn->paused = true;
    uv_read_stop(reinterpret_cast<uv_stream_t*>(&x->conn->socket->tcp));
  }
}

void H1Client::resume(H1Exchange* x) {
  if (x->conn != nullptr && x->conn->paused) {
    x->conn->paused = false;
    start_reading(x->conn);
  }
}

void H1Client::assign(H1Conn* c, H1Exchange* x) {
  c->x = x;
  x->conn = c;
  // A streamed body is bounded by what its reader takes (body_arrived); a
  // read of 64 KiB inflates to at most ~64 MiB (deflate's ratio is ~1000).
  c->reader =
      std::make_unique<H1ResponseReader>(x->head, x->stream ? SIZE_MAX : x->max_body, x->decode);
  x->head_told = false;
  if (!c->connected) {
    return;  // sent once connected
  }
  uv_timer_stop(c->timer);  // the idle timeout
  uv_ref(reinterpret_cast<uv_handle_t*>(&c->socket->tcp));
  c->body_open = x->body_streams;
  c->body_sent = false;
  c->write_failed = false;
  if (send(c) && x->body_streams) {
    x->body_sendable();
  }
}

bool H1Client::send(H1Conn* c) {
  Socket* s = c->socket;
  std::string sealed;
  const std::string& req = c->tls ? (sealed = c->tls->seal({c->x->request})) : c->x->request;
  uv_buf_t buf = uv_buf_init(const_cast<char*>(req.data()), static_cast<unsigned>(req.size()));
  int sent = uv_try_write(reinterpret_cast<uv_stream_t*>(&s->tcp), &buf, 1);
  if (sent == static_cast<int>(req.size())) {
    return true;
  }
  if (sent < 0 && sent != UV_EAGAIN) {
    // As if the read had failed: a kept connection may be retried.
    read(c, nullptr, sent);
    return false;
  }
  s->out.assign(req, sent < 0 ? 0 : static_cast<size_t>(sent));
  buf = uv_buf_init(s->out.data(), static_cast<unsigned>(s->out.size()));
  uv_write(&s->write, reinterpret_cast<uv_stream_t*>(&s->tcp), &buf, 1,
           [](uv_write_t* req, int status) {
             auto* s = static_cast<Socket*>(req->data);
             s->out.clear();
             if (status < 0 && s->conn != nullptr && s->conn->x != nullptr) {
               s->conn->client->read(s->conn, nullptr, status);
             }
           });
  return true;
}

void H1Client::received(H1Conn* c, ssize_t nread) {
  if (c->tls) {
    received_tls(c, nread);
    return;
  }
  read(c, read_buf_, nread);
}

bool H1Client::received_tls(H1Conn* c, ssize_t nread) {
  Socket* s = c->socket;
  ClientTls& tls = *c->tls;
  if (nread < 0) {
    if (c->handshaking()) {
      fail(c, "tls", "the server closed the connection during the TLS handshake");
      return false;
    }
    read(c, nullptr, nread);
    return false;
  }
  tls.received(read_buf_, static_cast<size_t>(nread));
  if (c->handshaking()) {
    ClientTls::Step step = tls.handshake();
    if (std::string out = tls.take_output(); !out.empty()) {
      send_bytes(c, std::move(out), 0);
    }
    if (step == ClientTls::Step::kFailed) {
      fail(c, "tls", "TLS with " + c->address + " failed: " + tls.why());
      return false;
    }
    if (step == ClientTls::Step::kMore) {
      return true;
    }
    c->connected = true;
    HttpRequestCounters::process().connects.fetch_add(1, std::memory_order_relaxed);
    uv_timer_stop(c->timer);
    assign(c, c->x);
    if (s->conn != c) {
      return false;
    }
  }
  // What the server sent, deciphered, as it comes; `c` may go meanwhile
  // (its Socket stays until libuv has closed it).
  for (;;) {
    long n = tls.read(plain_buf_, sizeof plain_buf_);
    if (n == 0) {
      if (std::string out = tls.take_output(); !out.empty()) {
        send_bytes(c, std::move(out), 0);  // a key update's answer, say
      }
      return true;
    }
    if (n == -2) {
      fail(c, "failed", "TLS: " + tls.why());
      return false;
    }
    if (c->x == nullptr && n > 0) {
      close_conn(c);  // idle, and the server sent what nobody asked for
      return false;
    }
    read(c, plain_buf_, n > 0 ? n : static_cast<long>(UV_EOF));
    if (s->conn != c || n < 0) {
      return false;
    }
  }
}

void H1Client::read(H1Conn* c, const char* data, ssize_t nread) {
  if (c->x == nullptr) {
    close_conn(c);  // idle: the server closed it, or sent what nobody asked for
    return;
  }
  if (c->tunnel) {
    read_tunnel(c, data, nread);
    return;
  }
  H1ResponseReader& r = *c->reader;
  H1ResponseReader::State state;
  if (nread > 0) {
    state = r.feed(data, static_cast<size_t>(nread));
  } else if (nread == UV_EOF) {
    state = r.end();
  } else {
    state = H1ResponseReader::State::kFailed;
  }
  if (c->x->stream && state != H1ResponseReader::State::kFailed && !tell_stream(c)) {
    return;
  }
  switch (state) {
    case H1ResponseReader::State::kMore:
      return;
    case H1ResponseReader::State::kDone:
      if (c->x->upgrade && r.status() == 101) {
        enter_tunnel(c, data + r.used(), nread > 0 ? static_cast<size_t>(nread) - r.used() : 0);
        return;
      }
      finish(c);
      return;
    case H1ResponseReader::State::kFailed:
      break;
  }
  H1Exchange* x = c->x;
  if (c->reused && !r.started() && !x->retried && !c->body_sent) {
    // A kept connection the server had closed: send it again, once, on a
    // new one.
    x->retried = true;
    c->x = nullptr;
    x->conn = nullptr;
    close_conn(c);
    start(x);
    return;
  }
  std::string why = nread < 0 && nread != UV_EOF
                        ? "the connection failed (" + std::string(uv_strerror(nread)) + ")"
                        : r.error();
  fail(c, r.too_large() ? "too-large" : "failed", why);
}

void H1Client::enter_tunnel(H1Conn* c, const char* tail, size_t n) {
  c->tunnel = true;
  if (n > 0) {
    pass_body(c, std::string_view(tail, n));
  }
}

void H1Client::read_tunnel(H1Conn* c, const char* data, ssize_t nread) {
  if (nread > 0) {
    pass_body(c, std::string_view(data, static_cast<size_t>(nread)));
    return;
  }
  if (nread == UV_EOF) {
    H1Exchange* x = c->x;
    std::unique_ptr<H1ResponseReader> r = std::move(c->reader);
    c->x = nullptr;
    x->conn = nullptr;
    close_conn(c);
    x->answered(*r);
    return;
  }
  fail(c, "failed", "the connection failed (" + std::string(uv_strerror(nread)) + ")");
}

int64_t H1Client::write(H1Exchange* x, std::string data) {
  H1Conn* c = x->conn;
  if (c == nullptr || !(c->tunnel || c->body_open)) {
    return -1;
  }
  if (c->tunnel) {
    return queue_write(c, std::move(data), false) ? static_cast<int64_t>(c->write_pending) : -1;
  }
  c->body_sent = true;
  if (!queue_write(c, std::move(data), x->chunked)) {
    c->body_open = false;  // as when a write fails later (queue_write)
    c->write_failed = true;
  }
  return static_cast<int64_t>(c->write_pending);
}

bool H1Client::takes_body(const H1Exchange* x) const {
  return x->conn != nullptr && x->conn->body_open;
}

bool H1Client::end_body(H1Exchange* x) {
  H1Conn* c = x->conn;
  if (c == nullptr || !c->body_open) {
    return false;
  }
  c->body_open = false;
  return !x->chunked || queue_write(c, "0\r\n\r\n", false);
}

// One write of the exchange's: `data`, framed by `size_line` and "\r\n"
// as a chunk if that is not empty; `plain` bytes of what the exchange
// wrote (H1Exchange::written counts them down).
struct H1Write {
  uv_write_t req;
  std::string data;
  char size_line[24];
  size_t plain;
};

bool H1Client::queue_write(H1Conn* c, std::string data, bool chunk) {
  char size_line[24];
  int len = chunk ? snprintf(size_line, sizeof size_line, "%zx\r\n", data.size()) : 0;
  size_t plain = data.size();
  if (c->tls) {
    std::string_view line(size_line, static_cast<size_t>(len));
    return send_bytes(c, c->tls->seal({line, data, chunk ? "\r\n" : ""}), plain);
  }
  if (!chunk) {
    return send_bytes(c, std::move(data), plain);
  }
  auto* w = new H1Write{{}, std::move(data), {}, plain};
  memcpy(w->size_line, size_line, static_cast<size_t>(len));
  uv_buf_t bufs[3] = {uv_buf_init(w->size_line, static_cast<unsigned>(len)),
                      uv_buf_init(w->data.data(), static_cast<unsigned>(w->data.size())),
                      uv_buf_init(const_cast<char*>("\r\n"), 2)};
  return submit(c, w, bufs, 3);
}

bool H1Client::send_bytes(H1Conn* c, std::string bytes, size_t plain) {
  auto* w = new H1Write{{}, std::move(bytes), {}, plain};
  uv_buf_t buf = uv_buf_init(w->data.data(), static_cast<unsigned>(w->data.size()));
  return submit(c, w, &buf, 1);
}

bool H1Client::submit(H1Conn* c, H1Write* w, uv_buf_t* bufs, unsigned n) {
  w->req.data = w;
  c->write_pending += w->plain;
  int rc = uv_write(&w->req, reinterpret_cast<uv_stream_t*>(&c->socket->tcp), bufs, n,
                    [](uv_write_t* req, int status) {
                      auto* w = static_cast<H1Write*>(req->data);
                      auto* s = static_cast<Socket*>(req->handle->data);
                      size_t plain = w->plain;
                      delete w;
                      H1Conn* c = s->conn;
                      if (c == nullptr || c->x == nullptr) {
                        return;  // closed (libuv cancels what was still queued)
                      }
                      c->write_pending -= plain;
                      if (status < 0 && c->handshaking()) {
                        c->client->fail(c, "tls",
                                        "the connection failed during the TLS handshake (" +
                                            std::string(uv_strerror(status)) + ")");
                        return;
                      }
                      if (status < 0 && c->body_open) {
                        // The server stopped taking the body. It may have
                        // answered (a 413, say): what the connection
                        // gives next settles the exchange.
                        c->body_open = false;
                        c->write_failed = true;
                        return;
                      }
                      if (status < 0) {
                        c->client->read(c, nullptr, status);
                        return;
                      }
                      if (plain != 0) {
                        c->x->written(c->write_pending);
                      }
                    });
  if (rc != 0) {
    c->write_pending -= w->plain;
    delete w;
    return false;
  }
  return true;
}

bool H1Client::tell_stream(H1Conn* c) {
  H1Exchange* x = c->x;
  H1ResponseReader& r = *c->reader;
  if (!x->head_told && r.head_complete()) {
    x->head_told = true;
    x->head_arrived(r);
  }
  if (x->head_told && !r.body().empty()) {
    bool ok = pass_body(c, r.body());
    if (ok) {
      r.body().clear();
    }
    return ok;
  }
  return true;
}

bool H1Client::pass_body(H1Conn* c, std::string_view part) {
  H1Exchange* x = c->x;
  if (x->body_arrived(part)) {
    return true;
  }
  fail(c, "too-large",
       "the body is larger than :max-body (" + std::to_string(x->max_body) + " bytes)");
  return false;
}

void H1Client::finish(H1Conn* c) {
  H1Exchange* x = c->x;
  std::unique_ptr<H1ResponseReader> r = std::move(c->reader);
  c->x = nullptr;
  x->conn = nullptr;
  // An answer that came before the whole request went out (a 413, say)
  // leaves the connection in no state to reuse.
  if (r->keep_alive() && c->socket->out.empty() && !c->body_open && !c->write_failed &&
      c->write_pending == 0) {
    release(c);
  } else {
    close_conn(c);
  }
  x->answered(*r);
}

void H1Client::fail(H1Conn* c, std::string_view kind, const std::string& why) {
  H1Exchange* x = c->x;
  c->x = nullptr;
  if (x != nullptr) {
    x->conn = nullptr;
  }
  close_conn(c);
  if (x != nullptr) {
    x->failed(kind, why);
  }
}

void H1Client::release(H1Conn* c) {
  c->reused = true;
  if (c->paused) {
    // Paused by a reader behind when the response's last bytes came: the
    // next exchange, or the watch of an idle connection, reads again.
    c->paused = false;
    start_reading(c);
  }
  Pool& pool = *c->pool;
  if (!pool.waiting.empty()) {
    H1Exchange* next = pool.waiting.front();
    pool.waiting.pop_front();
    assign(c, next);
    return;
  }
  c->idle = true;
  pool.idle.push_back(c);
  uv_unref(reinterpret_cast<uv_handle_t*>(&c->socket->tcp));
  // Let go of in time: a connection idle for long may have been dropped
  // on the way (a NAT or a load balancer forgets it without a word), and
  // a request sent on it would wait for its timeout.
  uv_timer_start(
      c->timer,
      [](uv_timer_t* t) {
        auto* c = static_cast<H1Conn*>(t->data);
        c->client->close_conn(c);
      },
      max_idle_ms_, 0);
}

void H1Client::close_conn(H1Conn* c) {
  Pool& pool = *c->pool;
  if (c->idle) {
    for (auto it = pool.idle.begin(); it != pool.idle.end(); ++it) {
      if (*it == c) {
        pool.idle.erase(it);
        break;
      }
    }
  }
  if (c->x != nullptr) {
    c->x->conn = nullptr;
  }
  if (c->resolve != nullptr) {
    c->resolve->data = nullptr;  // its callback frees it
    uv_cancel(reinterpret_cast<uv_req_t*>(c->resolve));
  }
  uv_freeaddrinfo(c->addrs);
  if (Socket* s = c->socket) {
    s->conn = nullptr;
    uv_close(reinterpret_cast<uv_handle_t*>(&s->tcp),
             [](uv_handle_t* h) { delete static_cast<Socket*>(h->data); });
  }
  uv_close(reinterpret_cast<uv_handle_t*>(c->timer),
           [](uv_handle_t* h) { delete reinterpret_cast<uv_timer_t*>(h); });
  conns_.erase(c);
  delete c;
  pool.open--;
  if (!closed_) {
    // On the next turn: a burst of cancellations closes connections one
    // after another, and each would open one for a waiter that the next
    // cancels.
    uv_timer_start(
        kick_, [](uv_timer_t* t) { static_cast<H1Client*>(t->data)->start_waiting(); }, 0, 0);
  }
}

void H1Client::start_waiting() {
  for (auto it = pools_.begin(); it != pools_.end();) {
    Pool& pool = it->second;
    while (!pool.waiting.empty() && pool.open < kMaxPerOrigin) {
      H1Exchange* x = pool.waiting.front();
      pool.waiting.pop_front();
      open_conn(pool, x);
    }
    it = pool.open == 0 && pool.waiting.empty() ? pools_.erase(it) : std::next(it);
  }
}

}  // namespace valk::lisp
