// `background`: less than best effort, for transfers that should use only capacity that
// nobody else wants (priority `background`, docs/PRIORITY.md). Rate-based and paced like
// chicago; a delay-based proportional controller around a very small target queue.
//
// What it follows
// - LEDBAT (RFC 6817): queueing delay = RTT - base delay, the base delay a history of
//   per-interval minima (cc_base_delay.h, kept in PathState so it survives a class
//   switch); an increase proportional to (1 - queue / target) and a decrease
//   proportional to (queue / target - 1); a loss halves the rate at most once per RTT
//   (2.4.2).
// - LEDBAT++ (draft-irtf-iccrg-ledbat-plus-plus-01): slow start that ends when the queue
//   reaches 3/4 of the target (4.1); a multiplicative decrease, rate x (queue / target - 1)
//   per RTT, at most half the rate per RTT (4.3), which lets flows of unequal rates
//   converge to equal shares; periodic slowdowns (4.4): two RTTs after the first slow
//   start ends, and then every 9 times the length of the last slowdown, the rate drops to
//   two packets per RTT for two RTTs and slow-starts back to where it was, so that every
//   background flow on the path sees the queue empty and keeps a true base delay: a
//   latecomer that measured its base delay on top of an earlier flow's queue would
//   otherwise target that queue plus its own and push the earlier flow out.
// - TCP-LP (Kuzmanovic & Knightly, INFOCOM 2003): the goal "use only the excess
//   capacity" and the reasoning that a low-priority flow must infer congestion earlier
//   than the flows it yields to.
//
// Where it departs
// - Timeouts. A loss detected by the retransmission timer halves only when nothing was
//   acknowledged across two timeouts (chicago's rule): one timeout is usually a receiver
//   the host left unscheduled past the RTO, not a lost packet (on_loss).
// - The target. LEDBAT's 100 ms (LEDBAT++'s 60 ms) yields to loss-based TCP, which fills
//   the buffer, but not to our own chicago, which keeps only about 5 ms of queue on real
//   paths (its high-water mark, chicago.cpp): with a 60 ms target a background flow
//   would fill the queue chicago considers congestion and push chicago out. So the
//   target is clamp(base/32, 1.25 ms, 2 ms), a quarter of chicago's mark when that was
//   clamp(base/8, 5 ms, 8 ms) and still below its low-water mark (half the high-water
//   mark, 2.5 ms), so while a chicago flow runs the queue sits above the target most of the time
//   and background backs off multiplicatively; chicago only lets its queue fall below
//   the target for a few hundred ms between its own increases, and background's
//   increase in those gaps is a quarter of chicago's and proportional to the distance to
//   the target. Alone, background holds about the target's worth of queue, which is
//   enough to keep the link busy. The queue signal is the minimum RTT over the last
//   max(srtt / 4, 10 ms), as in chicago, so ack jitter below that does not read as a
//   queue, and the peer's 1 ms delayed acknowledgement is subtracted while we send less
//   than a packet per ms (otherwise a yielding flow reads its own sparse acks as a queue
//   and never climbs back).
// - Rate form. LEDBAT's window changes become rate changes: the increase is chicago's
//   additive increase per unit of time (chicago_increase_bytes_per_s2: RTT-independent
//   up to 40 ms, sqrt(rate) above 20 Mbit/s) x kIncreaseGain x (1 - queue/target),
//   accelerated while the queue stays empty (kAccelerationTime).
// - Decreases once per RTT, not per ack: the signal is an RTT old, and per-ack decreases
//   halved the rate twice per overshoot in the simulator (0.60 utilisation alone). The
//   first decrease of an episode is a fixed 10%; LEDBAT++'s multiplicative decrease
//   (capped at half per RTT) follows only while the queue does not drain (see
//   kNotDrainingRtts).
// - Slow start is followed by a drain (chicago's): the exit signal lags the doubling.
// - Slowdowns resume the rate from before at once (a paced sender can; a slow start back
//   from two packets exited early on its own queue), and come at least kMinSlowdownInterval
//   apart: our base-delay history needs one true minimum per 20 s bucket, so they cost
//   about 1% of the link instead of LEDBAT++'s 10%. A slowdown is skipped while the rate is
//   within 4x of the slowdown rate (it would measure nothing the queue does not show).
// - LEDBAT++'s reduced gain for short base delays (GAIN = 1 / min(16, ceil(2 T / base)))
//   is not needed: our target is far below any base delay it was meant for.
// Nothing is copied from libutp or Linux tcp_lp.c; the shared pieces are ours
// (cc_pacer.h, cc_windowed_filter.h, PathState).

#include "scheduler/background.h"

#include <algorithm>
#include <cmath>

#include "scheduler/cc_trace.h"
#include "scheduler/chicago.h"
#include "scheduler/controllers.h"

namespace curvecp {

namespace {

// Nominal full packet, bytes (as in chicago.cpp).
constexpr double kPacketBytes = 1200;
// Before the first RTT sample: ten packets per 10 ms (chicago's start); after it, at
// least ten packets per RTT.
constexpr double kInitialWindowBytes = 10 * kPacketBytes;
constexpr double kInitialRateBytesPerS = kInitialWindowBytes / 0.010;
// Rate floor: ten packets per second, so RTT samples keep coming while it yields.
constexpr double kMinRateBytesPerS = 10 * kPacketBytes;
constexpr double kMaxRateBytesPerS = 1e11;
// Window: rate x 2 x (srtt + pacing credit), at least four packets (chicago's shape).
constexpr double kWindowRtts = 2.0;
constexpr double kMinWindowBytes = 4 * kPacketBytes;
// Pacing credit and queue filter as in chicago (10 ms, max(srtt / 4, 25 ms)): host noise.
// The credit stays fixed here: chicago's adapts down to 2 ms at high rates on a quiet host
// (chicago.cpp, kMinPacingCredit), which has not been measured for background.
// On the netlab path (20 Mbit/s, 40 ms, 100 ms buffer, load ~2) two background flows
// with 2 ms / 10 ms took 0.013 of the link together, every stall of a few ms reading as
// a queue above the 1.25 ms target; with 10 ms / 25 ms 0.68 (one run each). In the
// simulator the staggered pair then fills 0.81-0.97 (seeds 1-5) instead of 0.935-0.968.
constexpr Duration kPacingCredit = Duration::milliseconds(10);
// Queue signal: minimum RTT over max(srtt / 4, 25 ms), as in chicago.
constexpr int64_t kQueueFilterRttDivisor = 4;
constexpr Duration kQueueFilterMin = Duration::milliseconds(25);
// Target queue delay: clamp(base / 32, 1.25 ms, 2 ms), below chicago's low-water mark
// (2.5 ms; chicago.cpp).
constexpr int64_t kTargetBaseDivisor = 32;
constexpr Duration kTargetMin = Duration::microseconds(1250);
constexpr Duration kTargetMax = Duration::milliseconds(2);
// Slow start ends at 3/4 of the target (LEDBAT++ 4.1). The queue signal lags the rate
// by an RTT, so by then the rate is up to twice the path's: drain at kDrainGain of the
// delivery rate measured then until the queue is below half the target (at most
// kDrainMaxRtts RTTs), then continue at kAfterDrainGain of it (chicago's drain).
constexpr double kSlowStartExitFraction = 0.75;
constexpr double kDrainGain = 0.6;
constexpr int64_t kDrainMaxRtts = 8;
constexpr double kAfterDrainGain = 0.9;
// Increase: kIncreaseGain x chicago's cruise increase (1 MB/s per second at 20 Mbit/s,
// 40 ms) x (1 - queue / target) x (1 + t / kAccelerationTime), where t is how long the
// queue has stayed below half the target: a path that stays empty is filled fast (after
// a competitor leaves), while the short gaps a chicago flow leaves between its own
// increases (a few hundred ms) add little.
constexpr double kChicagoIncreaseBytesPerS2 = 1e6;
constexpr double kIncreaseGain = 0.25;
constexpr Duration kAccelerationTime = Duration::milliseconds(250);
// Our peers delay an acknowledgement by up to kAckDelay (one per two messages or 1 ms,
// ack_scheduler.h): when we send less than one packet per kAckDelay, every RTT sample
// carries it, so it is not queue.
constexpr Duration kAckDelay = Duration::milliseconds(1);
// Decrease, at most once per RTT (its effect is seen an RTT later). An episode starts
// when the queue exceeds the target (and ends when it falls below half of it); its first
// decrease takes kFirstDecrease of the rate: a queue of our own making comes from a rate
// a few percent too high and drains at that. If kNotDrainingRtts
// later the queue is still at least as long and above twice the target, it is not ours
// alone: from then on every RTT takes min(queue / target - 1, kMaxDecrease) (LEDBAT++'s
// multiplicative decrease, capped at half per RTT).
constexpr double kFirstDecrease = 0.1;
constexpr int64_t kNotDrainingRtts = 3;
constexpr double kMaxDecrease = 0.5;
// The acceleration is capped at kMaxAcceleration.
constexpr double kMaxAcceleration = 4;
// Loss: halve, at most once per RTT.
constexpr double kLossBeta = 0.5;
// Slowdowns (LEDBAT++ 4.4): the first kFirstSlowdownRtts RTTs after slow start ends;
// kSlowdownRtts RTTs at kSlowdownPackets per RTT, then the rate from before; the next
// one kSlowdownSpacing times the length of the last one later, but at least
// kMinSlowdownInterval. Skipped while the rate is within kSlowdownSkipFactor of the
// slowdown rate.
constexpr int64_t kFirstSlowdownRtts = 2;
constexpr int64_t kSlowdownRtts = 2;
constexpr double kSlowdownPackets = 2;
constexpr int64_t kSlowdownSpacing = 9;
constexpr Duration kMinSlowdownInterval = Duration::seconds(5);
constexpr double kSlowdownSkipFactor = 4;

}  // namespace

BackgroundController::BackgroundController(Rng&, Timestamp now)
    : rate_bytes_per_s_(kInitialRateBytesPerS),
      pacer_(kPacingCredit),
      recent_min_rtt_(kQueueFilterMin) {
  pacer_.reset(now);
  last_ack_time_ = now;
}

Duration BackgroundController::smoothed_rtt() const {
  if (!has_rtt_) return Duration::milliseconds(100);
  return std::max(srtt_, Duration::microseconds(100));
}

Duration BackgroundController::target() const {
  if (base_delay_ == Duration::infinite()) return kTargetMin;
  return std::clamp(base_delay_ / kTargetBaseDivisor, kTargetMin, kTargetMax);
}

void BackgroundController::trace_state(Timestamp now, const char* event) const {
  if (!cc_trace_enabled()) return;
  cc_trace("%.6f background %s phase=%d rate=%.3fMbit/s queue=%.2fms target=%.2fms srtt=%.2fms base=%.2fms",
           static_cast<double>(now.ns) / 1e9, event, static_cast<int>(phase_), rate_bytes_per_s_ * 8 / 1e6,
           queue_.seconds_f() * 1e3, target().seconds_f() * 1e3, srtt_.seconds_f() * 1e3,
           base_delay_ == Duration::infinite() ? -1.0 : base_delay_.seconds_f() * 1e3);
}

void BackgroundController::clamp_rate() {
  rate_bytes_per_s_ = std::clamp(rate_bytes_per_s_, kMinRateBytesPerS, kMaxRateBytesPerS);
}

void BackgroundController::schedule_slowdown(Timestamp now, Duration after) { next_slowdown_ = now + after; }

void BackgroundController::enter_avoidance(Timestamp now) {
  // The first slowdown comes two RTTs after the first slow start (and its drain) ended.
  if (next_slowdown_ == Timestamp::never()) schedule_slowdown(now, smoothed_rtt() * kFirstSlowdownRtts);
  phase_ = Phase::avoidance;
  low_since_ = Timestamp::never();
  in_episode_ = false;
}

void BackgroundController::start_slowdown(Timestamp now) {
  const double slow_rate = kSlowdownPackets * kPacketBytes / smoothed_rtt().seconds_f();
  if (rate_bytes_per_s_ <= slow_rate * kSlowdownSkipFactor) {
    // Already near the bottom: the queue we see is someone else's, and the rate is too
    // small to hide the base delay. Look again later.
    schedule_slowdown(now, kMinSlowdownInterval);
    return;
  }
  trace_state(now, "slowdown");
  rate_before_slowdown_ = rate_bytes_per_s_;
  rate_bytes_per_s_ = slow_rate;
  clamp_rate();
  phase_ = Phase::slowdown;
  slowdown_started_ = now;
  slowdown_end_ = now + smoothed_rtt() * kSlowdownRtts;
  next_slowdown_ = Timestamp::never();
  ++slowdowns_;
}

void BackgroundController::end_slowdown(Timestamp now) {
  trace_state(now, "slowdown end");
  rate_bytes_per_s_ = rate_before_slowdown_;
  phase_ = Phase::avoidance;
  low_since_ = Timestamp::never();
  in_episode_ = false;
  pacer_.reset(now);
  schedule_slowdown(now, std::max(kMinSlowdownInterval, (now - slowdown_started_) * kSlowdownSpacing));
}

void BackgroundController::leave_slow_start(Timestamp now) {
  const Duration rtt = smoothed_rtt();
  const double delivered = ack_rate_.rate_bytes_per_s(rtt, rtt / 2);
  exit_delivery_bytes_per_s_ = delivered > 0 ? delivered : rate_bytes_per_s_ / 2;
  rate_bytes_per_s_ = exit_delivery_bytes_per_s_ * kDrainGain;
  drain_until_ = now + rtt * kDrainMaxRtts;
  phase_ = Phase::drain;
  trace_state(now, "enter drain");
}

void BackgroundController::decrease(Timestamp now, double ratio) {
  const Duration target = this->target();
  if (!in_episode_) {
    trace_state(now, "decrease (first)");
    // The first decrease of an episode is small: a queue of our own making comes from a
    // rate a few percent above the path's, and drains at this one.
    rate_bytes_per_s_ *= 1 - kFirstDecrease;
    in_episode_ = true;
    episode_decrease_at_ = now;
    queue_at_decrease_ = queue_;
  } else {
    // kNotDrainingRtts after the episode's first decrease its effect is visible: a queue
    // that has not fallen below the level that triggered it (and is above twice the
    // target) is not ours alone, and from then on every RTT takes up to half the rate.
    const bool not_draining = queue_ >= std::max(queue_at_decrease_, target * 2) &&
                              now - episode_decrease_at_ >= smoothed_rtt() * kNotDrainingRtts;
    if (!not_draining) return;
    trace_state(now, "decrease (not draining)");
    rate_bytes_per_s_ *= 1 - std::min(ratio - 1, kMaxDecrease);
  }
  next_decrease_ = now + smoothed_rtt();
}

void BackgroundController::avoidance_step(Timestamp now, bool app_limited, double elapsed_s) {
  const double ratio = queue_.seconds_f() / target().seconds_f();
  if (ratio >= 0.5) {
    low_since_ = Timestamp::never();
  } else {
    in_episode_ = false;
    if (low_since_ == Timestamp::never()) low_since_ = now;
  }
  if (ratio < 1) {
    if (!app_limited) {
      const double acceleration =
          low_since_ == Timestamp::never()
              ? 1.0
              : std::min(kMaxAcceleration, 1.0 + (now - low_since_).seconds_f() / kAccelerationTime.seconds_f());
      rate_bytes_per_s_ += kIncreaseGain * acceleration *
                           chicago_increase_bytes_per_s2(kChicagoIncreaseBytesPerS2, rate_bytes_per_s_, base_delay_) *
                           (1 - ratio) * elapsed_s;
    }
  } else if (now >= next_decrease_) {
    decrease(now, ratio);
  }
  if (now >= next_slowdown_) start_slowdown(now);
}

void BackgroundController::on_queue_sample(Timestamp now, bool app_limited, double elapsed_s) {
  const double ratio = queue_.seconds_f() / target().seconds_f();
  switch (phase_) {
    case Phase::slow_start:
      if (ratio > kSlowStartExitFraction) leave_slow_start(now);
      break;
    case Phase::drain:
      if (ratio <= 0.5 || now >= drain_until_) {
        rate_bytes_per_s_ = exit_delivery_bytes_per_s_ * kAfterDrainGain;
        enter_avoidance(now);
      }
      break;
    case Phase::slowdown:
      if (now >= slowdown_end_) end_slowdown(now);
      break;
    case Phase::avoidance:
      avoidance_step(now, app_limited, elapsed_s);
      break;
  }
  clamp_rate();
}

void BackgroundController::on_ack(const AckSample& s, const PathState& path) {
  const Timestamp now = s.now;
  base_delay_ = path.base_delay.base();
  const double elapsed_s = std::max(now - last_ack_time_, Duration{0}).seconds_f();
  last_ack_time_ = now;
  if (s.bytes_acked > 0) {
    ack_rate_.on_ack(now, s.bytes_acked);
  }
  if (path.has_rtt_sample) {
    srtt_ = path.srtt;
    if (!has_rtt_) {
      has_rtt_ = true;
      rate_bytes_per_s_ =
          std::max(rate_bytes_per_s_, kInitialWindowBytes * 1e9 / static_cast<double>(smoothed_rtt().ns));
      clamp_rate();
    }
  }
  if (phase_ == Phase::slow_start && !s.app_limited) {
    // Slow start in rate form (as chicago's): one byte per RTT per acknowledged byte.
    rate_bytes_per_s_ += static_cast<double>(s.bytes_acked) * 1e9 / static_cast<double>(smoothed_rtt().ns);
    clamp_rate();
  }
  if (s.has_rtt) {
    recent_min_rtt_.set_window(std::max(smoothed_rtt() / kQueueFilterRttDivisor, kQueueFilterMin));
    recent_min_rtt_.update(s.rtt, now);
    // Packets sent less than one per kAckDelay (over the last two RTTs, which covers
    // those now acknowledged) are each acknowledged kAckDelay late.
    const Duration span = smoothed_rtt() * 2;
    const bool sparse = send_rate_.rate_bytes_per_s(span, span / 2) * kAckDelay.seconds_f() < kPacketBytes;
    queue_ = std::max(recent_min_rtt_.best() - base_delay_ - (sparse ? kAckDelay : Duration{0}), Duration{0});
    on_queue_sample(now, s.app_limited, elapsed_s);
    if (cc_trace_enabled() && now - traced_round_ >= smoothed_rtt()) {
      traced_round_ = now;
      trace_state(now, "round");
    }
  }
}

void BackgroundController::on_loss(const LossSample& s, const PathState&) {
  const Timestamp now = s.now;
  // As in chicago: one timeout is one late acknowledgement, not yet congestion. On a busy
  // host the receiver is left unscheduled for tens of ms; a stall longer than the RTO
  // fires it, the acknowledgements then arrive, and the next stall fires it again. Each
  // halved the rate (netlab, busy host: 10 -> 5 -> 2.5 Mbit/s within 44 ms just after the
  // competitor left). Nothing acknowledged across two timeouts is an outage or heavy
  // congestion, and halves.
  if (s.is_timeout && s.timeouts_since_ack < 2) {
    trace_state(now, "timeout");
    return;
  }
  if (has_loss_decrease_ && now - last_loss_decrease_ < smoothed_rtt()) return;
  trace_state(now, s.is_timeout ? "loss halving (timeout)" : "loss halving");
  rate_bytes_per_s_ *= kLossBeta;
  clamp_rate();
  last_loss_decrease_ = now;
  has_loss_decrease_ = true;
  if (phase_ == Phase::slow_start || phase_ == Phase::drain) enter_avoidance(now);
  if (s.is_timeout) pacer_.reset(now);
}

void BackgroundController::on_send(const SendSample& s) {
  pacer_.on_send(s.now, s.bytes, rate_bytes_per_s_);
  send_rate_.on_ack(s.now, s.bytes);
}

uint64_t BackgroundController::window_bytes() const {
  if (!has_rtt_) return static_cast<uint64_t>(kInitialWindowBytes);
  const double window = rate_bytes_per_s_ * (smoothed_rtt() + kPacingCredit).seconds_f() * kWindowRtts;
  return static_cast<uint64_t>(std::max(window, kMinWindowBytes));
}

Duration BackgroundController::retransmit_timeout(const PathState& path) const {
  // Chicago's, for the same reason: a peer that a busy host leaves unscheduled for a
  // while is not a loss (chicago.cpp, kAckDelayAllowance).
  return chicago_retransmit_timeout(path, rate_bytes_per_s_);
}

void BackgroundController::on_handover(const ControllerHandover& h, const PathState& path) {
  // Nothing learnt about the path yet: a slow start is right.
  if (!path.has_rtt_sample) return;
  // A class switch on a live path (docs/PRIORITY.md): start from the rate the path gave
  // the transfer and let the proportional decrease find the excess capacity; the base
  // delay is PathState's, so the first slowdown can wait as after a slow start.
  has_rtt_ = true;
  srtt_ = path.srtt;
  base_delay_ = path.base_delay.base();
  rate_bytes_per_s_ = h.rate_bytes_per_s > 0 ? h.rate_bytes_per_s : rate_bytes_per_s_;
  clamp_rate();
  pacer_.reset(h.now);
  last_ack_time_ = h.now;
  phase_ = Phase::avoidance;
  schedule_slowdown(h.now, smoothed_rtt() * kFirstSlowdownRtts);
}

std::unique_ptr<CongestionController> make_background_controller(Rng& rng, Timestamp now) {
  return std::make_unique<BackgroundController>(rng, now);
}

}  // namespace curvecp
