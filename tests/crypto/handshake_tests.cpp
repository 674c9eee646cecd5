// A full CurveCP handshake in memory between ClientHandshake and ServerCrypto, messages
// both ways, and every kind of bad packet rejected with its DropReason (CURVECP.md 2.8,
// 2.9, 3.4-3.8, 4.4-4.7).
#include <doctest/doctest.h>

#include <cstring>

#include "crypto/wire_layout.h"
#include "test_support.h"

namespace curvecp {
namespace {

using test::Pair;
using test::message_of;
using test::must_parse_client;

template <typename T>
DropReason reason_of(const std::variant<T, DropReason>& r) {
  REQUIRE(std::holds_alternative<DropReason>(r));
  return std::get<DropReason>(r);
}

struct Established {
  Pair pair;
  ServerSession session;
};

// Hello -> Cookie -> Initiate("first") -> accepted session.
ServerSession accept(Pair& p, const std::vector<uint8_t>& first_message) {
  auto initiate = p.initiate(first_message);
  CHECK(initiate.size() == kInitiateHeaderBytes + first_message.size());
  std::vector<uint8_t> out(kMaxMessageBytes);
  auto r = p.server->accept_initiate(must_parse_client(initiate, p.server->extension()), out);
  REQUIRE(std::holds_alternative<AcceptedInitiate>(r));
  auto& accepted = std::get<AcceptedInitiate>(r);
  REQUIRE(accepted.message_bytes == first_message.size());
  CHECK(std::memcmp(out.data(), first_message.data(), first_message.size()) == 0);
  CHECK(accepted.session.client_long_term() == p.client_keys.pk);
  CHECK(accepted.session.client_extension() == test::extension_of(0x43));
  return std::move(accepted.session);
}

TEST_CASE("handshake and messages both ways") {
  Pair p;
  CHECK(p.client->state() == ClientHandshake::State::sending_hellos);
  ServerSession session = accept(p, message_of(192, 0xA1));
  CHECK(p.client->state() == ClientHandshake::State::have_cookie);
  CHECK(p.client->max_message_bytes() == kMaxInitiateMessageBytes);

  // A second Initiate before any Server Message is plain data for the session (Case A).
  auto second = p.seal(message_of(576, 0xA2));
  CHECK(second.size() == kInitiateHeaderBytes + 576);
  std::vector<uint8_t> out(kMaxMessageBytes);
  auto r = session.open(must_parse_client(second, p.server->extension()), out);
  REQUIRE(std::holds_alternative<size_t>(r));
  CHECK(std::get<size_t>(r) == 576);
  CHECK(out[0] == 0xA2);

  // Server -> client.
  std::vector<uint8_t> packet(kMaxPacketBytes);
  auto reply = message_of(1088, 0xB1);
  size_t n = session.seal(reply, packet);
  REQUIRE(n == kServerMessageHeaderBytes + 1088);
  packet.resize(n);
  auto opened = p.client->open(packet, out);
  REQUIRE(std::holds_alternative<size_t>(opened));
  CHECK(std::get<size_t>(opened) == 1088);
  CHECK(out[1087] == 0xB1);
  CHECK(p.client->state() == ClientHandshake::State::established);
  CHECK(p.client->max_message_bytes() == kMaxMessageBytes);

  // Now client messages are Client Messages of up to 1088 bytes.
  auto big = p.seal(message_of(1088, 0xA3));
  CHECK(big.size() == kMaxPacketBytes);
  CHECK(big[7] == 'M');
  r = session.open(must_parse_client(big, p.server->extension()), out);
  REQUIRE(std::holds_alternative<size_t>(r));
  CHECK(std::get<size_t>(r) == 1088);
  CHECK(out[0] == 0xA3);

  // Replays are refused on both sides (3.8, 4.7).
  CHECK(reason_of(session.open(must_parse_client(big, p.server->extension()), out)) == DropReason::replayed_nonce);
  CHECK(reason_of(session.open(must_parse_client(second, p.server->extension()), out)) == DropReason::replayed_nonce);
  CHECK(reason_of(p.client->open(packet, out)) == DropReason::replayed_nonce);
}

TEST_CASE("client refuses oversize and undersize messages") {
  Pair p;
  ServerSession session = accept(p, message_of(16, 1));
  std::vector<uint8_t> out(kMaxPacketBytes);
  CHECK(p.client->seal(message_of(656, 1), out) == 0);  // > 640 before the first reply
  CHECK(p.client->seal(message_of(0, 1), out) == 0);
  CHECK(p.client->seal(message_of(24, 1), out) == 0);  // not a multiple of 16
  CHECK(session.seal(message_of(1104, 1), out) == 0);
  CHECK(session.seal(message_of(8, 1), out) == 0);
}

TEST_CASE("tampered packets are rejected") {
  Pair p;
  // Every subcase starts from a fresh Pair; those that run the whole handshake make their
  // own Hello.
  auto hello_now = [&] { return p.hello(); };
  SUBCASE("hello box") {
    auto hello = hello_now();
    hello[200] ^= 1;
    std::vector<uint8_t> out(kMaxPacketBytes);
    CHECK(reason_of(p.server->answer_hello(must_parse_client(hello, p.server->extension()), out)) ==
          DropReason::hello_box);
  }
  SUBCASE("hello nonce") {
    auto hello = hello_now();
    hello[wire::hello::kNonceOffset] ^= 1;
    std::vector<uint8_t> out(kMaxPacketBytes);
    CHECK(reason_of(p.server->answer_hello(must_parse_client(hello, p.server->extension()), out)) ==
          DropReason::hello_box);
  }
  SUBCASE("cookie box") {
    auto hello = hello_now();
    auto cookie = p.cookie_for(hello);
    cookie[100] ^= 0x80;
    CHECK(p.client->handle_cookie(cookie) == DropReason::cookie_box);
    CHECK(p.client->state() == ClientHandshake::State::sending_hellos);
  }
  SUBCASE("initiate box, cookie and C'") {
    auto hello = hello_now();
    auto cookie = p.cookie_for(hello);
    REQUIRE_FALSE(p.client->handle_cookie(cookie).has_value());
    auto initiate = p.seal(message_of(64, 7));
    std::vector<uint8_t> out(kMaxPacketBytes);
    auto try_accept = [&](const std::vector<uint8_t>& pkt) {
      return reason_of(p.server->accept_initiate(must_parse_client(pkt, p.server->extension()), out));
    };
    auto t = initiate;
    t[t.size() - 1] ^= 1;
    CHECK(try_accept(t) == DropReason::initiate_box);
    t = initiate;
    t[wire::initiate::kNonceOffset] ^= 1;
    CHECK(try_accept(t) == DropReason::initiate_box);
    t = initiate;
    t[wire::initiate::kCookieOffset + 40] ^= 1;  // inside the cookie's secret box
    CHECK(try_accept(t) == DropReason::stale_cookie);
    t = initiate;
    t[wire::initiate::kClientShortTermOffset] ^= 1;  // C' no longer the cookie's
    CHECK(try_accept(t) == DropReason::cookie_mismatch);
  }
  SUBCASE("server message") {
    ServerSession session = accept(p, message_of(16, 1));
    std::vector<uint8_t> packet(kMaxPacketBytes);
    size_t n = session.seal(message_of(32, 2), packet);
    packet.resize(n);
    std::vector<uint8_t> out(kMaxMessageBytes);
    auto t = packet;
    t[60] ^= 4;
    CHECK(reason_of(p.client->open(t, out)) == DropReason::message_box);
    t = packet;
    t[wire::server_message::kNonceOffset] ^= 4;
    CHECK(reason_of(p.client->open(t, out)) == DropReason::message_box);
    // The failed opens did not consume the nonce: the genuine packet still opens.
    CHECK(std::holds_alternative<size_t>(p.client->open(packet, out)));
  }
  SUBCASE("client message") {
    ServerSession session = accept(p, message_of(16, 1));
    std::vector<uint8_t> packet(kMaxPacketBytes), out(kMaxMessageBytes);
    packet.resize(session.seal(message_of(32, 2), packet));
    REQUIRE(std::holds_alternative<size_t>(p.client->open(packet, out)));
    auto msg = p.seal(message_of(48, 3));
    auto t = msg;
    t[100] ^= 1;
    CHECK(reason_of(session.open(must_parse_client(t, p.server->extension()), out)) == DropReason::message_box);
    t = msg;
    t[wire::client_message::kClientShortTermOffset + 3] ^= 1;
    CHECK(reason_of(session.open(must_parse_client(t, p.server->extension()), out)) == DropReason::unknown_connection);
    CHECK(std::holds_alternative<size_t>(session.open(must_parse_client(msg, p.server->extension()), out)));
  }
}

TEST_CASE("truncated and malformed headers") {
  Pair p;
  auto hello = p.hello();
  Extension ext = p.server->extension();
  auto parse = [&](std::vector<uint8_t> d) { return reason_of(parse_client_packet(d, ext)); };
  CHECK(parse(std::vector<uint8_t>(hello.begin(), hello.begin() + 208)) == DropReason::bad_length);  // H not 224
  CHECK(parse(std::vector<uint8_t>(hello.begin(), hello.begin() + 100)) == DropReason::bad_length);  // not 16k
  CHECK(parse(std::vector<uint8_t>(64, 0)) == DropReason::bad_length);
  CHECK(parse(std::vector<uint8_t>(1200, 0)) == DropReason::bad_length);
  auto t = hello;
  t[0] = 'X';
  CHECK(parse(t) == DropReason::bad_magic);
  t = hello;
  t[7] = 'Z';
  CHECK(parse(t) == DropReason::unknown_type);
  t = hello;
  t[7] = 'I';  // an Initiate must be at least 560 bytes
  CHECK(parse(t) == DropReason::bad_length);
  t = hello;
  t[wire::kReceiverExtensionOffset] ^= 1;
  CHECK(parse(t) == DropReason::wrong_extension);

  // Server side packets at the client.
  auto cookie = p.cookie_for(hello);
  CHECK(p.client->handle_cookie(std::vector<uint8_t>(cookie.begin(), cookie.begin() + 192)) == DropReason::bad_length);
  auto c = cookie;
  c[3] ^= 1;
  CHECK(p.client->handle_cookie(c) == DropReason::bad_magic);
  c = cookie;
  c[wire::kReceiverExtensionOffset] ^= 1;  // not our client extension
  CHECK(p.client->handle_cookie(c) == DropReason::wrong_extension);
  c = cookie;
  c[wire::kSenderExtensionOffset] ^= 1;  // not the server's extension
  CHECK(p.client->handle_cookie(c) == DropReason::wrong_extension);
  REQUIRE_FALSE(p.client->handle_cookie(cookie).has_value());
  CHECK(p.client->handle_cookie(cookie) == DropReason::unexpected);  // already have one
}

TEST_CASE("wrong server key, wrong name, wrong extension") {
  SUBCASE("client aimed at another server key: hello box") {
    Pair p;
    Pair other(7);
    auto hello = p.hello();
    std::vector<uint8_t> out(kMaxPacketBytes);
    CHECK(reason_of(other.server->answer_hello(must_parse_client(hello, other.server->extension()), out)) ==
          DropReason::hello_box);
  }
  SUBCASE("wrong server name") {
    Pair p(3, "this.machine.name", "This.machine.name");
    auto initiate = p.initiate(message_of(16, 1));
    std::vector<uint8_t> out(kMaxPacketBytes);
    CHECK(reason_of(p.server->accept_initiate(must_parse_client(initiate, p.server->extension()), out)) ==
          DropReason::wrong_server_name);
  }
  SUBCASE("wrong server extension") {
    Pair p;
    auto hello = p.hello();
    CHECK(reason_of(parse_client_packet(hello, test::extension_of(0x54))) == DropReason::wrong_extension);
  }
}

TEST_CASE("bad vouch") {
  Pair p;
  // A client whose configured long-term public key does not match its secret key makes a
  // vouch that opens under no key the server can compute from the claimed C.
  SeededRng rng(99);
  KeyPair stranger = KeyPair::generate(rng);
  ClientConfig config;
  config.server_long_term = p.server_keys.pk;
  config.server_name = test::name_of("this.machine.name");
  config.server_extension = test::extension_of(0x53);
  config.client_extension = test::extension_of(0x43);
  config.client_long_term_pk = stranger.pk;
  config.client_long_term_sk = SecretKey::from_bytes(Bytes(p.client_keys.sk.data(), 32));
  p.client.emplace(std::move(config), p.rng, Timestamp{0});
  auto initiate = p.initiate(message_of(16, 1));
  std::vector<uint8_t> out(kMaxPacketBytes);
  CHECK(reason_of(p.server->accept_initiate(must_parse_client(initiate, p.server->extension()), out)) ==
        DropReason::vouch);
}

TEST_CASE("cookie lifetime: valid after one rotation, stale after two") {
  Pair p;
  auto initiate = p.initiate(message_of(16, 1));
  std::vector<uint8_t> out(kMaxPacketBytes);
  p.server->on_timer(Timestamp{0} + Duration::seconds(59));
  CHECK(p.server->next_rotation() == Timestamp{0} + Duration::seconds(60));
  p.server->on_timer(Timestamp{0} + Duration::seconds(60));
  CHECK(p.server->next_rotation() == Timestamp{0} + Duration::seconds(120));
  CHECK(std::holds_alternative<AcceptedInitiate>(
      p.server->accept_initiate(must_parse_client(initiate, p.server->extension()), out)));
  p.server->on_timer(Timestamp{0} + Duration::seconds(120));
  CHECK(reason_of(p.server->accept_initiate(must_parse_client(initiate, p.server->extension()), out)) ==
        DropReason::stale_cookie);
}

TEST_CASE("a clock jump retires both minute keys at once") {
  Pair p;
  auto initiate = p.initiate(message_of(16, 1));
  std::vector<uint8_t> out(kMaxPacketBytes);
  const Timestamp later = Timestamp{0} + Duration::seconds(600);
  p.server->on_timer(later);
  CHECK(p.server->next_rotation() == later + kMinuteKeyRotation);
  CHECK(reason_of(p.server->accept_initiate(must_parse_client(initiate, p.server->extension()), out)) ==
        DropReason::stale_cookie);
  // Fresh cookies work under the new keys.
  Pair q(4);
  q.server->on_timer(later);
  auto fresh = q.initiate(message_of(16, 1));
  CHECK(std::holds_alternative<AcceptedInitiate>(
      q.server->accept_initiate(must_parse_client(fresh, q.server->extension()), out)));
}

TEST_CASE("captured initiate is accepted again while its cookie lives (reference behaviour 3.5)") {
  Pair p;
  auto initiate = p.initiate(message_of(16, 1));
  std::vector<uint8_t> out(kMaxPacketBytes);
  auto view = must_parse_client(initiate, p.server->extension());
  CHECK(std::holds_alternative<AcceptedInitiate>(p.server->accept_initiate(view, out)));
  // The daemon must look C' up in its table first; ServerCrypto is stateless here.
  CHECK(std::holds_alternative<AcceptedInitiate>(p.server->accept_initiate(view, out)));
}

TEST_CASE("nonce source failure means no cookie") {
  Pair p;
  p.nonces.set_failing(true);
  auto hello = p.hello();
  std::vector<uint8_t> out(kMaxPacketBytes);
  CHECK(reason_of(p.server->answer_hello(must_parse_client(hello, p.server->extension()), out)) ==
        DropReason::nonce_failure);
  CHECK(p.server->nonce_failed());
}

TEST_CASE("hello schedule: 8 hellos, waits 1.5^i s scaled by [1, 2), then timed out") {
  Pair p;
  std::vector<uint8_t> out(kMaxPacketBytes);
  Timestamp now{0};
  int64_t base_ns = 1'000'000'000;
  uint64_t last_nonce = 0;
  for (int i = 0; i < 8; ++i) {
    CHECK(p.client->next_timeout() == now);
    REQUIRE(p.client->poll_hello(now, out) == kHelloBytes);
    const uint64_t nonce = load_le64(out.data() + wire::hello::kNonceOffset);
    if (i == 0) {
      CHECK(nonce < (uint64_t{1} << 48) + 1);
    } else {
      CHECK(nonce == last_nonce + 1);  // each Hello a fresh, increasing nonce
    }
    last_nonce = nonce;
    const Duration wait = p.client->next_timeout() - now;
    CHECK(wait.ns >= base_ns);
    CHECK(wait.ns < 2 * base_ns);
    CHECK(p.client->poll_hello(now + wait - Duration::nanoseconds(1), out) == 0);
    now = now + wait;
    base_ns = base_ns * 3 / 2;
  }
  // The client's own schedule, not this loop's variable: eight waits of 1.5^i s scaled by
  // [1, 2) add up to [49.2578125, 98.515625) s (sum of 1.5^i for i < 8 is 2 * (1.5^8 - 1)),
  // and the client gives up exactly when the last one ends.
  const int64_t schedule_min_ns = 49'257'812'500;
  CHECK((now - Timestamp{0}).ns >= schedule_min_ns);
  CHECK((now - Timestamp{0}).ns < 2 * schedule_min_ns);
  CHECK(p.client->poll_hello(now, out) == 0);
  CHECK(p.client->state() == ClientHandshake::State::timed_out);
  CHECK(p.client->next_timeout() == Timestamp::never());
}

TEST_CASE("server nonces strictly increase from below 2^48; client accepts only increasing") {
  Pair p;
  ServerSession session = accept(p, message_of(16, 1));
  std::vector<uint8_t> a(kMaxPacketBytes), b(kMaxPacketBytes), out(kMaxMessageBytes);
  a.resize(session.seal(message_of(16, 1), a));
  b.resize(session.seal(message_of(16, 2), b));
  const uint64_t na = load_le64(a.data() + wire::server_message::kNonceOffset);
  const uint64_t nb = load_le64(b.data() + wire::server_message::kNonceOffset);
  CHECK(na <= (uint64_t{1} << 48));
  CHECK(nb == na + 1);
  // Delivered out of order: the later one first, then the earlier is a replay.
  CHECK(std::holds_alternative<size_t>(p.client->open(b, out)));
  CHECK(reason_of(p.client->open(a, out)) == DropReason::replayed_nonce);
}

}  // namespace
}  // namespace curvecp

namespace curvecp {

// Reaches the nonce counters, which no public call can move near 2^64.
struct CryptoTestAccess {
  static void set_sent_nonce(ServerSession& s, uint64_t v) { s.sent_nonce_ = v; }
  static void set_client_nonce(ClientHandshake& c, uint64_t v) { c.nonce_ = v; }
};

namespace {

TEST_CASE("nonce counters stop at the end instead of wrapping") {
  test::Pair p;
  ServerSession session = accept(p, message_of(16, 1));
  std::vector<uint8_t> packet(kMaxPacketBytes), out(kMaxMessageBytes);
  const auto msg = message_of(16, 1);

  // Server: the last value is used once, then seal refuses (the caller closes).
  CryptoTestAccess::set_sent_nonce(session, UINT64_MAX - 1);
  size_t n = session.seal(msg, packet);
  REQUIRE(n > 0);
  CHECK(load_le64(packet.data() + wire::server_message::kNonceOffset) == UINT64_MAX);
  CHECK(session.seal(msg, packet) == 0);
  CHECK(session.seal(msg, packet) == 0);
  packet.resize(n);
  CHECK(std::holds_alternative<size_t>(p.client->open(packet, out)));

  // Client: likewise, for Client Messages.
  CryptoTestAccess::set_client_nonce(*p.client, UINT64_MAX - 1);
  std::vector<uint8_t> sent(kMaxPacketBytes);
  n = p.client->seal(msg, sent);
  REQUIRE(n > 0);
  CHECK(load_le64(sent.data() + wire::client_message::kNonceOffset) == UINT64_MAX);
  CHECK(p.client->seal(msg, sent) == 0);
  sent.resize(n);
  CHECK(std::holds_alternative<size_t>(session.open(must_parse_client(sent, p.server->extension()), out)));
}

TEST_CASE("a client whose nonce space ends during the Hellos gives up") {
  test::Pair p;
  CryptoTestAccess::set_client_nonce(*p.client, UINT64_MAX);
  std::vector<uint8_t> out(kMaxPacketBytes);
  CHECK(p.client->poll_hello(Timestamp{0}, out) == 0);
  CHECK(p.client->state() == ClientHandshake::State::timed_out);
}

}  // namespace
}  // namespace curvecp
