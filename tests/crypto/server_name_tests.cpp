// Server-name encoding (CURVECP.md 3.12) and the hex parsers of spec 2.10.
#include <doctest/doctest.h>

#include <string>

#include "crypto/keys.h"
#include "crypto/server_name.h"

namespace curvecp {
namespace {

std::string encoded_prefix(const ServerName& n, size_t bytes) { return std::string(n.begin(), n.begin() + bytes); }

bool all_zero_from(const ServerName& n, size_t from) {
  for (size_t i = from; i < n.size(); ++i)
    if (n[i] != 0) return false;
  return true;
}

TEST_CASE("spec example: this.machine.name") {
  auto r = encode_server_name("this.machine.name");
  REQUIRE(r.ok());
  CHECK(encoded_prefix(*r, 19) == std::string("\x04this\x07machine\x04name\x00", 19));
  CHECK(all_zero_from(*r, 18));
}

TEST_CASE("empty labels are skipped, no case folding") {
  auto a = encode_server_name("..A.b..");
  REQUIRE(a.ok());
  CHECK(encoded_prefix(*a, 5) == std::string("\x01" "A\x01" "b\x00", 5));
  CHECK(all_zero_from(*a, 4));
  auto b = encode_server_name("a.b");
  REQUIRE(b.ok());
  CHECK(*a != *b);
}

TEST_CASE("empty name is 256 zero bytes") {
  for (std::string_view s : {"", ".", "..."}) {
    auto r = encode_server_name(s);
    REQUIRE(r.ok());
    CHECK(all_zero_from(*r, 0));
  }
}

TEST_CASE("label length limit 63") {
  CHECK(encode_server_name(std::string(63, 'x')).ok());
  auto r = encode_server_name(std::string(64, 'x') + ".com");
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().message.find("63") != std::string::npos);
}

TEST_CASE("total length limit: the encoding with its zero must fit in 256 bytes") {
  // Four 63-byte labels: 4 * 64 = 256 bytes plus the terminating zero = 257: too long.
  const std::string label(63, 'a');
  CHECK_FALSE(encode_server_name(label + "." + label + "." + label + "." + label).ok());
  // Three 63-byte labels and one of 62: 64*3 + 63 + 1 = 256: fits exactly.
  auto r = encode_server_name(label + "." + label + "." + label + "." + std::string(62, 'b'));
  REQUIRE(r.ok());
  CHECK((*r)[192] == 62);
  CHECK((*r)[254] == 'b');
  CHECK((*r)[255] == 0);
}

TEST_CASE("extension and key hex parsing (spec 2.10)") {
  Extension e;
  CHECK(parse_extension("31415926535897932384626433832795", e));
  CHECK(e[0] == 0x31);
  CHECK(e[15] == 0x95);
  CHECK(parse_extension("ABCDEFabcdef00000000000000000000", e));
  CHECK(e[0] == 0xAB);
  CHECK_FALSE(parse_extension("3141592653589793238462643383279", e));
  CHECK_FALSE(parse_extension("314159265358979323846264338327950", e));
  CHECK_FALSE(parse_extension("3141592653589793238462643383279g", e));
  PublicKey pk;
  CHECK(parse_public_key(std::string(64, 'f'), pk));
  CHECK(pk.bytes[31] == 0xff);
  CHECK_FALSE(parse_public_key(std::string(63, 'f'), pk));
}

}  // namespace
}  // namespace curvecp
