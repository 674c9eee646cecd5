#include "scheduler/receive_buffer.h"

#include <algorithm>
#include <limits>

namespace curvecp {

ReceiveBuffer::ReceiveBuffer(size_t window_bytes, size_t max_intervals, MemoryBudget* budget)
    : ring_(window_bytes, budget), window_(window_bytes), max_intervals_(std::max<size_t>(max_intervals, 1)) {}

ReceiveBuffer::Store ReceiveBuffer::store(uint64_t offset, Bytes data, StreamEnd end, uint64_t accept_limit) {
  const uint64_t stop = offset + data.size();  // the parser rejected overflowing offsets
  if (stop > window_limit()) return Store::out_of_window;
  if (stop > accept_limit && !covered(offset, data.size())) return Store::out_of_window;
  bool stored = false;
  const uint64_t start = std::max(offset, prefix_);
  if (start < stop) {
    const bool extends_prefix = start == prefix_;
    // A new interval is needed unless the data touches the prefix or an existing one.
    if (!extends_prefix && intervals_.size() >= max_intervals_ && !covered(start, 0) &&
        !covered(stop, 0)) {
      return Store::too_fragmented;
    }
    if (!covered(start, static_cast<size_t>(stop - start))) {
      const uint64_t live_end = intervals_.empty() ? prefix_ : std::max(prefix_, intervals_.back().end);
      const bool ok = ring_.ensure(read_, live_end, stop);
      if (!ok) return Store::out_of_window;
      ring_.write(start, data.subspan(static_cast<size_t>(start - offset)));
      insert(start, stop);
      highest_end_ = stop;
      stored = true;
    }
  }
  if (end != StreamEnd::none && end_ == StreamEnd::none) {
    // The first end wins: a duplicate or later message cannot move it.
    end_ = end;
    total_ = stop;
    stored = true;
  }
  return stored ? Store::stored : Store::duplicate;
}

void ReceiveBuffer::insert(uint64_t start, uint64_t end) {
  if (start <= prefix_) {
    // In-order data: the common case, no interval bookkeeping unless a hole closes.
    prefix_ = std::max(prefix_, end);
    size_t merged = 0;
    while (merged < intervals_.size() && intervals_[merged].start <= prefix_) {
      prefix_ = std::max(prefix_, intervals_[merged].end);
      ++merged;
    }
    if (merged) intervals_.erase(intervals_.begin(), intervals_.begin() + static_cast<ptrdiff_t>(merged));
    return;
  }
  // First interval that ends at or after start (may touch or overlap).
  auto first = std::lower_bound(intervals_.begin(), intervals_.end(), start,
                                [](const Interval& iv, uint64_t s) { return iv.end < s; });
  auto last = first;
  while (last != intervals_.end() && last->start <= end) ++last;
  if (first == last) {
    if (intervals_.capacity() == 0) {
      // The first out-of-order data: the whole table at once, so that later inserts never
      // allocate (a stream that never sees reordering never pays for it).
      const auto at = first - intervals_.begin();
      intervals_.reserve(max_intervals_);
      first = intervals_.begin() + at;
    }
    intervals_.insert(first, Interval{start, end});
    return;
  }
  first->start = std::min(first->start, start);
  first->end = std::max((last - 1)->end, end);
  intervals_.erase(first + 1, last);
}

bool ReceiveBuffer::covered(uint64_t offset, size_t len) const {
  const uint64_t stop = offset + len;
  if (stop <= prefix_) return true;
  auto it = std::lower_bound(intervals_.begin(), intervals_.end(), stop,
                             [](const Interval& iv, uint64_t s) { return iv.end < s; });
  return it != intervals_.end() && it->start <= offset && stop <= it->end;
}

bool ReceiveBuffer::in_interval(uint64_t p) const {
  auto it = std::lower_bound(intervals_.begin(), intervals_.end(), p,
                             [](const Interval& iv, uint64_t s) { return iv.end < s; });
  return it != intervals_.end() && it->start <= p;
}

size_t ReceiveBuffer::read(MutableBytes out) {
  const size_t n = std::min(out.size(), readable());
  ring_.read(read_, out.first(n));
  read_ += n;
  // Pages wholly read are freed; all of them once nothing beyond read_ is held.
  const uint64_t live_end = intervals_.empty() ? prefix_ : std::max(prefix_, intervals_.back().end);
  ring_.release(read_, live_end);
  return n;
}

AckFields ReceiveBuffer::ack_fields() const {
  AckFields ack;
  ack.range1 = prefix_;
  if (complete()) ack.range1 = total_ + 1;
  if (intervals_.empty() || complete()) return ack;

  // Ranges 2..6 must ascend, gaps 2..5 and ranges 2..6 are 16-bit, so the five ranges
  // cover at most a few hundred KiB. They are built around the interval holding the most
  // recently stored data (as TCP SACK reports the newest block first), walking down to
  // lower intervals while the 16-bit gaps allow; every block gets acknowledged while it
  // is among the newest, which keeps the sender from retransmitting what arrived.
  constexpr uint64_t kMax16 = std::numeric_limits<uint16_t>::max();
  size_t anchor = intervals_.size() - 1;
  for (size_t i = 0; i < intervals_.size(); ++i) {
    if (intervals_[i].start < highest_end_ && highest_end_ <= intervals_[i].end) {
      anchor = i;
      break;
    }
  }
  Interval chosen[5];
  size_t n = 0;
  // Anchor: at most 65535 bytes of its interval, ending at the newest data or later.
  {
    const Interval& iv = intervals_[anchor];
    const uint64_t e = std::min(iv.end, std::max(highest_end_, iv.start + kMax16));
    chosen[n++] = Interval{e - std::min(e - iv.start, kMax16), e};
  }
  for (size_t i = anchor; i-- > 0 && n < 5;) {
    const Interval& iv = intervals_[i];
    const uint64_t next_start = chosen[n - 1].start;
    if (next_start - iv.end > kMax16) break;
    const uint64_t s = iv.end - std::min<uint64_t>(iv.end - iv.start, kMax16);
    chosen[n++] = Interval{s, iv.end};
  }
  std::reverse(chosen, chosen + n);
  const uint64_t gap1 = chosen[0].start - ack.range1;
  if (gap1 > std::numeric_limits<uint32_t>::max()) return ack;
  ack.gap1 = static_cast<uint32_t>(gap1);
  for (size_t k = 0; k < n; ++k) {
    ack.ranges[k] = static_cast<uint16_t>(chosen[k].end - chosen[k].start);
    if (k + 1 < n) ack.gaps[k] = static_cast<uint16_t>(chosen[k + 1].start - chosen[k].end);
  }
  return ack;
}

}  // namespace curvecp
