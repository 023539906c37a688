// A SQLite database for an isolate: one connection whose statements run
// one at a time, in order, on libuv's thread pool, so that a query never
// blocks the isolate's loop. The statements waiting when the pool takes
// the connection go together, up to kBatch of them: one trip to the pool
// for all, rather than a trip (two thread wakeups) for each. Jobs are C++ data both ways (no Lisp
// value crosses to the pool's thread); builtins_sqlite.cc turns them into Lisp.
//
// A transaction holds the connection as a lease: while one is held, only
// the jobs of that lease run, and the others wait their turn.
#pragma once

#include <sqlite3.h>
#include <uv.h>

#include <atomic>
#include <cstdint>
#include <deque>
#include <string>
#include <unordered_map>
#include <vector>

#include "lisp/isolate.h"

namespace valk::lisp {

// A parameter, or a column's value.
struct SqliteCell {
  enum class Kind : uint8_t { kNull, kInt, kDouble, kText, kBlob };
  Kind kind = Kind::kNull;
  int64_t i = 0;
  double d = 0;
  std::string s;  // text or blob
};

struct SqliteOutcome {
  int code = SQLITE_OK;  // extended result code
  std::string error;     // sqlite3_errmsg, when code is an error
  std::vector<std::string> columns;
  std::vector<std::vector<SqliteCell>> rows;
  int64_t changes = 0;
};

// Work for the connection. A job is owned by its caller, who may abandon
// it (SqliteDb::abandon) before it is done.
struct SqliteJob {
  virtual ~SqliteJob() = default;
  // On the loop's thread, with what the statement gave.
  virtual void finished(SqliteOutcome& outcome) = 0;
  // 0: runs when no lease holds the connection. Else the lease's own.
  uint64_t lease = 0;
  // A wait for a lease: finished() with an outcome whose `changes` is the
  // lease number.
  bool wants_lease = false;
  std::string sql;
  std::vector<SqliteCell> params;                         // positional (?, ?NNN)
  std::vector<std::pair<std::string, SqliteCell>> named;  // :name, $name, @name
};

struct SqliteOptions {
  uint32_t busy_timeout_ms = 5000;
  bool readonly = false;
};

class SqliteDb final : public LoopResource {
 public:
  SqliteDb(uv_loop_t* loop, std::string path, SqliteOptions options);
  ~SqliteDb() override;

  // Queues `job`; its finished() is called on the loop's thread.
  void submit(SqliteJob* job);
  // Forgets a job not finished yet: a queued one is dropped, a running one
  // interrupted (its outcome is thrown away). Its finished() is not called.
  void abandon(SqliteJob* job);
  // Ends a lease: the other jobs run again. A transaction it left open is
  // rolled back first.
  void release(uint64_t lease);
  // No more jobs: the queued ones finish with an error, and the database
  // closes once the running one (if any) is done.
  void close() override;
  bool closed() const { return closed_; }
  // The Lisp handle of the database (set by sqlite/open), so that either
  // of the two that goes first lets go of the other.
  void set_handle(SqliteDb** handle) { handle_ = handle; }
  // The Lisp handle was collected: nothing new can come, so the connection
  // closes as soon as nothing is queued, running or leased (an app
  // reloaded without defonce does not keep its old files open). Calls no
  // Lisp: runs inside a collection.
  void orphan();
  const std::string& path() const { return path_; }

  static constexpr size_t kBatch = 64;

 private:
  // A job on its way through the pool, with its own copy of what it needs
  // and what it gives, so that the job may be abandoned (and deleted)
  // while it runs.
  struct Run {
    SqliteJob* job;  // null once abandoned (loop thread)
    std::string sql;
    std::vector<SqliteCell> params;
    std::vector<std::pair<std::string, SqliteCell>> named;
    bool shared;  // not inside a lease: must leave no transaction open
    SqliteOutcome out;
  };
  // Starts the jobs that may run now, if none run.
  void pump();
  // On the pool's thread: the batch, then one statement.
  void run_batch();
  void run_one(sqlite3* db, Run& r);
  // Closes the connection (closed_, and no job running).
  void shut();
  // An orphan's connection closes once idle.
  void close_orphan_if_idle();
  sqlite3_stmt* statement(const std::string& sql, SqliteOutcome* out);

  uv_loop_t* loop_;
  std::string path_;
  SqliteOptions options_;
  // Opened by the first job, on the pool's thread; read by abandon() on
  // the loop's (to interrupt).
  std::atomic<sqlite3*> db_{nullptr};
  std::deque<SqliteJob*> queue_;
  uint64_t lease_ = 0;  // the lease holding the connection, 0 if none
  uint64_t next_lease_ = 1;
  bool closed_ = false;
  bool orphaned_ = false;
  SqliteDb** handle_ = nullptr;  // where the handle points at this, if it lives
  bool running_ = false;
  std::vector<Run> batch_;
  // Which of batch_ the pool runs now, and which were abandoned (skipped
  // if not begun): shared by the two threads.
  std::atomic<size_t> at_{0};
  std::vector<std::atomic<bool>> skip_;
  // A lease ended: the next batch ends what it left open first. Set on
  // the loop's thread, maybe while a batch of the lease still runs.
  std::atomic<bool> roll_back_{false};
  uv_work_t work_;
  // Prepared statements by SQL text (pool thread only).
  std::unordered_map<std::string, sqlite3_stmt*> statements_;
  static constexpr size_t kMaxStatements = 128;
};

}  // namespace valk::lisp
