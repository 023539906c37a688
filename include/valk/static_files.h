// A native handler that serves a directory: MIME types, index.html,
// ETag/Last-Modified with 304, single byte ranges, precompressed .br and
// .gz siblings, and large files streamed from disk in slices rather than read
// whole.
#pragma once

#include <string>
#include <string_view>

#include "valk/server.h"

namespace valk {

struct StaticOptions {
  std::string root;                  // the directory served
  std::string index = "index.html";  // served for a directory
  // Taken off the front of request paths: with "/assets", /assets/app.css
  // is ROOT/app.css. The caller sends only paths under it.
  std::string url_prefix;
  // Files up to this size are read at once; larger ones are streamed.
  size_t inline_limit = 64 * 1024;
  // NAME.br and NAME.gz beside NAME (made ahead of time: `brotli -k NAME`,
  // `gzip -k NAME`) go in its place, with Content-Encoding and NAME's
  // type, to a client whose Accept-Encoding takes br or gzip (the higher
  // q wins, br on a tie); every response for a NAME that has one carries
  // Vary: Accept-Encoding.
  bool precompressed = true;
};

// The q-value an Accept-Encoding header value gives a content coding
// ("gzip", "br"): its own if named, else that of *, else 0 (RFC 9110,
// 12.5.3), within 0 to 1. "x-gzip" counts as gzip.
double accepted_q(std::string_view accept_encoding, std::string_view coding);

// Returns a handler for `opts.root`, or an empty Handler with *error set if
// the root is not a readable directory. The handler is thread-safe. Path
// traversal (".." segments, NUL bytes, symlinks leading outside the root) is
// refused with 403. Any thread may call this.
Handler make_static_handler(const StaticOptions& opts, std::string* error);

// The MIME type for a file name, by extension ("application/octet-stream"
// if unknown).
const char* mime_type(std::string_view file_name);

}  // namespace valk
