// `reference-chicago`: the congestion controller of the reference curvecpmessage.c
// (NaCl 20110221), exactly as CURVECP.md 7 describes it, as a baseline to compare with.
//
// Departures, all forced by our setting and none visible in the rate it computes:
// * A monotonic clock whose zero is arbitrary replaces the wall clock, so "lastedge = 0",
//   "lastdoubling = 0", "lastpanic = 0" and "lastblocktime = 0" (never happened) are
//   explicit states (CURVECP.md 7.3 note); with the reference's 1970 epoch they make the
//   time differences enormous, which is what the "never" branches below reproduce.
// * N is capped at 2^40 ns (about 18 minutes per block) so that 64-bit arithmetic cannot
//   overflow; the reference has no bound (7.4), and no real connection gets near it.
// * RTT samples below 1 ns are taken as 1 ns, so that "rtt_average = 0" keeps meaning
//   "no sample yet".
// * The stream may call next_send_time() many times between transmissions; the rule is
//   the same: at most one block per N since the last one (7.2), no bursts.
// * The reference's other hard limit, 128 blocks in flight (7), is kept as a window of
//   128 full messages; the 131072-byte receive window is the stream's business.
// Units: every time and N are int64 nanoseconds.
#include <algorithm>
#include <cstdint>
#include <cstdlib>

#include "scheduler/congestion.h"
#include "scheduler/controllers.h"

namespace curvecp {

namespace {

constexpr int64_t kSecond = 1'000'000'000;
constexpr int64_t kMaxN = int64_t{1} << 40;
constexpr uint64_t kBlockTableEntries = 128;
constexpr uint64_t kFullMessageBytes = 1088;

class ReferenceChicago final : public CongestionController {
 public:
  ReferenceChicago(Rng& rng, Timestamp now) : rng_(rng), last_speed_adjustment_(now.ns) {}

  std::string_view name() const override { return "reference-chicago"; }

  void on_send(const SendSample& s) override {
    has_last_block_ = true;
    last_block_time_ = s.now.ns;
  }

  Timestamp next_send_time(Timestamp now) const override {
    // 7.2: a transmission only when now >= lastblocktime + N.
    if (!has_last_block_) return now;
    const Timestamp due{last_block_time_ + n_};
    return due > now ? due : now;
  }

  uint64_t window_bytes() const override { return kBlockTableEntries * kFullMessageBytes; }

  Duration retransmit_timeout(const PathState&) const override { return Duration{rtt_timeout_}; }

  double rate_bytes_per_s() const override { return 1024.0 * 1e9 / static_cast<double>(n_); }

  void on_ack(const AckSample& s, const PathState&) override {
    if (!s.has_rtt) return;
    const int64_t now = s.now.ns;
    const int64_t rtt = std::max<int64_t>(s.rtt.ns, 1);

    // 7.3 step 1: the first sample.
    if (rtt_average_ == 0) {
      n_ = rtt;
      rtt_average_ = rtt;
      rtt_deviation_ = rtt / 2;
      rtt_highwater_ = rtt;
      rtt_lowwater_ = rtt;
    }

    // Step 2: Jacobson/Karels; the 8N term allows for delayed acknowledgements.
    int64_t delta = rtt - rtt_average_;
    rtt_average_ += delta / 8;
    if (delta < 0) delta = -delta;
    delta -= rtt_deviation_;
    rtt_deviation_ += delta / 4;
    rtt_timeout_ = rtt_average_ + 4 * rtt_deviation_ + 8 * n_;

    // Step 3: water marks; the low one rises slowly and falls fairly fast.
    rtt_highwater_ += (rtt - rtt_highwater_) / 1024;
    if (rtt > rtt_lowwater_) {
      rtt_lowwater_ += (rtt - rtt_lowwater_) / 8192;
    } else {
      rtt_lowwater_ += (rtt - rtt_lowwater_) / 256;
    }

    // Step 4: edge flags (5 ms above the high-water mark).
    if (rtt_average_ > rtt_highwater_ + 5'000'000) {
      rtt_seen_recent_high_ = true;
    } else if (rtt_average_ < rtt_lowwater_) {
      rtt_seen_recent_low_ = true;
    }

    // Step 5: periodic adjustment, every 16 N.
    if (now >= last_speed_adjustment_ + 16 * n_) {
      if (now - last_speed_adjustment_ > 10 * kSecond) {
        // a. slow restart after a long pause
        n_ = kSecond + static_cast<int64_t>(rng_.uniform(125'000'000));
      }
      last_speed_adjustment_ = now;  // b
      // c. additive increase: N <- N / (1 + c N^2), about 27.8 blocks/s per second.
      if (n_ >= 131072) {
        if (n_ < 16777216) {
          const int64_t u = n_ / 131072;
          n_ -= u * u * u;
        } else {
          const double d = static_cast<double>(n_);
          n_ = static_cast<int64_t>(d / (1.0 + d * d / 2251799813685248.0));
        }
      }
      // d. edge handling with the previous period's flags
      if (rtt_phase_ == 0) {
        if (rtt_seen_older_high_) {
          rtt_phase_ = 1;
          has_last_edge_ = true;
          last_edge_ = now;
          n_ += static_cast<int64_t>(rng_.uniform(static_cast<uint64_t>(n_ / 4)));
        }
      } else if (rtt_seen_older_low_) {
        rtt_phase_ = 0;
      }
      // e. shift the flags
      rtt_seen_older_high_ = rtt_seen_recent_high_;
      rtt_seen_older_low_ = rtt_seen_recent_low_;
      rtt_seen_recent_high_ = false;
      rtt_seen_recent_low_ = false;
    }

    // Step 6: doubling. "Never" for lastedge selects the fast rule, and "never" for
    // lastdoubling lets the first doubling happen at once (7.3 note).
    bool may_double = true;
    if (has_last_edge_ && now - last_edge_ < 60 * kSecond) {
      if (has_last_doubling_ && now < last_doubling_ + 4 * n_ + 64 * rtt_timeout_ + 5 * kSecond) may_double = false;
    } else {
      if (has_last_doubling_ && now < last_doubling_ + 4 * n_ + 2 * rtt_timeout_) may_double = false;
    }
    if (may_double && n_ > 65535) {
      n_ /= 2;
      has_last_doubling_ = true;
      last_doubling_ = now;
      if (has_last_edge_) last_edge_ = now;
    }
    n_ = std::clamp<int64_t>(n_, 1, kMaxN);
  }

  void on_loss(const LossSample& s, const PathState&) override {
    // 7.4: only the retransmission timeout counts; the reference has no other loss signal.
    if (!s.is_timeout) return;
    const int64_t now = s.now.ns;
    if (!has_last_panic_ || now > last_panic_ + 4 * rtt_timeout_) {
      n_ = std::min(n_ * 2, kMaxN);
      has_last_panic_ = true;
      last_panic_ = now;
      has_last_edge_ = true;
      last_edge_ = now;
    }
  }

 private:
  Rng& rng_;
  int64_t n_ = kSecond;  // nsecperblock
  bool has_last_block_ = false;
  int64_t last_block_time_ = 0;
  int64_t rtt_average_ = 0;
  int64_t rtt_deviation_ = 0;
  int64_t rtt_timeout_ = kSecond;
  int64_t rtt_highwater_ = 0;
  int64_t rtt_lowwater_ = 0;
  bool rtt_seen_recent_high_ = false;
  bool rtt_seen_recent_low_ = false;
  bool rtt_seen_older_high_ = false;
  bool rtt_seen_older_low_ = false;
  int rtt_phase_ = 0;
  int64_t last_speed_adjustment_;
  bool has_last_edge_ = false;
  int64_t last_edge_ = 0;
  bool has_last_doubling_ = false;
  int64_t last_doubling_ = 0;
  bool has_last_panic_ = false;
  int64_t last_panic_ = 0;
};

}  // namespace

std::unique_ptr<CongestionController> make_reference_chicago_controller(Rng& rng, Timestamp now) {
  return std::make_unique<ReferenceChicago>(rng, now);
}

}  // namespace curvecp
