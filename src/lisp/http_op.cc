#include "lisp/http_op.h"

#include <http_parser.h>
#include <strings.h>

#include <algorithm>
#include <cstdlib>
#include <string>
#include <utility>
#include <vector>

#include "lisp/collections.h"
#include "lisp/json.h"
#include "lisp/utf8.h"
#include "util/ascii.h"

namespace valk::lisp {
namespace {

// A proxy in the environment, which libcurl honours: then every request
// goes through libcurl.
bool proxy_in_environment() {
  static const bool proxied = [] {
    for (const char* name : {"http_proxy", "all_proxy", "ALL_PROXY"}) {
      const char* v = std::getenv(name);
      if (v != nullptr && *v != '\0') {
        return true;
      }
    }
    return false;
  }();
  return proxied;
}

std::string url_part(CURLU* u, CURLUPart part, unsigned flags = 0) {
  char* s = nullptr;
  std::string out;
  if (curl_url_get(u, part, &s, flags) == CURLUE_OK && s != nullptr) {
    out = s;
  }
  curl_free(s);
  return out;
}

}  // namespace

bool is_redirect(int status) {
  return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
}

// The response's headers (names lower-cased) as a map; a repeated name's
// values joined with ", " (set-cookie's with "\n", as cookies hold commas).
// Of a body `decoded`, the content-encoding and content-length are gone,
// as they no longer say what the body is (a proxy passing the headers on
// would otherwise label plain text as gzip).
Value headers_map(Heap& h, const http::HeaderList& lowered, bool decoded) {
  std::vector<Value> kvs;
  kvs.reserve(lowered.size() * 2);
  auto text = [](Value v) { return static_cast<String*>(v.o)->view(); };
  for (const auto& [name, value] : lowered) {
    if (decoded && (name == "content-encoding" || name == "content-length")) {
      continue;
    }
    size_t i = 0;
    while (i < kvs.size() && text(kvs[i]) != name) {
      i += 2;
    }
    if (i == kvs.size()) {
      kvs.push_back(h.string(name));
      kvs.push_back(h.string(value));
    } else {
      std::string joined(text(kvs[i + 1]));
      joined += name == "set-cookie" ? "\n" : ", ";
      joined += value;
      kvs[i + 1] = h.string(joined);
    }
  }
  return map_from(h, kvs.data(), kvs.size() / 2);
}

HttpOp::~HttpOp() {
  end_upload();
  if (!head_settled) {
    delete feed;
  }
  curl_easy_cleanup(easy);
  curl_url_cleanup(parsed_url);
  curl_slist_free_all(headers);
  if (timer != nullptr) {
    uv_close(reinterpret_cast<uv_handle_t*>(timer),
             [](uv_handle_t* h) { delete reinterpret_cast<uv_timer_t*>(h); });
  }
}

void HttpOp::cancel() {
  stop();
  if (head_settled) {
    // A reader waits and was cancelled, or the isolate ends.
    end_feed("cancelled", "the HTTP request was cancelled");
    return;
  }
  HttpRequestCounters::process().count("cancelled");
  iso->end_op(this, false, val(iso->make_cancelled("the HTTP request was cancelled")));
}

void HttpOp::stop() {
  if (own) {
    iso->h1_client().abort(this);
  } else {
    iso->http_client().abort(this);
  }
}

void HttpOp::set_url(CURLU* u) {
  curl_url_cleanup(parsed_url);
  parsed_url = u;
  url = url_part(u, CURLUPART_URL);
  scheme = url_part(u, CURLUPART_SCHEME);
  host = url_part(u, CURLUPART_HOST);
  port = url_part(u, CURLUPART_PORT, CURLU_DEFAULT_PORT);
  target = url_part(u, CURLUPART_PATH);
  if (std::string query = url_part(u, CURLUPART_QUERY); !query.empty()) {
    target += "?" + query;
  }
  has_user = !url_part(u, CURLUPART_USER).empty();
  HttpTransfer::origin = scheme + "://" + host + ":" + port;
}

bool HttpOp::set_plain_url(const std::string& text) {
  http_parser_url u;
  http_parser_url_init(&u);
  if (text.size() < 8 || strncasecmp(text.c_str(), "http://", 7) != 0 ||
      http_parser_parse_url(text.data(), text.size(), 0, &u) != 0 ||
      (u.field_set & (1 << UF_USERINFO)) != 0 || (u.field_set & (1 << UF_HOST)) == 0) {
    return false;
  }
  auto field = [&](int f) {
    return (u.field_set & (1 << f)) != 0
               ? std::string_view(text).substr(u.field_data[f].off, u.field_data[f].len)
               : std::string_view();
  };
  url = text;
  scheme = "http";
  std::string_view h = field(UF_HOST);
  host = h.find(':') != h.npos ? "[" + std::string(h) + "]" : std::string(h);
  port = std::to_string(u.port != 0 ? u.port : 80);
  target = field(UF_PATH).empty() ? "/" : std::string(field(UF_PATH));
  if (!field(UF_QUERY).empty()) {
    target += "?" + std::string(field(UF_QUERY));
  }
  HttpTransfer::origin = scheme + "://" + host + ":" + port;
  return true;
}

bool HttpOp::take_url(const std::string& text) {
  if (set_plain_url(text)) {
    return true;
  }
  CURLU* u = curl_url();
  if (curl_url_set(u, CURLUPART_URL, text.c_str(), 0) != CURLUE_OK) {
    curl_url_cleanup(u);
    return false;
  }
  std::string given_scheme = url_part(u, CURLUPART_SCHEME);
  if (given_scheme != "http" && given_scheme != "https") {
    curl_url_cleanup(u);
    return false;
  }
  set_url(u);  // curl takes it parsed (CURLOPT_CURLU) rather than parse it again
  url = text;  // as given, as the errors and the response say it
  return true;
}

CURLU* HttpOp::curl_parsed() {
  if (parsed_url == nullptr) {
    parsed_url = curl_url();
    curl_url_set(parsed_url, CURLUPART_URL, url.c_str(), 0);
  }
  return parsed_url;
}

uint64_t HttpOp::time_left() const {
  if (spec.timeout_ms == 0) {
    return 0;
  }
  uint64_t spent = uv_now(iso->loop()) - started_ms;
  uint64_t limit = static_cast<uint64_t>(spec.timeout_ms);
  return spent >= limit ? 1 : limit - spent;
}

bool HttpOp::takes_own_client() const {
  // https:// when HTTP/1.1 is what is asked for: libcurl would offer
  // HTTP/2 by ALPN.
  bool https_as_h1 = scheme == "https" &&
                     (spec.version == http::Version::kHttp1 || spec.as == http::BodyAs::kUpgrade);
  return (scheme == "http" || https_as_h1) && spec.version != http::Version::kHttp2 &&
         !proxy_in_environment() && !has_user;
}

bool HttpOp::start() {
  own = takes_own_client();
  following = false;
  if (own || streaming() || spec.body_streams) {
    arm_timeout();
  }
  if (own) {
    start_own();
    return true;
  }
  return start_curl();
}

void HttpOp::fail(std::string_view kind, const std::string& why) {
  HttpRequestCounters::process().count(kind);
  iso->end_op(this, false, http_error(*iso, kind, "http/request " + url + ": " + why, url));
}

// ---- the own client ---------------------------------------------------------

void HttpOp::start_own() {
  // What the URL names, for the socket: brackets off an IPv6 address.
  H1Exchange::host =
      host.size() > 2 && host.front() == '[' ? host.substr(1, host.size() - 2) : host;
  H1Exchange::port = static_cast<uint16_t>(std::atoi(port.c_str()));
  tls = scheme == "https";
  insecure = tls && spec.insecure;
  ca_file = tls && spec.has_ca_file ? spec.ca_file : "";
  // A connection is kept for requests that would verify the server as
  // the one that made it did.
  H1Exchange::origin = HttpTransfer::origin;  // scheme://host:port
  if (insecure) {
    H1Exchange::origin += " insecure";
  } else if (!ca_file.empty()) {
    H1Exchange::origin += " ca " + ca_file;
  }
  head = spec.method == "HEAD";
  retried = false;
  max_body = static_cast<size_t>(spec.max_body);
  connect_timeout_ms = static_cast<uint64_t>(spec.connect_timeout_ms);
  if (uint64_t left = time_left();
      left != 0 && (connect_timeout_ms == 0 || left < connect_timeout_ms)) {
    connect_timeout_ms = left;
  }
  std::string& r = request;
  r.clear();
  r.reserve(256 + spec.payload.size());
  r += spec.method;
  r += ' ';
  r += target;
  r += " HTTP/1.1\r\n";
  bool has_host = false, has_agent = false, has_accept = false, has_type = false,
       has_connection = false;
  bool streams = spec.body_streams;
  for (const auto& [name, value] : spec.headers) {
    if ((ascii_iequals(name, "content-length") && !streams) ||
        ascii_iequals(name, "transfer-encoding")) {
      continue;  // the body is framed here (a streamed one by the length given, if any)
    }
    has_host = has_host || ascii_iequals(name, "host");
    has_agent = has_agent || ascii_iequals(name, "user-agent");
    has_accept = has_accept || ascii_iequals(name, "accept");
    has_type = has_type || ascii_iequals(name, "content-type");
    has_connection = has_connection || ascii_iequals(name, "connection");
    r += name;
    r += ": ";
    r += value;
    r += "\r\n";
  }
  if (!has_host) {
    bool default_port = port == (tls ? "443" : "80");
    r += "Host: " + host + (default_port ? "" : ":" + port) + "\r\n";
  }
  if (!has_agent) {
    r += "User-Agent: valk/" VALK_VERSION "\r\n";
  }
  if (!has_accept) {
    r += spec.accept_json ? "Accept: application/json\r\n" : "Accept: */*\r\n";
  }
  decode = !spec.accept_encoding;
  if (decode) {
    r += "Accept-Encoding: gzip, deflate\r\n";
  }
  if (spec.as == http::BodyAs::kUpgrade && !has_connection) {
    r += "Connection: Upgrade\r\n";  // with the caller's Upgrade header
  }
  if (spec.json_body && !has_type) {
    r += "Content-Type: application/json\r\n";
  }
  body_streams = streams;
  chunked = streams && spec.body_length < 0;
  if (chunked) {
    r += "Transfer-Encoding: chunked\r\n";
  } else if (!streams && (spec.has_payload || spec.method == "POST")) {
    r += "Content-Length: " + std::to_string(spec.payload.size()) + "\r\n";
  }
  r += "\r\n";
  if (!head) {
    r += spec.payload;
  }
  stream = streaming();
  upgrade = spec.as == http::BodyAs::kUpgrade;
  iso->h1_client().start(this);
}

void HttpOp::arm_timeout() {
  if (timer != nullptr) {
    return;  // armed at the first start (a redirect's request has what is left)
  }
  timer = new uv_timer_t;
  uv_timer_init(iso->loop(), timer);
  timer->data = this;
  if (!spec.body_streams) {
    start_deadline();
  }
}

void HttpOp::start_deadline() {
  if (uint64_t left = time_left(); left != 0) {
    uv_timer_start(
        timer,
        [](uv_timer_t* t) {
          auto* op = static_cast<HttpOp*>(t->data);
          op->stop();
          op->fail("timeout", "no answer within " + std::to_string(op->spec.timeout_ms) + " ms");
        },
        left, 0);
  }
}

void HttpOp::answered(H1ResponseReader& r) {
  if (streaming() && !following) {
    end_feed("", "");
    return;
  }
  if (is_redirect(r.status()) && spec.max_redirects > 0 && follow(r.status(), r.headers())) {
    return;
  }
  Value v = response(r.status(), r.minor_version() == 0 ? "HTTP/1.0" : "HTTP/1.1", r.headers(),
                     r.body(), r.decoded());
  HttpRequestCounters::process().count("response");
  iso->end_op(this, !v.is(Tag::Error), v);
}

void HttpOp::failed(std::string_view kind, const std::string& why) {
  if (head_ready) {
    end_feed(kind, "http/request " + url + ": " + why);
    return;
  }
  fail(kind, why);
}

void HttpOp::head_arrived(const H1ResponseReader& r) {
  if (wants_follow(r.status(), r.headers())) {
    following = true;
    return;
  }
  head_came(r.status(), r.minor_version() == 0 ? "HTTP/1.0" : "HTTP/1.1", r.headers(), r.decoded());
  feed->upgraded = upgrade && r.status() == 101;
  pump();
}

bool HttpOp::body_arrived(std::string_view part) {
  if (!take_body(part.data(), part.size())) {
    return false;
  }
  pump();
  if (!paused && over_high_water()) {
    paused = true;
    iso->h1_client().pause(this);
  }
  return true;
}

bool HttpOp::wants_follow(int status, const http::HeaderList& headers) const {
  return is_redirect(status) && spec.max_redirects > 0 &&
         std::any_of(headers.begin(), headers.end(),
                     [](const auto& h) { return h.first == "location"; });
}

bool HttpOp::follow(int status, const http::HeaderList& headers) {
  const std::string* location = nullptr;
  for (const auto& [name, value] : headers) {
    if (name == "location") {
      location = &value;
    }
  }
  if (location == nullptr) {
    return false;
  }
  if (redirects == spec.max_redirects) {
    fail("redirects", "more than " + std::to_string(spec.max_redirects) + " redirects");
    return true;
  }
  CURLU* next = curl_url_dup(curl_parsed());
  std::string next_scheme;
  if (curl_url_set(next, CURLUPART_URL, location->c_str(), 0) == CURLUE_OK) {
    next_scheme = url_part(next, CURLUPART_SCHEME);
  }
  if (next_scheme != "http" && next_scheme != "https") {
    curl_url_cleanup(next);
    fail("failed", "a redirect to what is not an http:// or https:// URL: " + *location);
    return true;
  }
  redirects++;
  std::string old_origin = HttpTransfer::origin;
  set_url(next);
  // As curl does: a 303 asks with GET, and so do 301 and 302 after a POST;
  // credentials do not go to another origin.
  if ((status == 303 && spec.method != "HEAD") ||
      ((status == 301 || status == 302) && spec.method == "POST")) {
    spec.method = "GET";
    spec.payload.clear();
    spec.has_payload = false;
    spec.json_body = false;
  }
  if (HttpTransfer::origin != old_origin) {
    std::erase_if(spec.headers, [](const auto& h) {
      return ascii_iequals(h.first, "authorization") || ascii_iequals(h.first, "cookie");
    });
  }
  if (!start()) {
    fail("failed", "curl refused the transfer");
  }
  return true;
}

// ---- the response map ---------------------------------------------------------

Value HttpOp::response(int status, std::string_view protocol, const http::HeaderList& lowered,
                       const std::string& payload, bool decoded, Value body_stream) {
  Heap& h = iso->heap();
  Value body_value;
  switch (spec.as) {
    case http::BodyAs::kStream:
    case http::BodyAs::kUpgrade:
      break;
    case http::BodyAs::kAuto:
    case http::BodyAs::kText:
      if (utf8_valid(payload)) {
        body_value = h.string(payload);
      } else if (spec.as == http::BodyAs::kText) {
        return http_error(*iso, "failed", "http/request " + url + ": the body is not UTF-8 text",
                          url);
      } else {
        body_value =
            val(h.make_bytes(reinterpret_cast<const uint8_t*>(payload.data()), payload.size()));
      }
      break;
    case http::BodyAs::kBytes:
      body_value =
          val(h.make_bytes(reinterpret_cast<const uint8_t*>(payload.data()), payload.size()));
      break;
    case http::BodyAs::kJson:
      if (payload.empty()) {
        body_value = Value::nil();
      } else if (JsonError err; !json_parse(h, payload, JsonParseOptions{}, &body_value, &err)) {
        Value data[] = {h.keyword("type"),   h.keyword("json-error"),
                        h.keyword("line"),   Value::integer(err.line),
                        h.keyword("column"), Value::integer(err.column),
                        h.keyword("url"),    h.string(url)};
        return val(iso->make_error(
            h.string("http/request " + url + ": the body is not JSON: " + err.to_string()),
            map_from(h, data, 4)));
      }
      break;
  }
  Value kvs[] = {keys->status,      Value::integer(status),
                 keys->headers,     headers_map(h, lowered, decoded),
                 keys->body,        body_value,
                 keys->protocol,    h.string(protocol),
                 keys->url,         h.string(url),
                 keys->body_stream, body_stream};
  return map_from(h, kvs, body_stream.is_nil() ? 5 : 6);
}

}  // namespace valk::lisp
