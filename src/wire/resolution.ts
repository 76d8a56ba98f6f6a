// The frames a router sends to learn a neighbour's MAC: an ARP request
// (RFC 826) broadcast, or an IPv6 Neighbor Solicitation (RFC 4861 section
// 7.2.2) to the target's solicited-node multicast group, each with the
// router's own address and MAC as the sender's, written whole at buf[off].
import { ARP_LEN, ArpOp, emitArp, newArpRepr } from './arp.ts';
import { emitEthernet, EtherType, ETH_HEADER_LEN } from './ethernet.ts';
import { emitNs, ND_HOP_LIMIT, NS_LEN } from './icmpv6.ts';
import { emitIpv6, IPV6_DST, IPV6_HEADER_LEN, IPV6_SRC, NextHeader } from './ipv6.ts';
import { BROADCAST_MAC, type Mac } from './mac.ts';

/** Ethernet's least frame (without its FCS): shorter ones are padded. */
const MIN_FRAME = 60;
const arp = newArpRepr();

/**
 * An ARP request for `targetIp` from `senderIp` at `senderMac` (IPv4 as
 * numbers), in a frame from `ethSrc`; returns its length.
 */
export function emitArpRequest(
  buf: Buffer,
  off: number,
  ethSrc: Mac,
  senderMac: Mac,
  senderIp: number,
  targetIp: number,
): number {
  emitEthernet({ dst: BROADCAST_MAC, src: ethSrc, ethertype: EtherType.ARP }, buf, off);
  arp.op = ArpOp.Request;
  arp.senderMac = senderMac;
  arp.senderIp = senderIp;
  arp.targetMac = 0;
  arp.targetIp = targetIp;
  emitArp(arp, buf, off + ETH_HEADER_LEN);
  buf.fill(0, off + ETH_HEADER_LEN + ARP_LEN, off + MIN_FRAME);
  return MIN_FRAME;
}

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
 * A Neighbor Solicitation for `target` (16 bytes) from `src` (16 bytes) at
 * `senderMac`, to the target's solicited-node group, in a frame from
 * `ethSrc`; returns its length.
 */
export function emitNsFrame(
  buf: Buffer,
  off: number,
  ethSrc: Mac,
  senderMac: Mac,
  src: Uint8Array,
  target: Uint8Array,
): number {
  const group = solicitedNode(target);
  // The group's MAC: 33:33 and its last four bytes (RFC 2464 section 7).
  const dst = 0x3333_0000_0000 + ((group[12] << 24) >>> 0) + (group[13] << 16) + (group[14] << 8) + group[15];
  emitEthernet({ dst, src: ethSrc, ethertype: EtherType.IPv6 }, buf, off);
  const ip = off + ETH_HEADER_LEN;
  emitIpv6(NS_LEN, NextHeader.ICMPv6, ND_HOP_LIMIT, src, 0, group, 0, buf, ip);
  emitNs(target, 0, senderMac, buf, ip + IPV6_HEADER_LEN, ip + IPV6_SRC, ip + IPV6_DST);
  return ETH_HEADER_LEN + IPV6_HEADER_LEN + NS_LEN;
}
