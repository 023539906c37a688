#include "net/reactor.h"

#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <iterator>
#include <thread>

#include "net/server_impl.h"

namespace valk::net {

namespace {
thread_local Reactor* tl_reactor = nullptr;
}

Reactor* Reactor::current() {
  return tl_reactor;
}

Reactor::Reactor(ServerImpl* server, int index)
    : server_(server),
      options_(&server->options),
      log_(&server->log),
      index_(index),
      conns_(server->options.limits.max_connections),
      streams_(size_t{1} << 30),
      read_buf_(new uint8_t[kReadBufSize]),
      data_buf_(new uint8_t[kDataBufSize]) {}

Reactor::~Reactor() {
  Completion* c = nullptr;
  while (queue_.pop(&c)) {
    delete c;
  }
  for (Completion* l : local_) {
    delete l;
  }
  delete[] read_buf_;
}

bool Reactor::init(const std::vector<ListenFd>& fds, std::string* error) {
  if (!options().loops.empty()) {
    loop_ = options().loops[index_];
  } else {
    uv_loop_init(loop_);
    loop_->data = this;
  }
  uv_async_init(loop_, &async_, on_async);
  async_.data = this;
  uv_prepare_init(loop_, &prepare_);
  prepare_.data = this;
  uv_prepare_start(&prepare_, on_prepare);
  uv_timer_init(loop_, &drain_timer_);
  drain_timer_.data = this;
  for (const ListenFd& lf : fds) {
    auto* l = new Listener;
    l->tls = lf.tls;
    uv_tcp_t* t = &l->tcp;
    uv_tcp_init(loop_, t);
    t->data = this;
    listeners_.push_back(l);
    int r = uv_tcp_open(t, lf.fd);
    if (r == 0) {
      r = uv_listen(reinterpret_cast<uv_stream_t*>(t), 1024, on_connection);
    }
    if (r != 0) {
      *error = std::string("listen: ") + uv_strerror(r);
      return false;
    }
  }
  return true;
}

void Reactor::enter_thread() {
  // A write to a socket the peer has closed raises SIGPIPE in the writing
  // thread. Blocked here it stays pending and harmless (the write reports
  // EPIPE), so hosts need not ignore SIGPIPE process-wide.
  sigset_t pipe;
  sigemptyset(&pipe);
  sigaddset(&pipe, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &pipe, nullptr);
  tl_reactor = this;
}

void Reactor::run() {
  enter_thread();
  uv_run(loop_, UV_RUN_DEFAULT);
  // Everything is closed; run once more for close callbacks, then free.
  uv_run(loop_, UV_RUN_NOWAIT);
  uv_loop_close(loop_);
  tl_reactor = nullptr;
}

void Reactor::attach() {
  enter_thread();
}

// ---- cross-thread entry points ----------------------------------------------

SendResult Reactor::post(Completion* c) {
  if (tl_reactor == this) {
    // Applied at this iteration's flush point, never inside the caller.
    local_.push_back(c);
    return SendResult::kOk;
  }
  if (!queue_.push(c) && !push_when_drained(c)) {
    delete c;
    count(Counter::kQueueFull);
    return SendResult::kBusy;
  }
  if (queue_.claim_wakeup()) {
    wake();
  }
  return SendResult::kOk;
}

// The reactor empties its queue every loop turn, so a full one frees up
// soon: the posting thread waits for it (backpressure on the producer)
// rather than drop a response part, up to a bound in case the reactor is
// gone or stuck.
bool Reactor::push_when_drained(Completion* c) {
  auto give_up = std::chrono::steady_clock::now() + std::chrono::milliseconds(500);
  for (;;) {
    if (!wake()) {
      return false;  // the reactor has exited
    }
    std::this_thread::yield();
    if (queue_.push(c)) {
      return true;
    }
    if (std::chrono::steady_clock::now() > give_up) {
      return false;
    }
  }
}

bool Reactor::wake() {
  posting_.fetch_add(1);
  bool ok = !async_closed_.load();
  if (ok) {
    uv_async_send(&async_);
  }
  posting_.fetch_sub(1);
  return ok;
}

void Reactor::request_shutdown() {
  shutdown_req_.store(true);
  queue_.claim_wakeup();
  wake();
}

void Reactor::request_force_close() {
  force_req_.store(true);
  queue_.claim_wakeup();
  wake();
}

void Reactor::request_accept_retry() {
  if (has_deferred_.load() && !retry_accepts_req_.exchange(true)) {
    queue_.claim_wakeup();
    wake();
  }
}

void Reactor::on_async(uv_async_t* a) {
  auto* r = static_cast<Reactor*>(a->data);
  r->queue_.clear_wakeup();
  Completion* c = nullptr;
  while (r->queue_.pop(&c)) {
    r->apply(c);
  }
  if (r->force_req_.load()) {
    r->force_close_all();
  } else if (r->shutdown_req_.load()) {
    r->begin_shutdown();
  } else if (r->retry_accepts_req_.exchange(false)) {
    r->retry_deferred_accepts();
  }
}

void Reactor::apply(Completion* c) {
  uint32_t slot = static_cast<uint32_t>(c->stream);
  if (slot < stream_slots_.size() && stream_slots_[slot].id == c->stream &&
      stream_slots_[slot].stream != nullptr) {
    Stream* s = stream_slots_[slot].stream;
    if (s->conn->session != nullptr && !s->conn->closing()) {
      s->conn->session->on_completion(s, *c);
    }
  }
  delete c;
}

// ---- the flush point ----------------------------------------------------------

void Reactor::on_prepare(uv_prepare_t* p) {
  auto* r = static_cast<Reactor*>(p->data);
  r->flush_point();
  // Once a loop turn, not after every read.
  r->update_gauges();
}

void Reactor::flush_point() {
  apply_local();
  while (!dirty_.empty()) {
    dirty_batch_.swap(dirty_);
    for (Conn* c : dirty_batch_) {
      c->dirty = false;
    }
    for (Conn* c : dirty_batch_) {
      c->flush();
    }
    dirty_batch_.clear();
    // A flush may queue completions (cancel callbacks respond at once).
    apply_local();
  }
}

// The batches are members, swapped with the queues rather than built anew,
// so that a loop turn allocates nothing once they have grown.
void Reactor::apply_local() {
  while (!local_.empty()) {
    local_batch_.swap(local_);
    for (Completion* c : local_batch_) {
      apply(c);
    }
    local_batch_.clear();
  }
}

// ---- request durations ------------------------------------------------------

void Reactor::record_duration(uint64_t ns) {
  duration_counts_[RequestDurations::bucket(ns)].fetch_add(1, std::memory_order_relaxed);
  duration_sum_ns_.fetch_add(ns, std::memory_order_relaxed);
}

void Reactor::add_durations(RequestDurations* out) const {
  for (size_t i = 0; i < RequestDurations::kBuckets; ++i) {
    out->counts[i] += duration_counts_[i].load(std::memory_order_relaxed);
  }
  out->sum_ns += duration_sum_ns_.load(std::memory_order_relaxed);
}

void Reactor::mark_dirty(Conn* c) {
  if (!c->dirty) {
    c->dirty = true;
    dirty_.push_back(c);
  }
}

void Reactor::update_gauges() {
  auto set = [this](Counter c, uint64_t v) {
    counters_[static_cast<int>(c)].store(v, std::memory_order_relaxed);
  };
  set(Counter::kConnSlotsInUse, conns_.in_use());
  set(Counter::kConnSlotsHighWater, conns_.high_water());
  set(Counter::kBuffersInUse, pool_.in_use());
  set(Counter::kBufferBytes, pool_.bytes());
  set(Counter::kStreamSlotsInUse, streams_.in_use());
  set(Counter::kStreamSlotsHighWater, streams_.high_water());
  set(Counter::kArenaBytes, arena_bytes_);
}

// ---- connections --------------------------------------------------------------

void Reactor::on_connection(uv_stream_t* server, int status) {
  auto* r = static_cast<Reactor*>(server->data);
  if (status < 0) {
    r->log().log(LogLevel::kWarn, "accept: %s", uv_strerror(status));
    return;
  }
  if (!r->accept_one(server)) {
    r->count(Counter::kConnectionsRejected);  // once per connection kept waiting
  }
}

bool Reactor::accept_one(uv_stream_t* server) {
  if (!server_->claim_connection()) {
    // At the limit: leave the connection in libuv's hands. libuv stops
    // polling this listener until uv_accept is called, which happens when
    // a connection of any reactor closes (release_connection).
    deferred_accepts_.push_back(server);
    has_deferred_.store(true);
    // A connection that closed on another reactor before the flag was set
    // found nothing to retry; its place is free now.
    if (!server_->claim_connection()) {
      return false;
    }
    deferred_accepts_.pop_back();
    has_deferred_.store(!deferred_accepts_.empty());
  }
  Conn* c = conns_.make(this);  // its size is max_connections: never null
  c->next = conn_list_;
  if (conn_list_ != nullptr) {
    conn_list_->prev = c;
  }
  conn_list_ = c;
  count(Counter::kConnectionsAccepted);
  count(Counter::kConnectionsActive);
  c->accept(server, reinterpret_cast<Listener*>(server)->tls);
  return true;
}

void Reactor::retry_deferred_accepts() {
  while (!deferred_accepts_.empty() && !draining_) {
    uv_stream_t* s = deferred_accepts_.back();
    deferred_accepts_.pop_back();
    if (!accept_one(s)) {
      break;  // deferred again
    }
  }
  has_deferred_.store(!deferred_accepts_.empty());
}

void Reactor::conn_closed(Conn* c) {
  if (c->prev != nullptr) {
    c->prev->next = c->next;
  } else {
    conn_list_ = c->next;
  }
  if (c->next != nullptr) {
    c->next->prev = c->prev;
  }
  if (c->dirty) {
    for (Conn*& d : dirty_) {
      if (d == c) {
        d = dirty_.back();
        dirty_.pop_back();
        break;
      }
    }
  }
  count(Counter::kConnectionsActive, -1);
  conns_.destroy(c);
  server_->release_connection(this);
  retry_deferred_accepts();
  maybe_finish();
}

Stream* Reactor::new_stream(Conn* c) {
  uint32_t slot;
  if (!free_stream_slots_.empty()) {
    slot = free_stream_slots_.back();
    free_stream_slots_.pop_back();
  } else {
    slot = static_cast<uint32_t>(stream_slots_.size());
    stream_slots_.emplace_back();
  }
  StreamSlot& e = stream_slots_[slot];
  e.id = (((e.id >> 32) + 1) << 32) | slot;
  Stream* s = streams_.make(c, e.id);
  e.stream = s;
  count(Counter::kStreamsActive);
  return s;
}

void Reactor::free_stream(Stream* s) {
  s->log_unfinished();
  uint32_t slot = static_cast<uint32_t>(s->serial);
  stream_slots_[slot].stream = nullptr;
  // A slot whose generations are spent is retired, so that no id comes twice.
  if ((s->serial >> 32) != UINT32_MAX) {
    free_stream_slots_.push_back(slot);
  }
  count(Counter::kStreamsActive, -1);
  streams_.destroy(s);
}

std::string https_location(std::string_view authority, uint16_t port, std::string_view target) {
  std::string_view host = authority;
  size_t colon = host.rfind(':');
  if (colon != std::string_view::npos && host.find(']', colon) == std::string_view::npos) {
    host = host.substr(0, colon);
  }
  std::string loc = "https://";
  loc += host.empty() ? "localhost" : host;
  if (port != 443) {
    loc += ':' + std::to_string(port);
  }
  loc += target;
  return loc;
}

void Reactor::dispatch(Stream* s) {
  s->dispatched = true;
  if (options().https_redirect_port != 0 && s->conn->tls_info == nullptr) {
    std::string loc = https_location(s->req.authority(), options().https_redirect_port, s->url);
    post(new Completion{
        Completion::Kind::kRespond, s->serial, 308, {{"location", loc}}, "", nullptr});
    return;
  }
  // No exception may cross the loop: a throwing handler answers 500.
  try {
    server_->handler(s->req, Responder(this, s->serial));
  } catch (const std::exception& e) {
    log().log(LogLevel::kError, "handler threw: %s", e.what());
    auto* c = new Completion{Completion::Kind::kRespond, s->serial, 500, {}, "", nullptr};
    post(c);
  } catch (...) {
    log().log(LogLevel::kError, "handler threw a non-exception");
    auto* c = new Completion{Completion::Kind::kRespond, s->serial, 500, {}, "", nullptr};
    post(c);
  }
}

std::string_view Reactor::http_date() {
  time_t now = time(nullptr);
  if (now != date_time_) {
    date_time_ = now;
    struct tm tm;
    gmtime_r(&now, &tm);
    date_len_ = strftime(date_, sizeof date_, "%a, %d %b %Y %H:%M:%S GMT", &tm);
  }
  return {date_, date_len_};
}

// ---- shutdown -----------------------------------------------------------------

void Reactor::begin_shutdown() {
  if (draining_) {
    return;
  }
  draining_ = true;
  for (Listener* l : listeners_) {
    uv_close(reinterpret_cast<uv_handle_t*>(&l->tcp),
             [](uv_handle_t* h) { delete reinterpret_cast<Listener*>(h); });
  }
  listeners_.clear();
  deferred_accepts_.clear();
  has_deferred_.store(false);
  for (Conn* c = conn_list_; c != nullptr;) {
    Conn* next = c->next;
    if (c->session != nullptr) {
      c->session->drain();
    } else {
      c->close();
    }
    c = next;
  }
  uint32_t ms = options().timeouts.drain;
  uv_timer_start(&drain_timer_, on_drain_timer, ms == 0 ? 1 : ms, 0);
  maybe_finish();
}

void Reactor::on_drain_timer(uv_timer_t* t) {
  static_cast<Reactor*>(t->data)->force_close_all();
}

void Reactor::force_close_all() {
  begin_shutdown();
  for (Conn* c = conn_list_; c != nullptr; c = c->next) {
    c->cut();
  }
  maybe_finish();
}

void Reactor::maybe_finish() {
  if (!draining_ || finished_ || conn_list_ != nullptr) {
    return;
  }
  finished_ = true;
  async_closed_.store(true);
  while (posting_.load() != 0) {
  }
  // On a host's loop, wait() returns once the last of these has closed.
  auto closed = [](uv_handle_t* h) {
    auto* r = static_cast<Reactor*>(h->data);
    if (--r->closes_pending_ == 0) {
      if (tl_reactor == r) {
        tl_reactor = nullptr;
      }
      r->finished_flag_.store(true);
      r->server_->notify_finished();
    }
  };
  closes_pending_ = 3;
  uv_close(reinterpret_cast<uv_handle_t*>(&async_), closed);
  uv_close(reinterpret_cast<uv_handle_t*>(&prepare_), closed);
  uv_close(reinterpret_cast<uv_handle_t*>(&drain_timer_), closed);
}

}  // namespace valk::net
