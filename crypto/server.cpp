#include "crypto/server.h"

#include <array>
#include <cstring>

#include "crypto/box.h"
#include "crypto/wire_layout.h"

namespace curvecp {

namespace {
constexpr uint64_t kNonceStartBound = uint64_t{1} << 48;  // spec 2.2: start uniform in [0, 2^48)

bool valid_message_size(size_t bytes, size_t max_bytes) {
  return bytes >= kMinMessageBytes && bytes <= max_bytes && bytes % 16 == 0;
}

void write_magic(uint8_t* at, std::string_view prefix, char type) {
  std::memcpy(at, prefix.data(), wire::kMagicPrefixBytes);
  at[wire::kTypeOffset] = static_cast<uint8_t>(type);
}

SharedKey random_minute_key(Rng& rng) {
  std::array<uint8_t, kKeyBytes> raw;
  rng.fill(raw);
  SharedKey k = SharedKey::from_bytes(raw);
  wipe(raw);
  return k;
}
}  // namespace

// ---- ServerSession -------------------------------------------------------------------

std::variant<size_t, DropReason> ServerSession::open(const ClientPacketView& packet, MutableBytes out) {
  if (packet.client_short_term != client_short_term_) return DropReason::unknown_connection;
  const Bytes d = packet.datagram;
  if (packet.type == ClientPacketType::initiate) {
    // Case A of spec 3.5: only the nonce and the box; cookie, vouch and name are not
    // looked at again.
    const uint64_t n = load_le64(d.data() + wire::initiate::kNonceOffset);
    // Spec 3.8: check before opening, update only after the box opened.
    if (n <= received_nonce_) return DropReason::replayed_nonce;
    std::array<uint8_t, wire::initiate::kMaxPlaintextBytes> plain;
    const Bytes boxed = d.subspan(wire::initiate::kBoxOffset);
    const size_t message_bytes = d.size() - kInitiateHeaderBytes;
    if (out.size() < message_bytes) return DropReason::bad_length;
    if (!open_box(key_, make_nonce(wire::kInitiateNoncePrefix, n), boxed, plain.data())) return DropReason::initiate_box;
    received_nonce_ = n;
    std::memcpy(out.data(), plain.data() + wire::initiate::kPlaintextMessageOffset, message_bytes);
    wipe(plain);  // the client's long-term key, vouch and first message
    return message_bytes;
  }
  if (packet.type != ClientPacketType::message) return DropReason::unexpected;
  // Spec 3.6.
  const uint64_t n = load_le64(d.data() + wire::client_message::kNonceOffset);
  if (n <= received_nonce_) return DropReason::replayed_nonce;  // spec 3.8
  const size_t message_bytes = d.size() - kClientMessageHeaderBytes;
  if (out.size() < message_bytes) return DropReason::bad_length;
  if (!open_box(key_, make_nonce(wire::kClientMessageNoncePrefix, n), d.subspan(wire::client_message::kBoxOffset),
                out.data())) {
    return DropReason::message_box;
  }
  received_nonce_ = n;
  return message_bytes;
}

size_t ServerSession::seal(Bytes message, MutableBytes out) {
  if (!valid_message_size(message.size(), kMaxMessageBytes)) return 0;
  const size_t packet_bytes = kServerMessageHeaderBytes + message.size();
  if (out.size() < packet_bytes) return 0;
  // Nonce rule (spec 2.2, 3.7): the per-connection counter starts below 2^48 and is
  // incremented before each use; at UINT64_MAX it would wrap to a used value, so the
  // connection refuses to send and the caller must close it. It never repeats.
  if (sent_nonce_ == UINT64_MAX) return 0;
  ++sent_nonce_;
  uint8_t* p = out.data();
  write_magic(p, wire::kServerMagicPrefix, wire::kServerMessageType);
  std::memcpy(p + wire::kReceiverExtensionOffset, client_ext_.data(), kExtensionBytes);
  std::memcpy(p + wire::kSenderExtensionOffset, server_ext_.data(), kExtensionBytes);
  store_le64(p + wire::server_message::kNonceOffset, sent_nonce_);
  seal_box(key_, make_nonce(wire::kServerMessageNoncePrefix, sent_nonce_), message,
           p + wire::server_message::kBoxOffset);
  return packet_bytes;
}

// ---- ServerCrypto --------------------------------------------------------------------

ServerCrypto::ServerCrypto(SecretKey long_term, const ServerName& name, const Extension& ext, NonceSource& nonces,
                           Rng& rng, Timestamp now)
    : long_term_(std::move(long_term)),
      name_(name),
      ext_(ext),
      nonces_(nonces),
      rng_(rng),
      minute_key_(random_minute_key(rng)),
      previous_minute_key_(random_minute_key(rng)),
      next_rotation_(now + kMinuteKeyRotation) {}

void ServerCrypto::on_timer(Timestamp now) {
  // Spec 3.3: previous <- current, current <- fresh, every 60 s. After a long stall two
  // rotations already retire both keys, so never do more than two.
  for (int i = 0; i < 2 && now >= next_rotation_; ++i) {
    previous_minute_key_ = minute_key_;
    minute_key_ = random_minute_key(rng_);
    next_rotation_ += kMinuteKeyRotation;
  }
  if (now >= next_rotation_) next_rotation_ = now + kMinuteKeyRotation;
}

std::variant<size_t, DropReason> ServerCrypto::answer_hello(const ClientPacketView& hello, MutableBytes out) {
  if (hello.type != ClientPacketType::hello) return DropReason::unexpected;
  if (out.size() < kCookieBytes) return DropReason::bad_length;
  const Bytes d = hello.datagram;

  // Spec 3.4 steps 1-2: open the Hello box with beforenm(C', s).
  SharedKey hello_key;
  if (!compute_shared(hello.client_short_term, long_term_.data(), hello_key)) return DropReason::hello_box;
  std::array<uint8_t, wire::hello::kPlaintextBytes> zeros;
  if (!open_box(hello_key, make_nonce(wire::kHelloNoncePrefix, d.subspan(wire::hello::kNonceOffset, 8)),
                d.subspan(wire::hello::kBoxOffset), zeros.data())) {
    return DropReason::hello_box;
  }

  // Step 4 first: without a cookie nonce there is nothing to send, and then no key pair
  // needs making.
  Result<Nonce16> nonce = nonces_.next_nonce16();
  if (!nonce) {
    if (!nonces_.busy()) nonce_failed_ = true;  // busy: this Hello goes unanswered, not a disaster
    return DropReason::nonce_failure;
  }
  const Nonce16& n = *nonce;

  // Step 3: a fresh S'/s' per Hello; s' lives only in wiped stack memory and in the cookie.
  PublicKey server_short_term;
  EphemeralSecretKey server_short_term_secret;
  generate_ephemeral(rng_, server_short_term, server_short_term_secret);

  // Cookie-packet box plaintext: S' || K, with K = N || SecretBox[C' || s']{MK}("minute-k" || N).
  std::array<uint8_t, wire::cookie_packet::kPlaintextBytes> plain;
  std::memcpy(plain.data() + wire::cookie_packet::kPlaintextServerShortTermOffset, server_short_term.bytes.data(),
              kKeyBytes);
  uint8_t* cookie = plain.data() + wire::cookie_packet::kPlaintextCookieOffset;
  std::memcpy(cookie + wire::cookie::kNonceOffset, n.data(), n.size());
  std::array<uint8_t, wire::cookie::kPlaintextBytes> cookie_plain;
  std::memcpy(cookie_plain.data() + wire::cookie::kPlaintextClientShortTermOffset,
              hello.client_short_term.bytes.data(), kKeyBytes);
  std::memcpy(cookie_plain.data() + wire::cookie::kPlaintextServerShortTermSecretOffset,
              server_short_term_secret.data(), kKeyBytes);
  seal_box(minute_key_, make_nonce(wire::kMinuteKeyNoncePrefix, n), cookie_plain, cookie + wire::cookie::kBoxOffset);
  wipe(cookie_plain);

  // Step 5: the 200-byte Cookie packet, echoing the Hello's client extension.
  uint8_t* p = out.data();
  write_magic(p, wire::kServerMagicPrefix, wire::kCookieType);
  std::memcpy(p + wire::kReceiverExtensionOffset, hello.client_extension.data(), kExtensionBytes);
  std::memcpy(p + wire::kSenderExtensionOffset, ext_.data(), kExtensionBytes);
  std::memcpy(p + wire::cookie_packet::kNonceOffset, n.data(), n.size());
  seal_box(hello_key, make_nonce(wire::kCookieNoncePrefix, n), plain, p + wire::cookie_packet::kBoxOffset);
  wipe(plain);
  return kCookieBytes;
}

std::variant<AcceptedInitiate, DropReason> ServerCrypto::accept_initiate(const ClientPacketView& initiate,
                                                                          MutableBytes out,
                                                                          const std::function<bool()>& may_compute) {
  std::array<uint8_t, wire::initiate::kMaxPlaintextBytes> plain;
  auto result = accept_initiate_into(initiate, out, may_compute, plain);
  wipe(plain);
  return result;
}

std::variant<AcceptedInitiate, DropReason> ServerCrypto::accept_initiate_into(
    const ClientPacketView& initiate, MutableBytes out, const std::function<bool()>& may_compute,
    MutableBytes plain) {
  if (initiate.type != ClientPacketType::initiate) return DropReason::unexpected;
  const Bytes d = initiate.datagram;
  const size_t message_bytes = d.size() - kInitiateHeaderBytes;
  if (out.size() < message_bytes) return DropReason::bad_length;

  // Spec 3.5 Case B step 2: the cookie under the current, then the previous minute key.
  const Bytes cookie = d.subspan(wire::initiate::kCookieOffset, kCookieFieldBytes);
  const Nonce24 cookie_nonce =
      make_nonce(wire::kMinuteKeyNoncePrefix, cookie.subspan(wire::cookie::kNonceOffset, wire::cookie::kNonceBytes));
  const Bytes cookie_box = cookie.subspan(wire::cookie::kBoxOffset);
  std::array<uint8_t, wire::cookie::kPlaintextBytes> cookie_plain;
  if (!open_box(minute_key_, cookie_nonce, cookie_box, cookie_plain.data()) &&
      !open_box(previous_minute_key_, cookie_nonce, cookie_box, cookie_plain.data())) {
    return DropReason::stale_cookie;
  }

  // Step 3: the cookie must name this C'.
  AcceptedInitiate accepted;
  ServerSession& s = accepted.session;
  s.client_short_term_ = initiate.client_short_term;
  const bool same_client = equal_constant_time(
      Bytes(cookie_plain.data() + wire::cookie::kPlaintextClientShortTermOffset, kKeyBytes),
      s.client_short_term_.bytes);
  if (same_client && may_compute && !may_compute()) {
    wipe(cookie_plain);
    return DropReason::replayed_nonce;
  }
  // Step 4: session key beforenm(C', s'), then the Initiate box.
  const bool have_key =
      same_client &&
      compute_shared(s.client_short_term_, cookie_plain.data() + wire::cookie::kPlaintextServerShortTermSecretOffset,
                     s.key_);
  wipe(cookie_plain);
  if (!same_client) return DropReason::cookie_mismatch;
  if (!have_key) return DropReason::initiate_box;

  const uint64_t n = load_le64(d.data() + wire::initiate::kNonceOffset);
  if (!open_box(s.key_, make_nonce(wire::kInitiateNoncePrefix, n), d.subspan(wire::initiate::kBoxOffset),
                plain.data())) {
    return DropReason::initiate_box;
  }

  // Step 5: our 256-byte name, byte for byte.
  if (std::memcmp(plain.data() + wire::initiate::kPlaintextServerNameOffset, name_.data(), kServerNameBytes) != 0) {
    return DropReason::wrong_server_name;
  }

  // Step 6: the vouch Box[C']{C,S}("CurveCPV" || V) must open and name C'.
  std::memcpy(s.client_long_term_.bytes.data(), plain.data() + wire::initiate::kPlaintextClientLongTermOffset,
              kKeyBytes);
  SharedKey vouch_key;
  if (!compute_shared(s.client_long_term_, long_term_.data(), vouch_key)) return DropReason::vouch;
  std::array<uint8_t, kKeyBytes> vouched{};
  if (!open_box(vouch_key,
                make_nonce(wire::kVouchNoncePrefix,
                           Bytes(plain.data() + wire::initiate::kPlaintextVouchNonceOffset, wire::vouch::kNonceBytes)),
                Bytes(plain.data() + wire::initiate::kPlaintextVouchBoxOffset, wire::vouch::kBoxBytes),
                vouched.data()) ||
      !equal_constant_time(vouched, s.client_short_term_.bytes)) {
    wipe(vouched);
    return DropReason::vouch;
  }
  wipe(vouched);

  // Step 8: connection state. The received nonce starts at this Initiate's (spec 3.8); the
  // sent nonce starts uniform in [0, 2^48) (spec 2.2).
  std::memcpy(s.client_ext_.data(), initiate.client_extension.data(), kExtensionBytes);
  s.server_ext_ = ext_;
  s.received_nonce_ = n;
  s.sent_nonce_ = rng_.uniform(kNonceStartBound);
  std::memcpy(out.data(), plain.data() + wire::initiate::kPlaintextMessageOffset, message_bytes);
  accepted.message_bytes = message_bytes;
  return accepted;
}

}  // namespace curvecp
