// Underlay addresses as 16 bytes (IPv4 as ::ffff:a.b.c.d) to and from socket addresses.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include "net.h"

namespace vtep {

inline bool IsV4Mapped(const uint8_t* a) {
  static const uint8_t kPrefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  return memcmp(a, kPrefix, sizeof(kPrefix)) == 0;
}

// The socket address of `a` and `port`; IPv4 for a v4-mapped address.
inline socklen_t ToSockaddr(const uint8_t* a, uint16_t port, sockaddr_storage* ss) {
  memset(ss, 0, sizeof(sockaddr_in6));
  if (IsV4Mapped(a)) {
    auto* sa = reinterpret_cast<sockaddr_in*>(ss);
    sa->sin_family = AF_INET;
    memcpy(&sa->sin_addr, a + 12, 4);
    sa->sin_port = htons(port);
    return sizeof(sockaddr_in);
  }
  auto* sa = reinterpret_cast<sockaddr_in6*>(ss);
  sa->sin6_family = AF_INET6;
  memcpy(&sa->sin6_addr, a, kAddrLen);
  sa->sin6_port = htons(port);
  return sizeof(sockaddr_in6);
}

// The 16-byte address and the port of a socket address (zeros for another family).
inline void FromSockaddr(const sockaddr_storage* ss, uint8_t* a, uint16_t* port) {
  memset(a, 0, kAddrLen);
  *port = 0;
  if (ss->ss_family == AF_INET) {
    auto* sa = reinterpret_cast<const sockaddr_in*>(ss);
    a[10] = a[11] = 0xff;
    memcpy(a + 12, &sa->sin_addr, 4);
    *port = ntohs(sa->sin_port);
  } else if (ss->ss_family == AF_INET6) {
    auto* sa = reinterpret_cast<const sockaddr_in6*>(ss);
    memcpy(a, &sa->sin6_addr, kAddrLen);
    *port = ntohs(sa->sin6_port);
  }
}

inline int FamilyOf(const uint8_t* a) { return IsV4Mapped(a) ? AF_INET : AF_INET6; }

}  // namespace vtep
