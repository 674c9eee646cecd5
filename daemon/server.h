// The CurveCP server endpoint: one UDP socket, many connections, one program per
// connection (CURVECP.md 3, with the deliberate departures listed in curvecp-serve(1)).
//
// The connection engine joins, per connection, a ServerSession (packets, crypto/) with a
// Stream (messages, scheduler/) and a Pump to the program's pipes. Datagrams arrive in
// batches; each batch is opened and fed to the streams, then every touched connection is
// serviced once (program I/O, then poll_transmit -> seal straight into the socket's send
// queue), then the queue is flushed with sendmmsg/GSO. One timer is armed at the earliest
// of: the connections' deadlines (an indexed min-heap, no scan), the minute-key rotation.
// Nothing is allocated per packet; randomness comes from the injected Rng (SodiumRng).
//
// Policy: stateless until a valid Initiate (ServerCrypto answers Hellos without state);
// a full table refuses new Initiates (dropped and counted, existing ones continue); a
// client is followed to a new address only on an authenticated packet; an Initiate for a
// C' whose connection ended within a cookie lifetime is a replay and dropped; a connection ends
// when its program has exited and both directions are done (after a short linger that
// re-acknowledges a lost final EOF, spec 9 item 12), when the peer has been silent for
// idle_timeout, or when its nonce space is exhausted.
#pragma once

#include <deque>
#include <memory>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "core/address.h"
#include "core/counters.h"
#include "core/result.h"
#include "core/rng.h"
#include "crypto/keys.h"
#include "crypto/server.h"
#include "daemon/child_process.h"
#include "daemon/deadline_heap.h"
#include "daemon/event_loop.h"
#include "daemon/timer.h"
#include "daemon/udp_socket.h"
#include "scheduler/stream.h"

namespace curvecp {

struct ServerConfig {
  Address bind;
  ServerName name{};
  Extension extension{};
  uint32_t max_connections = 100;
  std::string scheduler = "chicago";
  // The program run per connection: argv[0] looked up in PATH.
  std::vector<std::string> program;
  Duration idle_timeout = Duration::seconds(120);
  // How long a finished connection keeps answering retransmissions of the peer's EOF.
  Duration linger = Duration::seconds(2);
  // Once the program has exited and the peer's stream is fully read, the silence from the
  // peer after which the connection ends even though our data or EOF is unacknowledged
  // (a peer that exits without its last acknowledgements, spec 9 item 12).
  Duration close_timeout = Duration::seconds(10);
  bool verbose = false;  // one line per connection start and end on stderr
};

// Server-side events besides packet drops (those are DropCounters).
enum class ServerEvent : uint8_t {
  hello_answered,
  connection_accepted,
  connection_finished,   // program exited, both directions done
  connection_idle,       // peer silent for idle_timeout
  connection_close_timeout,  // program gone, peer done, peer silent for close_timeout
  connection_nonce_end,  // our nonce counter would wrap
  spawn_failed,          // pipe or spawn failure: the Initiate is dropped
  refused_draining,      // new client while shutting down
  roamed,                // peer followed to a new address
  send_queue_full,       // a Hello could not be answered: socket queue full
  count_
};
const char* server_event_name(ServerEvent e);

class Server {
 public:
  // Binds the socket and starts serving. `nonces` and `rng` must outlive the server.
  // Fails on a bind error or an unknown scheduler name (message names which).
  static Result<std::unique_ptr<Server>> create(EventLoop& loop, ServerConfig config, SecretKey long_term,
                                                NonceSource& nonces, Rng& rng);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  const Address& local_address() const { return socket_->local_address(); }
  size_t connection_count() const { return by_key_.size(); }

  // Runs once the server has drained (see begin_drain), e.g. to stop the loop. A nonce
  // disaster starts draining by itself, so set this before running.
  void set_drained_handler(std::function<void()> on_drained) { on_drained_ = std::move(on_drained); }
  // Stops accepting new connections (Hellos and Initiates are dropped); the drained
  // handler (replaced by `on_drained` if given) runs once no connection is left (at once
  // if none is).
  void begin_drain(std::function<void()> on_drained = {});
  bool draining() const { return draining_; }
  // The key directory's nonce source failed ("nonce-generation disaster", spec 1.4):
  // the server has started draining and should exit 111 afterwards.
  bool nonce_disaster() const { return nonce_disaster_; }

  // One line: connection counts, events and non-zero drop reasons. No secrets.
  std::string counters_line() const;
  // One line per connection (at most `limit`): peer, program and stream state. No secrets.
  std::string connection_lines(Timestamp now, size_t limit) const;
  const DropCounters& drops() const { return drops_; }
  const Counters<ServerEvent>& events() const { return events_; }

 private:
  struct Connection;

  Server(EventLoop& loop, ServerConfig config, Rng& rng);
  void on_datagrams(std::span<const Datagram> batch, Timestamp now);
  void on_timer(Timestamp now);
  void on_socket_writable(Timestamp now);
  void on_pump_activity(uint32_t id, Timestamp now);
  void on_program_exit(uint32_t id, const ExitStatus& status, Timestamp now);

  void handle_datagram(const Datagram& d, Timestamp now);
  void answer_hello(const ClientPacketView& view, const Address& from);
  void accept_connection(const ClientPacketView& view, const Address& from, Timestamp now);
  Result<std::unique_ptr<Connection>> start_connection(uint32_t id, ServerSession session, const Address& from,
                                                       Timestamp now);
  void mark_dirty(Connection& c);
  void service(Connection& c, Timestamp now);
  // Returns false when the connection must end (nonce space exhausted).
  bool transmit(Connection& c, Timestamp now);
  void end_connection(Connection& c, ServerEvent why);
  void reap_ended();
  void finish_callback(Timestamp now);  // flush, reap, re-arm: the tail of every callback
  void rearm_timer(Timestamp now);
  void check_drained();

  EventLoop& loop_;
  ServerConfig config_;
  Rng& rng_;
  std::unique_ptr<ServerCrypto> crypto_;
  std::unique_ptr<UdpSocket> socket_;
  std::unique_ptr<Timer> timer_;

  std::vector<std::unique_ptr<Connection>> slots_;  // by id; nullptr = free
  std::vector<uint32_t> free_ids_;
  std::unordered_map<PublicKey, uint32_t, PublicKeyHash> by_key_;  // C' -> id
  DeadlineHeap deadlines_;
  std::vector<uint32_t> dirty_;     // touched in this callback, to be serviced once
  std::vector<uint32_t> blocked_;   // waiting for socket send space
  std::vector<uint32_t> due_;       // scratch for on_timer
  std::vector<std::unique_ptr<Connection>> ended_;  // destroyed at a safe point
  std::vector<uint8_t> message_;    // one decrypted / outgoing message (1088 bytes)
  // Short-term keys of connections that ended less than a cookie lifetime ago: a replayed
  // Initiate must not start the program again (the reference's hole, spec 3.5, 9 item 15).
  struct Ended {
    PublicKey key;
    Timestamp at;
  };
  std::deque<Ended> recently_ended_;
  std::unordered_set<PublicKey, PublicKeyHash> recently_ended_keys_;
  void remember_ended(const PublicKey& key, Timestamp now);
  void forget_old_ended(Timestamp now);

  bool draining_ = false;
  bool nonce_disaster_ = false;
  std::function<void()> on_drained_;
  DropCounters drops_;
  Counters<ServerEvent> events_;
};

}  // namespace curvecp
