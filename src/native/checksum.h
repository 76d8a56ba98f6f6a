// The Internet checksum (RFC 1071) over large buffers, 32 bits at a time into
// a 64-bit accumulator: JavaScript's byte loop is fine for headers, not for
// every payload byte of a TSO frame.
#pragma once

#include <arpa/inet.h>

#include "net.h"

namespace vtep {

inline uint64_t Sum(const uint8_t* p, size_t len, uint64_t acc) {
  while (len >= 4) {
    uint32_t w;
    memcpy(&w, p, 4);
    acc += ntohl(w);
    p += 4;
    len -= 4;
  }
  if (len >= 2) {
    acc += GetU16(p);
    p += 2;
    len -= 2;
  }
  if (len) acc += static_cast<uint64_t>(p[0]) << 8;
  return acc;
}

// Folds and complements: the value that goes into a header.
inline uint16_t Fold(uint64_t acc) {
  while (acc >> 16) acc = (acc & 0xffff) + (acc >> 16);
  return static_cast<uint16_t>(~acc & 0xffff);
}

// The pseudo-header sum of a TCP or UDP segment of `l4len` bytes over the
// IPv4 or IPv6 header at `ip` (RFC 793, RFC 8200 section 8.1), unfolded.
inline uint64_t PseudoSum(const uint8_t* ip, bool v6, uint8_t protocol, size_t l4len) {
  if (v6) return Sum(ip + kIpv6Src, kIpv6AddressesLen, 0) + protocol + l4len;
  return Sum(ip + kIpv4Src, 8, 0) + protocol + l4len;
}

// Fills in the IPv4 header checksum of the `len`-byte header at `ip`.
inline void FillIpv4Checksum(uint8_t* ip, size_t len) {
  PutU16(ip + kIpv4Checksum, 0);
  PutU16(ip + kIpv4Checksum, Fold(Sum(ip, len, 0)));
}

}  // namespace vtep
