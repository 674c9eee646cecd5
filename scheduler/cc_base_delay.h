// Base-delay history, after LEDBAT (RFC 6817 2.4.1 "base delay"): the minimum RTT per
// interval of `bucket` length, for the last `buckets` intervals. The base delay is the
// minimum of them. Unlike a lifetime minimum it follows a route change to a longer path
// within buckets * bucket; unlike a short windowed minimum it is not fooled by a queue
// that another flow keeps standing for a few seconds.
#pragma once

#include <cstddef>
#include <vector>

#include "core/time.h"

namespace curvecp {

class CcBaseDelay {
 public:
  // Defaults: 6 buckets of 20 s, a two-minute memory.
  explicit CcBaseDelay(Duration bucket = Duration::seconds(20), size_t buckets = 6);

  // Adds an RTT sample taken at `now`, for a message of `wire_bytes` (0: unknown, counted
  // as full size). A sample counts as full size when its message is at least 3/4 of the
  // largest seen. At the bottleneck a message waits its own serialisation, so on a slow
  // link a small one comes back sooner than a full one on the same empty path (10 Mbit/s:
  // 0.96 ms for 1200 bytes). A base delay from a small message (the first one of a
  // transfer) is then too low for the full ones that follow, by up to a packet time, and
  // a flow that starts while another runs never gets that low: the two read different
  // queues from the same path (simulator, two flows at 10 Mbit/s, 10 ms: bases 10.56 and
  // 10.97 ms, shares 0.33/0.66). So: small samples count only in an interval without
  // full-size ones, a full-size sample replaces an interval's small-only minimum, and a
  // message markedly larger than any before (by a third) starts the history afresh.
  void on_rtt(Timestamp now, Duration rtt, uint32_t wire_bytes = 0);
  bool empty() const { return mins_.empty(); }
  // Minimum over the history; Duration::infinite() before the first sample.
  Duration base() const;

 private:
  Duration bucket_;
  size_t buckets_;
  std::vector<Duration> mins_;  // oldest first; back() is the current bucket
  Timestamp bucket_start_{0};
  uint32_t largest_wire_bytes_ = 0;
  bool bucket_has_full_ = false;  // the current bucket's minimum is from a full-size message
};

}  // namespace curvecp
