// A UDP endpoint: IPv4 or IPv6 address and port, as a small comparable value type.
// Conversion to and from sockaddr lives in the runtime (daemon/), which owns all I/O.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace curvecp {

struct Address {
  enum class Family : uint8_t { none, ipv4, ipv6 };

  Family family = Family::none;
  std::array<uint8_t, 16> ip{};  // IPv4 uses the first 4 bytes, network order
  uint16_t port = 0;             // host order

  bool operator==(const Address&) const = default;

  // "1.2.3.4:5" or "[::1]:5".
  std::string to_string() const;
  // Just the address part, no port: "1.2.3.4" or "::1".
  std::string ip_string() const;

  // Parses a literal IPv4 dotted quad (strict: 0..255 per part) or IPv6 address.
  static std::optional<Address> parse(std::string_view ip, uint16_t port);
};

struct AddressHash {
  size_t operator()(const Address& a) const;
};

// Parses a port number 1..65535 strictly (no wrap-around, unlike the reference, spec 2.10).
std::optional<uint16_t> parse_port(std::string_view text);

}  // namespace curvecp
