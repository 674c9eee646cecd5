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

// The credit may adapt to how often the process gets to send (CcPacer(min, max)): it is
// twice the mean interval between wake-ups that sent (an EWMA, gain 1/16, each interval
// counted as at most 2 x max), within [min, max]. A process that runs every few ms (a
// busy host) needs a credit of that many ms, or it sends less than the rate; one that
// runs every fraction of a ms needs little, and a large credit only turns its occasional
// stall into a burst: at 200 Mbit/s, 100 ms on the netlab testbed the catch-up after each
// stall of a few ms queued more than chicago's 5 ms mark at the bottleneck for longer
// than its 25 ms queue filter, and each read as congestion (docs/CHICAGO.md 4). A single
// stall moves the mean by 1/16 of its length: stalls are not bursted, steady slowness is.
// A floor in bytes keeps the credit at some packets' worth at low rates, where a credit
// of one or two packets changed how flows share a path (chicago.cpp, kMinCreditBytes).
class CcPacer {
 public:
  // `max_credit`: how much unused sending time may be banked for a burst (e.g. 2 ms).
  explicit CcPacer(Duration max_credit) : CcPacer(max_credit, max_credit) {}
  // A credit between `min_credit` and `max_credit` that follows the wake-up interval, and
  // is never less than the time `min_credit_bytes` take at the pacing rate.
  CcPacer(Duration min_credit, Duration max_credit, double min_credit_bytes = 0)
      : min_credit_(min_credit),
        max_credit_(max_credit),
        min_credit_bytes_(min_credit_bytes),
        credit_(min_credit),
        mean_wake_ns_(min_credit.ns / 2.0) {}

  // Earliest time the next packet may leave: `now` when it may leave at once.
  Timestamp next_send_time(Timestamp now) const { return next_due_ > now ? next_due_ : now; }

  // Accounts one transmission of `bytes` at `now` at pacing rate `rate_bytes_per_s`
  // (> 0; a non-positive rate is treated as 1 byte/s).
  void on_send(Timestamp now, uint64_t bytes, double rate_bytes_per_s);

  // Forgets banked credit and any pending spacing (e.g. after idle or a rate collapse).
  void reset(Timestamp now) { next_due_ = now; }

  Duration max_credit() const { return max_credit_; }
  // The credit in force now (max_credit() unless it adapts).
  Duration credit() const { return credit_; }

 private:
  static constexpr double kWakeGain = 1.0 / 16;
  Duration min_credit_;
  Duration max_credit_;
  double min_credit_bytes_;
  Duration credit_;
  double mean_wake_ns_;
  Timestamp last_wake_{0};
  bool woken_ = false;
  Timestamp next_due_{0};
};

}  // namespace curvecp
