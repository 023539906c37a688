#include "net/file_body.h"

#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "net/buffer.h"

namespace valk::net {

FileBody::~FileBody() {
  close(fd_);
}

int64_t FileBody::read(std::span<uint8_t> buf, bool* eof) {
  size_t n = static_cast<size_t>(std::min<uint64_t>(buf.size(), remaining()));
  iovec span{buf.data(), n};
  if (!read_into(&span, 1)) {
    return -1;
  }
  *eof = remaining() == 0;
  return static_cast<int64_t>(n);
}

bool FileBody::read_into(const iovec* spans, int count) {
  size_t want = 0;
  for (int k = 0; k < count; ++k) {
    want += spans[k].iov_len;
  }
  int i = 0;
  size_t at = 0;
  want -= copy_ahead(spans, count, &i, &at, want);
  if (want == 0) {
    return true;
  }
  if (want < kReadAhead && left_ > want) {
    return fill() && copy_ahead(spans, count, &i, &at, want) == want;
  }
  // Large reads (HTTP/1.1 asks for 64 KiB) go straight into the spans.
  iovec rest[BufChain::kMaxSpans];
  int n = 0;
  for (; i < count && n < BufChain::kMaxSpans; ++i, at = 0) {
    rest[n++] = iovec{static_cast<uint8_t*>(spans[i].iov_base) + at, spans[i].iov_len - at};
  }
  if (i < count || want > left_) {
    return false;
  }
  ssize_t got = preadv(fd_, rest, n, static_cast<off_t>(off_));
  if (got != static_cast<ssize_t>(want)) {
    return false;  // an I/O error, or the file shrank under us
  }
  off_ += want;
  left_ -= want;
  return true;
}

size_t FileBody::copy_ahead(const iovec* spans, int count, int* i, size_t* at, size_t n) {
  size_t done = 0;
  while (done < n && buffered() > 0 && *i < count) {
    const iovec& s = spans[*i];
    size_t k = std::min({n - done, buffered(), s.iov_len - *at});
    memcpy(static_cast<uint8_t*>(s.iov_base) + *at, ahead() + ahead_pos_, k);
    ahead_pos_ += k;
    done += k;
    *at += k;
    if (*at == s.iov_len) {
      ++*i;
      *at = 0;
    }
  }
  return done;
}

bool FileBody::fill() {
  ahead_pos_ = ahead_len_ = 0;
  return top_up(1);
}

uint8_t* FileBody::take(size_t n, size_t room) {
  if (n > kReadAhead || room > kHeadroom || (buffered() < n && !top_up(n))) {
    return nullptr;
  }
  // The `room` bytes before p are either the spare ones in front of the
  // read ahead or bytes already handed out: free to overwrite either way.
  uint8_t* p = ahead() + ahead_pos_;
  ahead_pos_ += n;
  return p;
}

bool FileBody::top_up(size_t n) {
  if (ahead_ == nullptr) {
    ahead_ = std::make_unique<uint8_t[]>(kHeadroom + kReadAhead);
  }
  size_t keep = buffered();
  memmove(ahead(), ahead() + ahead_pos_, keep);
  ahead_pos_ = 0;
  ahead_len_ = keep;
  size_t want = static_cast<size_t>(std::min<uint64_t>(kReadAhead - keep, left_));
  if (keep + want < n) {
    return false;
  }
  ssize_t got = pread(fd_, ahead() + keep, want, static_cast<off_t>(off_));
  if (got <= 0 || keep + static_cast<size_t>(got) < n) {
    return false;  // an I/O error, or the file shrank under us
  }
  off_ += static_cast<uint64_t>(got);
  left_ -= static_cast<uint64_t>(got);
  ahead_len_ = keep + static_cast<size_t>(got);
  return true;
}

}  // namespace valk::net
