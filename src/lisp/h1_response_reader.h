// An HTTP/1.1 response as it arrives on a connection of http/request's own
// client (h1_client.h): http_parser reads the status, the headers and the
// body's framing (Content-Length, chunked, or to the end of the
// connection); interim 1xx responses are skipped; a gzip or deflate body is
// decoded, and what the body grows to is bounded. It knows nothing of
// sockets, so that fuzz_h1_response can feed it any bytes.
#pragma once

#include <http_parser.h>
#include <zlib.h>

#include <string>
#include <utility>
#include <vector>

namespace valk::lisp {

class H1ResponseReader {
 public:
  enum class State { kMore, kDone, kFailed };

  // `head`: the request was HEAD, so the response has no body whatever its
  // headers say. `max_body`: bytes of decoded body accepted. `decode`:
  // undo a gzip or deflate Content-Encoding (false: the body as sent).
  H1ResponseReader(bool head, size_t max_body, bool decode = true);
  ~H1ResponseReader();
  H1ResponseReader(const H1ResponseReader&) = delete;
  H1ResponseReader& operator=(const H1ResponseReader&) = delete;

  // Reads `len` bytes; kDone once the final response has ended (bytes after
  // it are left unread: `extra()` says whether there were any).
  State feed(const char* data, size_t len);
  // The connection ended: kDone if that ends a body read to the end of the
  // connection, else kFailed.
  State end();

  bool started() const { return started_; }  // any byte read
  // The final response's head has been read (its status and headers).
  bool head_complete() const { return head_complete_; }
  bool extra() const { return extra_; }
  // The bytes of the last feed() the response took: after a 101, those
  // that follow are the new protocol's.
  size_t used() const { return used_; }
  // The connection may carry another request (HTTP/1.1 without
  // "Connection: close", nothing left over).
  bool keep_alive() const { return keep_alive_ && !extra_; }
  bool too_large() const { return too_large_; }
  // The body was decoded from the Content-Encoding the headers name.
  bool decoded() const { return coding_ != Coding::kIdentity; }
  const std::string& error() const { return error_; }

  int status() const { return status_; }
  int minor_version() const { return minor_version_; }
  // Names lower-cased, in arrival order, repeats kept.
  const std::vector<std::pair<std::string, std::string>>& headers() const { return headers_; }
  // The body read so far; a reader of a streamed body takes from it as
  // it grows, and :max-body then bounds what one feed adds.
  std::string& body() { return body_; }

 private:
  static int on_header_field(http_parser* p, const char* at, size_t len);
  static int on_header_value(http_parser* p, const char* at, size_t len);
  static int on_headers_complete(http_parser* p);
  static int on_body(http_parser* p, const char* at, size_t len);
  static int on_message_complete(http_parser* p);
  bool append_body(const char* at, size_t len);
  bool fail(std::string why);

  http_parser parser_;
  bool head_;
  size_t max_body_;
  bool decode_;
  bool started_ = false;
  bool head_complete_ = false;
  bool done_ = false;
  bool extra_ = false;
  size_t used_ = 0;
  bool keep_alive_ = false;
  bool too_large_ = false;
  bool in_value_ = false;  // the last callback was a header value
  std::string error_;
  int status_ = 0;
  int minor_version_ = 1;
  std::vector<std::pair<std::string, std::string>> headers_;
  std::string body_;
  enum class Coding { kIdentity, kGzip, kDeflate } coding_ = Coding::kIdentity;
  bool inflating_ = false;  // z_ is initialised
  z_stream z_{};
};

}  // namespace valk::lisp
