// `chicago`: our rate-based congestion controller (chicago.cpp; design notes, figures
// and modes in docs/CHICAGO.md).
// Exposed as a class, not only through the registry, so tests and the simulator can
// read its mode; everything else creates it by name (make_controller("chicago", ...)).
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

// Chicago's additive increase in bytes/s per second at `rate_bytes_per_s` on a path of
// base RTT `base_rtt`, from `base` (bytes/s per second at 20 Mbit/s and 40 ms): grows as
// sqrt(rate) above 20 Mbit/s, falls as (40 ms / base)^2 above 40 ms and grows as
// 40 ms / base below it (chicago.cpp). Shared with background.cpp.
double chicago_increase_bytes_per_s2(double base, double rate_bytes_per_s, Duration base_rtt);

// Chicago's retransmission timeout at `rate_bytes_per_s` (chicago.cpp: RFC 6298 with a
// margin, two packet intervals and an allowance for a peer that a busy host leaves
// unscheduled). Shared with background.cpp.
Duration chicago_retransmit_timeout(const PathState& path, double rate_bytes_per_s);

// MulTCP's arithmetic for a chicago flow that counts as `weight` flows (weighted.cpp):
// the aggregate increase of N flows sharing rate R: N x increase(R / N).
double weighted_increase(double weight, double rate_bytes_per_s, const std::function<double(double)>& increase);

class ChicagoController final : public CongestionController {
 public:
  enum class Mode : uint8_t {
    startup,      // doubling per RTT until the queue delay rises
    drain,        // below the delivery rate until the start-up queue is gone
    cruise,       // delay-based AIMD around a short queue (the default)
    competitive,  // loss-based AIMD while a buffer-filling flow holds the queue
  };

  // `rng` is kept for future randomisation; chicago is deterministic today. `weight`
  // (>= 1) makes it behave like that many chicago flows, MulTCP-style (weighted.cpp,
  // docs/PRIORITY.md); 1 is plain chicago.
  ChicagoController(Rng& rng, Timestamp now, double weight = 1.0);

  std::string_view name() const override { return weight_ > 1.0 ? "weighted" : "chicago"; }
  void on_ack(const AckSample& s, const PathState& path) override;
  void on_loss(const LossSample& s, const PathState& path) override;
  Timestamp next_send_time(Timestamp now) const override { return pacer_.next_send_time(now); }
  void on_send(const SendSample& s) override;
  uint64_t window_bytes() const override;
  // RFC 6298 with extra margin at low rates (see chicago.cpp).
  Duration retransmit_timeout(const PathState& path) const override;
  void on_idle(Timestamp now) override;
  double rate_bytes_per_s() const override { return rate_bytes_per_s_; }
  bool competing() const override { return mode_ == Mode::competitive; }
  // Continues in cruise from the previous controller's rate (see chicago.cpp).
  void on_handover(const ControllerHandover& h, const PathState& path) override;

  Mode mode() const { return mode_; }
  double weight() const { return weight_; }
  // Base-delay estimate as of the last on_ack (PathState::base_delay; infinite before
  // the first RTT sample).
  Duration base_delay() const { return base_delay_; }
  // Latest queueing-delay estimate: recent minimum RTT minus the base delay.
  Duration queue_delay() const { return queue_; }
  // Long-term fraction of transmissions declared lost (0..1).
  double long_term_loss() const { return long_term_loss_; }

 private:
  Duration smoothed_rtt() const;
  Duration queue_high_water() const;
  double long_term_gain() const;
  // Additive increase in bytes/s per second at the current rate (see chicago.cpp).
  double increase_bytes_per_s2(double base) const;
  void clamp_rate();
  void enter(Mode mode, Timestamp now);
  void decrease(Timestamp now, double factor, const char* why);
  // One line of the decision trace (cc_trace.h), if it is on.
  void trace_state(Timestamp now, const char* event) const;
  void leave_startup(Timestamp now);
  void on_queue_sample(Timestamp now, bool app_limited, double elapsed_s);
  void end_round(Timestamp now);
  // Into competitive mode at kCompetitiveEntryGain x the recent maximum rate (or the
  // remembered competitive rate soon after an episode).
  void enter_competitive(Timestamp now);
  // Competitive mode's CUBIC epoch (chicago.cpp): starts one from a decrease from
  // `rate_before` to `rate_after`, or on entry (both the same).
  void start_cubic_epoch(Timestamp now, double rate_before, double rate_after);
  // The rate CUBIC's window function gives now: W(t) / srtt.
  double competitive_rate(Timestamp now) const;

  // Number of chicago flows this one counts as (MulTCP's N).
  double weight_ = 1.0;
  Mode mode_ = Mode::startup;
  double rate_bytes_per_s_;
  CcPacer pacer_;
  CcAckRate ack_rate_;
  // The same meter over bytes sent: caps delivery-rate samples (see on_ack).
  CcAckRate send_rate_;
  // PathState::base_delay.base() as of the last on_ack: the history itself lives in
  // PathState so that it survives a controller switch.
  Duration base_delay_ = Duration::infinite();
  // Minimum RTT of the last quarter RTT: the queue signal, free of ack-compression noise.
  CcWindowedFilter<Duration, std::less<Duration>> recent_min_rtt_;
  // Largest pacing rate of the last few seconds: where to resume after an unfounded backoff.
  CcWindowedFilter<double, std::greater<double>> recent_max_rate_;
  // Largest delivery rate of the last few RTTs (at least 100 ms): the floor of a
  // delay-triggered decrease.
  CcWindowedFilter<double, std::greater<double>> max_delivery_;

  Duration srtt_{0};
  bool has_rtt_ = false;
  Duration queue_{0};
  Timestamp last_ack_time_{0};
  Timestamp mode_since_{0};
  Timestamp last_decrease_{0};
  bool has_decreased_ = false;
  // Reference Chicago's rtt_phase (CURVECP.md 7.3 step 5d): after a delay-triggered
  // decrease, wait for the queue to reach the low-water mark before the next one.
  bool awaiting_bottom_ = false;
  Duration queue_at_decrease_{0};
  // Delay-triggered cuts in a row that the queue did not follow (see on_queue_sample).
  int not_draining_cuts_ = 0;
  bool reached_bottom_ = true;  // the queue fell to the low mark since the last delay cut
  double cascade_start_rate_bytes_per_s_ = 0;  // the rate before the first cut since it did
  // Delivery rate measured when start-up ended (drain and cruise entry are fractions of it).
  double startup_delivery_bytes_per_s_ = 0;
  // Added to the start-up exit threshold after a handover from a yielding controller:
  // the queue that other flows already kept then (see on_handover).
  Duration startup_queue_allowance_{0};
  // That queue was a buffer-filling flow's (above kCompetitorAtSwitchMarks marks): its
  // sawtooth moves the queue by more than the exit threshold, so the start-up ends on
  // loss, as TCP's slow start does against it (see on_queue_sample).
  bool startup_until_loss_ = false;
  // Losses until then belong to the start-up's overshoot, already answered (leave_startup).
  Timestamp overshoot_answered_until_{0};

  // Rounds of one smoothed RTT, for the slow decisions (competition, probing).
  Timestamp round_start_{0};
  Duration round_min_queue_ = Duration::infinite();
  // Competition detector: the lowest per-round queue delay since the window start.
  Timestamp competition_window_start_{0};
  Duration window_min_queue_ = Duration::infinite();
  // Competitive mode: time of the next probe, and the probe in progress.
  Timestamp next_probe_{0};
  bool probing_ = false;
  Timestamp probe_end_{0};
  double rate_before_probe_ = 0;
  int low_rounds_in_probe_ = 0;
  // Memory of the last competitive episode (see kCompetitorMemory).
  bool left_competitive_ = false;
  Timestamp left_competitive_at_{0};
  double competitive_rate_bytes_per_s_ = 0;
  // Competitive mode's CUBIC state (RFC 9438), windows in bytes (for weight N, the sum
  // of N virtual flows' windows):
  // the epoch's start (moved on while the rate does not grow), W_max, the window at the
  // epoch's start, K in seconds, and the previous W_max for fast convergence.
  Timestamp cubic_epoch_start_{0};
  double cubic_w_max_ = 0;
  double cubic_w_epoch_ = 0;
  double cubic_k_s_ = 0;
  double cubic_last_max_ = 0;

  // Loss statistics: fractions of transmissions declared lost, weighted per transmission.
  double recent_loss_ = 0;
  double long_term_loss_ = 0;
  uint64_t transmissions_ = 0;
};

}  // namespace curvecp
