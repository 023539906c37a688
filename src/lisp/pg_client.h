// PostgreSQL on an isolate's libuv loop: a pool of libpq connections in
// non-blocking mode, each watched by a uv_poll_t, so queries wait on the
// network without blocking the isolate's thread.
//
// Queries and leases (a connection held for a transaction) wait in one
// queue, first come first served, for a free connection; the pool opens
// connections as they are needed, up to its size. This layer knows nothing
// of Lisp values: builtins_pg.cc turns rows into maps.
#pragma once

#include <libpq-fe.h>
#include <uv.h>

#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "lisp/isolate.h"

namespace valk::lisp {

class PgConn;

struct PgParam {
  bool null = false;
  bool binary = false;  // bytea sent as raw bytes
  std::string value;    // the text form, or the bytes
};

// One query: its text and parameters, and what to do with its outcome.
struct PgQuery {
  virtual ~PgQuery() = default;
  // `result` (owned by the callee, who PQclears it) when the server
  // answered, error or not; otherwise null and `error` says why (no
  // connection, or it broke). Called on the loop's thread.
  virtual void finished(PGresult* result, const std::string& error) = 0;
  std::string sql;
  std::vector<PgParam> params;
};

// A wait for a connection of one's own, released with PgPool::release.
struct PgLease {
  virtual ~PgLease() = default;
  // `conn` is held from now on; or it is null and `error` says why.
  virtual void granted(PgConn* conn, const std::string& error) = 0;
};

class PgPool : public LoopResource {
 public:
  // A connection not made within `connect_timeout_ms` fails.
  PgPool(uv_loop_t* loop, std::string conninfo, size_t size, uint64_t connect_timeout_ms);
  ~PgPool() override;

  // Runs `q` on the next free connection.
  void submit(PgQuery* q);
  // Runs `q` on the leased `conn`, after the queries sent to it before.
  void submit_on(PgConn* conn, PgQuery* q);
  // `q`'s owner is gone: dropped if it waits; if it runs, its outcome is
  // not reported.
  void abandon(PgQuery* q);
  void acquire(PgLease* l);
  // A lease that no longer waits.
  void abandon(PgLease* l);
  void release(PgConn* conn);
  // Fails what waits and closes every connection; later calls fail at
  // once. Also at the isolate's end.
  void close() override;
  bool closed() const { return closed_; }
  // The Lisp handle (pg/connect's) and this let go of each other, whichever
  // goes first.
  void set_handle(PgPool** handle) { handle_ = handle; }
  // The Lisp handle was collected: nothing new can come, so the pool
  // closes as soon as nothing waits, runs or is leased (an app reloaded
  // without defonce does not keep its old connections). Calls no Lisp:
  // runs inside a collection.
  void orphan();
  size_t size() const { return size_; }
  size_t open_connections() const { return conns_.size(); }

 private:
  friend class PgConn;
  struct Waiter {
    PgQuery* query;  // one of the two
    PgLease* lease;
  };
  // Gives free connections to the waiters, opening connections if needed.
  void dispatch();
  void connection_ready(PgConn* c);
  // A connection could not be made: what waits fails if no other can
  // serve it (the server is down or refuses, and clients should hear it
  // at once). `error` is a copy: `c` may go.
  void connection_failed(PgConn* c, std::string error);
  // An established connection broke or was closed: another is opened for
  // what waits.
  void connection_gone(PgConn* c);
  void drop(PgConn* c);
  void fail_waiting(const std::string& error);
  bool idle() const;
  // An orphan that became idle inside a connection's callback closes from
  // the loop, on a timer, once that callback is over.
  void close_orphan_soon();

  uv_loop_t* loop_;
  std::string conninfo_;
  size_t size_;
  uint64_t connect_timeout_ms_;
  bool closed_ = false;
  bool orphaned_ = false;
  PgPool** handle_ = nullptr;     // where the handle points at this, if it lives
  uv_timer_t* reaper_ = nullptr;  // close_orphan_soon's; freed by its close
  std::vector<std::unique_ptr<PgConn>> conns_;
  std::deque<Waiter> waiting_;
};

}  // namespace valk::lisp
