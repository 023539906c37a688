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
//                        else bytes), :text, :bytes or :json
//   :timeout-ms          the whole transfer, 30 000 by default
//   :connect-timeout-ms  10 000 by default
//   :max-body            bytes of (decoded) body accepted, 64 MiB by default
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
#include <curl/curl.h>
#include <strings.h>

#include <algorithm>
#include <cctype>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "lisp/builtins.h"
#include "lisp/collections.h"
#include "lisp/http_client.h"
#include "lisp/isolate.h"
#include "lisp/json.h"
#include "lisp/printer.h"
#include "lisp/utf8.h"

namespace valk::lisp {
namespace {

constexpr int64_t kDefaultTimeoutMs = 30000;
constexpr int64_t kDefaultConnectTimeoutMs = 10000;
constexpr int64_t kDefaultMaxBody = int64_t{64} << 20;
constexpr int64_t kDefaultMaxRedirects = 5;
constexpr unsigned kPriorKnowledgeReuseFixed = 0x075900;  // curl 7.89.0

enum class BodyAs { kAuto, kText, kBytes, kJson };

struct HttpOp final : PendingOp, HttpTransfer {
  Isolate* iso = nullptr;
  curl_slist* headers = nullptr;
  CURLU* parsed_url = nullptr;  // checked at the call, then given to curl as it is
  std::string url;
  std::string body;
  size_t max_body = 0;
  bool too_large = false;
  BodyAs as = BodyAs::kAuto;
  char error[CURL_ERROR_SIZE] = {};

  std::string describe() const override { return "http/request " + url; }

  ~HttpOp() override {
    curl_easy_cleanup(easy);
    curl_url_cleanup(parsed_url);
    curl_slist_free_all(headers);
  }

  void cancel() override {
    iso->http_client().abort(this);
    iso->end_op(this, false, val(iso->make_cancelled("the HTTP request was cancelled")));
  }

  void finished(CURLcode result) override;
  Value response();
  Value failure(CURLcode result);
};

size_t on_body(char* data, size_t size, size_t n, void* op_ptr) {
  auto* op = static_cast<HttpOp*>(op_ptr);
  size_t len = size * n;
  if (op->body.size() + len > op->max_body) {
    op->too_large = true;
    return 0;  // curl ends the transfer with CURLE_WRITE_ERROR
  }
  op->body.append(data, len);
  return len;
}

Value http_error(Isolate& iso, std::string_view kind, const std::string& message,
                 const std::string& url) {
  Heap& h = iso.heap();
  Value data[] = {h.keyword("type"), h.keyword("http-error"), h.keyword("kind"),
                  h.keyword(kind),   h.keyword("url"),        h.string(url)};
  return val(iso.make_error(h.string(message), map_from(h, data, 3)));
}

// The response's headers, names lower-cased; a repeated name's values
// joined with ", " (set-cookie's with "\n", as cookies hold commas).
Value response_headers(Heap& h, CURL* easy) {
  std::vector<std::pair<std::string, std::string>> headers;
  curl_header* prev = nullptr;
  while (curl_header* hd = curl_easy_nextheader(easy, CURLH_HEADER, -1, prev)) {
    prev = hd;
    std::string name = hd->name;
    for (char& c : name) {
      c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
    auto same = [&](const auto& p) { return p.first == name; };
    auto it = std::find_if(headers.begin(), headers.end(), same);
    if (it == headers.end()) {
      headers.emplace_back(std::move(name), hd->value);
    } else {
      it->second += name == "set-cookie" ? "\n" : ", ";
      it->second += hd->value;
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

Value HttpOp::response() {
  Heap& h = iso->heap();
  Value body_value;
  switch (as) {
    case BodyAs::kAuto:
    case BodyAs::kText:
      if (utf8_valid(body)) {
        body_value = h.string(body);
      } else if (as == BodyAs::kText) {
        return http_error(*iso, "failed", "http/request " + url + ": the body is not UTF-8 text",
                          url);
      } else {
        body_value = val(h.make_bytes(reinterpret_cast<const uint8_t*>(body.data()), body.size()));
      }
      break;
    case BodyAs::kBytes:
      body_value = val(h.make_bytes(reinterpret_cast<const uint8_t*>(body.data()), body.size()));
      break;
    case BodyAs::kJson:
      if (body.empty()) {
        body_value = Value::nil();
      } else if (JsonError err; !json_parse(h, body, JsonParseOptions{}, &body_value, &err)) {
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
  long status = 0;
  long version = 0;
  char* effective_url = nullptr;
  curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
  curl_easy_getinfo(easy, CURLINFO_HTTP_VERSION, &version);
  curl_easy_getinfo(easy, CURLINFO_EFFECTIVE_URL, &effective_url);
  const char* protocol = version == CURL_HTTP_VERSION_2_0   ? "HTTP/2"
                         : version == CURL_HTTP_VERSION_1_0 ? "HTTP/1.0"
                         : version == CURL_HTTP_VERSION_3   ? "HTTP/3"
                                                            : "HTTP/1.1";
  Value kvs[] = {h.keyword("status"),   Value::integer(status),
                 h.keyword("headers"),  response_headers(h, easy),
                 h.keyword("body"),     body_value,
                 h.keyword("protocol"), h.string(protocol),
                 h.keyword("url"),      h.string(effective_url != nullptr ? effective_url : url)};
  return map_from(h, kvs, 5);
}

Value HttpOp::failure(CURLcode result) {
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
  std::string why = error[0] != '\0' ? error : curl_easy_strerror(result);
  if (too_large) {
    kind = "too-large";
    why = "the body is larger than :max-body (" + std::to_string(max_body) + " bytes)";
  }
  return http_error(*iso, kind, "http/request " + url + ": " + why, url);
}

void HttpOp::finished(CURLcode result) {
  if (result != CURLE_OK) {
    iso->end_op(this, false, failure(result));
    return;
  }
  Value v = response();
  iso->end_op(this, !v.is(Tag::Error), v);
}

// ---- options ------------------------------------------------------------------

// In the order the docs list them, as the unknown-option error does.
const char* const kOptionNames[] = {"url",        "method",
                                    "headers",    "body",
                                    "json",       "as",
                                    "timeout-ms", "connect-timeout-ms",
                                    "max-body",   "max-redirects",
                                    "version",    "ca-file",
                                    "insecure"};

std::string_view name_of(Value v) {
  if (v.is(Tag::Keyword) || v.is(Tag::Symbol)) {
    return static_cast<Symbol*>(v.o)->name->view();
  }
  return static_cast<String*>(v.o)->view();
}

bool has_line_break(std::string_view s) {
  return s.find_first_of("\r\n") != std::string_view::npos || s.find('\0') != s.npos;
}

// The options map, checked and applied to `op->easy`. Returns the raised
// error sentinel, or nil when all is well.
class Options {
 public:
  Options(Isolate& iso, Value opts, HttpOp* op) : iso_(iso), opts_(opts), op_(op) {}

  Value apply() {
    Value err = Value::nil();
    map_each(opts_, [&](Value k, Value) {
      bool known = false;
      if (k.is(Tag::Keyword)) {
        for (const char* n : kOptionNames) {
          known = known || name_of(k) == n;
        }
      }
      if (!known) {
        std::string names;
        for (const char* n : kOptionNames) {
          names += std::string(names.empty() ? ":" : " :") + n;
        }
        err = iso_.raise_error("type-error", "http/request: unknown option " + print_str(k, true) +
                                                 " (options: " + names + ")");
        return false;
      }
      return true;
    });
    if (!err.is_nil()) {
      return err;
    }
    for (auto step : {&Options::url, &Options::method_and_body, &Options::headers, &Options::limits,
                      &Options::tls_and_version, &Options::body_as}) {
      if (Value e = (this->*step)(); !e.is_nil()) {
        return e;
      }
    }
    return Value::nil();
  }

 private:
  bool get(const char* name, Value* out) { return map_find(opts_, iso_.heap().keyword(name), out); }

  Value url() {
    Value v;
    if (!get("url", &v) || !v.is(Tag::String)) {
      return iso_.type_error("http/request", "a string :url", get("url", &v) ? v : Value::nil());
    }
    op_->url = std::string(static_cast<String*>(v.o)->view());
    // Checked now, so that a bad URL is an error at the call; curl takes
    // it parsed (CURLOPT_CURLU) rather than parse it again.
    CURLU* u = op_->parsed_url = curl_url();
    CURLUcode rc = curl_url_set(u, CURLUPART_URL, op_->url.c_str(), 0);
    char* scheme = nullptr;
    if (rc == CURLUE_OK) {
      curl_url_get(u, CURLUPART_SCHEME, &scheme, 0);
    }
    bool http = scheme != nullptr &&
                (std::string_view(scheme) == "http" || std::string_view(scheme) == "https");
    https_ = scheme != nullptr && std::string_view(scheme) == "https";
    char* host = nullptr;
    char* port = nullptr;
    if (http) {
      curl_url_get(u, CURLUPART_HOST, &host, 0);
      curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT);
      op_->origin = std::string(scheme) + "://" + (host != nullptr ? host : "") + ":" +
                    (port != nullptr ? port : "");
    }
    curl_free(host);
    curl_free(port);
    curl_free(scheme);
    if (rc != CURLUE_OK || !http) {
      return iso_.raise_error("type-error",
                              "http/request: not an http:// or https:// URL: " + op_->url);
    }
    curl_easy_setopt(op_->easy, CURLOPT_CURLU, u);
    return Value::nil();
  }

  Value method_and_body() {
    std::string method = "GET";
    Value v;
    if (get("method", &v)) {
      if (!v.is(Tag::Keyword) && !v.is(Tag::String)) {
        return iso_.type_error("http/request", "a keyword or string :method", v);
      }
      method = std::string(name_of(v));
      for (char& c : method) {
        c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
      }
      if (method.empty() || method.find_first_of(" \t\r\n") != std::string::npos) {
        return iso_.raise_error("type-error", "http/request: not a method: " + method);
      }
    }
    std::string payload;
    bool has_payload = false;
    if (get("body", &v) && !v.is_nil()) {
      if (v.is(Tag::String)) {
        payload = std::string(static_cast<String*>(v.o)->view());
      } else if (v.is(Tag::Bytes)) {
        auto* b = static_cast<Bytes*>(v.o);
        payload.assign(reinterpret_cast<const char*>(b->data), b->size);
      } else {
        return iso_.type_error("http/request", "a string or bytes :body", v);
      }
      has_payload = true;
    }
    if (get("json", &v)) {
      if (has_payload) {
        return iso_.raise_error("type-error", "http/request: both :body and :json");
      }
      std::string err;
      if (!json_write(v, JsonWriteOptions{}, &payload, &err)) {
        return iso_.raise_error("json-error", "http/request: :json: " + err);
      }
      has_payload = true;
      json_body_ = true;
    }
    CURL* e = op_->easy;
    if (method == "HEAD") {
      curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
    } else if (method != "GET" || has_payload) {
      if (method != "POST") {
        curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method.c_str());
      }
      if (has_payload || method == "POST") {
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(payload.size()));
        curl_easy_setopt(e, CURLOPT_COPYPOSTFIELDS, payload.c_str());
      }
    }
    return Value::nil();
  }

  Value headers() {
    Value v;
    bool content_type = false;
    bool accept = false;
    if (get("headers", &v) && !v.is_nil()) {
      if (!v.is(Tag::Map)) {
        return iso_.type_error("http/request", "a map of :headers", v);
      }
      Value err = Value::nil();
      map_each(v, [&](Value name, Value value) {
        if (!(name.is(Tag::String) || name.is(Tag::Keyword)) || !value.is(Tag::String)) {
          err = iso_.type_error("http/request", "string names and values in :headers",
                                value.is(Tag::String) ? name : value);
          return false;
        }
        std::string_view n = name_of(name);
        std::string_view s = static_cast<String*>(value.o)->view();
        if (n.empty() || has_line_break(n) || n.find(':') != n.npos || has_line_break(s)) {
          err = iso_.raise_error("type-error",
                                 "http/request: a header name or value with a line break, a "
                                 "colon in the name, or an empty name: " +
                                     std::string(n));
          return false;
        }
        std::string line(n);
        content_type = content_type || strcasecmp(line.c_str(), "content-type") == 0;
        accept = accept || strcasecmp(line.c_str(), "accept") == 0;
        // "Name;" is curl's way of sending a header with an empty value.
        line += s.empty() ? ";" : ": " + std::string(s);
        op_->headers = curl_slist_append(op_->headers, line.c_str());
        return true;
      });
      if (!err.is_nil()) {
        return err;
      }
    }
    if (json_body_ && !content_type) {
      op_->headers = curl_slist_append(op_->headers, "Content-Type: application/json");
    }
    Value as;
    if (get("as", &as) && as.is(Tag::Keyword) && name_of(as) == "json" && !accept) {
      op_->headers = curl_slist_append(op_->headers, "Accept: application/json");
    }
    // No "Expect: 100-continue" round trip before a body.
    op_->headers = curl_slist_append(op_->headers, "Expect:");
    curl_easy_setopt(op_->easy, CURLOPT_HTTPHEADER, op_->headers);
    return Value::nil();
  }

  // A non-negative int option, or `fallback` when absent.
  Value count(const char* name, int64_t fallback, int64_t* out) {
    Value v;
    *out = fallback;
    if (get(name, &v)) {
      if (!v.is_int() || v.i < 0) {
        return iso_.type_error("http/request", std::string("a non-negative integer as :") + name,
                               v);
      }
      *out = v.i;
    }
    return Value::nil();
  }

  Value limits() {
    int64_t timeout, connect_timeout, max_body, redirects;
    for (auto [name, fallback, out] :
         {std::tuple{"timeout-ms", kDefaultTimeoutMs, &timeout},
          std::tuple{"connect-timeout-ms", kDefaultConnectTimeoutMs, &connect_timeout},
          std::tuple{"max-body", kDefaultMaxBody, &max_body},
          std::tuple{"max-redirects", kDefaultMaxRedirects, &redirects}}) {
      if (Value e = count(name, fallback, out); !e.is_nil()) {
        return e;
      }
    }
    CURL* e = op_->easy;
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, static_cast<long>(timeout));
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(connect_timeout));
    op_->max_body = static_cast<size_t>(max_body);
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, redirects > 0 ? 1L : 0L);
    curl_easy_setopt(e, CURLOPT_MAXREDIRS, static_cast<long>(redirects));
    return Value::nil();
  }

  Value tls_and_version() {
    CURL* e = op_->easy;
    Value v;
    bool prior_knowledge = false;
    if (get("version", &v)) {
      std::string_view n = v.is(Tag::Keyword) ? name_of(v) : "";
      if (n == "http1") {
        curl_easy_setopt(e, CURLOPT_HTTP_VERSION, CURL_HTTP_VERSION_1_1);
      } else if (n == "http2") {
        curl_easy_setopt(e, CURLOPT_HTTP_VERSION, CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE);
        prior_knowledge = true;
        if (curl_version_info(CURLVERSION_NOW)->version_num < kPriorKnowledgeReuseFixed) {
          // Before 7.89, curl broke a reused h2c connection ("Error in the
          // HTTP2 framing layer", curl issue 10634), and would send h2c's
          // preface on a kept HTTP/1.1 one: each such transfer gets its
          // own connection.
          curl_easy_setopt(e, CURLOPT_FRESH_CONNECT, 1L);
          curl_easy_setopt(e, CURLOPT_FORBID_REUSE, 1L);
        }
      } else {
        return iso_.type_error("http/request", ":http1 or :http2 as :version", v);
      }
    }
    // Where a connection may turn out to be HTTP/2 as soon as it is made
    // (ALPN, prior knowledge), wait for the one being set up to the same
    // origin rather than open another, so that concurrent requests share
    // it. On cleartext HTTP/1.1 curl would wait for the first response.
    if (https_ || prior_knowledge) {
      curl_easy_setopt(e, CURLOPT_PIPEWAIT, 1L);
    }
    if (get("ca-file", &v)) {
      if (!v.is(Tag::String)) {
        return iso_.type_error("http/request", "a string :ca-file", v);
      }
      ca_file_ = std::string(static_cast<String*>(v.o)->view());
      curl_easy_setopt(e, CURLOPT_CAINFO, ca_file_.c_str());
    }
    if (get("insecure", &v) && v.truthy()) {
      curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
      curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    return Value::nil();
  }

  Value body_as() {
    Value v;
    if (!get("as", &v)) {
      return Value::nil();
    }
    std::string_view n = v.is(Tag::Keyword) ? name_of(v) : "";
    if (n == "auto") {
      op_->as = BodyAs::kAuto;
    } else if (n == "text") {
      op_->as = BodyAs::kText;
    } else if (n == "bytes") {
      op_->as = BodyAs::kBytes;
    } else if (n == "json") {
      op_->as = BodyAs::kJson;
    } else {
      return iso_.type_error("http/request", ":auto, :text, :bytes or :json as :as", v);
    }
    return Value::nil();
  }

  Isolate& iso_;
  Value opts_;
  HttpOp* op_;
  bool json_body_ = false;
  bool https_ = false;
  std::string ca_file_;  // curl copies it
};

Value n_http_request(Isolate& iso, Value* args, int) {
  if (!args[0].is(Tag::Map)) {
    return iso.type_error("http/request", "an options map", args[0]);
  }
  auto* op = new HttpOp();
  op->iso = &iso;
  op->easy = curl_easy_init();
  CURL* e = op->easy;
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);  // threads: no SIGALRM for DNS timeouts
  curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");  // every encoding curl decodes
  curl_easy_setopt(e, CURLOPT_USERAGENT, "valk/" VALK_VERSION);
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, op);
  curl_easy_setopt(e, CURLOPT_ERRORBUFFER, op->error);
  if (Value err = Options(iso, args[0], op).apply(); !err.is_nil()) {
    delete op;
    return err;
  }
  Promise* p = iso.begin_op(op);
  if (!iso.http_client().start(op)) {
    iso.end_op(op, true, Value::nil());  // nothing awaits p yet
    return iso.raise_error("http-error", "http/request: curl refused the transfer");
  }
  return val(p);
}

}  // namespace

void register_http_natives(Isolate& iso) {
  iso.define_native("http/request", n_http_request, 1, 1);
}

}  // namespace valk::lisp
