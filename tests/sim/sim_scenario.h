// Scenarios: a path, a set of flows and a measurement window, run on a fresh Network and
// summarised. The standard scenarios (docs/CHICAGO.md 3) are defined here once, so the doctest
// scenario tests and the sim_report benchmark run exactly the same experiments.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "core/result.h"
#include "scheduler/priority.h"
#include "tests/sim/sim_network.h"

namespace curvecp::sim {

enum class FlowKind : uint8_t { stream, newreno, cubic };

// The algorithm under test: a CurveCP stream with a named controller, or a TCP model.
struct Subject {
  Subject() = default;
  Subject(FlowKind k, std::string c, Priority p = {}) : kind(k), controller(std::move(c)), priority(p) {}
  FlowKind kind = FlowKind::stream;
  std::string controller = "chicago";
  // Stream flows: the class (scheduler/priority.h); normal runs `controller`.
  Priority priority;
  std::string label() const;
};

struct FlowSpec {
  FlowSpec() = default;
  FlowSpec(Subject s, Duration at, uint64_t n = 0, bool fail = false)
      : subject(std::move(s)), start(at), bytes(n), fail_at_end(fail) {}
  Subject subject;
  Duration start{0};
  uint64_t bytes = 0;  // stream flows: bytes to upload, 0 = unlimited
  bool fail_at_end = false;
  // The flow stops sending here (Flow::stop; a stream aborts its upload). Not jittered.
  Duration stop = Duration::infinite();
  // Stream flows: the uploading client switches class at these times (Stream::set_priority).
  std::vector<std::pair<Duration, Priority>> priority_changes;
};

struct Scenario {
  std::string name;
  uint64_t seed = 1;
  PathConfig path;
  Duration duration = Duration::seconds(60);
  // Measurement window [measure_from, measure_to); measure_to 0 means the end.
  Duration measure_from{0};
  Duration measure_to{0};
  std::vector<FlowSpec> flows;
  // Each flow starts up to this much after its FlowSpec::start, uniformly at random from
  // the seed (0: exactly then).
  Duration start_jitter{0};
  // End early once every finite flow has finished.
  bool stop_when_finished = false;
  // Runs once at `hook_at` with the network (tests use it to act on a live flow).
  Duration hook_at = Duration::infinite();
  std::function<void(Network&)> hook;
};

struct FlowSummary {
  std::string label;
  double goodput_bytes_per_s = 0;  // in the measurement window
  double share = 0;                // of the summed goodput in the window
  uint64_t delivered_bytes = 0;    // whole run
  bool finished = false;
  Timestamp finish_time = Timestamp::never();
  bool end_was_failure = false;
  uint64_t corrupt_bytes = 0;
  uint64_t sender_packets = 0;
  std::vector<double> series_bytes_per_s;  // goodput per 1 s over the whole run
};

struct ScenarioResult {
  std::string name;
  uint64_t seed = 0;
  Timestamp measure_from{0};
  Timestamp measure_to{0};
  Timestamp end{0};
  double utilisation = 0;          // link busy time, retransmissions and headers included
  double goodput_bytes_per_s = 0;  // application bytes delivered per second, all flows
  double capacity_bytes_per_s = 0; // the bottleneck's rate
  // Goodput as a fraction of the bottleneck's rate (at most ~0.87: message, crypto and
  // UDP/IP headers take the rest of each full packet).
  double goodput_fraction() const { return capacity_bytes_per_s > 0 ? goodput_bytes_per_s / capacity_bytes_per_s : 0; }
  Duration queue_p50{0};
  Duration queue_p95{0};
  double loss = 0;
  double jain = 1;
  Timestamp time_to_90_percent = Timestamp::never();  // 1 s windows, from the start
  uint64_t events = 0;
  std::vector<FlowSummary> flows;
  // Link utilisation per 1 s over the whole run.
  std::vector<double> utilisation_series;

  // One line with the seed and every figure: printed when a scenario assertion fails.
  std::string describe() const;
};

// Runs the scenario to completion. Fails when a flow cannot be created.
Result<ScenarioResult> run_scenario(const Scenario& scenario);

// --- The standard scenarios, parameterised by the algorithm. ---
// On the paths without random impairments the seed still makes each run a different
// experiment: flows start up to one base RTT (at least 1 ms, one timer tick) late, and 2%
// of acknowledgements are delayed by rtt / 40 (10 us to 1 ms), as a busy host delays
// some of them (see vary_with_seed in sim_scenario.cpp).
// 20 Mbit/s, 40 ms RTT, 100 ms buffer, one flow for 60 s, measured over [10 s, 60 s).
Scenario scenario_single(const Subject& s, uint64_t seed);
// The same with 1% random loss on the data path.
Scenario scenario_random_loss(const Subject& s, uint64_t seed);
// Four flows starting 10 s apart (0, 10, 20, 30 s), 70 s, measured over the last 30 s.
Scenario scenario_staggered(const Subject& s, uint64_t seed);
// One flow of the subject against one CUBIC flow, both from 0 s, 60 s, measured over
// [20 s, 60 s).
Scenario scenario_vs_cubic(const Subject& s, uint64_t seed);
// 100 Mbit/s, 100 ms RTT, 100 ms buffer, 20 s: how soon utilisation reaches 90 %.
Scenario scenario_fast_start(const Subject& s, uint64_t seed);
// Loopback-like: 4 Gbit/s, 100 us RTT, 4 ms (2 MB) buffer, endpoints that wake only on a 1 ms
// timer grid (libuv) or on packet arrival; 1 s. Shows whether pacing credit lets a
// millisecond timer reach hundreds of MB/s.
Scenario scenario_loopback(const Subject& s, uint64_t seed);
// `bytes` across 100 Mbit/s, 20 ms RTT with 10% loss both ways, 5% reordering by 5 ms and
// 2% duplication; ends when the transfer has finished (at most 300 s).
Scenario scenario_lossy_transfer(const Subject& s, uint64_t seed, uint64_t bytes, bool fail_at_end);

// --- The netlab testbed's scenarios (tests/netlab/scenario.sh, docs/NETLAB.md), with the
// same flows, start and stop times and measurement windows, so that sim_report --netlab
// and the netlab report can be compared (docs/SIMULATOR.md). ---
struct NetlabSpec {
  // alone | cubic | two | bg_cubic | bg_two | w2_cubic | switch (scenario.sh's kinds).
  std::string kind = "alone";
  double rate_mbit = 20;
  int64_t rtt_ms = 40;
  int64_t buffer_ms = 100;
  double loss = 0;
  int64_t duration_s = 30;  // scenario.sh's --duration
  HostNoise host;
};
// The scenario, with measure_from/measure_to set to analyze.py's window for the kind.
// Fails on an unknown kind or a path out of range.
Result<Scenario> scenario_netlab(const NetlabSpec& spec, uint64_t seed);
// Parses "KIND:RATE:RTT:BUFFER[:LOSS]" (Mbit/s, ms, ms, fraction), as netlab ids read.
Result<NetlabSpec> parse_netlab_spec(std::string_view text);
// analyze.py's CurveCP goodput ceiling: the link rate x 1024/1212, bytes per second.
double netlab_curvecp_ceiling_bytes_per_s(double rate_bits_per_s);

// --- Priority classes (docs/PRIORITY.md), 20 Mbit/s, 40 ms RTT, 100 ms buffer. ---
Subject background_subject();
Subject weighted_subject(double weight);
// One background flow alone for 60 s, measured over [10 s, 60 s).
Scenario scenario_background_alone(uint64_t seed);
// A background flow from 0 s; `other` from 5 s until it stops at 35 s; 50 s, measured over
// [15 s, 35 s) (while both run). After 35 s the background flow has the link to itself.
Scenario scenario_background_vs(const Subject& other, uint64_t seed);
// Two background flows started 10 s apart, 50 s, measured over [30 s, 50 s).
Scenario scenario_background_staggered(uint64_t seed);
// A weighted flow (`weight`) against `other`, both from 0 s, 60 s, measured over [20 s, 60 s).
Scenario scenario_weighted_vs(double weight, const Subject& other, uint64_t seed);
// A 60 MB transfer against one chicago flow, switched background -> normal -> 2 at
// kSwitchToNormal and kSwitchToWeighted; 90 s (the transfer ends at about 70 s).
inline constexpr Duration kSwitchToNormal = Duration::seconds(20);
inline constexpr Duration kSwitchToWeighted = Duration::seconds(40);
inline constexpr uint64_t kSwitchTransferBytes = 60'000'000;
Scenario scenario_priority_switch(uint64_t seed);

// Figures over whole seconds [from_s, to_s) of a result's 1 s series.
// Flow i's goodput as a fraction of the link rate.
double link_fraction(const ScenarioResult& r, size_t i, int from_s, int to_s);
// Flow i's share of the summed goodput.
double share_of(const ScenarioResult& r, size_t i, int from_s, int to_s);
// Mean link utilisation.
double mean_utilisation(const ScenarioResult& r, int from_s, int to_s);
// Seconds from `from_s` until the first 2 s window [t, t + 2) in which `ok(t)` holds
// (-1 if none before to_s).
int seconds_until(int from_s, int to_s, const std::function<bool(int)>& ok);

}  // namespace curvecp::sim
