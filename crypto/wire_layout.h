// Every byte offset of the five CurveCP packets, the cookie and the Initiate plaintext
// (CURVECP.md 2.3-2.7), and the nonce prefixes of every box (spec 2.2), in one place.
// The codecs in crypto/ index datagrams only through these names; packets.cpp
// static_asserts that they agree with the libsodium sizes and with packets.h.
#pragma once

#include <cstddef>
#include <string_view>

#include "crypto/packets.h"

namespace curvecp::wire {

// Spec 2.1: 7-byte direction prefix + 1 type letter.
inline constexpr std::string_view kClientMagicPrefix = "QvnQ5Xl";
inline constexpr std::string_view kServerMagicPrefix = "RL3aNMX";
inline constexpr size_t kMagicPrefixBytes = 7;
inline constexpr size_t kTypeOffset = 7;
inline constexpr char kHelloType = 'H';
inline constexpr char kInitiateType = 'I';
inline constexpr char kClientMessageType = 'M';
inline constexpr char kCookieType = 'K';
inline constexpr char kServerMessageType = 'M';

// Both directions: bytes 8..24 hold the receiver's extension, 24..40 the sender's.
inline constexpr size_t kReceiverExtensionOffset = 8;
inline constexpr size_t kSenderExtensionOffset = 24;
inline constexpr size_t kHeaderBytes = 40;

// Smallest datagram either side looks at (a Server Message with a 16-byte message).
inline constexpr size_t kMinPacketBytes = 80;
inline constexpr size_t kMaxServerPacketBytes = kServerMessageHeaderBytes + kMaxMessageBytes;  // 1152
inline constexpr size_t kPacketGranuleBytes = 16;

// Nonce prefixes (spec 2.2). 16-byte prefixes take an 8-byte counter suffix,
// 8-byte prefixes a 16-byte suffix.
inline constexpr std::string_view kHelloNoncePrefix = "CurveCP-client-H";
inline constexpr std::string_view kCookieNoncePrefix = "CurveCPK";
inline constexpr std::string_view kMinuteKeyNoncePrefix = "minute-k";
inline constexpr std::string_view kInitiateNoncePrefix = "CurveCP-client-I";
inline constexpr std::string_view kVouchNoncePrefix = "CurveCPV";
inline constexpr std::string_view kClientMessageNoncePrefix = "CurveCP-client-M";
inline constexpr std::string_view kServerMessageNoncePrefix = "CurveCP-server-M";

namespace hello {  // spec 2.3, 224 bytes
inline constexpr size_t kClientShortTermOffset = 40;
inline constexpr size_t kPaddingOffset = 72;
inline constexpr size_t kPaddingBytes = 64;
inline constexpr size_t kNonceOffset = 136;
inline constexpr size_t kBoxOffset = 144;
inline constexpr size_t kPlaintextBytes = 64;  // all zero
}  // namespace hello

namespace cookie_packet {  // spec 2.4, 200 bytes
inline constexpr size_t kNonceOffset = 40;
inline constexpr size_t kBoxOffset = 56;
// Box plaintext: S' (32) || cookie K (96).
inline constexpr size_t kPlaintextServerShortTermOffset = 0;
inline constexpr size_t kPlaintextCookieOffset = 32;
inline constexpr size_t kPlaintextBytes = kKeyBytes + kCookieFieldBytes;
}  // namespace cookie_packet

namespace cookie {  // the 96-byte cookie K, spec 2.4
inline constexpr size_t kNonceOffset = 0;
inline constexpr size_t kNonceBytes = 16;
inline constexpr size_t kBoxOffset = 16;
// Secret-box plaintext: C' (32) || s' (32).
inline constexpr size_t kPlaintextClientShortTermOffset = 0;
inline constexpr size_t kPlaintextServerShortTermSecretOffset = 32;
inline constexpr size_t kPlaintextBytes = 2 * kKeyBytes;
}  // namespace cookie

namespace initiate {  // spec 2.5, 544 + M bytes
inline constexpr size_t kClientShortTermOffset = 40;
inline constexpr size_t kCookieOffset = 72;
inline constexpr size_t kNonceOffset = 168;
inline constexpr size_t kBoxOffset = 176;
inline constexpr size_t kMinBytes = kInitiateHeaderBytes + kMinMessageBytes;  // 560
// Box plaintext P: C (32) || V (16) || vouch box (48) || server name (256) || message.
inline constexpr size_t kPlaintextClientLongTermOffset = 0;
inline constexpr size_t kPlaintextVouchOffset = 32;  // the 64-byte vouch: V || box
inline constexpr size_t kPlaintextVouchNonceOffset = 32;
inline constexpr size_t kPlaintextVouchBoxOffset = 48;
inline constexpr size_t kPlaintextServerNameOffset = 96;
inline constexpr size_t kPlaintextMessageOffset = 352;
inline constexpr size_t kMaxPlaintextBytes = kPlaintextMessageOffset + kMaxInitiateMessageBytes;
}  // namespace initiate

namespace vouch {  // the 64-byte vouch inside the Initiate plaintext
inline constexpr size_t kNonceBytes = 16;
inline constexpr size_t kBoxBytes = kKeyBytes + kBoxOverhead;  // Box[C']
inline constexpr size_t kBytes = kNonceBytes + kBoxBytes;
}  // namespace vouch

namespace server_message {  // spec 2.6, 64 + M bytes
inline constexpr size_t kNonceOffset = 40;
inline constexpr size_t kBoxOffset = 48;
}  // namespace server_message

namespace client_message {  // spec 2.7, 96 + M bytes
inline constexpr size_t kClientShortTermOffset = 40;
inline constexpr size_t kNonceOffset = 72;
inline constexpr size_t kBoxOffset = 80;
inline constexpr size_t kMinBytes = kClientMessageHeaderBytes + kMinMessageBytes;  // 112
}  // namespace client_message

}  // namespace curvecp::wire
