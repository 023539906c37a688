#include "serve/recent_strings.h"

#include <cstring>

#include "lisp/object.h"

namespace valk::serve {

RecentStrings::RecentStrings(lisp::Isolate& iso)
    : iso_(iso), strings_(size_t{1} << kSlotBits, lisp::Value::nil()) {
  iso_.push_roots(&strings_);
}

RecentStrings::~RecentStrings() {
  iso_.pop_roots(&strings_);
}

size_t text_slot(std::string_view text, size_t bits) {
  uint64_t head = 0, tail = 0;
  size_t n = text.size();
  if (n >= 8) {
    memcpy(&head, text.data(), 8);
    memcpy(&tail, text.data() + n - 8, 8);
  } else if (n > 0) {
    memcpy(&head, text.data(), n);
  }
  uint64_t h = (head * 0x9E3779B97F4A7C15ull) ^ (tail * 0xC2B2AE3D27D4EB4Full) ^ n;
  h ^= h >> 29;
  h *= 0xBF58476D1CE4E5B9ull;
  return static_cast<size_t>(h >> (64 - bits));
}

lisp::Value RecentStrings::get(std::string_view text) {
  lisp::Heap& heap = iso_.heap();
  if (text.size() > kMaxBytes) {
    return heap.string(text);
  }
  lisp::Value& slot = strings_[text_slot(text, kSlotBits)];
  if (!slot.is_nil() && static_cast<lisp::String*>(slot.o)->view() == text) {
    return slot;
  }
  slot = heap.string(text);
  return slot;
}

}  // namespace valk::serve
