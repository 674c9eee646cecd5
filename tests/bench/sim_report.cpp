// sim_report: runs the standard simulator scenarios (tests/sim/sim_scenario.h) for
// chicago, reference-chicago and the NewReno and CUBIC models, and prints one table row
// per (scenario, algorithm) plus a goodput-over-time sparkline per flow.
//
//   sim_report [--seed N] [--only SCENARIO] [--no-plot]
//
// Then the priority classes (docs/PRIORITY.md): background alone, against chicago,
// CUBIC and NewReno, two background flows 10 s apart, weighted 2 against chicago and CUBIC,
// and one transfer switched background -> normal -> 2 (`--only priority` runs just these).
//
// `sim_report --netlab KIND:RATE:RTT:BUFFER[:LOSS] [--host quiet|busy|noisy|K=V,...]
// [--seeds N] [--duration S]` runs one of the netlab testbed's scenarios instead, with its
// flows and windows, over N seeds, on a host with the given stalls (tests/sim/sim_host.h;
// K=V is what curvecp_host_stalls prints), and prints the netlab report's figures:
// utilisation of the CurveCP ceiling, shares of the link, Jain's index, queue delay
// (docs/SIMULATOR.md compares the two).
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
#include <optional>
#include <string>
#include <vector>

#include "scheduler/cc_trace.h"
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

std::string print_plot(const ScenarioResult& r, const std::string& title) {
  double full_scale = 0;
  for (const FlowSummary& f : r.flows) {
    for (double v : f.series_bytes_per_s) full_scale = std::max(full_scale, v);
  }
  std::string p = title + " (goodput per second, full scale " + std::to_string(static_cast<int>(full_scale * 8 / 1e6)) +
                  " Mbit/s)\n";
  for (const FlowSummary& f : r.flows) {
    char label[32];
    std::snprintf(label, sizeof label, "  %-17s ", f.label.c_str());
    p += label + sparkline(f.series_bytes_per_s, full_scale) + "\n";
  }
  return p;
}

// The priority scenarios (tests/sim/sim_priority_tests.cpp asserts on the same figures).
int priority_report(uint64_t seed, bool plot) {
  std::printf("\nPriority classes (docs/PRIORITY.md), seed %llu, 20 Mbit/s, 40 ms RTT, 100 ms buffer. \"of link\":\n",
              static_cast<unsigned long long>(seed));
  std::printf("goodput / link rate (at most ~0.87 for CurveCP: headers); util: the link's busy fraction.\n\n");
  std::vector<std::string> plots;
  const auto run = [&](const Scenario& sc) -> std::optional<ScenarioResult> {
    auto r = run_scenario(sc);
    if (!r) {
      std::fprintf(stderr, "sim_report: %s: %s\n", sc.name.c_str(), r.error().message.c_str());
      return std::nullopt;
    }
    if (plot) plots.push_back(print_plot(r.value(), sc.name));
    return r.value();
  };
  {
    auto r = run(scenario_background_alone(seed));
    if (!r) return 111;
    std::printf("%-22s util %.3f over [10 s, 60 s), q95 %s ms, t90 %.1f s\n", r->name.c_str(), r->utilisation,
                ms(r->queue_p95).c_str(),
                r->time_to_90_percent == Timestamp::never() ? -1.0 : static_cast<double>(r->time_to_90_percent.ns) / 1e9);
  }
  for (const Subject& other : {Subject{FlowKind::stream, "chicago"}, Subject{FlowKind::cubic, ""}, Subject{FlowKind::newreno, ""}}) {
    auto r = run(scenario_background_vs(other, seed));
    if (!r) return 111;
    const int after = seconds_until(35, 50, [&](int t) { return mean_utilisation(*r, t, t + 2) >= 0.85; });
    std::printf("%-22s background %.3f of link, %s %.3f while both run [15 s, 35 s); util %.3f over [40 s, 50 s) "
                "after %s stops, >= 0.85 within %d s\n",
                r->name.c_str(), link_fraction(*r, 0, 15, 35), other.label().c_str(), link_fraction(*r, 1, 15, 35),
                mean_utilisation(*r, 40, 50), other.label().c_str(), after);
  }
  {
    auto r = run(scenario_background_staggered(seed));
    if (!r) return 111;
    std::printf("%-22s Jain %.3f over [30 s, 50 s), shares %.2f / %.2f, util %.3f\n", r->name.c_str(), r->jain,
                r->flows[0].share, r->flows[1].share, r->utilisation);
  }
  for (const Subject& other : {Subject{FlowKind::stream, "chicago"}, Subject{FlowKind::cubic, ""}}) {
    auto r = run(scenario_weighted_vs(2.0, other, seed));
    if (!r) return 111;
    const double ratio = r->flows[1].goodput_bytes_per_s > 0 ? r->flows[0].goodput_bytes_per_s / r->flows[1].goodput_bytes_per_s : 0;
    std::printf("%-22s weighted 2 : %s = %.2f (share %.2f) over [20 s, 60 s), util %.3f\n", r->name.c_str(),
                other.label().c_str(), ratio, r->flows[0].share, r->utilisation);
  }
  {
    auto r = run(scenario_priority_switch(seed));
    if (!r) return 111;
    const int n = static_cast<int>(kSwitchToNormal.seconds_f());
    const int w = static_cast<int>(kSwitchToWeighted.seconds_f());
    const int to_normal = seconds_until(n, w, [&](int t) { return share_of(*r, 0, t, t + 2) >= 0.4; });
    const int to_weighted = seconds_until(w, w + 20, [&](int t) { return share_of(*r, 0, t, t + 2) >= 0.6; });
    std::printf("%-22s background %.3f of link [5 s, %d s); normal share %.2f [%d s, %d s), reached 0.4 in %d s; "
                "weight 2 share %.2f [%d s, %d s), reached 0.6 in %d s; %s, %llu bytes, %llu corrupt\n",
                r->name.c_str(), link_fraction(*r, 0, 5, n), n, share_of(*r, 0, n + 5, w), n + 5, w, to_normal,
                share_of(*r, 0, w + 5, w + 20), w + 5, w + 20, to_weighted, r->flows[0].finished ? "finished" : "NOT finished",
                static_cast<unsigned long long>(r->flows[0].delivered_bytes),
                static_cast<unsigned long long>(r->flows[0].corrupt_bytes));
  }
  if (plot) {
    std::printf("\n");
    for (const std::string& p : plots) std::printf("%s", p.c_str());
  }
  return 0;
}

std::string format_fixed(double v, int decimals) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}

double median_of(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
}

// The netlab-shaped scenario over `seeds` seeds: one line per seed, then medians.
int netlab_report(const NetlabSpec& spec, uint64_t first_seed, int seeds) {
  std::printf("netlab scenario %s:%g:%lld:%lld:%g, %lld s flows, host %s, %d seeds from %llu\n", spec.kind.c_str(),
              spec.rate_mbit, static_cast<long long>(spec.rtt_ms), static_cast<long long>(spec.buffer_ms), spec.loss,
              static_cast<long long>(spec.duration_s), spec.host.describe().c_str(), seeds,
              static_cast<unsigned long long>(first_seed));
  std::vector<double> utils, shares0, shares1, jains, q50s, q95s;
  std::vector<double> switch_reach_s[2];  // switch: seconds to each new share, where reached
  for (int i = 0; i < seeds; ++i) {
    auto sc = scenario_netlab(spec, first_seed + static_cast<uint64_t>(i));
    if (!sc) {
      std::fprintf(stderr, "sim_report: %s\n", sc.error().message.c_str());
      return 100;
    }
    auto r = run_scenario(sc.value());
    if (!r) {
      std::fprintf(stderr, "sim_report: %s\n", r.error().message.c_str());
      return 111;
    }
    const ScenarioResult& res = r.value();
    const double ceiling = netlab_curvecp_ceiling_bytes_per_s(spec.rate_mbit * 1e6);
    const double link = spec.rate_mbit * 1e6 / 8;
    // analyze.py: alone, the first flow's goodput over its ceiling; two, both flows'.
    double util = res.flows[0].goodput_bytes_per_s / ceiling;
    if (spec.kind == "two" || spec.kind == "bg_two") util = res.goodput_bytes_per_s / ceiling;
    // bg_cubic (analyze.py): the background flow's utilisation over [D + 5, D + 15) after
    // cubic stopped at D, and the seconds from D to its first 1-s window at 0.85.
    std::string recovery;
    if (spec.kind == "bg_cubic") {
      const std::vector<double>& series = res.flows[0].series_bytes_per_s;
      const auto d = static_cast<size_t>(spec.duration_s);
      double sum = 0;
      for (size_t t = d + 5; t < d + 15 && t < series.size(); ++t) sum += series[t];
      util = sum / 10 / ceiling;
      recovery = ", to 0.85 after cubic: never";
      for (size_t t = d; t < series.size(); ++t) {
        if (series[t] >= 0.85 * ceiling) {
          recovery = ", to 0.85 after cubic: " + std::to_string(t - d) + " s";
          break;
        }
      }
    }
    // A share is the flow's wire rate over the link: goodput / its framing efficiency
    // (CurveCP 1024/1212, TCP 1448/1500, analyze.py).
    const auto efficiency = [](const FlowSummary& f) {
      return f.label == "cubic" || f.label == "newreno" ? 1448.0 / 1500 : 1024.0 / 1212;
    };
    const auto share = [&](const FlowSummary& f) { return f.goodput_bytes_per_s / efficiency(f) / link; };
    // switch (analyze.py): the switched flow's share in each phase, [5, D), [D + 5, 2 D),
    // [2 D + 5, 3 D), and the seconds from each switch to the first 1-s share at 0.9 of
    // the new phase's.
    if (spec.kind == "switch") {
      const std::vector<double>& series = res.flows[0].series_bytes_per_s;
      const auto d = static_cast<size_t>(spec.duration_s);
      const auto second_share = [&](size_t t) {
        return t < series.size() ? series[t] / efficiency(res.flows[0]) / link : 0.0;
      };
      const auto phase_share = [&](size_t from, size_t to) {
        double sum = 0;
        for (size_t t = from; t < to; ++t) sum += second_share(t);
        return sum / static_cast<double>(to - from);
      };
      const double phases[3] = {phase_share(5, d), phase_share(d + 5, 2 * d), phase_share(2 * d + 5, 3 * d)};
      recovery = ", shares bg/normal/2 " + format_fixed(phases[0], 2) + "/" + format_fixed(phases[1], 2) + "/" +
                 format_fixed(phases[2], 2) + ", new share reached";
      for (size_t k = 0; k < 2; ++k) {
        const size_t at = (k + 1) * d;
        std::string reached = "never";
        for (size_t t = at; t < at + 15; ++t) {
          if (second_share(t) >= 0.9 * phases[k + 1]) {
            reached = std::to_string(t - at) + " s";
            switch_reach_s[k].push_back(static_cast<double>(t - at));
            break;
          }
        }
        recovery += (k == 0 ? " " : " / ") + reached;
      }
    }
    utils.push_back(util);
    q50s.push_back(res.queue_p50.seconds_f() * 1e3);
    q95s.push_back(res.queue_p95.seconds_f() * 1e3);
    std::printf("  seed %llu: util %.3f, queue p50 %.1f ms p95 %.1f ms", static_cast<unsigned long long>(res.seed), util,
                q50s.back(), q95s.back());
    if (res.flows.size() >= 2) {
      shares0.push_back(share(res.flows[0]));
      shares1.push_back(share(res.flows[1]));
      jains.push_back(res.jain);
      std::printf(", shares %.2f/%.2f, Jain %.3f", shares0.back(), shares1.back(), res.jain);
    }
    std::printf(", loss %.4f%s\n", res.loss, recovery.c_str());
  }
  std::printf("median: util %.3f (worst %.3f), queue p50 %.1f ms p95 %.1f ms", median_of(utils),
              *std::min_element(utils.begin(), utils.end()), median_of(q50s), median_of(q95s));
  if (!shares0.empty()) {
    std::printf(", shares %.2f/%.2f, Jain %.3f (worst %.3f)", median_of(shares0), median_of(shares1), median_of(jains),
                *std::min_element(jains.begin(), jains.end()));
  }
  if (spec.kind == "switch") {
    for (int k = 0; k < 2; ++k) {
      std::printf("%s new share reached after %s s (%zu of %d seeds reached it)", k == 0 ? "; normal:" : ", 2:",
                  switch_reach_s[k].empty() ? "-" : format_fixed(median_of(switch_reach_s[k]), 1).c_str(),
                  switch_reach_s[k].size(), seeds);
    }
  }
  std::printf("\n");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  // CURVECP_CC_TRACE=-: the controllers' decisions on stderr, as the curvecp binary
  // writes them to a file (scheduler/cc_trace.h); times are simulated seconds.
  if (const char* trace = std::getenv("CURVECP_CC_TRACE"); trace != nullptr && std::strcmp(trace, "-") == 0) {
    set_cc_trace_sink([](const char* line) { std::fprintf(stderr, "%s\n", line); });
  }
  uint64_t seed = 1;
  std::string only;
  bool plot = true;
  std::optional<NetlabSpec> netlab;
  HostNoise host;
  int seeds = 5;
  int64_t duration_s = 30;
  const auto usage = [] {
    std::fprintf(stderr,
                 "usage: sim_report [--seed N] [--only SCENARIO] [--no-plot]\n"
                 "       sim_report --netlab KIND:RATE:RTT:BUFFER[:LOSS] [--host quiet|busy|noisy|K=V,...] "
                 "[--seeds N] [--duration S] [--seed N]\n");
    return 100;
  };
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--netlab") == 0 && i + 1 < argc) {
      auto spec = parse_netlab_spec(argv[++i]);
      if (!spec) {
        std::fprintf(stderr, "sim_report: %s\n", spec.error().message.c_str());
        return 100;
      }
      netlab = spec.value();
      continue;
    }
    if (std::strcmp(argv[i], "--host") == 0 && i + 1 < argc) {
      auto h = parse_host_noise(argv[++i]);
      if (!h) {
        std::fprintf(stderr, "sim_report: %s\n", h.error().message.c_str());
        return 100;
      }
      host = h.value();
      continue;
    }
    if ((std::strcmp(argv[i], "--seeds") == 0 || std::strcmp(argv[i], "--duration") == 0) && i + 1 < argc) {
      const bool is_seeds = argv[i][2] == 's';
      char* end = nullptr;
      const long v = std::strtol(argv[++i], &end, 10);
      if (*end != '\0' || v < 1 || v > (is_seeds ? 1000 : 3600)) return usage();
      if (is_seeds) {
        seeds = static_cast<int>(v);
      } else {
        duration_s = v;
      }
      continue;
    }
    if (std::strcmp(argv[i], "--seed") == 0 && i + 1 < argc) {
      seed = std::strtoull(argv[++i], nullptr, 10);
    } else if (std::strcmp(argv[i], "--only") == 0 && i + 1 < argc) {
      only = argv[++i];
    } else if (std::strcmp(argv[i], "--no-plot") == 0) {
      plot = false;
    } else {
      return usage();
    }
  }
  if (netlab) {
    netlab->host = host;
    netlab->duration_s = duration_s;
    return netlab_report(*netlab, seed, seeds);
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

  if (only == "priority") return priority_report(seed, plot);
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
  if (!only.empty()) return 0;
  return priority_report(seed, plot);
}
