// Time as plain nanosecond counts with distinct types for points and spans.
// The sans-I/O layers never read a clock: `Timestamp now` is always passed in.
// Timestamps come from a monotonic clock in the runtime and a virtual clock in the
// simulator; their zero is arbitrary, so "never" is an explicit state, not 0.
#pragma once

#include <compare>
#include <cstdint>
#include <limits>

namespace curvecp {

struct Duration {
  int64_t ns = 0;

  static constexpr Duration nanoseconds(int64_t v) { return Duration{v}; }
  static constexpr Duration microseconds(int64_t v) { return Duration{v * 1000}; }
  static constexpr Duration milliseconds(int64_t v) { return Duration{v * 1000000}; }
  static constexpr Duration seconds(int64_t v) { return Duration{v * 1000000000}; }
  static constexpr Duration infinite() { return Duration{std::numeric_limits<int64_t>::max()}; }

  constexpr double seconds_f() const { return static_cast<double>(ns) / 1e9; }
  constexpr auto operator<=>(const Duration&) const = default;
  constexpr Duration operator+(Duration o) const { return Duration{ns + o.ns}; }
  constexpr Duration operator-(Duration o) const { return Duration{ns - o.ns}; }
  constexpr Duration operator*(int64_t k) const { return Duration{ns * k}; }
  constexpr Duration operator/(int64_t k) const { return Duration{ns / k}; }
  constexpr Duration& operator+=(Duration o) { ns += o.ns; return *this; }
  constexpr Duration& operator-=(Duration o) { ns -= o.ns; return *this; }
};

struct Timestamp {
  int64_t ns = 0;

  // The far future: used for "no deadline".
  static constexpr Timestamp never() { return Timestamp{std::numeric_limits<int64_t>::max()}; }

  constexpr auto operator<=>(const Timestamp&) const = default;
  constexpr Timestamp operator+(Duration d) const {
    // Saturate so that never() + d stays never().
    if (d.ns > 0 && ns > std::numeric_limits<int64_t>::max() - d.ns) return never();
    return Timestamp{ns + d.ns};
  }
  constexpr Timestamp operator-(Duration d) const { return Timestamp{ns - d.ns}; }
  constexpr Duration operator-(Timestamp o) const { return Duration{ns - o.ns}; }
  constexpr Timestamp& operator+=(Duration d) { *this = *this + d; return *this; }
};

constexpr Timestamp earliest(Timestamp a, Timestamp b) { return a < b ? a : b; }

}  // namespace curvecp
