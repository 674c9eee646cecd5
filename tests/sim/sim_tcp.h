// Packet-level TCP sender models used as competing traffic in the simulator: NewReno
// (RFC 5681/6582 with SACK-style loss detection, RFC 6675) and CUBIC (RFC 8312, without
// HyStart). Bulk senders with unlimited data, MSS-sized packets, no pacing (ack-clocked,
// like Linux without fq), a receiver that acknowledges every packet with a cumulative ack
// plus the sequence number that triggered it (a one-block SACK).
//
// These are models, not kernel TCP: enough of the window dynamics to load a bottleneck
// the way loss-based TCP does (fill the buffer, halve or back off by 0.7 on loss).
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <set>
#include <string_view>

#include "tests/sim/sim_link.h"

namespace curvecp::sim {

enum class TcpAlgorithm : uint8_t { newreno, cubic };

constexpr uint32_t kTcpWireBytes = 1500;     // IP packet of a full segment
constexpr uint32_t kTcpPayloadBytes = 1448;  // 1500 - 20 IP - 32 TCP with timestamps
constexpr uint32_t kTcpAckWireBytes = 52;

class TcpSender {
 public:
  // `send` puts a packet on the forward path. `events` must outlive the sender.
  TcpSender(EventQueue& events, TcpAlgorithm algorithm, uint32_t flow, std::function<void(Packet&&)> send);

  void start();
  void on_ack(const Packet& ack);
  void stop() { stopped_ = true; }

  double cwnd_packets() const { return cwnd_; }
  uint64_t retransmissions() const { return retransmissions_; }
  uint64_t timeouts() const { return timeouts_; }
  std::string_view name() const { return algorithm_ == TcpAlgorithm::cubic ? "cubic" : "newreno"; }

 private:
  struct Segment {
    Timestamp sent;
    bool sacked = false;
    bool lost = false;
    bool retransmitted = false;
  };
  void transmit();
  void send_segment(uint64_t seq, bool retransmission);
  void on_congestion_event(Timestamp now);
  void grow(Timestamp now, uint64_t newly_acked);
  void arm_rto();
  void on_rto(uint64_t generation);
  Duration rto() const;

  EventQueue& events_;
  TcpAlgorithm algorithm_;
  uint32_t flow_;
  std::function<void(Packet&&)> send_;
  bool stopped_ = false;

  uint64_t snd_una_ = 0;
  uint64_t snd_nxt_ = 0;
  std::deque<Segment> segments_;  // [snd_una_, snd_nxt_)
  uint64_t highest_sacked_ = 0;
  bool any_sacked_ = false;
  uint64_t pipe_ = 0;  // packets believed in flight (RFC 6675 "pipe")
  uint64_t lost_pending_ = 0;  // lost, not yet retransmitted
  uint64_t retx_scan_ = 0;     // no lost-pending segment below this sequence number
  uint64_t loss_scan_ = 0;     // segments below this were examined by loss detection
  double cwnd_ = 10;
  double ssthresh_ = 1e12;
  bool in_recovery_ = false;
  bool recovery_after_timeout_ = false;
  uint64_t recovery_point_ = 0;

  // RFC 6298 estimator, seconds.
  bool has_rtt_ = false;
  double srtt_s_ = 0;
  double rttvar_s_ = 0;
  double min_rtt_s_ = 1e9;
  int rto_backoff_ = 0;
  uint64_t rto_generation_ = 0;
  Timestamp rto_deadline_ = Timestamp::never();

  // CUBIC state (RFC 8312), windows in packets, times in seconds.
  double w_max_ = 0;
  double w_last_max_ = 0;
  double k_s_ = 0;
  Timestamp epoch_start_ = Timestamp::never();
  double w_est_ = 0;

  uint64_t retransmissions_ = 0;
  uint64_t timeouts_ = 0;
};

// Receives segments, delivers in-order payload bytes to `on_delivered`, acknowledges each.
class TcpReceiver {
 public:
  TcpReceiver(uint32_t flow, std::function<void(Packet&&)> send_ack, std::function<void(uint64_t bytes)> on_delivered);
  void on_segment(const Packet& segment);

 private:
  uint32_t flow_;
  std::function<void(Packet&&)> send_ack_;
  std::function<void(uint64_t)> on_delivered_;
  uint64_t rcv_nxt_ = 0;
  std::set<uint64_t> out_of_order_;
};

}  // namespace curvecp::sim
