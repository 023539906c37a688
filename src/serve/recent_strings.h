// Request strings that come back request after request: a client's
// user-agent and accept headers, the host, the path of a busy route, the
// peer of a keep-alive connection. The Lisp string made for such a text is
// handed out again while it stays in this small direct-mapped table,
// instead of a new string per request: no allocation and copy, and less
// garbage for the collector. Strings are immutable, so sharing one is
// invisible to handlers (short of `identical?`).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "lisp/isolate.h"

namespace valk::serve {

// A slot of a direct-mapped table of 2^bits slots for `text`, picked from
// its size and its first and last eight bytes: a few instructions whatever
// the length, and texts that differ only in the middle merely share a slot.
size_t text_slot(std::string_view text, size_t bits);

class RecentStrings {
 public:
  explicit RecentStrings(lisp::Isolate& iso);
  ~RecentStrings();
  RecentStrings(const RecentStrings&) = delete;
  RecentStrings& operator=(const RecentStrings&) = delete;

  // A string of `text`: the one made for it before if it is still in the
  // table, else a new one, which takes its slot.
  lisp::Value get(std::string_view text);

  static constexpr size_t kSlotBits = 6;
  // Longer texts (cookies, tokens) are made afresh each time, so the table
  // never holds more than kMaxBytes << kSlotBits bytes alive.
  static constexpr size_t kMaxBytes = 256;

 private:
  lisp::Isolate& iso_;
  std::vector<lisp::Value> strings_;  // rooted; nil in unused slots
};

}  // namespace valk::serve
