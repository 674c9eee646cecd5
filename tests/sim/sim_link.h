// One direction of a simulated path: a drop-tail bottleneck queue (bytes) served at a
// fixed rate, then a propagation delay, with optional random loss, Gilbert-Elliott burst
// loss, reordering and duplication on the wire after the queue.
//
// Packets are opaque to the link apart from their wire size; the link hands each one to
// the receiver's callback at its arrival time. All randomness comes from the Rng given
// at construction, so a link is deterministic for a seed.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "core/rng.h"
#include "tests/sim/sim_clock.h"

namespace curvecp::sim {

struct Packet {
  uint32_t flow = 0;        // index of the flow (metrics)
  uint32_t wire_bytes = 0;  // IP bytes: what the bottleneck serialises and queues
  std::vector<uint8_t> payload;  // CurveCP message bytes (stream flows)
  // TCP model fields (sim_tcp.h), in packets.
  uint64_t tcp_seq = 0;
  uint64_t tcp_cum_ack = 0;
  uint64_t tcp_sack_seq = 0;
  bool tcp_is_ack = false;
};

using PacketSink = std::function<void(Packet&&)>;

struct LinkConfig {
  double rate_bits_per_s = 0;       // 0: no rate limit and no queue
  Duration delay{0};                // one-way propagation delay
  uint64_t queue_limit_bytes = 0;   // drop-tail limit on the bytes waiting (incl. the one in service)
  double loss = 0;                  // random loss probability per packet
  // Gilbert-Elliott: per packet, good -> bad with burst_enter, bad -> good with burst_exit;
  // in the bad state a packet is lost with probability burst_loss.
  double burst_enter = 0;
  double burst_exit = 1;
  double burst_loss = 1;
  double reorder = 0;               // probability of extra delay reorder_delay
  Duration reorder_delay{0};
  double duplicate = 0;             // probability of a second copy (sent 1 us later)
};

struct LinkCounters {
  uint64_t packets_in = 0;
  uint64_t queue_drops = 0;
  uint64_t random_drops = 0;
  uint64_t duplicates = 0;
  uint64_t reordered = 0;
  uint64_t bytes_out = 0;  // bytes serialised by the bottleneck
};

class Link {
 public:
  // `events` and `rng` must outlive the link.
  Link(EventQueue& events, Rng& rng, LinkConfig config);

  // Offers a packet at events.now(); `sink` receives it (or copies of it) on arrival.
  void send(Packet&& packet, const PacketSink& sink);

  const LinkConfig& config() const { return config_; }
  const LinkCounters& counters() const { return counters_; }
  // Bytes waiting in the queue at `now` (including the one being serialised).
  uint64_t backlog_bytes(Timestamp now) const;

  // Per-packet queueing delays and per-bin bytes serialised, for metrics.
  struct DelaySample {
    Timestamp time;
    Duration delay;
  };
  const std::vector<DelaySample>& queue_delays() const { return delays_; }
  // Bytes that finished serialisation in bin i = [i*bin, (i+1)*bin).
  const std::vector<uint64_t>& bytes_per_bin() const { return bytes_per_bin_; }
  const std::vector<uint64_t>& drops_per_bin() const { return drops_per_bin_; }
  const std::vector<uint64_t>& packets_per_bin() const { return packets_per_bin_; }
  // Packets offered to the link in bin i.
  const std::vector<uint64_t>& arrivals_per_bin() const { return arrivals_per_bin_; }
  void set_bin(Duration bin) { bin_ = bin; }
  Duration bin() const { return bin_; }

 private:
  bool lose_on_wire();
  void count(std::vector<uint64_t>& bins, Timestamp when, uint64_t amount);

  EventQueue& events_;
  Rng& rng_;
  LinkConfig config_;
  LinkCounters counters_;
  Timestamp busy_until_{0};
  bool burst_bad_ = false;
  Duration bin_ = Duration::milliseconds(100);
  std::vector<DelaySample> delays_;
  std::vector<uint64_t> bytes_per_bin_;
  std::vector<uint64_t> drops_per_bin_;
  std::vector<uint64_t> packets_per_bin_;
  std::vector<uint64_t> arrivals_per_bin_;
};

}  // namespace curvecp::sim
