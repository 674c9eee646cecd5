#include "tests/sim/sim_metrics.h"

#include <algorithm>
#include <cmath>

namespace curvecp::sim {

namespace {

// Bin indices [first, last) covering the window.
std::pair<size_t, size_t> bins(Duration bin, Timestamp from, Timestamp to) {
  const auto first = static_cast<size_t>(std::max<int64_t>(from.ns, 0) / bin.ns);
  const auto last = static_cast<size_t>(std::max<int64_t>(to.ns, 0) / bin.ns);
  return {first, std::max(first, last)};
}

uint64_t sum_bins(const std::vector<uint64_t>& v, size_t first, size_t last) {
  uint64_t total = 0;
  for (size_t i = first; i < last && i < v.size(); ++i) total += v[i];
  return total;
}

}  // namespace

double goodput_bytes_per_s(const FlowMetrics& flow, Timestamp from, Timestamp to) {
  const auto [first, last] = bins(flow.bin, from, to);
  if (last == first) return 0;
  const double seconds = static_cast<double>(last - first) * flow.bin.seconds_f();
  return static_cast<double>(sum_bins(flow.delivered_per_bin, first, last)) / seconds;
}

double utilisation(const Link& link, Timestamp from, Timestamp to) {
  const auto [first, last] = bins(link.bin(), from, to);
  if (last == first || link.config().rate_bits_per_s <= 0) return 0;
  const double seconds = static_cast<double>(last - first) * link.bin().seconds_f();
  const double capacity_bytes = link.config().rate_bits_per_s / 8 * seconds;
  return static_cast<double>(sum_bins(link.bytes_per_bin(), first, last)) / capacity_bytes;
}

Duration queue_delay_percentile(const Link& link, double p, Timestamp from, Timestamp to) {
  std::vector<int64_t> delays;
  for (const auto& s : link.queue_delays()) {
    if (s.time >= from && s.time < to) delays.push_back(s.delay.ns);
  }
  if (delays.empty()) return Duration{0};
  const double rank = std::clamp(p, 0.0, 100.0) / 100.0 * static_cast<double>(delays.size() - 1);
  const auto k = static_cast<size_t>(std::llround(rank));
  std::nth_element(delays.begin(), delays.begin() + static_cast<std::ptrdiff_t>(k), delays.end());
  return Duration{delays[k]};
}

double loss_fraction(const Link& link, Timestamp from, Timestamp to) {
  const auto [first, last] = bins(link.bin(), from, to);
  const uint64_t offered = sum_bins(link.arrivals_per_bin(), first, last);
  if (offered == 0) return 0;
  return static_cast<double>(sum_bins(link.drops_per_bin(), first, last)) / static_cast<double>(offered);
}

double jain_index(const std::vector<double>& values) {
  if (values.empty()) return 1;
  double sum = 0;
  double sum_squares = 0;
  for (double v : values) {
    sum += v;
    sum_squares += v * v;
  }
  if (sum_squares == 0) return 1;
  return sum * sum / (static_cast<double>(values.size()) * sum_squares);
}

Timestamp time_to_utilisation(const Link& link, double target, Duration window, Timestamp until) {
  const Duration bin = link.bin();
  for (Timestamp t{0}; t + window <= until; t += bin) {
    if (utilisation(link, t, t + window) >= target) return t;
  }
  return Timestamp::never();
}

std::vector<double> goodput_series(const FlowMetrics& flow, Timestamp from, Timestamp to) {
  std::vector<double> out;
  const auto [first, last] = bins(flow.bin, from, to);
  for (size_t i = first; i < last; ++i) {
    const uint64_t bytes = i < flow.delivered_per_bin.size() ? flow.delivered_per_bin[i] : 0;
    out.push_back(static_cast<double>(bytes) / flow.bin.seconds_f());
  }
  return out;
}

}  // namespace curvecp::sim
