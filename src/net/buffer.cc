#include "net/buffer.h"

#include <algorithm>
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
    if (bufs_.empty() || bufs_.back().len == kBufSize) {
      bufs_.push_back(Buf{pool.get(), 0});
    }
    Buf& b = bufs_.back();
    size_t k = std::min(n, kBufSize - b.len);
    memcpy(b.data + b.len, p, k);
    b.len += k;
    p += k;
    n -= k;
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
