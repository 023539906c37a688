// Converting between HTTP requests and responses and their Lisp maps.
//
// A request becomes {:method :get, :path "/x", :query-string "a=1" (or nil),
// :headers {"host" "..."}, :body "..." (string if UTF-8, bytes otherwise, nil
// if empty or streamed), :body-stream (with any body: what read-body and
// read-chunk read), :scheme :https, :authority "...", :remote-addr
// "ip:port", :protocol "HTTP/2", :request-id "...", :tls {...} (nil over
// plain TCP)}.
//
// A handler's result may be a response map {:status 200, :headers {...},
// :body ...}, a string (200, text/plain) or nil (404). A :body that is a
// function streams: it is called with the response stream and writes to it.
#pragma once

#include <string>

#include "lisp/collections.h"
#include "lisp/isolate.h"
#include "serve/recent_headers.h"
#include "serve/recent_strings.h"
#include "serve/recent_tls.h"
#include "serve/worker.h"
#include "valk/server.h"

namespace valk::serve {

class ResponseHeaderCache;

// A request's :protocol, and its name on the /requests page.
inline std::string_view protocol_text(Protocol p) {
  switch (p) {
    case Protocol::kHttp10:
      return "HTTP/1.0";
    case Protocol::kHttp11:
      return "HTTP/1.1";
    case Protocol::kHttp2:
      return "HTTP/2";
  }
  return "";
}

// Keys of request and response maps, interned once per isolate and rooted.
class HttpKeys {
 public:
  explicit HttpKeys(lisp::Isolate& iso);
  ~HttpKeys();
  lisp::Value method, path, query_string, headers, body, body_stream, scheme, authority,
      remote_addr, protocol, connect_protocol, request_id, tls, status, http, https;
  // The :protocol strings, shared by every request (strings are immutable).
  lisp::Value http10, http11, http2;
  // The standard methods' keywords, by their upper-case names.
  std::vector<std::pair<std::string, lisp::Value>> methods;
  // The request map's keys, in the order make_request_map gives values.
  lisp::MapTemplate request_map;
  // The keys of :tls {:version :cipher :alpn :sni :resumed :client-cert}
  // and of :client-cert {:subject :verified :chain}.
  lisp::MapTemplate tls_map, client_cert_map;

  lisp::Value protocol_name(Protocol p) const {
    return p == Protocol::kHttp2 ? http2 : p == Protocol::kHttp10 ? http10 : http11;
  }
  // The string for a common request header name ("host", "user-agent",
  // ...), made once and shared by every request; nil for other names.
  lisp::Value header_name(std::string_view name) const;

 private:
  static constexpr size_t kMaxCommonName = 32;
  lisp::Isolate& iso_;
  std::vector<lisp::Value> keep_;
  // The common header names' strings, by length.
  std::vector<lisp::Value> common_names_[kMaxCommonName + 1];
};

// What request maps share with the requests before them, each piece rooted
// in the worker's isolate: strings of texts that repeat (header values,
// path, authority, peer), the :headers map of a header list seen before,
// and the :tls map of the last TLS connection's facts.
struct RecentRequestParts {
  explicit RecentRequestParts(lisp::Isolate& iso) : strings(iso), headers(iso), tls(iso) {}
  RecentStrings strings;
  RecentHeaders headers;
  RecentTls tls;
};

lisp::Value make_request_map(lisp::Isolate& iso, const HttpKeys& keys, RecentRequestParts& recent,
                             const HttpRequest& req, std::string_view request_id);

struct HttpResponse {
  int status = 200;
  Headers headers;
  // Headers made once (a cached constant map), in place of `headers`.
  std::shared_ptr<const SharedHeaders> shared_headers;
  std::string body;
  // A streamed body: the function the handler put in :body, to be called
  // with the response stream. Nil otherwise.
  lisp::Value stream_fn;
};

// Reads a map of header names to values (strings, keywords, numbers, or a
// vector of them for a repeated header) into `out`, names lower-cased;
// nil is no headers. Returns false with a message naming `what` ("response
// header", "trailer") when a name or value is not one, or may not be sent.
bool read_headers(lisp::Value headers, const char* what, Headers* out, std::string* error);

// Reads a handler's result. Returns false with a message in *error when the
// value is not a valid response.
bool read_response(const HttpKeys& keys, ResponseHeaderCache& header_cache, lisp::Value result,
                   HttpResponse* out, std::string* error);

}  // namespace valk::serve
