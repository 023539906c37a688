#include "net/arena.h"

#include <algorithm>
#include <new>

namespace valk::net {

Arena::~Arena() {
  while (blocks_ != nullptr) {
    Block* b = blocks_;
    blocks_ = b->next;
    if (held_ != nullptr) {
      *held_ -= b->size;
    }
    ::operator delete(b);
  }
}

void* Arena::do_allocate(size_t n, size_t align) {
  auto p = (reinterpret_cast<uintptr_t>(cur_) + align - 1) & ~(uintptr_t{align} - 1);
  if (p <= reinterpret_cast<uintptr_t>(end_) && n <= reinterpret_cast<uintptr_t>(end_) - p) {
    cur_ = reinterpret_cast<char*>(p + n);
    return reinterpret_cast<void*>(p);
  }
  return grow(n, align);
}

void* Arena::grow(size_t n, size_t align) {
  size_t size = std::max(next_size_, sizeof(Block) + n + align);
  auto* b = static_cast<Block*>(::operator new(size));
  b->next = blocks_;
  b->size = size;
  blocks_ = b;
  if (held_ != nullptr) {
    *held_ += size;
  }
  next_size_ = 2 * size;
  cur_ = reinterpret_cast<char*>(b + 1);
  end_ = reinterpret_cast<char*>(b) + size;
  return do_allocate(n, align);
}

}  // namespace valk::net
