// Whole endpoints in the simulator: a client endpoint (client/client_engine.h) and a
// server endpoint (daemon/server_endpoint.h) with real keys, real boxes and the real
// lifecycle, exchanging real datagrams over the simulated path. Only the programs are
// stand-ins: the client "program" uploads a deterministic pattern (and optionally
// expects a download), the server's reads and verifies it and answers with its own
// pattern, each declaring itself done like a program that has exited.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "client/client_engine.h"
#include "core/result.h"
#include "core/rng.h"
#include "daemon/server_endpoint.h"
#include "tests/sim/sim_clock.h"
#include "tests/sim/sim_flow.h"
#include "tests/sim/sim_link.h"

namespace curvecp::sim {

struct EndpointFlowConfig {
  uint64_t upload_bytes = 0;    // client -> server, then the client's EOF
  uint64_t download_bytes = 0;  // server -> client after the upload's EOF, then EOF
  // Keep both directions open after the transfer (no EOFs): for liveness tests.
  bool hold_open = false;
  std::string controller = "chicago";
  ServerEndpointConfig server;   // name and keys are filled in by the flow
  ClientEngineConfig client;     // keys, server address and name are filled in
  // What the client believes about the server (defaults: the truth).
  bool wrong_server_name = false;
  bool wrong_server_key = false;
  bool wrong_extension = false;
  Duration bin = Duration::milliseconds(100);
};

class EndpointFlow final : public Flow {
 public:
  // `events` and `rng` must outlive the flow. Fails on bad configuration.
  static Result<std::unique_ptr<EndpointFlow>> create(EventQueue& events, Rng& rng, uint32_t flow_id,
                                                      EndpointFlowConfig config);
  ~EndpointFlow() override;

  void set_paths(std::function<void(Packet&&)> to_server, std::function<void(Packet&&)> to_client);
  void start() override;
  const FlowMetrics& metrics() const override { return metrics_; }

  void deliver_to_server(Packet&& packet);
  void deliver_to_client(Packet&& packet);

  ClientEngine& client() { return *client_; }
  ServerEndpoint& server() { return *server_; }
  // The server connection's stream, while it exists.
  Connection* server_connection();
  // Client and server applications stop taking part (a vanished host): nothing they
  // send leaves any more, nothing arriving is processed.
  void freeze_client() { client_frozen_ = true; }
  void freeze_server() { server_frozen_ = true; }
  // Called for each datagram about to reach the server from the client; true drops it
  // (a loss chosen by the test, e.g. the client's final acknowledgement).
  std::function<bool()> drop_to_server;
  // The client takes part again (a host that was stopped and resumes).
  void thaw_client() {
    client_frozen_ = false;
    poke();
  }
  // The client application writes `bytes` more (after hold_open) and expects them back
  // from the server (the server application echoes in hold_open mode).
  void client_write(const std::string& bytes);
  const std::string& client_echo() const { return echo_; }

  // What the server endpoint's events said, in order ("opened", "failed:peer_failed", ...).
  const std::string& server_log() const { return server_log_; }
  bool server_closed() const { return server_closed_; }
  EndReason server_end() const { return server_end_; }
  Timestamp server_failed_at() const { return server_failed_at_; }
  uint64_t download_received() const { return download_read_; }
  uint64_t download_corrupt() const { return download_corrupt_; }
  uint64_t datagrams() const { return datagrams_; }  // sent by both endpoints

  // Re-run both endpoints now (after a test changed one).
  void poke();

 private:
  EndpointFlow(EventQueue& events, uint32_t flow_id, EndpointFlowConfig config);
  void run_client();
  void run_server();
  void client_app();
  void server_app();
  void drain_server_events();
  // Schedules `run` at `deadline` unless an earlier wake-up is pending in `timer_at`.
  void arm(Timestamp& timer_at, Timestamp deadline, void (EndpointFlow::*run)());

  EventQueue& events_;
  uint32_t flow_id_;
  EndpointFlowConfig config_;
  std::unique_ptr<NonceSource> nonces_;
  std::unique_ptr<ClientEngine> client_;
  std::unique_ptr<ServerEndpoint> server_;
  std::function<void(Packet&&)> to_server_;
  std::function<void(Packet&&)> to_client_;
  FlowMetrics metrics_;
  bool started_ = false;
  bool client_frozen_ = false;
  bool server_frozen_ = false;
  Timestamp client_timer_ = Timestamp::never();
  Timestamp server_timer_ = Timestamp::never();
  uint32_t server_id_ = UINT32_MAX;
  bool server_open_ = false;
  bool server_closed_ = false;
  EndReason server_end_ = EndReason::none;
  Timestamp server_failed_at_ = Timestamp::never();
  std::string server_log_;
  // Application state.
  uint64_t upload_written_ = 0;
  bool upload_closed_ = false;
  uint64_t upload_read_ = 0;
  bool server_upload_done_ = false;
  uint64_t download_written_ = 0;
  bool download_closed_ = false;
  uint64_t download_read_ = 0;
  uint64_t download_corrupt_ = 0;
  std::string pending_echo_in_;   // client bytes still to write (hold_open mode)
  std::string pending_echo_out_;  // server bytes still to echo back
  std::string echo_;
  uint64_t datagrams_ = 0;
};

class Network;
// Creates an EndpointFlow on `network`'s path (client -> server over the forward link)
// and starts it at `start`. `rng` (keys, stream randomness) must outlive the network.
Result<EndpointFlow*> add_endpoint_flow(Network& network, Rng& rng, EndpointFlowConfig config, Timestamp start);

}  // namespace curvecp::sim
