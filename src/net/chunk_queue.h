// The response body chunks a stream has not yet put on the wire, oldest
// first: a vector with a read index. std::deque allocates two blocks on
// construction, once per stream even when the body goes another way.
#pragma once

#include <cstddef>
#include <string>
#include <utility>
#include <vector>

namespace valk::net {

class ChunkQueue {
 public:
  bool empty() const { return head_ == items_.size(); }
  size_t size() const { return items_.size() - head_; }
  std::string& front() { return items_[head_]; }
  std::string& operator[](size_t i) { return items_[head_ + i]; }

  void push_back(std::string s) { items_.push_back(std::move(s)); }

  void pop_front() {
    std::string().swap(items_[head_++]);  // its memory goes now
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
    items_.clear();
    head_ = 0;
  }

 private:
  static constexpr size_t kCompactAt = 32;
  std::vector<std::string> items_;
  size_t head_ = 0;
};

}  // namespace valk::net
