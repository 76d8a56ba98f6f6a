// Named constants of the protocols the kernels look into, and big-endian
// field access. Header-only: every kernel includes it.
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <string.h>

namespace vtep {

// Ethernet and 802.1Q.
constexpr size_t kEthHeaderLen = 14;
constexpr size_t kVlanTagLen = 4;
constexpr size_t kEthTypeOffset = 12;
constexpr uint16_t kEtherTypeIpv4 = 0x0800;
constexpr uint16_t kEtherTypeIpv6 = 0x86dd;
constexpr uint16_t kEtherTypeVlan = 0x8100;

// IPv4 (RFC 791) and IPv6 (RFC 8200) fields the kernels use.
constexpr size_t kIpv4MinHeaderLen = 20;
constexpr size_t kIpv4TotalLen = 2;
constexpr size_t kIpv4Ident = 4;
constexpr size_t kIpv4FlagsFrag = 6;
constexpr size_t kIpv4Protocol = 9;
constexpr size_t kIpv4Checksum = 10;
constexpr size_t kIpv4Src = 12;
constexpr uint16_t kIpv4FragMask = 0x3fff;  // MF and the fragment offset: any of them means a fragment
constexpr uint8_t kIpv4VersionIhlPlain = 0x45;  // version 4, no options
constexpr size_t kIpv6HeaderLen = 40;
constexpr size_t kIpv6PayloadLen = 4;
constexpr size_t kIpv6NextHeader = 6;
constexpr size_t kIpv6HopLimit = 7;
constexpr size_t kIpv6Src = 8;
constexpr size_t kIpv6AddressesLen = 32;
constexpr uint8_t kIpProtoTcp = 6;
constexpr uint8_t kIpProtoUdp = 17;

// TCP (RFC 9293) and UDP (RFC 768).
constexpr size_t kTcpMinHeaderLen = 20;
constexpr size_t kTcpSeq = 4;
constexpr size_t kTcpAck = 8;
constexpr size_t kTcpDataOffset = 12;
constexpr size_t kTcpFlags = 13;
constexpr size_t kTcpWindow = 14;
constexpr size_t kTcpChecksum = 16;
constexpr uint8_t kTcpFin = 0x01;
constexpr uint8_t kTcpPsh = 0x08;
constexpr uint8_t kTcpAckFlag = 0x10;
constexpr uint8_t kTcpCwr = 0x80;
constexpr size_t kUdpChecksum = 6;

// virtio_net_hdr (linux/virtio_net.h, which C++ cannot include: a field is
// named `class`). Its 16-bit fields are in host order on a legacy TAP.
constexpr size_t kVnetHdrLen = 10;
constexpr uint8_t kVnetNeedsCsum = 1;
constexpr uint8_t kVnetGsoNone = 0;
constexpr uint8_t kVnetGsoTcpv4 = 1;
constexpr uint8_t kVnetGsoTcpv6 = 4;
constexpr uint8_t kVnetGsoEcn = 0x80;

struct VnetHdr {
  uint8_t flags;
  uint8_t gso_type;
  uint16_t hdr_len;
  uint16_t gso_size;
  uint16_t csum_start;
  uint16_t csum_offset;
};

inline VnetHdr ReadVnetHdr(const uint8_t* p) {
  VnetHdr h;
  h.flags = p[0];
  h.gso_type = p[1];
  memcpy(&h.hdr_len, p + 2, 2);
  memcpy(&h.gso_size, p + 4, 2);
  memcpy(&h.csum_start, p + 6, 2);
  memcpy(&h.csum_offset, p + 8, 2);
  return h;
}

inline void WriteVnetHdr(uint8_t* p, const VnetHdr& h) {
  p[0] = h.flags;
  p[1] = h.gso_type;
  memcpy(p + 2, &h.hdr_len, 2);
  memcpy(p + 4, &h.gso_size, 2);
  memcpy(p + 6, &h.csum_start, 2);
  memcpy(p + 8, &h.csum_offset, 2);
}

// Underlay addresses cross the binding as 16 bytes: IPv6 as is, IPv4 as
// ::ffff:a.b.c.d (RFC 4291 section 2.5.5.2), so one table holds both.
constexpr size_t kAddrLen = 16;

inline uint16_t GetU16(const uint8_t* p) { return static_cast<uint16_t>((p[0] << 8) | p[1]); }
inline uint32_t GetU32(const uint8_t* p) {
  return (uint32_t(p[0]) << 24) | (uint32_t(p[1]) << 16) | (uint32_t(p[2]) << 8) | p[3];
}
inline void PutU16(uint8_t* p, uint16_t v) {
  p[0] = static_cast<uint8_t>(v >> 8);
  p[1] = static_cast<uint8_t>(v);
}
inline void PutU32(uint8_t* p, uint32_t v) {
  p[0] = static_cast<uint8_t>(v >> 24);
  p[1] = static_cast<uint8_t>(v >> 16);
  p[2] = static_cast<uint8_t>(v >> 8);
  p[3] = static_cast<uint8_t>(v);
}

// Fixed-size slots of one arena, as src/datapath/batch.ts lays them out: slot i's
// packet starts at i * slotSize + headroom.
struct Slots {
  uint8_t* arena;
  size_t arenaLen;
  uint32_t slotSize;
  uint32_t headroom;
  uint32_t* len;
  uint32_t capacity;  // slots that fit both the arena and `len`

  uint8_t* at(uint32_t i) const { return arena + static_cast<size_t>(i) * slotSize + headroom; }
  size_t room() const { return slotSize - headroom; }
};

// Frames to write or send: (offset, length) pairs into one arena. Several
// entries may point at the same bytes (head-end replication).
struct FrameList {
  uint8_t* arena;
  size_t arenaLen;
  const uint32_t* off;
  uint32_t* len;
  uint32_t count;

  bool inside(uint32_t i) const { return static_cast<size_t>(off[i]) + len[i] <= arenaLen; }
  uint8_t* at(uint32_t i) const { return arena + off[i]; }
};

}  // namespace vtep
