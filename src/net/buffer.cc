#include "net/buffer.h"

#include <algorithm>
#include <cassert>
#include <cstring>
#include <utility>

namespace valk::net {

BufferPool::~BufferPool() {
  for (uint8_t* b : free_) {
    delete[] b;
  }
}

uint8_t* BufferPool::get() {
  ++in_use_;
  if (free_.empty()) {
    return new uint8_t[kBufSize];
  }
  uint8_t* b = free_.back();
  free_.pop_back();
  return b;
}

void BufferPool::put(uint8_t* block) {
  --in_use_;
  if (free_.size() < max_free_) {
    free_.push_back(block);
  } else {
    delete[] block;
  }
}

void BufChain::append(BufferPool& pool, const uint8_t* p, size_t n) {
  bytes_ += n;
  while (n > 0) {
    if (bufs_.empty() || bufs_.back().len >= cap_) {
      bufs_.push_back(Buf{pool.get(), 0});
    }
    Buf& b = bufs_.back();
    size_t k = std::min(n, cap_ - b.len);
    memcpy(b.data + b.len, p, k);
    b.len += k;
    p += k;
    n -= k;
  }
}

int BufChain::reserve(BufferPool& pool, size_t n, iovec* spans) {
  int count = 0;
  size_t i = bufs_.size();
  if (i > 0 && bufs_.back().len < cap_) {
    i--;  // the tail block's free space comes first
  }
  reserved_from_ = i;
  while (n > 0 && count < kMaxSpans) {
    if (i == bufs_.size()) {
      bufs_.push_back(Buf{pool.get(), 0});
    }
    Buf& b = bufs_[i++];
    size_t k = std::min(n, cap_ - b.len);
    spans[count++] = iovec{b.data + b.len, k};
    n -= k;
  }
  assert(n == 0);
  return count;
}

void BufChain::commit(BufferPool& pool, size_t n) {
  bytes_ += n;
  for (size_t i = reserved_from_; i < bufs_.size() && n > 0; ++i) {
    Buf& b = bufs_[i];
    size_t k = std::min(n, cap_ - b.len);
    b.len += k;
    n -= k;
  }
  while (!bufs_.empty() && bufs_.back().len == 0) {
    pool.put(bufs_.back().data);
    bufs_.pop_back();
  }
}

void BufChain::release(BufferPool& pool) {
  for (Buf& b : bufs_) {
    pool.put(b.data);
  }
  bufs_.clear();
  bytes_ = 0;
}

}  // namespace valk::net
