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

  // Adds an RTT sample taken at `now`.
  void on_rtt(Timestamp now, Duration rtt);
  bool empty() const { return mins_.empty(); }
  // Minimum over the history; Duration::infinite() before the first sample.
  Duration base() const;

 private:
  Duration bucket_;
  size_t buckets_;
  std::vector<Duration> mins_;  // oldest first; back() is the current bucket
  Timestamp bucket_start_{0};
};

}  // namespace curvecp
