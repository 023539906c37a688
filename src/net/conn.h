// A connection: the TCP handle, the TLS layer (on a TlsTransport over the
// connection's own buffers), the output path and the connection timer. The protocol on top is a
// Session (h1 or h2). Lives in its reactor's slab; reactor thread only.
#pragma once

#include <openssl/ssl.h>
#include <uv.h>

#include <cstdint>
#include <memory>
#include <string>

#include "net/buffer.h"
#include "net/stream.h"
#include "net/tls.h"

namespace valk::net {

class Reactor;
class Conn;
class FileBody;

// A protocol session on a connection.
class Session {
 public:
  virtual ~Session() = default;
  // Plaintext input. Returns false if the connection must close now.
  virtual bool on_input(const uint8_t* p, size_t n) = 0;
  // Called at the reactor's flush point: move pending output into the
  // connection, within its high-water mark. Returns false to close.
  virtual bool produce() = 0;
  // A Responder call for one of this session's streams.
  virtual void on_completion(Stream* s, Completion& c) = 0;
  // Graceful shutdown has begun.
  virtual void drain() = 0;
  // The connection timer fired in its idle/header/body state.
  virtual void on_timeout(int kind) = 0;
  // Cancels and frees every stream (the connection is closing).
  virtual void close_streams() = 0;
  // The peer half-closed (EOF). True to keep the connection for the output
  // still owed (the connection stops reading); false to close now.
  virtual bool on_eof() { return false; }
  // True when the session has nothing left to do and may be closed.
  virtual bool finished() const = 0;
  // In the kTimerIdleRelease state, once the connection has been idle for
  // ServerTimeouts::release_idle_memory: gives back what the session can
  // do without until its next bytes. Returns the bytes given back.
  virtual size_t release_idle_memory() { return 0; }
  // HTTP/2, or on HTTP/1.x the version of the latest request.
  virtual Protocol protocol() const = 0;
};

// kTimerIdleRelease is kTimerIdle for a session with memory to give back
// while idle: the timer first calls its release_idle_memory(), then runs
// the rest of the idle timeout. (HTTP/1.1 has none, and keeps the one timer
// operation per request that stage would cost.)
enum TimerKind {
  kTimerNone,
  kTimerHandshake,
  kTimerIdle,
  kTimerIdleRelease,
  kTimerHeader,
  kTimerBody,
  kTimerWrite
};

class Conn {
 public:
  explicit Conn(Reactor* r);
  ~Conn();
  Conn(const Conn&) = delete;
  Conn& operator=(const Conn&) = delete;

  // Accepts from `server` and starts reading. False if that failed (the
  // connection then closes itself).
  bool accept(uv_stream_t* server, bool tls);

  // ---- for sessions ----
  void send(const void* p, size_t n);  // plaintext out
  void send(std::string_view s) { send(s.data(), s.size()); }
  // Sends `head` then the next `n` bytes of `file`, read straight into the
  // output blocks (over TLS: encrypted straight from the file's read ahead
  // when they fit in it). Sends nothing and returns false if the file read
  // fails.
  bool send_file(const uint8_t* head, size_t head_len, FileBody& file, size_t n);
  bool tls() const { return ssl_ != nullptr; }
  void mark_dirty();
  // Bytes handed over but not yet on the wire.
  size_t out_pending() const { return plain_out_.bytes() + wire_out_.bytes() + inflight_.bytes(); }
  // Whether the session should stop producing: `mark` bytes are pending.
  // Once it said so, the connection asks the session for more as soon as
  // those bytes are written.
  bool over_high_water(size_t mark = kHighWater) {
    held_back_ = out_pending() >= mark;
    return held_back_;
  }
  void set_timer(TimerKind kind);
  // Closes once everything queued is written.
  void close_after_write();
  // Sent data the peer has not acknowledged after `ms` fails the connection
  // (TCP_USER_TIMEOUT): a peer gone without a FIN (a dropped network) is
  // found the next time something is sent to it, not after the kernel's
  // retries (~15 minutes).
  void fail_unacknowledged_after(uint32_t ms);
  void close();
  // Closes with the requests in flight unanswered, the server's doing (the
  // drain deadline passed, or a forced stop): they are logged 444, not 499.
  void cut();
  bool cut_by_server() const { return cut_; }
  void stop_reading();
  void start_reading();

  // ---- for the reactor ----
  void flush();  // produce, encrypt, write
  bool closing() const { return closing_; }

  Reactor* reactor;
  Conn* prev = nullptr;
  Conn* next = nullptr;
  bool dirty = false;
  std::string peer;
  std::unique_ptr<TlsInfo> tls_info;
  std::unique_ptr<Session> session;
  // A session replaced while its own code is still on the stack (h1 → h2c
  // upgrade); kept until the connection goes.
  std::unique_ptr<Session> retired_session;

  // Past this much pending output a session stops producing until it is
  // written. Five 16 KiB h2 frames or TLS records, as h2o writes: on a 1 MiB
  // download 80 KiB writes cost the least server CPU per byte of those
  // measured (64, 80, 128 and 256 KiB; 128 KiB cost twice as much, 256 KiB
  // 1.1-1.8x), and the kernel's socket buffer does the real buffering.
  static constexpr size_t kHighWater = 80 * 1024;

 private:
  static void on_alloc(uv_handle_t* h, size_t suggested, uv_buf_t* buf);
  static void on_read(uv_stream_t* s, ssize_t nread, const uv_buf_t* buf);
  static void on_write(uv_write_t* req, int status);
  static void on_timer(uv_timer_t* t);
  static void on_close(uv_handle_t* h);
  void on_bytes(const uint8_t* p, size_t n);
  bool on_plain(const uint8_t* p, size_t n);
  void decrypt();
  bool handshake();
  void encrypt();
  bool encrypt_file(const uint8_t* head, size_t head_len, FileBody& file, size_t n);
  void wire_queued();
  void output_queued();
  void start_write();
  void arm(TimerKind kind);
  void set_deadline(uint32_t ms);

  uv_tcp_t tcp_;
  uv_timer_t timer_;
  uv_write_t wreq_;
  SSL* ssl_ = nullptr;
  TlsTransport tls_io_;  // under ssl_: input being read, wire_out_ as output
  bool handshake_done_ = false;
  bool detecting_ = true;
  std::string detect_;  // the start of a plaintext stream, to spot the h2 preface
  BufChain plain_out_, wire_out_, inflight_;
  bool writing_ = false;
  bool flushing_ = false;   // in flush(), before its write
  bool held_back_ = false;  // the session stopped at the high-water mark
  bool closing_ = false;
  bool cut_ = false;
  bool close_after_write_ = false;
  bool reading_ = false;
  int open_handles_ = 0;
  TimerKind timer_kind_ = kTimerNone;
  // The idle timer's first stage is due: the release of idle memory, then
  // the rest of the idle timeout.
  bool release_due_ = false;
  // When the current timeout expires (loop time, ms; 0: none). The timer
  // is moved only when a deadline comes earlier than it is due; a later one
  // is found when it fires, so the header and idle deadlines a keep-alive
  // connection sets per request cost no timer heap operations.
  uint64_t deadline_ = 0;
};

}  // namespace valk::net
