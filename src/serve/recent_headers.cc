#include "serve/recent_headers.h"

#include "serve/recent_strings.h"

namespace valk::serve {

RecentHeaders::RecentHeaders(lisp::Isolate& iso)
    : iso_(iso),
      entries_(size_t{1} << kSlotBits),
      maps_(size_t{1} << kSlotBits, lisp::Value::nil()) {
  iso_.push_roots(&maps_);
}

RecentHeaders::~RecentHeaders() {
  iso_.pop_roots(&maps_);
}

// The same text cut at the same places is the same list. (The sizes also
// have to add up to the text's: a `text` that is not the list's is a miss.)
bool RecentHeaders::same(const Entry& e, const HeaderList& headers, std::string_view text) {
  if (e.text != text || e.sizes.size() != 2 * headers.size()) {
    return false;
  }
  size_t total = 0;
  for (size_t i = 0; i < headers.size(); i++) {
    if (e.sizes[2 * i] != headers[i].first.size() ||
        e.sizes[2 * i + 1] != headers[i].second.size()) {
      return false;
    }
    total += e.sizes[2 * i] + e.sizes[2 * i + 1];
  }
  return total == text.size();
}

lisp::Value RecentHeaders::get(const HeaderList& headers, std::string_view text) const {
  size_t slot = text_slot(text, kSlotBits);
  if (maps_[slot].is_nil() || !same(entries_[slot], headers, text)) {
    return lisp::Value::nil();
  }
  return maps_[slot];
}

void RecentHeaders::put(const HeaderList& headers, std::string_view text, lisp::Value map) {
  if (text.size() > kMaxBytes) {
    return;
  }
  size_t slot = text_slot(text, kSlotBits);
  Entry& e = entries_[slot];
  e.text.assign(text);
  e.sizes.clear();
  for (const auto& [name, value] : headers) {
    e.sizes.push_back(static_cast<uint32_t>(name.size()));
    e.sizes.push_back(static_cast<uint32_t>(value.size()));
  }
  maps_[slot] = map;
}

}  // namespace valk::serve
