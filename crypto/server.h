// Server side of the CurveCP packet layer, sans-I/O (CURVECP.md 3.3-3.8).
// ServerCrypto is stateless per client until a valid Initiate: it answers Hellos with
// cookies under rotating minute keys and turns a valid Initiate into a ServerSession.
// The connection table (C' -> connection) belongs to the caller (daemon/).
#pragma once

#include <cstddef>
#include <functional>
#include <optional>
#include <variant>

#include "core/bytes.h"
#include "core/rng.h"
#include "core/time.h"
#include "crypto/keys.h"
#include "crypto/packets.h"

namespace curvecp {

inline constexpr Duration kMinuteKeyRotation = Duration::seconds(60);

// Per-connection crypto state on the server: the session key (C', s'), nonces both ways,
// extensions. Opening checks the nonce before the box and updates it only after (3.8).
class ServerSession {
 public:
  const PublicKey& client_short_term() const { return client_short_term_; }
  const PublicKey& client_long_term() const { return client_long_term_; }
  const Extension& client_extension() const { return client_ext_; }

  // Opens a further Initiate (Case A of 3.5) or a Client Message of this connection;
  // writes the message into `out` (>= 1088 bytes) and returns its length, or a reason:
  // replayed_nonce (nonce not above the last accepted one; checked before the box, stored
  // only after it opened), initiate_box / message_box, unknown_connection (the packet's C'
  // is not this session's), unexpected (a Hello), bad_length (`out` too small).
  std::variant<size_t, DropReason> open(const ClientPacketView& packet, MutableBytes out);

  // Seals `message` (16..1088 bytes, multiple of 16) as a Server Message into `out`
  // (>= 64 + message.size()); returns the packet length. Never reuses a nonce: the counter
  // starts below 2^48 and a connection that would wrap it returns 0 (caller closes).
  size_t seal(Bytes message, MutableBytes out);

 private:
  friend class ServerCrypto;
  friend struct CryptoTestAccess;  // tests only: drives the nonce counter to its end
  PublicKey client_short_term_;
  PublicKey client_long_term_;
  Extension client_ext_{};
  Extension server_ext_{};
  SharedKey key_;
  uint64_t received_nonce_ = 0;
  uint64_t sent_nonce_ = 0;
};

// Result of a first Initiate: the new session and its first message.
struct AcceptedInitiate {
  ServerSession session;
  size_t message_bytes = 0;  // written into the caller's `out`
};

class ServerCrypto {
 public:
  // `long_term` is the server's secret key; `nonces` gives cookie nonces (safenonce).
  // Minute keys: current and previous, random from `rng`, rotated every 60 s from `now`.
  ServerCrypto(SecretKey long_term, const ServerName& name, const Extension& ext, NonceSource& nonces, Rng& rng,
               Timestamp now);

  const Extension& extension() const { return ext_; }

  // Rotates the minute keys when due (current -> previous, new current; 3.3).
  void on_timer(Timestamp now);
  Timestamp next_rotation() const { return next_rotation_; }

  // Answers a Hello with a Cookie written into `out` (>= 200 bytes): returns 200, or a
  // reason (hello_box: box does not open or C' is a low-order point). A nonce-source
  // failure returns nonce_failure and sets nonce_failed(): the reference exits 111 then
  // ("nonce-generation disaster"). Makes a fresh S'/s' per Hello; keeps no state.
  std::variant<size_t, DropReason> answer_hello(const ClientPacketView& hello, MutableBytes out);

  // Validates an Initiate for a C' that has no connection (Case B of 3.5: cookie under
  // current or previous minute key, C' match, box, server name, vouch) and returns the
  // new session with the first message written into `out` (>= 640 bytes). Reasons, in
  // check order: stale_cookie, cookie_mismatch, initiate_box, wrong_server_name, vouch.
  // Keeps no record of used cookies, like the reference (3.5 "Replays"): the caller must
  // look C' up in its connection table first and use ServerSession::open for known ones.
  // `may_compute`, when given, is asked once the cookie has opened and named C', before
  // the key computations: false drops the Initiate as replayed_nonce (the caller's
  // replay memory, so that a replayed cookie does not cost a scalar multiplication).
  // Every decrypted buffer is wiped before returning.
  std::variant<AcceptedInitiate, DropReason> accept_initiate(const ClientPacketView& initiate, MutableBytes out,
                                                             const std::function<bool()>& may_compute = {});

  bool nonce_failed() const { return nonce_failed_; }

 private:
  std::variant<AcceptedInitiate, DropReason> accept_initiate_into(const ClientPacketView& initiate, MutableBytes out,
                                                                  const std::function<bool()>& may_compute,
                                                                  MutableBytes plain);
  SecretKey long_term_;
  ServerName name_;
  Extension ext_;
  NonceSource& nonces_;
  Rng& rng_;
  SharedKey minute_key_;
  SharedKey previous_minute_key_;
  Timestamp next_rotation_;
  bool nonce_failed_ = false;
};

}  // namespace curvecp
