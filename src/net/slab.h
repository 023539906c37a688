// A slab allocator: fixed-size slots carved from chunks that never move, a
// free list, and the figures /metrics wants. One per reactor; not
// thread-safe.
#pragma once

#include <cstddef>
#include <memory>
#include <new>
#include <utility>
#include <vector>

namespace valk::net {

template <typename T, size_t kChunkSlots = 64>
class Slab {
 public:
  explicit Slab(size_t max_slots) : max_slots_(max_slots) {}
  ~Slab() = default;  // every object must have been freed
  Slab(const Slab&) = delete;
  Slab& operator=(const Slab&) = delete;

  // Constructs a T in a free slot, or returns nullptr when max_slots are in
  // use (counted as a failure).
  template <typename... Args>
  T* make(Args&&... args) {
    if (in_use_ >= max_slots_) {
      ++failures_;
      return nullptr;
    }
    if (free_.empty()) {
      auto chunk = std::make_unique<Slot[]>(kChunkSlots);
      for (size_t i = kChunkSlots; i-- > 0;) {
        free_.push_back(&chunk[i]);
      }
      chunks_.push_back(std::move(chunk));
    }
    Slot* s = free_.back();
    free_.pop_back();
    ++in_use_;
    if (in_use_ > high_water_) {
      high_water_ = in_use_;
    }
    return new (s->bytes) T(std::forward<Args>(args)...);
  }

  void destroy(T* p) {
    p->~T();
    free_.push_back(reinterpret_cast<Slot*>(p));
    --in_use_;
  }

  size_t in_use() const { return in_use_; }
  size_t high_water() const { return high_water_; }
  size_t failures() const { return failures_; }
  size_t bytes() const { return chunks_.size() * kChunkSlots * sizeof(Slot); }

 private:
  struct Slot {
    alignas(T) unsigned char bytes[sizeof(T)];
  };
  std::vector<std::unique_ptr<Slot[]>> chunks_;
  std::vector<Slot*> free_;
  size_t max_slots_;
  size_t in_use_ = 0, high_water_ = 0, failures_ = 0;
};

}  // namespace valk::net
