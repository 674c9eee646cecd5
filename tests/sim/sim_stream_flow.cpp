#include "tests/sim/sim_stream_flow.h"

#include <algorithm>
#include <array>

namespace curvecp::sim {

namespace {

constexpr size_t kMaxMessageBytes = 1088;  // CURVECP.md 6.1
constexpr size_t kChunkBytes = 16384;      // application read/write granularity

uint64_t mix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ULL;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
  return x ^ (x >> 31);
}

void fill_pattern(uint64_t offset, uint8_t* out, size_t n) {
  for (size_t i = 0; i < n; ++i) out[i] = pattern_byte(offset + i);
}

}  // namespace

uint8_t pattern_byte(uint64_t offset) { return static_cast<uint8_t>(mix64(offset >> 3) >> (8 * (offset & 7))); }

Result<std::unique_ptr<StreamFlow>> StreamFlow::create(EventQueue& events, Rng& rng, uint32_t flow_id,
                                                       const StreamFlowConfig& config) {
  StreamConfig client_config;
  client_config.role = StreamRole::client;
  client_config.controller = config.controller;
  client_config.send_buffer_bytes = config.buffer_bytes;
  client_config.receive_buffer_bytes = config.buffer_bytes;
  StreamConfig server_config = client_config;
  server_config.role = StreamRole::server;
  client_config.priority = config.priority;
  auto client = Stream::create(client_config, rng, events.now());
  if (!client) return client.error();
  auto server = Stream::create(server_config, rng, events.now());
  if (!server) return server.error();
  return std::unique_ptr<StreamFlow>(
      new StreamFlow(events, flow_id, config, std::move(client.value()), std::move(server.value())));
}

StreamFlow::StreamFlow(EventQueue& events, uint32_t flow_id, StreamFlowConfig config, std::unique_ptr<Stream> client,
                       std::unique_ptr<Stream> server)
    : events_(events), flow_id_(flow_id), config_(std::move(config)), client_(std::move(client)), server_(std::move(server)) {
  metrics_.label = config_.priority.cls == Priority::Class::normal ? config_.controller
                                                                    : "priority-" + format_priority(config_.priority);
  metrics_.bin = config_.bin;
  client_end_.stream = client_.get();
  client_end_.overhead_bytes = kClientPacketOverheadBytes;
  server_end_.stream = server_.get();
  server_end_.overhead_bytes = kServerPacketOverheadBytes;
  if (config_.host.enabled()) {
    client_end_.host = std::make_unique<HostSchedule>(config_.host, config_.host_seed * 2 + 1);
    server_end_.host = std::make_unique<HostSchedule>(config_.host, config_.host_seed * 2 + 2);
  }
}

void StreamFlow::set_paths(std::function<void(Packet&&)> to_server, std::function<void(Packet&&)> to_client) {
  client_end_.send = std::move(to_server);
  server_end_.send = std::move(to_client);
}

void StreamFlow::start() {
  started_ = true;
  metrics_.start = events_.now();
  poke();
}

void StreamFlow::stop() {
  if (!client_closed_) {
    client_->abort();
    client_closed_ = true;
  }
  if (started_) poke();
}

void StreamFlow::poke() {
  pump(client_end_);
  pump(server_end_);
}

void StreamFlow::deliver_to_server(Packet&& packet) { deliver(server_end_, std::move(packet)); }

void StreamFlow::deliver_to_client(Packet&& packet) { deliver(client_end_, std::move(packet)); }

void StreamFlow::deliver(Endpoint& endpoint, Packet&& packet) {
  if (!started_) return;
  const Timestamp now = events_.now();
  Timestamp runs = now;
  if (endpoint.host) {
    endpoint.host->prune(now);
    runs = endpoint.host->running_at(now);
  }
  if (runs == now && endpoint.pending.empty()) {
    endpoint.stream->on_message(now, Bytes(packet.payload.data(), packet.payload.size()));
    pump(endpoint);
    return;
  }
  // The process is stalled: the kernel queues the datagram with its receive time.
  endpoint.pending.emplace_back(now, std::move(packet));
  if (endpoint.drain_at == Timestamp::never()) {
    endpoint.drain_at = runs;
    events_.at(runs, [this, &endpoint] { drain(endpoint); });
  }
}

void StreamFlow::drain(Endpoint& endpoint) {
  endpoint.drain_at = Timestamp::never();
  // As the daemon does (udp_socket.h, Datagram::arrived): each datagram with the time
  // the kernel received it, then one pass of sending at the real time.
  for (auto& [arrived, packet] : endpoint.pending) {
    endpoint.stream->on_message(arrived, Bytes(packet.payload.data(), packet.payload.size()));
  }
  endpoint.pending.clear();
  pump(endpoint);
}

void StreamFlow::run_application() {
  const Timestamp now = events_.now();
  std::array<uint8_t, kChunkBytes> chunk;
  // Client: upload the pattern, then end the stream.
  while (!client_closed_) {
    uint64_t want = std::min<uint64_t>(client_->send_space(), kChunkBytes);
    if (config_.bytes > 0) want = std::min(want, config_.bytes - written_);
    if (want == 0) break;
    fill_pattern(written_, chunk.data(), want);
    const size_t n = client_->write(Bytes(chunk.data(), want));
    written_ += n;
    if (n < want) break;
  }
  if (!client_closed_ && config_.bytes > 0 && written_ == config_.bytes) {
    client_->close_write(config_.fail_at_end);
    client_closed_ = true;
  }
  // Client: discard whatever the server sends (only its end of stream).
  while (client_->readable() > 0) client_->read(MutableBytes(chunk.data(), chunk.size()));
  // Server: read, verify, count.
  while (server_->readable() > 0) {
    const size_t n = server_->read(MutableBytes(chunk.data(), chunk.size()));
    if (n == 0) break;
    for (size_t i = 0; i < n; ++i) {
      if (chunk[i] != pattern_byte(read_ + i)) ++metrics_.corrupt_bytes;
    }
    read_ += n;
    metrics_.record_delivery(now, n);
  }
  if (!metrics_.finished && server_->read_finished()) {
    metrics_.finished = true;
    metrics_.finish_time = now;
    metrics_.end_was_failure = server_->read_failed();
  }
  if (metrics_.finished && !server_closed_) {
    server_->close_write(false);
    server_closed_ = true;
  }
}

void StreamFlow::pump(Endpoint& endpoint) {
  const Timestamp now = events_.now();
  run_application();
  std::array<uint8_t, kMaxMessageBytes> buffer;
  bool sent = false;
  for (;;) {
    const size_t n = endpoint.stream->poll_transmit(now, MutableBytes(buffer.data(), buffer.size()), kMaxMessageBytes);
    if (n == 0) break;
    sent = true;
    Packet packet;
    packet.flow = flow_id_;
    packet.wire_bytes = static_cast<uint32_t>(n + endpoint.overhead_bytes);
    packet.payload.assign(buffer.begin(), buffer.begin() + static_cast<std::ptrdiff_t>(n));
    if (&endpoint == &client_end_) ++metrics_.sender_packets;
    endpoint.send(std::move(packet));
  }
  if (sent) run_application();
  arm(endpoint, endpoint.stream->next_timeout());
}

void StreamFlow::arm(Endpoint& endpoint, Timestamp deadline) {
  if (deadline == Timestamp::never()) return;
  const Timestamp now = events_.now();
  if (deadline <= now) {
    // The stream asks to be called again at once although it just had nothing to send;
    // step the clock by 1 us rather than spin, and count it.
    ++idle_wakeups_;
    deadline = now + Duration::microseconds(1);
  }
  if (config_.timer_granularity.ns > 0) {
    const int64_t g = config_.timer_granularity.ns;
    deadline = Timestamp{(deadline.ns + g - 1) / g * g};
  }
  // A stalled process wakes when the stall ends.
  if (endpoint.host) deadline = endpoint.host->running_at(deadline);
  if (deadline >= endpoint.timer_at) return;  // an earlier wake-up is already pending
  endpoint.timer_at = deadline;
  events_.at(deadline, [this, &endpoint, deadline] {
    if (endpoint.timer_at != deadline) return;  // superseded by an earlier timer
    endpoint.timer_at = Timestamp::never();
    pump(endpoint);
  });
}

}  // namespace curvecp::sim
