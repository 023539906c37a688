// A request/response exchange: one HTTP/1.1 message or one h2 stream. It is
// slab-allocated on its reactor, and everything it receives (URL, headers)
// is copied into its own arena, freed in one piece when the stream closes.
#pragma once

#include <cstdint>
#include <memory>
#include <memory_resource>
#include <string>
#include <vector>

#include "net/arena.h"
#include "net/chunk_queue.h"
#include "valk/server.h"

namespace valk::net {

class Conn;
class FileBody;

// What a Responder sends to the reactor that owns the stream.
struct Completion {
  enum class Kind { kRespond, kStart, kWrite, kEnd, kSource, kReset, kConsume };
  Kind kind = Kind::kRespond;
  uint64_t stream = 0;
  int status = 0;
  Headers headers;
  std::string data;
  std::unique_ptr<BodySource> source;
  DrainCallback on_drained = nullptr;  // kStart
  uint64_t consumed = 0;               // kConsume: body bytes used
  // kRespond: headers made once, in place of `headers` (checked already).
  std::shared_ptr<const SharedHeaders> shared_headers = nullptr;

  // One is made and applied per Responder call, mostly both on one thread
  // (a handler answering on its reactor): the thread that frees one keeps
  // its memory for the next it makes.
  static void* operator new(size_t size);
  static void operator delete(void* p);
};

// Text gathered in a stream's arena while it may reach the parser in
// pieces (HTTP/1.1 request target, header names and values).
struct ArenaText {
  char* data = nullptr;
  size_t size = 0;
  size_t cap = 0;
  std::string_view view() const { return {data, size}; }
};

struct Stream {
  Stream(Conn* c, uint64_t serial);
  ~Stream();
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;

  // ---- request side (reactor thread) ----
  std::string_view intern(std::string_view s);
  // Appends `more` to `t`, lower-cased if `lower`. The common single piece
  // is copied once, straight from the parser's input, with no room to
  // spare; a later piece (a read ended inside it) takes twice the room, so
  // text that comes a byte a read costs linear time and about twice its
  // size.
  void append(ArenaText& t, std::string_view more, bool lower);
  // Interns the name and the value (h2).
  void add_header(std::string_view name, std::string_view value);
  // A header whose name and value are already in the arena (h1).
  void add_interned_header(std::string_view name, std::string_view value) {
    if (headers.capacity() == 0) {
      // Room for a usual request at once: grown from one by doubling, the
      // vector would leave copies of 1, 2 and 4 entries dead in the arena.
      headers.reserve(8);
    }
    headers.push_back(HeaderView{name, value});
  }
  // Publishes the request fields into req once the head is complete.
  void finish_head(Protocol proto, std::string_view peer, const TlsInfo* tls,
                   int64_t content_length, bool has_body);
  void set_authority(std::string_view a) {
    authority = a;
    req.authority_ = a;
  }
  void set_protocol(Protocol p) { req.protocol_ = p; }
  // HTTP/1.1: the request asks to switch protocols, and a 101 may answer it
  // (Request::upgrade_offered).
  void offer_upgrade() { req.upgrade_offered_ = true; }
  // Passes a body chunk to the handler's reader, if any.
  void deliver_body(std::string_view chunk, bool last);
  // Runs the cancel callback once if the response has not finished.
  void cancel();
  // The rest of the body no longer waits for a paced reader (its answer is
  // complete). Returns the bytes it held, now the session's to release.
  uint64_t stop_pacing() {
    req.body_flow_ = BodyFlow::kAuto;
    uint64_t held = body_held;
    body_held = 0;
    return held;
  }

  // ---- response side ----
  // Applies a Responder call; false if it is out of order (ignored).
  bool apply(Completion& c);
  // Pulls up to len body bytes; *eof once all was produced; false on error.
  bool take_body(uint8_t* buf, size_t len, size_t* n, bool* eof);
  bool body_pending() const { return !chunks.empty() || source != nullptr; }
  // Accounts for `n` bytes of `file` handed to the connection; the source
  // goes once they were its last.
  void file_sent(size_t n);
  // Frees the body source (and `file` with it).
  void drop_source() {
    source.reset();
    file = nullptr;
  }
  // Drops the written chunks (a response without a body on the wire).
  void drop_chunks();
  // A server-sent event stream under way, which a draining server ends
  // rather than waits for: its client (an EventSource) connects again by
  // itself, to a server that is not stopping.
  bool open_event_stream() const;
  // Answers 500 in place of a head that may not be sent (logged).
  void replace_head(const std::string& problem, Completion& c);
  // Answers `new_status` with a plain-text `body` in place of `c`'s head.
  void answer_instead(Completion& c, int new_status, std::string body);
  // The request may be answered with a 101 that opens a tunnel: an
  // HTTP/1.1 upgrade or an HTTP/2 extended CONNECT.
  bool tunnel_offered() const { return req.upgrade_offered() || !req.connect_protocol().empty(); }
  // The response has been written whole (or answered by the protocol
  // layer): records its duration (options.record_durations) and writes
  // its access log line (if enabled).
  void response_sent();
  // A request whose response never finished (its client left, a timeout
  // or the shutdown deadline cut it) still gets its access log line: with
  // the status answered, or if there was none yet 499 (the client left)
  // or 444 (the server cut the connection).
  void log_unfinished();
  void log_access(double ms);
  uint64_t elapsed_ns() const;

  alignas(16) unsigned char inline_buf[1024];
  Arena arena;
  Request req;
  Conn* conn;
  uint64_t serial;  // the id its Responder names it by (Reactor::new_stream)
  int32_t h2_id = 0;
  // h2: the session's list of its open streams, and whether nghttp2 holds
  // this one's DATA back until more body comes (NGHTTP2_ERR_DEFERRED).
  Stream* h2_prev = nullptr;
  Stream* h2_next = nullptr;
  bool h2_deferred = false;
  uint64_t start_ns = 0;

  // Request assembly.
  std::string_view method, url, authority, scheme, path_only, query, connect_protocol;
  std::pmr::vector<HeaderView> headers;
  size_t header_bytes = 0;
  uint64_t body_bytes = 0;
  uint64_t body_held = 0;  // delivered to a paced reader, not yet consumed
  bool req_complete = false;
  bool dispatched = false;
  bool head_request = false;
  bool expect_continue = false;

  // Response.
  int status = 0;
  Headers resp_headers;
  // Headers made once (SharedHeaders), sent in place of resp_headers when
  // set.
  std::shared_ptr<const SharedHeaders> shared_resp_headers;
  const Headers& response_headers() const {
    return shared_resp_headers ? shared_resp_headers->headers() : resp_headers;
  }
  bool head_ready = false;  // status+headers known
  bool head_sent = false;
  bool body_ended = false;     // no more chunks will come (or source hit eof)
  bool complete_body = false;  // respond(): length known up front
  bool resp_done = false;      // last byte handed to the connection
  bool cancelled = false;
  bool reset_requested = false;
  bool head_replaced = false;  // an invalid head became a 500; later writes are dropped
  DrainCallback on_dropped;    // the refused head's on_drained, told of dropped writes
  uint64_t dropped_bytes = 0;
  ChunkQueue chunks;
  size_t chunk_off = 0;
  Headers trailers;
  std::unique_ptr<BodySource> source;
  FileBody* file = nullptr;  // `source`, when it is a file range (read straight into blocks)
  DrainCallback on_drained;
  uint64_t chunk_bytes_taken = 0;  // written, then sent or dropped
  uint64_t resp_bytes = 0;
};

const char* status_reason(int status);

// Whether response header `h` may be sent: its name is an HTTP token
// (upper case is fine; HTTP/2 lower-cases it) and its value has no control
// byte but HTAB (CR, LF or NUL would let it forge headers on HTTP/1.1). The
// reactor answers 500 in place of a head with a header that may not.
bool header_ok(const Header& h);
// Why `h` may not be sent, for the log; "" if it may.
std::string header_problem(const Header& h);

}  // namespace valk::net
