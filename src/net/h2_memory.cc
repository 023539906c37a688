#include "net/h2_memory.h"

#include <sys/mman.h>

#include <malloc.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>

namespace valk::net {

namespace {
constexpr size_t kPage = 4096;

bool all_zero(const void* p, size_t n) {
  const auto* w = static_cast<const uint64_t*>(p);
  for (size_t i = 0; i < n / sizeof(uint64_t); i++) {
    if (w[i] != 0) {
      return false;
    }
  }
  return true;
}
}  // namespace

H2Memory::H2Memory() : mem_{this, on_malloc, on_free, on_calloc, on_realloc} {}

void H2Memory::session_made() {
  auto largest = std::max_element(blocks_.begin(), blocks_.end(),
                                  [](const Block& a, const Block& b) { return a.size < b.size; });
  if (largest != blocks_.end()) {
    frame_buffer_ = largest->p;
  }
}

size_t H2Memory::release_idle() {
  size_t dropped = 0;
  for (const Block& b : blocks_) {
    if (b.p == frame_buffer_ || all_zero(b.p, b.size)) {
      if (madvise(b.p, b.size, MADV_DONTNEED) == 0) {
        dropped += b.size;
      }
    }
  }
  return dropped;
}

void* H2Memory::allocate(size_t size) {
  if (size < kPage) {
    return malloc(size);
  }
  size_t rounded = (size + kPage - 1) / kPage * kPage;
  void* p = aligned_alloc(kPage, rounded);
  if (p != nullptr) {
    blocks_.push_back({p, rounded});
  }
  return p;
}

H2Memory::Block* H2Memory::find(void* p) {
  for (Block& b : blocks_) {
    if (b.p == p) {
      return &b;
    }
  }
  return nullptr;
}

void H2Memory::release(void* p) {
  if (Block* b = find(p)) {
    if (p == frame_buffer_) {
      frame_buffer_ = nullptr;
    }
    *b = blocks_.back();
    blocks_.pop_back();
  }
  free(p);
}

void* H2Memory::on_malloc(size_t size, void* self) {
  return static_cast<H2Memory*>(self)->allocate(size);
}

void H2Memory::on_free(void* p, void* self) {
  if (p != nullptr) {
    static_cast<H2Memory*>(self)->release(p);
  }
}

void* H2Memory::on_calloc(size_t n, size_t size, void* self) {
  if (size != 0 && n > SIZE_MAX / size) {
    return nullptr;
  }
  void* p = static_cast<H2Memory*>(self)->allocate(n * size);
  if (p != nullptr) {
    memset(p, 0, n * size);
  }
  return p;
}

void* H2Memory::on_realloc(void* p, size_t size, void* self) {
  auto* m = static_cast<H2Memory*>(self);
  Block* b = p != nullptr ? m->find(p) : nullptr;
  if (b == nullptr && size < kPage) {
    return realloc(p, size);  // small stays small: malloc's own
  }
  // A page-sized block on either side: move it.
  size_t old = b != nullptr ? b->size : malloc_usable_size(p);
  void* q = m->allocate(size);
  if (q == nullptr) {
    return nullptr;
  }
  if (p != nullptr) {
    memcpy(q, p, std::min(old, size));
    m->release(p);
  }
  return q;
}

}  // namespace valk::net
