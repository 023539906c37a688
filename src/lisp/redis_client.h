// A Redis connection for an isolate, on its loop: a libuv TCP or Unix
// socket, TLS of its own (h1_tls.h) when asked for, hiredis's encoder and
// reply reader (RESP2). Commands go out as soon as they are made, many in
// flight at once (pipelined), and their replies come back in order. A
// host name is looked up on libuv's thread pool, never on the loop. A lost
// connection fails the commands in flight; the next command connects again.
#pragma once

#include <hiredis/hiredis.h>
#include <uv.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "lisp/h1_tls.h"
#include "lisp/isolate.h"

namespace valk::lisp {

// Where to connect, and as whom.
struct RedisOptions {
  std::string host = "127.0.0.1";
  int port = 6379;
  std::string path;  // a Unix socket instead of host and port
  int db = 0;
  std::string username;  // with a password: AUTH username password (Redis 6 ACLs)
  std::string password;
  uint32_t connect_timeout_ms = 5000;
  // A reply later than this (from its command's sending) ends the
  // connection, failing what it owed; 0: none.
  uint32_t command_timeout_ms = 0;
  bool tls = false;       // TLS to host and port (rediss://)
  std::string ca_file;    // its CAs ("": the system's)
  bool insecure = false;  // the server's certificate not verified
  // A client certificate and key, for a server that asks for one
  // (tls-auth-clients).
  std::string cert_file;
  std::string key_file;
};

// Reads "redis[s]://[user:password@]host[:port][/db]" or
// "unix:///path[?db=N]" into `o` (its host cleared first; rediss:// sets
// tls); false and why if it is neither.
bool parse_redis_url(std::string_view url, RedisOptions* o, std::string* error);

// Makes `reader` refuse a reply array of more than kMaxReplyElements
// elements (the connection then fails with an error): hiredis 0.14
// allocates an array's element slots when it reads its header, so a
// server, or anything posing as one, could otherwise make it allocate
// gigabytes with a dozen bytes.
constexpr int kMaxReplyElements = 1 << 24;
void limit_reply_arrays(redisReader* reader);

// What the process's Redis connections did, for /metrics.
struct RedisCounters {
  std::atomic<uint64_t> replies{0};        // commands answered
  std::atomic<uint64_t> error_replies{0};  // of those, answered with an error
  std::atomic<uint64_t> failed{0};         // commands no reply came for (connection)
  std::atomic<uint64_t> connects{0};
  std::atomic<uint64_t> connect_failures{0};
  std::atomic<uint64_t> messages{0};  // published messages subscriptions took
  static RedisCounters& process();
};

// A command, and its caller, told of its reply once.
struct RedisCall {
  virtual ~RedisCall() = default;
  std::vector<std::string> words;  // the command's name and arguments
  // On the loop's thread: the reply, or null and why there is none.
  virtual void replied(const redisReply* reply, std::string_view error) = 0;
  // The client's note of the command on its way (RedisClient only).
  void* slot = nullptr;
};

class RedisClient final : public LoopResource {
 public:
  RedisClient(uv_loop_t* loop, RedisOptions options);
  ~RedisClient() override;

  // Sends the calls' commands, back to back (nothing else goes between
  // them); each call's replied() comes later, in order. A call lives until
  // then, or until abandoned.
  void send(std::span<RedisCall* const> calls);
  // Forgets a call whose reply has not come: its replied() is not called,
  // and if it was not sent yet, it is not sent.
  void abandon(RedisCall* call);
  // Makes the connection a subscription to `channels` (it carries no
  // commands): each message published on one calls `on_message`. Lost,
  // the connection is made again a second later and subscribes again;
  // what was published meanwhile is not seen (Redis keeps nothing for
  // subscribers that are away).
  using MessageFn = std::function<void(std::string_view channel, std::string_view message)>;
  void subscribe(std::vector<std::string> channels, MessageFn on_message);
  // Fails what is in flight or waiting, and closes the connection.
  void close() override;
  bool closed() const { return closed_; }
  // The Lisp handle of the connection (set by redis/connect), so that
  // either of the two that goes first lets go of the other.
  void set_handle(RedisClient** handle) { handle_ = handle; }
  // The Lisp handle was collected: nothing new can come, so the connection
  // closes once no reply is awaited. Calls no Lisp: runs inside a
  // collection.
  void orphan();
  const RedisOptions& options() const { return options_; }

 private:
  // A command on its way: who waits for its reply (null once abandoned),
  // or the connection's own AUTH or SELECT. Freed when its reply (or the
  // failure) comes.
  struct Slot {
    RedisCall* call;
    bool setup = false;
    uint64_t sent_ms = 0;  // the loop's clock when it went out
  };
  // One connection's socket, TLS, reader and the replies it owes;
  // replaced by a new one after a loss (redis_client.cc).
  struct Conn;
  // Looks the host up (if a name), then connects.
  void connect();
  void connect_to(const std::string& address);
  void on_connected(int status);
  void on_transport_ready();
  void on_read(ssize_t nread, const char* data);
  void take_replies();
  void dispatch(redisReply* reply);
  void on_reply(Slot* slot, redisReply* reply);
  void on_setup_reply(redisReply* reply);
  void on_message(const redisReply* reply);
  // Sends what waited for the connection.
  void flush();
  // Appends a command to what goes out next (write_out() sends it).
  void append(Slot* slot, const std::vector<std::string>& words);
  // Sends what was appended when the loop next prepares to poll: the
  // commands the fibers made meanwhile go out in one write.
  void write_soon();
  void write_out();
  void write_bytes(std::string bytes);
  // Fails every call in `waiting_`.
  void fail_waiting(std::string_view error);
  // Fails the calls of `slots` (those not abandoned), and frees them.
  static void fail(const std::vector<Slot*>& slots, std::string_view error);
  // The connection is lost (or closed): what it owed and what waited for
  // it fail with `why`; a subscription tries again later.
  void lose(std::string_view why);
  void close_if_orphan_idle();
  // An idle connection does not keep the loop (and `valk run`) alive; one
  // that awaits replies does.
  void hold_loop();
  // A subscription's next try, a second from now.
  void retry_later();
  // Checks, when the oldest reply owed is due, that it came
  // (command_timeout_ms).
  void watch_replies();
  std::string where() const;

  uv_loop_t* loop_;
  RedisOptions options_;
  Conn* conn_ = nullptr;
  bool resolving_ = false;
  // AUTH and SELECT replies still to come: commands wait for them, so
  // that none runs as the wrong user or in the wrong database.
  int setup_pending_ = 0;
  bool closed_ = false;
  bool orphaned_ = false;
  RedisClient** handle_ = nullptr;
  // Commands made while there is no connection ready for them yet.
  std::vector<Slot*> waiting_;
  // A subscription's channels and what takes its messages.
  std::vector<std::string> channels_;
  MessageFn on_message_;
  // The connect timeout (TLS handshake included); for a subscription,
  // also the wait before a retry.
  uv_timer_t connect_timer_;
  uv_prepare_t write_prepare_;
  uv_timer_t reply_timer_;                           // command_timeout_ms; unreferenced
  std::unique_ptr<ClientTlsContexts> tls_contexts_;  // made at the first TLS connection
};

}  // namespace valk::lisp
