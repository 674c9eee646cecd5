#include "scheduler/cc_pacer.h"

#include <algorithm>
#include <cmath>

namespace curvecp {

void CcPacer::on_send(Timestamp now, uint64_t bytes, double rate_bytes_per_s) {
  const double rate = std::max(rate_bytes_per_s, 1.0);
  // Credit is bounded: the virtual clock may lag `now` by at most max_credit_, so a late
  // wake-up sends at most max_credit_ * rate bytes back to back.
  const Timestamp floor = now - max_credit_;
  Timestamp base = next_due_ > floor ? next_due_ : floor;
  const double gap_ns = static_cast<double>(bytes) * 1e9 / rate;
  // Cap one gap at 10 s so a tiny rate cannot overflow the clock.
  const int64_t gap = static_cast<int64_t>(std::min(gap_ns, 1e10));
  next_due_ = base + Duration::nanoseconds(gap);
}

}  // namespace curvecp
