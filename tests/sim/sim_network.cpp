#include "tests/sim/sim_network.h"

namespace curvecp::sim {

namespace {

LinkConfig forward_config(const PathConfig& p) {
  LinkConfig c;
  c.rate_bits_per_s = p.rate_bits_per_s;
  c.delay = p.rtt / 2;
  c.queue_limit_bytes = static_cast<uint64_t>(p.buffer.seconds_f() * p.rate_bits_per_s / 8);
  c.loss = p.loss;
  c.burst_enter = p.burst_enter;
  c.burst_exit = p.burst_exit;
  c.burst_loss = p.burst_loss;
  c.reorder = p.reorder;
  c.reorder_delay = p.reorder_delay;
  c.duplicate = p.duplicate;
  return c;
}

LinkConfig reverse_config(const PathConfig& p) {
  LinkConfig c;
  c.delay = p.rtt - p.rtt / 2;
  c.loss = p.reverse_loss;
  c.reorder = p.reverse_reorder;
  c.reorder_delay = p.reorder_delay;
  c.duplicate = p.reverse_duplicate;
  return c;
}

}  // namespace

Network::Network(uint64_t seed, const PathConfig& path)
    : seed_(seed), path_(path), link_rng_(seed * 4 + 1), reverse_rng_(seed * 4 + 2) {
  forward_ = std::make_unique<Link>(events_, link_rng_, forward_config(path));
  reverse_ = std::make_unique<Link>(events_, reverse_rng_, reverse_config(path));
  forward_->set_bin(path.bin);
  reverse_->set_bin(path.bin);
  if (path.host.enabled()) box_ = std::make_unique<HostSchedule>(path.host, seed * 4 + 3);
}

PacketSink Network::through_box(PacketSink sink) {
  if (!box_) return sink;
  return [this, sink = std::move(sink)](Packet&& packet) {
    const Timestamp now = events_.now();
    box_->prune(now);
    const Timestamp runs = box_->running_at(now);
    if (runs == now) {
      sink(std::move(packet));
    } else {
      events_.at(runs, [sink, packet = std::move(packet)]() mutable { sink(std::move(packet)); });
    }
  };
}

Result<StreamFlow*> Network::add_stream_flow(const StreamFlowConfig& config, Timestamp start) {
  const auto id = static_cast<uint32_t>(flows_.size());
  flow_rngs_.push_back(std::make_unique<SeededRng>(seed_ * 1000003 + id * 7919 + 3));
  StreamFlowConfig with_bin = config;
  with_bin.bin = path_.bin;
  with_bin.timer_granularity = path_.timer_granularity;
  with_bin.host = path_.host;
  with_bin.host_seed = seed_ * 1000003 + id * 7919 + 5;
  auto created = StreamFlow::create(events_, *flow_rngs_.back(), id, with_bin);
  if (!created) return created.error();
  StreamFlow* flow = created.value().get();
  flow->set_paths(
      [this, sink = through_box([flow](Packet&& q) { flow->deliver_to_server(std::move(q)); })](Packet&& p) {
        forward_->send(std::move(p), sink);
      },
      [this, sink = through_box([flow](Packet&& q) { flow->deliver_to_client(std::move(q)); })](Packet&& p) {
        reverse_->send(std::move(p), sink);
      });
  flows_.push_back(std::move(created.value()));
  events_.at(start, [flow] { flow->start(); });
  return flow;
}

TcpFlow& Network::add_tcp_flow(TcpAlgorithm algorithm, Timestamp start) {
  const auto id = static_cast<uint32_t>(flows_.size());
  auto owned = std::make_unique<TcpFlow>(events_, algorithm, id, path_.bin);
  TcpFlow* flow = owned.get();
  flow->set_paths(
      [this, sink = through_box([flow](Packet&& q) { flow->deliver_to_receiver(std::move(q)); })](Packet&& p) {
        forward_->send(std::move(p), sink);
      },
      [this, sink = through_box([flow](Packet&& q) { flow->deliver_to_sender(std::move(q)); })](Packet&& p) {
        reverse_->send(std::move(p), sink);
      });
  flows_.push_back(std::move(owned));
  events_.at(start, [flow] { flow->start(); });
  return *flow;
}

Flow& Network::adopt_flow(std::unique_ptr<Flow> flow, Timestamp start) {
  Flow* f = flow.get();
  flows_.push_back(std::move(flow));
  events_.at(start, [f] { f->start(); });
  return *f;
}

}  // namespace curvecp::sim
