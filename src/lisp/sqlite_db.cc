#include "lisp/sqlite_db.h"

#include <algorithm>

namespace valk::lisp {

SqliteDb::SqliteDb(uv_loop_t* loop, std::string path, SqliteOptions options)
    : loop_(loop), path_(std::move(path)), options_(options) {
  work_.data = this;
}

SqliteDb::~SqliteDb() {
  if (handle_ != nullptr) {
    *handle_ = nullptr;
  }
  shut();
}

void SqliteDb::orphan() {
  handle_ = nullptr;
  orphaned_ = true;
  close_orphan_if_idle();
}

void SqliteDb::close_orphan_if_idle() {
  if (orphaned_ && !closed_ && !running_ && queue_.empty() && lease_ == 0) {
    closed_ = true;
    shut();
  }
}

void SqliteDb::shut() {
  for (auto& [sql, stmt] : statements_) {
    sqlite3_finalize(stmt);
  }
  statements_.clear();
  sqlite3_close_v2(db_.exchange(nullptr));
}

void SqliteDb::submit(SqliteJob* job) {
  queue_.push_back(job);
  pump();
}

void SqliteDb::abandon(SqliteJob* job) {
  for (size_t i = 0; running_ && i < batch_.size(); i++) {
    if (batch_[i].job == job) {
      batch_[i].job = nullptr;
      skip_[i].store(true);
      if (at_.load() == i) {
        if (sqlite3* db = db_.load()) {
          sqlite3_interrupt(db);  // safe from another thread
        }
      }
      return;
    }
  }
  queue_.erase(std::remove(queue_.begin(), queue_.end(), job), queue_.end());
}

void SqliteDb::release(uint64_t lease) {
  if (lease_ != lease) {
    return;
  }
  lease_ = 0;
  roll_back_ = true;
  pump();
}

void SqliteDb::close() {
  if (closed_) {
    return;
  }
  closed_ = true;
  std::deque<SqliteJob*> queued;
  queued.swap(queue_);
  for (SqliteJob* job : queued) {
    SqliteOutcome out;
    out.code = SQLITE_MISUSE;
    out.error = "the database is closed";
    job->finished(out);
  }
  if (!running_) {
    shut();
  }
}

void SqliteDb::pump() {
  if (running_ || closed_) {
    return;
  }
  close_orphan_if_idle();
  // In order: the jobs the connection may run now (all but other leases'),
  // up to a wait for a lease, which is granted when its turn comes.
  batch_.clear();
  for (auto it = queue_.begin(); it != queue_.end() && batch_.size() < kBatch;) {
    SqliteJob* job = *it;
    if (job->lease != lease_) {
      ++it;
      continue;
    }
    if (job->wants_lease) {
      if (!batch_.empty()) {
        break;
      }
      it = queue_.erase(it);
      lease_ = next_lease_++;
      SqliteOutcome out;
      out.changes = static_cast<int64_t>(lease_);
      job->finished(out);  // may submit the lease's first statement
      pump();
      return;
    }
    batch_.push_back(Run{job, job->sql, std::move(job->params), std::move(job->named),
                         job->lease == 0, SqliteOutcome{}});
    it = queue_.erase(it);
  }
  if (batch_.empty()) {
    return;
  }
  running_ = true;
  at_.store(0);
  skip_ = std::vector<std::atomic<bool>>(batch_.size());
  uv_queue_work(
      loop_, &work_, [](uv_work_t* w) { static_cast<SqliteDb*>(w->data)->run_batch(); },
      [](uv_work_t* w, int) {
        auto* self = static_cast<SqliteDb*>(w->data);
        self->running_ = false;
        std::vector<Run> done;
        done.swap(self->batch_);
        for (Run& r : done) {
          if (r.job != nullptr) {
            r.job->finished(r.out);  // may submit more
          }
        }
        if (self->closed_) {
          self->shut();
        }
        self->pump();
      });
}

namespace {

void fail(sqlite3* db, int code, SqliteOutcome* out) {
  out->code = code;
  out->error = db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(code);
}

int bind(sqlite3_stmt* stmt, int index, const SqliteCell& c) {
  switch (c.kind) {
    case SqliteCell::Kind::kNull:
      return sqlite3_bind_null(stmt, index);
    case SqliteCell::Kind::kInt:
      return sqlite3_bind_int64(stmt, index, c.i);
    case SqliteCell::Kind::kDouble:
      return sqlite3_bind_double(stmt, index, c.d);
    case SqliteCell::Kind::kText:
      return sqlite3_bind_text64(stmt, index, c.s.data(), c.s.size(), SQLITE_STATIC, SQLITE_UTF8);
    case SqliteCell::Kind::kBlob:
      return sqlite3_bind_blob64(stmt, index, c.s.data(), c.s.size(), SQLITE_STATIC);
  }
  return SQLITE_MISUSE;
}

SqliteCell column(sqlite3_stmt* stmt, int i) {
  SqliteCell c;
  switch (sqlite3_column_type(stmt, i)) {
    case SQLITE_INTEGER:
      c.kind = SqliteCell::Kind::kInt;
      c.i = sqlite3_column_int64(stmt, i);
      break;
    case SQLITE_FLOAT:
      c.kind = SqliteCell::Kind::kDouble;
      c.d = sqlite3_column_double(stmt, i);
      break;
    case SQLITE_TEXT:
      c.kind = SqliteCell::Kind::kText;
      c.s.assign(reinterpret_cast<const char*>(sqlite3_column_text(stmt, i)),
                 static_cast<size_t>(sqlite3_column_bytes(stmt, i)));
      break;
    case SQLITE_BLOB: {
      c.kind = SqliteCell::Kind::kBlob;
      const void* data = sqlite3_column_blob(stmt, i);
      c.s.assign(static_cast<const char*>(data),
                 static_cast<size_t>(sqlite3_column_bytes(stmt, i)));
      break;
    }
    default:
      break;
  }
  return c;
}

}  // namespace

sqlite3_stmt* SqliteDb::statement(const std::string& sql, SqliteOutcome* out) {
  auto it = statements_.find(sql);
  if (it != statements_.end()) {
    return it->second;
  }
  sqlite3_stmt* stmt = nullptr;
  const char* tail = nullptr;
  sqlite3* db = db_.load();
  int rc = sqlite3_prepare_v3(db, sql.c_str(), static_cast<int>(sql.size() + 1),
                              SQLITE_PREPARE_PERSISTENT, &stmt, &tail);
  if (rc != SQLITE_OK) {
    fail(db, sqlite3_extended_errcode(db), out);
    return nullptr;
  }
  if (stmt == nullptr) {
    out->code = SQLITE_MISUSE;
    out->error = "no statement in the SQL";
    return nullptr;
  }
  if (tail != nullptr && std::any_of(tail, sql.c_str() + sql.size(), [](char c) {
        return c != ' ' && c != '\n' && c != ';' && c != '\t' && c != '\r';
      })) {
    sqlite3_finalize(stmt);
    out->code = SQLITE_MISUSE;
    out->error = "one statement at a time: the SQL goes on after its first";
    return nullptr;
  }
  if (statements_.size() == kMaxStatements) {
    for (auto& [text, s] : statements_) {
      sqlite3_finalize(s);
    }
    statements_.clear();
  }
  statements_.emplace(sql, stmt);
  return stmt;
}

void SqliteDb::run_batch() {
  if (db_.load() == nullptr) {
    int flags =
        (options_.readonly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE) |
        SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_URI;
    sqlite3* db = nullptr;
    int rc = sqlite3_open_v2(path_.c_str(), &db, flags, nullptr);
    if (rc != SQLITE_OK) {
      // Each job of the batch fails; the next batch tries again.
      for (Run& r : batch_) {
        fail(db, rc, &r.out);
        r.out.error = "cannot open " + path_ + ": " + r.out.error;
      }
      sqlite3_close_v2(db);
      return;
    }
    sqlite3_extended_result_codes(db, 1);
    sqlite3_busy_timeout(db, static_cast<int>(options_.busy_timeout_ms));
    // Readers do not wait for a writer, a commit syncs the log without the
    // database file (safe from a crash of the process: what a power cut
    // may lose is the last commits, never the file), and references are
    // checked.
    if (!options_.readonly) {
      sqlite3_exec(db, "PRAGMA journal_mode=WAL", nullptr, nullptr, nullptr);
      sqlite3_exec(db, "PRAGMA synchronous=NORMAL", nullptr, nullptr, nullptr);
    }
    sqlite3_exec(db, "PRAGMA foreign_keys=ON", nullptr, nullptr, nullptr);
    db_.store(db);
  }
  sqlite3* db = db_.load();
  if (roll_back_.exchange(false)) {
    if (!sqlite3_get_autocommit(db)) {
      sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr);
    }
  }
  for (size_t i = 0; i < batch_.size(); i++) {
    at_.store(i);
    if (!skip_[i].load()) {
      run_one(db, batch_[i]);
    }
  }
  at_.store(batch_.size());
}

void SqliteDb::run_one(sqlite3* db, Run& r) {
  SqliteOutcome& out = r.out;
  sqlite3_stmt* stmt = statement(r.sql, &out);
  if (stmt == nullptr) {
    return;
  }
  int rc = SQLITE_OK;
  for (size_t i = 0; i < r.params.size() && rc == SQLITE_OK; i++) {
    rc = bind(stmt, static_cast<int>(i + 1), r.params[i]);
  }
  for (const auto& [name, value] : r.named) {
    if (rc != SQLITE_OK) {
      break;
    }
    int index = 0;
    for (char prefix : {':', '$', '@'}) {
      if (index == 0) {
        index = sqlite3_bind_parameter_index(stmt, (prefix + name).c_str());
      }
    }
    if (index == 0) {
      out.code = SQLITE_RANGE;
      out.error = "the SQL has no parameter named :" + name;
      sqlite3_clear_bindings(stmt);
      return;
    }
    rc = bind(stmt, index, value);
  }
  if (rc != SQLITE_OK) {
    fail(db, rc, &out);
  } else {
    int n = sqlite3_column_count(stmt);
    for (int i = 0; i < n; i++) {
      out.columns.emplace_back(sqlite3_column_name(stmt, i));
    }
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
      std::vector<SqliteCell> row;
      row.reserve(static_cast<size_t>(n));
      for (int i = 0; i < n; i++) {
        row.push_back(column(stmt, i));
      }
      out.rows.push_back(std::move(row));
    }
    if (rc != SQLITE_DONE) {
      fail(db, sqlite3_extended_errcode(db), &out);
    } else if (!sqlite3_stmt_readonly(stmt)) {
      out.changes = sqlite3_changes64(db);
    }
  }
  sqlite3_reset(stmt);
  sqlite3_clear_bindings(stmt);
  // Outside a transaction of its own, a statement may not leave one open:
  // every other fiber's statements would run inside it.
  if (r.shared && !sqlite3_get_autocommit(db)) {
    sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr);
    if (out.code == SQLITE_OK) {
      out.code = SQLITE_MISUSE;
      out.error = "a transaction is begun with sqlite/transaction; this one was rolled back";
    }
  }
}

}  // namespace valk::lisp
