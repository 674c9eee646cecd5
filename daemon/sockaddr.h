// Conversion between core/address.h values and the kernel's sockaddr structures.
#pragma once

#include <sys/socket.h>

#include "core/address.h"

namespace curvecp {

// Writes `a` into `out`; returns the length to pass to the kernel, 0 if a.family is none.
socklen_t to_sockaddr(const Address& a, sockaddr_storage& out);
// Reads an AF_INET or AF_INET6 sockaddr; family none for anything else.
Address from_sockaddr(const sockaddr* sa, socklen_t len);

}  // namespace curvecp
