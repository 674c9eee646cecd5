#include "scheduler/cc_pacer.h"

#include <algorithm>
#include <cmath>

namespace curvecp {

void CcPacer::on_send(Timestamp now, uint64_t bytes, double rate_bytes_per_s) {
  const double rate = std::max(rate_bytes_per_s, 1.0);
  // Credit is bounded: the virtual clock may lag `now` by at most the credit, so a late
  // wake-up sends at most credit * rate bytes back to back. The credit in force is the one
  // from before this wake-up: a stall does not enlarge its own catch-up.
  const Timestamp floor = now - credit_;
  if (min_credit_ < max_credit_ && (!woken_ || now != last_wake_)) {
    // A new wake-up that sends: fold its distance from the last one into the mean.
    if (woken_ && now > last_wake_) {
      const double interval = std::min(static_cast<double>((now - last_wake_).ns), 2.0 * max_credit_.ns);
      mean_wake_ns_ += kWakeGain * (interval - mean_wake_ns_);
    }
    const double floor_ns = min_credit_bytes_ * 1e9 / rate;
    credit_ = std::clamp(Duration::nanoseconds(static_cast<int64_t>(std::min(std::max(2 * mean_wake_ns_, floor_ns), 1e10))),
                         min_credit_, max_credit_);
    woken_ = true;
    last_wake_ = now;
  }
  Timestamp base = next_due_ > floor ? next_due_ : floor;
  const double gap_ns = static_cast<double>(bytes) * 1e9 / rate;
  // Cap one gap at 10 s so a tiny rate cannot overflow the clock.
  const int64_t gap = static_cast<int64_t>(std::min(gap_ns, 1e10));
  next_due_ = base + Duration::nanoseconds(gap);
}

}  // namespace curvecp
