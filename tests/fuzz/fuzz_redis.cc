// Fuzzes what a Redis server (or anything posing as one) sends, and the
// URLs an app gives redis/connect: replies go through hiredis's reader
// into Lisp values (redis_reply_value), which must print; a URL gives
// options or an error saying why, never a crash or undefined behaviour.
// The first byte chooses: even, replies; odd, a URL.
#include <hiredis/hiredis.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "lisp/isolate.h"
#include "lisp/printer.h"
#include "lisp/redis_client.h"
#include "lisp/redis_reply.h"

using namespace valk::lisp;

namespace {

Isolate& isolate() {
  static Isolate* iso = [] {
    IsolateOptions o;
    o.prelude = false;
    return new Isolate(o);
  }();
  return *iso;
}

void replies(std::string_view bytes) {
  redisReader* reader = redisReaderCreate();
  limit_reply_arrays(reader);
  redisReaderFeed(reader, bytes.data(), bytes.size());
  void* reply = nullptr;
  while (redisReaderGetReply(reader, &reply) == REDIS_OK && reply != nullptr) {
    Value v = redis_reply_value(isolate(), static_cast<redisReply*>(reply), "fuzz");
    if (print_str(v, true).empty()) {
      __builtin_trap();  // every value prints as something
    }
    freeReplyObject(reply);
  }
  redisReaderFree(reader);
}

void url(std::string_view text) {
  RedisOptions o;
  std::string error;
  if (!parse_redis_url(text, &o, &error)) {
    if (error.empty()) {
      __builtin_trap();  // a refusal says why
    }
    return;
  }
  if (o.path.empty() == o.host.empty() || o.port < 0 || o.port > 65535 || o.db < 0) {
    __builtin_trap();  // a Unix socket or a host, never both or neither
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // Nothing roots the values made: a collection now and then frees them.
  static unsigned runs = 0;
  if (++runs % 1024 == 0) {
    isolate().heap().collect();
  }
  if (size == 0) {
    return 0;
  }
  std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  if ((data[0] & 1) == 0) {
    replies(rest);
  } else {
    url(rest);
  }
  return 0;
}
