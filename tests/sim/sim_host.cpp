#include "tests/sim/sim_host.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <map>

namespace curvecp::sim {

namespace {

// A stall is a wake-up later than this (host_stalls.cpp's threshold).
constexpr Duration kStallThreshold = Duration::milliseconds(1);

Duration ms(double v) { return Duration::nanoseconds(static_cast<int64_t>(std::llround(v * 1e6))); }

// Measured with curvecp_host_stalls beside netlab runs on the 2-core test machines
// (docs/SIMULATOR.md): "busy" with three helpers compiling at nice 19 beside the run,
// "noisy" with tests/netlab/noisy.sh beside it.
HostNoise busy_profile() { return HostNoise{19.4, ms(3.3), ms(6.7), ms(14.2)}; }
HostNoise noisy_profile() { return HostNoise{19.4, ms(3.3), ms(6.7), ms(14.2)}; }

}  // namespace

std::string HostNoise::describe() const {
  if (!enabled()) return "quiet";
  char buf[160];
  std::snprintf(buf, sizeof buf, "stalls_per_s=%.2f,stall_p50_ms=%.2f,stall_p90_ms=%.2f,stall_p99_ms=%.2f",
                stalls_per_s, p50.seconds_f() * 1e3, p90.seconds_f() * 1e3, p99.seconds_f() * 1e3);
  return buf;
}

Result<HostNoise> parse_host_noise(std::string_view text) {
  if (text == "quiet") return HostNoise{};
  if (text == "busy") return busy_profile();
  if (text == "noisy") return noisy_profile();
  std::map<std::string, double> values;
  size_t pos = 0;
  while (pos < text.size()) {
    const size_t end = std::min(text.find_first_of(", ", pos), text.size());
    const std::string_view item = text.substr(pos, end - pos);
    pos = end + 1;
    if (item.empty()) continue;
    const size_t eq = item.find('=');
    if (eq == std::string_view::npos) return make_error("host noise: expected KEY=VALUE, not '" + std::string(item) + "'");
    const std::string value(item.substr(eq + 1));
    char* stop = nullptr;
    const double v = std::strtod(value.c_str(), &stop);
    if (value.empty() || *stop != '\0' || !std::isfinite(v) || v < 0) {
      return make_error("host noise: '" + std::string(item) + "' is not a non-negative number");
    }
    values[std::string(item.substr(0, eq))] = v;
  }
  for (const char* key : {"stalls_per_s", "stall_p50_ms", "stall_p90_ms", "stall_p99_ms"}) {
    if (!values.count(key)) {
      return make_error("host noise: '" + std::string(text) +
                   "' is neither quiet, busy, noisy nor a list with stalls_per_s, stall_p50_ms, stall_p90_ms, stall_p99_ms");
    }
  }
  HostNoise n{values["stalls_per_s"], ms(values["stall_p50_ms"]), ms(values["stall_p90_ms"]), ms(values["stall_p99_ms"])};
  if (n.enabled() && !(n.p50 <= n.p90 && n.p90 <= n.p99)) return make_error("host noise: the quantiles must not decrease");
  return n;
}

HostSchedule::HostSchedule(const HostNoise& noise, uint64_t seed) : noise_(noise), rng_(seed) {
  if (!enabled()) return;
  // The probe counts stalls per second of wall time, so a stall and the gap before it
  // together last 1 / rate on average.
  double mean_length_s = 0;
  constexpr int kSteps = 1000;
  for (int i = 0; i < kSteps; ++i) mean_length_s += length_at((i + 0.5) / kSteps).seconds_f() / kSteps;
  mean_gap_s_ = std::max(1.0 / noise_.stalls_per_s - mean_length_s, mean_length_s / 10);
}

Duration HostSchedule::draw_length() { return length_at(rng_.unit()); }

Duration HostSchedule::length_at(double u) const {
  // Log-linear between the knots (quantile, length): (0, 1 ms), (.5, p50), (.9, p90),
  // (.99, p99), (1, 2 x p99).
  const std::pair<double, double> knots[] = {
      {0.0, kStallThreshold.seconds_f()},
      {0.5, std::max(noise_.p50, kStallThreshold).seconds_f()},
      {0.9, std::max(noise_.p90, kStallThreshold).seconds_f()},
      {0.99, std::max(noise_.p99, kStallThreshold).seconds_f()},
      {1.0, 2 * std::max(noise_.p99, kStallThreshold).seconds_f()},
  };
  for (size_t i = 1; i < std::size(knots); ++i) {
    if (u <= knots[i].first) {
      const double f = (u - knots[i - 1].first) / (knots[i].first - knots[i - 1].first);
      const double log_len = std::log(knots[i - 1].second) + f * (std::log(knots[i].second) - std::log(knots[i - 1].second));
      return Duration::nanoseconds(static_cast<int64_t>(std::exp(log_len) * 1e9));
    }
  }
  return Duration::nanoseconds(static_cast<int64_t>(knots[4].second * 1e9));
}

void HostSchedule::generate_past(Timestamp t) {
  while (generated_to_ <= t) {
    // Exponential gap from the end of the last stall to the start of the next.
    const double gap_s = -std::log(1.0 - rng_.unit()) * mean_gap_s_;
    const Timestamp start = generated_to_ + Duration::nanoseconds(static_cast<int64_t>(gap_s * 1e9));
    const Timestamp end = start + draw_length();
    stalls_.emplace_back(start, end);
    generated_to_ = end;
  }
}

Timestamp HostSchedule::running_at(Timestamp t) {
  if (!enabled()) return t;
  generate_past(t);
  for (const auto& [start, end] : stalls_) {
    if (t < start) return t;
    if (t < end) return end;
  }
  return t;
}

void HostSchedule::prune(Timestamp now) {
  while (!stalls_.empty() && stalls_.front().second < now) stalls_.pop_front();
}

}  // namespace curvecp::sim
