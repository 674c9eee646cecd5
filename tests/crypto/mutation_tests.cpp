// Seeded mutation test of every parser and opener, run in the normal (and sanitizer) test
// suite; the libFuzzer target (fuzz_packets.cpp) explores further when enabled.
// Property: a packet with flipped bits, or cut or grown, is rejected, unless every changed
// byte lies in a part of the packet that the protocol does not authenticate: the client
// extension of client->server packets (bytes 24..40, echoed but never checked, spec 2.8)
// and the Hello's zero padding (bytes 72..136, not checked, spec 2.3).
#include <doctest/doctest.h>

#include <functional>
#include <string>
#include <vector>

#include "crypto/wire_layout.h"
#include "test_support.h"

namespace curvecp {
namespace {

using Buf = std::vector<uint8_t>;
using Accepts = std::function<bool(const Buf&)>;

bool in_range(size_t i, size_t begin, size_t end) { return i >= begin && i < end; }

// Runs `trials` mutations of `packet`; `malleable(i)` says whether byte i may change
// without the packet being rejected. Returns how many mutations of only such bytes were
// accepted.
int mutate_and_check(const std::string& what, const Buf& packet, const Accepts& accepts,
                      const std::function<bool(size_t)>& malleable, SeededRng& rng, int trials) {
  INFO(what);
  REQUIRE(accepts(packet));  // the original is accepted
  int accepted_malleable = 0;
  for (int t = 0; t < trials; ++t) {
    Buf m = packet;
    bool only_malleable = true;
    const uint64_t kind = rng.uniform(8);
    if (kind == 0) {
      m.resize(rng.uniform(packet.size()));  // cut anywhere
      only_malleable = false;
    } else if (kind == 1) {
      m.resize(packet.size() + 1 + rng.uniform(32), static_cast<uint8_t>(rng.uniform(256)));  // grown
      only_malleable = false;
    } else {
      const int flips = 1 + static_cast<int>(rng.uniform(3));
      for (int f = 0; f < flips; ++f) m[rng.uniform(m.size())] ^= static_cast<uint8_t>(1u << rng.uniform(8));
      if (m == packet) continue;  // flips cancelled out
      // Judge by the bytes that ended up different (a bit flipped twice is unchanged).
      for (size_t i = 0; i < m.size(); ++i)
        if (m[i] != packet[i] && !malleable(i)) only_malleable = false;
    }
    const bool ok = accepts(m);
    if (!only_malleable) {
      INFO("trial " << t << " kind " << kind << " size " << m.size());
      CHECK_FALSE(ok);
    } else if (ok) {
      ++accepted_malleable;
    }
  }
  return accepted_malleable;
}

TEST_CASE("mutated packets are rejected unless only unauthenticated bytes changed") {
  test::Pair p(21);
  SeededRng rng(2024);
  constexpr int kTrials = 1500;
  const Extension sext = p.server->extension();
  const auto client_ext = [](size_t i) { return in_range(i, wire::kSenderExtensionOffset, wire::kHeaderBytes); };

  // Hello -> server.
  const Buf hello = p.hello();
  const int hello_malleable = mutate_and_check("hello", hello,
                   [&](const Buf& d) {
                     auto parsed = parse_client_packet(d, sext);
                     if (!std::holds_alternative<ClientPacketView>(parsed)) return false;
                     Buf out(kMaxPacketBytes);
                     return std::holds_alternative<size_t>(p.server->answer_hello(std::get<ClientPacketView>(parsed), out));
                   },
                   [&](size_t i) {
                     return client_ext(i) ||
                            in_range(i, wire::hello::kPaddingOffset, wire::hello::kPaddingOffset + wire::hello::kPaddingBytes);
                   },
                   rng, kTrials);
  // The reference accepts Hellos with any padding and client extension; so do we.
  CHECK(hello_malleable > 0);

  // Cookie -> client (a fresh client per check would change C'; instead every mutation
  // must fail, so the client stays waiting and the original is checked last).
  const Buf cookie = p.cookie_for(hello);
  int cookie_trials = 0;
  for (int t = 0; t < kTrials; ++t) {
    Buf m = cookie;
    const size_t i = rng.uniform(m.size());
    m[i] ^= static_cast<uint8_t>(1u << rng.uniform(8));
    if (rng.uniform(4) == 0) m.resize(rng.uniform(cookie.size() + 40), 0);
    if (m == cookie) continue;
    ++cookie_trials;
    CHECK(p.client->handle_cookie(m).has_value());
  }
  CHECK(cookie_trials > kTrials / 2);
  REQUIRE_FALSE(p.client->handle_cookie(cookie).has_value());

  // Initiate -> server (stateless accept).
  const Buf initiate = p.seal(test::message_of(320, 9));
  (void)mutate_and_check("initiate", initiate,
                   [&](const Buf& d) {
                     auto parsed = parse_client_packet(d, sext);
                     if (!std::holds_alternative<ClientPacketView>(parsed)) return false;
                     Buf out(kMaxPacketBytes);
                     return std::holds_alternative<AcceptedInitiate>(
                         p.server->accept_initiate(std::get<ClientPacketView>(parsed), out));
                   },
                   client_ext, rng, kTrials);
  Buf out(kMaxPacketBytes);
  auto accepted = p.server->accept_initiate(test::must_parse_client(initiate, sext), out);
  REQUIRE(std::holds_alternative<AcceptedInitiate>(accepted));
  const ServerSession session = std::move(std::get<AcceptedInitiate>(accepted).session);

  // Server Message -> client: nothing in it is malleable. Rejections leave the client's
  // state alone, so the original still opens at the end.
  Buf server_message(kMaxPacketBytes);
  ServerSession sender = session;
  server_message.resize(sender.seal(test::message_of(192, 4), server_message));
  int rejected = 0;
  for (int t = 0; t < kTrials; ++t) {
    Buf m = server_message;
    const size_t i = rng.uniform(m.size());
    m[i] ^= static_cast<uint8_t>(1u << rng.uniform(8));
    if (rng.uniform(4) == 0) m.resize(rng.uniform(server_message.size() + 40), 0);
    if (m == server_message) continue;
    Buf o(kMaxMessageBytes);
    CHECK(std::holds_alternative<DropReason>(p.client->open(m, o)));
    ++rejected;
  }
  CHECK(rejected > kTrials / 2);
  Buf o(kMaxMessageBytes);
  REQUIRE(std::holds_alternative<size_t>(p.client->open(server_message, o)));

  // Client Message -> server, each check on a copy of the session (opening updates it).
  const Buf client_message = p.seal(test::message_of(1088, 5));
  REQUIRE(client_message[wire::kTypeOffset] == 'M');
  (void)mutate_and_check("client message", client_message,
                   [&](const Buf& d) {
                     auto parsed = parse_client_packet(d, sext);
                     if (!std::holds_alternative<ClientPacketView>(parsed)) return false;
                     ServerSession copy = session;
                     Buf o2(kMaxPacketBytes);
                     return std::holds_alternative<size_t>(copy.open(std::get<ClientPacketView>(parsed), o2));
                   },
                   client_ext, rng, kTrials);
}

}  // namespace
}  // namespace curvecp
