// Small blocks for nghttp2 (its stream objects, outbound frames and header
// copies: 150-300 bytes, a few per h2 request), kept on free lists by size
// class instead of going back to malloc each time. Each block starts with a
// 16-byte header naming its class. At most kKeep blocks of a class wait
// free, so the pool holds at most about 80 KiB it is not using. Reactor
// thread only.
#pragma once

#include <cstddef>
#include <cstdint>

namespace valk::net {

class SmallPool {
 public:
  SmallPool() = default;
  ~SmallPool();
  SmallPool(const SmallPool&) = delete;
  SmallPool& operator=(const SmallPool&) = delete;

  // malloc, free, calloc and realloc, for blocks of any size (past
  // kMaxSmall they are the C library's, with the header in front).
  void* alloc(size_t n) {
    if (n <= kMaxSmall) {
      size_t k = n == 0 ? 0 : (n - 1) / kStep;
      if (FreeBlock* f = free_[k]; f != nullptr) {
        free_[k] = f->next;
        free_count_[k]--;
        return f;  // its header still names its class
      }
    }
    return alloc_new(n);
  }
  void free(void* p) {
    if (p == nullptr) {
      return;
    }
    uint32_t k = (static_cast<Header*>(p) - 1)->klass;
    if (k != 0 && free_count_[k - 1] < kKeep) {
      // Linked through its payload: the header keeps the class.
      auto* f = static_cast<FreeBlock*>(p);
      f->next = free_[k - 1];
      free_[k - 1] = f;
      free_count_[k - 1]++;
      return;
    }
    free_block(p);
  }
  void* calloc(size_t count, size_t size);
  void* realloc(void* p, size_t n);

  static constexpr size_t kStep = 64;
  static constexpr size_t kClasses = 8;
  static constexpr size_t kMaxSmall = kStep * kClasses;
  static constexpr uint32_t kKeep = 32;

 private:
  struct alignas(16) Header {
    size_t size;     // what the block holds past the header
    uint32_t klass;  // 1..kClasses; 0: a large block
  };
  struct FreeBlock {
    FreeBlock* next;
  };
  void* alloc_new(size_t n);
  static void free_block(void* p);

  FreeBlock* free_[kClasses] = {};
  uint32_t free_count_[kClasses] = {};
};

}  // namespace valk::net
