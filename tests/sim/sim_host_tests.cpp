// Host noise in the simulator (sim_host.h): the stall model itself, and chicago on the
// netlab testbed's scenarios with a busy host's stalls, where the simulator used to
// predict a full link while the testbed showed half of one (docs/SIMULATOR.md).
#include <doctest/doctest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "tests/sim/sim_host.h"
#include "tests/sim/sim_scenario.h"

using namespace curvecp;
using namespace curvecp::sim;

namespace {

// The stalls a schedule yields over [0, span): (start, length) from probing running_at.
std::vector<std::pair<Timestamp, Duration>> stalls_of(HostSchedule& h, Duration span) {
  std::vector<std::pair<Timestamp, Duration>> out;
  const Duration step = Duration::microseconds(100);
  for (Timestamp t{0}; t < Timestamp{0} + span; t += step) {
    const Timestamp runs = h.running_at(t);
    if (runs > t) {
      out.emplace_back(t, runs - t);
      t = runs;
    }
  }
  return out;
}

double ms(Duration d) { return d.seconds_f() * 1e3; }

}  // namespace

TEST_CASE("host noise: profiles and curvecp_host_stalls' output parse, nonsense does not") {
  auto quiet = parse_host_noise("quiet");
  REQUIRE(quiet.ok());
  CHECK_FALSE(quiet->enabled());
  auto busy = parse_host_noise("busy");
  REQUIRE(busy.ok());
  CHECK(busy->enabled());
  auto line = parse_host_noise(
      "wakeups=4206 stalls_per_s=19.40 stalls_5ms_per_s=5.20 stalls_10ms_per_s=0.20 stall_p50_ms=3.34 "
      "stall_p90_ms=6.65 stall_p99_ms=14.17 stall_max_ms=14.17 lost_fraction=0.0750");
  REQUIRE(line.ok());
  CHECK(line->stalls_per_s == doctest::Approx(19.4));
  CHECK(ms(line->p50) == doctest::Approx(3.34));
  CHECK(ms(line->p99) == doctest::Approx(14.17));
  CHECK(parse_host_noise("stalls_per_s=3,stall_p50_ms=2,stall_p90_ms=4,stall_p99_ms=8").ok());
  CHECK_FALSE(parse_host_noise("stalls_per_s=3").ok());
  CHECK_FALSE(parse_host_noise("stalls_per_s=3,stall_p50_ms=5,stall_p90_ms=4,stall_p99_ms=8").ok());
  CHECK_FALSE(parse_host_noise("stalls_per_s=-1,stall_p50_ms=2,stall_p90_ms=4,stall_p99_ms=8").ok());
  CHECK_FALSE(parse_host_noise("stalls_per_s=x,stall_p50_ms=2,stall_p90_ms=4,stall_p99_ms=8").ok());
  CHECK_FALSE(parse_host_noise("loud").ok());
}

TEST_CASE("host schedule: stalls at the measured rate and lengths, the same for the same seed") {
  const HostNoise noise{20, Duration::milliseconds(3), Duration::milliseconds(7), Duration::milliseconds(14)};
  HostSchedule a(noise, 7);
  const auto stalls = stalls_of(a, Duration::seconds(200));
  // 20 per second over 200 s: 4000 expected, a Poisson count within 5%.
  CHECK(stalls.size() > 3800);
  CHECK(stalls.size() < 4200);
  std::vector<double> lengths;
  for (const auto& s : stalls) lengths.push_back(ms(s.second));
  std::sort(lengths.begin(), lengths.end());
  const auto q = [&](double p) { return lengths[static_cast<size_t>(p * static_cast<double>(lengths.size()))]; };
  CHECK(q(0.5) == doctest::Approx(3).epsilon(0.1));
  CHECK(q(0.9) == doctest::Approx(7).epsilon(0.1));
  CHECK(q(0.0) >= 0.9);  // every stall is longer than the probe's 1 ms threshold
  // Deterministic whatever was asked before; a different seed is a different host.
  HostSchedule b(noise, 7);
  HostSchedule c(noise, 8);
  const Timestamp probe = stalls[100].first + Duration::microseconds(50);
  CHECK(b.running_at(probe) == a.running_at(probe));
  CHECK(b.running_at(probe) > probe);
  int same = 0;
  for (const auto& s : stalls_of(c, Duration::seconds(10))) same += b.running_at(s.first) > s.first;
  CHECK(same < 50);
  // Quiet: never stalls.
  HostSchedule quiet(HostNoise{}, 1);
  CHECK(quiet.running_at(Timestamp{0} + Duration::seconds(3)) == Timestamp{0} + Duration::seconds(3));
}

TEST_CASE("netlab scenarios in the simulator: kinds, windows and bad specifications") {
  auto spec = parse_netlab_spec("two:20:40:100");
  REQUIRE(spec.ok());
  auto sc = scenario_netlab(spec.value(), 1);
  REQUIRE(sc.ok());
  CHECK(sc->flows.size() == 2);
  CHECK(sc->flows[1].start == Duration::seconds(10));
  CHECK(sc->measure_from == Duration::seconds(20));
  CHECK(sc->measure_to == Duration::seconds(40));
  CHECK(parse_netlab_spec("alone:20:40:100:0.01")->loss == doctest::Approx(0.01));
  CHECK_FALSE(parse_netlab_spec("alone:20:40").ok());
  CHECK_FALSE(parse_netlab_spec("alone:fast:40:100").ok());
  NetlabSpec sw;
  sw.kind = "switch";  // scenario.sh: both flows for 3 D, ctl switches at D and 2 D
  auto switched = scenario_netlab(sw, 1);
  REQUIRE(switched.ok());
  CHECK(switched->duration == Duration::seconds(90));
  REQUIRE(switched->flows[0].priority_changes.size() == 2);
  CHECK(switched->flows[0].priority_changes[1].first == Duration::seconds(60));
  NetlabSpec bad;
  bad.kind = "swap";
  CHECK_FALSE(scenario_netlab(bad, 1).ok());
  bad.kind = "alone";
  bad.rate_mbit = 0;
  CHECK_FALSE(scenario_netlab(bad, 1).ok());
}

// The testbed's busy host (tests/netlab, helpers compiling beside it): before chicago's
// RTO allowed for a peer the host leaves unscheduled, these ran at 0.43 (100 Mbit/s) and
// 0.25 (1% loss) of the ceiling on the testbed and 0.51 / 0.82 here; with it 0.93 / 0.94
// on the testbed and 0.91 / 0.94 here (docs/SIMULATOR.md). Floors 0.85, seeds 1-3.
TEST_CASE("busy host: a stalled receiver is not a loss (100 Mbit/s, and 20 Mbit/s with 1% loss)") {
  for (const char* text : {"alone:100:40:100", "alone:20:40:100:0.01"}) {
    for (uint64_t seed = 1; seed <= 3; ++seed) {
      auto spec = parse_netlab_spec(text);
      REQUIRE(spec.ok());
      spec->host = parse_host_noise("busy").value();
      auto sc = scenario_netlab(spec.value(), seed);
      REQUIRE(sc.ok());
      auto r = run_scenario(sc.value());
      REQUIRE(r.ok());
      const double util =
          r->flows[0].goodput_bytes_per_s / netlab_curvecp_ceiling_bytes_per_s(spec->rate_mbit * 1e6);
      MESSAGE(text, " seed ", seed, ": util ", util, "; ", r->describe());
      CHECK_MESSAGE(util >= 0.85, text, " seed ", seed, ": ", r->describe());
      CHECK(r->flows[0].corrupt_bytes == 0);
    }
  }
}
