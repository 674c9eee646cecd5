// sim_report: runs the standard simulator scenarios (tests/sim/sim_scenario.h) for
// chicago, reference-chicago and the NewReno and CUBIC models, and prints one table row
// per (scenario, algorithm) plus a goodput-over-time sparkline per flow.
//
//   sim_report [--seed N] [--only SCENARIO] [--no-plot]
//
// Goodput is application bytes delivered; utilisation is the bottleneck's busy fraction
// (wire bytes, all flows, retransmissions included). Queue delays are per packet at the
// bottleneck. "share" is the first flow's share of the summed goodput (the algorithm
// under test in the CUBIC scenario).
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "tests/sim/sim_scenario.h"

using namespace curvecp;
using namespace curvecp::sim;

namespace {

struct Row {
  std::string scenario;
  std::function<Scenario(const Subject&, uint64_t)> make;
  bool streams_only = false;
  bool finite = false;  // a transfer of fixed size: report when it finished
};

std::string sparkline(const std::vector<double>& values, double full_scale) {
  static const char* const kLevels[] = {" ", "▁", "▂", "▃", "▄", "▅", "▆", "▇", "█"};
  std::string out;
  for (double v : values) {
    const double f = full_scale > 0 ? std::clamp(v / full_scale, 0.0, 1.0) : 0;
    out += kLevels[static_cast<int>(f * 8 + 0.5)];
  }
  return out;
}

std::string ms(Duration d) {
  char b[32];
  std::snprintf(b, sizeof b, "%.1f", d.seconds_f() * 1e3);
  return b;
}

}  // namespace

int main(int argc, char** argv) {
  uint64_t seed = 1;
  std::string only;
  bool plot = true;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--seed") == 0 && i + 1 < argc) {
      seed = std::strtoull(argv[++i], nullptr, 10);
    } else if (std::strcmp(argv[i], "--only") == 0 && i + 1 < argc) {
      only = argv[++i];
    } else if (std::strcmp(argv[i], "--no-plot") == 0) {
      plot = false;
    } else {
      std::fprintf(stderr, "usage: sim_report [--seed N] [--only SCENARIO] [--no-plot]\n");
      return 100;
    }
  }

  const std::vector<Subject> subjects = {
      {FlowKind::stream, "chicago"},
      {FlowKind::stream, "reference-chicago"},
      {FlowKind::newreno, ""},
      {FlowKind::cubic, ""},
  };
  const std::vector<Row> rows = {
      {"single", scenario_single},
      {"loss1", scenario_random_loss},
      {"staggered4", scenario_staggered},
      {"vs-cubic", scenario_vs_cubic},
      {"fast-start", scenario_fast_start},
      {"loopback", scenario_loopback, true, false},
      {"lossy-50MB", [](const Subject& s, uint64_t sd) { return scenario_lossy_transfer(s, sd, 50'000'000, false); }, true, true},
  };

  std::printf("seed %llu. single/loss1/staggered4/vs-cubic: 20 Mbit/s, 40 ms RTT, 100 ms buffer;\n",
              static_cast<unsigned long long>(seed));
  std::printf("fast-start: 100 Mbit/s, 100 ms RTT (t90 = start of the first 1 s window at >= 90%%);\n");
  std::printf("loopback: 4 Gbit/s, 100 us RTT, 4 ms buffer, endpoints woken on a 1 ms timer grid, 1 s;\n");
  std::printf("lossy-50MB: 100 Mbit/s, 20 ms RTT, 10%% loss both ways, 5%% reordering, 2%% duplication.\n\n");
  std::printf("| scenario   | algorithm         | goodput Mbit/s | util  | q50 ms | q95 ms | loss   | Jain  | share | t90 s | done s |\n");
  std::printf("|------------|-------------------|----------------|-------|--------|--------|--------|-------|-------|-------|--------|\n");
  std::vector<std::string> plots;
  for (const Row& row : rows) {
    if (!only.empty() && only != row.scenario) continue;
    for (const Subject& subject : subjects) {
      if (row.streams_only && subject.kind != FlowKind::stream) continue;
      auto result = run_scenario(row.make(subject, seed));
      if (!result) {
        std::fprintf(stderr, "sim_report: %s/%s: %s\n", row.scenario.c_str(), subject.label().c_str(),
                     result.error().message.c_str());
        return 111;
      }
      const ScenarioResult& r = result.value();
      char t90[16] = "-";
      if (r.time_to_90_percent != Timestamp::never()) {
        std::snprintf(t90, sizeof t90, "%.1f", static_cast<double>(r.time_to_90_percent.ns) / 1e9);
      }
      char done[16] = "-";
      if (!r.flows.empty() && r.flows[0].finished) {
        std::snprintf(done, sizeof done, "%.1f", static_cast<double>(r.flows[0].finish_time.ns) / 1e9);
      } else if (row.finite) {
        std::snprintf(done, sizeof done, ">%.0f", static_cast<double>(r.end.ns) / 1e9);
      }
      std::printf("| %-10s | %-17s | %14.2f | %5.3f | %6s | %6s | %6.4f | %5.3f | %5.2f | %5s | %6s |\n",
                  row.scenario.c_str(), subject.label().c_str(), r.goodput_bytes_per_s * 8 / 1e6, r.utilisation,
                  ms(r.queue_p50).c_str(), ms(r.queue_p95).c_str(), r.loss, r.jain,
                  r.flows.empty() ? 0.0 : r.flows[0].share, t90, done);
      std::fflush(stdout);
      if (plot) {
        double full_scale = 0;
        for (const FlowSummary& f : r.flows) {
          for (double v : f.series_bytes_per_s) full_scale = std::max(full_scale, v);
        }
        std::string p = row.scenario + " / " + subject.label() + " (goodput per second, full scale " +
                        std::to_string(static_cast<int>(full_scale * 8 / 1e6)) + " Mbit/s)\n";
        for (const FlowSummary& f : r.flows) {
          char label[32];
          std::snprintf(label, sizeof label, "  %-17s ", f.label.c_str());
          p += label + sparkline(f.series_bytes_per_s, full_scale) + "\n";
        }
        plots.push_back(p);
      }
    }
  }
  if (plot) {
    std::printf("\n");
    for (const std::string& p : plots) std::printf("%s", p.c_str());
  }
  return 0;
}
