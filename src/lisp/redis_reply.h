// Redis replies as Lisp values (hiredis's reply tree in, data out).
#pragma once

#include <hiredis/hiredis.h>

#include <string_view>

#include "lisp/isolate.h"

namespace valk::lisp {

// An error value of {:type :redis-error :kind <kind>}: "reply" (Redis
// answered with an error: its first word is :code) or "connection".
Value redis_error_value(Isolate& iso, std::string_view fn, std::string_view kind,
                        std::string_view message);
// A string when `s` is UTF-8, else bytes.
Value redis_text_value(Heap& h, const char* s, size_t n);
// Strings (or bytes), integers, nil and vectors; an error reply inside an
// array (EXEC's) is an error value there.
Value redis_reply_value(Isolate& iso, const redisReply* r, std::string_view fn);

}  // namespace valk::lisp
