#include "tests/sim/sim_tcp_flow.h"

namespace curvecp::sim {

TcpFlow::TcpFlow(EventQueue& events, TcpAlgorithm algorithm, uint32_t flow_id, Duration bin)
    : events_(events),
      sender_(events, algorithm, flow_id,
              [this](Packet&& p) {
                ++packets_sent_;
                to_receiver_(std::move(p));
              }),
      receiver_(
          flow_id, [this](Packet&& p) { to_sender_(std::move(p)); },
          [this](uint64_t bytes) { metrics_.record_delivery(events_.now(), bytes); }) {
  metrics_.label = std::string(sender_.name());
  metrics_.bin = bin;
}

void TcpFlow::set_paths(std::function<void(Packet&&)> to_receiver, std::function<void(Packet&&)> to_sender) {
  to_receiver_ = std::move(to_receiver);
  to_sender_ = std::move(to_sender);
}

const FlowMetrics& TcpFlow::metrics() const {
  metrics_.sender_packets = packets_sent_;
  metrics_.sender_retransmissions = sender_.retransmissions();
  return metrics_;
}

}  // namespace curvecp::sim
