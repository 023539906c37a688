// The response body chunks a stream has not yet put on the wire, oldest
// first. One chunk (a whole response from respond(), or each write of a
// stream that keeps up) sits in the queue itself; more go to a vector with
// a read index. std::deque allocates two blocks on construction, and a
// vector one at its first push: once per stream even when the body is one
// chunk or goes another way.
#pragma once

#include <cstddef>
#include <string>
#include <utility>
#include <vector>

namespace valk::net {

class ChunkQueue {
 public:
  // items_ is empty whenever the queue is: pop_front clears it.
  bool empty() const { return !has_first_ && head_ == items_.size(); }
  size_t size() const { return has_first_ ? 1 : items_.size() - head_; }
  std::string& front() { return has_first_ ? first_ : items_[head_]; }
  std::string& operator[](size_t i) { return has_first_ ? first_ : items_[head_ + i]; }

  void push_back(std::string&& s) {
    if (empty()) {
      first_ = std::move(s);
      has_first_ = true;
      return;
    }
    if (has_first_) {
      items_.push_back(std::move(first_));
      first_.clear();
      has_first_ = false;
    }
    items_.push_back(std::move(s));
  }

  void pop_front() {
    if (has_first_) {
      std::string().swap(first_);  // its memory goes now
      has_first_ = false;
      return;
    }
    std::string().swap(items_[head_++]);
    if (empty()) {
      clear();
    } else if (head_ >= kCompactAt && head_ * 2 >= items_.size()) {
      // A stream that never drains fully (server-sent events) must not
      // keep every emptied slot.
      items_.erase(items_.begin(), items_.begin() + static_cast<ptrdiff_t>(head_));
      head_ = 0;
    }
  }

  void clear() {
    std::string().swap(first_);
    has_first_ = false;
    items_.clear();
    head_ = 0;
  }

 private:
  static constexpr size_t kCompactAt = 32;
  std::string first_;  // the only chunk, when has_first_
  bool has_first_ = false;
  std::vector<std::string> items_;
  size_t head_ = 0;
};

}  // namespace valk::net
