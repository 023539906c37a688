// Response header maps, converted once. Handlers mostly answer through
// text, json and html, whose :headers is one shared constant map: turning
// it into Headers (names lower-cased, every value checked) once instead of
// on every response saves most of the work of reading a response.
//
// Entries are found by identity. Maps are immutable and every cached map is
// rooted, so the same object always stands for the same headers. A map
// enters the cache when it is seen again while still among the last few
// missed, so handlers that build a fresh map per response (a redirect's
// location) do not push the shared ones out.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "lisp/isolate.h"
#include "valk/server.h"

namespace valk::serve {

class ResponseHeaderCache {
 public:
  explicit ResponseHeaderCache(lisp::Isolate& iso);
  ~ResponseHeaderCache();
  ResponseHeaderCache(const ResponseHeaderCache&) = delete;
  ResponseHeaderCache& operator=(const ResponseHeaderCache&) = delete;

  // The headers of `map` as made once for the cache, to respond with
  // without a copy; null when `map` is not cached (read() it then).
  std::shared_ptr<const SharedHeaders> find(lisp::Value map);
  // For a `map` find() did not have: appends its headers (nil or a map of
  // string, keyword or number names and values, a value possibly a vector
  // of them) to *out, as read_headers does, and caches them if the map
  // comes back. Returns false with *error set if they are invalid.
  bool read(lisp::Value map, Headers* out, std::string* error);

  // Lookups answered from the cache.
  uint64_t hits() const { return hits_; }

  static constexpr size_t kEntries = 8;
  // Maps whose headers come to more bytes than this are not kept.
  static constexpr size_t kMaxEntryBytes = 4096;

 private:
  lisp::Isolate& iso_;
  std::vector<lisp::Value> maps_;  // rooted; nil in unused entries
  std::array<std::shared_ptr<const SharedHeaders>, kEntries> headers_;
  size_t next_ = 0;  // the entry replaced next, round robin
  // The last maps missed; only compared, never followed (they may be dead).
  std::array<const void*, kEntries> candidates_ = {};
  size_t next_candidate_ = 0;
  uint64_t hits_ = 0;
};

}  // namespace valk::serve
