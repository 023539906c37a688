#include "lisp/pg_client.h"

#include <algorithm>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>

namespace valk::lisp {

namespace {
// Statements a connection keeps prepared; further ones are sent whole.
constexpr size_t kMaxStatements = 256;
}  // namespace

// One libpq connection and the poll handle on its socket.
class PgConn {
 public:
  PgConn(PgPool* pool, uv_loop_t* loop) : pool_(pool), loop_(loop) {}
  ~PgConn() {
    fail_all("the connection was closed");
    stop_watching();
    stop_timer();
    if (pg_ != nullptr) {
      PQfinish(pg_);
    }
  }

  // Starts connecting; false (with the reason in *error) if libpq refused
  // at once.
  bool start(const std::string& conninfo, uint64_t timeout_ms, std::string* error) {
    pg_ = PQconnectStart(conninfo.c_str());
    if (pg_ == nullptr || PQstatus(pg_) == CONNECTION_BAD) {
      *error = pg_ != nullptr ? PQerrorMessage(pg_) : "out of memory";
      return false;
    }
    // libpq's protocol: begin as if PQconnectPoll had asked for writing.
    watch(UV_WRITABLE);
    // libpq leaves connect_timeout to the caller in non-blocking mode.
    timer_ = new uv_timer_t;
    uv_timer_init(loop_, timer_);
    timer_->data = this;
    // Counted from now: the loop's cached clock may be a long stretch of
    // work behind (a module loading), and the timeout would end early.
    uv_update_time(loop_);
    uv_timer_start(
        timer_,
        [](uv_timer_t* t) {
          auto* c = static_cast<PgConn*>(t->data);
          c->connect_failed("timed out connecting after " + std::to_string(c->timeout_ms_) + " ms");
        },
        timeout_ms, 0);
    timeout_ms_ = timeout_ms;
    return true;
  }

  bool free() const { return ready_ && !broken_ && !leased_ && !running_; }
  bool usable() const { return !broken_; }
  bool connecting() const { return !ready_ && !broken_; }

  void run(PgQuery* q) {
    if (broken_) {
      q->finished(nullptr, error_);
      return;
    }
    if (running_) {
      queue_.push_back(q);
      return;
    }
    running_ = true;
    hold_loop(true);
    current_ = q;
    retried_ = false;
    start(q);
  }

  // Sends `q`: its prepared statement, or its PREPARE first.
  void start(PgQuery* q) {
    if (auto it = statements_.find(q->sql); it != statements_.end()) {
      send(q, it->second.c_str());
    } else if (statements_.size() < kMaxStatements) {
      // Prepared once per connection, then only executed: the server
      // parses and plans it no more.
      preparing_ = "valk_" + std::to_string(++statements_made_);
      preparing_sql_ = q->sql;
      if (PQsendPrepare(pg_, preparing_.c_str(), q->sql.c_str(), 0, nullptr) == 0) {
        preparing_.clear();
        refused();
        return;
      }
      flush();
    } else {
      send(q, nullptr);
    }
  }

  // Sends `q`'s execution: of the prepared statement `name`, or of its SQL
  // (name null).
  void send(PgQuery* q, const char* name) {
    std::vector<const char*> values;
    std::vector<int> lengths;
    std::vector<int> formats;
    for (const PgParam& p : q->params) {
      values.push_back(p.null ? nullptr : p.value.data());
      lengths.push_back(static_cast<int>(p.value.size()));
      formats.push_back(p.binary ? 1 : 0);
    }
    int n = static_cast<int>(values.size());
    int sent = name != nullptr ? PQsendQueryPrepared(pg_, name, n, values.data(), lengths.data(),
                                                     formats.data(), 0)
                               : PQsendQueryParams(pg_, q->sql.c_str(), n, nullptr, values.data(),
                                                   lengths.data(), formats.data(), 0);
    if (sent == 0) {
      refused();
      return;
    }
    flush();
  }

  // libpq refused to send (a bad connection, too many parameters): the
  // query fails; the connection too if it is gone.
  void refused() {
    std::string why = PQerrorMessage(pg_);
    if (PQstatus(pg_) == CONNECTION_BAD) {
      fail(why);
      return;
    }
    finish_current(nullptr, why);
  }

  void abandon(PgQuery* q) {
    if (current_ == q) {
      current_ = nullptr;  // the query runs on; its outcome is dropped
    }
    queue_.erase(std::remove(queue_.begin(), queue_.end(), q), queue_.end());
  }

  void lease() { leased_ = true; }
  // Back to the pool: false if the connection cannot serve others (broken,
  // or left inside a transaction).
  bool unlease() {
    leased_ = false;
    if (!broken_ && !running_ && PQtransactionStatus(pg_) != PQTRANS_IDLE) {
      return false;
    }
    return !broken_;
  }
  bool leased() const { return leased_; }
  bool running() const { return running_; }
  bool has(PgQuery* q) const {
    return current_ == q || std::find(queue_.begin(), queue_.end(), q) != queue_.end();
  }

 private:
  void watch(int events) {
    int fd = PQsocket(pg_);
    if (poll_ != nullptr && fd != fd_) {
      stop_watching();  // libpq moved to another socket (another host)
    }
    if (poll_ == nullptr) {
      poll_ = new uv_poll_t;
      fd_ = fd;
      uv_poll_init_socket(loop_, poll_, fd);
      poll_->data = this;
      hold_loop(holds_loop_);
    } else if (events == events_) {
      return;  // uv_poll_start would cost an epoll_ctl for nothing
    }
    events_ = events;
    uv_poll_start(poll_, events, [](uv_poll_t* p, int status, int ev) {
      static_cast<PgConn*>(p->data)->on_poll(status, ev);
    });
  }

  // An idle connection must not keep the loop alive (a script ends when
  // its work has, with its pool still open); one that connects or runs a
  // query must.
  void hold_loop(bool hold) {
    holds_loop_ = hold;
    if (poll_ != nullptr) {
      hold ? uv_ref(reinterpret_cast<uv_handle_t*>(poll_))
           : uv_unref(reinterpret_cast<uv_handle_t*>(poll_));
    }
  }

  void stop_timer() {
    if (timer_ == nullptr) {
      return;
    }
    uv_timer_stop(timer_);
    uv_close(reinterpret_cast<uv_handle_t*>(timer_),
             [](uv_handle_t* h) { delete reinterpret_cast<uv_timer_t*>(h); });
    timer_ = nullptr;
  }

  void connect_failed(const std::string& error) {
    broken_ = true;
    error_ = error;
    stop_watching();
    stop_timer();
    pool_->connection_failed(this, error_);  // may delete this
  }

  void stop_watching() {
    if (poll_ == nullptr) {
      return;
    }
    uv_poll_stop(poll_);
    uv_close(reinterpret_cast<uv_handle_t*>(poll_),
             [](uv_handle_t* h) { delete reinterpret_cast<uv_poll_t*>(h); });
    poll_ = nullptr;
  }

  void on_poll(int status, int events) {
    if (!ready_) {
      connect_step();
      return;
    }
    if (status < 0) {
      fail(uv_strerror(status));
      return;
    }
    if ((events & UV_WRITABLE) != 0 && !flush()) {
      return;
    }
    if ((events & UV_READABLE) != 0) {
      read();
    }
  }

  void connect_step() {
    switch (PQconnectPoll(pg_)) {
      case PGRES_POLLING_READING:
        watch(UV_READABLE);
        break;
      case PGRES_POLLING_WRITING:
        watch(UV_WRITABLE);
        break;
      case PGRES_POLLING_OK:
        ready_ = true;
        stop_timer();
        PQsetnonblocking(pg_, 1);
        // Notices (a NOTICE from a DDL statement) would go to stderr.
        PQsetNoticeProcessor(
            pg_, [](void*, const char*) {}, nullptr);
        // Readable while idle means the server closed the connection.
        watch(UV_READABLE);
        hold_loop(false);
        pool_->connection_ready(this);
        break;
      default:
        connect_failed(PQerrorMessage(pg_));
        break;
    }
  }

  // Sends what libpq holds; false if the connection broke.
  bool flush() {
    int r = PQflush(pg_);
    if (r < 0) {
      fail(PQerrorMessage(pg_));
      return false;
    }
    watch(r == 1 ? UV_READABLE | UV_WRITABLE : UV_READABLE);
    return true;
  }

  void read() {
    if (PQconsumeInput(pg_) == 0) {
      fail(PQerrorMessage(pg_));
      return;
    }
    while (running_ && PQisBusy(pg_) == 0) {
      PGresult* r = PQgetResult(pg_);
      if (r == nullptr) {
        PGresult* last = last_;
        last_ = nullptr;
        if (!preparing_.empty()) {
          prepared(last);
          return;
        }
        if (stale_statement(last) && current_ != nullptr && !retried_ &&
            PQtransactionStatus(pg_) == PQTRANS_IDLE) {
          // Prepared afresh and run again, once, where no transaction
          // was aborted by the failure.
          PQclear(last);
          retried_ = true;
          start(current_);
          return;
        }
        finish_current(last, "");
        return;
      }
      // A statement gives one result; keep the last should there be more.
      PQclear(last_);
      last_ = r;
    }
  }

  // The PREPARE of the running query ended with `result`: on success the
  // statement is kept and executed; on failure (a syntax error) that
  // result is the query's outcome.
  void prepared(PGresult* result) {
    std::string name = std::move(preparing_);
    preparing_.clear();
    if (PQresultStatus(result) != PGRES_COMMAND_OK) {
      finish_current(result, "");
      return;
    }
    PQclear(result);
    statements_[preparing_sql_] = name;
    if (current_ == nullptr) {
      finish_current(nullptr, "");  // abandoned meanwhile
      return;
    }
    send(current_, statements_[preparing_sql_].c_str());
  }

  // Whether `result` says a kept statement is stale: the server no longer
  // has it (DISCARD ALL: 26000), or its plan no longer fits its tables
  // (0A000). Then every kept statement is forgotten, to be prepared afresh.
  bool stale_statement(PGresult* result) {
    const char* code = result != nullptr ? PQresultErrorField(result, PG_DIAG_SQLSTATE) : nullptr;
    if (code == nullptr ||
        (std::string_view(code) != "26000" && std::string_view(code) != "0A000")) {
      return false;
    }
    statements_.clear();
    return true;
  }

  // Reports the running query's outcome, then runs the next.
  void finish_current(PGresult* result, const std::string& error) {
    PgQuery* q = current_;
    current_ = nullptr;
    running_ = false;
    hold_loop(!queue_.empty());
    if (q != nullptr) {
      q->finished(result, error);
    } else {
      PQclear(result);
    }
    if (!queue_.empty()) {
      PgQuery* next = queue_.front();
      queue_.pop_front();
      run(next);
    } else if (!leased_ && PQtransactionStatus(pg_) != PQTRANS_IDLE) {
      // A BEGIN outside pg/transaction, or a transaction whose holder let
      // go mid-query: another user must not find itself inside it.
      fail("left inside a transaction");
    } else if (!leased_) {
      pool_->connection_ready(this);
    }
  }

  void fail_all(const std::string& error) {
    PgQuery* q = current_;
    current_ = nullptr;
    running_ = false;
    PQclear(last_);
    last_ = nullptr;
    std::deque<PgQuery*> queued;
    queued.swap(queue_);
    if (q != nullptr) {
      q->finished(nullptr, error);
    }
    for (PgQuery* p : queued) {
      p->finished(nullptr, error);
    }
  }

  // The connection is lost: what ran or waited on it fails.
  void fail(const std::string& error) {
    broken_ = true;
    error_ = "the connection broke: " + error;
    stop_watching();
    fail_all(error_);
    pool_->connection_gone(this);  // may delete this
  }

  PgPool* pool_;
  uv_loop_t* loop_;
  PGconn* pg_ = nullptr;
  uv_poll_t* poll_ = nullptr;    // freed by its close callback
  uv_timer_t* timer_ = nullptr;  // while connecting; freed by its close callback
  uint64_t timeout_ms_ = 0;
  int fd_ = -1;
  int events_ = 0;  // what poll_ watches for
  bool ready_ = false;
  bool broken_ = false;
  bool leased_ = false;
  bool running_ = false;
  bool holds_loop_ = true;
  PgQuery* current_ = nullptr;  // null while running if abandoned
  PGresult* last_ = nullptr;
  // Statements prepared on this connection, by SQL; the one being
  // prepared for the running query, if any.
  std::unordered_map<std::string, std::string> statements_;
  uint64_t statements_made_ = 0;  // names them: valk_1, valk_2, ...
  std::string preparing_;
  std::string preparing_sql_;
  bool retried_ = false;        // the running query was run again once
  std::deque<PgQuery*> queue_;  // a leased connection's next queries
  std::string error_;
};

PgPool::PgPool(uv_loop_t* loop, std::string conninfo, size_t size, uint64_t connect_timeout_ms)
    : loop_(loop),
      conninfo_(std::move(conninfo)),
      size_(size),
      connect_timeout_ms_(connect_timeout_ms) {}

PgPool::~PgPool() {
  if (handle_ != nullptr) {
    *handle_ = nullptr;
  }
  if (reaper_ != nullptr) {
    reaper_->data = nullptr;  // its callback finds the pool gone
  }
  close();
}

bool PgPool::idle() const {
  return waiting_.empty() && std::all_of(conns_.begin(), conns_.end(), [](const auto& c) {
           return !c->running() && !c->leased();
         });
}

void PgPool::orphan() {
  handle_ = nullptr;
  orphaned_ = true;
  if (idle()) {
    close();  // no connection's callback is on the stack during a collection
  }
}

void PgPool::close_orphan_soon() {
  if (!orphaned_ || closed_ || reaper_ != nullptr || !idle()) {
    return;
  }
  reaper_ = new uv_timer_t;
  uv_timer_init(loop_, reaper_);
  reaper_->data = this;
  uv_timer_start(
      reaper_,
      [](uv_timer_t* t) {
        if (auto* pool = static_cast<PgPool*>(t->data)) {
          pool->reaper_ = nullptr;
          if (pool->idle()) {
            pool->close();
          }
        }
        uv_close(reinterpret_cast<uv_handle_t*>(t),
                 [](uv_handle_t* h) { delete reinterpret_cast<uv_timer_t*>(h); });
      },
      0, 0);
}

void PgPool::submit(PgQuery* q) {
  if (closed_) {
    q->finished(nullptr, "the pool is closed");
    return;
  }
  waiting_.push_back({q, nullptr});
  dispatch();
}

void PgPool::submit_on(PgConn* conn, PgQuery* q) {
  conn->run(q);
}

void PgPool::acquire(PgLease* l) {
  if (closed_) {
    l->granted(nullptr, "the pool is closed");
    return;
  }
  waiting_.push_back({nullptr, l});
  dispatch();
}

void PgPool::abandon(PgQuery* q) {
  auto it =
      std::find_if(waiting_.begin(), waiting_.end(), [q](const Waiter& w) { return w.query == q; });
  if (it != waiting_.end()) {
    waiting_.erase(it);
    return;
  }
  for (auto& c : conns_) {
    if (c->has(q)) {
      c->abandon(q);
      return;
    }
  }
}

void PgPool::abandon(PgLease* l) {
  auto it =
      std::find_if(waiting_.begin(), waiting_.end(), [l](const Waiter& w) { return w.lease == l; });
  if (it != waiting_.end()) {
    waiting_.erase(it);
  }
}

void PgPool::release(PgConn* conn) {
  if (!conn->unlease()) {
    connection_gone(conn);
    return;
  }
  if (!conn->running()) {
    dispatch();
  }
}

void PgPool::dispatch() {
  close_orphan_soon();
  while (!waiting_.empty()) {
    auto it = std::find_if(conns_.begin(), conns_.end(), [](const auto& c) { return c->free(); });
    if (it == conns_.end()) {
      break;
    }
    PgConn* c = it->get();
    Waiter w = waiting_.front();
    waiting_.pop_front();
    if (w.query != nullptr) {
      c->run(w.query);
    } else {
      c->lease();
      w.lease->granted(c, "");
    }
  }
  // One new connection per waiter beyond those on their way, up to the size.
  size_t opening = static_cast<size_t>(
      std::count_if(conns_.begin(), conns_.end(), [](const auto& c) { return c->connecting(); }));
  while (!closed_ && waiting_.size() > opening && conns_.size() < size_) {
    auto c = std::make_unique<PgConn>(this, loop_);
    std::string error;
    if (!c->start(conninfo_, connect_timeout_ms_, &error)) {
      fail_waiting(error);
      return;
    }
    conns_.push_back(std::move(c));
    ++opening;
  }
}

void PgPool::connection_ready(PgConn*) {
  dispatch();
}

void PgPool::drop(PgConn* c) {
  // A leased one stays until its holder releases it (it still points at it).
  if (!c->leased()) {
    auto it =
        std::find_if(conns_.begin(), conns_.end(), [c](const auto& p) { return p.get() == c; });
    if (it != conns_.end()) {
      conns_.erase(it);  // the caller uses nothing of `c` after this call
    }
  }
}

void PgPool::connection_gone(PgConn* c) {
  drop(c);
  dispatch();  // opens another for what waits
}

void PgPool::connection_failed(PgConn* c, std::string error) {
  drop(c);
  // With no connection left to wait for, what waits fails now: the
  // server is down or refuses, and a client should hear it at once.
  bool any_usable =
      std::any_of(conns_.begin(), conns_.end(), [](const auto& p) { return p->usable(); });
  if (!any_usable) {
    fail_waiting(error);
  } else {
    dispatch();
  }
}

void PgPool::fail_waiting(const std::string& error) {
  std::deque<Waiter> failed;
  failed.swap(waiting_);  // a callback may submit anew
  for (const Waiter& w : failed) {
    w.query != nullptr ? w.query->finished(nullptr, error) : w.lease->granted(nullptr, error);
  }
}

void PgPool::close() {
  if (closed_) {
    return;
  }
  closed_ = true;
  fail_waiting("the pool was closed");
  conns_.clear();  // each fails what it runs, and closes
}

}  // namespace valk::lisp
