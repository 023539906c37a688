#include "net/conn.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <sys/socket.h>

#include <cassert>
#include <cstring>

#include "net/file_body.h"
#include "net/h1.h"
#include "net/h2.h"
#include "net/reactor.h"
#include "net/server_impl.h"
#include "net/tls.h"

namespace valk::net {

namespace {

constexpr char kPreface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
constexpr size_t kPrefaceLen = sizeof kPreface - 1;
constexpr size_t kRawHalf = Reactor::kReadBufSize / 2;

std::string format_peer(const sockaddr_storage& ss) {
  char host[INET6_ADDRSTRLEN] = "?";
  if (ss.ss_family == AF_INET) {
    auto* a = reinterpret_cast<const sockaddr_in*>(&ss);
    inet_ntop(AF_INET, &a->sin_addr, host, sizeof host);
    return std::string(host) + ":" + std::to_string(ntohs(a->sin_port));
  }
  if (ss.ss_family == AF_INET6) {
    auto* a = reinterpret_cast<const sockaddr_in6*>(&ss);
    inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof host);
    return "[" + std::string(host) + "]:" + std::to_string(ntohs(a->sin6_port));
  }
  return "?";
}

}  // namespace

Conn::Conn(Reactor* r) : reactor(r) {}

Conn::~Conn() {
  session.reset();
  retired_session.reset();
  if (ssl_ != nullptr) {
    SSL_free(ssl_);
  }
  plain_out_.release(reactor->pool());
  wire_out_.release(reactor->pool());
  inflight_.release(reactor->pool());
}

bool Conn::accept(uv_stream_t* server, bool tls) {
  uv_tcp_init(reactor->loop(), &tcp_);
  uv_timer_init(reactor->loop(), &timer_);
  tcp_.data = this;
  timer_.data = this;
  wreq_.data = this;
  open_handles_ = 2;
  if (uv_accept(server, reinterpret_cast<uv_stream_t*>(&tcp_)) != 0) {
    close();
    return false;
  }
  uv_tcp_nodelay(&tcp_, 1);
  sockaddr_storage ss;
  int len = sizeof ss;
  if (uv_tcp_getpeername(&tcp_, reinterpret_cast<sockaddr*>(&ss), &len) == 0) {
    peer = format_peer(ss);
  }
  if (tls) {
    // One SSL_write per block: a block of 16 KiB of plaintext becomes one
    // full record (a 16.5 KiB block would make a full one and a tiny one).
    plain_out_.set_block_cap(kTlsRecordPlain);
    tls_io_.out = &wire_out_;
    tls_io_.pool = &reactor->pool();
    ssl_ = reactor->server()->tls()->new_ssl(&tls_io_);
    if (ssl_ == nullptr) {
      close();
      return false;
    }
    set_timer(kTimerHandshake);
  } else {
    set_timer(kTimerHeader);
  }
  start_reading();
  return true;
}

void Conn::start_reading() {
  if (!reading_ && !closing_) {
    reading_ = true;
    uv_read_start(reinterpret_cast<uv_stream_t*>(&tcp_), on_alloc, on_read);
  }
}

void Conn::stop_reading() {
  if (reading_) {
    reading_ = false;
    uv_read_stop(reinterpret_cast<uv_stream_t*>(&tcp_));
  }
}

void Conn::on_alloc(uv_handle_t* h, size_t, uv_buf_t* buf) {
  // One buffer per reactor serves every read: input is consumed before the
  // read callback returns. The upper half holds decrypted TLS records.
  auto* c = static_cast<Conn*>(h->data);
  buf->base = reinterpret_cast<char*>(c->reactor->read_buf());
  buf->len = kRawHalf;
}

void Conn::on_read(uv_stream_t* s, ssize_t nread, const uv_buf_t* buf) {
  auto* c = static_cast<Conn*>(s->data);
  if (nread < 0) {
    // A client that half-closes while its answer is going out gets the rest.
    if (nread == UV_EOF && c->session != nullptr && !c->closing_ && c->session->on_eof()) {
      c->stop_reading();
      return;
    }
    c->close();
    return;
  }
  if (nread > 0) {
    c->reactor->count(Counter::kBytesIn, nread);
    c->on_bytes(reinterpret_cast<const uint8_t*>(buf->base), static_cast<size_t>(nread));
    // `c` may be closing now, but its memory lives until its close callback.
    c->reactor->input_handled(c->session.get());
  }
}

void Conn::on_bytes(const uint8_t* p, size_t n) {
  if (ssl_ == nullptr) {
    if (!on_plain(p, n)) {
      close();
    }
    return;
  }
  // OpenSSL reads from `p` through tls_io_ only during this call: whatever
  // it has not taken by the end (nothing, unless the connection is closing)
  // is dropped, and no pointer into the reactor's read buffer outlives it.
  tls_io_.in = p;
  tls_io_.in_len = n;
  decrypt();
  // OpenSSL answers WANT_READ only once the BIO has run dry (with
  // SSL_MODE_AUTO_RETRY, on by default, post-handshake messages do not
  // interrupt SSL_read either).
  assert(tls_io_.in_len == 0 || closing_ || close_after_write_);
  tls_io_.in = nullptr;
  tls_io_.in_len = 0;
  wire_queued();
}

void Conn::decrypt() {
  if (!handshake_done_ && !handshake()) {
    return;
  }
  uint8_t* plain = reactor->read_buf() + kRawHalf;
  for (;;) {
    int r = SSL_read(ssl_, plain, static_cast<int>(kRawHalf));
    if (r > 0) {
      if (!on_plain(plain, static_cast<size_t>(r))) {
        close();
        return;
      }
      if (closing_ || close_after_write_) {
        return;
      }
      // Input taken: another SSL_read could only answer WANT_READ, and
      // costs as much as a small record's decryption. (Without read-ahead
      // OpenSSL takes one record at a time from the BIO and a record fits
      // `plain`, so it holds nothing more then; SSL_has_pending keeps this
      // right should either change.)
      if (tls_io_.in_len == 0 && SSL_has_pending(ssl_) == 0) {
        return;
      }
      continue;
    }
    if (SSL_get_error(ssl_, r) != SSL_ERROR_WANT_READ) {
      // close_notify or a TLS error: nothing more will be read.
      ERR_clear_error();
      close_after_write();
    }
    return;
  }
}

bool Conn::handshake() {
  int r = SSL_do_handshake(ssl_);
  if (r == 1) {
    handshake_done_ = true;
    reactor->count(Counter::kTlsHandshakes);
    tls_info = std::make_unique<TlsInfo>();
    tls_fill_info(ssl_, tls_info.get());
    if (tls_info->session_reused) {
      reactor->count(Counter::kTlsResumed);
    }
    // The session starts only now, so the server's SETTINGS are written
    // through the finished TLS session and cannot be lost in the handshake.
    bool h2 = tls_info->alpn == "h2";
    session = h2 ? make_h2_session(this) : make_h1_session(this);
    if (session == nullptr) {
      close();
      return false;
    }
    if (!h2) {
      set_timer(kTimerHeader);  // an h2 session keeps its own (idle) timer
    }
    return true;
  }
  int e = SSL_get_error(ssl_, r);
  if (e == SSL_ERROR_WANT_READ) {
    return false;
  }
  reactor->count(Counter::kTlsHandshakeFailures);
  if (reactor->log().enabled(LogLevel::kDebug)) {
    char buf[256];
    ERR_error_string_n(ERR_peek_error(), buf, sizeof buf);
    reactor->log().log(LogLevel::kDebug, "TLS handshake with %s failed: %s", peer.c_str(), buf);
  }
  ERR_clear_error();
  close_after_write();  // the alert, if any, still goes out
  return false;
}

bool Conn::on_plain(const uint8_t* p, size_t n) {
  if (session != nullptr) {
    return session->on_input(p, n);
  }
  // Plaintext: HTTP/2 with prior knowledge starts with the client preface.
  detect_.append(reinterpret_cast<const char*>(p), n);
  size_t k = std::min(detect_.size(), kPrefaceLen);
  bool h2 = reactor->options().enable_h2c && memcmp(detect_.data(), kPreface, k) == 0;
  if (h2 && detect_.size() < kPrefaceLen) {
    return true;
  }
  session = h2 ? make_h2_session(this) : make_h1_session(this);
  if (session == nullptr) {
    return false;
  }
  std::string input = std::move(detect_);
  detect_ = std::string();
  return session->on_input(reinterpret_cast<const uint8_t*>(input.data()), input.size());
}

void Conn::send(const void* p, size_t n) {
  plain_out_.append(reactor->pool(), static_cast<const uint8_t*>(p), n);
  output_queued();
}

bool Conn::send_file(const uint8_t* head, size_t head_len, FileBody& file, size_t n) {
  // Over TLS, at least a record's worth is encrypted in place; anything
  // smaller is copied, so that it shares a record with what comes next
  // (a small file's DATA frame with the HEADERS before it).
  if (ssl_ != nullptr && head_len + n >= kTlsRecordPlain && head_len <= FileBody::kHeadroom &&
      n <= FileBody::kReadAhead) {
    return encrypt_file(head, head_len, file, n);
  }
  iovec spans[BufChain::kMaxSpans];
  int count = plain_out_.reserve(reactor->pool(), head_len + n, spans);
  // The head goes into the first span(s), the file into what follows.
  int i = 0;
  for (size_t done = 0; done < head_len; ++i) {
    size_t k = std::min(head_len - done, spans[i].iov_len);
    memcpy(spans[i].iov_base, head + done, k);
    done += k;
    if (k < spans[i].iov_len) {
      spans[i].iov_base = static_cast<uint8_t*>(spans[i].iov_base) + k;
      spans[i].iov_len -= k;
      break;
    }
  }
  if (!file.read_into(spans + i, count - i)) {
    plain_out_.commit(reactor->pool(), 0);
    return false;
  }
  plain_out_.commit(reactor->pool(), head_len + n);
  output_queued();
  return true;
}

void Conn::mark_dirty() {
  if (!closing_) {
    reactor->mark_dirty(this);
  }
}

void Conn::output_queued() {
  // Inside flush() what is queued is written before it returns: marking
  // the connection again would only flush it a second time.
  if (!flushing_) {
    mark_dirty();
  }
}

void Conn::flush() {
  if (closing_) {
    return;
  }
  flushing_ = true;
  if (session != nullptr && !close_after_write_ && !session->produce()) {
    encrypt();
    close_after_write();
  }
  encrypt();
  flushing_ = false;
  start_write();
  if (out_pending() == 0 && !closing_ &&
      (close_after_write_ || (session != nullptr && session->finished()))) {
    close();
  }
}

void Conn::encrypt() {
  if (ssl_ == nullptr) {
    plain_out_.move_to(wire_out_);
    return;
  }
  if (plain_out_.empty()) {
    return;
  }
  // The records go straight into wire_out_ through tls_io_.
  for (Buf& b : plain_out_.bufs()) {
    if (SSL_write(ssl_, b.data, static_cast<int>(b.len)) <= 0) {
      ERR_clear_error();
      break;
    }
  }
  plain_out_.release(reactor->pool());
  wire_queued();
}

// SSL_write copies its input into OpenSSL's own record buffer anyway, so
// the file's bytes need not be copied into plain_out_ first: they are
// encrypted where the read ahead holds them, behind `head` written into the
// room in front. Whatever plaintext is queued goes first, as its own
// record(s). The h2 session sizes DATA frames over TLS so that header and
// payload make exactly one full record (kTlsRecordPlain).
bool Conn::encrypt_file(const uint8_t* head, size_t head_len, FileBody& file, size_t n) {
  uint8_t* p = file.take(n, head_len);
  if (p == nullptr) {
    return false;
  }
  p -= head_len;
  if (head_len > 0) {
    memcpy(p, head, head_len);  // HTTP/1.1 passes no head (nullptr)
  }
  encrypt();
  if (SSL_write(ssl_, p, static_cast<int>(head_len + n)) <= 0) {
    ERR_clear_error();  // as in encrypt(): the connection is failing
  }
  wire_queued();
  return true;
}

void Conn::wire_queued() {
  if (!wire_out_.empty()) {
    output_queued();
  }
}

void Conn::start_write() {
  if (writing_ || wire_out_.empty() || closing_) {
    return;
  }
  wire_out_.swap(inflight_);
  uv_buf_t stack_bufs[16];
  std::vector<uv_buf_t> heap_bufs;
  uv_buf_t* bufs = stack_bufs;
  size_t n = inflight_.bufs().size();
  if (n > 16) {
    heap_bufs.resize(n);
    bufs = heap_bufs.data();
  }
  for (size_t i = 0; i < n; ++i) {
    bufs[i] =
        uv_buf_init(reinterpret_cast<char*>(inflight_.bufs()[i].data), inflight_.bufs()[i].len);
  }
  size_t total = inflight_.bytes();
  reactor->count(Counter::kBytesOut, total);
  // Most writes fit in the socket buffer: write them now. A uv_write that
  // completes at once still costs an epoll_ctl when libuv drains the
  // request, one syscall more per response on HTTP/1.1.
  int written = uv_try_write(reinterpret_cast<uv_stream_t*>(&tcp_), bufs, n);
  if (written < 0 && written != UV_EAGAIN) {
    inflight_.release(reactor->pool());
    close();
    return;
  }
  if (written >= 0 && static_cast<size_t>(written) == total) {
    inflight_.release(reactor->pool());
    if (held_back_) {
      held_back_ = false;
      mark_dirty();
    }
    return;
  }
  // The rest goes through uv_write; the blocks stay in inflight_ until it
  // completes.
  size_t skip = written > 0 ? static_cast<size_t>(written) : 0;
  while (skip >= bufs->len) {
    skip -= bufs->len;
    bufs++;
    n--;
  }
  bufs->base += skip;
  bufs->len -= skip;
  if (uv_write(&wreq_, reinterpret_cast<uv_stream_t*>(&tcp_), bufs, n, on_write) != 0) {
    inflight_.release(reactor->pool());
    close();
    return;
  }
  writing_ = true;
  set_deadline(reactor->options().timeouts.write);
}

void Conn::on_write(uv_write_t* req, int status) {
  auto* c = static_cast<Conn*>(req->data);
  c->writing_ = false;
  c->inflight_.release(c->reactor->pool());
  if (c->closing_) {
    return;
  }
  if (status < 0) {
    c->close();
    return;
  }
  c->arm(c->timer_kind_);
  c->mark_dirty();
}

void Conn::set_timer(TimerKind kind) {
  timer_kind_ = kind;
  if (!writing_ && !closing_) {
    arm(kind);
  }
}

void Conn::arm(TimerKind kind) {
  const ServerTimeouts& t = reactor->options().timeouts;
  uint32_t ms = 0;
  release_due_ = false;
  switch (kind) {
    case kTimerHandshake:
      ms = t.handshake;
      break;
    case kTimerIdle:
      ms = t.idle;
      break;
    case kTimerIdleRelease:
      if (t.release_idle_memory != 0 && (t.idle == 0 || t.release_idle_memory < t.idle)) {
        release_due_ = true;
        ms = t.release_idle_memory;
      } else {
        ms = t.idle;
      }
      break;
    case kTimerHeader:
      ms = t.header_read;
      break;
    case kTimerBody:
      ms = t.body_read;
      break;
    default:
      break;
  }
  set_deadline(ms);
}

void Conn::set_deadline(uint32_t ms) {
  if (ms == 0) {
    deadline_ = 0;  // the timer, if running, fires to no effect
    return;
  }
  deadline_ = uv_now(reactor->loop()) + ms;
  if (!uv_is_active(reinterpret_cast<uv_handle_t*>(&timer_)) || uv_timer_get_due_in(&timer_) > ms) {
    uv_timer_start(&timer_, on_timer, ms, 0);
  }
}

void Conn::on_timer(uv_timer_t* t) {
  auto* c = static_cast<Conn*>(t->data);
  if (c->closing_ || c->deadline_ == 0) {
    return;
  }
  uint64_t now = uv_now(c->reactor->loop());
  if (now < c->deadline_) {
    uv_timer_start(&c->timer_, on_timer, c->deadline_ - now, 0);
    return;
  }
  c->deadline_ = 0;
  if (c->release_due_) {
    c->release_due_ = false;
    if (c->session != nullptr) {
      c->reactor->count(Counter::kIdleMemoryReleased, c->session->release_idle_memory());
    }
    const ServerTimeouts& t = c->reactor->options().timeouts;
    c->set_deadline(t.idle == 0 ? 0 : t.idle - t.release_idle_memory);
    return;
  }
  if (c->writing_) {
    c->reactor->count(Counter::kTimeoutsWrite);
    c->close();
    return;
  }
  if (c->session == nullptr) {
    c->reactor->count(c->ssl_ != nullptr && !c->handshake_done_ ? Counter::kTimeoutsHandshake
                                                                : Counter::kTimeoutsHeader);
    c->close();
    return;
  }
  c->session->on_timeout(c->timer_kind_);
}

void Conn::fail_unacknowledged_after(uint32_t ms) {
  uv_os_fd_t fd;
  if (ms != 0 && uv_fileno(reinterpret_cast<uv_handle_t*>(&tcp_), &fd) == 0) {
    unsigned int v = ms;
    setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &v, sizeof v);  // advice: failure is harmless
  }
}

void Conn::close_after_write() {
  close_after_write_ = true;
  stop_reading();
  mark_dirty();
}

void Conn::close() {
  if (closing_) {
    return;
  }
  closing_ = true;
  stop_reading();
  if (session != nullptr) {
    session->close_streams();
  }
  uv_close(reinterpret_cast<uv_handle_t*>(&tcp_), on_close);
  uv_close(reinterpret_cast<uv_handle_t*>(&timer_), on_close);
}

void Conn::cut() {
  cut_ = true;
  close();
}

void Conn::on_close(uv_handle_t* h) {
  auto* c = static_cast<Conn*>(h->data);
  if (--c->open_handles_ == 0) {
    c->reactor->conn_closed(c);
  }
}

}  // namespace valk::net
