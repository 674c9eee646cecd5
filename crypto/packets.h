// Wire layouts of the five CurveCP packets (CURVECP.md 2.3-2.7), all in one place, and the
// cheapest-first header checks of spec 2.8/2.9. Sizes derive from libsodium constants and
// are static_assert'ed in packets.cpp. Parsing never opens a box: it validates length,
// multiple of 16, magic and extension, and hands out views into the datagram.
#pragma once

#include <cstddef>
#include <cstdint>
#include <variant>

#include "core/bytes.h"
#include "core/counters.h"
#include "crypto/keys.h"

namespace curvecp {

inline constexpr size_t kBoxOverhead = 16;  // crypto_box_MACBYTES == crypto_secretbox_MACBYTES
inline constexpr size_t kMaxPacketBytes = 1184;
inline constexpr size_t kHelloBytes = 224;
inline constexpr size_t kCookieBytes = 200;
inline constexpr size_t kCookieFieldBytes = 96;    // the cookie K inside the Cookie packet
inline constexpr size_t kInitiateHeaderBytes = 544;  // Initiate = 544 + M
inline constexpr size_t kServerMessageHeaderBytes = 64;  // Server Message = 64 + M
inline constexpr size_t kClientMessageHeaderBytes = 96;  // Client Message = 96 + M
inline constexpr size_t kMinMessageBytes = 16;
inline constexpr size_t kMaxMessageBytes = 1088;
inline constexpr size_t kMaxInitiateMessageBytes = 640;

// Every reason a datagram is dropped, counted by the endpoint that dropped it.
enum class DropReason : uint8_t {
  bad_length,          // outside the type's range or not a multiple of 16
  bad_magic,           // not a CurveCP packet for this direction
  wrong_extension,     // receiver's own extension does not match
  unknown_type,        // magic prefix right, type letter unknown
  hello_box,           // Hello box does not open (wrong server key, tampered)
  cookie_box,          // Cookie packet box does not open (client side)
  stale_cookie,        // cookie opens under neither the current nor the previous minute key
  cookie_mismatch,     // cookie's C' differs from the packet's C'
  initiate_box,        // Initiate box does not open
  wrong_server_name,   // name in the Initiate differs from ours
  vouch,               // vouch does not open or does not name C'
  replayed_nonce,      // nonce not above the last accepted one
  message_box,         // Client/Server Message box does not open
  unknown_connection,  // Client Message for a C' with no connection
  unexpected,          // right packet, wrong state (e.g. Cookie when already connected)
  wrong_source,        // packet from an address that is not the peer's
  table_full,          // new connection refused: connection table full
  bad_message,         // decrypted message violates the message-layer format
  nonce_failure,       // our own nonce source failed or a counter would wrap: cannot answer
  count_
};
const char* drop_reason_name(DropReason r);
using DropCounters = Counters<DropReason>;

enum class ClientPacketType : uint8_t { hello, initiate, message };

// A client->server datagram that passed the header checks (spec 2.8 steps 1-4).
struct ClientPacketView {
  ClientPacketType type;
  Bytes datagram;         // the whole packet
  Bytes client_extension; // bytes 24..40
  PublicKey client_short_term;  // bytes 40..72 (all types)
};

// Header checks of spec 2.8 against our own server extension.
std::variant<ClientPacketView, DropReason> parse_client_packet(Bytes datagram, const Extension& server_ext);

enum class ServerPacketType : uint8_t { cookie, message };

struct ServerPacketView {
  ServerPacketType type;
  Bytes datagram;
};

// Header checks of spec 2.9 against our own client extension and the expected server
// extension (source address checks are the caller's). The Cookie is exactly 200 bytes (the
// only packet length that is not a multiple of 16); a Server Message 80..1152 in steps of 16.
std::variant<ServerPacketView, DropReason> parse_server_packet(Bytes datagram, const Extension& client_ext,
                                                               const Extension& server_ext);

}  // namespace curvecp
