// A FIFO of elements with consecutive 64-bit keys [front_key, back_key), stored in a
// power-of-two circular array (key & mask) so that lookup by key, push_back and
// pop_front are O(1). Grows by doubling up to a fixed maximum element count; no
// allocation once it has reached the size the traffic needs.
#pragma once

#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

namespace curvecp {

template <typename T>
class IndexedRing {
 public:
  // At most max_elements (rounded up to a power of two) are held at once.
  explicit IndexedRing(size_t max_elements) {
    max_capacity_ = 1;
    while (max_capacity_ < max_elements) max_capacity_ <<= 1;
  }

  bool empty() const { return front_ == back_; }
  size_t size() const { return static_cast<size_t>(back_ - front_); }
  bool full() const { return size() >= max_capacity_; }
  size_t max_size() const { return max_capacity_; }
  uint64_t front_key() const { return front_; }
  uint64_t back_key() const { return back_; }  // one past the last element
  bool contains(uint64_t key) const { return key >= front_ && key < back_; }

  // Precondition: contains(key).
  T& at(uint64_t key) { return slots_[key & mask_]; }
  const T& at(uint64_t key) const { return slots_[key & mask_]; }
  T& front() { return at(front_); }
  T& back() { return at(back_ - 1); }

  // Appends with key back_key(). Returns false, changing nothing, when full().
  bool push_back(T value) {
    if (full()) return false;
    if (size() == slots_.size()) grow();
    slots_[back_ & mask_] = std::move(value);
    ++back_;
    return true;
  }
  void pop_front() { ++front_; }
  // Starts an empty ring at `key` (only while empty).
  void reset_keys(uint64_t key) { front_ = back_ = key; }

 private:
  void grow() {
    const size_t new_capacity = slots_.empty() ? 16 : slots_.size() * 2;
    std::vector<T> fresh(new_capacity);
    const size_t new_mask = new_capacity - 1;
    for (uint64_t k = front_; k != back_; ++k) fresh[k & new_mask] = std::move(slots_[k & mask_]);
    slots_ = std::move(fresh);
    mask_ = new_mask;
  }

  std::vector<T> slots_;
  size_t mask_ = 0;
  size_t max_capacity_ = 1;
  uint64_t front_ = 0;
  uint64_t back_ = 0;
};

}  // namespace curvecp
