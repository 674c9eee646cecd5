// `background`: the less-than-best-effort controller of priority `background`
// (background.cpp; design, papers and figures in docs/PRIORITY.md). Exposed as a class so
// tests and the simulator can read its phase; everything else creates it through
// make_priority_controller (priority.h) or by name ("background").
#pragma once

#include <cstdint>
#include <functional>
#include <string_view>

#include "core/rng.h"
#include "core/time.h"
#include "scheduler/cc_pacer.h"
#include "scheduler/cc_windowed_filter.h"
#include "scheduler/congestion.h"

namespace curvecp {

class BackgroundController final : public CongestionController {
 public:
  enum class Phase : uint8_t {
    slow_start,  // doubling per RTT until the queue reaches 3/4 of the target
    avoidance,   // LEDBAT's proportional controller around the target queue delay
    slowdown,    // LEDBAT++'s periodic slowdown: almost nothing for two RTTs
  };

  BackgroundController(Rng& rng, Timestamp now);

  std::string_view name() const override { return "background"; }
  void on_ack(const AckSample& s, const PathState& path) override;
  void on_loss(const LossSample& s, const PathState& path) override;
  Timestamp next_send_time(Timestamp now) const override { return pacer_.next_send_time(now); }
  void on_send(const SendSample& s) override;
  uint64_t window_bytes() const override;
  Duration retransmit_timeout(const PathState& path) const override;
  void on_idle(Timestamp now) override { pacer_.reset(now); }
  double rate_bytes_per_s() const override { return rate_bytes_per_s_; }
  // Continues in avoidance from the previous controller's rate (see background.cpp).
  void on_handover(const ControllerHandover& h, const PathState& path) override;

  Phase phase() const { return phase_; }
  // The target queueing delay (a quarter of chicago's high-water mark on this path).
  Duration target() const;
  // Latest queueing-delay estimate: recent minimum RTT minus the base delay.
  Duration queue_delay() const { return queue_; }
  // Slowdowns started so far.
  uint64_t slowdowns() const { return slowdowns_; }

 private:
  Duration smoothed_rtt() const;
  void clamp_rate();
  void on_queue_sample(Timestamp now, bool app_limited, double elapsed_s);
  void enter_avoidance(Timestamp now);
  void start_slowdown(Timestamp now);
  void schedule_slowdown(Timestamp now, Duration after);

  Phase phase_ = Phase::slow_start;
  double rate_bytes_per_s_;
  CcPacer pacer_;
  CcWindowedFilter<Duration, std::less<Duration>> recent_min_rtt_;
  Duration base_delay_ = Duration::infinite();
  Duration srtt_{0};
  bool has_rtt_ = false;
  Duration queue_{0};
  Timestamp last_ack_time_{0};
  // Loss: at most one halving per RTT (RFC 6817 2.4.2).
  Timestamp last_loss_decrease_{0};
  bool has_loss_decrease_ = false;
  // Slow start's ceiling after a slowdown: the rate before it (LEDBAT++ 4.4 ssthresh).
  double ssthresh_bytes_per_s_ = 0;
  // Periodic slowdowns (LEDBAT++ 4.4): when the next one starts, when the current one
  // (slowdown phase plus the slow start back) started and when its slowdown phase ends.
  Timestamp next_slowdown_ = Timestamp::never();
  Timestamp slowdown_started_{0};
  Timestamp slowdown_end_{0};
  bool recovering_ = false;  // in the slow start that follows a slowdown
  uint64_t slowdowns_ = 0;
};

}  // namespace curvecp
