// A CurveCP stream flow: two real curvecp::Stream endpoints (scheduler/stream.h), a client
// that uploads a byte pattern and a server that reads and verifies it. Messages travel
// as packets of realistic size: the message plus the CurveCP packet header (96 bytes for
// Client Messages, 64 for Server Messages, CURVECP.md 2.6/2.7) plus 28 bytes IP/UDP.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>

#include "core/result.h"
#include "core/rng.h"
#include "scheduler/stream.h"
#include "tests/sim/sim_clock.h"
#include "tests/sim/sim_flow.h"
#include "tests/sim/sim_host.h"
#include "tests/sim/sim_link.h"

namespace curvecp::sim {

constexpr uint32_t kClientPacketOverheadBytes = 96 + 28;
constexpr uint32_t kServerPacketOverheadBytes = 64 + 28;

struct StreamFlowConfig {
  std::string controller = "chicago";
  // The uploading client's class (scheduler/priority.h); normal uses `controller`.
  Priority priority;
  uint64_t bytes = 0;         // bytes to upload; 0 = unlimited (never ends)
  bool fail_at_end = false;   // end the upload with FAIL instead of SUCC
  size_t buffer_bytes = 4 << 20;  // stream send and receive buffers
  Duration bin = Duration::milliseconds(100);  // metrics resolution
  // Timer resolution of the runtime being modelled: wake-ups are rounded up to a
  // multiple of it (a libuv uv_timer has 1 ms; our timerfd, daemon/timer.h, has 1 ns).
  // 0: exact wake-ups.
  Duration timer_granularity{0};
  // Stalls of the client's and the server's process (sim_host.h), each seeded from
  // host_seed; none by default.
  HostNoise host;
  uint64_t host_seed = 0;
};

// Byte `offset` of the deterministic upload pattern.
uint8_t pattern_byte(uint64_t offset);

class StreamFlow final : public Flow {
 public:
  // Creates both streams. `to_server` / `to_client` put a packet on the path toward the
  // other endpoint; the path calls deliver_to_server / deliver_to_client on arrival.
  // `events` and `rng` must outlive the flow. Fails on an unknown controller name.
  static Result<std::unique_ptr<StreamFlow>> create(EventQueue& events, Rng& rng, uint32_t flow_id,
                                                    const StreamFlowConfig& config);

  void set_paths(std::function<void(Packet&&)> to_server, std::function<void(Packet&&)> to_client);
  void start() override;
  // Aborts the upload (Stream::abort): the receiver sees FAIL after the bytes already sent.
  void stop() override;
  const FlowMetrics& metrics() const override { return metrics_; }

  void deliver_to_server(Packet&& packet);
  void deliver_to_client(Packet&& packet);

  Stream& client() { return *client_; }
  Stream& server() { return *server_; }
  // Re-run both endpoints now (after a test changed one, e.g. set_controller()).
  void poke();
  // Times poll_transmit was asked to wake at or before `now` and sent nothing: a stream
  // that spins would show up here.
  uint64_t idle_wakeups() const { return idle_wakeups_; }

 private:
  struct Endpoint {
    Stream* stream = nullptr;
    uint32_t overhead_bytes = 0;
    Timestamp timer_at = Timestamp::never();
    std::function<void(Packet&&)> send;
    // The process's stalls; packets that arrive during one wait in `pending` (with their
    // arrival times, the kernel's receive timestamps) until it ends at `drain_at`.
    std::unique_ptr<HostSchedule> host;
    std::deque<std::pair<Timestamp, Packet>> pending;
    Timestamp drain_at = Timestamp::never();
  };
  StreamFlow(EventQueue& events, uint32_t flow_id, StreamFlowConfig config, std::unique_ptr<Stream> client,
             std::unique_ptr<Stream> server);
  void pump(Endpoint& endpoint);
  void deliver(Endpoint& endpoint, Packet&& packet);
  void drain(Endpoint& endpoint);
  void run_application();
  void arm(Endpoint& endpoint, Timestamp deadline);

  EventQueue& events_;
  uint32_t flow_id_;
  StreamFlowConfig config_;
  std::unique_ptr<Stream> client_;
  std::unique_ptr<Stream> server_;
  Endpoint client_end_;
  Endpoint server_end_;
  FlowMetrics metrics_;
  bool started_ = false;
  uint64_t written_ = 0;
  uint64_t read_ = 0;
  bool client_closed_ = false;
  bool server_closed_ = false;
  uint64_t idle_wakeups_ = 0;
};

}  // namespace curvecp::sim
