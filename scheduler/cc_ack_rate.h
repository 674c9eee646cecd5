// Acknowledgement-rate estimator: bytes newly acknowledged per second over the last
// `window` (about one RTT). For a flow limited by a bottleneck this is the bottleneck's
// delivery rate to this flow; in a start-up ramp it is the sending rate one RTT ago.
// Bounded memory: at most `kMaxSamples` points, merged when full.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>

#include "core/time.h"

namespace curvecp {

class CcAckRate {
 public:
  // Records `bytes` newly acknowledged at `now` (timestamps must not decrease).
  void on_ack(Timestamp now, uint64_t bytes);

  // Acknowledged bytes per second over the last `window` ending at the latest ack, or 0
  // when the history spans less than `min_span` (too little to measure).
  double rate_bytes_per_s(Duration window, Duration min_span) const;

  uint64_t total_bytes() const { return total_; }
  void reset() { points_.clear(); }

 private:
  static constexpr size_t kMaxSamples = 4096;
  // Oldest history kept, whatever window is asked for (bounded memory and time).
  static constexpr Duration kHorizon = Duration::seconds(4);
  struct Point {
    Timestamp time;
    uint64_t total_bytes;  // cumulative acknowledged bytes including this ack
  };
  std::deque<Point> points_;
  uint64_t total_ = 0;
};

}  // namespace curvecp
