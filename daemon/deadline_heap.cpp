#include "daemon/deadline_heap.h"

#include <utility>

namespace curvecp {

DeadlineHeap::DeadlineHeap(uint32_t capacity) : position_(capacity, -1) { heap_.reserve(capacity); }

Timestamp DeadlineHeap::get(uint32_t id) const {
  return contains(id) ? heap_[static_cast<size_t>(position_[id])].deadline : Timestamp::never();
}

void DeadlineHeap::set(uint32_t id, Timestamp deadline) {
  if (id >= position_.size()) return;
  if (deadline == Timestamp::never()) {
    remove(id);
    return;
  }
  if (position_[id] < 0) {
    heap_.push_back(Entry{deadline, id});
    position_[id] = static_cast<int32_t>(heap_.size() - 1);
    sift_up(heap_.size() - 1);
    return;
  }
  size_t i = static_cast<size_t>(position_[id]);
  Timestamp old = heap_[i].deadline;
  heap_[i].deadline = deadline;
  if (deadline < old) {
    sift_up(i);
  } else {
    sift_down(i);
  }
}

void DeadlineHeap::remove(uint32_t id) {
  if (!contains(id)) return;
  size_t i = static_cast<size_t>(position_[id]);
  size_t last = heap_.size() - 1;
  if (i != last) swap_entries(i, last);
  heap_.pop_back();
  position_[id] = -1;
  if (i < heap_.size()) {
    sift_up(i);
    sift_down(i);
  }
}

void DeadlineHeap::swap_entries(size_t a, size_t b) {
  std::swap(heap_[a], heap_[b]);
  position_[heap_[a].id] = static_cast<int32_t>(a);
  position_[heap_[b].id] = static_cast<int32_t>(b);
}

void DeadlineHeap::sift_up(size_t i) {
  while (i > 0) {
    size_t parent = (i - 1) / 2;
    if (!(heap_[i].deadline < heap_[parent].deadline)) break;
    swap_entries(i, parent);
    i = parent;
  }
}

void DeadlineHeap::sift_down(size_t i) {
  for (;;) {
    size_t left = 2 * i + 1;
    size_t right = left + 1;
    size_t smallest = i;
    if (left < heap_.size() && heap_[left].deadline < heap_[smallest].deadline) smallest = left;
    if (right < heap_.size() && heap_[right].deadline < heap_[smallest].deadline) smallest = right;
    if (smallest == i) break;
    swap_entries(i, smallest);
    i = smallest;
  }
}

}  // namespace curvecp
