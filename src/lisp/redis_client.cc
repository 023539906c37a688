#include "lisp/redis_client.h"

#include <curl/curl.h>
#include <netdb.h>

#include <utility>

namespace valk::lisp {
namespace {

// hiredis's hooks onto the loop: a poll handle on the socket. (hiredis's
// own libuv adapter drops the error a refused connection reports, so the
// connection would wait for its timeout.)
struct RedisEvents {
  uv_poll_t poll;
  redisAsyncContext* ac;  // null once hiredis let go of it
  int events;
};

void on_poll(uv_poll_t* handle, int status, int events) {
  auto* e = static_cast<RedisEvents*>(handle->data);
  if (e->ac == nullptr) {
    return;
  }
  if (status < 0) {
    // libuv stopped the handle; hiredis finds the socket's error itself.
    if ((e->ac->c.flags & REDIS_CONNECTED) == 0) {
      redisAsyncHandleWrite(e->ac);
    } else {
      redisAsyncHandleRead(e->ac);
    }
    return;
  }
  if ((events & UV_READABLE) != 0) {
    redisAsyncHandleRead(e->ac);
  }
  if (e->ac != nullptr && (events & UV_WRITABLE) != 0) {
    redisAsyncHandleWrite(e->ac);
  }
}

// hiredis asks for reads after every write, and for writes with every
// command: only a change reaches libuv (each is an epoll_ctl or two).
void set_events(void* data, int add, int remove) {
  auto* e = static_cast<RedisEvents*>(data);
  int events = (e->events | add) & ~remove;
  if (events == e->events) {
    return;
  }
  e->events = events;
  if (e->events != 0) {
    uv_poll_start(&e->poll, e->events, on_poll);
  } else {
    uv_poll_stop(&e->poll);
  }
}

bool attach(redisAsyncContext* ac, uv_loop_t* loop) {
  auto* e = new RedisEvents{{}, ac, 0};
  if (uv_poll_init(loop, &e->poll, ac->c.fd) != 0) {
    delete e;
    return false;
  }
  e->poll.data = e;
  ac->ev.data = e;
  ac->ev.addRead = [](void* d) { set_events(d, UV_READABLE, 0); };
  ac->ev.delRead = [](void* d) { set_events(d, 0, UV_READABLE); };
  ac->ev.addWrite = [](void* d) { set_events(d, UV_WRITABLE, 0); };
  ac->ev.delWrite = [](void* d) { set_events(d, 0, UV_WRITABLE); };
  ac->ev.cleanup = [](void* d) {
    auto* e = static_cast<RedisEvents*>(d);
    e->ac = nullptr;
    uv_close(reinterpret_cast<uv_handle_t*>(&e->poll),
             [](uv_handle_t* h) { delete static_cast<RedisEvents*>(h->data); });
  };
  return true;
}

}  // namespace

// With libcurl's URL parser for redis://.
bool parse_redis_url(std::string_view url, RedisOptions* o, std::string* error) {
  o->host.clear();
  std::string db;
  if (url.substr(0, 9) == "rediss://") {
    *error =
        "redis/connect: TLS (rediss://) is not supported: Debian's hiredis (0.14) has no "
        "TLS; reach a TLS-only server through a local tunnel (stunnel, spiped)";
    return false;
  }
  constexpr std::string_view kUnix = "unix://";
  if (url.substr(0, kUnix.size()) == kUnix) {
    std::string_view rest = url.substr(kUnix.size());
    size_t q = rest.find('?');
    o->path = std::string(rest.substr(0, q));
    std::string_view query = q == std::string_view::npos ? "" : rest.substr(q + 1);
    if (query.substr(0, 3) == "db=") {
      db = std::string(query.substr(3));
    } else if (!query.empty()) {
      o->path.clear();
    }
  } else {
    CURLU* u = curl_url();
    bool ok = curl_url_set(u, CURLUPART_URL, std::string(url).c_str(), CURLU_NON_SUPPORT_SCHEME) ==
              CURLUE_OK;
    auto part = [&](CURLUPart which, std::string* out) {
      char* s = nullptr;
      if (!ok || curl_url_get(u, which, &s, CURLU_URLDECODE) != CURLUE_OK || s == nullptr) {
        return false;
      }
      *out = s;
      curl_free(s);
      return true;
    };
    std::string scheme, host, port, path;
    part(CURLUPART_SCHEME, &scheme);
    part(CURLUPART_HOST, &host);
    part(CURLUPART_PORT, &port);
    part(CURLUPART_PATH, &path);
    part(CURLUPART_USER, &o->username);
    part(CURLUPART_PASSWORD, &o->password);
    curl_url_cleanup(u);
    if (scheme == "redis" && !host.empty()) {
      o->host = host.front() == '[' ? host.substr(1, host.size() - 2) : host;
      o->port = port.empty() ? 6379 : std::atoi(port.c_str());
      db = path.size() > 1 ? path.substr(1) : "";
    }
  }
  if (o->path.empty() && o->host.empty()) {
    *error =
        "redis/connect: a URL redis://[user:password@]host[:port][/db] or "
        "unix:///path[?db=N], got " +
        std::string(url);
    return false;
  }
  if (!db.empty()) {
    char* end = nullptr;
    long n = std::strtol(db.c_str(), &end, 10);
    if (*end != '\0' || n < 0 || n > 1 << 20) {
      *error = "redis/connect: the database must be a number, got " + db;
      return false;
    }
    o->db = static_cast<int>(n);
  }
  return true;
}

void limit_reply_arrays(redisReader* reader) {
  // hiredis's own functions, but for arrays; made from the first reader's
  // (every reader starts with the same).
  static redisReplyObjectFunctions defaults = *reader->fn;
  static redisReplyObjectFunctions limited = [] {
    redisReplyObjectFunctions f = defaults;
    f.createArray = [](const redisReadTask* task, int elements) -> void* {
      return elements > kMaxReplyElements ? nullptr : defaults.createArray(task, elements);
    };
    return f;
  }();
  reader->fn = &limited;
}

RedisCounters& RedisCounters::process() {
  static RedisCounters counters;
  return counters;
}

RedisClient::RedisClient(uv_loop_t* loop, RedisOptions options)
    : loop_(loop), options_(std::move(options)) {
  uv_timer_init(loop_, &connect_timer_);
  connect_timer_.data = this;
}

RedisClient::~RedisClient() {
  if (handle_ != nullptr) {
    *handle_ = nullptr;
  }
}

void RedisClient::send(std::span<RedisCall* const> calls) {
  if (closed_) {
    for (RedisCall* call : calls) {
      call->replied(nullptr, "the connection is closed");
    }
    return;
  }
  for (RedisCall* call : calls) {
    auto* slot = new Slot{this, call};
    call->slot = slot;
    waiting_.push_back(slot);
  }
  if (ctx_ == nullptr && !resolving_) {
    connect();  // may fail waiting_ at once
  } else if (ctx_ != nullptr && setup_pending_ == 0) {
    flush();
  }
}

void RedisClient::abandon(RedisCall* call) {
  if (call->slot != nullptr) {
    static_cast<Slot*>(call->slot)->call = nullptr;
    call->slot = nullptr;
  }
}

void RedisClient::subscribe(std::vector<std::string> channels, MessageFn on_message) {
  channels_ = std::move(channels);
  on_message_ = std::move(on_message);
  connect();
}

void RedisClient::retry_later() {
  if (channels_.empty() || closed_) {
    return;
  }
  uv_timer_start(
      &connect_timer_,
      [](uv_timer_t* t) {
        auto* self = static_cast<RedisClient*>(t->data);
        if (!self->closed_ && self->ctx_ == nullptr && !self->resolving_) {
          self->connect();
        }
      },
      1000, 0);
}

void RedisClient::on_message(redisAsyncContext*, void* reply, void* privdata) {
  auto* self = static_cast<RedisClient*>(privdata);
  auto* r = static_cast<redisReply*>(reply);
  // ["message", channel, payload]; the replies to SUBSCRIBE are
  // ["subscribe", channel, count]. Null: the connection is going.
  if (r == nullptr || r->type != REDIS_REPLY_ARRAY || r->elements != 3 ||
      r->element[0]->type != REDIS_REPLY_STRING ||
      std::string_view(r->element[0]->str) != "message" || self->closed_) {
    return;
  }
  RedisCounters::process().messages.fetch_add(1, std::memory_order_relaxed);
  self->on_message_(std::string_view(r->element[1]->str, r->element[1]->len),
                    std::string_view(r->element[2]->str, r->element[2]->len));
}

void RedisClient::connect() {
  failure_.clear();
  if (!options_.path.empty()) {
    connected_to("");
    return;
  }
  // A name is looked up on the thread pool; an address goes straight on.
  struct Lookup {
    uv_getaddrinfo_t req;
    RedisClient* client;
  };
  auto* lookup = new Lookup{{}, this};
  lookup->req.data = lookup;
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  resolving_ = true;
  int rc = uv_getaddrinfo(
      loop_, &lookup->req,
      [](uv_getaddrinfo_t* req, int status, addrinfo* res) {
        auto* lookup = static_cast<Lookup*>(req->data);
        RedisClient* self = lookup->client;
        delete lookup;
        self->resolving_ = false;
        std::string address;
        if (status == 0 && res != nullptr) {
          char text[INET6_ADDRSTRLEN] = "";
          if (res->ai_family == AF_INET6) {
            uv_ip6_name(reinterpret_cast<sockaddr_in6*>(res->ai_addr), text, sizeof text);
          } else {
            uv_ip4_name(reinterpret_cast<sockaddr_in*>(res->ai_addr), text, sizeof text);
          }
          address = text;
        }
        uv_freeaddrinfo(res);
        if (self->closed_) {
          return;
        }
        if (address.empty()) {
          RedisCounters::process().connect_failures.fetch_add(1, std::memory_order_relaxed);
          self->fail_waiting("cannot find the Redis host " + self->options_.host + ": " +
                             (status != 0 ? uv_strerror(status) : "no address"));
          self->retry_later();
          self->close_if_orphan_idle();
          return;
        }
        self->connected_to(address);
        self->close_if_orphan_idle();  // orphaned while looking up, with nothing to send
      },
      options_.host.c_str(), nullptr, &hints);
  if (rc != 0) {
    delete lookup;
    resolving_ = false;
    fail_waiting("cannot find the Redis host " + options_.host + ": " + uv_strerror(rc));
    retry_later();
  }
}

// Makes the context for `address` (or the Unix socket) and queues what
// waited on it: hiredis sends it once the connection is made.
void RedisClient::connected_to(const std::string& address) {
  redisAsyncContext* ac = options_.path.empty() ? redisAsyncConnect(address.c_str(), options_.port)
                                                : redisAsyncConnectUnix(options_.path.c_str());
  std::string where =
      options_.path.empty() ? options_.host + ":" + std::to_string(options_.port) : options_.path;
  if (ac == nullptr || ac->err != 0) {
    std::string why = ac != nullptr ? ac->errstr : "out of memory";
    if (ac != nullptr) {
      redisAsyncFree(ac);
    }
    RedisCounters::process().connect_failures.fetch_add(1, std::memory_order_relaxed);
    fail_waiting("cannot connect to Redis at " + where + ": " + why);
    retry_later();
    return;
  }
  ac->data = this;
  limit_reply_arrays(ac->c.reader);
  if (!attach(ac, loop_)) {
    redisAsyncFree(ac);
    fail_waiting("cannot watch the connection to Redis at " + where);
    retry_later();
    return;
  }
  redisAsyncSetConnectCallback(ac, on_connect);
  redisAsyncSetDisconnectCallback(ac, on_disconnect);
  ctx_ = ac;
  uv_timer_start(
      &connect_timer_,
      [](uv_timer_t* t) {
        auto* self = static_cast<RedisClient*>(t->data);
        if (self->ctx_ != nullptr) {
          RedisCounters::process().connect_failures.fetch_add(1, std::memory_order_relaxed);
          self->failure_ = "connecting to Redis took longer than " +
                           std::to_string(self->options_.connect_timeout_ms) + " ms";
          self->end_context();
        }
      },
      options_.connect_timeout_ms, 0);
  // Who we are and which database, before anything else.
  std::vector<std::vector<std::string>> setup;
  if (!options_.password.empty()) {
    setup.push_back(options_.username.empty()
                        ? std::vector<std::string>{"AUTH", options_.password}
                        : std::vector<std::string>{"AUTH", options_.username, options_.password});
  }
  if (options_.db != 0) {
    setup.push_back({"SELECT", std::to_string(options_.db)});
  }
  for (const std::vector<std::string>& args : setup) {
    std::vector<const char*> argv;
    std::vector<size_t> lens;
    for (const std::string& a : args) {
      argv.push_back(a.data());
      lens.push_back(a.size());
    }
    in_flight_++;
    setup_pending_++;
    redisAsyncCommandArgv(ac, on_setup_reply, this, static_cast<int>(argv.size()), argv.data(),
                          lens.data());
  }
  hold_loop();
  if (setup_pending_ == 0) {
    flush();
  }
}

void RedisClient::flush() {
  if (!channels_.empty()) {
    std::vector<const char*> argv{"SUBSCRIBE"};
    std::vector<size_t> lens{9};
    for (const std::string& c : channels_) {
      argv.push_back(c.data());
      lens.push_back(c.size());
    }
    redisAsyncCommandArgv(ctx_, on_message, this, static_cast<int>(argv.size()), argv.data(),
                          lens.data());
  }
  std::vector<Slot*> slots;
  slots.swap(waiting_);
  for (Slot* slot : slots) {
    issue(slot);
  }
}

void RedisClient::issue(Slot* slot) {
  if (slot->call == nullptr) {
    delete slot;  // abandoned before it was sent
    return;
  }
  const std::vector<std::string>& words = slot->call->words;
  constexpr size_t kFew = 8;
  const char* argv_few[kFew];
  size_t lens_few[kFew];
  std::vector<const char*> argv_many;
  std::vector<size_t> lens_many;
  const char** argv = argv_few;
  size_t* lens = lens_few;
  if (words.size() > kFew) {
    argv_many.resize(words.size());
    lens_many.resize(words.size());
    argv = argv_many.data();
    lens = lens_many.data();
  }
  for (size_t i = 0; i < words.size(); i++) {
    argv[i] = words[i].data();
    lens[i] = words[i].size();
  }
  int rc = redisAsyncCommandArgv(ctx_, on_reply, slot, static_cast<int>(words.size()), argv, lens);
  if (rc != REDIS_OK) {
    if (slot->call != nullptr) {
      slot->call->slot = nullptr;
      slot->call->replied(nullptr, "the connection to Redis is closing");
    }
    delete slot;
    return;
  }
  in_flight_++;
  hold_loop();
}

void RedisClient::hold_loop() {
  if (ctx_ != nullptr && ctx_->ev.data != nullptr) {
    auto* poll = reinterpret_cast<uv_handle_t*>(&static_cast<RedisEvents*>(ctx_->ev.data)->poll);
    if (in_flight_ > 0 || !channels_.empty()) {
      uv_ref(poll);
    } else {
      uv_unref(poll);
    }
  }
}

void RedisClient::fail_waiting(std::string_view error) {
  std::vector<Slot*> slots;
  slots.swap(waiting_);
  for (Slot* slot : slots) {
    if (slot->call != nullptr) {
      RedisCounters::process().failed.fetch_add(1, std::memory_order_relaxed);
      slot->call->slot = nullptr;
      slot->call->replied(nullptr, error);
    }
    delete slot;
  }
}

void RedisClient::lost_context(const redisAsyncContext* ac, std::string_view why) {
  if (ac == nullptr || ctx_ != ac) {
    return;  // not the current context: that one went already
  }
  ctx_ = nullptr;
  setup_pending_ = 0;
  uv_timer_stop(&connect_timer_);
  fail_waiting(why);
  retry_later();
}

// Frees the context now (not from inside one of its callbacks): each
// command in flight gets a null reply.
void RedisClient::end_context() {
  redisAsyncContext* ac = ctx_;
  lost_context(ac, failure_);
  if (ac != nullptr) {
    redisAsyncFree(ac);
  }
}

// Why hiredis let go of a connection.
static std::string lost_why(const redisAsyncContext* ac) {
  if (ac->err == REDIS_ERR_OOM) {
    // What limit_reply_arrays() refuses reads as out of memory.
    return "Redis sent a reply too large to read (an array of more than " +
           std::to_string(kMaxReplyElements) + " elements), or memory ran out";
  }
  return ac->err != 0 ? std::string("Redis: ") + ac->errstr : "the connection to Redis closed";
}

void RedisClient::on_reply(redisAsyncContext* ac, void* reply, void* privdata) {
  auto* slot = static_cast<Slot*>(privdata);
  RedisClient* self = slot->client;
  self->in_flight_--;
  auto* r = static_cast<redisReply*>(reply);
  RedisCounters& counters = RedisCounters::process();
  (r == nullptr ? counters.failed : counters.replies).fetch_add(1, std::memory_order_relaxed);
  if (r != nullptr && r->type == REDIS_REPLY_ERROR) {
    counters.error_replies.fetch_add(1, std::memory_order_relaxed);
  }
  if (RedisCall* call = slot->call) {
    call->slot = nullptr;
    if (reply != nullptr) {
      call->replied(static_cast<redisReply*>(reply), "");
    } else {
      call->replied(nullptr, !self->failure_.empty() ? self->failure_ : lost_why(ac));
    }
  }
  delete slot;
  self->hold_loop();
  self->close_if_orphan_idle();
}

// AUTH and SELECT: a refusal ends the connection, and the commands behind
// them fail with its words.
void RedisClient::on_setup_reply(redisAsyncContext* ac, void* reply, void* privdata) {
  auto* self = static_cast<RedisClient*>(privdata);
  self->in_flight_--;
  self->hold_loop();
  auto* r = static_cast<redisReply*>(reply);
  if (r == nullptr || self->ctx_ != ac) {
    return;  // the context is going: lost_context() fails what waits
  }
  if (r->type == REDIS_REPLY_ERROR) {
    self->failure_ = std::string("Redis refused the connection's setup: ") + r->str;
    self->lost_context(ac, self->failure_);
    redisAsyncFree(ac);  // inside a callback: hiredis frees it after
    return;
  }
  if (--self->setup_pending_ == 0) {
    self->flush();
  }
}

void RedisClient::on_connect(const redisAsyncContext* ac, int status) {
  auto* self = static_cast<RedisClient*>(ac->data);
  uv_timer_stop(&self->connect_timer_);
  RedisCounters& counters = RedisCounters::process();
  (status == REDIS_OK ? counters.connects : counters.connect_failures)
      .fetch_add(1, std::memory_order_relaxed);
  if (status != REDIS_OK) {
    // hiredis frees the context after this, failing what was queued.
    std::string where = self->options_.path.empty()
                            ? self->options_.host + ":" + std::to_string(self->options_.port)
                            : self->options_.path;
    self->failure_ = "cannot connect to Redis at " + where + ": " + ac->errstr;
    self->lost_context(ac, self->failure_);
  }
}

void RedisClient::on_disconnect(const redisAsyncContext* ac, int) {
  auto* self = static_cast<RedisClient*>(ac->data);
  self->lost_context(ac, lost_why(ac));
}

void RedisClient::close() {
  if (closed_) {
    return;
  }
  closed_ = true;
  fail_waiting("the connection was closed");
  failure_ = "the connection was closed";
  end_context();
  uv_close(reinterpret_cast<uv_handle_t*>(&connect_timer_), nullptr);
}

void RedisClient::orphan() {
  handle_ = nullptr;
  orphaned_ = true;
  close_if_orphan_idle();
}

void RedisClient::close_if_orphan_idle() {
  // A subscription lives until closed: its handler may be all the app
  // keeps of it.
  if (!orphaned_ || closed_ || in_flight_ != 0 || !waiting_.empty() || resolving_ ||
      !channels_.empty()) {
    return;
  }
  if (ctx_ != nullptr && (ctx_->c.flags & REDIS_IN_CALLBACK) != 0) {
    redisAsyncContext* ac = ctx_;
    lost_context(ac, "the connection was closed");
    redisAsyncDisconnect(ac);  // hiredis ends it once the callback returns
  }
  close();
}

}  // namespace valk::lisp
