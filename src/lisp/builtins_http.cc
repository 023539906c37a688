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
//   :body                a string or bytes to send, or a function that
//                        writes it (http_op_upload.cc)
//   :json                a value to send as JSON (sets content-type)
//   :as                  :auto (default: a string if the body is UTF-8,
//                        else bytes), :text, :bytes, :json, :stream (the
//                        promise settles at the head; the body is read as it
//                        comes, with read-chunk or read-body: http_body.h),
//                        or :upgrade (as :stream, asking to switch protocols
//                        with the caller's Upgrade header; after a 101 the
//                        body is what the server sends, and http/write sends
//                        to it; plain http:// only)
//   :timeout-ms          the whole transfer (with :stream, until the head;
//                        with a :body function, from the body's end),
//                        30 000 by default
//   :connect-timeout-ms  10 000 by default
//   :read-timeout-ms     with :stream or :upgrade, the longest a read waits for body
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
#include <string>

#include "lisp/builtins.h"
#include "lisp/http_op.h"

namespace valk::lisp {
namespace {

Value n_http_request(Isolate& iso, Value* args, int) {
  if (!args[0].is(Tag::Map)) {
    return iso.type_error("http/request", "an options map", args[0]);
  }
  auto* op = new HttpOp();
  op->iso = &iso;
  op->keys = static_cast<const HttpRequestKeys*>(iso.current_native()->data);
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
  if (op->spec.as == http::BodyAs::kUpgrade && !op->takes_own_client()) {
    delete op;
    return iso.raise_error("type-error",
                           "http/request: :as :upgrade goes over HTTP/1.1 (an http:// or https:// "
                           "URL, no proxy, no user in it, not :version :http2), not " +
                               url);
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
  if (op->spec.body_streams) {
    op->start_upload();
  }
  return val(p);
}

// (http/close response): stops reading a streamed response's body (:as
// :stream), closing its connection; reads then raise :closed. Nil; of a
// response whose body came whole, nothing.
Value n_http_close(Isolate& iso, Value* args, int) {
  auto* keys = static_cast<const HttpRequestKeys*>(iso.current_native()->data);
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
  feed.bytes.clear();
  return Value::nil();
}

// (http/write to data): sends a string or bytes as part of a request's
// body, `to` being what a :body function is given; or on the connection
// that a 101 answering :as :upgrade gave over, `to` being the response.
// Waits while more than 64 KiB written is unsent; raises an :http-error
// once the connection or the request ended.
Value n_http_write(Isolate& iso, Value* args, int) {
  auto* keys = static_cast<const HttpRequestKeys*>(iso.current_native()->data);
  std::string_view data;
  if (!text_or_bytes(args[1], &data)) {
    return iso.type_error("http/write", "a string or bytes", args[1]);
  }
  if (BodyWriter* w = body_writer_of(args[0])) {
    if (w->op == nullptr) {
      return iso.raise(http_error(iso, "closed", "http/write: the request has ended", ""));
    }
    return data.empty() ? Value::nil() : w->op->upload_write(data);
  }
  HttpBody* b = http_body_of(args[0], keys->body_stream);
  if (b == nullptr) {
    return iso.type_error("http/write", "a :body function's writer or a response of :as :upgrade",
                          args[0]);
  }
  if (!b->feed->upgraded) {
    return iso.type_error("http/write", "a response of :as :upgrade whose status is 101", args[0]);
  }
  // The only BodySource is an HttpOp.
  auto* op = static_cast<HttpOp*>(b->feed->source);
  if (op == nullptr) {
    return write_on_closed(iso, b->feed->url);
  }
  if (data.empty()) {
    return Value::nil();
  }
  return op->write(std::string(data));
}

// (http/body-complete? response): the whole body of a streamed response
// (:as :stream) has come, and read-body would return it at once; false
// while it comes, after a failure, or of a response not streamed.
Value n_http_body_complete(Isolate& iso, Value* args, int) {
  auto* keys = static_cast<const HttpRequestKeys*>(iso.current_native()->data);
  HttpBody* b = http_body_of(args[0], keys->body_stream);
  return Value::boolean(b != nullptr && b->feed->ended && b->feed->error_kind.empty() &&
                        !b->chunk_taken);
}

}  // namespace

void register_http_natives(Isolate& iso) {
  void* keys = iso.keep(std::make_unique<HttpRequestKeys>(iso));
  iso.define_native("http/request", n_http_request, 1, 1, keys);
  iso.define_native("http/close", n_http_close, 1, 1, keys);
  iso.define_native("http/body-complete?", n_http_body_complete, 1, 1, keys);
  iso.define_native("http/write", n_http_write, 2, 2, keys);
}

}  // namespace valk::lisp
