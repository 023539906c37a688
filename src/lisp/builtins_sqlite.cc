// SQLite: a database file per (sqlite/open ...), queries as promises.
//
//   (def db (sqlite/open "app.db"))          ; {:readonly true :busy-timeout-ms n}
//   (await (sqlite/query db "SELECT id, title FROM todos WHERE id = ?" [id]))
//   ;; => [{:id 1 :title "write docs"}]
//   (await (sqlite/query db "SELECT * FROM todos WHERE title = :title" {:title "x"}))
//   (await (sqlite/execute db "DELETE FROM todos WHERE done"))  ;; => rows changed
//   (sqlite/transaction db (fn [tx] ... (await (sqlite/query tx ...)) ...))  ; core.lisp
//   (sqlite/close db)
//
// Each statement runs on libuv's thread pool, one at a time per database
// handle, in the order they were made (sqlite_db.h). Columns come back as
// SQLite stored them: integers, doubles, strings, bytes (blobs), nil.
// Parameters: nil, booleans (1 and 0), ints, doubles, strings, keywords
// (their name), bytes (a blob), maps and vectors (JSON text); a vector of
// them binds ?, ?NNN in order, a map binds :name, $name or @name.
//
// A failed statement rejects with {:type :sqlite-error :kind K :code N},
// K one of :constraint :busy :locked :readonly :cantopen :interrupted
// :full :corrupt :mismatch :too-big :range :misuse :error, N SQLite's
// extended result code; the message has SQLite's words.
#include "lisp/builtins.h"
#include "lisp/collections.h"
#include "lisp/isolate.h"
#include "lisp/json.h"
#include "lisp/printer.h"
#include "lisp/sqlite_db.h"
#include "lisp/utf8.h"

namespace valk::lisp {
namespace {

struct DbObj : ClassObj {
  SqliteDb* db;  // the isolate's; null once the isolate has closed it
};
const ObjClass kDbClass = {"sqlite-db", [](Obj*, Tracer&) {},
                           [](Obj* o) {
                             if (SqliteDb* db = static_cast<DbObj*>(o)->db) {
                               db->orphan();
                             }
                           }};

// The connection inside a transaction (valk.sqlite/acquire), until released.
struct TxObj : ClassObj {
  SqliteDb* db;
  uint64_t lease;  // 0 once released
};
const ObjClass kTxClass = {"sqlite-transaction", [](Obj*, Tracer&) {}, nullptr};

template <class T>
T* as(Value v, const ObjClass* cls) {
  return v.is(Tag::Internal) && static_cast<ClassObj*>(v.o)->cls == cls ? static_cast<T*>(v.o)
                                                                        : nullptr;
}

const char* kind_of(int code) {
  switch (code & 0xff) {
    case SQLITE_CONSTRAINT:
      return "constraint";
    case SQLITE_BUSY:
      return "busy";
    case SQLITE_LOCKED:
      return "locked";
    case SQLITE_READONLY:
      return "readonly";
    case SQLITE_CANTOPEN:
      return "cantopen";
    case SQLITE_INTERRUPT:
      return "interrupted";
    case SQLITE_FULL:
      return "full";
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return "corrupt";
    case SQLITE_MISMATCH:
      return "mismatch";
    case SQLITE_TOOBIG:
      return "too-big";
    case SQLITE_RANGE:
      return "range";
    case SQLITE_MISUSE:
      return "misuse";
    default:
      return "error";
  }
}

Value sqlite_error(Isolate& iso, const char* fn, const SqliteOutcome& out) {
  Heap& h = iso.heap();
  Value data[] = {h.keyword("type"), h.keyword("sqlite-error"),
                  h.keyword("kind"), h.keyword(kind_of(out.code)),
                  h.keyword("code"), Value::integer(out.code)};
  return val(iso.make_error(h.string(std::string(fn) + ": " + out.error), map_from(h, data, 3)));
}

Value cell_value(Heap& h, const SqliteCell& c) {
  switch (c.kind) {
    case SqliteCell::Kind::kNull:
      return Value::nil();
    case SqliteCell::Kind::kInt:
      return Value::integer(c.i);
    case SqliteCell::Kind::kDouble:
      return Value::number(c.d);
    case SqliteCell::Kind::kText:
      return h.string(c.s);
    case SqliteCell::Kind::kBlob:
      return val(h.make_bytes(reinterpret_cast<const uint8_t*>(c.s.data()), c.s.size()));
  }
  return Value::nil();
}

Value rows_value(Heap& h, const SqliteOutcome& out) {
  std::vector<Value> keys;
  for (const std::string& name : out.columns) {
    keys.push_back(h.keyword(name));
  }
  std::vector<Value> rows, kvs;
  rows.reserve(out.rows.size());
  for (const std::vector<SqliteCell>& row : out.rows) {
    kvs.clear();
    for (size_t i = 0; i < row.size(); i++) {
      kvs.push_back(keys[i]);
      kvs.push_back(cell_value(h, row[i]));
    }
    rows.push_back(map_from(h, kvs.data(), row.size()));
  }
  return vector_from(h, rows.data(), rows.size());
}

struct StatementOp final : PendingOp, SqliteJob {
  Isolate* iso = nullptr;
  SqliteDb* db = nullptr;
  const char* fn = "sqlite/query";
  bool want_rows = true;

  std::string describe() const override { return describe_statement(fn, sql); }

  void cancel() override {
    db->abandon(this);
    iso->end_op(this, false, val(iso->make_cancelled("the statement was cancelled")));
  }

  void finished(SqliteOutcome& out) override {
    if (out.code != SQLITE_OK) {
      iso->end_op(this, false, sqlite_error(*iso, fn, out));
      return;
    }
    Value v = want_rows ? rows_value(iso->heap(), out) : Value::integer(out.changes);
    iso->end_op(this, true, v);
  }
};

struct LeaseOp final : PendingOp, SqliteJob {
  Isolate* iso = nullptr;
  SqliteDb* db = nullptr;

  std::string describe() const override { return "sqlite/transaction: the connection"; }

  void cancel() override {
    db->abandon(this);
    iso->end_op(this, false, val(iso->make_cancelled("the wait for the connection was cancelled")));
  }

  void finished(SqliteOutcome& out) override {
    if (out.code != SQLITE_OK) {
      iso->end_op(this, false, sqlite_error(*iso, "sqlite/transaction", out));
      return;
    }
    auto* tx = iso->heap().make_class<TxObj>(Tag::Internal, &kTxClass);
    tx->db = db;
    tx->lease = static_cast<uint64_t>(out.changes);
    iso->end_op(this, true, val(tx));
  }
};

// The SQLite form of `v`; false if it has none.
bool cell_of(Value v, SqliteCell* out) {
  using Kind = SqliteCell::Kind;
  if (v.is_nil()) {
    out->kind = Kind::kNull;
  } else if (v.is(Tag::Bool) || v.is_int()) {
    out->kind = Kind::kInt;
    out->i = v.is(Tag::Bool) ? (v.truthy() ? 1 : 0) : v.i;
  } else if (v.is(Tag::Double)) {
    out->kind = Kind::kDouble;
    out->d = v.d;
  } else if (v.is(Tag::String) || v.is(Tag::Keyword)) {
    out->kind = Kind::kText;
    out->s = std::string(v.is(Tag::String) ? static_cast<String*>(v.o)->view()
                                           : static_cast<Symbol*>(v.o)->name->view());
  } else if (v.is(Tag::Bytes)) {
    auto* b = static_cast<Bytes*>(v.o);
    out->kind = Kind::kBlob;
    out->s.assign(reinterpret_cast<const char*>(b->data), b->size);
  } else if (v.is(Tag::Map) || v.is(Tag::Vector)) {
    std::string err;
    out->kind = Kind::kText;
    return json_write(v, JsonWriteOptions{}, &out->s, &err);
  } else {
    return false;
  }
  return true;
}

Value run_statement(Isolate& iso, const char* fn, bool want_rows, Value* args, int argc) {
  auto* db_obj = as<DbObj>(args[0], &kDbClass);
  auto* tx = as<TxObj>(args[0], &kTxClass);
  if (db_obj == nullptr && tx == nullptr) {
    return iso.type_error(fn, "a database from sqlite/open or a transaction's", args[0]);
  }
  SqliteDb* db = db_obj != nullptr ? db_obj->db : tx->db;
  if (db->closed()) {
    return iso.raise_error("sqlite-error", std::string(fn) + ": the database is closed");
  }
  if (tx != nullptr && tx->lease == 0) {
    return iso.raise_error("sqlite-error", std::string(fn) + ": the transaction is over");
  }
  if (!args[1].is(Tag::String)) {
    return iso.type_error(fn, "a string of SQL", args[1]);
  }
  auto op = std::make_unique<StatementOp>();
  op->sql = std::string(static_cast<String*>(args[1].o)->view());
  Value params = argc > 2 ? args[2] : Value::nil();
  const char* expected =
      "parameters that are nil, booleans, numbers, strings, keywords, bytes, maps or vectors";
  Value raised = Value::nil();
  if (params.is(Tag::Vector)) {
    vector_each(params, [&](Value v) {
      SqliteCell c;
      if (!cell_of(v, &c)) {
        raised = iso.type_error(fn, expected, v);
        return false;
      }
      op->params.push_back(std::move(c));
      return true;
    });
  } else if (params.is(Tag::Map)) {
    map_each(params, [&](Value k, Value v) {
      SqliteCell c;
      if (!k.is(Tag::Keyword) && !k.is(Tag::String)) {
        raised = iso.type_error(fn, "parameter names that are keywords or strings", k);
        return false;
      }
      if (!cell_of(v, &c)) {
        raised = iso.type_error(fn, expected, v);
        return false;
      }
      std::string_view name = k.is(Tag::String) ? static_cast<String*>(k.o)->view()
                                                : static_cast<Symbol*>(k.o)->name->view();
      op->named.emplace_back(std::string(name), std::move(c));
      return true;
    });
  } else if (!params.is_nil()) {
    return iso.type_error(fn, "a vector or map of parameters", params);
  }
  if (!raised.is_nil()) {
    return raised;
  }
  op->iso = &iso;
  op->db = db;
  op->fn = fn;
  op->want_rows = want_rows;
  op->lease = tx != nullptr ? tx->lease : 0;
  StatementOp* raw = op.release();
  Value p = val(iso.begin_op(raw));
  db->submit(raw);
  return p;
}

Value n_query(Isolate& iso, Value* args, int argc) {
  return run_statement(iso, "sqlite/query", true, args, argc);
}

Value n_execute(Isolate& iso, Value* args, int argc) {
  return run_statement(iso, "sqlite/execute", false, args, argc);
}

Value n_open(Isolate& iso, Value* args, int argc) {
  if (!args[0].is(Tag::String)) {
    return iso.type_error("sqlite/open", "a file name string", args[0]);
  }
  SqliteOptions options;
  Value opts = argc > 1 ? args[1] : Value::nil();
  if (!opts.is_nil()) {
    if (!opts.is(Tag::Map)) {
      return iso.type_error("sqlite/open", "an options map", opts);
    }
    Value raised = Value::nil();
    map_each(opts, [&](Value k, Value v) {
      std::string_view name = k.is(Tag::Keyword) ? static_cast<Symbol*>(k.o)->name->view() : "";
      if (name == "readonly" && v.is(Tag::Bool)) {
        options.readonly = v.truthy();
      } else if (name == "busy-timeout-ms" && v.is_int() && v.i >= 0 && v.i <= INT32_MAX) {
        options.busy_timeout_ms = static_cast<uint32_t>(v.i);
      } else {
        raised = iso.raise_error("type-error",
                                 "sqlite/open: options are :readonly (true or false) and "
                                 ":busy-timeout-ms (milliseconds), got " +
                                     print_str(k, true) + " " + print_str(v, true));
        return false;
      }
      return true;
    });
    if (!raised.is_nil()) {
      return raised;
    }
  }
  std::string path(static_cast<String*>(args[0].o)->view());
  SqliteDb* db = iso.keep(std::make_unique<SqliteDb>(iso.loop(), path, options));
  auto* o = iso.heap().make_class<DbObj>(Tag::Internal, &kDbClass);
  o->db = db;
  db->set_handle(&o->db);
  return val(o);
}

Value n_close(Isolate& iso, Value* args, int) {
  auto* o = as<DbObj>(args[0], &kDbClass);
  if (o == nullptr) {
    return iso.type_error("sqlite/close", "a database from sqlite/open", args[0]);
  }
  o->db->close();
  return Value::nil();
}

// (valk.sqlite/acquire db): a promise of the connection for a transaction.
Value n_acquire(Isolate& iso, Value* args, int) {
  auto* o = as<DbObj>(args[0], &kDbClass);
  if (o == nullptr) {
    return iso.type_error("sqlite/transaction", "a database from sqlite/open", args[0]);
  }
  if (o->db->closed()) {
    return iso.raise_error("sqlite-error", "sqlite/transaction: the database is closed");
  }
  auto* op = new LeaseOp();
  op->iso = &iso;
  op->db = o->db;
  op->wants_lease = true;
  Value p = val(iso.begin_op(op));
  o->db->submit(op);
  return p;
}

// (valk.sqlite/release tx): the transaction's connection goes back.
Value n_release(Isolate& iso, Value* args, int) {
  auto* tx = as<TxObj>(args[0], &kTxClass);
  if (tx == nullptr) {
    return iso.type_error("sqlite/transaction", "a transaction's connection", args[0]);
  }
  if (tx->lease != 0) {
    tx->db->release(tx->lease);
    tx->lease = 0;
  }
  return Value::nil();
}

}  // namespace

void register_sqlite_natives(Isolate& iso) {
  iso.define_native("sqlite/open", n_open, 1, 2);
  iso.define_native("sqlite/query", n_query, 2, 3);
  iso.define_native("sqlite/execute", n_execute, 2, 3);
  iso.define_native("sqlite/close", n_close, 1, 1);
  iso.define_native("valk.sqlite/acquire", n_acquire, 1, 1);
  iso.define_native("valk.sqlite/release", n_release, 1, 1);
}

}  // namespace valk::lisp
