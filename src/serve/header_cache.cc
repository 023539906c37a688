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
    // read_headers checked them and lower-cased the names: make() agrees.
    std::string unused;
    maps_[next_] = map;
    headers_[next_] = SharedHeaders::make(
        Headers(out->begin() + static_cast<ptrdiff_t>(first), out->end()), &unused);
    next_ = (next_ + 1) % kEntries;
  }
  return true;
}

std::shared_ptr<const SharedHeaders> ResponseHeaderCache::find(lisp::Value map) {
  for (size_t i = 0; i < kEntries; i++) {
    if (maps_[i].o == map.o && !maps_[i].is_nil()) {
      hits_++;
      return headers_[i];
    }
  }
  return nullptr;
}

}  // namespace valk::serve
