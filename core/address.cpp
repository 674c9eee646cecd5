#include "core/address.h"

#include <arpa/inet.h>

#include <charconv>
#include <cstring>

namespace curvecp {

std::string Address::ip_string() const {
  char buf[INET6_ADDRSTRLEN] = {0};
  if (family == Family::ipv4) {
    inet_ntop(AF_INET, ip.data(), buf, sizeof buf);
  } else if (family == Family::ipv6) {
    inet_ntop(AF_INET6, ip.data(), buf, sizeof buf);
  } else {
    return "(none)";
  }
  return buf;
}

std::string Address::to_string() const {
  // Built with reserve + append rather than operator+ chains: gcc 12 at -O3 reports a false
  // -Werror=restrict inside std::string for `"[" + s + "]:"` (GCC bug 105329).
  const std::string ip_text = ip_string();
  const std::string port_text = std::to_string(port);
  std::string out;
  out.reserve(ip_text.size() + port_text.size() + 3);
  if (family == Family::ipv6) {
    out.push_back('[');
    out.append(ip_text);
    out.push_back(']');
  } else {
    out.append(ip_text);
  }
  out.push_back(':');
  out.append(port_text);
  return out;
}

std::optional<Address> Address::parse(std::string_view text, uint16_t port) {
  std::string s(text);
  Address a;
  a.port = port;
  if (inet_pton(AF_INET, s.c_str(), a.ip.data()) == 1) {
    a.family = Family::ipv4;
    return a;
  }
  if (inet_pton(AF_INET6, s.c_str(), a.ip.data()) == 1) {
    a.family = Family::ipv6;
    return a;
  }
  return std::nullopt;
}

size_t AddressHash::operator()(const Address& a) const {
  uint64_t h = 1469598103934665603ULL;  // FNV-1a
  auto mix = [&](uint8_t b) { h = (h ^ b) * 1099511628211ULL; };
  mix(static_cast<uint8_t>(a.family));
  for (uint8_t b : a.ip) mix(b);
  mix(static_cast<uint8_t>(a.port));
  mix(static_cast<uint8_t>(a.port >> 8));
  return static_cast<size_t>(h);
}

std::optional<uint16_t> parse_port(std::string_view text) {
  unsigned v = 0;
  if (text.empty() || text.size() > 5) return std::nullopt;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || p != text.data() + text.size() || v == 0 || v > 65535) return std::nullopt;
  return static_cast<uint16_t>(v);
}

}  // namespace curvecp
