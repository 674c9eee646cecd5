// curvecp_host_stalls: measures how late this host wakes a process, the host noise that
// the simulator's HostNoise model (tests/sim/sim_host.h) stands for. It sleeps 1 ms at a
// time for SECONDS (clock_nanosleep on CLOCK_MONOTONIC, as the daemon's timer wakes it),
// and counts every wake-up later than 1 ms past its time as a stall of that lateness.
// netlab_report runs it beside every scenario (at the priority curvecp runs at), so each
// report says what the host did during the run, and sim_report --host can replay it.
//
//   usage: curvecp_host_stalls SECONDS
// Prints one line, key=value:
//   wakeups, stalls_per_s (lateness > 1 ms), stalls_5ms_per_s, stalls_10ms_per_s,
//   stall_p50_ms, stall_p90_ms, stall_p99_ms, stall_max_ms (quantiles of the stalls'
//   lateness), lost_fraction (time spent in stalls / time).
#include <time.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

namespace {

constexpr int64_t kPeriodNs = 1'000'000;     // sleep 1 ms
constexpr int64_t kStallNs = 1'000'000;      // later than this: a stall

int64_t now_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

double quantile_ms(const std::vector<int64_t>& sorted, double q) {
  if (sorted.empty()) return 0;
  const auto i = static_cast<size_t>(std::min<double>(static_cast<double>(sorted.size() - 1),
                                                      std::floor(q * static_cast<double>(sorted.size()))));
  return static_cast<double>(sorted[i]) / 1e6;
}

}  // namespace

int main(int argc, char** argv) {
  char* end = nullptr;
  const double seconds = argc == 2 ? std::strtod(argv[1], &end) : 0;
  if (argc != 2 || end == argv[1] || *end != '\0' || !(seconds > 0) || seconds > 86400) {
    std::fprintf(stderr, "usage: curvecp_host_stalls SECONDS   (0 < SECONDS <= 86400)\n");
    return 100;
  }
  const int64_t start = now_ns();
  const auto limit = static_cast<int64_t>(seconds * 1e9);
  std::vector<int64_t> stalls;
  int64_t lost = 0;
  uint64_t wakeups = 0;
  int64_t due = start + kPeriodNs;
  while (due - start < limit) {
    timespec ts{static_cast<time_t>(due / 1'000'000'000), static_cast<long>(due % 1'000'000'000)};
    int rc;
    while ((rc = clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr)) == EINTR) {
    }
    if (rc != 0) {
      std::fprintf(stderr, "curvecp_host_stalls: clock_nanosleep failed (%d)\n", rc);
      return 111;
    }
    const int64_t woke = now_ns();
    ++wakeups;
    const int64_t late = woke - due;
    if (late > kStallNs) {
      stalls.push_back(late);
      lost += late;
    }
    due = woke + kPeriodNs;
  }
  const double elapsed = static_cast<double>(now_ns() - start) / 1e9;
  std::sort(stalls.begin(), stalls.end());
  const auto count_over = [&](int64_t ns) {
    return static_cast<double>(stalls.end() - std::upper_bound(stalls.begin(), stalls.end(), ns)) / elapsed;
  };
  std::printf(
      "wakeups=%llu stalls_per_s=%.2f stalls_5ms_per_s=%.2f stalls_10ms_per_s=%.2f stall_p50_ms=%.2f "
      "stall_p90_ms=%.2f stall_p99_ms=%.2f stall_max_ms=%.2f lost_fraction=%.4f\n",
      static_cast<unsigned long long>(wakeups), static_cast<double>(stalls.size()) / elapsed, count_over(5'000'000),
      count_over(10'000'000), quantile_ms(stalls, 0.5), quantile_ms(stalls, 0.9), quantile_ms(stalls, 0.99),
      stalls.empty() ? 0.0 : static_cast<double>(stalls.back()) / 1e6, static_cast<double>(lost) / 1e9 / elapsed);
  return 0;
}
