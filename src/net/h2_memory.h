// nghttp2's memory for one session (nghttp2_mem), so that an idle session
// can give pages back to the kernel: a server holds thousands of idle
// connections, and two of an h2 session's blocks need no memory of their
// own while it waits.
//
// Allocations of a page or more get whole pages of their own. Of those:
// - the frame buffer nghttp2 makes with the session (16 KiB and a frame
//   header; HEADERS and control frames use its first page, DATA goes
//   around it) holds nothing between nghttp2_session_mem_send calls once
//   the session has nothing more to send;
// - a block that is all zeros reads the same from a fresh zero page: the
//   stream map's table (4 KiB, calloc'd) when no stream is in it.
// release_idle() drops their pages with MADV_DONTNEED; the next touch maps
// a zeroed page. Everything else goes to malloc.
//
// Thread affinity: the session's reactor thread.
#pragma once

#include <nghttp2/nghttp2.h>

#include <cstddef>
#include <vector>

namespace valk::net {

class H2Memory {
 public:
  H2Memory();
  H2Memory(const H2Memory&) = delete;
  H2Memory& operator=(const H2Memory&) = delete;

  // What to pass to nghttp2_session_server_new3. Must outlive the session.
  nghttp2_mem* mem() { return &mem_; }
  // Call once the session is made: the largest block it allocated while
  // being made is its frame buffer.
  void session_made();
  // Drops the pages of the frame buffer and of the all-zero blocks. Only
  // while the session has nothing to send. Returns the bytes dropped.
  size_t release_idle();

 private:
  struct Block {
    void* p;
    size_t size;  // rounded up to whole pages
  };
  static void* on_malloc(size_t size, void* self);
  static void on_free(void* p, void* self);
  static void* on_calloc(size_t n, size_t size, void* self);
  static void* on_realloc(void* p, size_t size, void* self);
  void* allocate(size_t size);
  void release(void* p);
  Block* find(void* p);

  nghttp2_mem mem_;
  std::vector<Block> blocks_;  // the page-sized ones; a handful
  void* frame_buffer_ = nullptr;
};

}  // namespace valk::net
