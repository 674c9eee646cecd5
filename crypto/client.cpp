#include "crypto/client.h"

#include <cstring>

#include "crypto/box.h"
#include "crypto/wire_layout.h"

namespace curvecp {

namespace {
constexpr uint64_t kNonceStartBound = uint64_t{1} << 48;  // spec 2.2 / 4.2
constexpr int kHelloCount = 8;                            // spec 4.4
constexpr int64_t kFirstHelloWaitNs = 1'000'000'000;      // 1 s; each later wait is 1.5 times longer

// Base wait after Hello i: 1 s * 1.5^i, exact in nanoseconds for i < 9 (1e9 = 2^9 * 5^9).
int64_t hello_base_wait_ns(int i) {
  int64_t w = kFirstHelloWaitNs;
  for (int k = 0; k < i; ++k) w = w * 3 / 2;
  return w;
}

void write_magic(uint8_t* at, char type) {
  std::memcpy(at, wire::kClientMagicPrefix.data(), wire::kMagicPrefixBytes);
  at[wire::kTypeOffset] = static_cast<uint8_t>(type);
}
}  // namespace

ClientHandshake::ClientHandshake(ClientConfig config, Rng& rng, Timestamp now)
    : config_(std::move(config)), rng_(rng), short_term_(KeyPair::generate(rng)), next_hello_(now) {
  nonce_ = rng_.uniform(kNonceStartBound);
  // Spec 4.2: precompute beforenm(S, c') and beforenm(S, c). A low-order server key makes
  // both fail; such a server can never answer, so the handshake gives up at once.
  Result<SharedKey> hello_key = SharedKey::compute(config_.server_long_term, short_term_.sk);
  Result<SharedKey> vouch_key = SharedKey::compute(config_.server_long_term, config_.client_long_term_sk);
  if (!hello_key || !vouch_key) {
    server_key_invalid_ = true;
    state_ = State::timed_out;
    return;
  }
  hello_key_ = *hello_key;
  vouch_key_ = *vouch_key;
}

size_t ClientHandshake::write_nonce(uint8_t* at) {
  // Nonce rule (spec 2.2): one counter for Hello, Initiate and Client Message, started
  // below 2^48 and incremented before each use. At UINT64_MAX the next value would wrap to
  // one already used, so the client stops sending ("nonce space expired"): never a repeat.
  if (nonce_ == UINT64_MAX) return 0;
  ++nonce_;
  store_le64(at, nonce_);
  return 8;
}

size_t ClientHandshake::poll_hello(Timestamp now, MutableBytes out) {
  if (state_ != State::sending_hellos || now < next_hello_) return 0;
  if (hellos_sent_ == kHelloCount) {
    state_ = State::timed_out;  // the eighth wait is over (spec 4.4)
    return 0;
  }
  if (out.size() < kHelloBytes) return 0;
  uint8_t* p = out.data();
  write_magic(p, wire::kHelloType);
  std::memcpy(p + wire::kReceiverExtensionOffset, config_.server_extension.data(), kExtensionBytes);
  std::memcpy(p + wire::kSenderExtensionOffset, config_.client_extension.data(), kExtensionBytes);
  std::memcpy(p + wire::hello::kClientShortTermOffset, short_term_.pk.bytes.data(), kKeyBytes);
  std::memset(p + wire::hello::kPaddingOffset, 0, wire::hello::kPaddingBytes);
  if (write_nonce(p + wire::hello::kNonceOffset) == 0) {
    state_ = State::timed_out;
    return 0;
  }
  const std::array<uint8_t, wire::hello::kPlaintextBytes> zeros{};
  seal_box(hello_key_, make_nonce(wire::kHelloNoncePrefix, nonce_), zeros, p + wire::hello::kBoxOffset);
  // Wait uniformly in [w_i, 2 w_i) for this Hello's Cookie (spec 4.4).
  const int64_t base_ns = hello_base_wait_ns(hellos_sent_);
  next_hello_ = now + Duration::nanoseconds(base_ns + static_cast<int64_t>(rng_.uniform(static_cast<uint64_t>(base_ns))));
  ++hellos_sent_;
  return kHelloBytes;
}

Timestamp ClientHandshake::next_timeout() const {
  return state_ == State::sending_hellos ? next_hello_ : Timestamp::never();
}

void ClientHandshake::hello_due(Timestamp now) {
  if (state_ == State::sending_hellos && now < next_hello_) next_hello_ = now;
}

std::optional<DropReason> ClientHandshake::handle_cookie(Bytes datagram) {
  auto parsed = parse_server_packet(datagram, config_.client_extension, config_.server_extension);
  if (auto* reason = std::get_if<DropReason>(&parsed)) return *reason;
  if (std::get<ServerPacketView>(parsed).type != ServerPacketType::cookie) return DropReason::unexpected;
  // Only while waiting for one: a late duplicate must not replace the cookie in use.
  if (state_ != State::sending_hellos) return DropReason::unexpected;

  std::array<uint8_t, wire::cookie_packet::kPlaintextBytes> plain;
  if (!open_box(hello_key_, make_nonce(wire::kCookieNoncePrefix, datagram.subspan(wire::cookie_packet::kNonceOffset, 16)),
                datagram.subspan(wire::cookie_packet::kBoxOffset), plain.data())) {
    return DropReason::cookie_box;
  }
  std::memcpy(server_short_term_.bytes.data(), plain.data() + wire::cookie_packet::kPlaintextServerShortTermOffset,
              kKeyBytes);
  Result<SharedKey> session = SharedKey::compute(server_short_term_, short_term_.sk);
  if (!session) return DropReason::cookie_box;
  session_key_ = *session;
  std::memcpy(cookie_.data(), plain.data() + wire::cookie_packet::kPlaintextCookieOffset, kCookieFieldBytes);

  // Spec 4.5 step 2: the vouch V || Box[C']{C,S}("CurveCPV" || V), made once.
  std::memcpy(vouch_.data(), config_.vouch_nonce.data(), wire::vouch::kNonceBytes);
  seal_box(vouch_key_, make_nonce(wire::kVouchNoncePrefix, config_.vouch_nonce), short_term_.pk.bytes,
           vouch_.data() + wire::vouch::kNonceBytes);
  state_ = State::have_cookie;
  return std::nullopt;
}

size_t ClientHandshake::max_message_bytes() const {
  return state_ == State::established ? kMaxMessageBytes : kMaxInitiateMessageBytes;
}

size_t ClientHandshake::seal(Bytes message, MutableBytes out) {
  if (state_ != State::have_cookie && state_ != State::established) return 0;
  const size_t m = message.size();
  if (m < kMinMessageBytes || m > max_message_bytes() || m % 16 != 0) return 0;
  uint8_t* p = out.data();
  if (state_ == State::have_cookie) {
    // Spec 4.6: until a Server Message has been accepted every message is a full Initiate.
    const size_t packet_bytes = kInitiateHeaderBytes + m;
    if (out.size() < packet_bytes) return 0;
    write_magic(p, wire::kInitiateType);
    std::memcpy(p + wire::kReceiverExtensionOffset, config_.server_extension.data(), kExtensionBytes);
    std::memcpy(p + wire::kSenderExtensionOffset, config_.client_extension.data(), kExtensionBytes);
    std::memcpy(p + wire::initiate::kClientShortTermOffset, short_term_.pk.bytes.data(), kKeyBytes);
    std::memcpy(p + wire::initiate::kCookieOffset, cookie_.data(), kCookieFieldBytes);
    if (write_nonce(p + wire::initiate::kNonceOffset) == 0) return 0;
    // P = C || vouch || name || message (spec 2.5).
    std::array<uint8_t, wire::initiate::kMaxPlaintextBytes> plain;
    std::memcpy(plain.data() + wire::initiate::kPlaintextClientLongTermOffset, config_.client_long_term_pk.bytes.data(),
                kKeyBytes);
    std::memcpy(plain.data() + wire::initiate::kPlaintextVouchOffset, vouch_.data(), vouch_.size());
    std::memcpy(plain.data() + wire::initiate::kPlaintextServerNameOffset, config_.server_name.data(), kServerNameBytes);
    std::memcpy(plain.data() + wire::initiate::kPlaintextMessageOffset, message.data(), m);
    seal_box(session_key_, make_nonce(wire::kInitiateNoncePrefix, nonce_),
             Bytes(plain.data(), wire::initiate::kPlaintextMessageOffset + m), p + wire::initiate::kBoxOffset);
    return packet_bytes;
  }
  const size_t packet_bytes = kClientMessageHeaderBytes + m;
  if (out.size() < packet_bytes) return 0;
  write_magic(p, wire::kClientMessageType);
  std::memcpy(p + wire::kReceiverExtensionOffset, config_.server_extension.data(), kExtensionBytes);
  std::memcpy(p + wire::kSenderExtensionOffset, config_.client_extension.data(), kExtensionBytes);
  std::memcpy(p + wire::client_message::kClientShortTermOffset, short_term_.pk.bytes.data(), kKeyBytes);
  if (write_nonce(p + wire::client_message::kNonceOffset) == 0) return 0;
  seal_box(session_key_, make_nonce(wire::kClientMessageNoncePrefix, nonce_), message,
           p + wire::client_message::kBoxOffset);
  return packet_bytes;
}

std::variant<size_t, DropReason> ClientHandshake::open(Bytes datagram, MutableBytes out) {
  if (state_ != State::have_cookie && state_ != State::established) return DropReason::unexpected;
  auto parsed = parse_server_packet(datagram, config_.client_extension, config_.server_extension);
  if (auto* reason = std::get_if<DropReason>(&parsed)) return *reason;
  if (std::get<ServerPacketView>(parsed).type != ServerPacketType::message) return DropReason::unexpected;
  const size_t m = datagram.size() - kServerMessageHeaderBytes;
  if (out.size() < m) return DropReason::bad_length;
  // Spec 4.7: the first Server Message is taken whatever its nonce; later ones must be
  // strictly greater. Checked before opening, stored only after.
  const uint64_t n = load_le64(datagram.data() + wire::server_message::kNonceOffset);
  if (got_server_message_ && n <= last_server_nonce_) return DropReason::replayed_nonce;
  if (!open_box(session_key_, make_nonce(wire::kServerMessageNoncePrefix, n),
                datagram.subspan(wire::server_message::kBoxOffset), out.data())) {
    return DropReason::message_box;
  }
  last_server_nonce_ = n;
  if (!got_server_message_) {
    got_server_message_ = true;
    state_ = State::established;
    // Spec 4.7: the cookie and vouch are no longer needed.
    wipe(cookie_);
    wipe(vouch_);
  }
  return m;
}

}  // namespace curvecp
