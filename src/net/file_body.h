// A response body that is a byte range of an open file (what the static
// handler streams). The sessions recognise it and move its bytes with one
// copy less than a generic BodySource: they read it straight into the
// connection's output blocks instead of through an intermediate buffer.
// Reactor thread only, like any BodySource.
#pragma once

#include <sys/uio.h>

#include <cstdint>
#include <memory>
#include <span>

#include "valk/server.h"

namespace valk::net {

class FileBody final : public BodySource {
 public:
  // Takes ownership of `fd` (closed by the destructor) and streams
  // [offset, offset + length).
  FileBody(int fd, uint64_t offset, uint64_t length) : fd_(fd), off_(offset), left_(length) {}
  ~FileBody() override;
  FileBody(const FileBody&) = delete;
  FileBody& operator=(const FileBody&) = delete;

  int64_t read(std::span<uint8_t> buf, bool* eof) override;

  // Bytes of the range not handed out yet.
  uint64_t remaining() const { return left_ + buffered(); }
  // Fills the spans (their total at most remaining(), at most
  // BufChain::kMaxSpans of them) with the next bytes.
  // Returns false if the file could not be read or has shrunk.
  bool read_into(const iovec* spans, int count);

  // Reads smaller than this (h2 DATA frames are 16 KiB) are served from one
  // read ahead of this size: a syscall costs more than the copy.
  static constexpr size_t kReadAhead = 65536;
  // The most bytes take() leaves writable in front of what it returns.
  static constexpr size_t kHeadroom = 16;

  // The next `n` bytes (at most remaining() and kReadAhead) in place in the
  // read ahead, so a TLS connection can encrypt them from there instead of
  // copying them into its blocks first. The `room` bytes (at most
  // kHeadroom) in front of the returned pointer are the caller's to write
  // (an h2 frame header), making one contiguous plaintext. The pointer is
  // valid until the next call on this body. nullptr if the file could not
  // be read or has shrunk.
  uint8_t* take(size_t n, size_t room);

 private:
  size_t buffered() const { return ahead_len_ - ahead_pos_; }
  // The read ahead's bytes start after kHeadroom spare ones.
  uint8_t* ahead() const { return ahead_.get() + kHeadroom; }
  // Refills the read ahead once it is empty.
  bool fill();
  // Moves what is still buffered to the front and reads more behind it,
  // until at least `n` bytes are buffered.
  bool top_up(size_t n);
  // Copies up to `n` read-ahead bytes into the spans from span *i, offset
  // *at; advances both.
  size_t copy_ahead(const iovec* spans, int count, int* i, size_t* at, size_t n);

  int fd_;
  uint64_t off_, left_;  // the next byte not read from the file, and how many remain
  std::unique_ptr<uint8_t[]> ahead_;
  size_t ahead_pos_ = 0, ahead_len_ = 0;
};

}  // namespace valk::net
