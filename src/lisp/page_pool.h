// The source of the Lisp heap's 64 KiB pages.
//
// Pages are carved from 2 MiB chunks that are mmap'd 2 MiB-aligned and
// marked MADV_HUGEPAGE, so the kernel can back a chunk with one huge page:
// a heap that grows by 10 MB then takes a handful of page faults instead of
// thousands (on a virtual machine each 4 KiB fault costs microseconds, and
// faulting fresh memory was a third of the CPU time of the allocating
// benchmarks). Where transparent huge pages are off, the chunks are
// ordinary memory and nothing else changes.
//
// Free pages stay in the pool; a chunk goes back to the kernel only when
// all of its pages are free and the pool holds more than `keep_free` free
// pages (see trim()).
//
// Thread affinity: a pool belongs to its heap's thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace valk::lisp {

class PagePool {
 public:
  static constexpr size_t kPageSize = 64 << 10;
  static constexpr size_t kChunkSize = 2 << 20;
  static constexpr size_t kPagesPerChunk = kChunkSize / kPageSize;

  PagePool() = default;
  ~PagePool();
  PagePool(const PagePool&) = delete;
  PagePool& operator=(const PagePool&) = delete;

  // A free page, lowest address first among the free ones of the newest
  // chunk. Aborts if the system has no memory left (the isolate cannot
  // continue without it).
  char* take();
  // Gives back a page obtained from take(). Its contents are dead.
  void give(char* page);
  // Unmaps chunks whose pages are all free while more than `keep_free`
  // pages are free.
  void trim(size_t keep_free);

  size_t free_pages() const { return free_.size(); }
  size_t chunks() const { return chunks_.size(); }

 private:
  void map_chunk();

  std::vector<char*> chunks_;
  // Free pages; take() pops from the back.
  std::vector<char*> free_;
};

}  // namespace valk::lisp
