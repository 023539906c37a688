// Bytes that come in at the back and are read from the front, as a body
// between the side that receives it and the fiber that reads it. What
// came and is not read yet is data_[taken_..]; the front is dropped when
// more comes once at least half was read, so each byte is moved at most
// once more, however small the reads.
#pragma once

#include <algorithm>
#include <cstddef>
#include <string>
#include <string_view>

namespace valk {

class ReadBuffer {
 public:
  size_t unread() const { return data_.size() - taken_; }
  std::string_view peek() const { return std::string_view(data_).substr(taken_); }
  void append(std::string_view s) {
    if (taken_ != 0 && taken_ >= data_.size() / 2) {
      data_.erase(0, taken_);  // at most as much as was read since the last time
      taken_ = 0;
    }
    data_.append(s);
  }
  void take(size_t n) { taken_ += n; }
  // Up to `max` unread bytes, taken: all of them without a copy when
  // they fit.
  std::string take_string(size_t max) {
    std::string out;
    if (taken_ == 0 && data_.size() <= max) {
      out.swap(data_);
      return out;
    }
    size_t n = std::min(max, unread());
    out.assign(data_, taken_, n);
    taken_ += n;
    return out;
  }
  // Drops what is unread, and the memory held for it.
  void clear() {
    std::string().swap(data_);
    taken_ = 0;
  }

 private:
  std::string data_;
  size_t taken_ = 0;
};

}  // namespace valk
