#include "lisp/redis_client.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <netdb.h>

#include <deque>
#include <utility>

namespace valk::lisp {

// With libcurl's URL parser for redis:// and rediss://.
bool parse_redis_url(std::string_view url, RedisOptions* o, std::string* error) {
  o->host.clear();
  std::string db;
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
    if ((scheme == "redis" || scheme == "rediss") && !host.empty()) {
      o->tls = scheme == "rediss";
      o->host = host.front() == '[' ? host.substr(1, host.size() - 2) : host;
      o->port = port.empty() ? 6379 : std::atoi(port.c_str());
      db = path.size() > 1 ? path.substr(1) : "";
    }
  }
  if (o->path.empty() && o->host.empty()) {
    *error =
        "redis/connect: a URL redis[s]://[user:password@]host[:port][/db] or "
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

struct RedisClient::Conn {
  explicit Conn(RedisClient* c) : client(c), reader(redisReaderCreate()) {
    limit_reply_arrays(reader);
  }
  ~Conn() { redisReaderFree(reader); }
  uv_stream_t* stream() { return reinterpret_cast<uv_stream_t*>(&handle); }
  uv_handle_t* as_handle() { return reinterpret_cast<uv_handle_t*>(&handle); }

  RedisClient* client;  // null once the connection is lost
  union {
    uv_tcp_t tcp;
    uv_pipe_t pipe;
  } handle;
  uv_connect_t connecting;
  std::unique_ptr<ClientTls> tls;
  bool ready = false;  // connected, and TLS's handshake done
  redisReader* reader;
  // The replies owed, in the order the commands went.
  std::deque<Slot*> owed;
  // Commands made before the connection was ready, and those of this
  // turn: one write for them all.
  std::string out;
  char read_buf[16384];
  char plain_buf[16384];
};

RedisClient::RedisClient(uv_loop_t* loop, RedisOptions options)
    : loop_(loop), options_(std::move(options)) {
  uv_timer_init(loop_, &connect_timer_);
  connect_timer_.data = this;
  uv_prepare_init(loop_, &write_prepare_);
  write_prepare_.data = this;
  uv_timer_init(loop_, &reply_timer_);
  reply_timer_.data = this;
  uv_unref(reinterpret_cast<uv_handle_t*>(&reply_timer_));
}

RedisClient::~RedisClient() {
  if (handle_ != nullptr) {
    *handle_ = nullptr;
  }
}

std::string RedisClient::where() const {
  return options_.path.empty() ? options_.host + ":" + std::to_string(options_.port)
                               : options_.path;
}

void RedisClient::send(std::span<RedisCall* const> calls) {
  if (closed_) {
    for (RedisCall* call : calls) {
      call->replied(nullptr, "the connection is closed");
    }
    return;
  }
  for (RedisCall* call : calls) {
    auto* slot = new Slot{call};
    call->slot = slot;
    waiting_.push_back(slot);
  }
  if (conn_ == nullptr && !resolving_) {
    connect();  // may fail waiting_ at once
  } else if (conn_ != nullptr && setup_pending_ == 0) {
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
        if (!self->closed_ && self->conn_ == nullptr && !self->resolving_) {
          self->connect();
        }
      },
      1000, 0);
}

void RedisClient::connect() {
  if (!options_.path.empty()) {
    connect_to("");
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
        self->connect_to(address);
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

// Starts connecting to `address` (or the Unix socket), with AUTH and
// SELECT first in what goes once it is made.
void RedisClient::connect_to(const std::string& address) {
  auto connected = [](uv_connect_t* req, int status) {
    auto* c = static_cast<Conn*>(req->data);
    if (c->client != nullptr) {  // else lost meanwhile (the status: cancelled)
      c->client->on_connected(status);
    }
  };
  auto* c = new Conn(this);
  c->connecting.data = c;
  int rc;
  if (options_.path.empty()) {
    sockaddr_storage sa{};
    rc = address.find(':') != std::string::npos
             ? uv_ip6_addr(address.c_str(), options_.port, reinterpret_cast<sockaddr_in6*>(&sa))
             : uv_ip4_addr(address.c_str(), options_.port, reinterpret_cast<sockaddr_in*>(&sa));
    uv_tcp_init(loop_, &c->handle.tcp);
    if (rc == 0) {
      uv_tcp_nodelay(&c->handle.tcp, 1);
      rc = uv_tcp_connect(&c->connecting, &c->handle.tcp, reinterpret_cast<sockaddr*>(&sa),
                          connected);
    }
  } else {
    uv_pipe_init(loop_, &c->handle.pipe, 0);
    uv_pipe_connect(&c->connecting, &c->handle.pipe, options_.path.c_str(), connected);
    rc = 0;
  }
  c->as_handle()->data = c;
  conn_ = c;
  if (rc != 0) {
    RedisCounters::process().connect_failures.fetch_add(1, std::memory_order_relaxed);
    lose("cannot connect to Redis at " + where() + ": " + uv_strerror(rc));
    return;
  }
  uv_timer_start(
      &connect_timer_,
      [](uv_timer_t* t) {
        auto* self = static_cast<RedisClient*>(t->data);
        if (self->conn_ != nullptr && !self->conn_->ready) {
          RedisCounters::process().connect_failures.fetch_add(1, std::memory_order_relaxed);
          self->lose("connecting to Redis took longer than " +
                     std::to_string(self->options_.connect_timeout_ms) + " ms");
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
  for (const std::vector<std::string>& words : setup) {
    setup_pending_++;
    append(new Slot{nullptr, true}, words);
  }
  hold_loop();
  if (setup_pending_ == 0) {
    flush();
  }
}

void RedisClient::on_connected(int status) {
  Conn* c = conn_;
  if (status < 0) {
    RedisCounters::process().connect_failures.fetch_add(1, std::memory_order_relaxed);
    lose("cannot connect to Redis at " + where() + ": " + uv_strerror(status));
    return;
  }
  uv_read_start(
      c->stream(),
      [](uv_handle_t* h, size_t, uv_buf_t* buf) {
        auto* c = static_cast<Conn*>(h->data);
        *buf = uv_buf_init(c->read_buf, sizeof c->read_buf);
      },
      [](uv_stream_t* s, ssize_t nread, const uv_buf_t* buf) {
        auto* c = static_cast<Conn*>(s->data);
        if (c->client != nullptr) {
          c->client->on_read(nread, buf->base);
        }
      });
  if (!options_.tls) {
    on_transport_ready();
    return;
  }
  std::string why;
  if (tls_contexts_ == nullptr) {
    tls_contexts_ = std::make_unique<ClientTlsContexts>("");
  }
  SSL_CTX* ctx = tls_contexts_->get(
      {options_.ca_file, !options_.insecure, options_.cert_file, options_.key_file}, &why);
  c->tls = std::make_unique<ClientTls>();
  in6_addr ignored;
  bool is_address = inet_pton(AF_INET, options_.host.c_str(), &ignored) == 1 ||
                    inet_pton(AF_INET6, options_.host.c_str(), &ignored) == 1;
  if (ctx == nullptr || !c->tls->start(ctx, options_.host, is_address, &why)) {
    RedisCounters::process().connect_failures.fetch_add(1, std::memory_order_relaxed);
    lose("TLS with Redis at " + where() + ": " + why);
    return;
  }
  c->tls->handshake();  // the ClientHello
  write_bytes(c->tls->take_output());
}

// Connected (and through TLS's handshake): what waited goes.
void RedisClient::on_transport_ready() {
  conn_->ready = true;
  uv_timer_stop(&connect_timer_);
  RedisCounters::process().connects.fetch_add(1, std::memory_order_relaxed);
  // What waited for the connection goes now: its replies are due from now.
  for (Slot* slot : conn_->owed) {
    slot->sent_ms = uv_now(loop_);
  }
  write_out();
  watch_replies();
}

void RedisClient::on_read(ssize_t nread, const char* data) {
  Conn* c = conn_;
  if (nread == 0) {
    return;
  }
  if (nread < 0) {
    lose(nread == UV_EOF ? std::string("the connection to Redis closed")
                         : std::string("Redis: ") + uv_strerror(static_cast<int>(nread)));
    return;
  }
  if (c->tls == nullptr) {
    redisReaderFeed(c->reader, data, static_cast<size_t>(nread));
    take_replies();
    return;
  }
  c->tls->received(data, static_cast<size_t>(nread));
  if (!c->ready) {
    ClientTls::Step step = c->tls->handshake();
    write_bytes(c->tls->take_output());
    if (step == ClientTls::Step::kFailed) {
      RedisCounters::process().connect_failures.fetch_add(1, std::memory_order_relaxed);
      lose("TLS with Redis at " + where() + " failed: " + c->tls->why());
      return;
    }
    if (step == ClientTls::Step::kMore) {
      return;
    }
    on_transport_ready();
  }
  for (;;) {
    long n = c->tls->read(c->plain_buf, sizeof c->plain_buf);
    if (n == 0) {
      break;
    }
    if (n < 0) {
      lose(n == -1 ? std::string("the connection to Redis closed")
                   : "Redis: TLS: " + c->tls->why());
      return;
    }
    redisReaderFeed(c->reader, c->plain_buf, static_cast<size_t>(n));
  }
  write_bytes(c->tls->take_output());  // what reading made to send (a key update)
  take_replies();
}

void RedisClient::take_replies() {
  Conn* c = conn_;
  while (conn_ == c) {
    void* reply = nullptr;
    if (redisReaderGetReply(c->reader, &reply) != REDIS_OK) {
      // What limit_reply_arrays() refuses reads as out of memory.
      lose(c->reader->err == REDIS_ERR_OOM
               ? "Redis sent a reply too large to read (an array of more than " +
                     std::to_string(kMaxReplyElements) + " elements), or memory ran out"
               : std::string("Redis: ") + c->reader->errstr);
      return;
    }
    if (reply == nullptr) {
      return;
    }
    dispatch(static_cast<redisReply*>(reply));
    freeReplyObject(reply);
  }
}

void RedisClient::dispatch(redisReply* reply) {
  Conn* c = conn_;
  if (!c->owed.empty()) {
    Slot* slot = c->owed.front();
    c->owed.pop_front();
    if (slot->setup) {
      delete slot;
      on_setup_reply(reply);
    } else {
      on_reply(slot, reply);
    }
  } else if (!channels_.empty()) {
    on_message(reply);
  } else {
    lose("Redis sent a reply to no command");
  }
}

void RedisClient::on_reply(Slot* slot, redisReply* reply) {
  RedisCounters& counters = RedisCounters::process();
  counters.replies.fetch_add(1, std::memory_order_relaxed);
  if (reply->type == REDIS_REPLY_ERROR) {
    counters.error_replies.fetch_add(1, std::memory_order_relaxed);
  }
  if (RedisCall* call = slot->call) {
    call->slot = nullptr;
    call->replied(reply, "");
  }
  delete slot;
  hold_loop();
  close_if_orphan_idle();
}

// AUTH and SELECT: a refusal ends the connection, and the commands behind
// them fail with its words.
void RedisClient::on_setup_reply(redisReply* reply) {
  hold_loop();
  if (reply->type == REDIS_REPLY_ERROR) {
    lose(std::string("Redis refused the connection's setup: ") + reply->str);
    return;
  }
  if (--setup_pending_ == 0) {
    flush();
  }
}

void RedisClient::on_message(const redisReply* r) {
  // ["message", channel, payload]; the replies to SUBSCRIBE are
  // ["subscribe", channel, count].
  if (r->type != REDIS_REPLY_ARRAY || r->elements != 3 ||
      r->element[0]->type != REDIS_REPLY_STRING ||
      std::string_view(r->element[0]->str) != "message" || closed_) {
    return;
  }
  RedisCounters::process().messages.fetch_add(1, std::memory_order_relaxed);
  on_message_(std::string_view(r->element[1]->str, r->element[1]->len),
              std::string_view(r->element[2]->str, r->element[2]->len));
}

void RedisClient::flush() {
  if (!channels_.empty()) {
    std::vector<std::string> words{"SUBSCRIBE"};
    words.insert(words.end(), channels_.begin(), channels_.end());
    append(nullptr, words);
  }
  std::vector<Slot*> slots;
  slots.swap(waiting_);
  for (Slot* slot : slots) {
    if (slot->call == nullptr) {
      delete slot;  // abandoned before it was sent
      continue;
    }
    append(slot, slot->call->words);
  }
  hold_loop();
  write_soon();
}

void RedisClient::append(Slot* slot, const std::vector<std::string>& words) {
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
  char* command = nullptr;
  int n = redisFormatCommandArgv(&command, static_cast<int>(words.size()), argv, lens);
  if (n < 0) {
    if (slot != nullptr && slot->call != nullptr) {
      slot->call->slot = nullptr;
      slot->call->replied(nullptr, "out of memory");
    }
    delete slot;
    return;
  }
  conn_->out.append(command, static_cast<size_t>(n));
  redisFreeCommand(command);
  if (slot != nullptr) {
    slot->sent_ms = uv_now(loop_);
    conn_->owed.push_back(slot);  // a SUBSCRIBE's replies are messages'
    watch_replies();
  }
}

void RedisClient::watch_replies() {
  if (options_.command_timeout_ms == 0 ||
      uv_is_active(reinterpret_cast<uv_handle_t*>(&reply_timer_)) || conn_ == nullptr ||
      !conn_->ready || conn_->owed.empty()) {
    return;
  }
  uint64_t due = conn_->owed.front()->sent_ms + options_.command_timeout_ms;
  uint64_t now = uv_now(loop_);
  uv_timer_start(
      &reply_timer_,
      [](uv_timer_t* t) {
        auto* self = static_cast<RedisClient*>(t->data);
        Conn* c = self->conn_;
        if (c == nullptr || c->owed.empty()) {
          return;
        }
        if (uv_now(self->loop_) - c->owed.front()->sent_ms >= self->options_.command_timeout_ms) {
          // Replies come in order: a later one cannot be told from this
          // one's, so the connection goes.
          self->lose("Redis did not answer within " +
                     std::to_string(self->options_.command_timeout_ms) + " ms");
          return;
        }
        self->watch_replies();
      },
      due > now ? due - now : 0, 0);
}

void RedisClient::write_soon() {
  if (conn_ != nullptr && conn_->ready && !conn_->out.empty()) {
    uv_prepare_start(&write_prepare_, [](uv_prepare_t* p) {
      uv_prepare_stop(p);
      static_cast<RedisClient*>(p->data)->write_out();
    });
  }
}

void RedisClient::write_out() {
  Conn* c = conn_;
  if (c == nullptr || !c->ready || c->out.empty()) {
    return;
  }
  std::string bytes = c->tls != nullptr ? c->tls->seal({c->out}) : std::move(c->out);
  c->out.clear();
  write_bytes(std::move(bytes));
}

void RedisClient::write_bytes(std::string bytes) {
  if (bytes.empty()) {
    return;
  }
  struct Write {
    uv_write_t req;
    std::string data;
  };
  auto* w = new Write{{}, std::move(bytes)};
  w->req.data = w;
  uv_buf_t buf = uv_buf_init(w->data.data(), static_cast<unsigned>(w->data.size()));
  int rc = uv_write(&w->req, conn_->stream(), &buf, 1, [](uv_write_t* req, int status) {
    auto* w = static_cast<Write*>(req->data);
    auto* c = static_cast<Conn*>(req->handle->data);
    delete w;
    if (status < 0 && status != UV_ECANCELED && c->client != nullptr) {
      c->client->lose(std::string("Redis: ") + uv_strerror(status));
    }
  });
  if (rc != 0) {
    delete w;
    lose(std::string("Redis: ") + uv_strerror(rc));
  }
}

void RedisClient::hold_loop() {
  if (conn_ != nullptr) {
    if (!conn_->owed.empty() || !channels_.empty()) {
      uv_ref(conn_->as_handle());
    } else {
      uv_unref(conn_->as_handle());
    }
  }
}

void RedisClient::fail_waiting(std::string_view error) {
  std::vector<Slot*> slots;
  slots.swap(waiting_);
  fail(slots, error);
}

void RedisClient::fail(const std::vector<Slot*>& slots, std::string_view error) {
  for (Slot* slot : slots) {
    if (slot->call != nullptr) {
      RedisCounters::process().failed.fetch_add(1, std::memory_order_relaxed);
      slot->call->slot = nullptr;
      slot->call->replied(nullptr, error);
    }
    delete slot;
  }
}

void RedisClient::lose(std::string_view why) {
  Conn* c = conn_;
  if (c == nullptr) {
    return;
  }
  conn_ = nullptr;
  c->client = nullptr;
  setup_pending_ = 0;
  uv_timer_stop(&connect_timer_);
  uv_close(c->as_handle(), [](uv_handle_t* h) { delete static_cast<Conn*>(h->data); });
  std::vector<Slot*> owed(c->owed.begin(), c->owed.end());
  c->owed.clear();
  std::string reason(why);  // `why` may be the reader's, which goes with c
  fail(owed, reason);
  fail_waiting(reason);
  retry_later();
  close_if_orphan_idle();
}

void RedisClient::close() {
  if (closed_) {
    return;
  }
  closed_ = true;
  fail_waiting("the connection was closed");
  lose("the connection was closed");
  uv_close(reinterpret_cast<uv_handle_t*>(&connect_timer_), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&write_prepare_), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&reply_timer_), nullptr);
}

void RedisClient::orphan() {
  handle_ = nullptr;
  orphaned_ = true;
  close_if_orphan_idle();
}

void RedisClient::close_if_orphan_idle() {
  // A subscription lives until closed: its handler may be all the app
  // keeps of it.
  if (!orphaned_ || closed_ || (conn_ != nullptr && !conn_->owed.empty()) || !waiting_.empty() ||
      resolving_ || !channels_.empty()) {
    return;
  }
  close();
}

}  // namespace valk::lisp
