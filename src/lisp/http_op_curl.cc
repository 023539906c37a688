// http/request's side in libcurl (http_client.h): each transfer's easy
// handle configured from the options, and its outcome made a response or
// an error; with :as :stream, the head found in the header callback and
// the body handed to the op's feed.
#include <curl/curl.h>
#include <strings.h>

#include <algorithm>
#include <cctype>
#include <string>
#include <utility>

#include "lisp/http_op.h"
#include "util/ascii.h"

namespace valk::lisp {
namespace {

constexpr unsigned kPriorKnowledgeReuseFixed = 0x075900;  // curl 7.89.0

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
    op->iso->http_client().received(op);
    return len;
  }
  if (op->body.size() + len > static_cast<size_t>(op->spec.max_body)) {
    op->too_large = true;
    return 0;  // curl ends the transfer with CURLE_WRITE_ERROR
  }
  op->body.append(data, len);
  op->iso->http_client().received(op);
  return len;
}

size_t on_upload(char* out, size_t size, size_t n, void* op_ptr) {
  return static_cast<HttpOp*>(op_ptr)->upload_read(out, size * n);
}

// With :stream: at the end of each head, whether the answer's has come.
// With a :body function: whether the server refused the body.
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
  if (status >= 300 && op->spec.body_streams) {
    // A refusal before the whole body went (a 413, say): the server takes
    // no more of it. curl stops sending then, but not on a connection the
    // server closes, where it would send the rest first.
    op->cut_upload();
  }
  if (!op->streaming()) {
    return len;
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

}  // namespace

void HttpOp::recheck() {
  if (paused) {
    return;
  }
  // curl_easy_pause does nothing when asked for the state the transfer is
  // in. A change that leaves receiving on has curl check the transfer for
  // bytes when it next runs, "as the data might've been read off the
  // socket already" (curl's comment). Sending is flipped and flipped back:
  // once the request went, that changes nothing curl watches the socket
  // for (flipping receiving would drop the socket and watch it anew).
  int state = send_paused ? CURLPAUSE_SEND : 0;
  curl_easy_pause(easy, state ^ CURLPAUSE_SEND);
  curl_easy_pause(easy, state);
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
  if (streaming() || spec.body_streams) {
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, this);
  }
  curl_easy_setopt(e, CURLOPT_ERRORBUFFER, error);
  curl_easy_setopt(e, CURLOPT_CURLU, curl_parsed());
  const std::string& method = spec.method;
  bool streams = spec.body_streams;
  if (streams) {
    curl_easy_setopt(e, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method.c_str());  // not UPLOAD's PUT
    curl_easy_setopt(e, CURLOPT_READFUNCTION, on_upload);
    curl_easy_setopt(e, CURLOPT_READDATA, this);
    // -1: no length, chunked on HTTP/1.1
    curl_easy_setopt(e, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(spec.body_length));
  } else if (method == "HEAD") {
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
    if (streams && ascii_iequals(name, "content-length")) {
      continue;  // curl sends the length it was given
    }
    has_type = has_type || ascii_iequals(name, "content-type");
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
  if (streaming() || spec.body_streams) {
    // The deadline is the op's timer (the head's; with a :body function
    // from the body's end), and redirects are followed here, so that only
    // the answer's head settles the promise.
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

}  // namespace valk::lisp
