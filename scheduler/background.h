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
#include "scheduler/cc_ack_rate.h"
#include "scheduler/cc_pacer.h"
#include "scheduler/cc_windowed_filter.h"
#include "scheduler/congestion.h"

namespace curvecp {

class BackgroundController final : public CongestionController {
 public:
  enum class Phase : uint8_t {
    slow_start,  // doubling per RTT until the queue reaches 3/4 of the target
    drain,       // below the delivery rate until the start-up overshoot has drained
    avoidance,   // LEDBAT's proportional controller around the target queue delay
    slowdown,    // LEDBAT++'s periodic slowdown: almost nothing for two RTTs, then the
                 // rate from before it
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
  // The target queueing delay (below chicago's low-water mark; background.cpp).
  Duration target() const;
  // Latest queueing-delay estimate: recent minimum RTT minus the base delay.
  Duration queue_delay() const { return queue_; }
  // Slowdowns started so far.
  uint64_t slowdowns() const { return slowdowns_; }

 private:
  Duration smoothed_rtt() const;
  void clamp_rate();
  // One line of the decision trace (cc_trace.h), if it is on.
  void trace_state(Timestamp now, const char* event) const;
  void on_queue_sample(Timestamp now, bool app_limited, double elapsed_s);
  void enter_avoidance(Timestamp now);
  void leave_slow_start(Timestamp now);
  void decrease(Timestamp now, double ratio);
  void avoidance_step(Timestamp now, bool app_limited, double elapsed_s);
  void start_slowdown(Timestamp now);
  void end_slowdown(Timestamp now);
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
  CcAckRate ack_rate_;
  // The same meter over bytes sent: whether the packets now being acknowledged were
  // sent sparsely (see kAckDelay).
  CcAckRate send_rate_;
  // Decreases: at most one per RTT; an episode is the queue above the target since it
  // was last below half of it (see background.cpp).
  Timestamp next_decrease_{0};
  bool in_episode_ = false;
  Timestamp episode_decrease_at_{0};
  Duration queue_at_decrease_{0};
  // Drain: the delivery rate when slow start ended, and when the drain gives up.
  double exit_delivery_bytes_per_s_ = 0;
  Timestamp drain_until_{0};
  // Since when the queue has been below half the target without a break (the increase
  // accelerates with it).
  Timestamp low_since_ = Timestamp::never();
  // Loss: at most one halving per RTT (RFC 6817 2.4.2).
  Timestamp last_loss_decrease_{0};
  bool has_loss_decrease_ = false;
  // The rate before a slowdown, resumed after it (LEDBAT++ 4.4's ssthresh).
  double rate_before_slowdown_ = 0;
  // Periodic slowdowns (LEDBAT++ 4.4): when the next one starts, when the current one
  // started and when it ends.
  Timestamp next_slowdown_ = Timestamp::never();
  Timestamp slowdown_started_{0};
  Timestamp slowdown_end_{0};
  uint64_t slowdowns_ = 0;
  Timestamp traced_round_{0};  // last per-RTT trace line
};

}  // namespace curvecp
