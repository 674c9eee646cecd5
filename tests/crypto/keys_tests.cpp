// Key types (crypto/keys.h, crypto/box.h): secret-key ownership, constant-time equality,
// low-order points refused (CURVECP.md 0.2), and what that means for both handshakes.
#include <doctest/doctest.h>

#include <cstdint>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>

#include "crypto/box.h"
#include "crypto/wire_layout.h"
#include "test_support.h"

namespace curvecp {
namespace {

TEST_CASE("SecretKey owns guarded memory and moves it") {
  REQUIRE(crypto_initialize());
  SeededRng rng(11);
  KeyPair kp = KeyPair::generate(rng);
  const uint8_t* where = kp.sk.data();
  REQUIRE(where != nullptr);
  SecretKey moved = std::move(kp.sk);
  CHECK(moved.data() == where);  // the allocation moved, nothing was copied
  CHECK(kp.sk.data() == nullptr);
  SecretKey copy = SecretKey::from_bytes(Bytes(moved.data(), 32));
  CHECK(copy.data() != moved.data());
  CHECK(copy.equals(moved));
  copy.data()[31] ^= 1;
  CHECK_FALSE(copy.equals(moved));
  CHECK(SecretKey().equals(SecretKey()));  // zero-filled on allocation
}

TEST_CASE("shared keys: symmetric, distinct per pair") {
  REQUIRE(crypto_initialize());
  SeededRng rng(12);
  KeyPair a = KeyPair::generate(rng), b = KeyPair::generate(rng), c = KeyPair::generate(rng);
  auto ab = SharedKey::compute(b.pk, a.sk);
  auto ba = SharedKey::compute(a.pk, b.sk);
  auto ac = SharedKey::compute(c.pk, a.sk);
  REQUIRE(ab.ok());
  REQUIRE(ba.ok());
  REQUIRE(ac.ok());
  CHECK(ab->equals(*ba));
  CHECK_FALSE(ab->equals(*ac));
}

namespace {
// The VmFlags line of the mapping in /proc/self/smaps that contains `p` ("" if none).
std::string vm_flags_of(const void* p) {
  const auto at = reinterpret_cast<uintptr_t>(p);
  std::ifstream smaps("/proc/self/smaps");
  std::string line;
  bool inside = false;
  while (std::getline(smaps, line)) {
    uintptr_t lo = 0, hi = 0;
    char dash = 0;
    std::istringstream range(line);
    if (range >> std::hex >> lo >> dash >> hi && dash == '-' && line.find(':') > line.find(' ')) {
      inside = lo <= at && at < hi;
      continue;
    }
    if (inside && line.rfind("VmFlags:", 0) == 0) return line;
  }
  return "";
}
}  // namespace

TEST_CASE("key memory is excluded from core dumps (MADV_DONTDUMP: 'dd' in VmFlags)") {
  REQUIRE(crypto_initialize());
  SeededRng rng(3);
  KeyPair kp = KeyPair::generate(rng);
  const std::string secret_flags = vm_flags_of(kp.sk.data());
  INFO(secret_flags);
  CHECK(secret_flags.find(" dd") != std::string::npos);
  auto shared = SharedKey::compute(kp.pk, kp.sk);
  REQUIRE(shared.ok());
  const SharedKey copy = *shared;
  for (const SharedKey* k : {static_cast<const SharedKey*>(&*shared), &copy}) {
    const std::string flags = vm_flags_of(k->data());
    INFO(flags);
    CHECK(flags.find(" dd") != std::string::npos);
  }
  CHECK(copy.equals(*shared));
  CHECK(copy.data() != shared->data());
}

TEST_CASE("low-order public keys are refused") {
  REQUIRE(crypto_initialize());
  SeededRng rng(13);
  KeyPair a = KeyPair::generate(rng);
  PublicKey zero{};  // the identity point: beforenm would give an all-zero key
  CHECK_FALSE(SharedKey::compute(zero, a.sk).ok());

  SUBCASE("a Hello from a low-order C' is dropped") {
    test::Pair p;
    auto hello = p.hello();
    std::memset(hello.data() + wire::hello::kClientShortTermOffset, 0, 32);
    std::vector<uint8_t> out(kMaxPacketBytes);
    auto r = p.server->answer_hello(test::must_parse_client(hello, p.server->extension()), out);
    REQUIRE(std::holds_alternative<DropReason>(r));
    CHECK(std::get<DropReason>(r) == DropReason::hello_box);
  }
  SUBCASE("a client aimed at a low-order server key gives up at once") {
    ClientConfig config;
    KeyPair lt = KeyPair::generate(rng);
    config.client_long_term_pk = lt.pk;
    config.client_long_term_sk = std::move(lt.sk);
    ClientHandshake client(std::move(config), rng, Timestamp{0});
    CHECK(client.server_key_invalid());
    CHECK(client.state() == ClientHandshake::State::timed_out);
    std::vector<uint8_t> out(kMaxPacketBytes);
    CHECK(client.poll_hello(Timestamp{0}, out) == 0);
    CHECK(client.next_timeout() == Timestamp::never());
  }
}

TEST_CASE("box helpers: nonces, sealing in place, constant-time compare") {
  REQUIRE(crypto_initialize());
  const Nonce24 a = make_nonce("CurveCP-client-M", uint64_t{0x0102030405060708});
  CHECK(std::memcmp(a.bytes.data(), "CurveCP-client-M", 16) == 0);
  CHECK(a.bytes[16] == 0x08);  // little-endian suffix (spec 2.2)
  CHECK(a.bytes[23] == 0x01);
  const uint8_t suffix[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
  const Nonce24 b = make_nonce("CurveCPK", Bytes(suffix, 16));
  CHECK(std::memcmp(b.bytes.data(), "CurveCPK", 8) == 0);
  CHECK(b.bytes[8] == 1);
  CHECK(b.bytes[23] == 16);

  const SharedKey key = SharedKey::from_bytes(std::vector<uint8_t>(32, 7));
  std::vector<uint8_t> buf(16 + 40);
  for (int i = 0; i < 40; ++i) buf[i] = static_cast<uint8_t>(i);
  const std::vector<uint8_t> plain(buf.begin(), buf.begin() + 40);
  seal_box(key, a, Bytes(buf.data(), 40), buf.data());  // in place: output starts at input
  std::vector<uint8_t> opened(40);
  CHECK(open_box(key, a, buf, opened.data()));
  CHECK(opened == plain);
  CHECK_FALSE(open_box(key, b, buf, opened.data()));  // wrong nonce
  CHECK_FALSE(open_box(key, a, Bytes(buf.data(), 15), opened.data()));  // shorter than a tag

  CHECK(equal_constant_time(plain, plain));
  CHECK_FALSE(equal_constant_time(plain, Bytes(plain.data(), 39)));
  std::vector<uint8_t> other = plain;
  other[39] ^= 1;
  CHECK_FALSE(equal_constant_time(plain, other));
  wipe(other);
  CHECK(other == std::vector<uint8_t>(40, 0));
}

}  // namespace
}  // namespace curvecp
