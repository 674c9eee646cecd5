#include "tests/sim/sim_scenario.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "core/rng.h"
#include "tests/sim/sim_metrics.h"

namespace curvecp::sim {

std::string Subject::label() const {
  switch (kind) {
    case FlowKind::stream:
      return priority.cls == Priority::Class::normal ? controller : "priority-" + format_priority(priority);
    case FlowKind::newreno: return "newreno";
    case FlowKind::cubic: return "cubic";
  }
  return "?";
}

std::string ScenarioResult::describe() const {
  char line[512];
  std::snprintf(line, sizeof line,
                "%s seed=%llu end=%.1fs util=%.3f goodput=%.2fMbit/s (%.3f of the link) q50=%.1fms q95=%.1fms loss=%.4f jain=%.3f t90=%s",
                name.c_str(), static_cast<unsigned long long>(seed), static_cast<double>(end.ns) / 1e9, utilisation,
                goodput_bytes_per_s * 8 / 1e6, goodput_fraction(), queue_p50.seconds_f() * 1e3, queue_p95.seconds_f() * 1e3, loss, jain,
                time_to_90_percent == Timestamp::never()
                    ? "never"
                    : std::to_string(static_cast<double>(time_to_90_percent.ns) / 1e9).c_str());
  std::string out = line;
  for (const FlowSummary& f : flows) {
    std::snprintf(line, sizeof line, " [%s %.2fMbit/s share=%.2f%s%s corrupt=%llu]", f.label.c_str(),
                  f.goodput_bytes_per_s * 8 / 1e6, f.share, f.finished ? " finished" : "",
                  f.end_was_failure ? " FAIL" : "", static_cast<unsigned long long>(f.corrupt_bytes));
    out += line;
  }
  return out;
}

Result<ScenarioResult> run_scenario(const Scenario& scenario) {
  Network net(scenario.seed, scenario.path);
  SeededRng start_rng(scenario.seed * 7 + 5);
  bool any_finite = false;
  for (const FlowSpec& spec : scenario.flows) {
    Timestamp start = Timestamp{0} + spec.start;
    if (scenario.start_jitter.ns > 0) {
      start += Duration::nanoseconds(static_cast<int64_t>(start_rng.uniform(static_cast<uint64_t>(scenario.start_jitter.ns))));
    }
    if (spec.subject.kind == FlowKind::stream) {
      StreamFlowConfig config;
      config.controller = spec.subject.controller;
      config.priority = spec.subject.priority;
      config.bytes = spec.bytes;
      config.fail_at_end = spec.fail_at_end;
      auto added = net.add_stream_flow(config, start);
      if (!added) return added.error();
      for (const auto& [at, priority] : spec.priority_changes) {
        StreamFlow* flow = added.value();
        net.events().at(Timestamp{0} + at, [&net, flow, p = priority] {
          // A valid class on a live stream cannot fail (Stream::set_priority).
          if (flow->client().set_priority(p, net.now()).ok()) flow->poke();
        });
      }
      any_finite = any_finite || spec.bytes > 0;
    } else {
      net.add_tcp_flow(spec.subject.kind == FlowKind::cubic ? TcpAlgorithm::cubic : TcpAlgorithm::newreno, start);
    }
    if (spec.stop < scenario.duration) {
      const size_t index = net.flow_count() - 1;
      net.events().at(Timestamp{0} + spec.stop, [&net, index] { net.flow(index).stop(); });
    }
  }
  const Timestamp end = Timestamp{0} + scenario.duration;
  if (scenario.hook && scenario.hook_at < scenario.duration) {
    net.events().at(Timestamp{0} + scenario.hook_at, [&net, &scenario] { scenario.hook(net); });
  }
  if (scenario.stop_when_finished && any_finite) {
    const auto all_finished = [&net] {
      for (size_t i = 0; i < net.flow_count(); ++i) {
        if (!net.flow(i).metrics().finished) return false;
      }
      return true;
    };
    net.events().run_until(end, all_finished);
  } else {
    net.run_until(end);
  }

  ScenarioResult r;
  r.name = scenario.name;
  r.seed = scenario.seed;
  r.end = net.now();
  r.events = net.events().events_run();
  r.measure_from = Timestamp{0} + scenario.measure_from;
  r.measure_to = scenario.measure_to.ns > 0 ? Timestamp{0} + scenario.measure_to : r.end;
  // A run that stopped early is measured up to its end, rounded up to a whole bin.
  if (r.measure_to > r.end) r.measure_to = r.end + scenario.path.bin;
  r.utilisation = utilisation(net.forward(), r.measure_from, r.measure_to);
  r.capacity_bytes_per_s = scenario.path.rate_bits_per_s / 8;
  r.queue_p50 = queue_delay_percentile(net.forward(), 50, r.measure_from, r.measure_to);
  r.queue_p95 = queue_delay_percentile(net.forward(), 95, r.measure_from, r.measure_to);
  r.loss = loss_fraction(net.forward(), r.measure_from, r.measure_to);
  r.time_to_90_percent = time_to_utilisation(net.forward(), 0.9, Duration::seconds(1), r.end);
  std::vector<double> goodputs;
  for (size_t i = 0; i < net.flow_count(); ++i) {
    const FlowMetrics& m = net.flow(i).metrics();
    FlowSummary f;
    f.label = m.label;
    f.goodput_bytes_per_s = goodput_bytes_per_s(m, r.measure_from, r.measure_to);
    f.delivered_bytes = m.delivered_bytes;
    f.finished = m.finished;
    f.finish_time = m.finish_time;
    f.end_was_failure = m.end_was_failure;
    f.corrupt_bytes = m.corrupt_bytes;
    f.sender_packets = m.sender_packets;
    for (Timestamp t{0}; t < r.end; t += Duration::seconds(1)) {
      f.series_bytes_per_s.push_back(goodput_bytes_per_s(m, t, t + Duration::seconds(1)));
    }
    goodputs.push_back(f.goodput_bytes_per_s);
    r.goodput_bytes_per_s += f.goodput_bytes_per_s;
    r.flows.push_back(std::move(f));
  }
  for (FlowSummary& f : r.flows) {
    f.share = r.goodput_bytes_per_s > 0 ? f.goodput_bytes_per_s / r.goodput_bytes_per_s : 0;
  }
  r.jain = jain_index(goodputs);
  for (Timestamp t{0}; t < r.end; t += Duration::seconds(1)) {
    r.utilisation_series.push_back(utilisation(net.forward(), t, t + Duration::seconds(1)));
  }
  return r;
}

namespace {

PathConfig standard_path() {
  PathConfig p;
  p.rate_bits_per_s = 20e6;
  p.rtt = Duration::milliseconds(40);
  p.buffer = Duration::milliseconds(100);
  return p;
}

// Seed-dependent variation of a path without random impairments, so that seeds are
// different experiments rather than one repeated (documented in sim_scenario.h).
void vary_with_seed(Scenario& sc) {
  sc.start_jitter = std::max(sc.path.rtt, Duration::milliseconds(1));
  sc.path.reverse_reorder = 0.02;
  sc.path.reorder_delay = std::clamp(sc.path.rtt / 40, Duration::microseconds(10), Duration::milliseconds(1));
}

}  // namespace

Result<Scenario> scenario_netlab(const NetlabSpec& spec, uint64_t seed) {
  if (!(spec.rate_mbit > 0 && spec.rate_mbit <= 10000) || spec.rtt_ms < 1 || spec.rtt_ms > 1000 ||
      spec.buffer_ms < 1 || spec.buffer_ms > 2000 || !(spec.loss >= 0 && spec.loss < 1) || spec.duration_s < 11 ||
      spec.duration_s > 3600) {
    return make_error("netlab scenario: rate 0-10000 Mbit/s, RTT 1-1000 ms, buffer 1-2000 ms, loss below 1, "
                      "duration 11-3600 s");
  }
  Scenario sc;
  sc.seed = seed;
  sc.path.rate_bits_per_s = spec.rate_mbit * 1e6;
  sc.path.rtt = Duration::milliseconds(spec.rtt_ms);
  sc.path.buffer = Duration::milliseconds(spec.buffer_ms);
  // The delay box drops in both directions (docs/NETLAB.md).
  sc.path.loss = spec.loss;
  sc.path.reverse_loss = spec.loss;
  sc.path.host = spec.host;
  const Duration d = Duration::seconds(spec.duration_s);
  const Duration ten = Duration::seconds(10);
  const Subject normal{FlowKind::stream, "chicago"};
  const Subject cubic{FlowKind::cubic, ""};
  // FlowSpec with a stop time (scenario.sh's NAME:TYPE:CLASS:START:STOP).
  const auto flow = [](const Subject& s, Duration start, Duration stop) {
    FlowSpec f{s, start, 0, false};
    f.stop = stop;
    return f;
  };
  sc.measure_from = ten;
  sc.measure_to = d;
  sc.duration = d;
  if (spec.kind == "alone") {
    sc.flows.push_back(flow(normal, Duration{0}, d));
  } else if (spec.kind == "cubic") {
    sc.flows.push_back(flow(normal, Duration{0}, d));
    sc.flows.push_back(flow(cubic, Duration{0}, d));
  } else if (spec.kind == "two" || spec.kind == "bg_two") {
    const Subject s = spec.kind == "two" ? normal : background_subject();
    sc.flows.push_back(flow(s, Duration{0}, d + ten));
    sc.flows.push_back(flow(s, ten, d + ten));
    sc.measure_from = ten * 2;
    sc.measure_to = d + ten;
    sc.duration = d + ten;
  } else if (spec.kind == "bg_cubic") {
    sc.flows.push_back(flow(background_subject(), Duration{0}, d + Duration::seconds(15)));
    sc.flows.push_back(flow(cubic, Duration{0}, d));
    sc.measure_from = Duration::seconds(5);
    sc.duration = d + Duration::seconds(15);
  } else if (spec.kind == "w2_cubic") {
    sc.flows.push_back(flow(weighted_subject(2.0), Duration{0}, d));
    sc.flows.push_back(flow(cubic, Duration{0}, d));
  } else if (spec.kind == "switch") {
    // One background flow against cubic, both for 3 D; `ctl` makes it normal at D and
    // weight 2 at 2 D (scenario.sh), here Stream::set_priority at the same times.
    FlowSpec f = flow(background_subject(), Duration{0}, d * 3);
    f.priority_changes = {{d, Priority{}}, {d * 2, Priority{Priority::Class::weighted, 2.0}}};
    sc.flows.push_back(f);
    sc.flows.push_back(flow(cubic, Duration{0}, d * 3));
    sc.measure_from = Duration::seconds(5);
    sc.duration = d * 3;
  } else {
    return make_error("netlab scenario: unknown kind '" + spec.kind +
                      "' (alone, cubic, two, bg_cubic, bg_two, w2_cubic, switch)");
  }
  char name[96];
  std::snprintf(name, sizeof name, "r%g_rtt%lld_b%lld%s_%s", spec.rate_mbit, static_cast<long long>(spec.rtt_ms),
                static_cast<long long>(spec.buffer_ms), spec.loss > 0 ? "_loss" : "", spec.kind.c_str());
  sc.name = name;
  // The testbed's flows start a few ms apart (separate processes), and its receivers
  // acknowledge with some jitter: the same variation as the standard scenarios.
  vary_with_seed(sc);
  return sc;
}

Result<NetlabSpec> parse_netlab_spec(std::string_view text) {
  NetlabSpec spec;
  std::vector<std::string> parts;
  size_t pos = 0;
  for (;;) {
    const size_t colon = text.find(':', pos);
    parts.emplace_back(text.substr(pos, colon == std::string_view::npos ? std::string_view::npos : colon - pos));
    if (colon == std::string_view::npos) break;
    pos = colon + 1;
  }
  if (parts.size() < 4 || parts.size() > 5) return make_error("netlab scenario: expected KIND:RATE:RTT:BUFFER[:LOSS], not '" + std::string(text) + "'");
  spec.kind = parts[0];
  char* end = nullptr;
  spec.rate_mbit = std::strtod(parts[1].c_str(), &end);
  bool ok = !parts[1].empty() && *end == '\0';
  spec.rtt_ms = std::strtoll(parts[2].c_str(), &end, 10);
  ok = ok && !parts[2].empty() && *end == '\0';
  spec.buffer_ms = std::strtoll(parts[3].c_str(), &end, 10);
  ok = ok && !parts[3].empty() && *end == '\0';
  if (parts.size() == 5) {
    spec.loss = std::strtod(parts[4].c_str(), &end);
    ok = ok && !parts[4].empty() && *end == '\0';
  }
  if (!ok) return make_error("netlab scenario: '" + std::string(text) + "' has a field that is not a number");
  return spec;
}

double netlab_curvecp_ceiling_bytes_per_s(double rate_bits_per_s) { return rate_bits_per_s / 8 * 1024.0 / 1212.0; }

Scenario scenario_single(const Subject& s, uint64_t seed) {
  Scenario sc;
  sc.name = "single-" + s.label();
  sc.seed = seed;
  sc.path = standard_path();
  sc.duration = Duration::seconds(60);
  sc.measure_from = Duration::seconds(10);
  sc.flows.push_back(FlowSpec{s, Duration{0}, 0, false});
  vary_with_seed(sc);
  return sc;
}

Scenario scenario_random_loss(const Subject& s, uint64_t seed) {
  Scenario sc = scenario_single(s, seed);
  sc.name = "loss1-" + s.label();
  sc.path.loss = 0.01;
  return sc;
}

Scenario scenario_staggered(const Subject& s, uint64_t seed) {
  Scenario sc;
  sc.name = "staggered4-" + s.label();
  sc.seed = seed;
  sc.path = standard_path();
  sc.duration = Duration::seconds(70);
  sc.measure_from = Duration::seconds(40);
  for (int i = 0; i < 4; ++i) sc.flows.push_back(FlowSpec{s, Duration::seconds(10 * i), 0, false});
  vary_with_seed(sc);
  return sc;
}

Scenario scenario_vs_cubic(const Subject& s, uint64_t seed) {
  Scenario sc;
  sc.name = "vs-cubic-" + s.label();
  sc.seed = seed;
  sc.path = standard_path();
  sc.duration = Duration::seconds(60);
  sc.measure_from = Duration::seconds(20);
  sc.flows.push_back(FlowSpec{s, Duration{0}, 0, false});
  sc.flows.push_back(FlowSpec{Subject{FlowKind::cubic, ""}, Duration{0}, 0, false});
  vary_with_seed(sc);
  return sc;
}

Scenario scenario_fast_start(const Subject& s, uint64_t seed) {
  Scenario sc;
  sc.name = "fast-start-" + s.label();
  sc.seed = seed;
  sc.path.rate_bits_per_s = 100e6;
  sc.path.rtt = Duration::milliseconds(100);
  sc.path.buffer = Duration::milliseconds(100);
  sc.duration = Duration::seconds(20);
  sc.measure_from = Duration::seconds(10);
  sc.flows.push_back(FlowSpec{s, Duration{0}, 0, false});
  vary_with_seed(sc);
  return sc;
}

Scenario scenario_loopback(const Subject& s, uint64_t seed) {
  Scenario sc;
  sc.name = "loopback-" + s.label();
  sc.seed = seed;
  sc.path.rate_bits_per_s = 4e9;
  sc.path.rtt = Duration::microseconds(100);
  sc.path.buffer = Duration::milliseconds(4);
  sc.path.timer_granularity = Duration::milliseconds(1);
  sc.path.bin = Duration::milliseconds(10);
  sc.duration = Duration::seconds(1);
  sc.measure_from = Duration::milliseconds(500);
  sc.flows.push_back(FlowSpec{s, Duration{0}, 0, false});
  vary_with_seed(sc);
  return sc;
}

Scenario scenario_lossy_transfer(const Subject& s, uint64_t seed, uint64_t bytes, bool fail_at_end) {
  Scenario sc;
  sc.name = std::string(fail_at_end ? "lossy-fail-" : "lossy-") + s.label();
  sc.seed = seed;
  sc.path.rate_bits_per_s = 100e6;
  sc.path.rtt = Duration::milliseconds(20);
  sc.path.buffer = Duration::milliseconds(50);
  sc.path.loss = 0.10;
  sc.path.reverse_loss = 0.10;
  sc.path.reorder = 0.05;
  sc.path.reverse_reorder = 0.05;
  sc.path.reorder_delay = Duration::milliseconds(5);
  sc.path.duplicate = 0.02;
  sc.path.reverse_duplicate = 0.02;
  sc.duration = Duration::seconds(300);
  sc.stop_when_finished = true;
  sc.flows.push_back(FlowSpec{s, Duration{0}, bytes, fail_at_end});
  return sc;
}

}  // namespace curvecp::sim

namespace curvecp::sim {

Subject background_subject() { return Subject{FlowKind::stream, "chicago", Priority{Priority::Class::background, 1.0}}; }

Subject weighted_subject(double weight) {
  return Subject{FlowKind::stream, "chicago", Priority{Priority::Class::weighted, weight}};
}

Scenario scenario_background_alone(uint64_t seed) {
  Scenario sc = scenario_single(background_subject(), seed);
  sc.name = "bg-alone";
  return sc;
}

Scenario scenario_background_vs(const Subject& other, uint64_t seed) {
  Scenario sc;
  sc.name = "bg-vs-" + other.label();
  sc.seed = seed;
  sc.path = standard_path();
  sc.duration = Duration::seconds(50);
  sc.measure_from = Duration::seconds(15);
  sc.measure_to = Duration::seconds(35);
  sc.flows.push_back(FlowSpec{background_subject(), Duration{0}, 0, false});
  FlowSpec competitor{other, Duration::seconds(5), 0, false};
  competitor.stop = Duration::seconds(35);
  sc.flows.push_back(competitor);
  vary_with_seed(sc);
  return sc;
}

Scenario scenario_background_staggered(uint64_t seed) {
  Scenario sc;
  sc.name = "bg-staggered2";
  sc.seed = seed;
  sc.path = standard_path();
  sc.duration = Duration::seconds(50);
  sc.measure_from = Duration::seconds(30);
  for (int i = 0; i < 2; ++i) sc.flows.push_back(FlowSpec{background_subject(), Duration::seconds(10 * i), 0, false});
  vary_with_seed(sc);
  return sc;
}

Scenario scenario_weighted_vs(double weight, const Subject& other, uint64_t seed) {
  Scenario sc;
  // Appended step by step: gcc 12 -O3 reports a false -Wrestrict on a chain of operator+.
  sc.name = "w";
  sc.name += format_priority(Priority{Priority::Class::weighted, weight});
  sc.name += "-vs-";
  sc.name += other.label();
  sc.seed = seed;
  sc.path = standard_path();
  sc.duration = Duration::seconds(60);
  sc.measure_from = Duration::seconds(20);
  sc.flows.push_back(FlowSpec{weighted_subject(weight), Duration{0}, 0, false});
  sc.flows.push_back(FlowSpec{other, Duration{0}, 0, false});
  vary_with_seed(sc);
  return sc;
}

double link_fraction(const ScenarioResult& r, size_t i, int from_s, int to_s) {
  const auto& series = r.flows.at(i).series_bytes_per_s;
  double sum = 0;
  int n = 0;
  for (int t = std::max(from_s, 0); t < to_s && t < static_cast<int>(series.size()); ++t, ++n) sum += series[t];
  return n > 0 && r.capacity_bytes_per_s > 0 ? sum / n / r.capacity_bytes_per_s : 0;
}

double share_of(const ScenarioResult& r, size_t i, int from_s, int to_s) {
  double total = 0;
  for (size_t j = 0; j < r.flows.size(); ++j) total += link_fraction(r, j, from_s, to_s);
  return total > 0 ? link_fraction(r, i, from_s, to_s) / total : 0;
}

double mean_utilisation(const ScenarioResult& r, int from_s, int to_s) {
  double sum = 0;
  int n = 0;
  for (int t = std::max(from_s, 0); t < to_s && t < static_cast<int>(r.utilisation_series.size()); ++t, ++n) {
    sum += r.utilisation_series[t];
  }
  return n > 0 ? sum / n : 0;
}

int seconds_until(int from_s, int to_s, const std::function<bool(int)>& ok) {
  for (int t = from_s; t + 2 <= to_s; ++t) {
    if (ok(t)) return t - from_s;
  }
  return -1;
}

Scenario scenario_priority_switch(uint64_t seed) {
  Scenario sc;
  sc.name = "switch-bg-normal-2";
  sc.seed = seed;
  sc.path = standard_path();
  sc.duration = Duration::seconds(90);
  sc.measure_from = Duration::seconds(0);
  FlowSpec transfer{background_subject(), Duration{0}, kSwitchTransferBytes, false};
  transfer.priority_changes = {{kSwitchToNormal, Priority{}}, {kSwitchToWeighted, Priority{Priority::Class::weighted, 2.0}}};
  sc.flows.push_back(transfer);
  sc.flows.push_back(FlowSpec{Subject{FlowKind::stream, "chicago"}, Duration{0}, 0, false});
  vary_with_seed(sc);
  return sc;
}

}  // namespace curvecp::sim
