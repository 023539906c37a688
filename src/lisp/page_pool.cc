#include "lisp/page_pool.h"

#include <sys/mman.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <functional>

// LeakSanitizer looks for pointers in malloc'd blocks, stacks and globals,
// not in memory mapped directly: the chunks are registered with it, or the
// C++ storage that live heap objects own (a fiber's frames, say) would be
// reported as leaked while the isolate runs.
#if defined(__SANITIZE_ADDRESS__)
#define VALK_PAGE_POOL_LSAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define VALK_PAGE_POOL_LSAN 1
#endif
#endif
#ifdef VALK_PAGE_POOL_LSAN
#include <sanitizer/lsan_interface.h>
#endif

namespace valk::lisp {

namespace {

void unmap_chunk(char* chunk) {
#ifdef VALK_PAGE_POOL_LSAN
  __lsan_unregister_root_region(chunk, PagePool::kChunkSize);
#endif
  munmap(chunk, PagePool::kChunkSize);
}

char* chunk_of(char* page) {
  return reinterpret_cast<char*>(reinterpret_cast<uintptr_t>(page) &
                                 ~static_cast<uintptr_t>(PagePool::kChunkSize - 1));
}

}  // namespace

PagePool::~PagePool() {
  for (char* chunk : chunks_) {
    unmap_chunk(chunk);
  }
}

// Maps twice the chunk size and unmaps the ends, which leaves one chunk
// aligned to its size: the kernel only backs aligned 2 MiB ranges with
// huge pages.
void PagePool::map_chunk() {
  size_t span = 2 * kChunkSize;
  void* mem = mmap(nullptr, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (mem == MAP_FAILED) {
    fprintf(stderr, "valk: out of memory mapping a %zu-byte heap chunk\n", kChunkSize);
    abort();
  }
  char* start = static_cast<char*>(mem);
  char* chunk = chunk_of(start + kChunkSize - 1);
  if (chunk > start) {
    munmap(start, chunk - start);
  }
  char* end = chunk + kChunkSize;
  if (end < start + span) {
    munmap(end, start + span - end);
  }
#ifdef MADV_HUGEPAGE
  madvise(chunk, kChunkSize, MADV_HUGEPAGE);  // advice only: failure is harmless
#endif
#ifdef VALK_PAGE_POOL_LSAN
  __lsan_register_root_region(chunk, kChunkSize);
#endif
  chunks_.push_back(chunk);
  for (size_t i = kPagesPerChunk; i > 0; i--) {
    free_.push_back(chunk + (i - 1) * kPageSize);
  }
}

char* PagePool::take() {
  if (free_.empty()) {
    map_chunk();
  }
  char* page = free_.back();
  free_.pop_back();
  return page;
}

void PagePool::give(char* page) {
  free_.push_back(page);
}

void PagePool::trim(size_t keep_free) {
  if (free_.size() <= keep_free) {
    return;
  }
  // Sorted from the highest address down, a chunk's free pages are
  // adjacent, and take() afterwards hands out the lowest addresses first.
  std::sort(free_.begin(), free_.end(), std::greater<>());
  size_t excess = free_.size() - keep_free;
  size_t kept = 0;
  for (size_t i = 0; i < free_.size();) {
    char* chunk = chunk_of(free_[i]);
    size_t run = 1;
    while (i + run < free_.size() && chunk_of(free_[i + run]) == chunk) {
      run++;
    }
    if (run == kPagesPerChunk && excess >= kPagesPerChunk) {
      unmap_chunk(chunk);
      chunks_.erase(std::find(chunks_.begin(), chunks_.end(), chunk));
      excess -= kPagesPerChunk;
    } else {
      std::copy(free_.begin() + i, free_.begin() + i + run, free_.begin() + kept);
      kept += run;
    }
    i += run;
  }
  free_.resize(kept);
}

}  // namespace valk::lisp
