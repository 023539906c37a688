// Outgoing HTTP: (http/request opts) returns a promise of the response.
//
//   (await (http/request {:url "https://example.com/api" :method :post
//                         :json {:a 1} :as :json :timeout-ms 5000}))
//   ;; => {:status 200 :headers {"content-type" "application/json"}
//   ;;     :body {:ok true} :protocol "HTTP/2" :url "https://example.com/api"}
//
// Options (only these; another key is an error, so a typo is not ignored):
//   :url                 http:// or https:// (required)
//   :method              :get (default), :post, :put, :delete, any method
//   :headers             {"name" "value"} (string or keyword names)
//   :body                a string or bytes to send
//   :json                a value to send as JSON (sets content-type)
//   :as                  :auto (default: a string if the body is UTF-8,
//                        else bytes), :text, :bytes, :json, or :stream (the
//                        promise settles at the head; the body is read as it
//                        comes, with read-chunk or read-body: http_body.h)
//   :timeout-ms          the whole transfer (with :stream, until the head),
//                        30 000 by default
//   :connect-timeout-ms  10 000 by default
//   :read-timeout-ms     with :stream, the longest a read waits for body
//                        bytes (none by default)
//   :max-body            bytes of (decoded) body accepted, 64 MiB by default
//                        (with :stream, what read-body gathers)
//   :max-redirects       followed, 5 by default; 0 follows none
//   :version             :http1 or :http2 (h2c with prior knowledge on
//                        http://); by default HTTP/2 when TLS's ALPN
//                        agrees, else HTTP/1.1
//   :ca-file             PEM certificates to trust instead of the system's
//   :insecure            true: no certificate verification (development)
//
// A response of any status fulfils the promise. The promise is rejected
// with {:type :http-error :kind K :url U} where K is :connect, :timeout,
// :tls, :too-large, :redirects or :failed, and with a :json-error when
// :as :json meets a body that is not JSON. Cancelling the promise (or a
// `timeout` around it) aborts the transfer.
//
// Cleartext HTTP/1.1 (http:// without :version :http2, no proxy in the
// environment, no user in the URL) goes through the isolate's own client
// (h1_client.h), which costs a fraction of a libcurl transfer; everything
// else goes through libcurl (http_client.h). Both follow the same options, and
// a redirect may take a request from one to the other.
#include <curl/curl.h>
#include <http_parser.h>
#include <strings.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <string>
#include <utility>
#include <vector>

#include "lisp/builtins.h"
#include "lisp/collections.h"
#include "lisp/h1_client.h"
#include "lisp/http_body.h"
#include "lisp/http_client.h"
#include "lisp/http_options.h"
#include "lisp/isolate.h"
#include "lisp/json.h"
#include "lisp/utf8.h"

namespace valk::lisp {
namespace {

constexpr unsigned kPriorKnowledgeReuseFixed = 0x075900;  // curl 7.89.0

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

// The response's headers (names lower-cased) as a map; a repeated name's
// values joined with ", " (set-cookie's with "\n", as cookies hold commas).
// Of a body `decoded`, the content-encoding and content-length are gone,
// as they no longer say what the body is (a proxy passing the headers on
// would otherwise label plain text as gzip).
Value headers_map(Heap& h, const http::HeaderList& lowered, bool decoded) {
  http::HeaderList headers;
  for (const auto& header : lowered) {
    if (decoded && (header.first == "content-encoding" || header.first == "content-length")) {
      continue;
    }
    auto same = [&](const auto& p) { return p.first == header.first; };
    auto it = std::find_if(headers.begin(), headers.end(), same);
    if (it == headers.end()) {
      headers.push_back(header);
    } else {
      it->second += header.first == "set-cookie" ? "\n" : ", ";
      it->second += header.second;
    }
  }
  std::vector<Value> kvs;
  kvs.reserve(headers.size() * 2);
  for (const auto& [name, value] : headers) {
    kvs.push_back(h.string(name));
    kvs.push_back(h.string(value));
  }
  return map_from(h, kvs.data(), headers.size());
}

http::HeaderList curl_headers(CURL* easy) {
  http::HeaderList out;
  curl_header* prev = nullptr;
  while (curl_header* hd = curl_easy_nextheader(easy, CURLH_HEADER, -1, prev)) {
    prev = hd;
    std::string name = hd->name;
    for (char& c : name) {
      c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
    out.emplace_back(std::move(name), hd->value);
  }
  return out;
}

const char* curl_protocol(CURL* easy) {
  long version = 0;
  curl_easy_getinfo(easy, CURLINFO_HTTP_VERSION, &version);
  return version == CURL_HTTP_VERSION_2_0   ? "HTTP/2"
         : version == CURL_HTTP_VERSION_1_0 ? "HTTP/1.0"
         : version == CURL_HTTP_VERSION_3   ? "HTTP/3"
                                            : "HTTP/1.1";
}

// curl decodes every encoding it was asked to accept, and fails on one it
// does not know.
bool curl_decoded(const http::RequestSpec& spec, const http::HeaderList& headers) {
  return !spec.accept_encoding && std::any_of(headers.begin(), headers.end(), [](auto& h) {
    return h.first == "content-encoding" && strcasecmp(h.second.c_str(), "identity") != 0;
  });
}

// The keywords http/request looks for and makes, interned once per isolate
// and rooted (a keyword nothing refers to is collected).
struct HttpKeys final : LoopResource {
  explicit HttpKeys(Isolate& iso) {
    auto kept = [&](const char* name) {
      Value k = iso.heap().keyword(name);
      iso.root(k);
      return k;
    };
    for (size_t i = 0; i < http::kOptions; ++i) {
      options[i] = kept(http::kOptionNames[i]);
    }
    status = kept("status");
    headers = kept("headers");
    body = kept("body");
    protocol = kept("protocol");
    url = kept("url");
    body_stream = kept("body-stream");
  }
  void close() override {}

  Value options[http::kOptions];
  Value status, headers, body, protocol, url, body_stream;
};

bool is_redirect(int status) {
  return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
}

constexpr uint32_t kNoReader = UINT32_MAX;

struct HttpOp final : PendingOp, HttpTransfer, H1Exchange, BodySource {
  Isolate* iso = nullptr;
  const HttpKeys* keys = nullptr;
  http::RequestSpec spec;
  std::string url;              // the one asked for now (after redirects)
  CURLU* parsed_url = nullptr;  // url, parsed by curl (made when curl or a redirect needs it)
  std::string scheme;
  std::string host;    // as in the URL: an IPv6 address in brackets
  std::string port;    // the default one if the URL has none
  std::string target;  // the path and query
  bool has_user = false;
  uint64_t started_ms = 0;
  int64_t redirects = 0;  // followed before curl took it
  bool own = false;       // the own client has it, not curl
  // :timeout-ms once the own client has had it (stop() then aborts it in
  // whichever client has it by then), or with :stream until the head; then
  // a stream's work for the next turn.
  uv_timer_t* timer = nullptr;
  // :as :stream. A head that is a redirect to follow is not the answer,
  // nor is its body.
  bool following = false;
  int redirect_status = 0;  // curl's, to follow once its transfer ends
  http::HeaderList redirect_headers;
  bool head_ready = false;    // the answer's head came (into head_*)
  bool head_settled = false;  // the promise has it; `feed` is its HttpBody's
  int head_status = 0;
  const char* head_protocol = "";
  http::HeaderList head_headers;
  bool head_decoded = false;
  BodyFeed* feed = nullptr;          // from the head on; nullptr once its HttpBody is collected
  uint32_t reader_slot = kNoReader;  // the HttpBody a fiber waits on, rooted meanwhile
  bool reader_whole = false;         // ... with read-body
  bool paused = false;               // past BodyFeed::kHighWater
  // curl's
  curl_slist* headers = nullptr;
  std::string body;
  bool too_large = false;
  char error[CURL_ERROR_SIZE] = {};

  std::string describe() const override { return "http/request " + url; }

  bool streaming() const { return spec.as == http::BodyAs::kStream; }

  ~HttpOp() override {
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

  void cancel() override {
    stop();
    if (head_settled) {
      // A reader waits and was cancelled, or the isolate ends.
      end_feed("cancelled", "the HTTP request was cancelled");
      return;
    }
    HttpRequestCounters::process().count("cancelled");
    iso->end_op(this, false, val(iso->make_cancelled("the HTTP request was cancelled")));
  }

  void stop() {
    if (own) {
      iso->h1_client().abort(this);
    } else {
      iso->http_client().abort(this);
    }
  }

  // Takes `u` (parsed, http or https) as the URL to ask next.
  void set_url(CURLU* u) {
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

  // Takes `text` as the URL if it is a plain http:// one that
  // http_parser reads (which costs a fraction of curl's parser); false
  // leaves it to curl.
  bool set_plain_url(const std::string& text) {
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

  // Takes `text` as the URL to ask; false if it is not an http:// or
  // https:// one. Checked at the call, so that a bad URL is an error there.
  bool take_url(const std::string& text) {
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

  // curl's parse of the URL, for curl or to resolve a redirect against.
  CURLU* curl_parsed() {
    if (parsed_url == nullptr) {
      parsed_url = curl_url();
      curl_url_set(parsed_url, CURLUPART_URL, url.c_str(), 0);
    }
    return parsed_url;
  }

  // Milliseconds left of :timeout-ms (at least 1), or 0 for no limit.
  uint64_t time_left() const {
    if (spec.timeout_ms == 0) {
      return 0;
    }
    uint64_t spent = uv_now(iso->loop()) - started_ms;
    uint64_t limit = static_cast<uint64_t>(spec.timeout_ms);
    return spent >= limit ? 1 : limit - spent;
  }

  bool takes_own_client() const {
    return scheme == "http" && spec.version != http::Version::kHttp2 && !proxy_in_environment() &&
           !has_user;
  }

  // Hands the request to the client for its URL; false if curl refused it.
  bool start() {
    own = takes_own_client();
    following = false;
    if (own || streaming()) {
      arm_timeout();
    }
    if (own) {
      start_own();
      return true;
    }
    return start_curl();
  }

  void arm_timeout();
  void start_own();
  bool start_curl();
  void finished(CURLcode result) override;  // curl's
  void answered(H1ResponseReader& response) override;
  void failed(std::string_view kind, const std::string& why) override;
  void head_arrived(const H1ResponseReader& response) override;
  bool body_arrived(std::string& body) override;
  // A redirect that will be followed: a redirect status, a Location, and
  // redirects allowed.
  bool wants_follow(int status, const http::HeaderList& headers) const;
  // A redirect came back: asks its Location, or ends the request; false if
  // it is not to be followed.
  bool follow(int status, const http::HeaderList& headers);
  // `decoded`: the body was decoded from its Content-Encoding. With
  // :stream, `body_stream` is the HttpBody and the :body nil.
  Value response(int status, std::string_view protocol, const http::HeaderList& lowered,
                 const std::string& payload, bool decoded, Value body_stream = Value::nil());
  // The :kind and the message of curl's `result`.
  std::string_view failure(CURLcode result, std::string* why);

  // ---- :as :stream (BodySource) ----
  void head_came(int status, const char* protocol, const http::HeaderList& headers, bool decoded);
  // Takes a part of the body; false if a read-body waiting on it would get
  // more than :max-body.
  bool take_body(const char* data, size_t len);
  // :read-timeout-ms from now, while a reader waits.
  void arm_read_timeout();
  bool over_high_water() const {
    return feed != nullptr && !(feed->reader_waits && reader_whole) &&
           feed->unread() >= BodyFeed::kHighWater;
  }
  // Settles what can be settled: the promise with the head, a waiting
  // reader with what it asked for.
  void pump();
  // pump() on the next turn: from curl's callbacks, where a promise's
  // reactions (which may start or stop transfers) must not run.
  void pump_soon();
  void settle_head();
  // The body ended (`kind` empty: it came whole); forgets the op.
  void end_feed(std::string_view kind, const std::string& why);
  Promise* wait(HttpBody* body, bool whole) override;
  void drained() override;
  void stop_feeding(std::string_view kind, const std::string& why) override;
  void abandon() override;
  void fail(std::string_view kind, const std::string& why) {
    HttpRequestCounters::process().count(kind);
    iso->end_op(this, false, http_error(*iso, kind, "http/request " + url + ": " + why, url));
  }
};

size_t on_body(char* data, size_t size, size_t n, void* op_ptr) {
  auto* op = static_cast<HttpOp*>(op_ptr);
  size_t len = size * n;
  if (op->streaming()) {
    if (op->over_high_water()) {
      op->paused = true;
      return CURL_WRITEFUNC_PAUSE;  // curl keeps it, and gives it again on resumption
    }
    if (!op->take_body(data, len)) {
      op->too_large = true;
      return 0;
    }
    if (op->feed != nullptr && op->feed->reader_waits && !op->reader_whole) {
      op->pump_soon();  // (read-body's is settled at the end)
    }
    return len;
  }
  if (op->body.size() + len > static_cast<size_t>(op->spec.max_body)) {
    op->too_large = true;
    return 0;  // curl ends the transfer with CURLE_WRITE_ERROR
  }
  op->body.append(data, len);
  return len;
}

// With :stream: at the end of each head, whether the answer's has come.
size_t on_header(char* data, size_t size, size_t n, void* op_ptr) {
  auto* op = static_cast<HttpOp*>(op_ptr);
  size_t len = size * n;
  if (len > 2 || (data[0] != '\r' && data[0] != '\n')) {
    return len;  // a line of a head
  }
  long status = 0;
  curl_easy_getinfo(op->easy, CURLINFO_RESPONSE_CODE, &status);
  if (status < 200 && status != 101) {
    return len;  // an interim response's
  }
  http::HeaderList headers = curl_headers(op->easy);
  if (op->wants_follow(static_cast<int>(status), headers)) {
    op->following = true;
    op->redirect_status = static_cast<int>(status);
    op->redirect_headers = std::move(headers);
    return len;
  }
  op->head_came(static_cast<int>(status), curl_protocol(op->easy), headers,
                curl_decoded(op->spec, headers));
  op->pump_soon();
  return len;
}

// ---- the own client ---------------------------------------------------------

void HttpOp::start_own() {
  // What the URL names, for the socket: brackets off an IPv6 address.
  H1Exchange::host =
      host.size() > 2 && host.front() == '[' ? host.substr(1, host.size() - 2) : host;
  H1Exchange::port = static_cast<uint16_t>(std::atoi(port.c_str()));
  H1Exchange::origin = host + ":" + port;
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
  bool has_host = false, has_agent = false, has_accept = false, has_type = false;
  for (const auto& [name, value] : spec.headers) {
    if (http::header_is(name, "content-length") || http::header_is(name, "transfer-encoding")) {
      continue;  // the body is framed here
    }
    has_host = has_host || http::header_is(name, "host");
    has_agent = has_agent || http::header_is(name, "user-agent");
    has_accept = has_accept || http::header_is(name, "accept");
    has_type = has_type || http::header_is(name, "content-type");
    r += name;
    r += ": ";
    r += value;
    r += "\r\n";
  }
  if (!has_host) {
    r += "Host: " + host + (port == "80" ? "" : ":" + port) + "\r\n";
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
  if (spec.json_body && !has_type) {
    r += "Content-Type: application/json\r\n";
  }
  if (spec.has_payload || spec.method == "POST") {
    r += "Content-Length: " + std::to_string(spec.payload.size()) + "\r\n";
  }
  r += "\r\n";
  if (!head) {
    r += spec.payload;
  }
  stream = streaming();
  iso->h1_client().start(this);
}

void HttpOp::arm_timeout() {
  if (timer != nullptr) {
    return;  // armed at the first start (a redirect's request has what is left)
  }
  timer = new uv_timer_t;
  uv_timer_init(iso->loop(), timer);
  timer->data = this;
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
  pump();
}

bool HttpOp::body_arrived(std::string& body) {
  bool taken = take_body(body.data(), body.size());
  body.clear();
  if (!taken) {
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
      return http::header_is(h.first, "authorization") || http::header_is(h.first, "cookie");
    });
  }
  if (!start()) {
    fail("failed", "curl refused the transfer");
  }
  return true;
}

// ---- curl -------------------------------------------------------------------

bool HttpOp::start_curl() {
  // A redirect's request (with :stream) starts afresh.
  curl_easy_cleanup(easy);
  curl_slist_free_all(headers);
  headers = nullptr;
  easy = curl_easy_init();
  CURL* e = easy;
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);  // threads: no SIGALRM for DNS timeouts
  curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  if (!spec.accept_encoding) {
    curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");  // every encoding curl decodes
  }
  curl_easy_setopt(e, CURLOPT_USERAGENT, "valk/" VALK_VERSION);
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, this);
  if (streaming()) {
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, this);
  }
  curl_easy_setopt(e, CURLOPT_ERRORBUFFER, error);
  curl_easy_setopt(e, CURLOPT_CURLU, curl_parsed());
  const std::string& method = spec.method;
  if (method == "HEAD") {
    curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
  } else if (method != "GET" || spec.has_payload) {
    if (method != "POST") {
      curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method.c_str());
    }
    if (spec.has_payload || method == "POST") {
      curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE,
                       static_cast<curl_off_t>(spec.payload.size()));
      curl_easy_setopt(e, CURLOPT_COPYPOSTFIELDS, spec.payload.c_str());
    }
  }
  bool has_type = false;
  for (const auto& [name, value] : spec.headers) {
    has_type = has_type || http::header_is(name, "content-type");
    // "Name;" is curl's way of sending a header with an empty value.
    std::string line = name + (value.empty() ? ";" : ": " + value);
    headers = curl_slist_append(headers, line.c_str());
  }
  if (spec.json_body && !has_type) {
    headers = curl_slist_append(headers, "Content-Type: application/json");
  }
  if (spec.accept_json) {
    headers = curl_slist_append(headers, "Accept: application/json");
  }
  // No "Expect: 100-continue" round trip before a body.
  headers = curl_slist_append(headers, "Expect:");
  curl_easy_setopt(e, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(spec.connect_timeout_ms));
  if (streaming()) {
    // The head's deadline is the op's timer, and redirects are followed
    // here, so that only the answer's head settles the promise.
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
  } else {
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, static_cast<long>(time_left()));
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, spec.max_redirects > 0 ? 1L : 0L);
  }
  curl_easy_setopt(e, CURLOPT_MAXREDIRS, static_cast<long>(spec.max_redirects - redirects));
  bool prior_knowledge = false;
  if (spec.version == http::Version::kHttp1) {
    curl_easy_setopt(e, CURLOPT_HTTP_VERSION, CURL_HTTP_VERSION_1_1);
  } else if (spec.version == http::Version::kHttp2) {
    curl_easy_setopt(e, CURLOPT_HTTP_VERSION, CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE);
    prior_knowledge = true;
    if (curl_version_info(CURLVERSION_NOW)->version_num < kPriorKnowledgeReuseFixed) {
      // Before 7.89, curl broke a reused h2c connection ("Error in the
      // HTTP2 framing layer", curl issue 10634), and would send h2c's
      // preface on a kept HTTP/1.1 one: each such transfer gets its own
      // connection.
      curl_easy_setopt(e, CURLOPT_FRESH_CONNECT, 1L);
      curl_easy_setopt(e, CURLOPT_FORBID_REUSE, 1L);
    }
  }
  // Where a connection may turn out to be HTTP/2 as soon as it is made
  // (ALPN, prior knowledge), wait for the one being set up to the same
  // origin rather than open another, so that concurrent requests share it.
  // On cleartext HTTP/1.1 curl would wait for the first response.
  if (scheme == "https" || prior_knowledge) {
    curl_easy_setopt(e, CURLOPT_PIPEWAIT, 1L);
  }
  if (spec.has_ca_file) {
    curl_easy_setopt(e, CURLOPT_CAINFO, spec.ca_file.c_str());
  }
  if (spec.insecure) {
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
  }
  return iso->http_client().start(this);
}

void HttpOp::finished(CURLcode result) {
  std::string why;
  if (streaming()) {
    if (following && result == CURLE_OK) {
      follow(redirect_status, redirect_headers);
    } else if (head_ready) {
      std::string_view kind = result == CURLE_OK ? "" : failure(result, &why);
      end_feed(kind, why.empty() ? why : "http/request " + url + ": " + why);
    } else if (result == CURLE_OK) {
      fail("failed", "the transfer ended without a response");
    } else {
      std::string_view kind = failure(result, &why);
      fail(kind, why);
    }
    return;
  }
  if (result != CURLE_OK) {
    std::string_view kind = failure(result, &why);
    fail(kind, why);
    return;
  }
  long status = 0;
  char* effective_url = nullptr;
  curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
  curl_easy_getinfo(easy, CURLINFO_EFFECTIVE_URL, &effective_url);
  if (effective_url != nullptr) {
    url = effective_url;
  }
  http::HeaderList headers = curl_headers(easy);
  Value v = response(static_cast<int>(status), curl_protocol(easy), headers, body,
                     curl_decoded(spec, headers));
  HttpRequestCounters::process().count("response");
  iso->end_op(this, !v.is(Tag::Error), v);
}

std::string_view HttpOp::failure(CURLcode result, std::string* why) {
  std::string_view kind = "failed";
  switch (result) {
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_CONNECT:
      kind = "connect";
      break;
    case CURLE_OPERATION_TIMEDOUT:
      kind = "timeout";
      break;
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
      kind = "tls";
      break;
    case CURLE_TOO_MANY_REDIRECTS:
      kind = "redirects";
      break;
    default:
      break;
  }
  *why = error[0] != '\0' ? error : curl_easy_strerror(result);
  if (too_large) {
    kind = "too-large";
    *why = "the body is larger than :max-body (" + std::to_string(spec.max_body) + " bytes)";
  }
  return kind;
}

// ---- the response map ---------------------------------------------------------

Value HttpOp::response(int status, std::string_view protocol, const http::HeaderList& lowered,
                       const std::string& payload, bool decoded, Value body_stream) {
  Heap& h = iso->heap();
  Value body_value;
  switch (spec.as) {
    case http::BodyAs::kStream:
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

// ---- :as :stream ----------------------------------------------------------------

void HttpOp::head_came(int status, const char* protocol, const http::HeaderList& headers,
                       bool decoded) {
  head_ready = true;
  head_status = status;
  head_protocol = protocol;
  head_headers = headers;
  head_decoded = decoded;
  feed = new BodyFeed;
  feed->url = url;
  feed->max_body = static_cast<size_t>(spec.max_body);
  feed->source = this;
}

bool HttpOp::take_body(const char* data, size_t len) {
  if (feed == nullptr || following) {
    return true;  // a redirect's body, or nobody's: its HttpBody was collected
  }
  feed->add(data, len);
  if (feed->reader_waits) {
    arm_read_timeout();  // bytes came: the wait starts again
  }
  return !(feed->reader_waits && reader_whole && feed->unread() > feed->max_body);
}

void HttpOp::arm_read_timeout() {
  if (spec.read_timeout_ms == 0) {
    return;
  }
  uv_timer_start(
      timer,
      [](uv_timer_t* t) {
        auto* op = static_cast<HttpOp*>(t->data);
        op->stop_feeding("timeout", "http/request " + op->url + ": no body bytes came for " +
                                        std::to_string(op->spec.read_timeout_ms) + " ms");
      },
      static_cast<uint64_t>(spec.read_timeout_ms), 0);
}

void HttpOp::pump() {
  if (head_ready && !head_settled) {
    settle_head();
  }
  if (feed == nullptr || !feed->reader_waits) {
    return;
  }
  auto* b = static_cast<HttpBody*>(iso->rooted(reader_slot).o);
  bool ok;
  Value out;
  // (settle_read stops no transfer from here: take_body keeps what a
  // waiting read-body has within :max-body.)
  if (!settle_read(*iso, b, reader_whole, &ok, &out)) {
    return;
  }
  feed->reader_waits = false;
  uv_timer_stop(timer);  // the read's timeout, or this very pump on its turn
  iso->unroot(reader_slot);
  reader_slot = kNoReader;
  Promise* p = promise;
  promise = nullptr;
  p->op = nullptr;
  if (ok) {
    iso->resolve(p, out);
  } else {
    iso->reject(p, out);
  }
}

void HttpOp::pump_soon() {
  uv_timer_start(
      timer, [](uv_timer_t* t) { static_cast<HttpOp*>(t->data)->pump(); }, 0, 0);
}

void HttpOp::settle_head() {
  head_settled = true;
  uv_timer_stop(timer);  // the deadline was the head's
  HttpBody* b = make_http_body(iso->heap(), feed);
  Value v = response(head_status, head_protocol, head_headers, "", head_decoded, val(b));
  head_headers.clear();
  HttpRequestCounters::process().count("response");
  // The op lives on while the transfer runs, linked (so that the isolate's
  // end stops it), with a promise only while a reader waits.
  Promise* p = promise;
  promise = nullptr;
  p->op = nullptr;
  iso->resolve(p, v);
}

void HttpOp::end_feed(std::string_view kind, const std::string& why) {
  if (feed != nullptr) {
    feed->ended = true;
    feed->error_kind = kind;
    feed->error = why;
    feed->source = nullptr;
  }
  pump();  // the head if it is not settled yet, and a waiting reader
  iso->unlink_op(this);
  delete this;
}

Promise* HttpOp::wait(HttpBody* body, bool whole) {
  Promise* p = iso->make_promise();
  promise = p;
  p->op = this;
  owner = iso->current() != nullptr ? iso->current()->serial : 0;
  reader_slot = iso->root(val(body));
  reader_whole = whole;
  feed->reader_waits = true;
  arm_read_timeout();
  if (whole) {
    drained();  // read-body gathers the whole body: no pause
  }
  return p;
}

void HttpOp::drained() {
  if (!paused || over_high_water()) {
    return;
  }
  paused = false;
  if (own) {
    iso->h1_client().resume(this);
  } else {
    curl_easy_pause(easy, CURLPAUSE_CONT);  // may give what it held at once
  }
}

void HttpOp::stop_feeding(std::string_view kind, const std::string& why) {
  stop();
  end_feed(kind, why);
}

void HttpOp::abandon() {
  feed = nullptr;
  // Not now: the collector runs this inside an allocation, and stopping
  // a transfer calls into the clients.
  uv_timer_start(
      timer,
      [](uv_timer_t* t) {
        auto* op = static_cast<HttpOp*>(t->data);
        op->stop();
        op->iso->unlink_op(op);
        delete op;
      },
      0, 0);
}

Value n_http_request(Isolate& iso, Value* args, int) {
  if (!args[0].is(Tag::Map)) {
    return iso.type_error("http/request", "an options map", args[0]);
  }
  auto* op = new HttpOp();
  op->iso = &iso;
  op->keys = static_cast<const HttpKeys*>(iso.current_native()->data);
  std::string url;
  if (Value err = http::read_http_options(iso, args[0], op->keys->options, &op->spec, &url);
      !err.is_nil()) {
    delete op;
    return err;
  }
  if (!op->take_url(url)) {
    delete op;
    return iso.raise_error("type-error", "http/request: not an http:// or https:// URL: " + url);
  }
  Promise* p = iso.begin_op(op);
  // The loop's clock is as of its last turn, which may be long past (a
  // script idle between evaluations): the deadlines count from now.
  uv_update_time(iso.loop());
  op->started_ms = uv_now(iso.loop());
  if (!op->start()) {
    iso.end_op(op, true, Value::nil());  // nothing awaits p yet
    return iso.raise_error("http-error", "http/request: curl refused the transfer");
  }
  return val(p);
}

// (http/close response): stops reading a streamed response's body (:as
// :stream), closing its connection; reads then raise :closed. Nil; of a
// response whose body came whole, nothing.
Value n_http_close(Isolate& iso, Value* args, int) {
  auto* keys = static_cast<const HttpKeys*>(iso.current_native()->data);
  HttpBody* b = http_body_of(args[0], keys->body_stream);
  if (b == nullptr) {
    if (!args[0].is(Tag::Map)) {
      return iso.type_error("http/close", "a response", args[0]);
    }
    return Value::nil();
  }
  BodyFeed& feed = *b->feed;
  if (feed.source != nullptr) {
    feed.source->stop_feeding("closed", "http/request " + feed.url + ": the body was closed");
  }
  feed.drop();
  return Value::nil();
}

// (http/body-complete? response): the whole body of a streamed response
// (:as :stream) has come, and read-body would return it at once; false
// while it comes, after a failure, or of a response not streamed.
Value n_http_body_complete(Isolate& iso, Value* args, int) {
  auto* keys = static_cast<const HttpKeys*>(iso.current_native()->data);
  HttpBody* b = http_body_of(args[0], keys->body_stream);
  return Value::boolean(b != nullptr && b->feed->ended && b->feed->error_kind.empty() &&
                        !b->chunk_taken);
}

}  // namespace

void register_http_natives(Isolate& iso) {
  void* keys = iso.keep(std::make_unique<HttpKeys>(iso));
  iso.define_native("http/request", n_http_request, 1, 1, keys);
  iso.define_native("http/close", n_http_close, 1, 1, keys);
  iso.define_native("http/body-complete?", n_http_body_complete, 1, 1, keys);
}

}  // namespace valk::lisp
