#include "packet_io.h"

#include <errno.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <sys/socket.h>
#include <unistd.h>

#include "addr.h"
#include "checksum.h"

namespace vtep {

namespace {

constexpr uint16_t kIpv4Df = 0x4000;

uint32_t LoadLe32(const uint8_t* p) {
  uint32_t v;
  memcpy(&v, p, 4);
  return v;  // written by TypeScript in the host's (little-endian) order
}

// Which socket entry i goes out of: kPickRaw, kPickPacket, or neither (kPickNone).
constexpr uint8_t kPickRaw = 0;
constexpr uint8_t kPickPacket = 1;
constexpr uint8_t kPickNone = 2;

uint8_t Pick(const FrameList& frames, const Destinations& to, const HopTable& hops, uint32_t i) {
  const uint32_t d = to.dst[i];
  if (!frames.inside(i) || d >= to.tableCount) return kPickNone;
  if (d >= hops.count) return kPickRaw;
  uint8_t& state = hops.state[d];
  const uint8_t* hop = hops.hop + static_cast<size_t>(d) * kHopLen;
  bool current = memcmp(hop + kHopAddress, to.table + static_cast<size_t>(d) * kAddrLen, kAddrLen) == 0;
  if (state == kHopUnknown || ((state == kHopReady || state == kHopNudge) && !current)) {
    state = kHopWanted;
    hops.stats[kStatWanted]++;
    return kPickRaw;
  }
  if (state == kHopNudge) {
    state = kHopReady;
    return kPickRaw;
  }
  if (state != kHopReady) return kPickRaw;
  // Only the kernel fragments (a packet without DF larger than the link; over IPv6, one it may fragment at all).
  const bool v4 = IsV4Mapped(to.table + static_cast<size_t>(d) * kAddrLen);
  if (!v4 && OuterDfOf(to, i) == OuterDf::kFragmentable) return kPickRaw;
  const size_t ipHeader = v4 ? kIpv4MinHeaderLen : kIpv6HeaderLen;
  return frames.len[i] + ipHeader <= LoadLe32(hop + kHopMtu) ? kPickPacket : kPickRaw;
}

// Ethernet and IP header of entry i in front of its tunnel packet; returns their length.
size_t WriteLinkHeader(uint8_t* h, const FrameList& frames, const Destinations& to, const HopTable& hops, uint32_t i, uint8_t protocol, uint16_t* ipId) {
  const uint8_t* hop = hops.hop + static_cast<size_t>(to.dst[i]) * kHopLen;
  const uint8_t* dst = to.table + static_cast<size_t>(to.dst[i]) * kAddrLen;
  const bool v4 = IsV4Mapped(dst);
  memcpy(h, hop, 12);  // destination and source MAC
  PutU16(h + kEthTypeOffset, v4 ? kEtherTypeIpv4 : kEtherTypeIpv6);
  uint8_t* ip = h + kEthHeaderLen;
  const uint32_t len = frames.len[i];
  if (v4) {
    const bool df = OuterDfOf(to, i) == OuterDf::kSet;
    ip[0] = kIpv4VersionIhlPlain;
    ip[1] = to.tos[i];
    PutU16(ip + kIpv4TotalLen, static_cast<uint16_t>(len + kIpv4MinHeaderLen));
    // As the kernel's raw sockets: no identification on a packet that is never fragmented.
    PutU16(ip + kIpv4Ident, df ? 0 : (*ipId)++);
    PutU16(ip + kIpv4FlagsFrag, df ? kIpv4Df : 0);
    ip[8] = hops.ttl;
    ip[kIpv4Protocol] = protocol;
    memcpy(ip + kIpv4Src, hops.local + 12, 4);
    memcpy(ip + kIpv4Src + 4, dst + 12, 4);
    FillIpv4Checksum(ip, kIpv4MinHeaderLen);
    return kEthHeaderLen + kIpv4MinHeaderLen;
  }
  const uint32_t label = to.outer != nullptr ? to.outer[i] & kOuterLabelMask : 0;
  PutU32(ip, (6u << 28) | (static_cast<uint32_t>(to.tos[i]) << 20) | label);
  PutU16(ip + kIpv6PayloadLen, static_cast<uint16_t>(len));
  ip[kIpv6NextHeader] = protocol;
  ip[kIpv6HopLimit] = hops.ttl;
  memcpy(ip + kIpv6Src, hops.local, kAddrLen);
  memcpy(ip + kIpv6Src + kAddrLen, dst, kAddrLen);
  return kEthHeaderLen + kIpv6HeaderLen;
}

}  // namespace

int OpenPacketSocket(int sndbuf, Failure* fail) {
  // Protocol 0: it sends, and receives nothing.
  int fd = socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return Fail(fail, "socket(packet)");
  // Through the qdisc, not around it (PACKET_QDISC_BYPASS): a bypassing send
  // is invisible to tcpdump on the interface, and users compare captures.
  SetBuffer(fd, SO_SNDBUFFORCE, SO_SNDBUF, sndbuf);
  return fd;
}

uint32_t SendTunnelPackets(int packetFd, int rawFd, uint8_t protocol, const FrameList& frames, const Destinations& to, const HopTable& hops, Scratch* s) {
  static thread_local uint16_t ipId = 1;
  if (s->pick.size() < frames.count) s->pick.resize(frames.count);
  uint8_t* pick = s->pick.data();
  bool anyRaw = false, anyPacket = false;
  for (uint32_t i = 0; i < frames.count; i++) {
    pick[i] = Pick(frames, to, hops, i);
    anyRaw |= pick[i] == kPickRaw;
    anyPacket |= pick[i] == kPickPacket;
  }
  uint32_t raw = 0, packet = 0;
  // The raw ones first: a nudged destination's first packet leads.
  if (anyRaw) {
    Destinations viaRaw = to;
    viaRaw.pick = pick;
    viaRaw.picked = kPickRaw;
    raw = SendDatagrams(rawFd, frames, viaRaw, s);
  }
  for (uint32_t next = 0; anyPacket && next < frames.count;) {
    uint32_t count = 0;
    for (; next < frames.count && count < kMaxBatch; next++) {
      if (pick[next] != kPickPacket) continue;
      size_t head = WriteLinkHeader(s->linkHeader[count], frames, to, hops, next, protocol, &ipId);
      s->pair[2 * count] = {s->linkHeader[count], head};
      s->pair[2 * count + 1] = {frames.at(next), frames.len[next]};
      auto* ll = reinterpret_cast<sockaddr_ll*>(&s->addr[count]);
      memset(ll, 0, sizeof(*ll));
      ll->sll_family = AF_PACKET;
      ll->sll_protocol = htons(GetU16(s->linkHeader[count] + kEthTypeOffset));
      ll->sll_ifindex = static_cast<int>(LoadLe32(hops.hop + static_cast<size_t>(to.dst[next]) * kHopLen + kHopIfindex));
      SetMessage(&s->msgs[count].msg_hdr, &s->pair[2 * count], 2, &s->addr[count], sizeof(sockaddr_ll), nullptr, 0);
      s->first[count] = next;
      count++;
    }
    packet += SendMessages(packetFd, s->msgs, count, nullptr, s->first, to.unsent);
  }
  hops.stats[kStatPacket] += packet;
  hops.stats[kStatRaw] += raw;
  return raw + packet;
}

}  // namespace vtep
