#include "scheduler/cc_ack_rate.h"

namespace curvecp {

void CcAckRate::on_ack(Timestamp now, uint64_t bytes) {
  total_ += bytes;
  // Acks that arrive within the same microsecond fold into one point: a burst of acks
  // processed in one wake-up carries no timing information of its own.
  if (!points_.empty() && now - points_.back().time < Duration::microseconds(1)) {
    points_.back().total_bytes = total_;
  } else {
    points_.push_back({now, total_});
  }
  while (points_.size() > 2 && (points_.size() > kMaxSamples || now - points_[1].time > kHorizon)) {
    points_.pop_front();
  }
}

double CcAckRate::rate_bytes_per_s(Duration window, Duration min_span) const {
  if (points_.size() < 2) return 0;
  const Point& last = points_.back();
  const Timestamp start = last.time - window;
  // The oldest point at or after `start`, or the last one before it when none is exactly
  // on the boundary: the span then slightly exceeds the window, never falls short.
  size_t i = points_.size() - 1;
  while (i > 0 && points_[i].time > start) --i;
  const Point& first = points_[i];
  const Duration span = last.time - first.time;
  if (span < min_span || span.ns <= 0) return 0;
  return static_cast<double>(last.total_bytes - first.total_bytes) * 1e9 / static_cast<double>(span.ns);
}

}  // namespace curvecp
