#include "frame.h"

#include "checksum.h"

namespace vtep {

size_t L3Offset(const uint8_t* f, size_t len, uint16_t* ethertype) {
  if (len < kEthHeaderLen) return 0;
  *ethertype = GetU16(f + kEthTypeOffset);
  if (*ethertype != kEtherTypeVlan) return kEthHeaderLen;
  if (len < kEthHeaderLen + kVlanTagLen) return 0;
  *ethertype = GetU16(f + kEthTypeOffset + kVlanTagLen);
  return kEthHeaderLen + kVlanTagLen;
}

bool PartialChecksum(const uint8_t* f, size_t len) {
  uint16_t ethertype = 0;
  size_t l3 = L3Offset(f, len, &ethertype);
  if (l3 == 0) return false;
  const uint8_t* ip = f + l3;
  size_t ipHdr, l4;
  uint8_t proto;
  bool v6;
  if (ethertype == kEtherTypeIpv4 && len >= l3 + kIpv4MinHeaderLen) {
    ipHdr = (ip[0] & 0x0f) * 4;
    size_t tot = GetU16(ip + kIpv4TotalLen);
    if ((ip[0] >> 4) != 4 || ipHdr < kIpv4MinHeaderLen || tot < ipHdr || l3 + tot > len ||
        (GetU16(ip + kIpv4FlagsFrag) & kIpv4FragMask) != 0)
      return false;
    proto = ip[kIpv4Protocol];
    l4 = tot - ipHdr;
    v6 = false;
  } else if (ethertype == kEtherTypeIpv6 && len >= l3 + kIpv6HeaderLen) {
    ipHdr = kIpv6HeaderLen;
    l4 = GetU16(ip + kIpv6PayloadLen);
    if ((ip[0] >> 4) != 6 || l3 + kIpv6HeaderLen + l4 > len) return false;
    proto = ip[kIpv6NextHeader];
    v6 = true;
  } else {
    return false;
  }
  size_t field = proto == kIpProtoTcp ? kTcpChecksum : proto == kIpProtoUdp ? kUdpChecksum : 0;
  if (field == 0 || l4 < field + 2) return false;
  uint64_t pseudo = PseudoSum(ip, v6, proto, l4);
  uint16_t check = GetU16(ip + ipHdr + field);
  if (check == 0 || check != static_cast<uint16_t>(~Fold(pseudo))) return false;  // UDP over IPv4 0: no checksum
  return Fold(Sum(ip + ipHdr, l4, pseudo)) != 0;
}

}  // namespace vtep
