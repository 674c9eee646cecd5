// RTT estimation into PathState (congestion.h), written once for every controller:
// Jacobson/Karels smoothing with the RFC 6298 gains (1/8 for SRTT, 1/4 for RTTVAR), the
// lifetime minimum, a windowed minimum over the last 10 to 20 s (two 10 s buckets)
// that follows route changes, and the two-minute base-delay history (cc_base_delay.h).
#pragma once

#include "core/time.h"
#include "scheduler/congestion.h"

namespace curvecp {

class RttEstimator {
 public:
  // Feeds one RTT sample taken at `now` into `path`. Non-positive samples (clock
  // granularity) count as 1 ns.
  // wire_bytes: the size of the message the sample is for (0: unknown); the base-delay
  // history weighs samples by it (cc_base_delay.h).
  void on_sample(PathState& path, Duration rtt, Timestamp now, uint32_t wire_bytes = 0);

 private:
  static constexpr Duration kBucket = Duration::seconds(10);
  Timestamp bucket_start_ = Timestamp::never();
  Duration current_min_ = Duration::infinite();
  Duration previous_min_ = Duration::infinite();
};

}  // namespace curvecp
