// The standard congestion-control scenarios (tests/sim/sim_scenario.h) on real
// curvecp::Stream endpoints with the chicago controller, in the seeded simulator. Every
// assertion is on simulated outcomes; each scenario prints its figures with its seed
// (ScenarioResult::describe), so a failing run can be repeated exactly with the same seed.
#include <doctest/doctest.h>

#include "scheduler/stream.h"
#include "tests/sim/sim_scenario.h"

using namespace curvecp;
using namespace curvecp::sim;

namespace {

const Subject kChicago{FlowKind::stream, "chicago"};
constexpr uint64_t kSeed = 1;

ScenarioResult run(const Scenario& sc) {
  auto r = run_scenario(sc);
  REQUIRE_MESSAGE(r.ok(), sc.name);
  MESSAGE(r->describe());
  return r.value();
}

}  // namespace

TEST_CASE("one flow, 20 Mbit/s, 40 ms RTT, 100 ms buffer: full link, short queue") {
  const ScenarioResult r = run(scenario_single(kChicago, kSeed));
  INFO(r.describe());
  CHECK(r.utilisation >= 0.90);
  CHECK(r.queue_p95 <= Duration::milliseconds(10));
}

TEST_CASE("one flow with 1% random loss keeps the link full") {
  const ScenarioResult r = run(scenario_random_loss(kChicago, kSeed));
  INFO(r.describe());
  CHECK(r.loss > 0.008);  // the loss really happened
  CHECK(r.utilisation >= 0.85);
}

TEST_CASE("four flows starting 10 s apart share the link fairly") {
  const ScenarioResult r = run(scenario_staggered(kChicago, kSeed));
  INFO(r.describe());
  REQUIRE(r.flows.size() == 4);
  CHECK(r.jain >= 0.95);
  CHECK(r.utilisation >= 0.90);
  for (const FlowSummary& f : r.flows) CHECK(f.share > 0.15);
}

TEST_CASE("against one CUBIC flow chicago holds between 30% and 70%") {
  const ScenarioResult r = run(scenario_vs_cubic(kChicago, kSeed));
  INFO(r.describe());
  REQUIRE(r.flows.size() == 2);
  CHECK(r.flows[0].share >= 0.3);
  CHECK(r.flows[0].share <= 0.7);
  CHECK(r.utilisation >= 0.90);
}

TEST_CASE("100 Mbit/s, 100 ms RTT: 90% utilisation within 10 s") {
  const ScenarioResult r = run(scenario_fast_start(kChicago, kSeed));
  INFO(r.describe());
  // The first 1 s window at >= 90% must end by 10 s, and the link must stay full.
  REQUIRE(r.time_to_90_percent != Timestamp::never());
  CHECK(r.time_to_90_percent + Duration::seconds(1) <= Timestamp{0} + Duration::seconds(10));
  CHECK(r.utilisation >= 0.90);  // over [10 s, 20 s)
}

TEST_CASE("a runtime that wakes on a 1 ms timer still reaches 300 MB/s on a loopback-like path") {
  Scenario sc = scenario_loopback(kChicago, kSeed);
  sc.duration = Duration::milliseconds(500);
  sc.measure_from = Duration::milliseconds(250);
  const ScenarioResult r = run(sc);
  INFO(r.describe());
  CHECK(r.goodput_bytes_per_s >= 300e6);
}

TEST_CASE("50 MB across 10% loss, reordering and duplication arrives byte-exact") {
  const ScenarioResult r = run(scenario_lossy_transfer(kChicago, kSeed, 50'000'000, false));
  INFO(r.describe());
  REQUIRE(r.flows.size() == 1);
  CHECK(r.loss > 0.08);
  CHECK(r.flows[0].finished);
  CHECK_FALSE(r.flows[0].end_was_failure);
  CHECK(r.flows[0].delivered_bytes == 50'000'000);
  CHECK(r.flows[0].corrupt_bytes == 0);
}

TEST_CASE("FAIL at the end of a stream propagates across a lossy path") {
  const ScenarioResult r = run(scenario_lossy_transfer(kChicago, kSeed + 1, 1'000'000, true));
  INFO(r.describe());
  REQUIRE(r.flows.size() == 1);
  CHECK(r.flows[0].finished);
  CHECK(r.flows[0].end_was_failure);
  CHECK(r.flows[0].delivered_bytes == 1'000'000);
  CHECK(r.flows[0].corrupt_bytes == 0);
}

TEST_CASE("set_controller switches a live stream between chicago and reference-chicago keeping its RTT history") {
  Scenario sc = scenario_single(kChicago, kSeed);
  sc.name = "switch-controller";
  sc.duration = Duration::seconds(30);
  sc.measure_from = Duration::seconds(0);
  sc.flows[0].bytes = 20'000'000;
  sc.stop_when_finished = true;

  struct Seen {
    Duration srtt_before{0}, srtt_after{0}, min_rtt_before{0}, min_rtt_later{0};
    std::string name_after_first, name_after_second;
    uint64_t sent_at_first = 0, sent_at_second = 0, sent_at_check = 0;
    bool unknown_rejected = false;
  };
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
      net.events().after(Duration::seconds(2), [seen, flow] { seen->sent_at_check = flow->client().stats().bytes_sent; });
    });
  };
  const ScenarioResult r = run(sc);
  INFO(r.describe());
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
