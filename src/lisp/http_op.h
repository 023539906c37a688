// One http/request (builtins_http.cc) from the call to its end: the URL
// and what the options ask for, the client that carries it (the own
// HTTP/1.1 client or libcurl, and a redirect may take it from one to the
// other), the response map, and with :as :stream the body as it comes.
// Its parts live in a file each:
//   http_op.cc         the URL, starting, redirects, the own client's side,
//                      the response map
//   http_op_curl.cc    libcurl's side
//   http_op_stream.cc  :as :stream (the BodySource of http_body.h), and the
//                      writes of :as :upgrade
//   http_op_upload.cc  :body as a function, which writes the body as the
//                      request goes
#pragma once

#include <curl/curl.h>
#include <uv.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "lisp/h1_client.h"
#include "lisp/http_body.h"
#include "lisp/http_client.h"
#include "lisp/http_options.h"
#include "lisp/isolate.h"

namespace valk::lisp {

// The keywords http/request looks for and makes, interned once per isolate
// and rooted (a keyword nothing refers to is collected).
struct HttpRequestKeys final : LoopResource {
  explicit HttpRequestKeys(Isolate& iso) {
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

struct HttpOp;

// What a :body function is given to write to with http/write; it writes to
// nothing once its request has ended.
struct BodyWriter : ClassObj {
  HttpOp* op;
};

// `v` as a BodyWriter, or nullptr.
BodyWriter* body_writer_of(Value v);

struct HttpOp final : PendingOp, HttpTransfer, H1Exchange, BodySource {
  Isolate* iso = nullptr;
  const HttpRequestKeys* keys = nullptr;
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
  BodyFeed* feed = nullptr;        // from the head on; nullptr once its HttpBody is collected
  uint32_t reader_slot = kNoSlot;  // the HttpBody a fiber waits on, rooted meanwhile
  bool reader_whole = false;       // ... with read-body
  bool paused = false;             // past BodyFeed::kHighWater
  // :as :upgrade, once a 101 gave the connection to the op, or a :body
  // function: the promise a fiber waits on in http/write while too much is
  // unsent, rooted.
  uint32_t writer_slot = kNoSlot;
  // :body as a function: the fiber that runs it (its result promise,
  // rooted while it runs), the reaction told when it ends, and the
  // writer it was given (rooted while the op lives).
  uint32_t upload_slot = kNoSlot;
  NativeReaction* upload_done = nullptr;
  uint32_t upload_writer_slot = kNoSlot;
  std::string upload_held;  // written; not yet taken by a connection or curl
  size_t upload_taken = 0;  // ... the part of it curl took
  uint64_t upload_written = 0;
  bool upload_ended = false;  // the function returned: the body is whole
  bool upload_cut = false;    // curl's: the server refused it (cut_upload)
  bool send_paused = false;   // curl waits for more of it
  // curl's
  curl_slist* headers = nullptr;
  std::string body;
  bool too_large = false;
  char error[CURL_ERROR_SIZE] = {};

  std::string describe() const override { return "http/request " + url; }

  bool streaming() const {
    return spec.as == http::BodyAs::kStream || spec.as == http::BodyAs::kUpgrade;
  }

  ~HttpOp() override;

  void cancel() override;
  // Stops the transfer in whichever client has it.
  void stop();

  // Takes `u` (parsed, http or https) as the URL to ask next.
  void set_url(CURLU* u);
  // Takes `text` as the URL if it is a plain http:// one that
  // http_parser reads (which costs a fraction of curl's parser); false
  // leaves it to curl.
  bool set_plain_url(const std::string& text);
  // Takes `text` as the URL to ask; false if it is not an http:// or
  // https:// one. Checked at the call, so that a bad URL is an error there.
  bool take_url(const std::string& text);
  // curl's parse of the URL, for curl or to resolve a redirect against.
  CURLU* curl_parsed();
  // Milliseconds left of :timeout-ms (at least 1), or 0 for no limit.
  uint64_t time_left() const;
  bool takes_own_client() const;
  // Hands the request to the client for its URL; false if curl refused it.
  bool start();

  // Makes the op's timer, and starts the deadline on it, but with a :body
  // function, whose deadline counts from the body's end (upload_finished).
  void arm_timeout();
  // Starts the timer on what is left of :timeout-ms.
  void start_deadline();
  void start_own();
  bool start_curl();
  void finished(CURLcode result) override;  // curl's
  void recheck() override;
  void answered(H1ResponseReader& response) override;
  void failed(std::string_view kind, const std::string& why) override;
  void head_arrived(const H1ResponseReader& response) override;
  bool body_arrived(std::string_view part) override;
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
           feed->bytes.unread() >= BodyFeed::kHighWater;
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

  // ---- :as :upgrade ----
  // Unsent bytes past which http/write waits, and to which it waits.
  static constexpr size_t kWriteHighWater = 64 * 1024;
  static constexpr size_t kWriteLowWater = 16 * 1024;
  // (http/write r data): the value, or the raised error or park sentinel.
  Value write(std::string data);
  void written(size_t pending) override;
  // Parks the writing fiber until the unsent bytes are few again.
  Value park_writer();
  // Settles a waiting writer: on, or with `error` (not nil) raised.
  void release_writer(Value error);
  // Ends the request with an :http-error of `kind`, counted.
  void fail(std::string_view kind, const std::string& why);

  // ---- :body as a function (http_op_upload.cc) ----
  // Starts the function in a fiber of its own, given a BodyWriter.
  void start_upload();
  // (http/write writer data): the value, or the raised error or park
  // sentinel.
  Value upload_write(std::string_view data);
  void body_sendable() override;
  // curl's read callback: up to `room` bytes of the body into `out`.
  size_t upload_read(char* out, size_t room);
  // curl's: the server answered with a refusal before the body ended;
  // the body ends here, and what the function writes on is dropped (the
  // request ends, and the function's fiber with it, once the answer came).
  void cut_upload();
  // The function's fiber ended, as `p` says.
  void upload_finished(Promise* p);
  // Ends what the op holds of the upload (from its destructor): the
  // writer writes to nothing, and a fiber still running is cancelled.
  void end_upload();
  // Pauses or resumes curl's two directions as `paused` and `send_paused`
  // say.
  void curl_pause_as_flagged();
  // curl's upload goes on if it waited for more of the body.
  void resume_send();
};

bool is_redirect(int status);
// What http/write raises on a connection that ended (http_op_stream.cc).
Value write_on_closed(Isolate& iso, const std::string& url);
// The response's headers as a map (see http_op.cc).
Value headers_map(Heap& h, const http::HeaderList& lowered, bool decoded);
// The parts of a curl response (http_op_curl.cc).
http::HeaderList curl_headers(CURL* easy);
const char* curl_protocol(CURL* easy);
bool curl_decoded(const http::RequestSpec& spec, const http::HeaderList& headers);

}  // namespace valk::lisp
