// The issue-3 scenarios on real curvecp::Stream endpoints with the chicago controller,
// in the seeded simulator. Every assertion is on simulated outcomes; a failure prints the
// scenario with its seed (ScenarioResult::describe) so the run can be repeated exactly.
#include <doctest/doctest.h>

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

TEST_CASE("50 MB across 10% loss, reordering and duplication arrives byte-exact") {
  const ScenarioResult r = run(scenario_lossy_transfer(kChicago, kSeed, 50'000'000, false));
  INFO(r.describe());
  REQUIRE(r.flows.size() == 1);
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
