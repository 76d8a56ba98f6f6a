#include "coalesce.h"

#include "checksum.h"

namespace vtep {

bool ParseSegment(const uint8_t* f, size_t len, Segment* s) {
  if (len < kEthHeaderLen + kIpv4MinHeaderLen + kTcpMinHeaderLen) return false;
  const uint8_t* ip = f + kEthHeaderLen;
  uint16_t ethertype = GetU16(f + kEthTypeOffset);
  size_t ipLen, l4;
  bool v6 = ethertype == kEtherTypeIpv6;
  if (ethertype == kEtherTypeIpv4) {
    if (ip[0] != kIpv4VersionIhlPlain || ip[kIpv4Protocol] != kIpProtoTcp) return false;
    size_t tot = GetU16(ip + kIpv4TotalLen);
    if (tot + kEthHeaderLen > len || tot < kIpv4MinHeaderLen + kTcpMinHeaderLen || (GetU16(ip + kIpv4FlagsFrag) & kIpv4FragMask) != 0)
      return false;
    if (Fold(Sum(ip, kIpv4MinHeaderLen, 0)) != 0) return false;
    ipLen = kIpv4MinHeaderLen;
    l4 = tot - kIpv4MinHeaderLen;
  } else if (v6) {
    if (len < kEthHeaderLen + kIpv6HeaderLen + kTcpMinHeaderLen) return false;
    if ((ip[0] >> 4) != 6 || ip[kIpv6NextHeader] != kIpProtoTcp) return false;
    l4 = GetU16(ip + kIpv6PayloadLen);
    if (kEthHeaderLen + kIpv6HeaderLen + l4 > len) return false;
    ipLen = kIpv6HeaderLen;
  } else {
    return false;
  }
  const uint8_t* tcp = ip + ipLen;
  if (l4 < kTcpMinHeaderLen) return false;
  size_t tcpLen = (tcp[kTcpDataOffset] >> 4) * 4;
  if (tcpLen < kTcpMinHeaderLen || tcpLen > l4) return false;
  if (tcp[kTcpFlags] & ~(kTcpAckFlag | kTcpPsh)) return false;
  if (Fold(Sum(tcp, l4, PseudoSum(ip, v6, kIpProtoTcp, l4))) != 0) return false;
  *s = {f, tcp, ipLen, tcpLen, l4 - tcpLen, v6};
  return s->payload > 0;
}

bool Continues(const Segment& a, const Segment& b, uint32_t nextSeq) {
  const uint8_t* x = a.frame + kEthHeaderLen;
  const uint8_t* y = b.frame + kEthHeaderLen;
  if (a.v6 != b.v6 || memcmp(a.frame, b.frame, kEthHeaderLen) != 0) return false;
  if (a.v6) {
    // Version, traffic class and flow label; hop limit; addresses.
    if (memcmp(x, y, 4) != 0 || x[kIpv6HopLimit] != y[kIpv6HopLimit] || memcmp(x + kIpv6Src, y + kIpv6Src, kIpv6AddressesLen) != 0)
      return false;
  } else if (x[1] != y[1] || x[8] != y[8] || memcmp(x + kIpv4Src, y + kIpv4Src, 8) != 0) {
    return false;  // TOS, TTL, addresses
  }
  if (a.tcpLen != b.tcpLen || memcmp(a.tcp, b.tcp, 4) != 0) return false;  // ports
  if (GetU32(b.tcp + kTcpSeq) != nextSeq) return false;
  if (memcmp(a.tcp + kTcpAck, b.tcp + kTcpAck, 4) != 0 || memcmp(a.tcp + kTcpWindow, b.tcp + kTcpWindow, 2) != 0) return false;
  return memcmp(a.tcp + kTcpMinHeaderLen, b.tcp + kTcpMinHeaderLen, a.tcpLen - kTcpMinHeaderLen) == 0;  // options
}

uint32_t PlanRun(const FrameList& frames, uint32_t i, Segment* segs) {
  if (!frames.inside(i) || !ParseSegment(frames.at(i), frames.len[i], &segs[0])) return 1;
  uint32_t count = 1;
  uint32_t next = GetU32(segs[0].tcp + kTcpSeq) + static_cast<uint32_t>(segs[0].payload);
  size_t total = kEthHeaderLen + segs[0].ipLen + segs[0].tcpLen + segs[0].payload;
  // Extend while the next frame continues the flow; the last may be shorter or carry PSH.
  while (i + count < frames.count && count < kMaxMergedSegments && !(segs[count - 1].tcp[kTcpFlags] & kTcpPsh) &&
         segs[count - 1].payload == segs[0].payload) {
    uint32_t j = i + count;
    if (!frames.inside(j) || !ParseSegment(frames.at(j), frames.len[j], &segs[count])) break;
    if (!Continues(segs[0], segs[count], next) || segs[count].payload > segs[0].payload) break;
    if (total + segs[count].payload > kMaxMergedBytes) break;
    total += segs[count].payload;
    next += static_cast<uint32_t>(segs[count].payload);
    count++;
  }
  return count;
}

size_t MergedHeader(const Segment* segs, uint32_t count, uint8_t* out) {
  const Segment& a = segs[0];
  size_t hdrs = kEthHeaderLen + a.ipLen + a.tcpLen;
  size_t total = 0;
  for (uint32_t k = 0; k < count; k++) total += segs[k].payload;
  VnetHdr h = {};
  h.flags = kVnetNeedsCsum;
  h.gso_type = a.v6 ? kVnetGsoTcpv6 : kVnetGsoTcpv4;
  h.hdr_len = static_cast<uint16_t>(hdrs);
  h.gso_size = static_cast<uint16_t>(a.payload);
  h.csum_start = static_cast<uint16_t>(kEthHeaderLen + a.ipLen);
  h.csum_offset = kTcpChecksum;
  WriteVnetHdr(out, h);
  uint8_t* f = out + kVnetHdrLen;
  memcpy(f, a.frame, hdrs);
  uint8_t* ip = f + kEthHeaderLen;
  uint8_t* tcp = ip + a.ipLen;
  size_t l4 = a.tcpLen + total;
  if (a.v6) {
    PutU16(ip + kIpv6PayloadLen, static_cast<uint16_t>(l4));
  } else {
    PutU16(ip + kIpv4TotalLen, static_cast<uint16_t>(kIpv4MinHeaderLen + l4));
    FillIpv4Checksum(ip, kIpv4MinHeaderLen);
  }
  tcp[kTcpFlags] |= segs[count - 1].tcp[kTcpFlags] & kTcpPsh;  // PSH of the last
  // Partial, as NEEDS_CSUM asks: the pseudo-header sum alone, which the receiving stack completes.
  PutU16(tcp + kTcpChecksum, static_cast<uint16_t>(~Fold(PseudoSum(ip, a.v6, kIpProtoTcp, l4)) & 0xffff));
  return kVnetHdrLen + hdrs;
}

}  // namespace vtep
