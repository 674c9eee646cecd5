// Windowed minimum or maximum over time: Kathleen Nichols' algorithm as used by BBR
// (Linux lib/win_minmax.c). Keeps the best, second-best and third-best samples of the
// last `window`, so a new best replaces everything at once and an old best expires in
// O(1) without storing every sample.
#pragma once

#include <array>

#include "core/time.h"

namespace curvecp {

// `Better(a, b)` is true when a should replace b (std::less for a min filter,
// std::greater for a max filter). T must be copyable.
template <typename T, typename Better>
class CcWindowedFilter {
 public:
  explicit CcWindowedFilter(Duration window) : window_(window) {}

  bool empty() const { return !has_sample_; }
  // The best sample of the window; only meaningful when !empty().
  const T& best() const { return s_[0].value; }
  void reset() { has_sample_ = false; }
  void set_window(Duration window) { window_ = window; }

  // Adds a sample taken at `now` (timestamps must not decrease).
  void update(const T& value, Timestamp now) {
    const Sample fresh{value, now};
    if (!has_sample_ || better_or_equal(value, s_[0].value) || now - s_[2].time > window_) {
      s_ = {fresh, fresh, fresh};
      has_sample_ = true;
      return;
    }
    if (better_or_equal(value, s_[1].value)) {
      s_[1] = s_[2] = fresh;
    } else if (better_or_equal(value, s_[2].value)) {
      s_[2] = fresh;
    }
    // Expire: when the best is older than the window, promote the runners-up.
    const Duration age = now - s_[0].time;
    if (age > window_) {
      s_[0] = s_[1];
      s_[1] = s_[2];
      s_[2] = fresh;
      if (now - s_[0].time > window_) {
        s_[0] = s_[1];
        s_[1] = s_[2];
      }
    } else if (s_[1].time == s_[0].time && age > window_ / 4) {
      s_[1] = s_[2] = fresh;
    } else if (s_[2].time == s_[1].time && age > window_ / 2) {
      s_[2] = fresh;
    }
  }

 private:
  struct Sample {
    T value{};
    Timestamp time{};
  };
  bool better_or_equal(const T& a, const T& b) const { return !Better{}(b, a); }

  Duration window_;
  std::array<Sample, 3> s_{};
  bool has_sample_ = false;
};

}  // namespace curvecp
