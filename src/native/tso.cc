#include "tso.h"

#include "checksum.h"
#include "frame.h"

namespace vtep {

namespace {

// Completes a checksum whose field holds the pseudo-header sum (the kernel's CHECKSUM_PARTIAL).
void CompleteChecksum(uint8_t* frame, size_t len, size_t start, size_t offset) {
  if (start > len || start + offset + 2 > len) return;
  PutU16(frame + start + offset, Fold(Sum(frame + start, len - start, 0)));
}

// The headers of a TSO frame: Ethernet (maybe one VLAN tag), IPv4 or IPv6
// without extension headers, TCP. False when they do not hold together.
struct TsoHeaders {
  size_t l3, ipHdr, l4, tcpHdr, hdrs;
  bool v6;
};

bool ParseTso(const uint8_t* frame, size_t len, uint8_t gso, TsoHeaders* h) {
  uint16_t ethertype = 0;
  h->l3 = L3Offset(frame, len, &ethertype);
  h->v6 = gso == kVnetGsoTcpv6;
  if (h->l3 == 0 || ethertype != (h->v6 ? kEtherTypeIpv6 : kEtherTypeIpv4)) return false;
  const uint8_t* ip = frame + h->l3;
  if (len < h->l3 + (h->v6 ? kIpv6HeaderLen : kIpv4MinHeaderLen)) return false;
  if (h->v6) {
    if (ip[kIpv6NextHeader] != kIpProtoTcp) return false;
    h->ipHdr = kIpv6HeaderLen;
  } else {
    h->ipHdr = (ip[0] & 0x0f) * 4;
    if (ip[kIpv4Protocol] != kIpProtoTcp || h->ipHdr < kIpv4MinHeaderLen) return false;
  }
  h->l4 = h->l3 + h->ipHdr;
  if (h->l4 + kTcpMinHeaderLen > len) return false;
  h->tcpHdr = (frame[h->l4 + kTcpDataOffset] >> 4) * 4;
  h->hdrs = h->l4 + h->tcpHdr;
  return h->tcpHdr >= kTcpMinHeaderLen && h->hdrs <= len;
}

}  // namespace

uint32_t SegmentFrames(const Slots& in, uint32_t n, const Slots& out, SegmentStats* stats) {
  const size_t room = out.room();
  uint32_t m = 0;
  for (uint32_t i = 0; i < n && i < in.capacity; i++) {
    const uint8_t* src = in.at(i);
    size_t len = in.len[i];
    if (len > in.room()) len = in.room();
    if (len < kVnetHdrLen + kEthHeaderLen) {
      stats->malformed++;
      continue;
    }
    VnetHdr h = ReadVnetHdr(src);
    const uint8_t* frame = src + kVnetHdrLen;
    len -= kVnetHdrLen;
    uint8_t gso = h.gso_type & ~kVnetGsoEcn;
    if (gso == kVnetGsoNone) {
      if (m == out.capacity || len > room) {
        stats->overflow++;
        continue;
      }
      uint8_t* dst = out.at(m);
      memcpy(dst, frame, len);
      if (h.flags & kVnetNeedsCsum) CompleteChecksum(dst, len, h.csum_start, h.csum_offset);
      out.len[m++] = static_cast<uint32_t>(len);
      continue;
    }
    TsoHeaders t;
    size_t mss = h.gso_size;
    if ((gso != kVnetGsoTcpv4 && gso != kVnetGsoTcpv6) || !ParseTso(frame, len, gso, &t) || mss == 0 || t.hdrs + mss > room) {
      stats->malformed++;
      continue;
    }
    size_t payload = len - t.hdrs;
    uint32_t seq = GetU32(frame + t.l4 + kTcpSeq);
    uint16_t ident = t.v6 ? 0 : GetU16(frame + t.l3 + kIpv4Ident);
    uint8_t flags = frame[t.l4 + kTcpFlags];
    for (size_t done = 0; done < payload || (payload == 0 && done == 0); done += mss) {
      if (m == out.capacity) {
        stats->overflow++;
        break;
      }
      size_t chunk = payload - done < mss ? payload - done : mss;
      bool first = done == 0, last = done + chunk >= payload;
      uint8_t* dst = out.at(m);
      memcpy(dst, frame, t.hdrs);
      memcpy(dst + t.hdrs, frame + t.hdrs + done, chunk);
      uint8_t* ip = dst + t.l3;
      uint8_t* tcp = dst + t.l4;
      size_t l4len = t.tcpHdr + chunk;
      if (t.v6) {
        PutU16(ip + kIpv6PayloadLen, static_cast<uint16_t>(l4len));
      } else {
        PutU16(ip + kIpv4TotalLen, static_cast<uint16_t>(t.ipHdr + l4len));
        PutU16(ip + kIpv4Ident, static_cast<uint16_t>(ident + done / mss));
        FillIpv4Checksum(ip, t.ipHdr);
      }
      PutU32(tcp + kTcpSeq, seq + static_cast<uint32_t>(done));
      uint8_t f = flags;
      if (!last) f &= static_cast<uint8_t>(~(kTcpFin | kTcpPsh));  // FIN and PSH only on the last segment
      if (!first) f &= static_cast<uint8_t>(~kTcpCwr);             // CWR only on the first
      tcp[kTcpFlags] = f;
      PutU16(tcp + kTcpChecksum, 0);
      PutU16(tcp + kTcpChecksum, Fold(Sum(tcp, l4len, PseudoSum(ip, t.v6, kIpProtoTcp, l4len))));
      out.len[m++] = static_cast<uint32_t>(t.hdrs + chunk);
      if (payload == 0) break;
    }
  }
  return m;
}

}  // namespace vtep
