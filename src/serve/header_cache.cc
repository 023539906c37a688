#include "serve/header_cache.h"

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
      return true;
    }
  }
  size_t first = out->size();
  if (!read_headers(map, "response header", out, error)) {
    return false;
  }
  if (candidate_ != map.o) {
    candidate_ = map.o;
    return true;
  }
  size_t bytes = 0;
  for (size_t i = first; i < out->size(); i++) {
    bytes += (*out)[i].name.size() + (*out)[i].value.size();
  }
  if (bytes <= kMaxEntryBytes) {
    maps_[next_] = map;
    headers_[next_].assign(out->begin() + static_cast<ptrdiff_t>(first), out->end());
    next_ = (next_ + 1) % kEntries;
  }
  candidate_ = nullptr;
  return true;
}

}  // namespace valk::serve
