#include "crypto/packets.h"

#include <sodium.h>

#include <cstring>

#include "crypto/wire_layout.h"

namespace curvecp {

// Sizes of spec 2.1-2.7, derived from the primitives' constants.
static_assert(kBoxOverhead == crypto_box_MACBYTES && kBoxOverhead == crypto_secretbox_MACBYTES);
static_assert(wire::kHeaderBytes == 8 + 2 * kExtensionBytes);
static_assert(wire::hello::kClientShortTermOffset == wire::kHeaderBytes);
static_assert(wire::hello::kPaddingOffset == wire::hello::kClientShortTermOffset + crypto_box_PUBLICKEYBYTES);
static_assert(wire::hello::kNonceOffset == wire::hello::kPaddingOffset + wire::hello::kPaddingBytes);
static_assert(wire::hello::kBoxOffset == wire::hello::kNonceOffset + 8);
static_assert(kHelloBytes == wire::hello::kBoxOffset + wire::hello::kPlaintextBytes + kBoxOverhead);
static_assert(wire::cookie::kBoxOffset == wire::cookie::kNonceOffset + wire::cookie::kNonceBytes);
static_assert(kCookieFieldBytes == wire::cookie::kBoxOffset + wire::cookie::kPlaintextBytes + kBoxOverhead);
static_assert(wire::cookie_packet::kBoxOffset == wire::cookie_packet::kNonceOffset + 16);
static_assert(kCookieBytes == wire::cookie_packet::kBoxOffset + wire::cookie_packet::kPlaintextBytes + kBoxOverhead);
static_assert(wire::initiate::kCookieOffset == wire::initiate::kClientShortTermOffset + crypto_box_PUBLICKEYBYTES);
static_assert(wire::initiate::kNonceOffset == wire::initiate::kCookieOffset + kCookieFieldBytes);
static_assert(wire::initiate::kBoxOffset == wire::initiate::kNonceOffset + 8);
static_assert(wire::vouch::kBytes == 64);
static_assert(wire::initiate::kPlaintextVouchBoxOffset ==
              wire::initiate::kPlaintextVouchNonceOffset + wire::vouch::kNonceBytes);
static_assert(wire::initiate::kPlaintextServerNameOffset ==
              wire::initiate::kPlaintextVouchOffset + wire::vouch::kBytes);
static_assert(wire::initiate::kPlaintextMessageOffset == wire::initiate::kPlaintextServerNameOffset + kServerNameBytes);
static_assert(kInitiateHeaderBytes == wire::initiate::kBoxOffset + kBoxOverhead + wire::initiate::kPlaintextMessageOffset);
static_assert(kMaxPacketBytes == kInitiateHeaderBytes + kMaxInitiateMessageBytes);
static_assert(kServerMessageHeaderBytes == wire::server_message::kBoxOffset + kBoxOverhead);
static_assert(wire::client_message::kNonceOffset == wire::client_message::kClientShortTermOffset + crypto_box_PUBLICKEYBYTES);
static_assert(wire::client_message::kBoxOffset == wire::client_message::kNonceOffset + 8);
static_assert(kClientMessageHeaderBytes == wire::client_message::kBoxOffset + kBoxOverhead);
static_assert(kMaxPacketBytes == kClientMessageHeaderBytes + kMaxMessageBytes);
static_assert(wire::kMinPacketBytes == kServerMessageHeaderBytes + kMinMessageBytes);

const char* drop_reason_name(DropReason r) {
  switch (r) {
    case DropReason::bad_length: return "bad_length";
    case DropReason::bad_magic: return "bad_magic";
    case DropReason::wrong_extension: return "wrong_extension";
    case DropReason::unknown_type: return "unknown_type";
    case DropReason::hello_box: return "hello_box";
    case DropReason::cookie_box: return "cookie_box";
    case DropReason::stale_cookie: return "stale_cookie";
    case DropReason::cookie_mismatch: return "cookie_mismatch";
    case DropReason::initiate_box: return "initiate_box";
    case DropReason::wrong_server_name: return "wrong_server_name";
    case DropReason::vouch: return "vouch";
    case DropReason::replayed_nonce: return "replayed_nonce";
    case DropReason::message_box: return "message_box";
    case DropReason::unknown_connection: return "unknown_connection";
    case DropReason::unexpected: return "unexpected";
    case DropReason::wrong_source: return "wrong_source";
    case DropReason::table_full: return "table_full";
    case DropReason::bad_message: return "bad_message";
    case DropReason::nonce_failure: return "nonce_failure";
    case DropReason::count_: break;
  }
  return "unknown";
}

namespace {
bool has_magic_prefix(Bytes d, std::string_view prefix) {
  return std::memcmp(d.data(), prefix.data(), wire::kMagicPrefixBytes) == 0;
}
bool extension_matches(Bytes d, size_t offset, const Extension& ext) {
  return std::memcmp(d.data() + offset, ext.data(), kExtensionBytes) == 0;
}
}  // namespace

// Spec 2.8, cheapest check first: length range and granule, magic, our extension, then the
// exact length rule of the type letter. Nothing here costs more than a memcmp.
std::variant<ClientPacketView, DropReason> parse_client_packet(Bytes d, const Extension& server_ext) {
  const size_t n = d.size();
  if (n < wire::kMinPacketBytes || n > kMaxPacketBytes || n % wire::kPacketGranuleBytes != 0) {
    return DropReason::bad_length;
  }
  if (!has_magic_prefix(d, wire::kClientMagicPrefix)) return DropReason::bad_magic;
  if (!extension_matches(d, wire::kReceiverExtensionOffset, server_ext)) return DropReason::wrong_extension;
  ClientPacketType type;
  switch (static_cast<char>(d[wire::kTypeOffset])) {
    case wire::kHelloType:
      if (n != kHelloBytes) return DropReason::bad_length;
      type = ClientPacketType::hello;
      break;
    case wire::kInitiateType:
      if (n < wire::initiate::kMinBytes) return DropReason::bad_length;
      type = ClientPacketType::initiate;
      break;
    case wire::kClientMessageType:
      if (n < wire::client_message::kMinBytes) return DropReason::bad_length;
      type = ClientPacketType::message;
      break;
    default:
      return DropReason::unknown_type;
  }
  // C' sits at bytes 40..72 in all three types.
  static_assert(wire::hello::kClientShortTermOffset == wire::initiate::kClientShortTermOffset &&
                wire::initiate::kClientShortTermOffset == wire::client_message::kClientShortTermOffset);
  ClientPacketView view{type, d, d.subspan(wire::kSenderExtensionOffset, kExtensionBytes), PublicKey{}};
  std::memcpy(view.client_short_term.bytes.data(), d.data() + wire::hello::kClientShortTermOffset, kKeyBytes);
  return view;
}

// Spec 2.9: Cookie exactly 200, Server Message 80..1152 and a multiple of 16; magic; our client
// extension first, then the server's.
std::variant<ServerPacketView, DropReason> parse_server_packet(Bytes d, const Extension& client_ext,
                                                               const Extension& server_ext) {
  // The Cookie (200 bytes) is the one packet whose length is not a multiple of 16.
  const size_t n = d.size();
  const bool message_length =
      n >= wire::kMinPacketBytes && n <= wire::kMaxServerPacketBytes && n % wire::kPacketGranuleBytes == 0;
  if (n != kCookieBytes && !message_length) return DropReason::bad_length;
  if (!has_magic_prefix(d, wire::kServerMagicPrefix)) return DropReason::bad_magic;
  ServerPacketType type;
  switch (static_cast<char>(d[wire::kTypeOffset])) {
    case wire::kCookieType:
      if (n != kCookieBytes) return DropReason::bad_length;
      type = ServerPacketType::cookie;
      break;
    case wire::kServerMessageType:
      if (!message_length) return DropReason::bad_length;
      type = ServerPacketType::message;
      break;
    default:
      return DropReason::unknown_type;
  }
  if (!extension_matches(d, wire::kReceiverExtensionOffset, client_ext) ||
      !extension_matches(d, wire::kSenderExtensionOffset, server_ext)) {
    return DropReason::wrong_extension;
  }
  return ServerPacketView{type, d};
}

}  // namespace curvecp
