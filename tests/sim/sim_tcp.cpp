#include "tests/sim/sim_tcp.h"

#include <algorithm>
#include <cmath>

namespace curvecp::sim {

namespace {
constexpr double kCubicC = 0.4;         // RFC 8312 C, packets / s^3
constexpr double kCubicBeta = 0.7;      // RFC 8312 beta_cubic
constexpr double kRenoBeta = 0.5;       // RFC 5681
constexpr uint64_t kDupThresh = 3;      // RFC 6675 DupThresh, packets
constexpr double kMinRtoS = 0.2;        // Linux TCP_RTO_MIN, seconds
constexpr double kInitialRtoS = 1.0;    // RFC 6298
}  // namespace

TcpSender::TcpSender(EventQueue& events, TcpAlgorithm algorithm, uint32_t flow, std::function<void(Packet&&)> send)
    : events_(events), algorithm_(algorithm), flow_(flow), send_(std::move(send)) {}

void TcpSender::start() { transmit(); }

Duration TcpSender::rto() const {
  double rto_s = has_rtt_ ? std::max(kMinRtoS, srtt_s_ + 4 * rttvar_s_) : kInitialRtoS;
  rto_s *= std::pow(2.0, std::min(rto_backoff_, 6));
  return Duration::nanoseconds(static_cast<int64_t>(rto_s * 1e9));
}

void TcpSender::arm_rto() {
  const bool pending = rto_deadline_ != Timestamp::never();
  rto_deadline_ = events_.now() + rto();
  // One timer event at a time: an early event re-schedules itself to the deadline.
  if (!pending) {
    const uint64_t generation = ++rto_generation_;
    events_.at(rto_deadline_, [this, generation] { on_rto(generation); });
  }
}

void TcpSender::on_rto(uint64_t generation) {
  if (generation != rto_generation_ || stopped_) return;
  const Timestamp now = events_.now();
  if (snd_una_ == snd_nxt_) {
    rto_deadline_ = Timestamp::never();
    return;
  }
  if (now < rto_deadline_) {
    const uint64_t next = ++rto_generation_;
    events_.at(rto_deadline_, [this, next] { on_rto(next); });
    return;
  }
  rto_deadline_ = Timestamp::never();
  ++timeouts_;
  // RFC 5681 3.1 / RFC 6298 5.5: everything unacknowledged is presumed lost, the window
  // collapses to one packet and the timer backs off.
  for (Segment& s : segments_) {
    if (s.sacked) continue;
    if (!s.lost) {
      --pipe_;
      ++lost_pending_;
    } else if (s.retransmitted) {
      --pipe_;
      ++lost_pending_;
    }
    s.lost = true;
    s.retransmitted = false;
  }
  retx_scan_ = snd_una_;
  on_congestion_event(now);
  cwnd_ = 1;
  in_recovery_ = true;
  recovery_after_timeout_ = true;
  recovery_point_ = snd_nxt_;
  ++rto_backoff_;
  transmit();
  arm_rto();
}

void TcpSender::send_segment(uint64_t seq, bool retransmission) {
  Segment& s = segments_[seq - snd_una_];
  s.sent = events_.now();
  if (retransmission) {
    s.retransmitted = true;
    --lost_pending_;
    ++retransmissions_;
  }
  ++pipe_;
  Packet p;
  p.flow = flow_;
  p.wire_bytes = kTcpWireBytes;
  p.tcp_seq = seq;
  send_(std::move(p));
  if (rto_deadline_ == Timestamp::never()) arm_rto();
}

void TcpSender::transmit() {
  if (stopped_) return;
  while (static_cast<double>(pipe_) < cwnd_) {
    if (lost_pending_ > 0) {
      retx_scan_ = std::max(retx_scan_, snd_una_);
      while (retx_scan_ < snd_nxt_) {
        const Segment& s = segments_[retx_scan_ - snd_una_];
        if (s.lost && !s.retransmitted && !s.sacked) break;
        ++retx_scan_;
      }
      if (retx_scan_ < snd_nxt_) {
        send_segment(retx_scan_, true);
        continue;
      }
      lost_pending_ = 0;  // defensive: nothing left to repair
    }
    segments_.push_back(Segment{});
    ++snd_nxt_;
    send_segment(snd_nxt_ - 1, false);
  }
}

void TcpSender::on_congestion_event(Timestamp) {
  if (algorithm_ == TcpAlgorithm::newreno) {
    ssthresh_ = std::max(cwnd_ * kRenoBeta, 2.0);
  } else {
    // RFC 8312 4.6 fast convergence.
    if (cwnd_ < w_last_max_) {
      w_last_max_ = cwnd_;
      w_max_ = cwnd_ * (1 + kCubicBeta) / 2;
    } else {
      w_last_max_ = cwnd_;
      w_max_ = cwnd_;
    }
    ssthresh_ = std::max(cwnd_ * kCubicBeta, 2.0);
    epoch_start_ = Timestamp::never();
  }
  cwnd_ = ssthresh_;
}

void TcpSender::grow(Timestamp now, uint64_t newly_acked) {
  if (newly_acked == 0) return;
  const double acked = static_cast<double>(newly_acked);
  if (cwnd_ < ssthresh_) {
    cwnd_ += acked;
    return;
  }
  if (algorithm_ == TcpAlgorithm::newreno) {
    cwnd_ += acked / cwnd_;
    return;
  }
  if (epoch_start_ == Timestamp::never()) {
    epoch_start_ = now;
    if (cwnd_ < w_max_) {
      k_s_ = std::cbrt((w_max_ - cwnd_) / kCubicC);
    } else {
      k_s_ = 0;
      w_max_ = cwnd_;
    }
    w_est_ = cwnd_;
  }
  const double rtt_s = has_rtt_ ? min_rtt_s_ : 0.1;
  const double t = (now - epoch_start_).seconds_f() + rtt_s;
  const double target = kCubicC * std::pow(t - k_s_, 3) + w_max_;
  // RFC 8312 4.2: Reno-friendly estimate, 3(1-beta)/(1+beta) packets per RTT.
  w_est_ += acked * 3 * (1 - kCubicBeta) / (1 + kCubicBeta) / cwnd_;
  if (target > cwnd_) {
    cwnd_ += (std::min(target, 1.5 * cwnd_) - cwnd_) / cwnd_ * acked;
  } else {
    cwnd_ += 0.01 / cwnd_ * acked;
  }
  cwnd_ = std::max(cwnd_, w_est_);
}

void TcpSender::on_ack(const Packet& ack) {
  if (stopped_) return;
  const Timestamp now = events_.now();
  uint64_t newly_acked = 0;
  const uint64_t sack = ack.tcp_sack_seq;
  if (sack >= snd_una_ && sack < snd_nxt_) {
    Segment& s = segments_[sack - snd_una_];
    if (!s.sacked) {
      if (!s.retransmitted && !s.lost) {
        // Karn: only never-retransmitted segments give RTT samples.
        const double rtt_s = (now - s.sent).seconds_f();
        if (!has_rtt_) {
          srtt_s_ = rtt_s;
          rttvar_s_ = rtt_s / 2;
          has_rtt_ = true;
        } else {
          rttvar_s_ = 0.75 * rttvar_s_ + 0.25 * std::abs(srtt_s_ - rtt_s);
          srtt_s_ = 0.875 * srtt_s_ + 0.125 * rtt_s;
        }
        min_rtt_s_ = std::min(min_rtt_s_, rtt_s);
      }
      if (!s.lost || s.retransmitted) {
        --pipe_;
      } else {
        --lost_pending_;
      }
      s.sacked = true;
      ++newly_acked;
      if (!any_sacked_ || sack > highest_sacked_) highest_sacked_ = sack;
      any_sacked_ = true;
    }
  }
  bool advanced = false;
  while (snd_una_ < ack.tcp_cum_ack && snd_una_ < snd_nxt_) {
    const Segment& s = segments_.front();
    if (!s.sacked) {
      ++newly_acked;
      if (!s.lost || s.retransmitted) {
        --pipe_;
      } else {
        --lost_pending_;
      }
    }
    segments_.pop_front();
    ++snd_una_;
    advanced = true;
  }
  if (advanced) {
    rto_backoff_ = 0;
    if (snd_una_ < snd_nxt_) {
      arm_rto();
    } else {
      rto_deadline_ = Timestamp::never();
      ++rto_generation_;
    }
  }
  // RFC 6675-style detection: a segment is lost once kDupThresh later segments are sacked
  // (counted by sequence distance, as FACK does).
  bool new_loss = false;
  uint64_t first_new_loss = 0;
  if (any_sacked_ && highest_sacked_ >= kDupThresh) {
    const uint64_t limit = std::min(highest_sacked_ - kDupThresh + 1, snd_nxt_);
    loss_scan_ = std::max(loss_scan_, snd_una_);
    for (; loss_scan_ < limit; ++loss_scan_) {
      Segment& s = segments_[loss_scan_ - snd_una_];
      if (s.sacked || s.lost) continue;
      s.lost = true;
      --pipe_;
      ++lost_pending_;
      if (!new_loss) first_new_loss = loss_scan_;
      new_loss = true;
      retx_scan_ = std::min(retx_scan_, loss_scan_);
    }
  }
  if (in_recovery_ && snd_una_ >= recovery_point_) {
    in_recovery_ = false;
    recovery_after_timeout_ = false;
  }
  if (new_loss && (!in_recovery_ || first_new_loss >= recovery_point_)) {
    on_congestion_event(now);
    in_recovery_ = true;
    recovery_after_timeout_ = false;
    recovery_point_ = snd_nxt_;
  }
  // Fast recovery holds the window (RFC 6675); after a timeout it slow-starts from one
  // packet (RFC 5681 3.1).
  if (!in_recovery_ || recovery_after_timeout_) grow(now, newly_acked);
  transmit();
}

TcpReceiver::TcpReceiver(uint32_t flow, std::function<void(Packet&&)> send_ack, std::function<void(uint64_t)> on_delivered)
    : flow_(flow), send_ack_(std::move(send_ack)), on_delivered_(std::move(on_delivered)) {}

void TcpReceiver::on_segment(const Packet& segment) {
  const uint64_t seq = segment.tcp_seq;
  if (seq == rcv_nxt_) {
    uint64_t delivered = 1;
    ++rcv_nxt_;
    while (!out_of_order_.empty() && *out_of_order_.begin() == rcv_nxt_) {
      out_of_order_.erase(out_of_order_.begin());
      ++rcv_nxt_;
      ++delivered;
    }
    on_delivered_(delivered * kTcpPayloadBytes);
  } else if (seq > rcv_nxt_) {
    out_of_order_.insert(seq);
  }
  Packet ack;
  ack.flow = flow_;
  ack.wire_bytes = kTcpAckWireBytes;
  ack.tcp_is_ack = true;
  ack.tcp_cum_ack = rcv_nxt_;
  ack.tcp_sack_seq = seq;
  send_ack_(std::move(ack));
}

}  // namespace curvecp::sim
