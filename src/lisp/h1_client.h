// http/request's own client for HTTP/1.1 (http:// URLs, no proxy; and
// https:// ones asked for with :version :http1 or :as :upgrade, over TLS
// of its own, h1_tls.h), on an isolate's libuv loop. libcurl does the rest
// (HTTP/2, proxies), but a transfer through it costs ~30 µs of CPU, six
// times what the server spends on a request, and a gateway's calls to the
// services behind it are mostly this case (bench/serve/gateway.sh: 30 µs
// of user CPU per gateway request through libcurl, 8 through this
// client).
//
// Connections are kept per origin and reused, most recently used first; at
// most 512 are open to one origin at once, and further exchanges wait for
// one, first come first served. An idle connection is watched so that one
// the server closes is dropped at once; it is closed after a minute idle,
// and does not keep the loop alive. An exchange whose kept connection
// turns out closed before any byte of its response came is sent again
// once on a new connection (the server may close an idle connection just
// as a request goes out on it).
//
// The exchange's whole deadline is its owner's business (http_op.cc);
// this layer bounds only the time to connect.
#pragma once

#include <uv.h>

#include <atomic>
#include <deque>
#include <iterator>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>

#include "lisp/h1_response_reader.h"
#include "lisp/h1_tls.h"
#include "lisp/isolate.h"

namespace valk::lisp {

struct H1Conn;
struct H1Write;

// What the process's http/request calls came to, for /metrics.
struct HttpRequestCounters {
  // How each ended, in the order of kResults: a response (of any status),
  // or the error's :kind, or a cancellation.
  static constexpr const char* kResults[] = {"response",  "connect",   "timeout", "tls",
                                             "too-large", "redirects", "failed",  "cancelled"};
  std::atomic<uint64_t> ended[std::size(kResults)] = {};
  // Connections the own client made, or could not make.
  std::atomic<uint64_t> connects{0};
  std::atomic<uint64_t> connect_failures{0};
  static HttpRequestCounters& process();
  void count(std::string_view result);
};

// One request and its response.
struct H1Exchange {
  virtual ~H1Exchange() = default;
  // The response has come whole. Called on the loop's thread; the exchange
  // is no longer the client's.
  virtual void answered(H1ResponseReader& response) = 0;
  // It failed: `kind` is "connect", "timeout", "tls", "too-large" or
  // "failed".
  virtual void failed(std::string_view kind, const std::string& why) = 0;
  // With `stream`: the final response's head has come, before any of its
  // body; then each part of the body as it comes (false: it is more than
  // the exchange takes, which fails as "too-large"). answered() ends it.
  // Neither may call abort().
  virtual void head_arrived(const H1ResponseReader&) {}
  virtual bool body_arrived(std::string_view) { return true; }
  // What H1Client::write() took has gone out but `pending` bytes.
  virtual void written(size_t pending) {}
  // With `body_streams`: the head went out on a connection, and write()
  // sends the body from now on (while H1Client::takes_body).
  virtual void body_sendable() {}

  // Set by the caller before H1Client::start.
  std::string host;  // a name, or an address without brackets
  uint16_t port = 80;
  std::string origin;  // the pool it uses: one per scheme, host and port
  // Over TLS, verifying the server (unless `insecure`) against the
  // system's CAs or those of `ca_file`.
  bool tls = false;
  bool insecure = false;
  std::string ca_file;
  std::string request;  // head and body, ready to send
  bool head = false;    // HEAD: the response has no body
  bool decode = true;   // undo the body's gzip or deflate
  bool stream = false;  // call head_arrived and body_arrived
  // With `stream`: the request asks to switch protocols. A 101 makes the
  // connection the exchange's: what the server sends next comes to
  // body_arrived until it closes (answered() then), and write() sends.
  bool upgrade = false;
  // The request's body streams: `request` is its head alone, and the body
  // goes out with write() (as chunks if `chunked`) until end_body(). Once
  // some of it went out, the exchange is not sent again on a new
  // connection (the body is not at hand).
  bool body_streams = false;
  bool chunked = false;
  size_t max_body = 0;
  uint64_t connect_timeout_ms = 10000;

  // The client's own.
  H1Conn* conn = nullptr;
  bool retried = false;
  bool head_told = false;
};

class H1Client : public LoopResource {
 public:
  // How long a connection may wait idle for the next exchange before it
  // is closed; as nginx's upstream keepalive_timeout.
  static constexpr uint64_t kDefaultMaxIdleMs = 60000;

  explicit H1Client(uv_loop_t* loop, uint64_t max_idle_ms = kDefaultMaxIdleMs);
  ~H1Client() override;
  H1Client(const H1Client&) = delete;
  H1Client& operator=(const H1Client&) = delete;

  void start(H1Exchange* x);
  // Forgets `x` (its connection is closed if the exchange was under way);
  // it is not called back.
  void abort(H1Exchange* x);
  // Stops reading the response of `x` (a streamed body its reader is
  // behind on: the server is held back by TCP), and reads on.
  void pause(H1Exchange* x);
  void resume(H1Exchange* x);
  // Sends `data` on the connection a 101 gave `x` (upgrade), or as part of
  // its streamed body (body_streams, once body_sendable() was called).
  // Returns the bytes not yet handed to the kernel, this included; -1 if
  // there is no such connection (any more).
  int64_t write(H1Exchange* x, std::string data);
  // Ends the streamed body of `x` (the last chunk, if chunked); false if
  // its connection is gone.
  bool end_body(H1Exchange* x);
  // The streamed body of `x` goes out on a connection now: after
  // body_sendable(), until end_body() or the connection failed to take
  // more (the server may still answer: an early 413, say).
  bool takes_body(const H1Exchange* x) const;
  // Forgets every exchange without calling it back and closes every
  // connection; at the isolate's end.
  void close() override;

  // Connections open now (for tests).
  size_t connections() const { return conns_.size(); }

 private:
  friend struct H1Conn;
  struct Socket;
  struct Pool {
    size_t open = 0;                  // connections, idle ones included
    std::deque<H1Conn*> idle;         // most recently used at the back
    std::deque<H1Exchange*> waiting;  // for a connection
  };

  void open_conn(Pool& pool, H1Exchange* x);
  void resolved(H1Conn* c, int status, addrinfo* addrs);
  void connect_next(H1Conn* c);
  void connected(H1Conn* c, int status);
  void assign(H1Conn* c, H1Exchange* x);
  void start_reading(H1Conn* c);
  // Sends the request's head (and body, unless it streams); false if that
  // failed the exchange or sent it again elsewhere (`c` is gone).
  bool send(H1Conn* c);
  // Queues `data` on the connection, framed as a chunk if `chunk`.
  bool queue_write(H1Conn* c, std::string data, bool chunk);
  // Hands a streamed response's head and body so far to its exchange;
  // false if the exchange let go of it (the connection is closed).
  bool tell_stream(H1Conn* c);
  // Hands `part` of a streamed body to its exchange; false if that failed
  // the exchange (more than it takes).
  bool pass_body(H1Conn* c, std::string_view part);
  // What came on the connection (ciphertext over TLS), or the end
  // (UV_EOF) or an error (`nread` < 0).
  void received(H1Conn* c, ssize_t nread);
  // On a TLS connection: on with the handshake, then the plaintext to
  // read(); false if `c` is gone.
  bool received_tls(H1Conn* c, ssize_t nread);
  // `nread` bytes of the response at `data`, or the end or an error.
  void read(H1Conn* c, const char* data, ssize_t nread);
  // After a 101 to an upgrade: the connection is its exchange's, and
  // what the server sends is the body, the first `tail` bytes from here.
  void enter_tunnel(H1Conn* c, const char* tail, size_t n);
  void read_tunnel(H1Conn* c, const char* data, ssize_t nread);
  // Sends `bytes` as they are (ciphertext, or plaintext without TLS), of
  // which `plain` are the exchange's bytes.
  bool send_bytes(H1Conn* c, std::string bytes, size_t plain);
  bool submit(H1Conn* c, H1Write* w, uv_buf_t* bufs, unsigned n);
  void finish(H1Conn* c);
  void fail(H1Conn* c, std::string_view kind, const std::string& why);
  // Gives an idle-to-be connection to what waits, or keeps it idle.
  void release(H1Conn* c);
  void close_conn(H1Conn* c);
  // Opens connections for what waits, as room allows, and forgets the
  // pools with nothing open or waiting.
  void start_waiting();

  uv_loop_t* loop_;
  uint64_t max_idle_ms_;
  bool closed_ = false;
  uv_timer_t* kick_;  // runs start_waiting; freed by its close callback
  std::unordered_map<std::string, Pool> pools_;
  std::unordered_set<H1Conn*> conns_;
  ClientTlsContexts tls_contexts_{"http/1.1"};
  char read_buf_[65536];
  char plain_buf_[65536];  // what TLS deciphered from read_buf_
};

}  // namespace valk::lisp
