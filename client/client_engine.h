// The client's connection engine, sans-I/O: one ClientHandshake (crypto/client.h) joined
// with one Stream (scheduler/stream.h), driven by datagrams in, datagrams out and one
// timer, like the server's engine (ARCHITECTURE.md). The libuv shell around it is
// client/client_connection.h; the simulator and tests can drive it on a virtual clock.
//
// Life of a connection (CURVECP.md 4.4-4.7):
//   hello phase   Hellos on the reference schedule; gives up after the eighth wait
//                 (failure "no response from server").
//   connected     every message the Stream produces is sealed as an Initiate until the
//                 first authentic Server Message, then as a Client Message (4.6). The
//                 Stream is created with ping_at_start, so the first message (data or an
//                 empty ping) leaves at once after the Cookie, well within the cookie's
//                 60-120 s lifetime.
//   done          both directions finished (stream()->done()). The engine still takes
//                 datagrams and transmits: the acknowledgement of the server's EOF may
//                 be due (delayed acknowledgements), or have to be repeated.
//   failed        Hello give-up, nonce space exhausted, or no packet from the server for
//                 idle_timeout while something of ours waits for acknowledgement.
#pragma once

#include <array>
#include <cstddef>
#include <memory>
#include <string>

#include "core/address.h"
#include "core/bytes.h"
#include "core/result.h"
#include "core/rng.h"
#include "core/time.h"
#include "crypto/client.h"
#include "crypto/packets.h"
#include "scheduler/stream.h"

namespace curvecp {

struct ClientEngineConfig {
  ClientConfig crypto;
  StreamConfig stream;  // role and ping_at_start are set by the engine
  Address server;
  // Dead-peer detection: fail when nothing has come from the server for this long while
  // data or our EOF is unacknowledged. Duration::infinite() switches it off.
  Duration idle_timeout = Duration::seconds(60);
};

class ClientEngine {
 public:
  enum class Phase : uint8_t { hello, connected, done, failed };

  // Creates the handshake and the stream. Fails on an unknown congestion controller name
  // or an unusable (low-order) server key, with a one-line message.
  static Result<std::unique_ptr<ClientEngine>> create(ClientEngineConfig config, Rng& rng, Timestamp now);

  Phase phase() const { return phase_; }
  bool finished() const { return phase_ == Phase::done || phase_ == Phase::failed; }
  // Why the connection failed (one line, no secrets); empty unless phase() == failed.
  const std::string& failure() const { return failure_; }
  // True once the Cookie has arrived (the reference starts its program only then, 4.5).
  bool has_cookie() const { return phase_ != Phase::hello && handshake_got_cookie_; }
  const Address& server() const { return server_; }

  // The byte stream; owned by the engine. The application may write before the Cookie:
  // the bytes wait in the send buffer.
  Stream& stream() { return *stream_; }
  const Stream& stream() const { return *stream_; }

  // A datagram received from `from`. Anything not from the server's address, or failing
  // the packet checks, is dropped and counted in drops().
  void handle_datagram(Timestamp now, const Address& from, Bytes datagram);

  // Writes the next datagram due at `now` (to server()) into `out` (>= 1184 bytes) and
  // returns its length, 0 when nothing is due. Call until it returns 0.
  size_t poll_transmit(Timestamp now, MutableBytes out);

  // Earliest time poll_transmit() or on_timer() needs calling; never() once failed.
  Timestamp next_timeout() const;
  // Advances timers: Hello give-up, idle timeout, completion. Call when next_timeout()
  // has passed (poll_transmit() calls it too).
  void on_timer(Timestamp now);

  const DropCounters& drops() const { return drops_; }
  uint64_t datagrams_sent() const { return datagrams_sent_; }
  uint64_t datagrams_received() const { return datagrams_received_; }

 private:
  ClientEngine(ClientEngineConfig config, Rng& rng, Timestamp now);
  void fail(std::string why);
  bool awaiting_acknowledgement() const;
  void update_awaiting(Timestamp now);
  Timestamp idle_deadline() const;

  Address server_;
  Duration idle_timeout_;
  ClientHandshake handshake_;
  std::unique_ptr<Stream> stream_;
  Phase phase_ = Phase::hello;
  bool handshake_got_cookie_ = false;
  std::string failure_;
  Timestamp last_heard_;  // last authentic packet from the server (or the Cookie)
  bool awaiting_ = false;  // something of ours waits for acknowledgement
  Timestamp awaiting_since_;
  DropCounters drops_;
  uint64_t datagrams_sent_ = 0;
  uint64_t datagrams_received_ = 0;
  std::array<uint8_t, kMaxMessageBytes> message_buffer_{};
};

}  // namespace curvecp
