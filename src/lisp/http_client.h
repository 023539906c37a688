// Outgoing HTTP on an isolate's libuv loop: libcurl's multi interface,
// driven by the loop (a uv_poll_t per socket curl watches, one uv_timer_t
// for curl's timeouts, and a uv_idle_t for the transfers read again), so
// thousands of transfers run at once on the isolate's thread without
// blocking it. Connections are kept and reused between transfers, and
// HTTP/2 ones are shared by concurrent transfers to the same origin. curl
// watches no idle connection and stops its timer when no transfer runs,
// so kept connections do not keep the loop alive (a script ends with its
// last transfer).
//
// This layer knows nothing of Lisp values: http_op_curl.cc configures each
// transfer's CURL handle and turns its outcome into a response map.
#pragma once

#include <curl/curl.h>
#include <uv.h>

#include <deque>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "lisp/isolate.h"

namespace valk::lisp {

// One transfer: a configured easy handle and what to do when it ends.
struct HttpTransfer {
  virtual ~HttpTransfer() = default;
  // The transfer ended with `result` (CURLE_OK: a response came, whatever
  // its status). Called on the loop's thread, outside curl's callbacks,
  // once the handle has left the multi handle; the callee owns `easy` then.
  virtual void finished(CURLcode result) = 0;
  // Has curl look for its bytes when it next runs, in the socket and in
  // what it holds already, as for a transfer resumed (HttpClient's
  // read_again_); nothing while its write callback has paused it.
  virtual void recheck() = 0;
  CURL* easy = nullptr;
  // "scheme://host:port" of its URL: the transfers to one origin that run
  // at once are bounded.
  std::string origin;
  bool read_again = false;  // HttpClient's: in its read_again_
};

class HttpClient : public LoopResource {
 public:
  explicit HttpClient(uv_loop_t* loop);
  ~HttpClient() override;
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // Starts `t`, or queues it behind others if enough to its origin run;
  // false (with nothing started) when curl refuses the handle.
  bool start(HttpTransfer* t);
  // Stops `t` if it runs or waits; `finished` is not called.
  void abort(HttpTransfer* t);
  // Body bytes came for `t` (from its write callback). Before curl 8.4,
  // curl's HTTP/2 may keep bytes it has read from the socket and not come
  // back for them (see read_again_): such a transfer is read again on the
  // next turn, for as long as that gives it more.
  void received(HttpTransfer* t) {
    if (rereads_ && !t->read_again) {
      queue_read_again(t);
    }
  }
  // Drops the transfers still running or waiting without calling them back
  // (their owners clean up their handles) and closes every connection; at
  // the isolate's end.
  void close() override;

 private:
  struct Watch;
  static int on_socket(CURL* easy, curl_socket_t fd, int what, void* client, void* watch);
  static int on_timer_change(CURLM* multi, long timeout_ms, void* client);
  static void on_poll(uv_poll_t* poll, int status, int events);
  static void on_timer(uv_timer_t* timer);
  static void on_idle(uv_idle_t* idle);
  // Tells curl about activity on `fd` (or a timeout), then calls back the
  // transfers that ended.
  void drive(curl_socket_t fd, int events);
  void queue_read_again(HttpTransfer* t);
  bool add(HttpTransfer* t);     // into curl
  void remove(HttpTransfer* t);  // out of curl
  // Starts what waits for `origin` while there is room.
  void start_waiting(const std::string& origin);
  void close_watch(Watch* w);

  uv_loop_t* loop_;
  CURLM* multi_;
  uv_timer_t* timer_;  // freed by its close callback, which may outlive this
  // Rechecks read_again_ on the next turn. Freed like timer_.
  uv_idle_t* idle_;
  // Transfers to read again on the next turn (HttpTransfer::recheck).
  // curl 7.88's HTTP/2 hands a transfer the part of a DATA frame it held
  // back (when the transfer's buffer was full) without asking to be run
  // again; its read loop goes on only while the socket is readable, and
  // what it had read into its connection buffer after that frame waits,
  // with nothing left in the socket to wake it, until curl's next timeout
  // (10 s) or the server's next bytes. (Which socket a transfer is on
  // cannot be asked of curl 7.88 while it runs.)
  std::vector<HttpTransfer*> read_again_;
  bool rereads_;  // curl is one that needs it
  struct Origin {
    size_t running = 0;  // in curl
    std::deque<HttpTransfer*> waiting;
  };
  std::unordered_set<HttpTransfer*> running_;        // in curl
  std::unordered_map<std::string, Origin> origins_;  // with one running or waiting
  std::unordered_set<Watch*> watches_;
};

}  // namespace valk::lisp
