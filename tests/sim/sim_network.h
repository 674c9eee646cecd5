// The simulated topology: a dumbbell with one bottleneck. Every flow's data crosses the
// forward link (rate, drop-tail queue, propagation delay, impairments); acknowledgements
// cross the reverse link (propagation delay only, optionally its own impairments).
// Owns the clock, the random generators (all derived from one seed) and the flows.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "core/result.h"
#include "core/rng.h"
#include "tests/sim/sim_clock.h"
#include "tests/sim/sim_host.h"
#include "tests/sim/sim_link.h"
#include "tests/sim/sim_stream_flow.h"
#include "tests/sim/sim_tcp_flow.h"

namespace curvecp::sim {

struct PathConfig {
  double rate_bits_per_s = 20e6;
  Duration rtt = Duration::milliseconds(40);      // base round-trip propagation delay
  Duration buffer = Duration::milliseconds(100);  // drop-tail queue, as time at the link rate
  // Impairments of the forward (data) direction, applied after the queue.
  double loss = 0;
  double burst_enter = 0;
  double burst_exit = 1;
  double burst_loss = 1;
  double reorder = 0;
  Duration reorder_delay{0};
  double duplicate = 0;
  // Impairments of the reverse (acknowledgement) direction.
  double reverse_loss = 0;
  double reverse_reorder = 0;
  double reverse_duplicate = 0;
  Duration bin = Duration::milliseconds(100);     // metrics resolution
  // Stream endpoints wake at multiples of this (0: exactly when asked), to model a
  // runtime with a coarse timer such as a 1 ms libuv uv_timer (ours is a nanosecond
  // timerfd, daemon/timer.h).
  Duration timer_granularity{0};
  // Host noise (sim_host.h): stalls of every stream endpoint's process and of the delay
  // box that carries both directions (netlab's user-space emulator); TCP endpoints, in
  // the kernel, do not stall. Quiet by default.
  HostNoise host;
};

class Network {
 public:
  Network(uint64_t seed, const PathConfig& path);

  EventQueue& events() { return events_; }
  Timestamp now() const { return events_.now(); }
  Link& forward() { return *forward_; }
  Link& reverse() { return *reverse_; }
  const PathConfig& path() const { return path_; }
  uint64_t seed() const { return seed_; }

  // Adds a flow that starts at `start`. The returned reference lives as long as the network.
  Result<StreamFlow*> add_stream_flow(const StreamFlowConfig& config, Timestamp start);
  TcpFlow& add_tcp_flow(TcpAlgorithm algorithm, Timestamp start);
  // Takes any other flow (already wired to forward()/reverse()) and starts it at `start`.
  // Its id must be next_flow_id().
  Flow& adopt_flow(std::unique_ptr<Flow> flow, Timestamp start);
  uint32_t next_flow_id() const { return static_cast<uint32_t>(flows_.size()); }
  size_t flow_count() const { return flows_.size(); }
  Flow& flow(size_t i) { return *flows_[i]; }
  const Flow& flow(size_t i) const { return *flows_[i]; }

  void run_until(Timestamp end) { events_.run_until(end); }

 private:
  uint64_t seed_;
  PathConfig path_;
  EventQueue events_;
  SeededRng link_rng_;
  SeededRng reverse_rng_;
  std::unique_ptr<Link> forward_;
  std::unique_ptr<Link> reverse_;
  // The delay box's stalls (PathConfig::host); null on a quiet host.
  std::unique_ptr<HostSchedule> box_;
  // `sink`, but what falls due during a stall of the box arrives when it ends.
  PacketSink through_box(PacketSink sink);
  std::vector<std::unique_ptr<SeededRng>> flow_rngs_;
  std::vector<std::unique_ptr<Flow>> flows_;
};

}  // namespace curvecp::sim
