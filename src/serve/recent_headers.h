// Request header lists that come back request after request. A client on
// a keep-alive connection (and every connection of the same client
// program) sends the same headers with each request; the Lisp map made for
// a list is handed out again while it stays in this small direct-mapped
// table, instead of a new map of new strings per request. Maps are
// immutable, so sharing one is invisible to handlers (short of
// `identical?`).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "lisp/isolate.h"

namespace valk::serve {

using HeaderList = std::vector<std::pair<std::string_view, std::string_view>>;

class RecentHeaders {
 public:
  explicit RecentHeaders(lisp::Isolate& iso);
  ~RecentHeaders();
  RecentHeaders(const RecentHeaders&) = delete;
  RecentHeaders& operator=(const RecentHeaders&) = delete;

  // The map made before for exactly `headers` (the same names and values
  // in the same order) while it is still in the table; otherwise nil.
  // `text` is the headers' names and values back to back, which is how
  // HttpRequest stores them (HttpRequest::header_text).
  lisp::Value get(const HeaderList& headers, std::string_view text) const;
  // Remembers `map` as the map of `headers`, in the slot get() looks in.
  // Lists of more than kMaxBytes of text are not kept.
  void put(const HeaderList& headers, std::string_view text, lisp::Value map);

  static constexpr size_t kSlotBits = 4;
  // Bounds what the table keeps alive to about kMaxBytes << kSlotBits bytes
  // of text (twice: its own copy and the map's strings).
  static constexpr size_t kMaxBytes = 2048;

 private:
  struct Entry {
    std::string text;
    std::vector<uint32_t> sizes;  // each name's and value's length, in order
  };
  static bool same(const Entry& e, const HeaderList& headers, std::string_view text);

  lisp::Isolate& iso_;
  std::vector<Entry> entries_;
  std::vector<lisp::Value> maps_;  // rooted; nil in unused slots
};

}  // namespace valk::serve
