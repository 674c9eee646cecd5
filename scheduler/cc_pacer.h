// Credit-based pacer shared by the rate-based controllers.
//
// A pacer spaces transmissions at `rate_bytes_per_s`. It keeps one virtual clock, the time
// at which the next packet is due, and advances it by bytes / rate on every send. When the
// runtime wakes late (libuv timers have ~1 ms granularity), the virtual clock lags behind
// `now`; the packets that became due meanwhile may then leave back to back, up to
// `max_credit` worth of sending time. Without that credit a 1 ms wake-up would cap the
// rate at one packet per millisecond (the reference's ~0.9 MB/s, CURVECP.md 7.6, 9 item 1).
#pragma once

#include <cstdint>

#include "core/time.h"

namespace curvecp {

class CcPacer {
 public:
  // `max_credit`: how much unused sending time may be banked for a burst (e.g. 2 ms).
  explicit CcPacer(Duration max_credit) : max_credit_(max_credit) {}

  // Earliest time the next packet may leave: `now` when it may leave at once.
  Timestamp next_send_time(Timestamp now) const { return next_due_ > now ? next_due_ : now; }

  // Accounts one transmission of `bytes` at `now` at pacing rate `rate_bytes_per_s`
  // (> 0; a non-positive rate is treated as 1 byte/s).
  void on_send(Timestamp now, uint64_t bytes, double rate_bytes_per_s);

  // Forgets banked credit and any pending spacing (e.g. after idle or a rate collapse).
  void reset(Timestamp now) { next_due_ = now; }

  Duration max_credit() const { return max_credit_; }

 private:
  Duration max_credit_;
  Timestamp next_due_{0};
};

}  // namespace curvecp
