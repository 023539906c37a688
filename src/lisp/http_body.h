// The body of a response asked for with (http/request {... :as :stream}),
// read as it arrives. The request's promise settles once the response's
// head has come; its :body is nil and its :body-stream is an HttpBody,
// which read-chunk and read-body read (as they read a request's body) and
// http/close stops. What has come and is not read yet waits in a BodyFeed;
// past kHighWater of it the transfer stops reading, so the upstream is held
// back by TCP (or HTTP/2 flow control) instead of filling memory.
//
// The transfer (http_op.h's HttpOp) feeds the BodyFeed while it
// runs; the HttpBody owns it. An HttpBody collected while its transfer
// runs stops the transfer.
#pragma once

#include <string>
#include <string_view>

#include "lisp/isolate.h"
#include "util/read_buffer.h"

namespace valk::lisp {

struct HttpBody;

// Where a streamed body comes from, while it does.
struct BodySource {
  virtual ~BodySource() = default;
  // A fiber waits on `body` for more (read-chunk) or for the end
  // (read-body, `whole`): the promise it parks on, settled with what the
  // read gives.
  virtual Promise* wait(HttpBody* body, bool whole) = 0;
  // The reader took what had come: read on if the transfer paused.
  virtual void drained() = 0;
  // Stops the transfer now (http/close, or a body over :max-body); the
  // feed ends with `kind` and `why`.
  virtual void stop_feeding(std::string_view kind, const std::string& why) = 0;
  // The HttpBody was collected: stop the transfer, and touch the feed no
  // more (it is gone).
  virtual void abandon() = 0;
};

struct BodyFeed {
  // Unread bytes past which the transfer stops reading.
  static constexpr size_t kHighWater = 64 * 1024;
  // The most read-chunk gives at once: a relay's write of it is then no
  // more than the response stream holds back (Worker::kStreamHighWater).
  static constexpr size_t kMaxChunk = 64 * 1024;

  ReadBuffer bytes;  // came, not read yet
  bool ended = false;
  // Of a body that did not come whole: an http-error's :kind ("failed",
  // "too-large", ...), "cancelled" or "closed"; and why.
  std::string error_kind;
  std::string error;
  std::string url;
  size_t max_body = 0;    // what read-body gathers
  bool upgraded = false;  // :as :upgrade, answered 101: http/write writes to the source
  bool reader_waits = false;
  BodySource* source = nullptr;  // while the transfer runs
};

// The value under :body-stream.
struct HttpBody : ClassObj {
  BodyFeed* feed;
  Value whole;  // read-body's, once it has it
  bool whole_read = false;
  bool chunk_taken = false;
};

// A new HttpBody that owns `feed`.
HttpBody* make_http_body(Heap& heap, BodyFeed* feed);

// The HttpBody of `v`, a streamed response (its :body-stream, the key
// given) or an HttpBody; nullptr if it is neither.
HttpBody* http_body_of(Value v, Value body_stream_key);

// What a read of `b` gives now, if it can: true with *ok (false: *out is
// an error to raise or reject with) and *out; false if it must wait.
bool settle_read(Isolate& iso, HttpBody* b, bool whole, bool* ok, Value* out);

// (read-chunk v) or, `whole`, (read-body v), for `v` an HttpBody: the
// value, the raised error's sentinel, or the park sentinel.
Value read_http_body(Isolate& iso, HttpBody* b, bool whole);

// {:type :http-error :kind kind :url url} with `message`.
Value http_error(Isolate& iso, std::string_view kind, const std::string& message,
                 const std::string& url);

}  // namespace valk::lisp
