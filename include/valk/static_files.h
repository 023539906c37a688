// A native handler that serves a directory: MIME types, index.html,
// ETag/Last-Modified with 304, single byte ranges, precompressed .gz
// siblings, and large files streamed from disk in slices rather than read
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
  // A client whose Accept-Encoding takes gzip gets NAME.gz in place of
  // NAME when it exists beside it (made ahead of time, `gzip -k NAME`),
  // with Content-Encoding: gzip and NAME's type; every response for a
  // NAME that has one carries Vary: Accept-Encoding.
  bool precompressed = true;
};

// Whether an Accept-Encoding header value takes gzip: named with a q above
// 0, or not named while * is (RFC 9110, 12.5.3).
bool accepts_gzip(std::string_view accept_encoding);

// Returns a handler for `opts.root`, or an empty Handler with *error set if
// the root is not a readable directory. The handler is thread-safe. Path
// traversal (".." segments, NUL bytes, symlinks leading outside the root) is
// refused with 403. Any thread may call this.
Handler make_static_handler(const StaticOptions& opts, std::string* error);

// The MIME type for a file name, by extension ("application/octet-stream"
// if unknown).
const char* mime_type(std::string_view file_name);

}  // namespace valk
