// A TCP model flow (sim_tcp.h): a bulk sender and its receiver on the simulated path.
#pragma once

#include <functional>

#include "tests/sim/sim_flow.h"
#include "tests/sim/sim_tcp.h"

namespace curvecp::sim {

class TcpFlow final : public Flow {
 public:
  TcpFlow(EventQueue& events, TcpAlgorithm algorithm, uint32_t flow_id, Duration bin);
  // Must be called before start().
  void set_paths(std::function<void(Packet&&)> to_receiver, std::function<void(Packet&&)> to_sender);
  void start() override { sender_.start(); }
  void stop() override { sender_.stop(); }
  const FlowMetrics& metrics() const override;

  void deliver_to_receiver(Packet&& packet) { receiver_.on_segment(packet); }
  void deliver_to_sender(Packet&& packet) { sender_.on_ack(packet); }
  const TcpSender& sender() const { return sender_; }

 private:
  EventQueue& events_;
  std::function<void(Packet&&)> to_receiver_;
  std::function<void(Packet&&)> to_sender_;
  mutable FlowMetrics metrics_;
  TcpSender sender_;
  TcpReceiver receiver_;
  uint64_t packets_sent_ = 0;
};

}  // namespace curvecp::sim
