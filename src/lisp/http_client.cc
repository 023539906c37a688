#include "lisp/http_client.h"

#include <algorithm>
#include <mutex>
#include <vector>

namespace valk::lisp {

// A socket curl asked to watch, and the poll handle watching it.
struct HttpClient::Watch {
  uv_poll_t poll;
  curl_socket_t fd;
  HttpClient* client;
  int events;  // what curl asked to watch for
};

namespace {

// Transfers to one origin in curl at once; more wait in HttpClient, first
// come first served. curl's cost per transfer grows with the connections
// it keeps to the origin, which it searches for each new transfer
// (bench/serve/gateway.sh: 58 µs of CPU a request with 256 at once, 40
// with 64); an HTTP/1.1 one holds a descriptor of the process's; and an
// upstream is spared a flood.
constexpr size_t kMaxPerOrigin = 64;

constexpr unsigned kAbortResetFlushed = 0x080f00;  // curl 8.15.0
// curl's HTTP/2 receive path was rewritten in 8.1, and its handling of
// paused and drained transfers fixed up to 8.4 (curl PRs 11005, 11989).
constexpr unsigned kH2ReadsWhatItHolds = 0x080400;  // curl 8.4.0

void init_curl_once() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

}  // namespace

HttpClient::HttpClient(uv_loop_t* loop)
    : loop_(loop), timer_(new uv_timer_t), idle_(new uv_idle_t) {
  init_curl_once();
  rereads_ = curl_version_info(CURLVERSION_NOW)->version_num < kH2ReadsWhatItHolds;
  multi_ = curl_multi_init();
  curl_multi_setopt(multi_, CURLMOPT_SOCKETFUNCTION, on_socket);
  curl_multi_setopt(multi_, CURLMOPT_SOCKETDATA, this);
  curl_multi_setopt(multi_, CURLMOPT_TIMERFUNCTION, on_timer_change);
  curl_multi_setopt(multi_, CURLMOPT_TIMERDATA, this);
  uv_timer_init(loop_, timer_);
  timer_->data = this;
  uv_idle_init(loop_, idle_);
  idle_->data = this;
}

HttpClient::~HttpClient() {
  close();
}

void HttpClient::close() {
  if (multi_ == nullptr) {
    return;
  }
  for (HttpTransfer* t : running_) {
    curl_multi_remove_handle(multi_, t->easy);
  }
  running_.clear();
  origins_.clear();
  read_again_.clear();
  curl_multi_cleanup(multi_);  // may still call on_socket, to remove sockets
  multi_ = nullptr;
  for (Watch* w : std::vector<Watch*>(watches_.begin(), watches_.end())) {
    close_watch(w);
  }
  uv_timer_stop(timer_);
  uv_close(reinterpret_cast<uv_handle_t*>(timer_),
           [](uv_handle_t* h) { delete reinterpret_cast<uv_timer_t*>(h); });
  uv_idle_stop(idle_);
  uv_close(reinterpret_cast<uv_handle_t*>(idle_),
           [](uv_handle_t* h) { delete reinterpret_cast<uv_idle_t*>(h); });
}

bool HttpClient::start(HttpTransfer* t) {
  Origin& o = origins_[t->origin];
  if (o.running >= kMaxPerOrigin) {
    o.waiting.push_back(t);
    return true;
  }
  if (!add(t)) {
    start_waiting(t->origin);  // forgets the origin if nothing else is there
    return false;
  }
  return true;
}

void HttpClient::abort(HttpTransfer* t) {
  std::string origin = t->origin;  // `t` may go before this returns
  if (running_.count(t) != 0) {
    if (curl_version_info(CURLVERSION_NOW)->version_num < kAbortResetFlushed) {
      // curl 7.88 to 8.14 queue an aborted HTTP/2 stream's RST_STREAM and
      // send it with the connection's next frame (curl issue 17611): on a
      // connection nothing else uses, never, and the server goes on
      // answering. Such a connection is closed instead.
      curl_easy_setopt(t->easy, CURLOPT_FORBID_REUSE, 1L);
    }
    remove(t);
  } else if (auto o = origins_.find(origin); o != origins_.end()) {
    auto it = std::find(o->second.waiting.begin(), o->second.waiting.end(), t);
    if (it != o->second.waiting.end()) {
      o->second.waiting.erase(it);
    }
  }
  start_waiting(origin);
}

bool HttpClient::add(HttpTransfer* t) {
  curl_easy_setopt(t->easy, CURLOPT_PRIVATE, t);
  if (curl_multi_add_handle(multi_, t->easy) != CURLM_OK) {
    return false;
  }
  running_.insert(t);
  origins_[t->origin].running++;
  return true;
}

void HttpClient::remove(HttpTransfer* t) {
  running_.erase(t);
  if (t->read_again) {
    t->read_again = false;
    read_again_.erase(std::find(read_again_.begin(), read_again_.end(), t));
  }
  curl_multi_remove_handle(multi_, t->easy);
  origins_[t->origin].running--;
}

void HttpClient::start_waiting(const std::string& origin) {
  auto it = origins_.find(origin);
  if (it == origins_.end()) {
    return;
  }
  Origin& o = it->second;
  while (!o.waiting.empty() && o.running < kMaxPerOrigin) {
    HttpTransfer* t = o.waiting.front();
    o.waiting.pop_front();
    if (!add(t)) {
      t->finished(CURLE_FAILED_INIT);
    }
  }
  if (o.running == 0 && o.waiting.empty()) {
    origins_.erase(it);
  }
}

int HttpClient::on_socket(CURL*, curl_socket_t fd, int what, void* client, void* watch) {
  auto* self = static_cast<HttpClient*>(client);
  auto* w = static_cast<Watch*>(watch);
  if (what == CURL_POLL_REMOVE) {
    if (w != nullptr) {
      self->close_watch(w);
      curl_multi_assign(self->multi_, fd, nullptr);
    }
    return 0;
  }
  if (w == nullptr) {
    w = new Watch{{}, fd, self, 0};
    uv_poll_init_socket(self->loop_, &w->poll, fd);
    w->poll.data = w;
    self->watches_.insert(w);
    curl_multi_assign(self->multi_, fd, w);
  }
  int events = 0;
  if (what & CURL_POLL_IN) {
    events |= UV_READABLE;
  }
  if (what & CURL_POLL_OUT) {
    events |= UV_WRITABLE;
  }
  w->events = events;
  uv_poll_start(&w->poll, events, on_poll);
  return 0;
}

int HttpClient::on_timer_change(CURLM*, long timeout_ms, void* client) {
  auto* self = static_cast<HttpClient*>(client);
  if (timeout_ms < 0) {
    uv_timer_stop(self->timer_);
  } else {
    // Zero too goes through the loop: curl may not be called back into
    // from its own callback.
    uv_timer_start(self->timer_, on_timer, static_cast<uint64_t>(timeout_ms), 0);
  }
  return 0;
}

void HttpClient::on_poll(uv_poll_t* poll, int status, int events) {
  auto* w = static_cast<Watch*>(poll->data);
  HttpClient* client = w->client;
  int flags = 0;
  if (status < 0) {
    // An error on the socket (a reset, say): curl reads and writes to
    // learn of it, and first reads what came before it, as a server's
    // answer to a request whose body it did not take.
    flags = CURL_CSELECT_IN | CURL_CSELECT_OUT;
  } else {
    if (events & UV_READABLE) {
      flags |= CURL_CSELECT_IN;
    }
    if (events & UV_WRITABLE) {
      flags |= CURL_CSELECT_OUT;
    }
  }
  client->drive(w->fd, flags);
  if (status < 0 && client->watches_.count(w) != 0) {
    uv_poll_start(&w->poll, w->events, on_poll);  // libuv stopped at the error
  }
}

void HttpClient::on_timer(uv_timer_t* timer) {
  static_cast<HttpClient*>(timer->data)->drive(CURL_SOCKET_TIMEOUT, 0);
}

void HttpClient::on_idle(uv_idle_t* idle) {
  auto* self = static_cast<HttpClient*>(idle->data);
  uv_idle_stop(idle);
  // A transfer rechecked asks curl to run at once (its 0 ms timer). One
  // that is given more then is read again on the next turn (received());
  // one that is not waits for its socket, or a resumption, as usual.
  std::vector<HttpTransfer*> rechecked;
  rechecked.swap(self->read_again_);
  for (HttpTransfer* t : rechecked) {
    t->read_again = false;
    long version = 0;
    curl_easy_getinfo(t->easy, CURLINFO_HTTP_VERSION, &version);
    if (version == CURL_HTTP_VERSION_2_0) {
      t->recheck();
    }
  }
}

void HttpClient::queue_read_again(HttpTransfer* t) {
  t->read_again = true;
  read_again_.push_back(t);
  uv_idle_start(idle_, on_idle);
}

void HttpClient::drive(curl_socket_t fd, int events) {
  int still_running = 0;
  curl_multi_socket_action(multi_, fd, events, &still_running);
  // Collected first: a transfer's callback may abort or start others.
  struct Ended {
    HttpTransfer* transfer;
    CURL* easy;
    CURLcode result;
  };
  std::vector<Ended> ended;
  int left = 0;
  while (CURLMsg* m = curl_multi_info_read(multi_, &left)) {
    if (m->msg == CURLMSG_DONE) {
      HttpTransfer* t = nullptr;
      curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, &t);
      ended.push_back({t, m->easy_handle, m->data.result});
    }
  }
  for (const Ended& e : ended) {
    // Skipped if an earlier callback aborted it (a new transfer may have
    // taken its address since, but not with the same handle).
    if (running_.count(e.transfer) != 0 && e.transfer->easy == e.easy) {
      std::string origin = e.transfer->origin;
      remove(e.transfer);
      e.transfer->finished(e.result);  // deletes it
      start_waiting(origin);
    }
  }
}

void HttpClient::close_watch(Watch* w) {
  watches_.erase(w);
  uv_poll_stop(&w->poll);
  uv_close(reinterpret_cast<uv_handle_t*>(&w->poll),
           [](uv_handle_t* h) { delete static_cast<Watch*>(h->data); });
}

}  // namespace valk::lisp
