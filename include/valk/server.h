// valk's network core: an HTTP/2 and HTTP/1.1 server on libuv reactors, usable
// from C++ without any Lisp.
//
// Threads. A Server owns N reactor threads, each running its own libuv loop
// and owning the connections it accepted. A Handler runs on the reactor thread
// that owns the request. A Responder may be used from any thread: what it
// sends hops back to the owning reactor through a bounded lock-free MPSC queue
// with one coalesced wakeup per batch. Nothing in this API throws.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <iterator>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

struct uv_loop_s;  // libuv's uv_loop_t

namespace valk {

namespace net {
class Reactor;
struct Stream;
class ServerImpl;
}  // namespace net

// A header to send. Names should be lower case (HTTP/2 requires it; the
// HTTP/1.1 writer sends them as given).
struct Header {
  std::string name;
  std::string value;
};
using Headers = std::vector<Header>;

// Response headers made once and sent with many responses (an app's
// constant "content-type: text/plain" set): checked and lower-cased when
// made, immutable after, shared by reference count, so a response that
// carries them neither copies nor checks them again. Any thread may hold,
// use and drop one.
class SharedHeaders {
 public:
  // `headers` with their names lower-cased; or null, with *error naming the
  // first header that may not be sent (an empty or invalid name, a CR, LF
  // or NUL in a value).
  static std::shared_ptr<const SharedHeaders> make(Headers headers, std::string* error);
  const Headers& headers() const { return headers_; }

 private:
  explicit SharedHeaders(Headers headers) : headers_(std::move(headers)) {}
  Headers headers_;
};

// A received header. Names are lower case. The views live as long as the
// Request they came from.
struct HeaderView {
  std::string_view name;
  std::string_view value;
};

struct ListenAddress {
  std::string host = "127.0.0.1";  // IPv4 or IPv6 literal; "::" binds IPv6 only
  uint16_t port = 0;               // 0 picks a free port; see Server::port()
  // With certificates configured, whether this address speaks TLS; false
  // serves plain HTTP/1.1 and h2c there alongside TLS elsewhere.
  bool tls = true;

  bool operator==(const ListenAddress&) const = default;
};

// A PEM certificate chain and its private key. With several, the first is the
// default and the others are chosen by SNI against their subject names.
struct TlsCertificate {
  std::string cert_file;
  std::string key_file;

  bool operator==(const TlsCertificate&) const = default;
};

enum class ClientCertMode {
  kNone,     // no client certificate asked for
  kRequest,  // asked for; the handshake goes on without one or with a bad one
  kRequire,  // required and verified against client_ca_file
};

enum class AccessLogFormat { kCombined, kJson };
enum class LogLevel { kDebug, kInfo, kWarn, kError, kOff };

// Everything a client controls has a limit. Each one is answered as noted.
struct ServerLimits {
  uint32_t max_connections = 10000;       // per server, all reactors; accept backs off
  uint32_t max_concurrent_streams = 128;  // h2 SETTINGS; excess → RST_STREAM
  uint32_t max_header_list_size = 65536;  // bytes of names+values → 431
  uint32_t max_url_length = 8192;         // → 414
  uint64_t max_body_size = 64ull << 20;   // → 413 (or RST_STREAM once started)
  // A paced body reader (BodyFlow::kPaced) holds at most about this many
  // bytes it has not consumed: the h2 stream window, and on HTTP/1.1 the
  // point where the connection stops reading, there at most 256 KiB (TCP's
  // own buffers hold the client back from there; a larger read-ahead
  // only holds more of each upload in memory).
  uint32_t body_window = 1 << 20;
  uint32_t max_resets_per_second = 200;          // h2 rapid reset → GOAWAY
  uint32_t max_control_frames_per_second = 500;  // SETTINGS/PING flood → GOAWAY
  uint32_t max_continuations = 8;                // CONTINUATION frames per header block
};

// Milliseconds; 0 disables that timeout.
struct ServerTimeouts {
  uint32_t handshake = 10000;    // TLS handshake → close
  uint32_t idle = 60000;         // no request in flight → close (h2: GOAWAY)
  uint32_t header_read = 10000;  // h1 request head incomplete (slowloris) → 408
  uint32_t body_read = 30000;    // h1 request body stalls → 408
  uint32_t write = 30000;        // a write does not progress (slow reader) → close
  uint32_t drain = 10000;        // graceful shutdown deadline, then close
  // Idle this long, an h2 connection gives back the memory its session can
  // do without until its next bytes (0: never).
  uint32_t release_idle_memory = 2000;
};

enum class Protocol { kHttp10, kHttp11, kHttp2 };

struct ServerOptions {
  std::vector<ListenAddress> listen = {ListenAddress{}};
  unsigned reactors = 0;  // 0: one per CPU the process may run on (affinity mask)
  std::vector<TlsCertificate> certificates;  // empty: plain TCP
  std::string client_ca_file;
  ClientCertMode client_cert = ClientCertMode::kNone;
  bool enable_h2c = true;  // cleartext HTTP/2: prior knowledge and Upgrade
  // HTTP/2: SETTINGS_ENABLE_CONNECT_PROTOCOL, so that clients may open
  // tunnels such as WebSockets with an extended CONNECT (RFC 8441; see
  // Request::connect_protocol). Browsers then open their WebSockets on the
  // HTTP/2 connection they have, not on a connection of their own.
  bool enable_connect_protocol = true;
  ServerLimits limits;
  ServerTimeouts timeouts;
  std::string access_log;  // "" off, "-" stdout, else a file (appended)
  // kJson also writes the error log as JSON lines (time, level, message).
  AccessLogFormat access_log_format = AccessLogFormat::kCombined;
  std::string error_log = "-";  // "-" stderr, else a file
  LogLevel log_level = LogLevel::kWarn;
  std::string server_name = "valk";  // the server header; empty: none
  // HTTP/1.1: a client's EOF before its response started means it left,
  // and the request is cancelled (as nginx does). True keeps serving
  // clients that half-close after sending their request.
  bool serve_half_closed = false;
  // Run the reactors on the host's libuv loops instead of threads of their
  // own: reactor i on loops[i] (`reactors` is then loops.size()). Each is
  // set up on its loop's thread: start() hands that step to
  // run_on_loop(i, step), which must run it on loops[i]'s thread and return
  // once it has. Left empty, start() runs the steps itself: right for one
  // loop when start() is called on its thread. The host keeps running each
  // loop until wait() (called from another thread) returns, or after a
  // failed start() until the loop has run once more, and closes it only
  // after the Server is destroyed.
  std::vector<uv_loop_s*> loops;
  std::function<void(size_t i, const std::function<void()>& step)> run_on_loop;
  // With loops: called on a loop's thread each time its reactor has handed
  // the handler what one read from a connection carried (requests, body
  // chunks), before it reads the next connection, with the connection's
  // protocol (that of its latest request on HTTP/1.x). Whatever is then
  // ready to send is written at once (as it is after each read anyway). A
  // host whose handler defers its work to later in the same loop turn can
  // do that work here, so that under a burst each connection is answered
  // in turn rather than after every other connection's input has been read.
  std::function<void(Protocol)> on_input_handled;
  // Non-zero: requests on plain (non-TLS) listeners get a 308 redirect to
  // https://HOST:this-port with the same path, without reaching the handler.
  uint16_t https_redirect_port = 0;
  // Keep a histogram of how long requests take (Server::durations()).
  bool record_durations = false;
};

// TLS facts of the connection a request came on.
struct TlsInfo {
  std::string version;  // "TLSv1.3"
  std::string cipher;
  std::string alpn;  // "h2", "http/1.1" or ""
  std::string sni;
  bool session_reused = false;
  bool client_cert_present = false;
  bool client_cert_verified = false;          // chain verified against client_ca_file
  std::string client_subject;                 // RFC 2253 form
  std::vector<std::string> client_chain_pem;  // leaf first
};

// Called with each request body chunk in order; `last` is true exactly once,
// on the final call (whose chunk may be empty). Reactor thread.
using BodyReader = std::function<void(std::string_view chunk, bool last)>;

// How fast a body reader is fed.
enum class BodyFlow {
  // As fast as the client sends (up to max_body_size): the reader keeps up.
  kAuto,
  // The reader says what it has used with Responder::consume_body(); the
  // client is held back (h2 flow control, or HTTP/1.1 reads paused) while
  // about limits.body_window bytes are delivered and not consumed.
  kPaced,
};

// A request as seen by a handler. It lives on the reactor thread and stays
// valid until its stream closes (response finished or cancelled); a handler
// answering from another thread copies what it needs first. Not thread-safe.
class Request {
 public:
  std::string_view method() const { return method_; }
  std::string_view path() const { return path_; }    // without the query
  std::string_view query() const { return query_; }  // after '?', raw
  std::string_view authority() const { return authority_; }
  std::string_view scheme() const { return scheme_; }
  std::span<const HeaderView> headers() const { return headers_; }
  // The first header with this lower-case name, or "" if none.
  std::string_view header(std::string_view name) const;
  std::string_view peer() const { return peer_; }  // "ip:port" or "[ip6]:port"
  Protocol protocol() const { return protocol_; }
  const TlsInfo* tls() const { return tls_; }  // nullptr on plain TCP
  // Declared body length, or -1 when unknown (chunked, or h2 without it).
  int64_t content_length() const { return content_length_; }
  // Whether more body may follow the head.
  bool has_body() const { return has_body_; }
  // HTTP/1.1: the client asks to switch protocols (`Upgrade`, as a
  // WebSocket handshake does; not h2c, which the server takes itself). A
  // handler that answers with Responder::start(101, ...) turns the
  // connection into a tunnel: the bytes the client sends next come to the
  // body reader (set one with read_body, kPaced to hold a slow handler's
  // client back), each write() goes out as it is, and end() closes the
  // connection once written. Any other answer keeps the connection
  // HTTP/1.1, and the body reader gets nothing.
  bool upgrade_offered() const { return upgrade_offered_; }
  // HTTP/2: the protocol an extended CONNECT asks for (RFC 8441; its
  // :protocol, "websocket" for a WebSocket), or "". A handler accepts as
  // it accepts an upgrade, with Responder::start(101, ...), which goes out
  // as the 200 that HTTP/2 accepts with; the request's body and the
  // response's are then the tunnel's two directions until either side ends
  // its own. Any other 2xx is answered 501 instead (a handler that does not
  // know the protocol must not seem to accept it). As for an HTTP/1.1
  // tunnel, data the client leaves unacknowledged past the write timeout
  // fails the connection (TCP_USER_TIMEOUT), and a graceful shutdown
  // resets the stream at once.
  std::string_view connect_protocol() const { return connect_protocol_; }

  // Streams the body to `reader`. Call it from the handler (before it
  // returns); without a reader the body is read and dropped. Reactor thread.
  void read_body(BodyReader reader, BodyFlow flow = BodyFlow::kAuto) {
    body_reader_ = std::move(reader);
    body_flow_ = flow;
  }
  BodyFlow body_flow() const { return body_flow_; }
  // `cb` runs once if the stream ends before the response finished (client
  // reset or disconnect, timeout, shutdown deadline). Reactor thread.
  void on_cancel(std::function<void()> cb) { cancel_ = std::move(cb); }

 private:
  friend struct net::Stream;
  std::string_view method_, path_, query_, authority_, scheme_, peer_, connect_protocol_;
  std::span<const HeaderView> headers_;
  Protocol protocol_ = Protocol::kHttp11;
  const TlsInfo* tls_ = nullptr;
  int64_t content_length_ = -1;
  bool has_body_ = false;
  bool upgrade_offered_ = false;
  BodyReader body_reader_;
  BodyFlow body_flow_ = BodyFlow::kAuto;
  std::function<void()> cancel_;
};

// A pull source for a response body (files, generated data). Called on the
// owning reactor thread only when the connection can take more output, so a
// large body never sits in memory whole.
class BodySource {
 public:
  virtual ~BodySource() = default;
  // Fills up to buf.size() bytes and returns how many, setting *eof once the
  // body is complete (a final call may return 0 with *eof set). Returns -1 on
  // an error, which resets the stream (h2) or closes the connection (h1).
  virtual int64_t read(std::span<uint8_t> buf, bool* eof) = 0;
};

// Runs on the reactor thread each time everything written to a streamed
// response so far has been handed to the connection (into the peer's h2
// flow-control window and under the socket's write high-water mark), with
// the body bytes handed over in total. A writer that keeps its bytes
// written minus this figure bounded never makes the server buffer more.
using DrainCallback = std::function<void(uint64_t bytes_sent)>;

enum class SendResult {
  kOk,       // queued for the reactor; dropped there if the stream is gone
  kBusy,     // the reactor's queue is full: back off and retry
  kInvalid,  // a default-constructed or misused Responder
};

// Answers one request. Cheap to copy; every method may be called from any
// thread, in this order: respond() once; or start(), write()..., end(); or
// respond_with_source(). What arrives after the stream closed is dropped.
class Responder {
 public:
  Responder() = default;
  // A whole response. "content-length" is added.
  SendResult respond(int status, Headers headers, std::string body) const;
  // The same with headers made once (see SharedHeaders), which must not be
  // null.
  SendResult respond_shared(int status, std::shared_ptr<const SharedHeaders> headers,
                            std::string body) const;
  // The head of a streamed response: chunked on HTTP/1.1 unless the headers
  // carry content-length; DATA frames on h2. `on_drained` (optional) reports
  // the progress of the writes that follow.
  SendResult start(int status, Headers headers, DrainCallback on_drained = nullptr) const;
  SendResult write(std::string chunk) const;
  // Ends a streamed response; trailers go out on h2 and chunked HTTP/1.1.
  SendResult end(Headers trailers = {}) const;
  // A response whose body is pulled from `source` on the reactor thread.
  SendResult respond_with_source(int status, Headers headers,
                                 std::unique_ptr<BodySource> source) const;
  // Tells a paced body reader's connection that `n` more delivered body
  // bytes are used, so the client may send more (BodyFlow::kPaced).
  SendResult consume_body(uint64_t n) const;
  // Abandons the response: RST_STREAM(INTERNAL_ERROR) on h2; on HTTP/1.1 the
  // connection closes.
  SendResult reset() const;
  bool valid() const { return reactor_ != nullptr; }

 private:
  friend class net::Reactor;
  Responder(net::Reactor* r, uint64_t id) : reactor_(r), stream_(id) {}
  net::Reactor* reactor_ = nullptr;
  uint64_t stream_ = 0;
};

// Called on the reactor thread once a request head is complete. It may
// respond at once or keep the Responder and answer later from anywhere.
using Handler = std::function<void(Request& req, Responder res)>;

// Counters, summed over reactors. Gauges are marked (g); the rest only grow.
enum class Counter : int {
  kConnectionsAccepted,
  kConnectionsActive,    // (g)
  kConnectionsRejected,  // connections kept waiting at max_connections, each once
  kTlsHandshakes,
  kTlsHandshakeFailures,
  kTlsResumed,
  kRequestsH1,
  kStreamsH2,
  kStreamsActive,  // (g)
  kBytesIn,
  kBytesOut,
  kResponses4xx,
  kResponses5xx,
  kProtocolErrors,
  kTimeoutsHandshake,
  kTimeoutsIdle,
  kTimeoutsHeader,
  kTimeoutsBody,
  kTimeoutsWrite,
  kLimitUrl,
  kLimitHeaders,
  kLimitBody,
  kClientResets,
  kFloodsDetected,        // rapid reset, SETTINGS/PING/CONTINUATION floods
  kQueueFull,             // a Responder call found its reactor's queue full too long
  kConnSlotsInUse,        // (g) slab slots
  kConnSlotsHighWater,    // max over reactors' high-water marks, summed
  kBuffersInUse,          // (g) pool buffers
  kBufferBytes,           // (g) bytes held by pools, in use or free
  kStreamSlotsInUse,      // (g) requests and h2 streams held, any protocol
  kStreamSlotsHighWater,  // max over reactors' high-water marks, summed
  kArenaBytes,            // (g) heap blocks of stream arenas (long request heads)
  kIdleMemoryReleased,    // bytes idle connections gave back to the kernel
  kCount
};
const char* counter_name(Counter c);

struct ServerCounters {
  uint64_t values[static_cast<int>(Counter::kCount)] = {};
  uint64_t operator[](Counter c) const { return values[static_cast<int>(c)]; }
};

// How long the requests whose response was sent took, from the first byte
// of the request read to the last byte of the response written, summed over
// reactors (ServerOptions::record_durations).
struct RequestDurations {
  // The buckets' upper bounds in microseconds; a last bucket takes the rest.
  static constexpr uint64_t kBoundsUs[] = {100,     250,     500,     1000,    2500,   5000,
                                           10000,   25000,   50000,   100000,  250000, 500000,
                                           1000000, 2500000, 5000000, 10000000};
  static constexpr size_t kBuckets = sizeof kBoundsUs / sizeof kBoundsUs[0] + 1;
  uint64_t counts[kBuckets] = {};  // per bucket, not cumulative
  uint64_t sum_ns = 0;

  // The bucket of a duration of `ns`.
  static size_t bucket(uint64_t ns) {
    size_t i = 0;
    while (i < std::size(kBoundsUs) && ns > kBoundsUs[i] * 1000) {
      ++i;
    }
    return i;
  }
  void add(uint64_t ns) {
    counts[bucket(ns)]++;
    sum_ns += ns;
  }
  void add(const RequestDurations& o) {
    for (size_t i = 0; i < kBuckets; ++i) {
      counts[i] += o.counts[i];
    }
    sum_ns += o.sum_ns;
  }
};

class Server {
 public:
  // Validates nothing yet; start() does. `handler` must be callable from
  // every reactor thread at once.
  Server(ServerOptions options, Handler handler);
  // Stops the server (graceful, with options.timeouts.drain) if it runs.
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds, loads certificates and starts the reactors. Returns false with a
  // message in *error on failure (nothing is left running). Once only.
  bool start(std::string* error);
  // The bound port of listen address `i` (after start). Any thread.
  uint16_t port(size_t i = 0) const;
  // Begins a graceful shutdown: stop accepting, GOAWAY, drain in-flight
  // requests until the drain deadline, then close. Non-blocking, idempotent,
  // any thread (also a signal-handling thread; not a signal handler).
  void shutdown();
  // Closes everything now, cancelling what is in flight. Non-blocking.
  void force_close();
  // Blocks until every reactor has exited. Not from a reactor thread.
  void wait();
  // shutdown() then wait().
  void stop();
  // Writes out now what the reactor of the calling thread has ready to
  // send: the responses completed on that thread (the host's loop with
  // options.loops), which otherwise go out when the loop next prepares to
  // poll. For a host with work of its own to do before its loop polls
  // again. A no-op on any other thread.
  void flush();
  // Loads the certificates (options.certificates, client_ca_file) again
  // from their files, for the connections accepted from now on; those open
  // keep what they have. On failure nothing changes: false with a message.
  // A no-op without certificates. Any thread, after start().
  bool reload_certificates(std::string* error);
  // Opens the log files again (not stdout or stderr), after a rotation
  // moved them: what is queued goes to the old files, what is logged after
  // this returns to the new. A file that cannot be opened stays as it was:
  // false with a message. Any thread, after start().
  bool reopen_logs(std::string* error);
  // A snapshot of the counters. Any thread.
  ServerCounters counters() const;
  // A snapshot of the request durations; all zero unless
  // options.record_durations. Any thread.
  RequestDurations durations() const;
  // The counters, the request durations and the process's figures (CPU,
  // memory, descriptors) in Prometheus' text format, as the --metrics
  // listener of `valk serve` and `valk static` gives them (docs/web.md,
  // "Metrics"), for a host to serve where it likes. Any thread.
  std::string metrics() const;
  // Writes `message` as one line of the error log (options.error_log, with
  // a timestamp and the level) if `level` passes options.log_level; the
  // server's log thread does the writing, so the caller never blocks on
  // the file. For the host's own lines. Any thread, after start().
  void log(LogLevel level, std::string_view message) const;

 private:
  std::unique_ptr<net::ServerImpl> impl_;
};

}  // namespace valk
