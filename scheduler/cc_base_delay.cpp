#include "scheduler/cc_base_delay.h"

#include <algorithm>

namespace curvecp {

CcBaseDelay::CcBaseDelay(Duration bucket, size_t buckets) : bucket_(bucket), buckets_(std::max<size_t>(buckets, 1)) {}

void CcBaseDelay::on_rtt(Timestamp now, Duration rtt, uint32_t wire_bytes) {
  bool full = true;
  if (wire_bytes != 0) {
    if (largest_wire_bytes_ != 0 && wire_bytes > largest_wire_bytes_ + largest_wire_bytes_ / 3) {
      mins_.clear();  // every minimum so far is from markedly smaller messages
    }
    largest_wire_bytes_ = std::max(largest_wire_bytes_, wire_bytes);
    full = wire_bytes >= largest_wire_bytes_ - largest_wire_bytes_ / 4;
  }
  if (mins_.empty() || now - bucket_start_ >= bucket_) {
    mins_.push_back(rtt);
    bucket_start_ = now;
    bucket_has_full_ = full;
    if (mins_.size() > buckets_) mins_.erase(mins_.begin());
    return;
  }
  if (full && !bucket_has_full_) {
    mins_.back() = rtt;
    bucket_has_full_ = true;
  } else if (full == bucket_has_full_) {
    mins_.back() = std::min(mins_.back(), rtt);
  }
}

Duration CcBaseDelay::base() const {
  if (mins_.empty()) return Duration::infinite();
  return *std::min_element(mins_.begin(), mins_.end());
}

}  // namespace curvecp
