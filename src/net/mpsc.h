// A bounded lock-free multi-producer single-consumer queue (Vyukov's bounded
// queue with a single consumer), plus the wakeup flag that coalesces
// notifications: producers signal only when the flag was clear, and the
// consumer clears it before draining, so one wakeup serves a whole batch.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>

namespace valk::net {

template <typename T>
class MpscQueue {
 public:
  // `capacity` is rounded up to a power of two.
  explicit MpscQueue(size_t capacity) {
    size_t cap = 2;
    while (cap < capacity) {
      cap <<= 1;
    }
    mask_ = cap - 1;
    cells_ = std::make_unique<Cell[]>(cap);
    for (size_t i = 0; i < cap; ++i) {
      cells_[i].seq.store(i, std::memory_order_relaxed);
    }
  }

  size_t capacity() const { return mask_ + 1; }

  // Any thread. Returns false if the queue is full (nothing is stored).
  bool push(T value) {
    size_t pos = tail_.load(std::memory_order_relaxed);
    for (;;) {
      Cell& c = cells_[pos & mask_];
      size_t seq = c.seq.load(std::memory_order_acquire);
      intptr_t diff = static_cast<intptr_t>(seq) - static_cast<intptr_t>(pos);
      if (diff == 0) {
        if (tail_.compare_exchange_weak(pos, pos + 1, std::memory_order_relaxed)) {
          c.value = std::move(value);
          c.seq.store(pos + 1, std::memory_order_release);
          return true;
        }
      } else if (diff < 0) {
        return false;
      } else {
        pos = tail_.load(std::memory_order_relaxed);
      }
    }
  }

  // Consumer thread only. Returns false when empty.
  bool pop(T* out) {
    Cell& c = cells_[head_ & mask_];
    size_t seq = c.seq.load(std::memory_order_acquire);
    if (static_cast<intptr_t>(seq) - static_cast<intptr_t>(head_ + 1) < 0) {
      return false;
    }
    *out = std::move(c.value);
    c.seq.store(head_ + mask_ + 1, std::memory_order_release);
    ++head_;
    return true;
  }

  // Producer side of the coalesced wakeup: true if the caller must wake the
  // consumer (the flag was clear).
  bool claim_wakeup() { return !wake_pending_.exchange(true, std::memory_order_acq_rel); }
  // Consumer side: call before draining, so a push racing with the drain
  // sends a new wakeup rather than being stranded.
  void clear_wakeup() { wake_pending_.store(false, std::memory_order_seq_cst); }

 private:
  struct Cell {
    std::atomic<size_t> seq;
    T value{};
  };
  std::unique_ptr<Cell[]> cells_;
  size_t mask_ = 0;
  alignas(64) std::atomic<size_t> tail_{0};
  alignas(64) size_t head_ = 0;
  alignas(64) std::atomic<bool> wake_pending_{false};
};

}  // namespace valk::net
