#include "scheduler/cc_base_delay.h"

#include <algorithm>

namespace curvecp {

CcBaseDelay::CcBaseDelay(Duration bucket, size_t buckets) : bucket_(bucket), buckets_(std::max<size_t>(buckets, 1)) {}

void CcBaseDelay::on_rtt(Timestamp now, Duration rtt) {
  if (mins_.empty()) {
    mins_.push_back(rtt);
    bucket_start_ = now;
    return;
  }
  if (now - bucket_start_ >= bucket_) {
    mins_.push_back(rtt);
    bucket_start_ = now;
    if (mins_.size() > buckets_) mins_.erase(mins_.begin());
    return;
  }
  mins_.back() = std::min(mins_.back(), rtt);
}

Duration CcBaseDelay::base() const {
  if (mins_.empty()) return Duration::infinite();
  return *std::min_element(mins_.begin(), mins_.end());
}

}  // namespace curvecp
