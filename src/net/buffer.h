// Output buffers come from a per-reactor pool of fixed-size blocks sized to
// hold one full TLS record with its overhead, so a block maps onto one
// record on the way out. Not thread-safe.
#pragma once

#include <sys/uio.h>

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
  // Fills each block up to `cap` bytes (at most kBufSize). Plaintext bound
  // for TLS uses 16384, so that each block is one full record.
  void set_block_cap(size_t cap) { cap_ = cap; }
  void append(BufferPool& pool, const uint8_t* p, size_t n);
  // Makes room for `n` more bytes (taking blocks from the pool) and returns
  // the free spans in order, for a caller that writes into them directly
  // (preadv). At most kMaxSpans spans; `n` must fit in them.
  static constexpr int kMaxSpans = 8;
  int reserve(BufferPool& pool, size_t n, iovec* spans);
  // Adds the first `n` bytes written into the spans of the last reserve();
  // blocks it left empty go back to the pool.
  void commit(BufferPool& pool, size_t n);
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
  size_t cap_ = kBufSize;
  size_t reserved_from_ = 0;  // the block the last reserve() started in
};

}  // namespace valk::net
