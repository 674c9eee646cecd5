// The standard scenarios (tests/sim/sim_scenario.h) on real curvecp::Stream endpoints with
// the chicago controller, in the seeded simulator. Every scenario runs over kSeeds, and
// every assertion must hold for each seed: a failure names the failing seeds with all
// their figures (ScenarioResult::describe), so a run can be repeated exactly.
//
// Thresholds sit near the figures documented in docs/CHICAGO.md 3 (and chicago.cpp), with
// the margin stated beside each one; the observed range over the seeds is in the comment
// too. Goodput floors count application bytes delivered, not link utilisation (which
// includes retransmissions and headers): a full 1088-byte message carries 1024 bytes, so
// goodput is at most about 0.87 of the link rate.
#include <doctest/doctest.h>

#include <algorithm>
#include <functional>
#include <string>
#include <vector>

#include "scheduler/stream.h"
#include "tests/sim/sim_scenario.h"

using namespace curvecp;
using namespace curvecp::sim;

namespace {

const Subject kChicago{FlowKind::stream, "chicago"};
// Five seeds keep the whole file at about 30 s in the normal build. Observed ranges in the
// comments below are over seeds 1..12 (the same code, run once with twelve).
constexpr uint64_t kSeeds[] = {1, 2, 3, 4, 5};

// Runs the scenario once per seed and prints every result.
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

// Checks `ok` for every seed; a failure lists each failing seed with its figures.
void check_each(const std::vector<ScenarioResult>& results, const char* what,
                const std::function<bool(const ScenarioResult&)>& ok) {
  std::string failing;
  for (const ScenarioResult& r : results) {
    if (!ok(r)) failing += "\n  seed " + std::to_string(r.seed) + ": " + r.describe();
  }
  CHECK_MESSAGE(failing.empty(), std::string(what), " fails for:", failing);
}

double seconds(Timestamp t) { return static_cast<double>(t.ns) / 1e9; }

}  // namespace

TEST_CASE("one flow, 20 Mbit/s, 40 ms RTT, 100 ms buffer: full link, short queue") {
  const auto rs = run_seeds([](uint64_t seed) { return scenario_single(kChicago, seed); });
  // Documented 0.99 utilisation, p95 queue 8 ms; observed 0.990 and 8.1-8.2 ms.
  // Margins: 0.02 of utilisation (start phase and ack jitter move it by < 0.005), 2 ms of
  // queue (one high-water step, 5 ms, is more than the spread).
  check_each(rs, "utilisation >= 0.97", [](const ScenarioResult& r) { return r.utilisation >= 0.97; });
  check_each(rs, "p95 queue <= 10 ms", [](const ScenarioResult& r) { return r.queue_p95 <= Duration::milliseconds(10); });
  // Goodput: observed 0.836-0.837 of the link (the header ceiling is ~0.845); 0.82 allows
  // the same 2% as utilisation.
  check_each(rs, "goodput >= 0.82 of the link", [](const ScenarioResult& r) { return r.goodput_fraction() >= 0.82; });
}

TEST_CASE("one flow with 1% random loss keeps the link full") {
  const auto rs = run_seeds([](uint64_t seed) { return scenario_random_loss(kChicago, seed); });
  // Documented 0.99 utilisation; observed 0.990, goodput 0.827-0.829 of the link, wire
  // loss 0.97-1.07%. Margins as for the clean path: random loss is not congestion here.
  check_each(rs, "loss > 0.8% (the loss really happened)", [](const ScenarioResult& r) { return r.loss > 0.008; });
  check_each(rs, "utilisation >= 0.97", [](const ScenarioResult& r) { return r.utilisation >= 0.97; });
  check_each(rs, "goodput >= 0.81 of the link", [](const ScenarioResult& r) { return r.goodput_fraction() >= 0.81; });
}

TEST_CASE("four flows starting 10 s apart share the link fairly") {
  const auto rs = run_seeds([](uint64_t seed) { return scenario_staggered(kChicago, seed); });
  // Documented Jain 1.00; observed 0.996-1.000, utilisation 0.984-0.997, goodput
  // 0.832-0.846 of the link, smallest share 0.23. Margins: 0.02 of Jain (0.98 still means
  // shares within about +-15% of each other), 0.02 of utilisation and goodput, shares at
  // least 0.20 (fair: 0.25).
  // Not asserted: the queue. Seeds 3 and 12 of 1..12 end in a standing queue (p95 99 ms,
  // 3% loss) with the same fair shares: the flows mistake each other for a buffer-filling
  // competitor and stay in competitive mode (docs/CHICAGO.md 5).
  check_each(rs, "four flows", [](const ScenarioResult& r) { return r.flows.size() == 4; });
  check_each(rs, "Jain >= 0.98", [](const ScenarioResult& r) { return r.jain >= 0.98; });
  check_each(rs, "utilisation >= 0.96", [](const ScenarioResult& r) { return r.utilisation >= 0.96; });
  check_each(rs, "goodput >= 0.81 of the link", [](const ScenarioResult& r) { return r.goodput_fraction() >= 0.81; });
  check_each(rs, "every share >= 0.20", [](const ScenarioResult& r) {
    return std::all_of(r.flows.begin(), r.flows.end(), [](const FlowSummary& f) { return f.share >= 0.20; });
  });
}

TEST_CASE("against one CUBIC flow chicago holds between 35% and 65%") {
  const auto rs = run_seeds([](uint64_t seed) { return scenario_vs_cubic(kChicago, seed); });
  // Issue 9's goal is a share of 0.3-0.7 on every path; this asserts 0.05 inside it.
  // Observed 0.43-0.50 since competitive mode grows as CUBIC does (0.51-0.60 before, with
  // an additive increase that took 0.84-0.87 on a 10 ms path with a deep buffer: the
  // netlab scenarios in sim_report --netlab cover those paths). Utilisation: observed
  // 0.999-1.000; goodput 0.889-0.900 of the link (CUBIC's larger packets carry less
  // header per byte), floor 0.02 below.
  check_each(rs, "two flows", [](const ScenarioResult& r) { return r.flows.size() == 2; });
  check_each(rs, "chicago share in [0.35, 0.65]",
             [](const ScenarioResult& r) { return r.flows[0].share >= 0.35 && r.flows[0].share <= 0.65; });
  check_each(rs, "utilisation >= 0.98", [](const ScenarioResult& r) { return r.utilisation >= 0.98; });
  check_each(rs, "goodput >= 0.87 of the link", [](const ScenarioResult& r) { return r.goodput_fraction() >= 0.87; });
}

namespace {

// netlab's alone and two scenarios on one path (100 ms buffer, quiet host): alone, the
// queue's p95 within issue 9's 10 ms goal for the RTT increase; two flows 10 s apart fair
// (Jain 0.95, issue 9's goal). The p95 with two flows is not asserted: the goal is for one.
void check_short_queue_and_fair_latecomer(int rate_mbit, int rtt_ms, double min_utilisation_alone) {
  NetlabSpec alone;
  alone.rate_mbit = rate_mbit;
  alone.rtt_ms = rtt_ms;
  const auto one = run_seeds([&](uint64_t seed) { return scenario_netlab(alone, seed).value(); });
  check_each(one, "p95 queue <= 10 ms", [](const ScenarioResult& r) { return r.queue_p95 <= Duration::milliseconds(10); });
  check_each(one, "utilisation alone", [&](const ScenarioResult& r) { return r.utilisation >= min_utilisation_alone; });
  NetlabSpec two = alone;
  two.kind = "two";
  const auto both = run_seeds([&](uint64_t seed) { return scenario_netlab(two, seed).value(); });
  check_each(both, "two flows", [](const ScenarioResult& r) { return r.flows.size() == 2; });
  check_each(both, "Jain >= 0.95", [](const ScenarioResult& r) { return r.jain >= 0.95; });
  check_each(both, "utilisation >= 0.95", [](const ScenarioResult& r) { return r.utilisation >= 0.95; });
}

}  // namespace

TEST_CASE("a short slow path (10 Mbit/s, 10 ms): short queue alone, a fair share for a latecomer") {
  // Before the short-path limit on the increase, the queue's p95 was 16.8 ms alone (a
  // 5 ms mark); before the base delay came from full-size messages, the latecomer took
  // 0.66 (docs/CHICAGO.md 4, "Short paths at low rates"). Observed alone p95 8.6-8.7 ms,
  // utilisation 0.998 over seeds 1..5; two flows Jain 0.981-0.993, utilisation
  // 0.988-0.989, p95 12-12.7 ms.
  check_short_queue_and_fair_latecomer(10, 10, 0.97);
}

TEST_CASE("a long slow path (10 Mbit/s, 100 ms): short queue alone, two flows fair") {
  // With a high-water mark of clamp(base/8, 5 ms, 8 ms), 8 ms here, the queue's p95 was
  // 13.1 ms (netlab: +12.0 ms); the mark is 5 ms on every path now (docs/CHICAGO.md 4).
  // Observed alone p95 9.1 ms, utilisation 0.972 (0.975 with the 8 ms mark); two flows
  // Jain 1.000, utilisation 0.980, p95 10.9 ms.
  check_short_queue_and_fair_latecomer(10, 100, 0.95);
}

TEST_CASE("a long slow path with a deep buffer (10 Mbit/s, 100 ms, 200 ms): a latecomer leaves no standing queue") {
  // With a pacing credit of 2 ms (two packets at this rate) instead of the 10 ms the
  // credit's byte floor gives here, 3 of seeds 1..5 ended with the buffer full (p95
  // 197-198 ms), both flows in competitive mode; netlab agreed (1 of 2 runs, +197 ms).
  // Observed with the floor: p95 11.1-11.9 ms, Jain 0.998-1.000.
  NetlabSpec two;
  two.kind = "two";
  two.rate_mbit = 10;
  two.rtt_ms = 100;
  two.buffer_ms = 200;
  const auto both = run_seeds([&](uint64_t seed) { return scenario_netlab(two, seed).value(); });
  check_each(both, "p95 queue <= 20 ms", [](const ScenarioResult& r) { return r.queue_p95 <= Duration::milliseconds(20); });
  check_each(both, "Jain >= 0.95", [](const ScenarioResult& r) { return r.jain >= 0.95; });
}

TEST_CASE("100 Mbit/s, 100 ms RTT: 90% utilisation within about 1.1 s") {
  const auto rs = run_seeds([](uint64_t seed) { return scenario_fast_start(kChicago, seed); });
  // Documented: 90% within ~1.1 s (t90 = start of the first 1 s window at >= 90%);
  // observed 1.1-1.2 s. Margin 0.4 s: the start jitter (up to 0.1 s), the 0.1 s metrics
  // bin, and two more RTTs. Utilisation over [10 s, 20 s): observed 0.955-0.956 (the
  // cruise queue is kept short, so the link idles now and then); goodput 0.807.
  check_each(rs, "t90 <= 1.5 s", [](const ScenarioResult& r) {
    return r.time_to_90_percent != Timestamp::never() && seconds(r.time_to_90_percent) <= 1.5;
  });
  check_each(rs, "utilisation >= 0.93", [](const ScenarioResult& r) { return r.utilisation >= 0.93; });
  check_each(rs, "goodput >= 0.79 of the link", [](const ScenarioResult& r) { return r.goodput_fraction() >= 0.79; });
}

TEST_CASE("a runtime that wakes on a 1 ms timer still reaches ~415 MB/s on a loopback-like path") {
  const auto rs = run_seeds([](uint64_t seed) {
    Scenario sc = scenario_loopback(kChicago, seed);
    sc.duration = Duration::milliseconds(500);
    sc.measure_from = Duration::milliseconds(250);
    return sc;
  });
  // Documented ~415 MB/s; observed 416-422 MB/s of goodput. Margin 35 MB/s (~8%): the
  // 1 ms timer grid makes the figure step with the start phase.
  check_each(rs, "goodput >= 380 MB/s", [](const ScenarioResult& r) { return r.goodput_bytes_per_s >= 380e6; });
}

TEST_CASE("50 MB across 10% loss, reordering and duplication arrives byte-exact") {
  const auto rs = run_seeds([](uint64_t seed) { return scenario_lossy_transfer(kChicago, seed, 50'000'000, false); });
  check_each(rs, "loss > 8%", [](const ScenarioResult& r) { return r.loss > 0.08; });
  check_each(rs, "finished with SUCC, 50 MB, nothing corrupt", [](const ScenarioResult& r) {
    return r.flows.size() == 1 && r.flows[0].finished && !r.flows[0].end_was_failure &&
           r.flows[0].delivered_bytes == 50'000'000 && r.flows[0].corrupt_bytes == 0;
  });
  // Not in the design notes; observed 0.682-0.692 of the link (about 0.9 of what the
  // headers and 10% loss leave). Floor 0.65: 5% below the observed range.
  check_each(rs, "goodput >= 0.65 of the link", [](const ScenarioResult& r) { return r.goodput_fraction() >= 0.65; });
}

TEST_CASE("FAIL at the end of a stream propagates across a lossy path") {
  const auto rs = run_seeds([](uint64_t seed) { return scenario_lossy_transfer(kChicago, seed + 100, 1'000'000, true); });
  check_each(rs, "finished with FAIL after 1 MB, nothing corrupt", [](const ScenarioResult& r) {
    return r.flows.size() == 1 && r.flows[0].finished && r.flows[0].end_was_failure &&
           r.flows[0].delivered_bytes == 1'000'000 && r.flows[0].corrupt_bytes == 0;
  });
}

TEST_CASE("set_controller switches a live stream between chicago and reference-chicago keeping its RTT history") {
  struct Seen {
    Duration srtt_before{0}, srtt_after{0}, min_rtt_before{0}, min_rtt_later{0};
    std::string name_after_first, name_after_second;
    uint64_t sent_at_first = 0, sent_at_second = 0, sent_at_check = 0;
    bool unknown_rejected = false;
  };
  for (uint64_t seed : kSeeds) {
    CAPTURE(seed);
    Scenario sc = scenario_single(kChicago, seed);
    sc.name = "switch-controller";
    sc.duration = Duration::seconds(30);
    sc.measure_from = Duration::seconds(0);
    sc.flows[0].bytes = 20'000'000;
    sc.stop_when_finished = true;
    auto seen = std::make_shared<Seen>();
    sc.hook_at = Duration::seconds(3);
    sc.hook = [seen](Network& net) {
      auto* flow = dynamic_cast<StreamFlow*>(&net.flow(0));
      REQUIRE(flow != nullptr);
      Stream& client = flow->client();
      seen->srtt_before = client.stats().srtt;
      seen->min_rtt_before = client.stats().min_rtt;
      seen->sent_at_first = client.stats().bytes_sent;
      REQUIRE(client.set_controller("reference-chicago", net.now()).ok());
      seen->name_after_first = std::string(client.controller_name());
      seen->srtt_after = client.stats().srtt;
      seen->unknown_rejected = !client.set_controller("no-such-controller", net.now()).ok();
      flow->poke();
      net.events().after(Duration::seconds(2), [seen, flow, &net] {
        Stream& c = flow->client();
        seen->min_rtt_later = c.stats().min_rtt;
        seen->sent_at_second = c.stats().bytes_sent;
        REQUIRE(c.set_controller("chicago", net.now()).ok());
        seen->name_after_second = std::string(c.controller_name());
        flow->poke();
        net.events().after(Duration::seconds(2),
                           [seen, flow] { seen->sent_at_check = flow->client().stats().bytes_sent; });
      });
    };
    auto result = run_scenario(sc);
    REQUIRE(result.ok());
    const ScenarioResult& r = result.value();
    INFO(r.describe());
    MESSAGE(r.describe());
    CHECK(seen->name_after_first == "reference-chicago");
    CHECK(seen->name_after_second == "chicago");
    CHECK(seen->unknown_rejected);
    // The RTT history is the stream's, not the controller's: unchanged by the switch, and
    // the lifetime minimum is still the one measured before it.
    CHECK(seen->srtt_before > Duration::milliseconds(39));
    CHECK(seen->srtt_after == seen->srtt_before);
    CHECK(seen->min_rtt_later == seen->min_rtt_before);
    // Data kept flowing under each controller, and all of it arrived intact.
    CHECK(seen->sent_at_second > seen->sent_at_first);
    CHECK(seen->sent_at_check > seen->sent_at_second);
    REQUIRE(r.flows.size() == 1);
    CHECK(r.flows[0].finished);
    CHECK(r.flows[0].delivered_bytes == 20'000'000);
    CHECK(r.flows[0].corrupt_bytes == 0);
  }
}
