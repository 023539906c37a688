#include "net/small_pool.h"

#include <cstdlib>
#include <cstring>

namespace valk::net {

SmallPool::~SmallPool() {
  for (FreeBlock*& f : free_) {
    while (f != nullptr) {
      FreeBlock* next = f->next;
      free_block(f);
      f = next;
    }
  }
}

void* SmallPool::alloc_new(size_t n) {
  size_t k = n > kMaxSmall ? 0 : n == 0 ? 1 : (n + kStep - 1) / kStep;
  size_t size = k == 0 ? n : k * kStep;
  auto* h = static_cast<Header*>(std::malloc(sizeof(Header) + size));
  if (h == nullptr) {
    return nullptr;
  }
  h->size = size;
  h->klass = static_cast<uint32_t>(k);
  return h + 1;
}

void SmallPool::free_block(void* p) {
  std::free(static_cast<Header*>(p) - 1);
}

void* SmallPool::calloc(size_t count, size_t size) {
  if (size != 0 && count > SIZE_MAX / size) {
    return nullptr;
  }
  void* p = alloc(count * size);
  if (p != nullptr) {
    memset(p, 0, count * size);
  }
  return p;
}

void* SmallPool::realloc(void* p, size_t n) {
  if (p == nullptr) {
    return alloc(n);
  }
  const Header* h = static_cast<Header*>(p) - 1;
  if (n <= h->size && (h->klass != 0 || n > kMaxSmall)) {
    return p;
  }
  void* q = alloc(n);
  if (q == nullptr) {
    return nullptr;
  }
  memcpy(q, p, h->size < n ? h->size : n);
  free(p);
  return q;
}

}  // namespace valk::net
