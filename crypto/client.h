// Client side of the CurveCP packet layer, sans-I/O (CURVECP.md 4.2-4.7).
// ClientHandshake sends Hellos on the reference schedule, accepts a Cookie, and then
// seals each outgoing message as an Initiate until the first authentic Server Message
// has arrived, and as a Client Message afterwards (4.6).
#pragma once

#include <cstddef>
#include <optional>
#include <variant>

#include "core/bytes.h"
#include "core/rng.h"
#include "core/time.h"
#include "crypto/keys.h"
#include "crypto/packets.h"

namespace curvecp {

struct ClientConfig {
  PublicKey server_long_term;
  ServerName server_name{};
  Extension server_extension{};
  Extension client_extension{};
  // The client's long-term key pair: from --key DIR, or freshly generated (anonymous).
  PublicKey client_long_term_pk;
  SecretKey client_long_term_sk;
  // Vouch nonce suffix: safenonce (short-term flag) with a key directory, else random.
  Nonce16 vouch_nonce{};
};

class ClientHandshake {
 public:
  enum class State : uint8_t { sending_hellos, have_cookie, established, timed_out };

  // Makes the short-term key pair and picks the nonce counter start in [0, 2^48).
  ClientHandshake(ClientConfig config, Rng& rng, Timestamp now);

  State state() const { return state_; }

  // Hello schedule of 4.4: 8 Hellos with waits 1 s * 1.5^i, each scaled by U[1, 2).
  // When a Hello is due at `now`, writes it (224 bytes) into `out` and returns 224;
  // returns 0 when none is due. After the eighth wait, state() becomes timed_out.
  size_t poll_hello(Timestamp now, MutableBytes out);
  // Earliest time poll_hello needs calling (never() once a cookie is in).
  Timestamp next_timeout() const;
  // Ends the wait for the latest Hello's Cookie early: the next Hello is due at `now`
  // (the client learned, from an ICMP error, that the Hello's address will not answer).
  void hello_due(Timestamp now);

  // Accepts a Cookie datagram (caller checked the source address): nullopt on success
  // (state becomes have_cookie), else bad_length / bad_magic / unknown_type /
  // wrong_extension (header, 2.9), unexpected (not a Cookie, or not waiting for one),
  // cookie_box (does not open, or S' is a low-order point).
  std::optional<DropReason> handle_cookie(Bytes datagram);

  // After the cookie: seals `message` (16..1088, multiple of 16; at most 640 while not
  // established) as an Initiate or a Client Message into `out` (>= 1184 bytes) and
  // returns the packet length; 0 if the message is too long for the current state or
  // the nonce space is exhausted.
  size_t seal(Bytes message, MutableBytes out);

  // Opens a Server Message into `out` (>= 1088 bytes) and returns the message length.
  // The first accepted one moves the state to established (and wipes the vouch and cookie).
  // Reasons: header ones as for handle_cookie, unexpected (before the cookie, or a Cookie),
  // replayed_nonce (after the first, nonces must strictly increase: checked before the
  // box, stored after, 4.7), message_box.
  std::variant<size_t, DropReason> open(Bytes datagram, MutableBytes out);

  // Largest message seal() takes now: 640 before the first Server Message, 1088 after.
  size_t max_message_bytes() const;

  // True when the server's long-term key is a low-order point (beforenm fails): the
  // handshake then starts in state timed_out and sends nothing.
  bool server_key_invalid() const { return server_key_invalid_; }

 private:
  friend struct CryptoTestAccess;  // tests only: drives the nonce counter to its end
  size_t write_nonce(uint8_t* at);  // increments then writes the 8-byte counter

  ClientConfig config_;
  Rng& rng_;
  State state_ = State::sending_hellos;
  KeyPair short_term_;
  SharedKey hello_key_;     // beforenm(S, c')
  SharedKey vouch_key_;     // beforenm(S, c)
  SharedKey session_key_;   // beforenm(S', c')
  PublicKey server_short_term_;
  std::array<uint8_t, kCookieFieldBytes> cookie_{};
  std::array<uint8_t, 64> vouch_{};  // V || Box[C']{C,S}
  uint64_t nonce_ = 0;
  uint64_t last_server_nonce_ = 0;
  bool got_server_message_ = false;
  bool server_key_invalid_ = false;
  int hellos_sent_ = 0;
  Timestamp next_hello_;
};

}  // namespace curvecp
