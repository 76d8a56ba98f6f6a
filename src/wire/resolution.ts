// The frames a router sends to learn a neighbour's MAC: an ARP request
// (RFC 826) broadcast, or an IPv6 Neighbor Solicitation (RFC 4861 section
// 7.2.2) to the target's solicited-node multicast group, each with the
// router's own address and MAC as the sender's, written whole at buf[off].
import { ARP_LEN, ArpOp, emitArp, newArpRepr } from './arp.ts';
import { emitEthernet, EtherType, ETH_HEADER_LEN } from './ethernet.ts';
import { emitNd, Icmpv6Type, ND_HOP_LIMIT, NS_LEN } from './icmpv6.ts';
import { emitIpv6, IPV6_DST, IPV6_HEADER_LEN, IPV6_SRC, newIpv6Header, NextHeader } from './ipv6.ts';
import { ipv4Of, isV4Mapped } from './ip-address.ts';
import { BROADCAST_MAC, type Mac } from './mac.ts';

/** Ethernet's least frame (without its FCS): shorter ones are padded. */
const MIN_FRAME = 60;
const arp = newArpRepr();

/** The solicited-node multicast address of `target` (RFC 4291 section 2.7.1): ff02::1:ffXX:XXXX. */
export function solicitedNode(target: Uint8Array, targetOff = 0): Uint8Array {
  const a = new Uint8Array(16);
  a.set([0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xff], 0);
  a[13] = target[targetOff + 13];
  a[14] = target[targetOff + 14];
  a[15] = target[targetOff + 15];
  return a;
}

/**
 * A request for a neighbour's MAC: who asks (its address, 16 bytes, and MAC),
 * for which address, in a frame from `ethSrc`.
 */
export interface Solicitation {
  ethSrc: Mac;
  senderMac: Mac;
  sender: Uint8Array;
  target: Uint8Array;
}

/**
 * Writes the request at buf[off]: an ARP request broadcast for an IPv4
 * target (IPv4-mapped), else an NS to the target's solicited-node group.
 * Returns the frame's length.
 */
export function emitSolicitation(r: Solicitation, buf: Buffer, off: number): number {
  return isV4Mapped(r.target) ? arpRequest(r, buf, off) : nsFrame(r, buf, off);
}

function arpRequest(r: Solicitation, buf: Buffer, off: number): number {
  emitEthernet({ dst: BROADCAST_MAC, src: r.ethSrc, ethertype: EtherType.ARP }, buf, off);
  arp.op = ArpOp.Request;
  arp.senderMac = r.senderMac;
  arp.senderIp = ipv4Of(r.sender);
  arp.targetMac = 0;
  arp.targetIp = ipv4Of(r.target);
  emitArp(arp, buf, off + ETH_HEADER_LEN);
  buf.fill(0, off + ETH_HEADER_LEN + ARP_LEN, off + MIN_FRAME);
  return MIN_FRAME;
}

function nsFrame(r: Solicitation, buf: Buffer, off: number): number {
  const group = solicitedNode(r.target);
  // The group's MAC: 33:33 and its last four bytes (RFC 2464 section 7).
  const dst = 0x3333_0000_0000 + ((group[12] << 24) >>> 0) + (group[13] << 16) + (group[14] << 8) + group[15];
  emitEthernet({ dst, src: r.ethSrc, ethertype: EtherType.IPv6 }, buf, off);
  const ip = off + ETH_HEADER_LEN;
  emitIpv6(
    {
      ...newIpv6Header(),
      payloadLen: NS_LEN,
      nextHeader: NextHeader.ICMPv6,
      hopLimit: ND_HOP_LIMIT,
      src: r.sender,
      dst: group,
    },
    buf,
    ip,
  );
  emitNd(
    { type: Icmpv6Type.NeighborSolicitation, flags: 0, target: r.target, mac: r.senderMac },
    buf,
    ip + IPV6_HEADER_LEN,
    ip + IPV6_SRC,
    ip + IPV6_DST,
  );
  return ETH_HEADER_LEN + IPV6_HEADER_LEN + NS_LEN;
}
