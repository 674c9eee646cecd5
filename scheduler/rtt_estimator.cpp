#include "scheduler/rtt_estimator.h"

#include <algorithm>

namespace curvecp {

void RttEstimator::on_sample(PathState& path, Duration rtt, Timestamp now, uint32_t wire_bytes) {
  rtt = std::max(rtt, Duration::nanoseconds(1));
  path.latest_rtt = rtt;
  ++path.rtt_samples;
  if (!path.has_rtt_sample) {
    // RFC 6298 2.2: first sample.
    path.srtt = rtt;
    path.rttvar = rtt / 2;
    path.has_rtt_sample = true;
  } else {
    // RFC 6298 2.3: RTTVAR first, with the old SRTT.
    const Duration err = rtt > path.srtt ? rtt - path.srtt : path.srtt - rtt;
    path.rttvar = path.rttvar - path.rttvar / 4 + err / 4;
    path.srtt = path.srtt - path.srtt / 8 + rtt / 8;
  }
  path.min_rtt = std::min(path.min_rtt, rtt);
  path.base_delay.on_rtt(now, rtt, wire_bytes);

  if (bucket_start_ == Timestamp::never()) bucket_start_ = now;
  if (now - bucket_start_ >= kBucket) {
    // A whole bucket without samples empties both.
    previous_min_ = now - bucket_start_ >= kBucket * 2 ? Duration::infinite() : current_min_;
    current_min_ = Duration::infinite();
    bucket_start_ = now;
  }
  current_min_ = std::min(current_min_, rtt);
  path.windowed_min_rtt = std::min(current_min_, previous_min_);
}

}  // namespace curvecp
