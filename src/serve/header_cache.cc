#include "serve/header_cache.h"

#include <algorithm>

#include "serve/http_map.h"

namespace valk::serve {

ResponseHeaderCache::ResponseHeaderCache(lisp::Isolate& iso)
    : iso_(iso), maps_(kEntries, lisp::Value::nil()) {
  iso_.push_roots(&maps_);
}

ResponseHeaderCache::~ResponseHeaderCache() {
  iso_.pop_roots(&maps_);
}

bool ResponseHeaderCache::read(lisp::Value map, Headers* out, std::string* error) {
  if (!map.is(lisp::Tag::Map)) {
    return read_headers(map, "response header", out, error);
  }
  for (size_t i = 0; i < kEntries; i++) {
    if (maps_[i].o == map.o) {
      out->insert(out->end(), headers_[i].begin(), headers_[i].end());
      hits_++;
      return true;
    }
  }
  size_t first = out->size();
  if (!read_headers(map, "response header", out, error)) {
    return false;
  }
  auto seen = std::find(candidates_.begin(), candidates_.end(), map.o);
  if (seen == candidates_.end()) {
    candidates_[next_candidate_] = map.o;
    next_candidate_ = (next_candidate_ + 1) % kEntries;
    return true;
  }
  *seen = nullptr;
  size_t bytes = 0;
  for (size_t i = first; i < out->size(); i++) {
    bytes += (*out)[i].name.size() + (*out)[i].value.size();
  }
  if (bytes <= kMaxEntryBytes) {
    maps_[next_] = map;
    headers_[next_].assign(out->begin() + static_cast<ptrdiff_t>(first), out->end());
    next_ = (next_ + 1) % kEntries;
  }
  return true;
}

}  // namespace valk::serve
