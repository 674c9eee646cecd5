// An indexed binary min-heap of deadlines keyed by small integer ids (connection slots):
// the server arms its one timer at top() instead of scanning every connection
// (O(log n) per update, O(1) to find the earliest).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "core/time.h"

namespace curvecp {

class DeadlineHeap {
 public:
  // Ids must be < capacity; the heap preallocates everything (no allocation later).
  explicit DeadlineHeap(uint32_t capacity);

  // Sets (inserts or moves) the deadline of `id`; never() removes it.
  void set(uint32_t id, Timestamp deadline);
  void remove(uint32_t id);
  bool contains(uint32_t id) const { return id < position_.size() && position_[id] >= 0; }
  // Deadline of `id`, never() if absent.
  Timestamp get(uint32_t id) const;

  bool empty() const { return heap_.empty(); }
  size_t size() const { return heap_.size(); }
  // The earliest deadline, never() when empty.
  Timestamp top_deadline() const { return heap_.empty() ? Timestamp::never() : heap_.front().deadline; }
  // Id with the earliest deadline; call only when !empty().
  uint32_t top_id() const { return heap_.front().id; }

 private:
  struct Entry {
    Timestamp deadline;
    uint32_t id;
  };
  void swap_entries(size_t a, size_t b);
  void sift_up(size_t i);
  void sift_down(size_t i);

  std::vector<Entry> heap_;
  std::vector<int32_t> position_;  // id -> index in heap_, -1 if absent
};

}  // namespace curvecp
