// PostgreSQL: a pool of connections per isolate, queries as promises.
//
//   (def db (pg/connect "host=/run/postgresql dbname=app"))   ; or a URI;
//   (def db (pg/connect conninfo {:pool-size 8}))            ; 4 by default
//   (await (pg/query db "SELECT id, title FROM todos WHERE id = $1" [id]))
//   ;; => [{:id 1 :title "write docs"}]
//   (await (pg/execute db "DELETE FROM todos WHERE done"))  ;; => rows affected
//   (pg/transaction db (fn [tx] ... (await (pg/query tx ...)) ...))  ; core.lisp
//   (pg/close db)
//
// Connections open when queries need them, and must be made within the
// conninfo's connect_timeout (10 s if it has none). Columns come back by type:
// smallint/integer/bigint/oid as ints, real/double precision as doubles,
// boolean as true/false, json/jsonb parsed (keyword keys), bytea as bytes,
// NULL as nil, and everything else (numeric, text, dates, arrays...) as the
// server's text. Parameters: nil, booleans, ints, doubles, strings,
// keywords (their name), bytes (bytea), maps and vectors (as JSON text).
//
// A failed query rejects with {:type :pg-error :code SQLSTATE ...} (and
// :detail, :hint, :constraint, :table, :column when the server gives
// them); a connection that could not be made or broke, with
// {:type :pg-error :kind :connection}.
#include <libpq-fe.h>

#include <charconv>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "lisp/builtins.h"
#include "lisp/collections.h"
#include "lisp/isolate.h"
#include "lisp/json.h"
#include "lisp/pg_client.h"
#include "lisp/utf8.h"

namespace valk::lisp {
namespace {

constexpr int64_t kDefaultPoolSize = 4;
constexpr uint64_t kDefaultConnectTimeoutMs = 10000;

// Type OIDs (PostgreSQL's pg_type.dat); they never change.
constexpr Oid kBool = 16, kBytea = 17, kInt8 = 20, kInt2 = 21, kInt4 = 23, kOid = 26, kJson = 114,
              kFloat4 = 700, kFloat8 = 701, kJsonb = 3802;

// The pool of (pg/connect ...). The pool itself belongs to the isolate.
struct PoolObj : ClassObj {
  PgPool* pool;  // the isolate's; null once the isolate has closed it
};
// Neither refers to Lisp values. A pool nothing refers to closes once idle.
const ObjClass kPoolClass = {"pg-pool", [](Obj*, Tracer&) {},
                             [](Obj* o) {
                               if (PgPool* pool = static_cast<PoolObj*>(o)->pool) {
                                 pool->orphan();
                               }
                             }};

// The connection of a transaction (valk.pg/acquire), until released.
struct LeaseObj : ClassObj {
  PgPool* pool;
  PgConn* conn;  // null once released
};
const ObjClass kLeaseClass = {"pg-connection", [](Obj*, Tracer&) {}, nullptr};

bool is_class(Value v, const ObjClass* cls) {
  return v.is(Tag::Internal) && static_cast<ClassObj*>(v.o)->cls == cls;
}

// libpq's message on one line: "...failed: No such file or directory Is
// the server running locally...?"
std::string one_line(std::string_view message) {
  std::string out;
  for (char c : message) {
    if (c == '\n' || c == '\t') {
      c = ' ';
    }
    if (c != ' ' || (!out.empty() && out.back() != ' ')) {
      out.push_back(c);
    }
  }
  while (!out.empty() && out.back() == ' ') {
    out.pop_back();
  }
  return out;
}

// `fn`'s error: the server's primary message and its fields, or (with no
// result) what libpq said about the connection.
Value pg_error(Isolate& iso, const std::string& fn, const std::string& message, PGresult* r) {
  Heap& h = iso.heap();
  std::vector<Value> kvs = {h.keyword("type"), h.keyword("pg-error")};
  std::string text = message;
  if (r == nullptr) {
    kvs.insert(kvs.end(), {h.keyword("kind"), h.keyword("connection")});
  } else {
    if (const char* primary = PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY)) {
      text = primary;
    }
    if (const char* pos = PQresultErrorField(r, PG_DIAG_STATEMENT_POSITION)) {
      kvs.insert(kvs.end(), {h.keyword("position"), Value::integer(std::atoll(pos))});
    }
    const std::pair<int, const char*> fields[] = {
        {PG_DIAG_SQLSTATE, "code"},     {PG_DIAG_MESSAGE_DETAIL, "detail"},
        {PG_DIAG_MESSAGE_HINT, "hint"}, {PG_DIAG_CONSTRAINT_NAME, "constraint"},
        {PG_DIAG_TABLE_NAME, "table"},  {PG_DIAG_COLUMN_NAME, "column"}};
    for (auto [field, name] : fields) {
      if (const char* v = PQresultErrorField(r, field)) {
        kvs.insert(kvs.end(), {h.keyword(name), h.string(v)});
      }
    }
  }
  return val(iso.make_error(h.string(fn + ": " + one_line(text)),
                            map_from(h, kvs.data(), kvs.size() / 2)));
}

// bytea's text output: "\x" and two hex digits a byte.
Value bytea_value(Heap& h, std::string_view s) {
  auto hex = [](char c) { return c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10; };
  std::string bytes;
  if (s.starts_with("\\x")) {
    for (size_t i = 2; i + 1 < s.size(); i += 2) {
      bytes.push_back(static_cast<char>(hex(s[i]) << 4 | hex(s[i + 1])));
    }
  }
  return val(h.make_bytes(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()));
}

Value column_value(Heap& h, Oid type, std::string_view s) {
  switch (type) {
    case kBool:
      return Value::boolean(s == "t");
    case kInt2:
    case kInt4:
    case kInt8:
    case kOid: {
      int64_t n = 0;
      std::from_chars(s.data(), s.data() + s.size(), n);
      return Value::integer(n);
    }
    case kFloat4:
    case kFloat8:
      return Value::number(std::strtod(std::string(s).c_str(), nullptr));  // NaN, Infinity too
    case kBytea:
      return bytea_value(h, s);
    case kJson:
    case kJsonb: {
      Value out;
      if (json_parse(h, s, JsonParseOptions{}, &out, nullptr)) {
        return out;
      }
      return h.string(s);
    }
    default:
      return utf8_valid(s)
                 ? h.string(s)
                 : val(h.make_bytes(reinterpret_cast<const uint8_t*>(s.data()), s.size()));
  }
}

Value rows_value(Heap& h, PGresult* r) {
  int ncols = PQnfields(r);
  int nrows = PQntuples(r);
  std::vector<Value> names;
  std::vector<Oid> types;
  for (int c = 0; c < ncols; ++c) {
    names.push_back(h.keyword(PQfname(r, c)));
    types.push_back(PQftype(r, c));
  }
  std::vector<Value> rows;
  rows.reserve(static_cast<size_t>(nrows));
  std::vector<Value> kvs(static_cast<size_t>(ncols) * 2);
  for (int row = 0; row < nrows; ++row) {
    for (int c = 0; c < ncols; ++c) {
      kvs[2 * c] = names[c];
      kvs[2 * c + 1] =
          PQgetisnull(r, row, c) != 0
              ? Value::nil()
              : column_value(h, types[c],
                             std::string_view(PQgetvalue(r, row, c),
                                              static_cast<size_t>(PQgetlength(r, row, c))));
    }
    rows.push_back(map_from(h, kvs.data(), static_cast<size_t>(ncols)));
  }
  return vector_from(h, rows.data(), rows.size());
}

struct QueryOp final : PendingOp, PgQuery {
  Isolate* iso = nullptr;
  PgPool* pool = nullptr;
  bool want_rows = true;  // pg/query; pg/execute wants the count
  const char* fn = "pg/query";

  std::string describe() const override { return describe_statement(fn, sql); }

  void cancel() override {
    pool->abandon(this);
    iso->end_op(this, false, val(iso->make_cancelled("the query was cancelled")));
  }

  void finished(PGresult* r, const std::string& error) override {
    if (r == nullptr) {
      iso->end_op(this, false, pg_error(*iso, fn, error, nullptr));
      return;
    }
    ExecStatusType status = PQresultStatus(r);
    if (status != PGRES_TUPLES_OK && status != PGRES_COMMAND_OK) {
      Value e = pg_error(*iso, fn, PQresultErrorMessage(r), r);
      PQclear(r);
      iso->end_op(this, false, e);
      return;
    }
    Value v;
    if (want_rows) {
      v = rows_value(iso->heap(), r);
    } else {
      const char* n = PQcmdTuples(r);
      v = Value::integer(*n != '\0' ? std::atoll(n) : 0);
    }
    PQclear(r);
    iso->end_op(this, true, v);
  }
};

struct LeaseOp final : PendingOp, PgLease {
  Isolate* iso = nullptr;
  PgPool* pool = nullptr;

  std::string describe() const override { return "pg/transaction: a connection of its own"; }

  void cancel() override {
    pool->abandon(this);
    iso->end_op(this, false, val(iso->make_cancelled("the wait for a connection was cancelled")));
  }

  void granted(PgConn* conn, const std::string& error) override {
    if (conn == nullptr) {
      iso->end_op(this, false, pg_error(*iso, "pg/transaction", error, nullptr));
      return;
    }
    auto* l = iso->heap().make_class<LeaseObj>(Tag::Internal, &kLeaseClass);
    l->pool = pool;
    l->conn = conn;
    iso->end_op(this, true, val(l));
  }
};

template <class Op>
Value start(Isolate& iso, Op* op) {
  op->iso = &iso;
  return val(iso.begin_op(op));
}

// The text (or bytes) PostgreSQL gets for `v`; false if `v` has no form.
bool param_of(Value v, PgParam* out) {
  char buf[64];
  if (v.is_nil()) {
    out->null = true;
  } else if (v.is(Tag::Bool)) {
    out->value = v.truthy() ? "true" : "false";
  } else if (v.is_int()) {
    auto res = std::to_chars(buf, buf + sizeof(buf), v.i);
    out->value.assign(buf, res.ptr);
  } else if (v.is(Tag::Double)) {
    auto res = std::to_chars(buf, buf + sizeof(buf), v.d);
    out->value.assign(buf, res.ptr);
  } else if (v.is(Tag::String)) {
    out->value = std::string(static_cast<String*>(v.o)->view());
  } else if (v.is(Tag::Keyword)) {
    out->value = std::string(static_cast<Symbol*>(v.o)->name->view());
  } else if (v.is(Tag::Bytes)) {
    auto* b = static_cast<Bytes*>(v.o);
    out->value.assign(reinterpret_cast<const char*>(b->data), b->size);
    out->binary = true;
  } else if (v.is(Tag::Map) || v.is(Tag::Vector)) {
    std::string err;
    return json_write(v, JsonWriteOptions{}, &out->value, &err);
  } else {
    return false;
  }
  return true;
}

// (pg/query target sql [params]) and pg/execute: the op, filled in, or
// nullptr with the error in *raised.
std::unique_ptr<QueryOp> query_op(Isolate& iso, const char* fn, Value* args, int argc,
                                  Value* raised) {
  if (!args[1].is(Tag::String)) {
    *raised = iso.type_error(fn, "a string of SQL", args[1]);
    return nullptr;
  }
  auto op = std::make_unique<QueryOp>();
  op->sql = std::string(static_cast<String*>(args[1].o)->view());
  if (argc > 2 && !args[2].is_nil()) {
    if (!args[2].is(Tag::Vector)) {
      *raised = iso.type_error(fn, "a vector of parameters", args[2]);
      return nullptr;
    }
    bool ok = true;
    vector_each(args[2], [&](Value v) {
      PgParam p;
      if (!param_of(v, &p)) {
        *raised = iso.type_error(fn,
                                 "parameters that are nil, booleans, numbers, strings, "
                                 "keywords, bytes, maps or vectors",
                                 v);
        ok = false;
      }
      op->params.push_back(std::move(p));
      return ok;
    });
    if (!ok) {
      return nullptr;
    }
  }
  return op;
}

Value run_query(Isolate& iso, const char* fn, bool want_rows, Value* args, int argc) {
  Value target = args[0];
  PoolObj* pool = is_class(target, &kPoolClass) ? static_cast<PoolObj*>(target.o) : nullptr;
  LeaseObj* lease = is_class(target, &kLeaseClass) ? static_cast<LeaseObj*>(target.o) : nullptr;
  if (pool == nullptr && lease == nullptr) {
    return iso.type_error(fn, "a pool from pg/connect or a transaction's connection", target);
  }
  PgPool* p = pool != nullptr ? pool->pool : lease->pool;
  if (p->closed()) {
    return iso.raise_error("pg-error", std::string(fn) + ": the pool is closed");
  }
  if (lease != nullptr && lease->conn == nullptr) {
    return iso.raise_error("pg-error", std::string(fn) + ": the transaction is over");
  }
  Value raised;
  std::unique_ptr<QueryOp> owned = query_op(iso, fn, args, argc, &raised);
  if (owned == nullptr) {
    return raised;
  }
  QueryOp* op = owned.release();  // the isolate's until it ends (end_op)
  op->pool = p;
  op->want_rows = want_rows;
  op->fn = fn;
  Value promise = start(iso, op);
  if (lease != nullptr) {
    p->submit_on(lease->conn, op);
  } else {
    p->submit(op);
  }
  return promise;
}

Value n_query(Isolate& iso, Value* args, int argc) {
  return run_query(iso, "pg/query", true, args, argc);
}

Value n_execute(Isolate& iso, Value* args, int argc) {
  return run_query(iso, "pg/execute", false, args, argc);
}

Value n_connect(Isolate& iso, Value* args, int argc) {
  if (!args[0].is(Tag::String)) {
    return iso.type_error("pg/connect", "a connection string or URI", args[0]);
  }
  std::string conninfo(static_cast<String*>(args[0].o)->view());
  char* err = nullptr;
  PQconninfoOption* parsed = PQconninfoParse(conninfo.c_str(), &err);
  if (parsed == nullptr) {
    std::string why = err != nullptr ? err : "out of memory";
    PQfreemem(err);
    while (!why.empty() && why.back() == '\n') {
      why.pop_back();
    }
    return iso.raise_error("pg-error", "pg/connect: " + why);
  }
  // libpq's connect_timeout (seconds) is the blocking calls'; a pool waits
  // as long, 10 s if it is not given.
  uint64_t connect_timeout_ms = kDefaultConnectTimeoutMs;
  for (PQconninfoOption* o = parsed; o->keyword != nullptr; ++o) {
    if (std::string_view(o->keyword) == "connect_timeout" && o->val != nullptr &&
        std::atoll(o->val) > 0) {
      connect_timeout_ms = static_cast<uint64_t>(std::atoll(o->val)) * 1000;
    }
  }
  PQconninfoFree(parsed);
  int64_t size = kDefaultPoolSize;
  if (argc > 1 && !args[1].is_nil()) {
    Value v = Value::nil();
    if (!args[1].is(Tag::Map) || map_count(args[1]) > 1 ||
        (map_count(args[1]) == 1 && !map_find(args[1], iso.heap().keyword("pool-size"), &v))) {
      return iso.type_error("pg/connect", "an options map of :pool-size", args[1]);
    }
    if (!v.is_nil() && (!v.is_int() || v.i < 1 || v.i > 1000)) {
      return iso.type_error("pg/connect", "a :pool-size from 1 to 1000", v);
    }
    if (v.is_int()) {
      size = v.i;
    }
  }
  PgPool* pool = iso.keep(std::make_unique<PgPool>(iso.loop(), std::move(conninfo),
                                                   static_cast<size_t>(size), connect_timeout_ms));
  auto* o = iso.heap().make_class<PoolObj>(Tag::Internal, &kPoolClass);
  o->pool = pool;
  pool->set_handle(&o->pool);
  return val(o);
}

Value n_close(Isolate& iso, Value* args, int) {
  if (!is_class(args[0], &kPoolClass)) {
    return iso.type_error("pg/close", "a pool from pg/connect", args[0]);
  }
  static_cast<PoolObj*>(args[0].o)->pool->close();
  return Value::nil();
}

// (valk.pg/acquire db): a promise of a connection of one's own.
Value n_acquire(Isolate& iso, Value* args, int) {
  if (!is_class(args[0], &kPoolClass)) {
    return iso.type_error("pg/transaction", "a pool from pg/connect", args[0]);
  }
  PgPool* pool = static_cast<PoolObj*>(args[0].o)->pool;
  if (pool->closed()) {
    return iso.raise_error("pg-error", "pg/transaction: the pool is closed");
  }
  auto* op = new LeaseOp();
  op->pool = pool;
  Value promise = start(iso, op);
  pool->acquire(op);
  return promise;
}

// (valk.pg/release tx): the connection goes back to the pool.
Value n_release(Isolate& iso, Value* args, int) {
  if (!is_class(args[0], &kLeaseClass)) {
    return iso.type_error("valk.pg/release", "a transaction's connection", args[0]);
  }
  auto* l = static_cast<LeaseObj*>(args[0].o);
  if (l->conn != nullptr && !l->pool->closed()) {
    l->pool->release(l->conn);
  }
  l->conn = nullptr;
  return Value::nil();
}

}  // namespace

void register_pg_natives(Isolate& iso) {
  iso.define_native("pg/connect", n_connect, 1, 2);
  iso.define_native("pg/query", n_query, 2, 3);
  iso.define_native("pg/execute", n_execute, 2, 3);
  iso.define_native("pg/close", n_close, 1, 1);
  iso.define_native("valk.pg/acquire", n_acquire, 1, 1);
  iso.define_native("valk.pg/release", n_release, 1, 1);
}

}  // namespace valk::lisp
