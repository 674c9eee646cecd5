// The CurveCP server endpoint, sans-I/O (the shape of ngtcp2/quinn-proto, ARCHITECTURE.md):
// ServerCrypto (cookies, minute keys), the connection table keyed by the client's
// short-term key, replay memory, per-connection deadlines and the lifecycle of each
// Connection (daemon/connection.h). It never touches a socket, a clock, a file or a
// process: datagrams go in through handle_datagram(), come out through poll_transmit(),
// next_timeout() says when to call again, and poll_event() tells the shell what
// happened to connections (opened, failed, closed). daemon/server.h is the libuv shell.
//
// Policy (CURVECP.md 3, with the departures listed in curvecp-serve(1)): stateless until a
// valid Initiate; a full table evicts a connection that never moved data or has long been
// silent, and otherwise drops the new Initiate (counted; existing ones continue); per-source
// caps (address, IPv4 /24, IPv6 /56; loopback exempt); a client is followed to a new
// address only once that address has answered a challenge, and is sent at most 3x what it
// sent from there before (docs/PATH-VALIDATION.md); an Initiate for a C' whose connection
// ended within a cookie lifetime is a replay and dropped (9 item 15), and a C' costs at
// most kMaxInitiateKeyComputations key computations per cookie lifetime; Hellos and new
// Initiates are limited per batch of datagrams (begin_batch()); while draining, Hellos and
// new Initiates are refused.
//
// Events are queued in order and the shell must drain them after every call that can
// produce them (handle_datagram, poll_transmit, on_timer, abort): a closed id may be
// reused by the next accepted Initiate, and its closed event comes first.
#pragma once

#include <array>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "core/address.h"
#include "core/bytes.h"
#include "core/counters.h"
#include "core/result.h"
#include "core/rng.h"
#include "core/time.h"
#include "crypto/keys.h"
#include "crypto/server.h"
#include "daemon/connection.h"
#include "daemon/deadline_heap.h"
#include "scheduler/memory_budget.h"
#include "daemon/path_validator.h"
#include "scheduler/stream.h"

namespace curvecp {

struct ServerEndpointConfig {
  ServerName name{};
  Extension extension{};
  uint32_t max_connections = 100;
  // Connections one source may hold (0: no cap): per address, and per IPv4 /24 or IPv6
  // /56. Loopback sources are exempt (local users are not the attackers these stop).
  uint32_t max_per_address = 32;
  uint32_t max_per_network = 128;
  // Hellos and new Initiates handled per wake-up (begin_batch()); the rest wait in a
  // bounded queue for the next wake-ups (run_deferred_handshake), or are dropped and
  // counted when it is full, so established connections are served first and a burst of
  // genuine clients is only delayed. 16 Hellos cost 32 scalar multiplications (a few ms)
  // against 512 datagrams read.
  uint32_t handshakes_per_batch = 16;
  // And per unit of time: handshakes (as the shell measures them, charge_handshake()) may
  // take at most this share of wall-clock time, in percent (0: no time budget). The
  // per-wake-up count alone does not bound it: a flood makes wake-ups frequent.
  uint32_t handshake_cpu_percent = 30;
  std::string scheduler = "chicago";
  // Daemon-wide budget for stream buffer pages (docs/MEMORY.md); 0: no budget.
  uint64_t memory_budget_bytes = 256ull << 20;
  // The class new connections start in (serve --priority); ctl changes it per connection.
  Priority priority;
  // Server defaults: a long idle timeout (resource protection against vanished clients)
  // and a linger that re-acknowledges a lost final EOF.
  ConnectionConfig connection{Duration::seconds(120), Duration::seconds(15), Duration::seconds(2),
                              Duration::seconds(10), Duration::seconds(2)};
  // Admission (serve --allow): asked once per new connection, after its Initiate is
  // authenticated and before the opened event, with the client's long-term key and
  // address. false refuses it: no opened event; the connection only answers with FAIL
  // carrying the refusal flag (docs/EXTENSIONS.md section 5) until that is acknowledged
  // or abort_timeout passes, and its failed/closed events have `refused` set. Unset:
  // everyone is admitted.
  std::function<bool(const PublicKey& client_long_term, const Address& from)> admit;
};

// Server-side happenings besides packet drops (those are DropCounters).
enum class ServerEvent : uint8_t {
  hello_answered,
  connection_accepted,
  connection_finished,       // clean end (EndReason::finished)
  connection_failed,         // any failure (see EndReason)
  connection_close_timeout,  // program gone, peer silent before finishing
  refused_draining,          // new client while shutting down
  roamed,                    // peer followed to a new address
  cookie_queue_full,         // a Hello could not be answered: too many Cookies waiting
  refused_not_allowed,       // admit() said no (serve --allow)
  path_challenge,            // a challenge sent to a candidate address
  refused_source_cap,        // a new Initiate from a source at its cap
  evicted,                   // a connection removed to make room for a new one
  handshake_deferred,        // a Hello or new Initiate past the wake-up's budget, queued
  handshake_over_budget,     // ... and dropped: the queue of deferred ones was full
  initiate_repeat,           // an Initiate for a C' that already cost its key computations
  handshake_expired,         // a deferred handshake dropped unhandled: queued too long
  count_
};
const char* server_event_name(ServerEvent e);

struct EndpointEvent {
  enum class Kind : uint8_t {
    opened,    // a new connection: start its program
    progress,  // the network changed its stream: readable bytes, the peer's EOF, send space
    failed,    // the stream failed: stop its program before closing its descriptors
    closed,    // gone (already removed: connection(id) is null); the id may be reused
  };
  Kind kind = Kind::opened;
  uint32_t id = 0;
  EndReason reason = EndReason::none;  // failed and closed
  Address peer;                        // failed and closed: the peer's last address
  StreamStats stats;                   // closed: the stream's final figures
  bool refused = false;                // failed and closed: a connection admit() refused
};

class ServerEndpoint {
 public:
  // `long_term` is the server's secret key. `nonces` (cookie nonces) and `rng` must
  // outlive the endpoint. Fails on an unknown scheduler or max_connections == 0.
  static Result<std::unique_ptr<ServerEndpoint>> create(ServerEndpointConfig config, SecretKey long_term,
                                                        NonceSource& nonces, Rng& rng, Timestamp now);

  // A datagram from `from`. Bad packets are dropped and counted in drops().
  void handle_datagram(Timestamp now, const Address& from, Bytes datagram);
  // Starts a batch of datagrams read at `now`. The handshake budget is per wake-up: the
  // shell reads up to 8 recvmmsg batches per readiness event, all with the same `now`, so
  // the count restarts only when `now` changes (or when `now` is never(): a new batch).
  // Outside a batch (tests, the simulator) there is no budget.
  void begin_batch(Timestamp now = Timestamp::never()) {
    in_batch_ = true;
    if (now == Timestamp::never() || now != batch_now_) handshakes_in_batch_ = 0;
    batch_now_ = now;
  }
  void end_batch() { in_batch_ = false; }
  // Handles one deferred handshake if the budget of the wake-up at `now` allows (a new
  // `now` is a new wake-up) and the time budget too; true if it did (drain events, then
  // call again). Deferred handshakes are queued per source (the address with its port for
  // loopback, else its /24 or /56) and taken one per source in turn, so a flood from one
  // source delays a newcomer from another by a turn, not by the flood's backlog; one
  // queued longer than kDeferredMaxAge is dropped (handshake_expired: its client has
  // resent it by then).
  bool run_deferred_handshake(Timestamp now);
  // The shell measured `cost` of CPU time handling the last datagram (handle_datagram) or
  // deferred handshake (run_deferred_handshake): if that was a handshake the endpoint
  // handled, the cost is taken from the time budget (ServerEndpointConfig::
  // handshake_cpu_percent); a handshake it deferred or dropped costs the budget nothing.
  void charge_handshake(Duration cost);
  // Whether the last datagram was a handshake handled (not deferred): charge_handshake
  // applies; the shell reads its CPU clock only then.
  bool handshake_to_charge() const { return handshake_to_charge_; }
  // Whether a handshake datagram arriving at `now` would be handled rather than deferred
  // or dropped (the same test handle_datagram makes): the shell reads its CPU clock for
  // charge_handshake only then.
  bool handshake_may_run(Timestamp now);
  size_t deferred_handshakes() const { return deferred_count_; }
  // Whether `datagram` is a Hello or an Initiate for an unknown C' (cheap, no crypto): the
  // shell handles the others of a batch first.
  bool is_handshake(Bytes datagram) const;
  // Writes the next datagram due at `now` into `out` (>= 1184 bytes), stores its
  // destination in `to` and returns its length; 0 when nothing is due. Call until 0.
  size_t poll_transmit(Timestamp now, MutableBytes out, Address& to);
  // Earliest time poll_transmit() needs calling (connection deadlines, key rotation).
  Timestamp next_timeout() const;
  // The next event, if any (see the note at the top about draining).
  std::optional<EndpointEvent> poll_event();

  // The application changed connection `id`'s stream (wrote, read, closed): service it
  // on the next poll_transmit().
  void wake(uint32_t id);
  // Fails connection `id` locally (FAIL to the peer at once), e.g. its program could not
  // be started.
  void abort(uint32_t id, Timestamp now, EndReason why = EndReason::aborted);
  // Changes open connection `id`'s class (Connection::set_priority) and services it on
  // the next poll_transmit(). Fails with one line if `id` is not open or is ending.
  Status set_priority(uint32_t id, const Priority& p, Timestamp now);
  // Fails every connection (shutdown past the drain).
  void abort_all(Timestamp now);
  // Stops accepting new connections; existing ones run to their end.
  void begin_drain() { draining_ = true; }
  bool draining() const { return draining_; }
  // The nonce source failed ("nonce-generation disaster", CURVECP.md 1.4): the endpoint
  // has started draining and the process should exit 111 afterwards.
  bool nonce_disaster() const { return nonce_disaster_; }

  size_t connection_count() const { return by_key_.size(); }
  // nullptr if `id` is not an open connection.
  Connection* connection(uint32_t id);
  const Connection* connection(uint32_t id) const;
  // For an open connection `id`: the peer's current address and its session.
  const Address& peer(uint32_t id) const { return slots_[id]->peer; }
  const ServerSession& session(uint32_t id) const { return slots_[id]->session; }
  // Path validation state of connection `id` (docs/PATH-VALIDATION.md).
  const PathValidator& path(uint32_t id) const { return slots_[id]->path; }
  uint32_t capacity() const { return static_cast<uint32_t>(slots_.size()); }

  const DropCounters& drops() const { return drops_; }
  const Counters<ServerEvent>& events() const { return events_; }
  // The stream buffer budget, or nullptr when there is none.
  const MemoryBudget* memory_budget() const { return memory_budget_.get(); }
  // "connections=N hello_answered=... drops=N reason=N ...": no secrets.
  std::string counters_text() const;

 private:
  struct Slot {
    uint32_t id = 0;
    ServerSession session;
    Address peer;
    std::unique_ptr<Connection> connection;
    bool queued = false;            // in ready_
    bool failure_reported = false;  // the failed event has been queued
    bool progress_pending = false;  // a progress event is queued
    bool refused = false;           // admit() refused it: it only says FAIL (refusal flag)
    PathValidator path;             // a candidate new address of the client
    Timestamp accepted_at;
    Address source_key;             // per-source caps: the address without port
    Address network_key;            // and its /24 or /56 (family none: exempt)
  };
  // A Cookie, or the FAIL of an evicted connection: packets waiting for poll_transmit.
  struct PendingCookie {
    Address to;
    uint16_t bytes = 0;
    std::array<uint8_t, 256> packet;
  };

  ServerEndpoint(ServerEndpointConfig config, Rng& rng);
  void answer_hello(const ClientPacketView& view, const Address& from);
  // True if a handshake datagram may be handled now; otherwise it is deferred or dropped.
  bool admit_handshake(Timestamp now, const Address& from, Bytes datagram);
  bool source_at_cap(const Address& from) const;
  void add_source(Slot& s, const Address& from);
  void drop_source(Slot& s);
  Slot* eviction_victim(Timestamp now);
  void evict(Slot& s, Timestamp now);
  void follow_path(Slot& s, Timestamp now, const Address& from, size_t datagram_bytes, size_t message_bytes);
  size_t poll_challenge(Slot& s, Timestamp now, MutableBytes out, Address& to);
  // False if C' has used up its key computations (replay memory); otherwise counts one.
  bool charge_key_computation(const PublicKey& key, Timestamp now);
  void accept(Timestamp now, const ClientPacketView& view, const Address& from);
  void queue(Slot& s);
  // Reports failure/closure of `s` and re-arms its deadline; false if it was removed.
  bool settle(Slot& s, Timestamp now);
  void remove(Slot& s, Timestamp now);
  void remember_ended(const PublicKey& key, Timestamp now);
  void forget_old_ended(Timestamp now);

  ServerEndpointConfig config_;
  Rng& rng_;
  // Declared before the slots: their streams refund their pages to it when destroyed.
  std::unique_ptr<MemoryBudget> memory_budget_;
  std::unique_ptr<ServerCrypto> crypto_;
  std::vector<std::unique_ptr<Slot>> slots_;  // by id; nullptr = free
  std::vector<uint32_t> free_ids_;
  std::unordered_map<PublicKey, uint32_t, PublicKeyHash> by_key_;  // C' -> id
  DeadlineHeap deadlines_;
  std::deque<uint32_t> ready_;     // to be serviced by poll_transmit, in order
  std::deque<EndpointEvent> events_out_;
  // Cookies waiting for poll_transmit: a batch of Hellos is answered in one go.
  static constexpr size_t kMaxPendingCookies = 256;
  std::vector<PendingCookie> cookies_;  // a ring: cookie_head_, cookie_count_
  size_t cookie_head_ = 0;
  size_t cookie_count_ = 0;
  std::vector<uint8_t> message_;   // one decrypted / outgoing message
  // Short-term keys of connections that ended less than a cookie lifetime ago: a
  // replayed Initiate must not start the program again (CURVECP.md 3.5, 9 item 15).
  struct Ended {
    PublicKey key;
    Timestamp at;
  };
  std::deque<Ended> recently_ended_;
  std::unordered_set<PublicKey, PublicKeyHash> recently_ended_keys_;
  // C's that reached the key computations of an Initiate within a cookie lifetime, and
  // how often: a replayed cookie costs at most kMaxInitiateKeyComputations. Bounded.
  static constexpr uint8_t kMaxInitiateKeyComputations = 2;
  static constexpr size_t kMaxRememberedInitiates = 65536;
  std::deque<Ended> initiate_order_;
  std::unordered_map<PublicKey, uint8_t, PublicKeyHash> initiate_costs_;
  // Connections per source (keys from Slot::source_key / network_key).
  std::unordered_map<Address, uint32_t, AddressHash> per_address_;
  std::unordered_map<Address, uint32_t, AddressHash> per_network_;
  uint32_t handshakes_in_batch_ = 0;
  bool in_batch_ = false;
  bool replaying_deferred_ = false;
  bool handshake_to_charge_ = false;  // admit_handshake let one through, not yet charged
  struct DeferredHandshake {
    Address from;
    Timestamp at;
    uint16_t bytes = 0;
    std::array<uint8_t, 1184> packet;  // the largest client packet
  };
  static constexpr size_t kMaxDeferredHandshakes = 512;
  // One source may hold this many of the queue's places: a flood needs 16 sources to
  // fill it; its oldest goes when it is at its share.
  static constexpr size_t kMaxDeferredPerSource = 32;
  static constexpr Duration kDeferredMaxAge = Duration::seconds(1);
  // Handshake time that may be spent at once after a quiet period.
  static constexpr Duration kHandshakeBurst = Duration::milliseconds(20);
  // The time budget: refilled at handshake_cpu_percent of the time passed.
  bool handshake_time_left(Timestamp now);
  void refill_handshake_time(Timestamp now);
  Timestamp handshake_time_due() const;
  bool defer_handshake(Timestamp now, const Address& from, Bytes datagram);
  // The oldest deferred handshake of the next source in turn (kMaxDeferredHandshakes if none).
  uint16_t take_deferred();
  void drop_deferred_of(std::deque<uint16_t>& queue);
  static Address fairness_key(const Address& from);
  std::vector<DeferredHandshake> deferred_;  // a pool, allocated at first use
  std::vector<uint16_t> deferred_free_;      // indices into deferred_
  std::unordered_map<Address, std::deque<uint16_t>, AddressHash> deferred_by_source_;
  std::deque<Address> deferred_turns_;       // sources with queued handshakes, in turn
  size_t deferred_count_ = 0;
  Timestamp batch_now_ = Timestamp::never();
  int64_t handshake_time_ns_ = 0;            // may go negative: spent ahead of the refill
  Timestamp handshake_time_at_ = Timestamp::never();
  bool draining_ = false;
  bool nonce_disaster_ = false;
  DropCounters drops_;
  Counters<ServerEvent> events_;
};

}  // namespace curvecp
