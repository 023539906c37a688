// A stream's arena: what a request brings (target, header names and values)
// is copied here and freed in one piece with the stream. Allocation bumps a
// pointer through a buffer inside the stream, then through heap blocks,
// each twice the size of the last. bytes() is inline: a request's texts cost
// a compare and an add each, where std::pmr::monotonic_buffer_resource
// takes a call and an alignment. Reactor thread only.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory_resource>

namespace valk::net {

class Arena final : public std::pmr::memory_resource {
 public:
  // Starts in `buf`, which must outlive the arena. The bytes of the heap
  // blocks it takes beyond `buf` are added to *held while it has them (a
  // reactor's tally for its counters), if `held` is not null.
  Arena(void* buf, size_t size, size_t* held = nullptr)
      : cur_(static_cast<char*>(buf)), end_(cur_ + size), next_size_(2 * size), held_(held) {}
  ~Arena();
  Arena(const Arena&) = delete;
  Arena& operator=(const Arena&) = delete;

  // `n` bytes, unaligned, for text.
  char* bytes(size_t n) {
    if (n <= static_cast<size_t>(end_ - cur_)) {
      char* p = cur_;
      cur_ += n;
      return p;
    }
    return static_cast<char*>(grow(n, 1));
  }

 private:
  void* do_allocate(size_t n, size_t align) override;
  void do_deallocate(void*, size_t, size_t) override {}
  bool do_is_equal(const std::pmr::memory_resource& o) const noexcept override {
    return this == &o;
  }
  // Continues in a new heap block with room for `n` bytes at `align`.
  void* grow(size_t n, size_t align);

  struct alignas(std::max_align_t) Block {
    Block* next;
    size_t size;  // of the block, header included
  };
  char* cur_;
  char* end_;
  Block* blocks_ = nullptr;
  size_t next_size_;
  size_t* held_;
};

}  // namespace valk::net
