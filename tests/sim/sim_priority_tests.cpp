// The priority classes (scheduler/priority.h, docs/PRIORITY.md) in the seeded simulator:
// background yields to chicago and to TCP and fills the path alone, two background flows
// share fairly, weighted 2 takes twice a competitor's share, and a live transfer switched
// background -> normal -> 2 reaches each share, byte-exact, keeping its RTT history.
// The scenarios are defined once in sim_scenario.cpp (sim_report prints the same ones).
//
// Every assertion holds for each of kSeeds unless it says "median". Observed figures
// (seeds 1-8) are beside each threshold; "of the link" is goodput / link rate.
#include <doctest/doctest.h>

#include <algorithm>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "scheduler/stream.h"
#include "tests/sim/sim_scenario.h"

using namespace curvecp;
using namespace curvecp::sim;

namespace {

constexpr uint64_t kSeeds[] = {1, 2, 3, 4, 5};
const Subject kChicago{FlowKind::stream, "chicago"};
const Subject kCubic{FlowKind::cubic, ""};
const Subject kNewReno{FlowKind::newreno, ""};

std::vector<ScenarioResult> run_seeds(const std::function<Scenario(uint64_t)>& make) {
  std::vector<ScenarioResult> results;
  for (uint64_t seed : kSeeds) {
    const Scenario sc = make(seed);
    auto r = run_scenario(sc);
    REQUIRE_MESSAGE(r.ok(), sc.name, " seed ", seed);
    MESSAGE(r->describe());
    results.push_back(r.value());
  }
  return results;
}

void check_each(const std::vector<ScenarioResult>& results, const char* what,
                const std::function<bool(const ScenarioResult&)>& ok) {
  std::string failing;
  for (const ScenarioResult& r : results) {
    if (!ok(r)) failing += "\n  seed " + std::to_string(r.seed) + ": " + r.describe();
  }
  CHECK_MESSAGE(failing.empty(), std::string(what), " fails for:", failing);
}

double goodput_ratio(const ScenarioResult& r) {
  return r.flows[1].goodput_bytes_per_s > 0 ? r.flows[0].goodput_bytes_per_s / r.flows[1].goodput_bytes_per_s : 0;
}

// Background against `other` (sim_scenario.h: other runs from 5 s to 35 s).
void check_background_yields(const Subject& other) {
  const auto rs = run_seeds([&](uint64_t seed) { return scenario_background_vs(other, seed); });
  // Observed 0.013-0.014 of the link against chicago, 0.004-0.006 against TCP.
  check_each(rs, "background <= 0.10 of the link while the other flow runs",
             [](const ScenarioResult& r) { return link_fraction(r, 0, 15, 35) <= 0.10; });
  // The other flow really ran and took the link (observed 0.82 chicago, 0.96 TCP).
  check_each(rs, "the other flow >= 0.75 of the link",
             [](const ScenarioResult& r) { return link_fraction(r, 1, 15, 35) >= 0.75; });
  // After it stops at 35 s: a 2 s window at >= 0.85 utilisation within 5 s (observed
  // 2-3 s), and 0.85 over [40 s, 50 s) (observed 0.948).
  check_each(rs, "background fills the link within 5 s after the other flow stops", [](const ScenarioResult& r) {
    const int t = seconds_until(35, 50, [&](int s) { return mean_utilisation(r, s, s + 2) >= 0.85; });
    return t >= 0 && t <= 5 && mean_utilisation(r, 40, 50) >= 0.85;
  });
}

}  // namespace

TEST_CASE("background alone fills the path with a short queue") {
  const auto rs = run_seeds(scenario_background_alone);
  // Observed utilisation 0.948-0.949 over [10 s, 60 s) (the periodic slowdowns cost
  // about 1%, the queue kept near the 1.25 ms target the rest), p95 queue 1.8 ms.
  check_each(rs, "utilisation >= 0.85", [](const ScenarioResult& r) { return r.utilisation >= 0.85; });
  check_each(rs, "p95 queue <= 5 ms", [](const ScenarioResult& r) { return r.queue_p95 <= Duration::milliseconds(5); });
}

TEST_CASE("background yields to a chicago flow and takes the link back when it stops") {
  check_background_yields(kChicago);
}

TEST_CASE("background yields to a CUBIC flow and takes the link back when it stops") {
  check_background_yields(kCubic);
}

TEST_CASE("background yields to a NewReno flow") { check_background_yields(kNewReno); }

TEST_CASE("two background flows started 10 s apart share fairly (no latecomer takeover)") {
  const auto rs = run_seeds(scenario_background_staggered);
  // Observed Jain 1.000 over [30 s, 50 s), shares 0.49-0.51, utilisation 0.81-0.97 with
  // the 25 ms queue filter that real paths need (0.935-0.968 with 10 ms, which let two
  // flows on the netlab path take 0.013 of the link; scheduler/background.cpp).
  check_each(rs, "Jain >= 0.9", [](const ScenarioResult& r) { return r.jain >= 0.9; });
  check_each(rs, "utilisation >= 0.80", [](const ScenarioResult& r) { return r.utilisation >= 0.80; });
}

TEST_CASE("weighted 2 takes twice a chicago flow's share") {
  const auto rs = run_seeds([](uint64_t seed) { return scenario_weighted_vs(2.0, kChicago, seed); });
  // Observed 2.14-2.15 (share 0.68); within 25% of 2.
  check_each(rs, "goodput ratio in [1.5, 2.5]", [](const ScenarioResult& r) {
    const double ratio = goodput_ratio(r);
    return ratio >= 1.5 && ratio <= 2.5;
  });
  check_each(rs, "utilisation >= 0.95", [](const ScenarioResult& r) { return r.utilisation >= 0.95; });
}

TEST_CASE("weighted 2 takes about twice a CUBIC flow's share") {
  const auto rs = run_seeds([](uint64_t seed) { return scenario_weighted_vs(2.0, kCubic, seed); });
  // Observed 1.82-2.70 over seeds 1-8, median 2.16: the weighted flow takes twice what
  // chicago takes, and chicago's own ratio to CUBIC varies from seed to seed (share
  // 0.51-0.60, docs/CHICAGO.md). The median over the seeds is within 25% of 2; each seed
  // is at least 1.25 (clearly more than one flow's share) and at most 3.
  std::vector<double> ratios;
  for (const ScenarioResult& r : rs) ratios.push_back(goodput_ratio(r));
  std::sort(ratios.begin(), ratios.end());
  const double median = ratios[ratios.size() / 2];
  CHECK(median >= 1.5);
  CHECK(median <= 2.5);
  check_each(rs, "goodput ratio in [1.25, 3]", [](const ScenarioResult& r) {
    const double ratio = goodput_ratio(r);
    return ratio >= 1.25 && ratio <= 3.0;
  });
}

TEST_CASE("one transfer switched background -> normal -> 2 reaches each share, byte-exact, keeping its RTT history") {
  struct Seen {
    Duration srtt_before[2], srtt_after[2], min_rtt_before[2], min_rtt_after[2];
    double rate_before[2] = {0, 0}, rate_after[2] = {0, 0};
    std::string name_after[2];
  };
  const int n = static_cast<int>(kSwitchToNormal.seconds_f());
  const int w = static_cast<int>(kSwitchToWeighted.seconds_f());
  for (uint64_t seed : kSeeds) {
    CAPTURE(seed);
    Scenario sc = scenario_priority_switch(seed);
    // The same switches as the scenario's, made here to look at the stream around them.
    auto changes = sc.flows[0].priority_changes;
    sc.flows[0].priority_changes.clear();
    REQUIRE(changes.size() == 2);
    auto seen = std::make_shared<Seen>();
    const auto switch_at = [seen](Network& net, int i, const Priority& p) {
      auto* flow = dynamic_cast<StreamFlow*>(&net.flow(0));
      REQUIRE(flow != nullptr);
      Stream& client = flow->client();
      seen->srtt_before[i] = client.stats().srtt;
      seen->min_rtt_before[i] = client.stats().min_rtt;
      seen->rate_before[i] = client.stats().rate_bytes_per_s;
      REQUIRE(client.set_priority(p, net.now()).ok());
      CHECK(client.priority() == p);
      seen->name_after[i] = std::string(client.controller_name());
      seen->srtt_after[i] = client.stats().srtt;
      seen->min_rtt_after[i] = client.stats().min_rtt;
      seen->rate_after[i] = client.stats().rate_bytes_per_s;
      flow->poke();
    };
    sc.hook_at = changes[0].first;
    sc.hook = [seen, switch_at, changes](Network& net) {
      switch_at(net, 0, changes[0].second);
      net.events().after(changes[1].first - changes[0].first,
                         [&net, switch_at, changes] { switch_at(net, 1, changes[1].second); });
    };
    auto result = run_scenario(sc);
    REQUIRE(result.ok());
    const ScenarioResult& r = result.value();
    MESSAGE(r.describe());
    CHECK(seen->name_after[0] == "chicago");
    CHECK(seen->name_after[1] == "weighted");
    for (int i = 0; i < 2; ++i) {
      CAPTURE(i);
      // PathState is the stream's: RTT and base delay are the same across the switch.
      CHECK(seen->srtt_before[i] > Duration::milliseconds(39));
      CHECK(seen->srtt_after[i] == seen->srtt_before[i]);
      CHECK(seen->min_rtt_after[i] == seen->min_rtt_before[i]);
    }
    // No cold start: normal continues from background's rate (or ten packets per RTT,
    // whichever is more); weight 2 continues from normal's rate exactly.
    CHECK(seen->rate_after[0] >= seen->rate_before[0]);
    CHECK(seen->rate_after[1] == doctest::Approx(seen->rate_before[1]));
    // Background: observed 0.014-0.015 of the link over [5 s, 20 s).
    CHECK(link_fraction(r, 0, 5, n) <= 0.10);
    // Normal against one chicago flow: share 0.47-0.51 over [25 s, 40 s); 0.4 (a 2 s
    // window) reached 3-7 s after the switch (seeds 1-8), 0.35 within 5 s: it converges
    // as a chicago flow that joins does (docs/PRIORITY.md).
    const double normal_share = share_of(r, 0, n + 5, w);
    CHECK(normal_share >= 0.4);
    CHECK(normal_share <= 0.6);
    const int to_normal = seconds_until(n, w, [&](int t) { return share_of(r, 0, t, t + 2) >= 0.35; });
    CHECK(to_normal >= 0);
    CHECK(to_normal <= 5);
    // Weight 2: share 0.68 over [45 s, 60 s) (ratio 2.1); 0.6 (ratio 1.5) reached within 1 s.
    const double weighted_share = share_of(r, 0, w + 5, w + 20);
    CHECK(weighted_share >= 0.6);
    CHECK(weighted_share <= 0.715);
    const int to_weighted = seconds_until(w, w + 20, [&](int t) { return share_of(r, 0, t, t + 2) >= 0.6; });
    CHECK(to_weighted >= 0);
    CHECK(to_weighted <= 5);
    // Byte-exact: the whole transfer arrived, in order, with SUCC.
    REQUIRE(r.flows.size() == 2);
    CHECK(r.flows[0].finished);
    CHECK_FALSE(r.flows[0].end_was_failure);
    CHECK(r.flows[0].delivered_bytes == kSwitchTransferBytes);
    CHECK(r.flows[0].corrupt_bytes == 0);
    CHECK(r.flows[1].corrupt_bytes == 0);
  }
}

// netlab's switch scenario (tests/netlab/scenario.sh; sim_report --netlab
// switch:20:40:100): one background flow against one CUBIC flow for 90 s, switched to
// normal at 30 s and to weight 2 at 60 s. Against a buffer-filling flow the switch to
// normal starts up until its own overshoot shows as loss, straight into competitive
// mode, and the switch to 2 stays in competitive mode (scheduler/chicago.cpp
// on_handover); before that, each took 5-10 s to its share (a start-up that the
// competitor's sawtooth ended at a tenth of the share, and a cruise that cut the rate
// for cubic's queue until the detector found it again).
TEST_CASE("switched background -> normal -> 2 against CUBIC: each share reached within seconds") {
  NetlabSpec spec;
  spec.kind = "switch";
  const auto rs = run_seeds([&](uint64_t seed) { return scenario_netlab(spec, seed).value(); });
  for (const ScenarioResult& r : rs) {
    const int to_normal = seconds_until(30, 60, [&](int t) { return share_of(r, 0, t, t + 2) >= 0.4; });
    const int to_weighted = seconds_until(60, 90, [&](int t) { return share_of(r, 0, t, t + 2) >= 0.6; });
    MESSAGE("seed ", r.seed, ": background ", link_fraction(r, 0, 5, 30), " of the link; normal share ",
            share_of(r, 0, 35, 60), ", 0.4 after ", to_normal, " s; weight 2 share ", share_of(r, 0, 65, 90),
            ", 0.6 after ", to_weighted, " s");
  }
  check_each(rs, "background <= 0.10 of the link before the switch",
             [](const ScenarioResult& r) { return link_fraction(r, 0, 5, 30) <= 0.10; });
  check_each(rs, "normal: a share of 0.3-0.7 against cubic", [](const ScenarioResult& r) {
    const double s = share_of(r, 0, 35, 60);
    return s >= 0.3 && s <= 0.7;
  });
  check_each(rs, "normal: a 2-s share of 0.4 within 5 s of the switch", [](const ScenarioResult& r) {
    const int t = seconds_until(30, 60, [&](int u) { return share_of(r, 0, u, u + 2) >= 0.4; });
    return t >= 0 && t <= 5;
  });
  check_each(rs, "weight 2: a 2-s share of 0.6 within 5 s of the switch", [](const ScenarioResult& r) {
    const int t = seconds_until(60, 90, [&](int u) { return share_of(r, 0, u, u + 2) >= 0.6; });
    return t >= 0 && t <= 5;
  });
}
