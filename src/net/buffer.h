// Output buffers come from a per-reactor pool of fixed-size blocks sized to
// hold one full TLS record with its overhead, so a block maps onto one
// record on the way out. Not thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace valk::net {

constexpr size_t kBufSize = 16384 + 512;

struct Buf {
  uint8_t* data = nullptr;
  uint32_t len = 0;
};

class BufferPool {
 public:
  explicit BufferPool(size_t max_free = 256) : max_free_(max_free) {}
  ~BufferPool();
  BufferPool(const BufferPool&) = delete;
  BufferPool& operator=(const BufferPool&) = delete;

  uint8_t* get();
  void put(uint8_t* block);

  size_t in_use() const { return in_use_; }
  size_t bytes() const { return (in_use_ + free_.size()) * kBufSize; }

 private:
  std::vector<uint8_t*> free_;
  size_t max_free_;
  size_t in_use_ = 0;
};

// A FIFO of pool blocks: appending copies into the tail block.
class BufChain {
 public:
  void append(BufferPool& pool, const uint8_t* p, size_t n);
  // Appends a block filled by the caller (ownership moves in).
  void push(Buf b) {
    bytes_ += b.len;
    bufs_.push_back(b);
  }
  void release(BufferPool& pool);
  bool empty() const { return bufs_.empty(); }
  size_t bytes() const { return bytes_; }
  std::vector<Buf>& bufs() { return bufs_; }
  // Moves every block to the end of `dst`.
  void move_to(BufChain& dst) {
    for (Buf& b : bufs_) {
      dst.push(b);
    }
    bufs_.clear();
    bytes_ = 0;
  }
  void swap(BufChain& o) {
    bufs_.swap(o.bufs_);
    std::swap(bytes_, o.bytes_);
  }

 private:
  std::vector<Buf> bufs_;
  size_t bytes_ = 0;
};

}  // namespace valk::net
