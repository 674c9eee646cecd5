// `chicago`: a rate-based controller in the spirit of CurveCP's decongestion design.
//
// What it follows
// - CurveCP / the reference "Chicago" scheduler (CURVECP.md 7): the controller sets a
//   sending *rate* (pacing), not a window; the rate grows additively by a constant amount
//   per unit of time, independent of the RTT (7.3 step 5c), and falls multiplicatively
//   when the RTT rises above slow-moving water marks (7.3 steps 3-5d).
// - LEDBAT (RFC 6817): queueing delay = RTT - base delay, with the base delay kept as a
//   history of per-interval minima (cc_base_delay.h); a small target queue delay.
// - HyStart (Ha & Rhee 2011) / BBR (Cardwell et al. 2016): start-up doubles per RTT and
//   ends when the per-round minimum RTT rises by clamp(base/8, 4 ms, 16 ms); then a drain
//   phase below the measured delivery rate empties the start-up queue (BBR DRAIN).
// - Copa (Arun & Balakrishnan, NSDI 2018) mode switch: when the queue stays high however
//   much we back off, a buffer-filling (loss-based) flow shares the bottleneck; we then
//   switch to a loss-based AIMD ("competitive") to hold our share, and probe now and then
//   (a short deep backoff, like BBR's PROBE_RTT) to see whether the queue empties without
//   the competitor, in which case we return to the delay mode.
// - Loss discrimination (in the spirit of TCP Westwood/Veno and the CurveCP note that
//   loss is a weak signal): a loss is congestion only when the queue delay is elevated,
//   or when the recent loss rate clearly exceeds the long-term loss rate. Random loss
//   without a delay rise leaves the rate alone.
//
// Where it departs from the reference: none of its limits (no 15k packets/s ceiling, no
// pacing floor, no one-block-per-wake-up, no 80 s ramp, CURVECP.md 9 items 1-5). The
// additive increase is ~36x larger (1 MB/s per second, against 27.8 blocks/s per second)
// so that several flows converge within seconds at tens of Mbit/s. Pacing banks up to
// 2 ms of credit so a 1 ms timer still reaches hundreds of MB/s (cc_pacer.h).
//
// Units: rates in bytes per second (double), times as Duration/Timestamp (ns), sizes in
// bytes. Every constant below carries its unit in its name or comment.

#include "scheduler/chicago.h"

#include <algorithm>
#include <cmath>

#include "scheduler/controllers.h"

namespace curvecp {

namespace {

// Nominal full packet on the wire (1088-byte message + 64/96 header + 28 IP/UDP), bytes.
constexpr double kPacketBytes = 1200;
// Before the first RTT sample: 10 packets in flight (RFC 6928's initial window), paced
// at 10 packets per 10 ms, i.e. 1.2 MB/s.
constexpr double kInitialWindowBytes = 10 * kPacketBytes;
constexpr double kInitialRateBytesPerS = kInitialWindowBytes / 0.010;
// Floor of the rate: 10 packets per second, bytes/s.
constexpr double kMinRateBytesPerS = 10 * kPacketBytes;
// Ceiling of the rate, only to keep arithmetic finite: 100 GB/s.
constexpr double kMaxRateBytesPerS = 1e11;
// Window: the rate times this many smoothed RTTs, at least kMinWindowBytes.
constexpr double kWindowRtts = 2.0;
constexpr double kMinWindowBytes = 4 * kPacketBytes;
// Pacing credit (cc_pacer.h), time.
constexpr Duration kPacingCredit = Duration::milliseconds(2);

// Start-up exit: the per-round minimum RTT exceeds the base by clamp(base/8, 4, 16 ms).
constexpr Duration kStartupExitMin = Duration::milliseconds(4);
constexpr Duration kStartupExitMax = Duration::milliseconds(16);
// Drain: pace at this fraction of the delivery rate measured when start-up ended, for
// at most kDrainMaxRounds rounds, then cruise at kCruiseEntryGain of it.
constexpr double kDrainGain = 0.6;
constexpr int kDrainMaxRounds = 8;
constexpr double kCruiseEntryGain = 0.9;

// Cruise (delay mode): queue delay high-water mark clamp(base/8, 2 ms, 8 ms). Above it for
// a whole round: multiply the rate by kCruiseBeta (at most once per two rounds, so the
// previous decrease has been seen); at or below it: add kCruiseIncrease per second.
constexpr Duration kHighWaterMin = Duration::milliseconds(2);
constexpr Duration kHighWaterMax = Duration::milliseconds(8);
constexpr double kCruiseBeta = 0.85;
constexpr double kCruiseIncreaseBytesPerS2 = 1e6;

// Loss discrimination: losses are congestion without a delay rise only when the recent
// loss fraction (EWMA, gain 1/256 per transmission: a memory of ~256 packets) exceeds
// kLossBurstFactor x the long-term fraction plus kLossBurstMargin. The long-term fraction
// is the plain average over the first kLongTermPackets transmissions, then an EWMA with
// gain 1/kLongTermPackets (a memory of ~4096 packets). With 1% random loss the recent
// EWMA has a standard deviation of ~0.44 points, so the 4% threshold is ~7 sigma away;
// a drop-tail overflow during a doubling loses tens of percent and crosses it in ~10
// packets.
constexpr double kLossBurstFactor = 2.0;
constexpr double kLossBurstMargin = 0.02;
constexpr double kRecentLossGain = 1.0 / 256;
constexpr double kLongTermPackets = 4096;
// A timeout multiplies the rate by this (once per round).
constexpr double kTimeoutBeta = 0.5;

// Competition detector: over kCompetitionWindow (time), the queue never fell to the
// high-water mark although we backed off at least kCompetitionDecreases times.
constexpr Duration kCompetitionWindow = Duration::seconds(3);
constexpr uint32_t kCompetitionDecreases = 3;
// Competitive mode: loss-based AIMD, and on entry the rate resumes at
// kCompetitiveEntryGain x the highest rate of the last 2 competition windows.
constexpr double kCompetitiveBeta = 0.7;
constexpr double kCompetitiveIncreaseBytesPerS2 = 1e6;
constexpr double kCompetitiveEntryGain = 0.7;
// Probe for a departed competitor every kProbeInterval: pace at kProbeGain of the rate
// for kProbeRounds rounds; if a round sees the queue at or below the high-water mark,
// return to cruise.
constexpr Duration kProbeInterval = Duration::seconds(10);
constexpr double kProbeGain = 0.5;
constexpr int64_t kProbeRounds = 3;

}  // namespace

ChicagoController::ChicagoController(Rng& rng, Timestamp now)
    : rng_(rng),
      rate_bytes_per_s_(kInitialRateBytesPerS),
      pacer_(kPacingCredit),
      recent_max_rate_(kCompetitionWindow * 2) {
  pacer_.reset(now);
  mode_since_ = now;
  round_start_ = now;
  last_ack_time_ = now;
  low_queue_window_start_ = now;
}

Duration ChicagoController::smoothed_rtt() const {
  if (!has_rtt_) return Duration::milliseconds(100);
  return std::max(srtt_, Duration::microseconds(100));
}

Duration ChicagoController::queue_high_water() const {
  const Duration base = base_.base();
  if (base == Duration::infinite()) return kHighWaterMax;
  return std::clamp(base / 8, kHighWaterMin, kHighWaterMax);
}

double ChicagoController::long_term_gain() const {
  // 1/n over the first packets makes the EWMA the plain average until it has history.
  return 1.0 / std::min(static_cast<double>(std::max<uint64_t>(transmissions_, 1)), kLongTermPackets);
}

void ChicagoController::clamp_rate() {
  rate_bytes_per_s_ = std::clamp(rate_bytes_per_s_, kMinRateBytesPerS, kMaxRateBytesPerS);
}

void ChicagoController::enter(Mode mode, Timestamp now) {
  mode_ = mode;
  mode_since_ = now;
  low_queue_window_start_ = now;
  window_min_queue_ = Duration::infinite();
  window_decreases_ = 0;
  probing_ = false;
  if (mode == Mode::competitive) next_probe_ = now + kProbeInterval;
}

void ChicagoController::decrease(Timestamp now, double factor) {
  rate_bytes_per_s_ *= factor;
  clamp_rate();
  last_decrease_ = now;
  has_decreased_ = true;
  ++window_decreases_;
}

void ChicagoController::start_round(Timestamp now) {
  round_start_ = now;
  round_min_rtt_ = Duration::infinite();
  round_samples_ = 0;
}

void ChicagoController::end_round(Timestamp now) {
  const Duration base = base_.base();
  const bool measured = round_samples_ > 0 && base != Duration::infinite();
  const Duration queue = measured ? round_min_rtt_ - base : Duration{0};
  if (measured) last_round_queue_ = queue;
  const Duration high = queue_high_water();
  const Duration rtt = smoothed_rtt();

  switch (mode_) {
    case Mode::startup: {
      const Duration exit_queue = std::clamp(base / 8, kStartupExitMin, kStartupExitMax);
      if (measured && queue > exit_queue) {
        // The bottleneck is full: its delivery rate is what acks arrived at last round.
        const double delivered = ack_rate_.rate_bytes_per_s(rtt, rtt / 2);
        if (delivered > 0) rate_bytes_per_s_ = delivered;
        rate_bytes_per_s_ *= kDrainGain;
        clamp_rate();
        enter(Mode::drain, now);
      }
      break;
    }
    case Mode::drain: {
      const bool drained = measured && queue <= high / 2;
      if (drained || now - mode_since_ >= rtt * kDrainMaxRounds) {
        rate_bytes_per_s_ = rate_bytes_per_s_ / kDrainGain * kCruiseEntryGain;
        clamp_rate();
        enter(Mode::cruise, now);
      }
      break;
    }
    case Mode::cruise: {
      if (measured) {
        window_min_queue_ = std::min(window_min_queue_, queue);
        // Back off when a whole round sat above the high-water mark, but wait two rounds
        // after the previous decrease: one for it to take effect, one to observe it.
        if (queue > high && (!has_decreased_ || now - last_decrease_ >= rtt * 2)) decrease(now, kCruiseBeta);
      }
      if (now - low_queue_window_start_ >= std::max(kCompetitionWindow, rtt * 10)) {
        const bool competitor = window_min_queue_ != Duration::infinite() && window_min_queue_ > high &&
                                window_decreases_ >= kCompetitionDecreases;
        if (competitor) {
          rate_bytes_per_s_ = std::max(rate_bytes_per_s_, recent_max_rate_.best() * kCompetitiveEntryGain);
          clamp_rate();
          enter(Mode::competitive, now);
        } else {
          low_queue_window_start_ = now;
          window_min_queue_ = Duration::infinite();
          window_decreases_ = 0;
        }
      }
      break;
    }
    case Mode::competitive: {
      if (probing_) {
        if (measured && queue <= high) {
          // The queue emptied once we made room: nobody else keeps it full.
          const double delivered = ack_rate_.rate_bytes_per_s(rtt, rtt / 2);
          rate_bytes_per_s_ = std::max(rate_bytes_per_s_, delivered * kCruiseEntryGain);
          clamp_rate();
          enter(Mode::cruise, now);
        } else if (now >= probe_end_) {
          rate_bytes_per_s_ = rate_before_probe_;
          probing_ = false;
          next_probe_ = now + kProbeInterval;
        }
      } else if (now >= next_probe_) {
        probing_ = true;
        rate_before_probe_ = rate_bytes_per_s_;
        rate_bytes_per_s_ *= kProbeGain;
        clamp_rate();
        probe_end_ = now + rtt * kProbeRounds;
      }
      break;
    }
  }
  start_round(now);
}

void ChicagoController::on_ack(const AckSample& s, const PathState& path) {
  const Timestamp now = s.now;
  const Duration elapsed = std::max(now - last_ack_time_, Duration{0});
  last_ack_time_ = now;
  if (s.bytes_acked > 0) ack_rate_.on_ack(now, s.bytes_acked);

  if (path.has_rtt_sample) {
    srtt_ = path.srtt;
    if (!has_rtt_) {
      has_rtt_ = true;
      // First sample: at least the initial window per RTT (CURVECP.md 7.3 step 1 uses one
      // block per RTT; we start from ten).
      rate_bytes_per_s_ = std::max(rate_bytes_per_s_, kInitialWindowBytes * 1e9 / static_cast<double>(smoothed_rtt().ns));
      clamp_rate();
      start_round(now);
    }
  }
  if (s.has_rtt) {
    base_.on_rtt(now, s.rtt);
    round_min_rtt_ = std::min(round_min_rtt_, s.rtt);
    ++round_samples_;
  }

  const double elapsed_s = elapsed.seconds_f();
  switch (mode_) {
    case Mode::startup:
      // Slow start in rate form: every acknowledged byte adds one byte per RTT, so the
      // rate doubles per RTT while the path keeps up and grows linearly once it does not.
      if (!s.app_limited) {
        rate_bytes_per_s_ += static_cast<double>(s.bytes_acked) * 1e9 / static_cast<double>(smoothed_rtt().ns);
      }
      break;
    case Mode::drain:
      break;
    case Mode::cruise:
      if (!s.app_limited && last_round_queue_ <= queue_high_water()) {
        rate_bytes_per_s_ += kCruiseIncreaseBytesPerS2 * elapsed_s;
      }
      break;
    case Mode::competitive:
      if (!s.app_limited && !probing_) rate_bytes_per_s_ += kCompetitiveIncreaseBytesPerS2 * elapsed_s;
      break;
  }
  clamp_rate();
  if (!probing_) recent_max_rate_.update(rate_bytes_per_s_, now);

  if (has_rtt_ && now - round_start_ >= smoothed_rtt()) end_round(now);
}

void ChicagoController::on_loss(const LossSample& s, const PathState&) {
  const Timestamp now = s.now;
  const double packets = std::max(1.0, std::round(static_cast<double>(s.bytes_lost) / kPacketBytes));
  for (int i = 0; i < static_cast<int>(packets); ++i) {
    recent_loss_ += kRecentLossGain * (1 - recent_loss_);
    long_term_loss_ += long_term_gain() * (1 - long_term_loss_);
  }

  const Duration rtt = smoothed_rtt();
  const bool recently_decreased = has_decreased_ && now - last_decrease_ < rtt;
  if (s.is_timeout) {
    if (!recently_decreased) {
      decrease(now, kTimeoutBeta);
      pacer_.reset(now);
    }
    if (mode_ == Mode::startup || mode_ == Mode::drain) enter(Mode::cruise, now);
    return;
  }
  const bool loss_burst = recent_loss_ > kLossBurstFactor * long_term_loss_ + kLossBurstMargin;
  const bool delay_up = last_round_queue_ > queue_high_water() / 2;
  switch (mode_) {
    case Mode::startup:
      if (loss_burst) {
        const double delivered = ack_rate_.rate_bytes_per_s(rtt, rtt / 2);
        if (delivered > 0) rate_bytes_per_s_ = delivered;
        rate_bytes_per_s_ *= kDrainGain;
        clamp_rate();
        enter(Mode::drain, now);
      }
      break;
    case Mode::drain:
      break;
    case Mode::cruise:
      if ((delay_up || loss_burst) && !recently_decreased) decrease(now, kCruiseBeta);
      break;
    case Mode::competitive:
      if (!probing_ && !recently_decreased) decrease(now, kCompetitiveBeta);
      break;
  }
}

void ChicagoController::on_send(const SendSample& s) {
  pacer_.on_send(s.now, s.bytes, rate_bytes_per_s_);
  ++transmissions_;
  recent_loss_ *= 1 - kRecentLossGain;
  long_term_loss_ *= 1 - long_term_gain();
}

uint64_t ChicagoController::window_bytes() const {
  if (!has_rtt_) return static_cast<uint64_t>(kInitialWindowBytes);
  const double window = rate_bytes_per_s_ * smoothed_rtt().seconds_f() * kWindowRtts;
  return static_cast<uint64_t>(std::max(window, kMinWindowBytes));
}

void ChicagoController::on_idle(Timestamp now) {
  // Banked credit from before the idle period must not turn into a burst.
  pacer_.reset(now);
}

std::unique_ptr<CongestionController> make_chicago_controller(Rng& rng, Timestamp now) {
  return std::make_unique<ChicagoController>(rng, now);
}

}  // namespace curvecp
