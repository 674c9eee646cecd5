#include "tests/sim/sim_link.h"

#include <algorithm>
#include <cmath>

namespace curvecp::sim {

Link::Link(EventQueue& events, Rng& rng, LinkConfig config) : events_(events), rng_(rng), config_(config) {}

uint64_t Link::backlog_bytes(Timestamp now) const {
  if (config_.rate_bits_per_s <= 0 || busy_until_ <= now) return 0;
  return static_cast<uint64_t>(std::ceil((busy_until_ - now).seconds_f() * config_.rate_bits_per_s / 8));
}

void Link::count(std::vector<uint64_t>& bins, Timestamp when, uint64_t amount) {
  const size_t i = static_cast<size_t>(std::max<int64_t>(when.ns, 0) / bin_.ns);
  if (bins.size() <= i) bins.resize(i + 1, 0);
  bins[i] += amount;
}

bool Link::lose_on_wire() {
  if (config_.burst_enter > 0) {
    if (burst_bad_) {
      if (rng_.unit() < config_.burst_exit) burst_bad_ = false;
    } else if (rng_.unit() < config_.burst_enter) {
      burst_bad_ = true;
    }
    if (burst_bad_ && rng_.unit() < config_.burst_loss) return true;
  }
  return config_.loss > 0 && rng_.unit() < config_.loss;
}

void Link::send(Packet&& packet, const PacketSink& sink) {
  const Timestamp now = events_.now();
  ++counters_.packets_in;
  count(arrivals_per_bin_, now, 1);
  Timestamp departure = now;
  if (config_.rate_bits_per_s > 0) {
    // The queue is a FIFO served at a fixed rate, so it is fully described by the time
    // the last accepted packet finishes serialisation: backlog = (busy_until - now) * rate.
    const uint64_t backlog = backlog_bytes(now);
    if (backlog + packet.wire_bytes > config_.queue_limit_bytes && backlog > 0) {
      ++counters_.queue_drops;
      count(drops_per_bin_, now, 1);
      return;
    }
    const Timestamp start = std::max(now, busy_until_);
    const auto tx_ns = static_cast<int64_t>(std::llround(packet.wire_bytes * 8e9 / config_.rate_bits_per_s));
    departure = start + Duration::nanoseconds(tx_ns);
    busy_until_ = departure;
    delays_.push_back({now, start - now});
  }
  counters_.bytes_out += packet.wire_bytes;
  count(bytes_per_bin_, departure, packet.wire_bytes);
  count(packets_per_bin_, departure, 1);
  if (lose_on_wire()) {
    ++counters_.random_drops;
    count(drops_per_bin_, now, 1);
    return;
  }
  Duration delay = config_.delay;
  if (config_.reorder > 0 && rng_.unit() < config_.reorder) {
    ++counters_.reordered;
    delay += config_.reorder_delay;
  }
  if (config_.duplicate > 0 && rng_.unit() < config_.duplicate) {
    ++counters_.duplicates;
    Packet copy = packet;
    events_.at(departure + delay + Duration::microseconds(1), [sink, copy = std::move(copy)]() mutable { sink(std::move(copy)); });
  }
  events_.at(departure + delay, [sink, packet = std::move(packet)]() mutable { sink(std::move(packet)); });
}

}  // namespace curvecp::sim
