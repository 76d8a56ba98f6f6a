// What a host says when it comes up or moves, so that its neighbours fix their
// caches and FDBs at once rather than when their entries time out: a
// gratuitous ARP (a request from the address to itself, as Linux's arp_notify
// sends) and an unsolicited Neighbor Advertisement with the override flag to
// all nodes (RFC 4861 section 7.2.6). vtepd speaks them for its TAP when a
// network comes up: a peer then learns the TAP's MAC behind this VTEP before
// any traffic, also after a restart.
import { ArpOp, emitArp, newArpRepr } from '../wire/arp.ts';
import { emitEthernet, EtherType, ETH_HEADER_LEN } from '../wire/ethernet.ts';
import { emitNd, Icmpv6Type, NA_LEN, NA_OVERRIDE, ND_HOP_LIMIT } from '../wire/icmpv6.ts';
import { ipv4Of, isV4Mapped } from '../wire/ip-address.ts';
import { emitIpv6, IPV6_DST, IPV6_HEADER_LEN, IPV6_SRC, newIpv6Header, NextHeader } from '../wire/ipv6.ts';
import { BROADCAST_MAC, type Mac } from '../wire/mac.ts';

/** ff02::1, and the MAC its packets go to (RFC 2464: 33:33 and the low 32 bits). */
const ALL_NODES = Uint8Array.from([0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
const ALL_NODES_MAC: Mac = 0x3333_0000_0001;
/** Ethernet frames are at least 60 bytes before the FCS: a shorter ARP is padded. */
const MIN_FRAME = 60;

/** The frame that announces `ip` (16 bytes; IPv4 as v4-mapped) at `mac`. */
export function announcement(mac: Mac, ip: Uint8Array): Buffer {
  if (isV4Mapped(ip)) {
    const f = Buffer.alloc(MIN_FRAME);
    emitEthernet({ dst: BROADCAST_MAC, src: mac, ethertype: EtherType.ARP }, f, 0);
    const addr = ipv4Of(ip);
    emitArp(
      { ...newArpRepr(), op: ArpOp.Request, senderMac: mac, senderIp: addr, targetMac: 0, targetIp: addr },
      f,
      ETH_HEADER_LEN,
    );
    return f;
  }
  const f = Buffer.alloc(ETH_HEADER_LEN + IPV6_HEADER_LEN + NA_LEN);
  emitEthernet({ dst: ALL_NODES_MAC, src: mac, ethertype: EtherType.IPv6 }, f, 0);
  emitIpv6(
    {
      ...newIpv6Header(),
      payloadLen: NA_LEN,
      nextHeader: NextHeader.ICMPv6,
      hopLimit: ND_HOP_LIMIT,
      src: ip,
      dst: ALL_NODES,
    },
    f,
    ETH_HEADER_LEN,
  );
  emitNd(
    { type: Icmpv6Type.NeighborAdvertisement, flags: NA_OVERRIDE, target: ip, mac },
    f,
    ETH_HEADER_LEN + IPV6_HEADER_LEN,
    ETH_HEADER_LEN + IPV6_SRC,
    ETH_HEADER_LEN + IPV6_DST,
  );
  return f;
}
