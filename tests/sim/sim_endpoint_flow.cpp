#include "tests/sim/sim_endpoint_flow.h"

#include <algorithm>
#include <array>

#include "crypto/init.h"
#include "crypto/server_name.h"
#include "tests/sim/sim_network.h"
#include "tests/sim/sim_stream_flow.h"

namespace curvecp::sim {

namespace {

constexpr size_t kDatagramBytes = 1184;   // largest CurveCP packet (CURVECP.md 2.1)
constexpr uint32_t kIpUdpBytes = 28;
constexpr size_t kChunkBytes = 16384;
// The download uses another stretch of the pattern than the upload.
constexpr uint64_t kDownloadPatternOffset = uint64_t{1} << 40;

// Labels only: the simulator carries datagrams between objects, nothing touches a socket.
const Address kClientAddress = *Address::parse("127.0.0.1", 40000);
const Address kServerAddress = *Address::parse("127.0.0.1", 4500);

class CountingNonces final : public NonceSource {
 public:
  Result<Nonce16> next_nonce16() override {
    Nonce16 n{};
    store_le64(n.data(), ++counter_);
    return n;
  }

 private:
  uint64_t counter_ = 0;
};

}  // namespace

Result<std::unique_ptr<EndpointFlow>> EndpointFlow::create(EventQueue& events, Rng& rng, uint32_t flow_id,
                                                           EndpointFlowConfig config) {
  if (!crypto_initialize()) return make_error("libsodium failed to initialise");
  std::unique_ptr<EndpointFlow> f(new EndpointFlow(events, flow_id, std::move(config)));
  EndpointFlowConfig& c = f->config_;
  auto name = encode_server_name("sim.server");
  if (!name) return name.error();
  KeyPair server_keys = KeyPair::generate(rng);
  c.server.name = *name;
  c.server.scheduler = c.controller;
  f->nonces_ = std::make_unique<CountingNonces>();
  auto server = ServerEndpoint::create(c.server, std::move(server_keys.sk), *f->nonces_, rng, events.now());
  if (!server) return server.error();
  f->server_ = std::move(*server);

  ClientEngineConfig& cc = c.client;
  cc.server = kServerAddress;
  cc.stream.controller = c.controller;
  cc.crypto.server_long_term = c.wrong_server_key ? KeyPair::generate(rng).pk : server_keys.pk;
  cc.crypto.server_name = c.wrong_server_name ? *encode_server_name("other.server") : *name;
  if (c.wrong_extension) cc.crypto.server_extension[0] = 1;
  KeyPair me = KeyPair::generate(rng);
  cc.crypto.client_long_term_pk = me.pk;
  cc.crypto.client_long_term_sk = std::move(me.sk);
  rng.fill(cc.crypto.vouch_nonce);
  auto client = ClientEngine::create(std::move(cc), rng, events.now());
  if (!client) return client.error();
  f->client_ = std::move(*client);
  return f;
}

EndpointFlow::EndpointFlow(EventQueue& events, uint32_t flow_id, EndpointFlowConfig config)
    : events_(events), flow_id_(flow_id), config_(std::move(config)) {
  metrics_.label = "endpoints/" + config_.controller;
  metrics_.bin = config_.bin;
}

EndpointFlow::~EndpointFlow() = default;

void EndpointFlow::set_paths(std::function<void(Packet&&)> to_server, std::function<void(Packet&&)> to_client) {
  to_server_ = std::move(to_server);
  to_client_ = std::move(to_client);
}

void EndpointFlow::start() {
  started_ = true;
  metrics_.start = events_.now();
  poke();
}

void EndpointFlow::poke() {
  run_client();
  run_server();
}

Connection* EndpointFlow::server_connection() {
  return server_open_ ? server_->connection(server_id_) : nullptr;
}

void EndpointFlow::client_write(const std::string& bytes) {
  pending_echo_in_ += bytes;
  run_client();
}

// --- deliveries ---

void EndpointFlow::deliver_to_server(Packet&& packet) {
  if (!started_ || server_frozen_) return;
  if (drop_to_server && drop_to_server()) return;
  server_->handle_datagram(events_.now(), kClientAddress, Bytes(packet.payload.data(), packet.payload.size()));
  drain_server_events();
  run_server();
}

void EndpointFlow::deliver_to_client(Packet&& packet) {
  if (!started_ || client_frozen_) return;
  client_->handle_datagram(events_.now(), kServerAddress, Bytes(packet.payload.data(), packet.payload.size()));
  run_client();
}

// --- endpoints ---

void EndpointFlow::run_client() {
  if (!started_ || client_frozen_) return;
  const Timestamp now = events_.now();
  client_app();
  std::array<uint8_t, kDatagramBytes> buf;
  while (size_t n = client_->poll_transmit(now, buf)) {
    Packet p;
    p.flow = flow_id_;
    p.wire_bytes = static_cast<uint32_t>(n) + kIpUdpBytes;
    p.payload.assign(buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(n));
    ++metrics_.sender_packets;
    ++datagrams_;
    to_server_(std::move(p));
  }
  arm(client_timer_, client_->next_timeout(), &EndpointFlow::run_client);
}

void EndpointFlow::run_server() {
  if (!started_ || server_frozen_) return;
  const Timestamp now = events_.now();
  server_app();
  std::array<uint8_t, kDatagramBytes> buf;
  Address to;
  while (size_t n = server_->poll_transmit(now, buf, to)) {
    Packet p;
    p.flow = flow_id_;
    p.wire_bytes = static_cast<uint32_t>(n) + kIpUdpBytes;
    p.payload.assign(buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(n));
    ++datagrams_;
    to_client_(std::move(p));
  }
  drain_server_events();
  arm(server_timer_, server_->next_timeout(), &EndpointFlow::run_server);
}

void EndpointFlow::drain_server_events() {
  while (auto e = server_->poll_event()) {
    switch (e->kind) {
      case EndpointEvent::Kind::opened:
        server_id_ = e->id;
        server_open_ = true;
        server_log_ += "opened ";
        break;
      case EndpointEvent::Kind::progress:
        break;
      case EndpointEvent::Kind::failed:
        server_log_ += std::string("failed:") + end_reason_name(e->reason) + " ";
        if (server_failed_at_ == Timestamp::never()) server_failed_at_ = events_.now();
        break;
      case EndpointEvent::Kind::closed:
        server_log_ += std::string("closed:") + end_reason_name(e->reason) + " ";
        server_open_ = false;
        server_closed_ = true;
        server_end_ = e->reason;
        break;
    }
  }
}

void EndpointFlow::arm(Timestamp& timer_at, Timestamp deadline, void (EndpointFlow::*run)()) {
  if (deadline == Timestamp::never()) return;
  const Timestamp now = events_.now();
  if (deadline <= now) deadline = now + Duration::microseconds(1);
  if (deadline >= timer_at) return;  // an earlier wake-up is already pending
  timer_at = deadline;
  events_.at(deadline, [this, &timer_at, deadline, run] {
    if (timer_at != deadline) return;  // superseded by an earlier one
    timer_at = Timestamp::never();
    (this->*run)();
  });
}

// --- the stand-in programs ---

void EndpointFlow::client_app() {
  const Timestamp now = events_.now();
  Connection& c = client_->connection();
  if (c.failed() || c.closed()) return;
  Stream& s = c.stream();
  std::array<uint8_t, kChunkBytes> chunk;
  while (!upload_closed_ && upload_written_ < config_.upload_bytes) {
    const size_t want = static_cast<size_t>(
        std::min<uint64_t>({s.send_space(), chunk.size(), config_.upload_bytes - upload_written_}));
    if (want == 0) break;
    for (size_t i = 0; i < want; ++i) chunk[i] = pattern_byte(upload_written_ + i);
    upload_written_ += s.write(Bytes(chunk.data(), want));
  }
  if (config_.hold_open && !pending_echo_in_.empty()) {
    const size_t n = s.write(Bytes(reinterpret_cast<const uint8_t*>(pending_echo_in_.data()), pending_echo_in_.size()));
    pending_echo_in_.erase(0, n);
  }
  if (!config_.hold_open && !upload_closed_ && upload_written_ == config_.upload_bytes) {
    s.close_write();
    upload_closed_ = true;
  }
  while (size_t n = s.read(MutableBytes(chunk.data(), chunk.size()))) {
    if (config_.hold_open) {
      echo_.append(reinterpret_cast<const char*>(chunk.data()), n);
      continue;
    }
    for (size_t i = 0; i < n; ++i) {
      if (chunk[i] != pattern_byte(kDownloadPatternOffset + download_read_ + i)) ++download_corrupt_;
    }
    download_read_ += n;
  }
  if (upload_closed_ && s.read_finished()) c.set_application_done(now, false);
}

void EndpointFlow::server_app() {
  const Timestamp now = events_.now();
  Connection* c = server_connection();
  if (c == nullptr || c->failed() || c->closed()) return;
  Stream& s = c->stream();
  const uint64_t before = upload_read_ + download_written_ + pending_echo_out_.size() + (download_closed_ ? 1 : 0);
  std::array<uint8_t, kChunkBytes> chunk;
  while (size_t n = s.read(MutableBytes(chunk.data(), chunk.size()))) {
    if (config_.hold_open) {
      upload_read_ += n;
      pending_echo_out_.append(reinterpret_cast<const char*>(chunk.data()), n);
      continue;
    }
    for (size_t i = 0; i < n; ++i) {
      if (chunk[i] != pattern_byte(upload_read_ + i)) ++metrics_.corrupt_bytes;
    }
    upload_read_ += n;
    metrics_.record_delivery(now, n);
  }
  if (!pending_echo_out_.empty()) {
    const size_t n = s.write(Bytes(reinterpret_cast<const uint8_t*>(pending_echo_out_.data()), pending_echo_out_.size()));
    pending_echo_out_.erase(0, n);
    if (n > 0) server_->wake(server_id_);
  }
  if (!metrics_.finished && s.read_finished()) {
    metrics_.finished = true;
    metrics_.finish_time = now;
    metrics_.end_was_failure = s.read_failed();
    server_upload_done_ = true;
  }
  if (!server_upload_done_ || config_.hold_open) {
    if (upload_read_ + download_written_ + pending_echo_out_.size() != before) server_->wake(server_id_);
    return;
  }
  while (!download_closed_ && download_written_ < config_.download_bytes) {
    const size_t want = static_cast<size_t>(
        std::min<uint64_t>({s.send_space(), chunk.size(), config_.download_bytes - download_written_}));
    if (want == 0) break;
    for (size_t i = 0; i < want; ++i) chunk[i] = pattern_byte(kDownloadPatternOffset + download_written_ + i);
    download_written_ += s.write(Bytes(chunk.data(), want));
  }
  if (!download_closed_ && download_written_ == config_.download_bytes) {
    s.close_write();
    download_closed_ = true;
    c->set_application_done(now, false);
  }
  if (upload_read_ + download_written_ + pending_echo_out_.size() + (download_closed_ ? 1 : 0) != before) {
    server_->wake(server_id_);
  }
}

Result<EndpointFlow*> add_endpoint_flow(Network& network, Rng& rng, EndpointFlowConfig config, Timestamp start) {
  config.bin = network.path().bin;
  auto created = EndpointFlow::create(network.events(), rng, network.next_flow_id(), std::move(config));
  if (!created) return created.error();
  EndpointFlow* flow = created->get();
  Link& forward = network.forward();
  Link& reverse = network.reverse();
  flow->set_paths(
      [&forward, flow](Packet&& p) { forward.send(std::move(p), [flow](Packet&& q) { flow->deliver_to_server(std::move(q)); }); },
      [&reverse, flow](Packet&& p) { reverse.send(std::move(p), [flow](Packet&& q) { flow->deliver_to_client(std::move(q)); }); });
  network.adopt_flow(std::move(*created), start);
  return flow;
}

}  // namespace curvecp::sim
