#include "daemon/sockaddr.h"

#include <netinet/in.h>

#include <cstring>

namespace curvecp {

socklen_t to_sockaddr(const Address& a, sockaddr_storage& out) {
  std::memset(&out, 0, sizeof out);
  if (a.family == Address::Family::ipv4) {
    auto* sin = reinterpret_cast<sockaddr_in*>(&out);
    sin->sin_family = AF_INET;
    sin->sin_port = htons(a.port);
    std::memcpy(&sin->sin_addr, a.ip.data(), 4);
    return sizeof(sockaddr_in);
  }
  if (a.family == Address::Family::ipv6) {
    auto* sin6 = reinterpret_cast<sockaddr_in6*>(&out);
    sin6->sin6_family = AF_INET6;
    sin6->sin6_port = htons(a.port);
    std::memcpy(&sin6->sin6_addr, a.ip.data(), 16);
    return sizeof(sockaddr_in6);
  }
  return 0;
}

Address from_sockaddr(const sockaddr* sa, socklen_t len) {
  Address a;
  if (sa->sa_family == AF_INET && len >= static_cast<socklen_t>(sizeof(sockaddr_in))) {
    const auto* sin = reinterpret_cast<const sockaddr_in*>(sa);
    a.family = Address::Family::ipv4;
    std::memcpy(a.ip.data(), &sin->sin_addr, 4);
    a.port = ntohs(sin->sin_port);
  } else if (sa->sa_family == AF_INET6 && len >= static_cast<socklen_t>(sizeof(sockaddr_in6))) {
    const auto* sin6 = reinterpret_cast<const sockaddr_in6*>(sa);
    a.family = Address::Family::ipv6;
    std::memcpy(a.ip.data(), &sin6->sin6_addr, 16);
    a.port = ntohs(sin6->sin6_port);
  }
  return a;
}

}  // namespace curvecp
