#include <doctest/doctest.h>

#include "core/address.h"
#include "core/bytes.h"
#include "core/result.h"
#include "core/rng.h"
#include "core/time.h"

using namespace curvecp;

TEST_CASE("little-endian load/store round trip") {
  uint8_t b[8];
  store_le64(b, 0x0102030405060708ULL);
  CHECK(b[0] == 0x08);
  CHECK(b[7] == 0x01);
  CHECK(load_le64(b) == 0x0102030405060708ULL);
  store_le16(b, 0xBEEF);
  CHECK(load_le16(b) == 0xBEEF);
}

TEST_CASE("ByteReader fails sticky past the end") {
  const uint8_t data[5] = {1, 2, 3, 4, 5};
  ByteReader r(data);
  CHECK(r.u32() == 0x04030201u);
  CHECK(r.ok());
  CHECK(r.u16() == 0);
  CHECK_FALSE(r.ok());
  CHECK(r.take(1).empty());
}

TEST_CASE("ByteWriter fails sticky on overflow") {
  uint8_t out[4];
  ByteWriter w(out);
  w.u16(7);
  CHECK(w.ok());
  w.u32(9);
  CHECK_FALSE(w.ok());
  CHECK(w.size() == 2);
}

TEST_CASE("hex decoding is strict") {
  uint8_t out[2];
  CHECK(decode_hex("aB0f", out));
  CHECK(out[0] == 0xab);
  CHECK(out[1] == 0x0f);
  CHECK_FALSE(decode_hex("abc", out));
  CHECK_FALSE(decode_hex("zz00", out));
  CHECK(encode_hex(Bytes(out, 2)) == "ab0f");
}

TEST_CASE("Result carries a value or an error") {
  Result<int> good = 5;
  Result<int> bad = make_error("nope");
  CHECK(good.ok());
  CHECK(*good == 5);
  CHECK_FALSE(bad.ok());
  CHECK(bad.error().message == "nope");
  Status s;
  CHECK(s.ok());
}

TEST_CASE("Timestamp saturates at never") {
  CHECK(Timestamp::never() + Duration::seconds(1) == Timestamp::never());
  Timestamp t{100};
  CHECK((t + Duration::nanoseconds(5)).ns == 105);
  CHECK((Timestamp{200} - t).ns == 100);
}

TEST_CASE("SeededRng is deterministic and uniform() stays in range") {
  SeededRng a(42), b(42), c(43);
  CHECK(a.next() == b.next());
  CHECK(a.next() != c.next());
  for (int i = 0; i < 1000; ++i) CHECK(a.uniform(7) < 7);
  CHECK(a.uniform(0) == 0);
  CHECK(a.uniform(1) == 0);
}

TEST_CASE("addresses parse strictly") {
  auto v4 = Address::parse("127.0.0.1", 80);
  REQUIRE(v4);
  CHECK(v4->to_string() == "127.0.0.1:80");
  auto v6 = Address::parse("::1", 443);
  REQUIRE(v6);
  CHECK(v6->to_string() == "[::1]:443");
  CHECK_FALSE(Address::parse("256.0.0.1", 1));
  CHECK_FALSE(Address::parse("example.com", 1));
  CHECK(parse_port("65535") == 65535);
  CHECK_FALSE(parse_port("65536"));
  CHECK_FALSE(parse_port("0"));
  CHECK_FALSE(parse_port("12a"));
}
