// Host noise: the stalls of a process on a busy host, which the simulator otherwise does
// not see. On the netlab testbed (tests/netlab/) every endpoint and the user-space delay
// box are processes: when the host runs something else, a process wakes late, packets
// that arrived meanwhile are read in a burst (their kernel receive times are still
// right), the packets it would have paced out leave in a burst from its pacing credit,
// and the delay box releases what fell due during its stall at once. Kernel TCP runs in
// the kernel's softirq context and does not stall; it sees only the delay box's stalls.
//
// A HostNoise is what tests/netlab/host_stalls.cpp measures: how often a process sleeping
// 1 ms wakes more than 1 ms late, and the quantiles of that lateness. HostSchedule turns
// it into a seeded sequence of stalls: a Poisson process of stall starts, lengths drawn
// from a log-linear interpolation of the quantiles. docs/SIMULATOR.md compares the
// simulator with the testbed.
#pragma once

#include <cstdint>
#include <deque>
#include <string>
#include <string_view>
#include <utility>

#include "core/result.h"
#include "core/rng.h"
#include "core/time.h"

namespace curvecp::sim {

struct HostNoise {
  double stalls_per_s = 0;  // stall starts per second; 0 = a quiet host (no stalls)
  Duration p50{0};          // quantiles of a stall's length (each is longer than 1 ms)
  Duration p90{0};
  Duration p99{0};
  bool enabled() const { return stalls_per_s > 0; }
  // "quiet", or "stalls_per_s=X,stall_p50_ms=X,stall_p90_ms=X,stall_p99_ms=X".
  std::string describe() const;
};

// Parses a profile name or the key=value list that curvecp_host_stalls prints (commas or
// spaces between the pairs; keys it does not use are ignored). Profiles: "quiet" (none);
// "busy" and "noisy": what curvecp_host_stalls measured on the 2-core test machines
// during netlab runs (docs/SIMULATOR.md).
Result<HostNoise> parse_host_noise(std::string_view text);

// The stalls of one process, generated lazily from its seed: the same seed and noise give
// the same stalls whatever is asked in between.
class HostSchedule {
 public:
  HostSchedule(const HostNoise& noise, uint64_t seed);
  // The earliest time at or after `t` at which the process runs. Queries must not go
  // below the earliest time asked since the last prune(now).
  Timestamp running_at(Timestamp t);
  // Forgets stalls that end before `now` (the simulation never asks about them again).
  void prune(Timestamp now);
  bool enabled() const { return noise_.enabled(); }

 private:
  Duration draw_length();
  // The stall length at quantile `u` of the distribution.
  Duration length_at(double u) const;
  void generate_past(Timestamp t);

  HostNoise noise_;
  SeededRng rng_;
  std::deque<std::pair<Timestamp, Timestamp>> stalls_;  // [start, end), in order
  Timestamp generated_to_{0};
  double mean_gap_s_ = 0;  // between the end of a stall and the start of the next
};

}  // namespace curvecp::sim
