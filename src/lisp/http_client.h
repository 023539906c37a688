// Outgoing HTTP on an isolate's libuv loop: libcurl's multi interface,
// driven by the loop (a uv_poll_t per socket curl watches, one uv_timer_t
// for curl's timeouts), so thousands of transfers run at once on the
// isolate's thread without blocking it. Connections are kept and reused
// between transfers, and HTTP/2 ones are shared by concurrent transfers to
// the same origin. curl watches no idle connection and stops its timer when
// no transfer runs, so kept connections do not keep the loop alive (a
// script ends with its last transfer).
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

#include "lisp/isolate.h"

namespace valk::lisp {

// One transfer: a configured easy handle and what to do when it ends.
struct HttpTransfer {
  virtual ~HttpTransfer() = default;
  // The transfer ended with `result` (CURLE_OK: a response came, whatever
  // its status). Called on the loop's thread, outside curl's callbacks,
  // once the handle has left the multi handle; the callee owns `easy` then.
  virtual void finished(CURLcode result) = 0;
  CURL* easy = nullptr;
  // "scheme://host:port" of its URL: the transfers to one origin that run
  // at once are bounded.
  std::string origin;
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
  // Tells curl about activity on `fd` (or a timeout), then calls back the
  // transfers that ended.
  void drive(curl_socket_t fd, int events);
  bool add(HttpTransfer* t);     // into curl
  void remove(HttpTransfer* t);  // out of curl
  // Starts what waits for `origin` while there is room.
  void start_waiting(const std::string& origin);
  void close_watch(Watch* w);

  uv_loop_t* loop_;
  CURLM* multi_;
  uv_timer_t* timer_;  // freed by its close callback, which may outlive this
  struct Origin {
    size_t running = 0;  // in curl
    std::deque<HttpTransfer*> waiting;
  };
  std::unordered_set<HttpTransfer*> running_;        // in curl
  std::unordered_map<std::string, Origin> origins_;  // with one running or waiting
  std::unordered_set<Watch*> watches_;
};

}  // namespace valk::lisp
