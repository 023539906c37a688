// Redis: a connection per (redis/connect ...), commands as promises.
//
//   (def r (redis/connect "redis://localhost:6379/0"))
//   ;; or {:host :port :path (a Unix socket) :db :username :password
//   ;;     :connect-timeout-ms :command-timeout-ms :tls :ca-file :insecure
//   ;;     :cert-file :key-file},
//   ;;     or {:url ...} with those amending it;
//   ;;     "redis://user:pass@host:port/db", "rediss://host:port" (TLS),
//   ;;     "unix:///path?db=1"
//   (await (redis/cmd r "SET" "greeting" "hello" "EX" 60))   ;; => "OK"
//   (await (redis/cmd r "GET" "greeting"))                   ;; => "hello"
//   (await (redis/multi r [["INCR" "hits"] ["EXPIRE" "hits" 60]]))  ;; => [1 1]
//   (redis/close r)
//   (redis/subscribe url ["chat"] (fn [channel message] ...))  ; core.lisp, on
//   ;; valk.redis/subscribe: a connection of its own, a fiber per message
//
// One connection per handle, shared by every fiber of the isolate: each
// command goes out at once and many are in flight (redis_client.h).
// Arguments: strings, keywords (their name), integers, doubles, bytes.
// Replies: simple and bulk strings as strings (bytes when not UTF-8),
// integers, nil, arrays as vectors. An error reply rejects with {:type
// :redis-error :kind :reply :code "WRONGTYPE"}; a connection that cannot
// be made or is lost, with :kind :connection. Commands that would change
// the shared connection for everyone (MULTI, WATCH, SUBSCRIBE, SELECT...)
// are refused: `redis/multi` sends MULTI, the commands and EXEC back to
// back, so no other fiber's command comes between them.

#include <cstring>
#include <memory>

#include "lisp/builtins.h"
#include "lisp/collections.h"
#include "lisp/isolate.h"
#include "lisp/printer.h"
#include "lisp/redis_client.h"
#include "lisp/redis_reply.h"
#include "util/ascii.h"

namespace valk::lisp {
namespace {

struct ConnObj : ClassObj {
  RedisClient* client;  // the isolate's; null once the isolate has closed it
};
const ObjClass kConnClass = {"redis-connection", [](Obj*, Tracer&) {},
                             [](Obj* o) {
                               if (RedisClient* c = static_cast<ConnObj*>(o)->client) {
                                 c->orphan();
                               }
                             }};

// A subscription: its connection, and the function each message calls.
// Rooted while it lasts (the app need not keep it), so its function is too.
struct SubObj : ClassObj {
  RedisClient* client;
  Value fn;
  uint32_t root;
};
const ObjClass kSubClass = {
    "redis-subscription", [](Obj* o, Tracer& t) { t.mark(static_cast<SubObj*>(o)->fn); }, nullptr};

// Shown on /requests: "redis/cmd GET session:42".
std::string describe_command(std::string_view fn, const std::vector<std::string>& args) {
  std::string text;
  for (const std::string& a : args) {
    if (!text.empty()) {
      text += ' ';
    }
    text += a;
    if (text.size() > 120) {
      break;
    }
  }
  return describe_statement(fn, text);
}

struct CommandOp final : PendingOp, RedisCall {
  Isolate* iso = nullptr;
  RedisClient* client = nullptr;

  std::string describe() const override { return describe_command("redis/cmd", words); }

  void cancel() override {
    client->abandon(this);
    iso->end_op(this, false, val(iso->make_cancelled("the Redis command was cancelled")));
  }

  void replied(const redisReply* r, std::string_view error) override {
    if (r == nullptr) {
      iso->end_op(this, false, redis_error_value(*iso, "redis/cmd", "connection", error));
    } else if (r->type == REDIS_REPLY_ERROR) {
      iso->end_op(this, false, redis_reply_value(*iso, r, "redis/cmd"));
    } else {
      iso->end_op(this, true, redis_reply_value(*iso, r, "redis/cmd"));
    }
  }
};

// MULTI, the commands, EXEC: settles on EXEC's reply.
struct MultiOp final : PendingOp {
  struct Part final : RedisCall {
    MultiOp* op;
    bool last = false;
    void replied(const redisReply* r, std::string_view error) override {
      op->part_replied(r, error, last);
    }
  };
  Isolate* iso = nullptr;
  RedisClient* client = nullptr;
  std::vector<std::unique_ptr<Part>> parts;
  std::string queue_error;  // the first command Redis would not queue

  std::string describe() const override {
    return "redis/multi " + std::to_string(parts.size() - 2) + " commands";
  }

  void cancel() override {
    for (auto& p : parts) {
      client->abandon(p.get());
    }
    iso->end_op(this, false, val(iso->make_cancelled("the Redis transaction was cancelled")));
  }

  void part_replied(const redisReply* r, std::string_view error, bool last) {
    if (!last) {
      if (r != nullptr && r->type == REDIS_REPLY_ERROR && queue_error.empty()) {
        queue_error.assign(r->str, r->len);
      }
      return;
    }
    for (auto& p : parts) {
      client->abandon(p.get());  // those not replied to yet (a lost connection)
    }
    if (r == nullptr) {
      iso->end_op(this, false, redis_error_value(*iso, "redis/multi", "connection", error));
    } else if (r->type == REDIS_REPLY_ERROR) {
      std::string why = queue_error.empty() ? std::string(r->str, r->len) : queue_error;
      iso->end_op(this, false, redis_error_value(*iso, "redis/multi", "reply", why));
    } else {
      iso->end_op(this, true, redis_reply_value(*iso, r, "redis/multi"));
    }
  }
};

bool refused(std::string_view name) {
  static const char* const kRefused[] = {
      "MULTI",        "EXEC",       "DISCARD",    "WATCH",       "UNWATCH",
      "SUBSCRIBE",    "PSUBSCRIBE", "SSUBSCRIBE", "UNSUBSCRIBE", "PUNSUBSCRIBE",
      "SUNSUBSCRIBE", "MONITOR",    "SELECT",     "QUIT",        "RESET"};
  for (const char* r : kRefused) {
    if (ascii_iequals(name, r)) {
      return true;
    }
  }
  return false;
}

// A command's words from Lisp values; nil (and raised) if one is not of a
// kind Redis takes.
bool command_args(Isolate& iso, std::string_view fn, const Value* items, size_t n,
                  std::vector<std::string>* out, Value* raised) {
  if (n == 0) {
    *raised = iso.raise_error("type-error", std::string(fn) + ": a command needs its name");
    return false;
  }
  out->reserve(n);
  for (size_t i = 0; i < n; i++) {
    Value v = items[i];
    if (v.is(Tag::String)) {
      out->emplace_back(static_cast<String*>(v.o)->view());
    } else if (v.is(Tag::Keyword)) {
      out->emplace_back(static_cast<Symbol*>(v.o)->name->view());
    } else if (v.is_int() || v.is(Tag::Double)) {
      out->push_back(print_str(v, false));
    } else if (v.is(Tag::Bytes)) {
      auto* b = static_cast<Bytes*>(v.o);
      out->emplace_back(reinterpret_cast<const char*>(b->data), b->size);
    } else {
      *raised = iso.type_error(fn, "command words that are strings, keywords, numbers or bytes", v);
      return false;
    }
  }
  if (refused((*out)[0])) {
    *raised = iso.raise_error(
        "redis-error", std::string(fn) + ": " + (*out)[0] +
                           " would change the connection every fiber shares (use redis/multi "
                           "for a transaction, :db for a database, a connection of its own "
                           "for the rest)");
    return false;
  }
  return true;
}

RedisClient* client_of(Isolate& iso, std::string_view fn, Value v, Value* raised) {
  auto* o = v.is(Tag::Internal) && static_cast<ClassObj*>(v.o)->cls == &kConnClass
                ? static_cast<ConnObj*>(v.o)
                : nullptr;
  if (o == nullptr) {
    *raised = iso.type_error(fn, "a connection from redis/connect", v);
    return nullptr;
  }
  if (o->client == nullptr || o->client->closed()) {
    *raised = iso.raise_error("redis-error", std::string(fn) + ": the connection is closed");
    return nullptr;
  }
  return o->client;
}

// (redis/cmd conn name arg...)
Value n_cmd(Isolate& iso, Value* args, int argc) {
  Value raised = Value::nil();
  RedisClient* client = client_of(iso, "redis/cmd", args[0], &raised);
  if (client == nullptr) {
    return raised;
  }
  auto op = std::make_unique<CommandOp>();
  if (!command_args(iso, "redis/cmd", args + 1, argc - 1, &op->words, &raised)) {
    return raised;
  }
  op->iso = &iso;
  op->client = client;
  RedisCall* call = op.get();
  Value p = val(iso.begin_op(op.release()));
  client->send({&call, 1});
  return p;
}

// (redis/multi conn [[name arg...] ...])
Value n_multi(Isolate& iso, Value* args, int) {
  Value raised = Value::nil();
  RedisClient* client = client_of(iso, "redis/multi", args[0], &raised);
  if (client == nullptr) {
    return raised;
  }
  if (!args[1].is(Tag::Vector)) {
    return iso.type_error("redis/multi", "a vector of commands (vectors)", args[1]);
  }
  auto op = std::make_unique<MultiOp>();
  auto add = [&](std::vector<std::string> words) {
    auto part = std::make_unique<MultiOp::Part>();
    part->op = op.get();
    part->words = std::move(words);
    op->parts.push_back(std::move(part));
    return op->parts.back().get();
  };
  add({"MULTI"});
  vector_each(args[1], [&](Value c) {
    if (!c.is(Tag::Vector)) {
      raised = iso.type_error("redis/multi", "a command as a vector", c);
      return false;
    }
    std::vector<Value> words;
    vector_each(c, [&](Value w) {
      words.push_back(w);
      return true;
    });
    return command_args(iso, "redis/multi", words.data(), words.size(), &add({})->words, &raised);
  });
  if (!raised.is_nil()) {
    return raised;
  }
  add({"EXEC"})->last = true;
  op->iso = &iso;
  op->client = client;
  std::vector<RedisCall*> calls;
  for (auto& part : op->parts) {
    calls.push_back(part.get());
  }
  MultiOp* raw = op.release();
  Value p = val(iso.begin_op(raw));
  client->send(calls);
  return p;
}

// {:url ...} is read first, so that the other keys amend what it says. A
// key whose value is nil is as good as absent ({:ca-file (getenv ...)}).
bool parse_map(Isolate& iso, Value opts, RedisOptions* o, Value* raised) {
  Value url;
  if (map_find(opts, iso.heap().keyword("url"), &url) && !url.is_nil()) {
    std::string error;
    if (!url.is(Tag::String) || !parse_redis_url(static_cast<String*>(url.o)->view(), o, &error)) {
      *raised = iso.raise_error(
          "type-error", url.is(Tag::String) ? error : "redis/connect: :url must be a string");
      return false;
    }
  }
  map_each(opts, [&](Value k, Value v) {
    std::string_view name = k.is(Tag::Keyword) ? static_cast<Symbol*>(k.o)->name->view() : "";
    if (name == "url" || v.is_nil()) {
      return true;
    }
    auto text = [&](std::string* out) {
      if (!v.is(Tag::String)) {
        return false;
      }
      *out = std::string(static_cast<String*>(v.o)->view());
      return true;
    };
    bool ok =
        (name == "host" && text(&o->host)) || (name == "path" && text(&o->path)) ||
        (name == "username" && text(&o->username)) || (name == "password" && text(&o->password)) ||
        (name == "ca-file" && text(&o->ca_file)) || (name == "cert-file" && text(&o->cert_file)) ||
        (name == "key-file" && text(&o->key_file));
    if (!ok && v.is(Tag::Bool) && (name == "tls" || name == "insecure")) {
      (name == "tls" ? o->tls : o->insecure) = v.truthy();
      ok = true;
    }
    if (!ok && v.is_int()) {
      if (name == "port" && v.i > 0 && v.i < 65536) {
        o->port = static_cast<int>(v.i);
        ok = true;
      } else if (name == "db" && v.i >= 0 && v.i <= 1 << 20) {
        o->db = static_cast<int>(v.i);
        ok = true;
      } else if (name == "connect-timeout-ms" && v.i > 0 && v.i <= 3600000) {
        o->connect_timeout_ms = static_cast<uint32_t>(v.i);
        ok = true;
      } else if (name == "command-timeout-ms" && v.i >= 0 && v.i <= 3600000) {
        o->command_timeout_ms = static_cast<uint32_t>(v.i);
        ok = true;
      }
    }
    if (!ok) {
      *raised = iso.raise_error(
          "type-error",
          "redis/connect: options are :url :host :path :username :password :ca-file :cert-file "
          ":key-file "
          "(strings), :port :db :connect-timeout-ms :command-timeout-ms (integers), :tls "
          ":insecure (booleans), "
          "got " +
              print_str(k, true) + " " + print_str(v, true));
    }
    return ok;
  });
  return raised->is_nil();
}

// Where a URL or an options map says to connect; false (and raised) if
// it is neither.
bool options_of(Isolate& iso, std::string_view fn, Value spec, RedisOptions* options,
                Value* raised) {
  if (spec.is(Tag::String)) {
    std::string error;
    if (!parse_redis_url(static_cast<String*>(spec.o)->view(), options, &error)) {
      *raised = iso.raise_error("type-error", error);
      return false;
    }
    return true;
  }
  if (spec.is(Tag::Map)) {
    if (!parse_map(iso, spec, options, raised)) {
      return false;
    }
    if (options->tls && !options->path.empty()) {
      *raised = iso.raise_error("type-error",
                                "redis/connect: TLS goes to a host and port, not a Unix socket");
      return false;
    }
    if (options->cert_file.empty() != options->key_file.empty()) {
      *raised =
          iso.raise_error("type-error", "redis/connect: :cert-file and :key-file go together");
      return false;
    }
    return true;
  }
  *raised = iso.type_error(fn, "a redis:// URL or an options map", spec);
  return false;
}

// (redis/connect url-or-map): a handle at once; the connection is made by
// the first command (and made again after a loss).
Value n_connect(Isolate& iso, Value* args, int) {
  RedisOptions options;
  Value raised = Value::nil();
  if (!options_of(iso, "redis/connect", args[0], &options, &raised)) {
    return raised;
  }
  RedisClient* client = iso.keep(std::make_unique<RedisClient>(iso.loop(), std::move(options)));
  auto* o = iso.heap().make_class<ConnObj>(Tag::Internal, &kConnClass);
  o->client = client;
  client->set_handle(&o->client);
  return val(o);
}

// (valk.redis/subscribe url-or-map channels f): core.lisp's
// redis/subscribe gives an f that reports its own errors.
Value n_subscribe(Isolate& iso, Value* args, int) {
  RedisOptions options;
  Value raised = Value::nil();
  if (!options_of(iso, "redis/subscribe", args[0], &options, &raised)) {
    return raised;
  }
  std::vector<std::string> channels;
  if (args[1].is(Tag::Vector)) {
    vector_each(args[1], [&](Value c) {
      if (!c.is(Tag::String) && !c.is(Tag::Keyword)) {
        raised = iso.type_error("redis/subscribe", "channel names that are strings or keywords", c);
        return false;
      }
      channels.emplace_back(c.is(Tag::String) ? static_cast<String*>(c.o)->view()
                                              : static_cast<Symbol*>(c.o)->name->view());
      return true;
    });
  }
  if (!raised.is_nil()) {
    return raised;
  }
  if (channels.empty()) {
    return iso.type_error("redis/subscribe", "a vector of channel names", args[1]);
  }
  RedisClient* client = iso.keep(std::make_unique<RedisClient>(iso.loop(), std::move(options)));
  auto* sub = iso.heap().make_class<SubObj>(Tag::Internal, &kSubClass);
  sub->client = client;
  sub->fn = args[2];
  sub->root = iso.root(val(sub));
  Isolate* isolate = &iso;
  client->subscribe(std::move(channels), [isolate, sub](std::string_view channel,
                                                        std::string_view message) {
    Heap& h = isolate->heap();
    Value call_args[2] = {h.string(channel), redis_text_value(h, message.data(), message.size())};
    isolate->spawn_call(sub->fn, call_args, 2);
  });
  return val(sub);
}

Value n_close(Isolate& iso, Value* args, int) {
  bool conn = args[0].is(Tag::Internal) && static_cast<ClassObj*>(args[0].o)->cls == &kConnClass;
  bool subscription =
      args[0].is(Tag::Internal) && static_cast<ClassObj*>(args[0].o)->cls == &kSubClass;
  if (!conn && !subscription) {
    return iso.type_error("redis/close", "a connection from redis/connect or redis/subscribe",
                          args[0]);
  }
  if (subscription) {
    auto* sub = static_cast<SubObj*>(args[0].o);
    if (!sub->client->closed()) {
      sub->client->close();
      iso.unroot(sub->root);
    }
  } else if (RedisClient* c = static_cast<ConnObj*>(args[0].o)->client) {
    c->close();
  }
  return Value::nil();
}

}  // namespace

void register_redis_natives(Isolate& iso) {
  iso.define_native("redis/connect", n_connect, 1, 1);
  iso.define_native("redis/cmd", n_cmd, 2, -1);
  iso.define_native("redis/multi", n_multi, 2, 2);
  iso.define_native("redis/close", n_close, 1, 1);
  iso.define_native("valk.redis/subscribe", n_subscribe, 3, 3);
}

}  // namespace valk::lisp
