// The client endpoint, sans-I/O: one ClientHandshake (crypto/client.h) and one
// Connection (daemon/connection.h, the lifecycle shared with the server), driven by
// datagrams in, datagrams out and one timer. The libuv shell around it is
// client/client_connection.h; the simulator drives it against a real ServerEndpoint.
//
// Life of a connection (CURVECP.md 4.3-4.7):
//   hello      Hellos on the reference schedule until a Cookie arrives. With several
//              server addresses (a host name with several, 4.3), Hello i goes to address
//              i mod n; a Cookie counts only from the address of the latest Hello, and
//              that address is the server's from then on.
//   connected  every message the Stream produces is sealed as an Initiate until the first
//              authentic Server Message, then as a Client Message (4.6). The Stream is
//              created with ping_at_start, so the first message (data or an empty ping)
//              leaves at once after the Cookie.
//   done       the Connection closed cleanly (both directions ended with EOF).
//   failed     see failure()/reason(): the handshake failed (refused, no_answer,
//              not_accepted) or the Connection failed (peer FAIL, idle timeout, abort,
//              nonce space).
// The handshake has one deadline, handshake_timeout from the start: without a Cookie by
// then the server is taken to be absent or deaf to us (no_answer); with a Cookie but no
// answer to the Initiate it did not accept us (not_accepted: wrong name, or a server
// that refuses this client). An ICMP port or host unreachable before the first Server
// Message rules that address out: the next Hello goes to the next address at once, and
// when every address has been ruled out the handshake fails (refused).
//
// Departure from the reference (4.3): the addresses are tried in the order given, not
// shuffled, because they come from getaddrinfo, which already sorts them by preference
// (RFC 6724); and the reference, which cannot see ICMP errors, waits out a dead address.
#pragma once

#include <array>
#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "core/address.h"
#include "core/bytes.h"
#include "core/result.h"
#include "core/rng.h"
#include "core/time.h"
#include "crypto/client.h"
#include "crypto/packets.h"
#include "daemon/connection.h"
#include "scheduler/stream.h"

namespace curvecp {

struct ClientEngineConfig {
  ClientConfig crypto;
  StreamConfig stream;  // role and ping_at_start are set by the engine
  Address server;
  // Further addresses of the same server (in order of preference), tried in turn after
  // `server` while no Cookie has come; empty for one address.
  std::vector<Address> more_servers;
  // From the first Hello to the first Server Message.
  Duration handshake_timeout = Duration::seconds(15);
  // Client defaults: a short linger (the process exits), the reference client's 10 s wait
  // for the server's EOF after the program exited (CURVECP.md 6.9).
  ConnectionConfig connection{Duration::seconds(60), Duration::seconds(15), Duration::milliseconds(50),
                              Duration::seconds(10), Duration::seconds(1)};
};

class ClientEngine {
 public:
  enum class Phase : uint8_t { hello, connected, done, failed };

  // Creates the handshake and the stream. Fails on an unknown congestion controller name
  // or an unusable (low-order) server key, with a one-line message.
  static Result<std::unique_ptr<ClientEngine>> create(ClientEngineConfig config, Rng& rng, Timestamp now);

  Phase phase() const;
  bool finished() const { return phase() == Phase::done || phase() == Phase::failed; }
  // Why the connection failed (EndReason::none unless phase() == failed).
  EndReason reason() const;
  // One line for the user (no secrets): what failed and its likely causes.
  std::string failure() const;
  // True once the Cookie has arrived (the reference starts its program only then, 4.5).
  bool has_cookie() const { return got_cookie_; }
  // True once the first authentic Server Message has arrived.
  bool established() const { return handshake_.state() == ClientHandshake::State::established; }
  // The server refused this client's key (its FAIL carried the refusal flag,
  // docs/EXTENSIONS.md section 5).
  bool refused_by_server() const { return refused_by_server_; }
  // The address the latest Hello went to (before the Cookie), then the one that answered.
  const Address& server() const { return addresses_[current_]; }
  // Every address of the server, in the order they are tried.
  const std::vector<Address>& addresses() const { return addresses_; }
  // Where the next datagram from poll_transmit() goes (so the shell can pick the socket
  // of that address family before it asks for the datagram).
  const Address& next_destination() const;
  uint32_t hellos_sent() const { return hellos_sent_; }

  // The byte stream. The application may write before the Cookie: the bytes wait in the
  // send buffer.
  Stream& stream() { return connection_->stream(); }
  const Stream& stream() const { return connection_->stream(); }
  Connection& connection() { return *connection_; }
  const Connection& connection() const { return *connection_; }

  // A datagram received from `from`. Anything not from the server's address, or failing
  // the packet checks, is dropped and counted in drops().
  void handle_datagram(Timestamp now, const Address& from, Bytes datagram);
  // The network reported that a datagram to `to` could not be delivered (ICMP, as an
  // errno: ECONNREFUSED, EHOSTUNREACH, ...). Fails a connection still in its handshake.
  void handle_unreachable(Timestamp now, const Address& to, int error);

  // Writes the next datagram due at `now` (to next_destination(), which is server()
  // once it is written) into `out` (>= 1184 bytes) and
  // returns its length, 0 when nothing is due. Call until it returns 0.
  size_t poll_transmit(Timestamp now, MutableBytes out);
  // Earliest time poll_transmit() needs calling; never() once finished.
  Timestamp next_timeout() const;

  // Local failure (a signal): FAIL to the server at once if connected.
  void abort(Timestamp now);

  const DropCounters& drops() const { return drops_; }
  uint64_t datagrams_sent() const { return datagrams_sent_; }
  uint64_t datagrams_received() const { return datagrams_received_; }

 private:
  ClientEngine(ClientEngineConfig config, Rng& rng, Timestamp now);
  void fail_handshake(EndReason why);
  void check_handshake(Timestamp now);
  // The address the next Hello goes to: the one after current_ not ruled out.
  size_t next_hello_slot() const;

  std::vector<Address> addresses_;
  std::vector<bool> unreachable_;  // per address: an ICMP error ruled it out
  size_t current_ = 0;             // index of server()
  Duration handshake_timeout_;
  Duration idle_timeout_;
  Timestamp handshake_deadline_;
  ClientHandshake handshake_;
  std::unique_ptr<Connection> connection_;
  bool got_cookie_ = false;
  EndReason handshake_failure_ = EndReason::none;
  int unreachable_error_ = 0;
  bool refused_by_server_ = false;
  uint32_t hellos_sent_ = 0;
  DropCounters drops_;
  uint64_t datagrams_sent_ = 0;
  uint64_t datagrams_received_ = 0;
  std::array<uint8_t, kMaxMessageBytes> message_buffer_{};
};

}  // namespace curvecp
