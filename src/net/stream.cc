#include "net/stream.h"

#include <strings.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <ctime>

#include "net/conn.h"
#include "net/file_body.h"
#include "net/reactor.h"
#include "util/ascii.h"

namespace valk {

std::string_view Request::header(std::string_view name) const {
  for (const HeaderView& h : headers_) {
    if (h.name == name) {
      return h.value;
    }
  }
  return {};
}

}  // namespace valk

namespace valk::net {

namespace {

// Freed Completions' memory, per thread, linked through the blocks.
struct CompletionCache {
  struct Block {
    Block* next;
  };
  static constexpr int kKeep = 64;
  Block* head = nullptr;
  int count = 0;
  ~CompletionCache() {
    while (head != nullptr) {
      Block* next = head->next;
      ::operator delete(head);
      head = next;
    }
    count = kKeep;  // a Completion freed later in the thread's exit is not kept
  }
};
thread_local CompletionCache tl_completions;

}  // namespace

void* Completion::operator new(size_t size) {
  CompletionCache& c = tl_completions;
  if (c.head != nullptr) {
    CompletionCache::Block* b = c.head;
    c.head = b->next;
    c.count--;
    return b;
  }
  return ::operator new(size);
}

void Completion::operator delete(void* p) {
  CompletionCache& c = tl_completions;
  if (c.count < CompletionCache::kKeep) {
    auto* b = static_cast<CompletionCache::Block*>(p);
    b->next = c.head;
    c.head = b;
    c.count++;
    return;
  }
  ::operator delete(p);
}

Stream::Stream(Conn* c, uint64_t s)
    : arena(inline_buf, sizeof inline_buf, c->reactor->arena_bytes()),
      conn(c),
      serial(s),
      headers(&arena) {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  start_ns = ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

Stream::~Stream() = default;

std::string_view Stream::intern(std::string_view s) {
  if (s.empty()) {
    return {};
  }
  char* p = arena.bytes(s.size());
  memcpy(p, s.data(), s.size());
  return {p, s.size()};
}

void Stream::append(ArenaText& t, std::string_view more, bool lower) {
  size_t n = t.size + more.size();
  if (n > t.cap) {
    t.cap = std::max(n, 2 * t.cap);
    char* p = arena.bytes(t.cap);
    if (t.size > 0) {
      memcpy(p, t.data, t.size);
    }
    t.data = p;
  }
  if (lower) {
    ascii_lower_copy(t.data + t.size, more.data(), more.size());
  } else if (!more.empty()) {
    memcpy(t.data + t.size, more.data(), more.size());
  }
  t.size = n;
}

void Stream::add_header(std::string_view name, std::string_view value) {
  add_interned_header(intern(name), intern(value));
}

void Stream::finish_head(Protocol proto, std::string_view peer, const TlsInfo* tls,
                         int64_t content_length, bool has_body) {
  req.content_length_ = content_length;
  req.has_body_ = has_body;
  size_t q = url.find('?');
  path_only = url.substr(0, q);
  query = q == std::string_view::npos ? std::string_view{} : url.substr(q + 1);
  req.method_ = method;
  req.path_ = path_only;
  req.query_ = query;
  req.authority_ = authority;
  req.scheme_ = scheme;
  req.connect_protocol_ = connect_protocol;
  req.peer_ = peer;
  req.headers_ = std::span<const HeaderView>(headers.data(), headers.size());
  req.protocol_ = proto;
  req.tls_ = tls;
  head_request = method == "HEAD";
}

void Stream::deliver_body(std::string_view chunk, bool last) {
  if (cancelled) {
    return;
  }
  if (req.body_reader_) {
    // The reader may be replaced or cleared from inside itself.
    BodyReader r = req.body_reader_;
    r(chunk, last);
  }
}

void Stream::cancel() {
  if (cancelled || resp_done) {
    return;
  }
  cancelled = true;
  if (req.cancel_) {
    auto cb = std::move(req.cancel_);
    req.cancel_ = nullptr;
    cb();
  }
}

namespace {

// What a byte may be in a response header: kNameByte in a name (an RFC 9110
// token character; upper case too, as HTTP/2 lower-cases names on the
// way out), kValueByte in a value (anything but a control character other
// than HTAB: exactly what nghttp2_check_header_value accepts).
constexpr uint8_t kNameByte = 1, kValueByte = 2;
constexpr auto kHeaderBytes = [] {
  std::array<uint8_t, 256> t{};
  for (int c = 0; c < 256; ++c) {
    bool ctl = c < 0x20 || c == 0x7f;
    t[c] = (!ctl || c == '\t') ? kValueByte : 0;
  }
  for (int c = '0'; c <= '9'; ++c) {
    t[c] |= kNameByte;
  }
  for (int c = 'a'; c <= 'z'; ++c) {
    t[c] |= kNameByte;
    t[c - 'a' + 'A'] |= kNameByte;
  }
  for (unsigned char c : std::string_view("!#$%&'*+-.^_`|~")) {
    t[c] |= kNameByte;
  }
  return t;
}();

// Whether every byte of `s` has `kind` in kHeaderBytes. No early exit: the
// bytes are ANDed, four a turn, which costs less per byte than a branch on
// each (a header of 22 bytes: 99 instructions; nghttp2's two checks, 171).
bool all_bytes(std::string_view s, uint8_t kind) {
  uint8_t acc = kind;
#pragma GCC unroll 4
  for (unsigned char c : s) {
    acc &= kHeaderBytes[c];
  }
  return acc != 0;
}

}  // namespace

bool header_ok(const Header& h) {
  return !h.name.empty() && all_bytes(h.name, kNameByte) && all_bytes(h.value, kValueByte);
}

std::string header_problem(const Header& h) {
  if (h.name.empty() || !all_bytes(h.name, kNameByte)) {
    return "invalid response header name \"" + h.name + "\"";
  }
  if (!all_bytes(h.value, kValueByte)) {
    return "response header " + h.name + " has a CR, LF or NUL in its value";
  }
  return "";
}

bool Stream::open_event_stream() const {
  if (!head_ready || body_ended || resp_done) {
    return false;
  }
  constexpr std::string_view kType = "text/event-stream";
  for (const Header& h : response_headers()) {
    if (ascii_iequals(h.name, "content-type")) {
      return h.value.size() >= kType.size() &&
             strncasecmp(h.value.data(), kType.data(), kType.size()) == 0;
    }
  }
  return false;
}

bool Stream::apply(Completion& c) {
  using K = Completion::Kind;
  switch (c.kind) {
    case K::kRespond:
    case K::kStart:
    case K::kSource:
      if (head_ready) {
        return false;
      }
      head_ready = true;
      if ((c.status < 200 || c.status > 999) &&
          !(c.status == 101 && c.kind == K::kStart && tunnel_offered())) {
        replace_head("invalid response status " + std::to_string(c.status), c);
        return true;
      }
      if (!req.connect_protocol().empty() && c.status < 300) {
        // Only a 101 opens the tunnel; on HTTP/2 its form is a 2xx (RFC
        // 8441). Any other 2xx is a handler that does not speak the
        // protocol, and must not read as accepting it.
        if (c.status != 101) {
          answer_instead(c, 501,
                         "Not Implemented: no " + std::string(req.connect_protocol()) + " here\n");
          return true;
        }
        c.status = 200;
        // A quiet tunnel is normal; a peer that vanished is found as an
        // HTTP/1.1 tunnel's is (see TunnelSession).
        conn->fail_unacknowledged_after(conn->reactor->options().timeouts.write);
      }
      for (const Header& h : c.headers) {
        if (!header_ok(h)) {
          replace_head(header_problem(h), c);
          return true;
        }
      }
      status = c.status;
      resp_headers = std::move(c.headers);
      shared_resp_headers = std::move(c.shared_headers);
      if (c.kind == K::kRespond) {
        complete_body = true;
        body_ended = true;
        if (!c.data.empty()) {
          chunks.push_back(std::move(c.data));
        }
      } else if (c.kind == K::kSource) {
        source = std::move(c.source);
        file = dynamic_cast<FileBody*>(source.get());
      } else {
        on_drained = std::move(c.on_drained);
      }
      return true;
    case K::kWrite:
      if (head_replaced) {
        // Dropped, but reported sent so that a waiting writer goes on.
        dropped_bytes += c.data.size();
        if (on_dropped) {
          on_dropped(dropped_bytes);
        }
        return true;
      }
      if (!head_ready || body_ended || source != nullptr) {
        return false;
      }
      if (!c.data.empty()) {
        chunks.push_back(std::move(c.data));
      }
      return true;
    case K::kEnd:
      if (head_replaced) {
        return true;
      }
      if (!head_ready || body_ended || source != nullptr) {
        return false;
      }
      body_ended = true;
      for (Header& t : c.headers) {
        if (!header_ok(t)) {
          conn->reactor->log().log(LogLevel::kWarn, "%s (a trailer; dropped)",
                                   header_problem(t).c_str());
        } else {
          trailers.push_back(std::move(t));
        }
      }
      return true;
    case K::kReset:
      reset_requested = true;
      return true;
    case K::kConsume:
      return false;  // the session's, never applied here
  }
  return false;
}

void Stream::replace_head(const std::string& problem, Completion& c) {
  conn->reactor->log().log(LogLevel::kError, "%s in the answer to %.*s %.*s; sent 500 instead",
                           problem.c_str(), static_cast<int>(method.size()), method.data(),
                           static_cast<int>(url.size()), url.data());
  answer_instead(c, 500, "Internal Server Error\n");
}

void Stream::answer_instead(Completion& c, int new_status, std::string body) {
  status = new_status;
  resp_headers = {{"content-type", "text/plain; charset=utf-8"}};
  complete_body = true;
  body_ended = true;
  chunks.push_back(std::move(body));
  on_dropped = std::move(c.on_drained);
  head_replaced = true;
}

void Stream::drop_chunks() {
  if (chunks.empty()) {
    return;
  }
  for (size_t i = 0; i < chunks.size(); i++) {
    chunk_bytes_taken += chunks[i].size() - (i == 0 ? chunk_off : 0);
  }
  chunks.clear();
  chunk_off = 0;
  if (on_drained) {
    on_drained(chunk_bytes_taken);
  }
}

bool Stream::take_body(uint8_t* buf, size_t len, size_t* n, bool* eof) {
  *n = 0;
  if (source != nullptr) {
    bool src_eof = false;
    int64_t r = source->read(std::span<uint8_t>(buf, len), &src_eof);
    if (r < 0) {
      return false;
    }
    *n = static_cast<size_t>(r);
    if (src_eof) {
      drop_source();
      body_ended = true;
    }
  } else {
    bool had_chunks = !chunks.empty();
    while (*n < len && !chunks.empty()) {
      std::string& front = chunks.front();
      size_t k = std::min(len - *n, front.size() - chunk_off);
      memcpy(buf + *n, front.data() + chunk_off, k);
      *n += k;
      chunk_off += k;
      if (chunk_off == front.size()) {
        chunks.pop_front();
        chunk_off = 0;
      }
    }
    chunk_bytes_taken += *n;
    if (had_chunks && chunks.empty() && on_drained) {
      on_drained(chunk_bytes_taken);
    }
  }
  resp_bytes += *n;
  *eof = body_ended && chunks.empty() && source == nullptr;
  return true;
}

void Stream::file_sent(size_t n) {
  resp_bytes += n;
  if (file->remaining() == 0) {
    drop_source();
    body_ended = true;
  }
}

namespace {

// Combined-log fields are quoted: escape quotes and control bytes.
void clf_escape(std::string& out, std::string_view s) {
  for (unsigned char ch : s) {
    if (ch == '"' || ch == '\\' || ch < 0x20 || ch >= 0x7f) {
      char b[8];
      snprintf(b, sizeof b, "\\x%02x", ch);
      out += b;
    } else {
      out.push_back(static_cast<char>(ch));
    }
  }
}

const char* proto_name(Protocol p) {
  switch (p) {
    case Protocol::kHttp10:
      return "HTTP/1.0";
    case Protocol::kHttp11:
      return "HTTP/1.1";
    case Protocol::kHttp2:
      return "HTTP/2.0";
  }
  return "";
}

}  // namespace

uint64_t Stream::elapsed_ns() const {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (ts.tv_sec * 1000000000ull + ts.tv_nsec) - start_ns;
}

void Stream::response_sent() {
  Reactor* r = conn->reactor;
  bool log = r->log().access_enabled() && !method.empty();
  if (!log && !r->options().record_durations) {
    return;
  }
  uint64_t ns = elapsed_ns();
  if (r->options().record_durations) {
    r->record_duration(ns);
  }
  if (log) {
    log_access(ns / 1e6);
  }
}

void Stream::log_unfinished() {
  if (!dispatched || resp_done || !conn->reactor->log().access_enabled()) {
    return;
  }
  if (!head_ready) {
    // No answer began. nginx's codes: 499 "client closed request", 444
    // "connection closed without a response".
    status = conn->cut_by_server() ? 444 : 499;
  }
  log_access(elapsed_ns() / 1e6);
}

void Stream::log_access(double ms) {
  Reactor* r = conn->reactor;
  time_t now = time(nullptr);
  struct tm tm;
  gmtime_r(&now, &tm);
  char stamp[64];
  std::string line;
  line.reserve(256);
  if (r->options().access_log_format == AccessLogFormat::kCombined) {
    strftime(stamp, sizeof stamp, "[%d/%b/%Y:%H:%M:%S +0000]", &tm);
    size_t colon = req.peer_.rfind(':');
    line.append(req.peer_.substr(0, colon));
    line += " - - ";
    line += stamp;
    line += " \"";
    clf_escape(line, method);
    line += ' ';
    clf_escape(line, url);
    line += ' ';
    line += proto_name(req.protocol_);
    line += "\" " + std::to_string(status) + ' ' + std::to_string(resp_bytes) + " \"";
    clf_escape(line, req.header("referer"));
    line += "\" \"";
    clf_escape(line, req.header("user-agent"));
    line += '"';
  } else {
    strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%SZ", &tm);
    line += "{\"time\":\"";
    line += stamp;
    line += "\",\"remote\":\"";
    json_escape(line, req.peer_);
    line += "\",\"method\":\"";
    json_escape(line, method);
    line += "\",\"url\":\"";
    json_escape(line, url);
    line += "\",\"protocol\":\"";
    line += proto_name(req.protocol_);
    line += "\",\"status\":" + std::to_string(status) + ",\"bytes\":" + std::to_string(resp_bytes) +
            ",\"ms\":";
    char b[32];
    snprintf(b, sizeof b, "%.3f", ms);
    line += b;
    line += ",\"user_agent\":\"";
    json_escape(line, req.header("user-agent"));
    line += "\"}";
  }
  r->log().access(std::move(line));
}

const char* status_reason(int s) {
  switch (s) {
    case 100:
      return "Continue";
    case 101:
      return "Switching Protocols";
    case 200:
      return "OK";
    case 201:
      return "Created";
    case 202:
      return "Accepted";
    case 204:
      return "No Content";
    case 206:
      return "Partial Content";
    case 301:
      return "Moved Permanently";
    case 302:
      return "Found";
    case 303:
      return "See Other";
    case 304:
      return "Not Modified";
    case 307:
      return "Temporary Redirect";
    case 308:
      return "Permanent Redirect";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 408:
      return "Request Timeout";
    case 409:
      return "Conflict";
    case 410:
      return "Gone";
    case 411:
      return "Length Required";
    case 412:
      return "Precondition Failed";
    case 413:
      return "Content Too Large";
    case 414:
      return "URI Too Long";
    case 415:
      return "Unsupported Media Type";
    case 416:
      return "Range Not Satisfiable";
    case 417:
      return "Expectation Failed";
    case 421:
      return "Misdirected Request";
    case 422:
      return "Unprocessable Content";
    case 426:
      return "Upgrade Required";
    case 428:
      return "Precondition Required";
    case 429:
      return "Too Many Requests";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 502:
      return "Bad Gateway";
    case 503:
      return "Service Unavailable";
    case 504:
      return "Gateway Timeout";
    case 505:
      return "HTTP Version Not Supported";
    default:
      return "Unknown";
  }
}

}  // namespace valk::net
