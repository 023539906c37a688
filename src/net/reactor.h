// A reactor: one thread, one libuv loop, the connections it accepted and the
// streams on them. Other threads reach it only through post() (an MPSC queue
// with one coalesced uv_async wakeup per batch) and the shutdown requests.
#pragma once

#include <uv.h>

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "net/buffer.h"
#include "net/conn.h"
#include "net/log.h"
#include "net/mpsc.h"
#include "net/slab.h"
#include "net/stream.h"
#include "valk/server.h"

namespace valk::net {

class ServerImpl;

// Where a plain request is sent by ServerOptions::https_redirect_port:
// https://, the request's host without its port, the TLS port unless it is
// 443, and the request target.
std::string https_location(std::string_view authority, uint16_t port, std::string_view target);

// A bound listening socket and whether it speaks TLS.
struct ListenFd {
  int fd;
  bool tls;
};

class Reactor {
 public:
  Reactor(ServerImpl* server, int index);
  ~Reactor();

  // Before the thread starts: sets up the loop and the listeners on the
  // given bound sockets (ownership of the fds moves in).
  bool init(const std::vector<ListenFd>& fds, std::string* error);
  // The thread body: runs the loop until shutdown completes.
  void run();
  // On a host's loop (ServerOptions::loops), from its thread: makes this
  // thread the reactor's. The host runs the loop.
  void attach();
  // Closes everything at once. The reactor's thread.
  void close_now() { force_close_all(); }
  // Whether shutdown has closed everything (host's loop). Any thread.
  bool finished() const { return finished_flag_.load(); }

  // ---- any thread ----
  SendResult post(Completion* c);
  void request_shutdown();
  void request_force_close();
  // A connection of the server closed: if this reactor has accepts waiting
  // for a slot, it tries them again on its thread.
  void request_accept_retry();
  uint64_t counter(Counter c) const {
    return counters_[static_cast<int>(c)].load(std::memory_order_relaxed);
  }
  // Adds this reactor's request durations to `out`.
  void add_durations(RequestDurations* out) const;

  // ---- reactor thread ----
  static Reactor* current();
  ServerImpl* server() const { return server_; }
  uv_loop_t* loop() { return loop_; }
  // Applies the completions posted from this thread and writes out every
  // connection with something to send. Runs after each read
  // (input_handled), before each poll of the loop (the prepare phase, which
  // then updates the gauges), and at Server::flush().
  void flush_point();
  // A read from a connection has been handed to `session` (null while the
  // TLS handshake is still going): calls options.on_input_handled if set,
  // then writes out what is ready, so that what a handler answered at once
  // goes out before the next connection is read.
  void input_handled(const Session* session) {
    if (options_->on_input_handled && session != nullptr) {
      options_->on_input_handled(session->protocol());
    }
    flush_point();
  }
  // Inline: the protocols read options and the log's level per request.
  const ServerOptions& options() const { return *options_; }
  LogWriter& log() { return *log_; }
  BufferPool& pool() { return pool_; }
  uint8_t* read_buf() { return read_buf_; }
  static constexpr size_t kReadBufSize = 65536;
  // One h2 DATA payload on its way from nghttp2's read callback to its
  // send_data callback (h2.cc); both run inside one nghttp2_session_mem_send
  // call, so one buffer serves every session of the reactor.
  uint8_t* data_buf() { return data_buf_.get(); }
  static constexpr size_t kDataBufSize = 16384;
  bool draining() const { return draining_; }

  void count(Counter c, int64_t d = 1) {
    counters_[static_cast<int>(c)].fetch_add(static_cast<uint64_t>(d), std::memory_order_relaxed);
  }
  // A response has been written whole, `ns` after its request began.
  void record_duration(uint64_t ns);
  Stream* new_stream(Conn* c);
  // The tally of bytes the streams' arenas hold in heap blocks.
  size_t* arena_bytes() { return &arena_bytes_; }
  void free_stream(Stream* s);
  // Runs the handler for a stream whose head is complete.
  void dispatch(Stream* s);
  void mark_dirty(Conn* c);
  void conn_closed(Conn* c);  // from Conn::on_close, before the slot is freed
  std::string_view http_date();
  void update_gauges();

 private:
  static void on_connection(uv_stream_t* server, int status);
  static void on_async(uv_async_t* a);
  static void on_prepare(uv_prepare_t* p);
  static void on_drain_timer(uv_timer_t* t);
  // Accepts a connection on `server`, or leaves it in the listener's
  // queue if the server is at max_connections. Returns false in that case.
  bool accept_one(uv_stream_t* server);
  // Accepts what waits on the listeners that were at the limit, while
  // there is room.
  void retry_deferred_accepts();
  void apply(Completion* c);
  // Applies the completions posted from the reactor's own thread.
  void apply_local();
  void begin_shutdown();
  void force_close_all();
  void maybe_finish();
  bool wake();
  bool push_when_drained(Completion* c);
  void enter_thread();

  ServerImpl* server_;
  const ServerOptions* options_;  // server_'s
  LogWriter* log_;                // server_'s
  int index_;
  std::atomic<bool> finished_flag_{false};
  int closes_pending_ = 0;
  uv_loop_t own_loop_;
  uv_loop_t* loop_ = &own_loop_;  // or the host's (ServerOptions::loops)
  uv_async_t async_;
  uv_prepare_t prepare_;
  uv_timer_t drain_timer_;
  struct Listener {
    uv_tcp_t tcp;  // first: the uv_stream_t* of a callback is the Listener
    bool tls;
  };
  std::vector<Listener*> listeners_;
  std::vector<uv_stream_t*> deferred_accepts_;
  // Whether deferred_accepts_ is not empty, for the reactor that frees a
  // slot (another thread); and its request to retry them.
  std::atomic<bool> has_deferred_{false}, retry_accepts_req_{false};
  MpscQueue<Completion*> queue_{65536};
  std::vector<Completion*> local_;
  std::vector<Completion*> local_batch_;  // being applied by apply_local
  std::atomic<bool> shutdown_req_{false}, force_req_{false};
  // Posters in flight and whether the async handle is gone, so that no
  // thread calls uv_async_send on a closed handle.
  std::atomic<int> posting_{0};
  std::atomic<bool> async_closed_{false};
  bool draining_ = false, finished_ = false;
  BufferPool pool_;
  Slab<Conn> conns_;
  Slab<Stream> streams_;
  Conn* conn_list_ = nullptr;
  std::vector<Conn*> dirty_;
  std::vector<Conn*> dirty_batch_;  // being flushed by on_prepare
  // The open streams by id, for the completions that name them. An id is a
  // slot of this table (low 32 bits) and the slot's generation (high 32
  // bits), bumped each time the slot is taken: a Responder kept after its
  // stream closed names a free slot, or one taken by a later stream under a
  // newer generation, and its calls are dropped. A slot whose generations
  // are spent is not taken again, so an id never names two streams. No node
  // is allocated per stream, as a hash map would.
  struct StreamSlot {
    uint64_t id = 0;
    Stream* stream = nullptr;  // nullptr: free
  };
  std::vector<StreamSlot> stream_slots_;
  size_t arena_bytes_ = 0;
  std::vector<uint32_t> free_stream_slots_;
  time_t date_time_ = 0;
  char date_[64] = {};
  size_t date_len_ = 0;
  uint8_t* read_buf_;
  std::unique_ptr<uint8_t[]> data_buf_;
  std::atomic<uint64_t> counters_[static_cast<int>(Counter::kCount)] = {};
  std::atomic<uint64_t> duration_counts_[RequestDurations::kBuckets] = {};
  std::atomic<uint64_t> duration_sum_ns_{0};
  friend class Conn;
};

}  // namespace valk::net
