// The options of http/request (builtins_http.cc), checked into what a
// request asks for. The options are listed in docs/web.md, "Calling other
// services"; only these are taken, so that a misspelt one is an error.
#pragma once

#include <cstdint>
#include <iterator>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "lisp/isolate.h"

namespace valk::lisp::http {

constexpr int64_t kDefaultTimeoutMs = 30000;
constexpr int64_t kDefaultConnectTimeoutMs = 10000;
constexpr int64_t kDefaultMaxBody = int64_t{64} << 20;
constexpr int64_t kDefaultMaxRedirects = 5;

enum class BodyAs { kAuto, kText, kBytes, kJson, kStream, kUpgrade };
enum class Version { kAny, kHttp1, kHttp2 };

using HeaderList = std::vector<std::pair<std::string, std::string>>;

// What the options ask for, checked.
struct RequestSpec {
  std::string method = "GET";
  std::string payload;
  bool has_payload = false;
  // :body as a function, which writes the body as it goes
  // (http_op_upload.cc); held only until its fiber starts, in the call to
  // http/request.
  bool body_streams = false;
  Value body_fn = Value::nil();
  // The content-length the headers give such a body, or -1 (it goes
  // chunked on HTTP/1.1).
  int64_t body_length = -1;
  bool json_body = false;        // sets content-type unless the headers do
  bool accept_json = false;      // :as :json, and no accept header given
  bool accept_encoding = false;  // the headers name the encodings: the body comes as sent
  HeaderList headers;            // as given
  int64_t timeout_ms = kDefaultTimeoutMs;
  // With :as :stream or :upgrade: the longest wait for body bytes; 0 none.
  int64_t read_timeout_ms = 0;
  int64_t connect_timeout_ms = kDefaultConnectTimeoutMs;
  int64_t max_body = kDefaultMaxBody;
  int64_t max_redirects = kDefaultMaxRedirects;
  Version version = Version::kAny;
  bool has_ca_file = false;
  std::string ca_file;
  bool insecure = false;
  BodyAs as = BodyAs::kAuto;
};

// In the order the docs list them, as the unknown-option error does.
const char* const kOptionNames[] = {"url",
                                    "method",
                                    "headers",
                                    "body",
                                    "json",
                                    "as",
                                    "timeout-ms",
                                    "connect-timeout-ms",
                                    "read-timeout-ms",
                                    "max-body",
                                    "max-redirects",
                                    "version",
                                    "ca-file",
                                    "insecure"};
constexpr size_t kOptions = std::size(kOptionNames);
// Their indexes.
enum Option : size_t {
  kUrl,
  kMethod,
  kHeaders,
  kBody,
  kJson,
  kAs,
  kTimeoutMs,
  kConnectTimeoutMs,
  kReadTimeoutMs,
  kMaxBody,
  kMaxRedirects,
  kVersion,
  kCaFile,
  kInsecure
};
static_assert(kInsecure + 1 == kOptions);

// Checks the options map `opts` into *spec, and the :url's text into *url
// (what the URL is, http_op.cc checks). `option_keys` are the
// options' keywords, in the order of kOptionNames. Returns the raised
// error sentinel, or nil when all is well.
Value read_http_options(Isolate& iso, Value opts, const Value* option_keys, RequestSpec* spec,
                        std::string* url);

}  // namespace valk::lisp::http
