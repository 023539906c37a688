#include "lisp/h1_response_reader.h"

#include <cctype>

#include "util/ascii.h"

namespace valk::lisp {
namespace {

// zlib's windowBits that take a zlib or a gzip header, whichever comes: a
// "deflate" body is meant to be zlib's format, and gzip's is told apart
// by its magic.
constexpr int kZlibOrGzip = 15 + 32;

std::string trimmed_lower(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) {
    s.remove_prefix(1);
  }
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) {
    s.remove_suffix(1);
  }
  std::string out(s);
  for (char& c : out) {
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return out;
}

}  // namespace

H1ResponseReader::H1ResponseReader(bool head, size_t max_body, bool decode)
    : head_(head), max_body_(max_body), decode_(decode) {
  http_parser_init(&parser_, HTTP_RESPONSE);
  parser_.data = this;
}

H1ResponseReader::~H1ResponseReader() {
  if (inflating_) {
    inflateEnd(&z_);
  }
}

H1ResponseReader::State H1ResponseReader::feed(const char* data, size_t len) {
  static const http_parser_settings settings = [] {
    http_parser_settings s{};
    s.on_header_field = on_header_field;
    s.on_header_value = on_header_value;
    s.on_headers_complete = on_headers_complete;
    s.on_body = on_body;
    s.on_message_complete = on_message_complete;
    return s;
  }();
  if (done_ || !error_.empty()) {
    extra_ = extra_ || len > 0;
    used_ = 0;
    return done_ ? State::kDone : State::kFailed;
  }
  started_ = started_ || len > 0;
  used_ = http_parser_execute(&parser_, &settings, data, len);
  if (!error_.empty()) {
    return State::kFailed;
  }
  if (done_) {
    extra_ = used_ < len;
    return State::kDone;
  }
  if (HTTP_PARSER_ERRNO(&parser_) != HPE_OK) {
    fail(std::string("a malformed response (") +
         http_errno_description(HTTP_PARSER_ERRNO(&parser_)) + ")");
    return State::kFailed;
  }
  return State::kMore;
}

H1ResponseReader::State H1ResponseReader::end() {
  if (done_) {
    return State::kDone;
  }
  if (!error_.empty()) {
    return State::kFailed;
  }
  if (!started_) {
    fail("the connection closed before a response came");
    return State::kFailed;
  }
  // Ends a body that runs to the connection's end; any other is cut short.
  State s = feed(nullptr, 0);
  if (s != State::kDone) {
    error_.clear();
    fail("the connection closed before the response ended");
    return State::kFailed;
  }
  keep_alive_ = false;
  return s;
}

bool H1ResponseReader::fail(std::string why) {
  if (error_.empty()) {
    error_ = std::move(why);
  }
  return false;
}

int H1ResponseReader::on_header_field(http_parser* p, const char* at, size_t len) {
  auto* self = static_cast<H1ResponseReader*>(p->data);
  if (self->headers_.empty() || self->in_value_) {
    self->headers_.emplace_back();
  }
  std::string& name = self->headers_.back().first;
  size_t had = name.size();
  name.resize(had + len);
  ascii_lower_copy(name.data() + had, at, len);
  self->in_value_ = false;
  return 0;
}

int H1ResponseReader::on_header_value(http_parser* p, const char* at, size_t len) {
  auto* self = static_cast<H1ResponseReader*>(p->data);
  if (self->headers_.empty()) {
    self->headers_.emplace_back();
  }
  self->headers_.back().second.append(at, len);
  self->in_value_ = true;
  return 0;
}

int H1ResponseReader::on_headers_complete(http_parser* p) {
  auto* self = static_cast<H1ResponseReader*>(p->data);
  self->status_ = p->status_code;
  self->minor_version_ = p->http_minor;
  if (self->status_ < 100) {
    self->fail("a malformed response (status " + std::to_string(self->status_) + ")");
    return -1;
  }
  self->head_complete_ = self->status_ >= 200 || self->status_ == 101;
  self->coding_ = Coding::kIdentity;
  for (const auto& [name, value] : self->headers_) {
    if (name == "content-encoding" && self->decode_) {
      std::string coding = trimmed_lower(value);
      self->coding_ = coding == "gzip" || coding == "x-gzip" ? Coding::kGzip
                      : coding == "deflate"                  ? Coding::kDeflate
                                                             : Coding::kIdentity;
    }
  }
  // 1: no body follows. An interim response has none, whatever its
  // headers say (RFC 9110, 15.2).
  return self->head_ || !self->head_complete_ ? 1 : 0;
}

int H1ResponseReader::on_body(http_parser* p, const char* at, size_t len) {
  auto* self = static_cast<H1ResponseReader*>(p->data);
  return self->append_body(at, len) ? 0 : -1;
}

int H1ResponseReader::on_message_complete(http_parser* p) {
  auto* self = static_cast<H1ResponseReader*>(p->data);
  if (self->status_ >= 100 && self->status_ < 200 && self->status_ != 101) {
    // An interim response (100 Continue, 103 Early Hints): the final one
    // follows on the same connection.
    self->headers_.clear();
    self->body_.clear();
    self->in_value_ = false;
    return 0;
  }
  if (self->inflating_) {
    inflateEnd(&self->z_);
    self->inflating_ = false;
  }
  self->done_ = true;
  self->keep_alive_ = http_should_keep_alive(p) != 0 && self->status_ != 101;
  http_parser_pause(p, 1);  // what follows is not this response's
  return 0;
}

bool H1ResponseReader::append_body(const char* at, size_t len) {
  if (coding_ == Coding::kIdentity) {
    if (len > max_body_ - body_.size()) {
      too_large_ = true;
      return fail("the body is larger than :max-body (" + std::to_string(max_body_) + " bytes)");
    }
    body_.append(at, len);
    return true;
  }
  if (!inflating_) {
    if (inflateInit2(&z_, kZlibOrGzip) != Z_OK) {
      return fail("zlib could not start");
    }
    inflating_ = true;
  }
  z_.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(at));
  z_.avail_in = static_cast<uInt>(len);
  for (;;) {
    char out[16384];
    z_.next_out = reinterpret_cast<Bytef*>(out);
    z_.avail_out = sizeof out;
    int rc = inflate(&z_, Z_NO_FLUSH);
    size_t made = sizeof out - z_.avail_out;
    if (made > max_body_ - body_.size()) {
      too_large_ = true;
      return fail("the body is larger than :max-body (" + std::to_string(max_body_) + " bytes)");
    }
    body_.append(out, made);
    if (rc == Z_STREAM_END) {
      if (coding_ != Coding::kGzip || z_.avail_in == 0) {
        return true;  // what follows a zlib stream is not read
      }
      inflateReset(&z_);  // the next member of a multi-member gzip body
    } else if (rc == Z_BUF_ERROR && z_.avail_in == 0) {
      return true;  // all taken; more to come
    } else if (rc != Z_OK) {
      return fail(std::string("the body's ") + (coding_ == Coding::kGzip ? "gzip" : "deflate") +
                  " data is broken");
    } else if (z_.avail_in == 0 && z_.avail_out != 0) {
      return true;
    }
  }
}

}  // namespace valk::lisp
