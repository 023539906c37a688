#include "serve/http_map.h"

#include <algorithm>
#include <cstring>
#include <string_view>
#include <vector>

#include "lisp/collections.h"
#include "lisp/printer.h"
#include "lisp/utf8.h"
#include "net/stream.h"
#include "serve/header_cache.h"
#include "serve/request_body.h"
#include "util/ascii.h"

namespace valk::serve {

using lisp::Tag;
using lisp::Value;

HttpKeys::HttpKeys(lisp::Isolate& iso) : iso_(iso) {
  lisp::Heap& h = iso.heap();
  method = h.keyword("method");
  path = h.keyword("path");
  query_string = h.keyword("query-string");
  headers = h.keyword("headers");
  body = h.keyword("body");
  body_stream = h.keyword("body-stream");
  scheme = h.keyword("scheme");
  authority = h.keyword("authority");
  remote_addr = h.keyword("remote-addr");
  protocol = h.keyword("protocol");
  connect_protocol = h.keyword("connect-protocol");
  request_id = h.keyword("request-id");
  tls = h.keyword("tls");
  status = h.keyword("status");
  http = h.keyword("http");
  https = h.keyword("https");
  http10 = h.string(protocol_text(Protocol::kHttp10));
  http11 = h.string(protocol_text(Protocol::kHttp11));
  http2 = h.string(protocol_text(Protocol::kHttp2));
  keep_ = {method,      path,     query_string,    headers, body,   body_stream, scheme, authority,
           remote_addr, protocol, request_id,      tls,     status, http,        https,  http10,
           http11,      http2,    connect_protocol};
  for (const char* m : {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}) {
    methods.emplace_back(m, h.keyword(ascii_lowered(m)));
    keep_.push_back(methods.back().second);
  }
  lisp::Value request_keys[] = {method, path,      query_string, headers,  body,       body_stream,
                                scheme, authority, remote_addr,  protocol, request_id, tls};
  request_map = lisp::MapTemplate(h, request_keys, std::size(request_keys));
  keep_.push_back(request_map.proto());
  lisp::Value tls_keys[] = {h.keyword("version"), h.keyword("cipher"),  h.keyword("alpn"),
                            h.keyword("sni"),     h.keyword("resumed"), h.keyword("client-cert")};
  tls_map = lisp::MapTemplate(h, tls_keys, std::size(tls_keys));
  keep_.push_back(tls_map.proto());
  lisp::Value client_cert_keys[] = {h.keyword("subject"), h.keyword("verified"),
                                    h.keyword("chain")};
  client_cert_map = lisp::MapTemplate(h, client_cert_keys, std::size(client_cert_keys));
  keep_.push_back(client_cert_map.proto());
  // Sent by most clients on most requests; each request's map shares these
  // strings instead of making its own.
  for (const char* name : {"accept",
                           "accept-encoding",
                           "accept-language",
                           "authorization",
                           "cache-control",
                           "connection",
                           "content-length",
                           "content-type",
                           "cookie",
                           "dnt",
                           "forwarded",
                           "host",
                           "if-modified-since",
                           "if-none-match",
                           "origin",
                           "pragma",
                           "priority",
                           "range",
                           "referer",
                           "sec-ch-ua",
                           "sec-ch-ua-mobile",
                           "sec-ch-ua-platform",
                           "sec-fetch-dest",
                           "sec-fetch-mode",
                           "sec-fetch-site",
                           "sec-fetch-user",
                           "te",
                           "upgrade-insecure-requests",
                           "user-agent",
                           "x-forwarded-for",
                           "x-forwarded-host",
                           "x-forwarded-proto",
                           "x-real-ip",
                           "x-request-id"}) {
    lisp::Value v = h.string(name);
    common_names_[strlen(name)].push_back(v);
    keep_.push_back(v);
  }
  iso_.push_roots(&keep_);
}

lisp::Value HttpKeys::header_name(std::string_view name) const {
  if (name.size() > kMaxCommonName) {
    return Value::nil();
  }
  for (Value v : common_names_[name.size()]) {
    if (memcmp(static_cast<lisp::String*>(v.o)->data, name.data(), name.size()) == 0) {
      return v;
    }
  }
  return Value::nil();
}

HttpKeys::~HttpKeys() {
  iso_.pop_roots(&keep_);
}

namespace {

// Requests arrive with this many headers or fewer almost always; their
// keys and values are gathered on the stack.
constexpr size_t kInlineHeaders = 32;

Value method_keyword(lisp::Isolate& iso, const HttpKeys& k, std::string_view method) {
  for (const auto& [name, keyword] : k.methods) {
    if (method == name) {
      return keyword;
    }
  }
  return iso.heap().keyword(ascii_lowered(method));
}

}  // namespace

HttpRequest::HttpRequest(Request& req) : protocol(req.protocol()), upgrade(req.upgrade_offered()) {
  std::string_view parts[] = {req.method(), req.path(), req.query(),           req.authority(),
                              req.scheme(), req.peer(), req.connect_protocol()};
  size_t size = 0;
  for (std::string_view p : parts) {
    size += p.size();
  }
  for (const HeaderView& h : req.headers()) {
    size += h.name.size() + h.value.size();
  }
  const TlsInfo* t = req.tls();
  if (t != nullptr) {
    size += t->version.size() + t->cipher.size() + t->alpn.size() + t->sni.size() +
            t->client_subject.size();
    for (const std::string& pem : t->client_chain_pem) {
      size += pem.size();
    }
  }
  // Sized once, so the views stay valid; filled with plain copies.
  text.resize(size);
  char* out = text.data();
  auto copy = [&out](std::string_view from) {
    if (from.empty()) {
      return std::string_view();  // its data() may be null: no memcpy
    }
    memcpy(out, from.data(), from.size());
    std::string_view view(out, from.size());
    out += from.size();
    return view;
  };
  method = copy(parts[0]);
  path = copy(parts[1]);
  query = copy(parts[2]);
  authority = copy(parts[3]);
  scheme = copy(parts[4]);
  peer = copy(parts[5]);
  connect_protocol = copy(parts[6]);
  headers.reserve(req.headers().size());
  const char* header_start = out;
  for (const HeaderView& h : req.headers()) {
    std::string_view name = copy(h.name);
    headers.emplace_back(name, copy(h.value));
  }
  header_text = std::string_view(header_start, static_cast<size_t>(out - header_start));
  if (t != nullptr) {
    tls.emplace();
    tls->version = copy(t->version);
    tls->cipher = copy(t->cipher);
    tls->alpn = copy(t->alpn);
    tls->sni = copy(t->sni);
    tls->client_subject = copy(t->client_subject);
    tls->resumed = t->session_reused;
    tls->client_cert_present = t->client_cert_present;
    tls->client_cert_verified = t->client_cert_verified;
    for (const std::string& pem : t->client_chain_pem) {
      tls->client_chain.push_back(copy(pem));
    }
  }
}

std::string HttpRequest::line() const {
  std::string out(method);
  out += ' ';
  out += path;
  return out;
}

namespace {

// :tls {:version "TLSv1.3" :cipher "..." :alpn "h2" :sni "example.com"
// :resumed false :client-cert {:subject "CN=..." :verified true :chain
// ["-----BEGIN CERTIFICATE-----..."]}}; :alpn and :sni nil when the client
// sent none, :client-cert nil without one.
Value tls_value(lisp::Heap& h, const HttpKeys& k, RecentStrings& recent, const RequestTls& t) {
  auto text_or_nil = [&](std::string_view s) { return s.empty() ? Value::nil() : recent.get(s); };
  Value client_cert;
  if (t.client_cert_present) {
    std::vector<Value> chain;  // collections run only at the VM's safe points
    for (std::string_view pem : t.client_chain) {
      chain.push_back(h.string(pem));
    }
    Value cert[] = {recent.get(t.client_subject), Value::boolean(t.client_cert_verified),
                    lisp::vector_from(h, chain.data(), chain.size())};
    client_cert = k.client_cert_map.make(h, cert);
  }
  Value values[] = {recent.get(t.version), recent.get(t.cipher),      text_or_nil(t.alpn),
                    text_or_nil(t.sni),    Value::boolean(t.resumed), client_cert};
  return k.tls_map.make(h, values);
}

Value make_headers_map(lisp::Heap& h, const HttpKeys& k, RecentStrings& recent,
                       const HeaderList& in) {
  // Repeated headers are joined as HTTP allows (", ", cookies "; "), then
  // the map is built in one step rather than one assoc per header. Only a
  // repeated name builds a joined copy; the rest go straight to the heap.
  Value inline_kvs[2 * kInlineHeaders];
  std::vector<Value> heap_kvs;
  Value* header_kvs = inline_kvs;
  if (in.size() > kInlineHeaders) {
    heap_kvs.resize(2 * in.size());
    header_kvs = heap_kvs.data();
  }
  size_t n_kvs = 0;
  std::string joined;
  for (size_t i = 0; i < in.size(); i++) {
    std::string_view name = in[i].first;
    auto same = [&](const auto& e) { return e.first == name; };
    if (std::find_if(in.begin(), in.begin() + static_cast<ptrdiff_t>(i), same) !=
        in.begin() + static_cast<ptrdiff_t>(i)) {
      continue;  // joined into its first occurrence
    }
    auto next = std::find_if(in.begin() + static_cast<ptrdiff_t>(i) + 1, in.end(), same);
    Value shared = k.header_name(name);
    header_kvs[n_kvs++] = shared.is_nil() ? recent.get(name) : shared;
    if (next == in.end()) {
      header_kvs[n_kvs++] = recent.get(in[i].second);
      continue;
    }
    const char* sep = name == "cookie" ? "; " : ", ";
    joined = in[i].second;
    for (; next != in.end(); next = std::find_if(next + 1, in.end(), same)) {
      joined += sep;
      joined += next->second;
    }
    header_kvs[n_kvs++] = h.string(joined);
  }
  return lisp::map_from(h, header_kvs, n_kvs / 2);
}

}  // namespace

Value make_request_map(lisp::Isolate& iso, const HttpKeys& k, RecentRequestParts& recent,
                       const HttpRequest& req, std::string_view request_id) {
  lisp::Heap& h = iso.heap();
  Value headers = recent.headers.get(req.headers, req.header_text);
  if (headers.is_nil()) {
    headers = make_headers_map(h, k, recent.strings, req.headers);
    recent.headers.put(req.headers, req.header_text, headers);
  }
  Value body, body_stream;
  if (!req.body.empty()) {
    body = body_value(h, req.body);
  }
  if (!req.body.empty() || req.body_pipe != nullptr) {
    auto* b = h.make_class<RequestBody>(Tag::Internal, &kRequestBodyClass);
    b->id = req.id;
    b->streamed = req.body_pipe != nullptr;
    b->rest = body;
    body_stream = val(b);
  }
  Value tls;
  if (req.tls && !recent.tls.find(*req.tls, &tls)) {
    tls = tls_value(h, k, recent.strings, *req.tls);
    recent.tls.put(*req.tls, tls);
  }
  // In the order of HttpKeys::request_map's keys. An HTTP/2 extended
  // CONNECT (RFC 8441) asks for what an HTTP/1.1 GET with an Upgrade asks
  // for, and is one to the app: routed, checked and proxied as such, its
  // :connect-protocol telling it apart.
  Value values[] = {
      method_keyword(iso, k, req.connect_protocol.empty() ? req.method : "GET"),
      recent.strings.get(req.path),
      req.query.empty() ? Value::nil() : recent.strings.get(req.query),
      headers,
      body,
      body_stream,
      req.scheme == "https" ? k.https : k.http,
      recent.strings.get(req.authority),
      recent.strings.get(req.peer),
      k.protocol_name(req.protocol),
      h.string(request_id),
      tls,
  };
  Value m = k.request_map.make(h, values);
  if (!req.connect_protocol.empty()) {
    m = lisp::map_assoc(h, m, k.connect_protocol, h.string(req.connect_protocol));
  }
  return m;
}

namespace {

bool header_text(Value v, std::string* out) {
  switch (v.tag) {
    case Tag::String:
      *out = std::string(static_cast<lisp::String*>(v.o)->view());
      return true;
    case Tag::Keyword:
    case Tag::Symbol:
      *out = std::string(static_cast<lisp::Symbol*>(v.o)->name->view());
      return true;
    case Tag::Int:
    case Tag::Double:
      *out = lisp::print_str(v, false);
      return true;
    default:
      return false;
  }
}

}  // namespace

bool read_headers(Value headers, const char* what, Headers* out, std::string* error) {
  if (headers.is_nil()) {
    return true;
  }
  if (!headers.is(Tag::Map)) {
    *error = std::string(what) + "s must be a map, got " + lisp::print_str(headers, true);
    return false;
  }
  bool ok = true;
  out->reserve(out->size() + lisp::map_count(headers));
  lisp::map_each(headers, [&](Value name, Value value) {
    std::string n, v;
    if (!header_text(name, &n)) {
      *error =
          std::string("a ") + what + " name must be a string, got " + lisp::print_str(name, true);
      ok = false;
      return false;
    }
    lower_in_place(n);
    if (value.is(Tag::Vector)) {
      lisp::vector_each(value, [&](Value item) {
        if (!header_text(item, &v)) {
          *error = std::string("the value of ") + what + " " + n + " must be a string";
          ok = false;
          return false;
        }
        out->push_back({n, v});
        return true;
      });
      return ok;
    }
    if (!header_text(value, &v)) {
      *error = std::string("the value of ") + what + " " + n + " must be a string, got " +
               lisp::print_str(value, true);
      ok = false;
      return false;
    }
    out->push_back({std::move(n), std::move(v)});
    return true;
  });
  if (!ok) {
    return false;
  }
  for (const Header& h : *out) {
    if (std::string problem = net::header_problem(h); !problem.empty()) {
      *error = problem;
      return false;
    }
  }
  return true;
}

bool read_response(const HttpKeys& k, ResponseHeaderCache& header_cache, Value result,
                   HttpResponse* out, std::string* error) {
  if (result.is_nil()) {
    out->status = 404;
    out->headers = {{"content-type", "text/plain; charset=utf-8"}};
    out->body = "Not Found\n";
    return true;
  }
  if (result.is(Tag::String)) {
    out->status = 200;
    out->headers = {{"content-type", "text/plain; charset=utf-8"}};
    out->body = std::string(static_cast<lisp::String*>(result.o)->view());
    return true;
  }
  if (!result.is(Tag::Map)) {
    *error = "a handler returned " + std::string(lisp::type_name(result)) +
             ", expected a response map, a string or nil";
    return false;
  }
  Value status;
  if (lisp::map_find(result, k.status, &status)) {
    if (!status.is_int() || ((status.i < 200 || status.i > 999) && status.i != 101)) {
      *error = "the response :status must be 101 or an integer from 200 to 999, got " +
               lisp::print_str(status, true);
      return false;
    }
    out->status = static_cast<int>(status.i);
  }
  Value headers;
  if (lisp::map_find(result, k.headers, &headers)) {
    out->shared_headers = header_cache.find(headers);
    if (out->shared_headers == nullptr && !header_cache.read(headers, &out->headers, error)) {
      return false;
    }
  }
  Value body;
  if (lisp::map_find(result, k.body, &body)) {
    if (body.is(Tag::String)) {
      out->body = std::string(static_cast<lisp::String*>(body.o)->view());
    } else if (body.is(Tag::Bytes)) {
      auto* b = static_cast<lisp::Bytes*>(body.o);
      out->body.assign(reinterpret_cast<const char*>(b->data), b->size);
    } else if (body.is(Tag::Closure) || body.is(Tag::Native)) {
      out->stream_fn = body;
    } else if (!body.is_nil()) {
      *error = "the response :body must be a string, bytes, a function or nil, got " +
               std::string(lisp::type_name(body));
      return false;
    }
  }
  if (out->status == 101 && out->stream_fn.is_nil()) {
    *error = "a 101 response needs a :body function, the upgraded connection's writer";
    return false;
  }
  return true;
}

}  // namespace valk::serve
