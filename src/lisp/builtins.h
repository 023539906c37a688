// Registration of the native functions, one function per group.
#pragma once

namespace valk::lisp {

class Isolate;

void register_core_natives(Isolate& iso);        // builtins_core.cc
void register_async_natives(Isolate& iso);       // builtins_async.cc
void register_collection_natives(Isolate& iso);  // builtins_collections.cc
void register_string_natives(Isolate& iso);      // builtins_string.cc
void register_number_natives(Isolate& iso);      // builtins_number.cc
void register_json_natives(Isolate& iso);        // builtins_json.cc
void register_web_natives(Isolate& iso);         // builtins_web.cc
void register_compress_natives(Isolate& iso);    // builtins_compress.cc
void register_http_natives(Isolate& iso);        // builtins_http.cc
void register_file_natives(Isolate& iso);        // builtins_file.cc
void register_store_natives(Isolate& iso);       // builtins_store.cc
void register_sqlite_natives(Isolate& iso);      // builtins_sqlite.cc
void register_pg_natives(Isolate& iso);          // builtins_pg.cc
void register_redis_natives(Isolate& iso);       // builtins_redis.cc
void register_websocket_natives(Isolate& iso);   // builtins_websocket.cc

}  // namespace valk::lisp
