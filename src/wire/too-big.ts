// "Packet too big" errors: ICMP destination unreachable, fragmentation needed
// (RFC 792, with the next-hop MTU of RFC 1191), and ICMPv6 packet too big
// (RFC 4443 section 3.2), written in place of the Ethernet frame they answer,
// as if the frame's destination had sent them: a sender's TCP lowers its MSS
// on them. The rules of who gets one are RFC 1122 section 3.2.2 and RFC 4443
// section 2.4(e): never about an ICMP error, a fragment that is not the first,
// a packet without DF (IPv4), or from or to a group address.
import { checksum } from './checksum.ts';
import { EtherType, ETH_HEADER_LEN } from './ethernet.ts';
import { IPV4_MIN_HEADER_LEN, IpProto } from './ipv4.ts';
import { IPV6_HEADER_LEN, NextHeader, pseudoHeaderSum6 } from './ipv6.ts';

const ICMP_HEADER_LEN = 8;
const ICMP_UNREACH = 3;
const ICMP_FRAG_NEEDED = 4;
const ICMPV6_PACKET_TOO_BIG = 2;
/** An ICMP error holds as much of the packet as fits 576 bytes (RFC 1812 section 4.3.2.3), or 1280 for ICMPv6. */
const IPV4_ERROR_MAX = 576;
const IPV6_ERROR_MAX = 1280;
/** The least MTU an ICMP error may name, as the kernel's tunnels send them: 576 (IPv4), 1280 (IPv6). */
export const MIN_TOO_BIG_MTU_V4 = 576;
export const MIN_TOO_BIG_MTU_V6 = 1280;

/**
 * The least MTU a "too big" error can tell the sender of the frame at
 * buf[off, off+len): 576 for IPv4, 1280 for IPv6 (hosts take no less); 0 for
 * what is not IP, which gets no error at all.
 */
export function tooBigFloor(buf: Buffer, off: number, len: number): number {
  if (len < ETH_HEADER_LEN) return 0;
  const type = (buf[off + 12] << 8) | buf[off + 13];
  return type === EtherType.IPv4 ? MIN_TOO_BIG_MTU_V4 : type === EtherType.IPv6 ? MIN_TOO_BIG_MTU_V6 : 0;
}

/**
 * Writes, in place of the frame at buf[off, off+len), the ICMP error that
 * tells its sender packets of more than `mtu` bytes do not fit; returns the
 * error's frame length, or 0 when the frame gets none (not IP, IPv4 without
 * DF, an error about an error...). The quoted packet moves within the frame,
 * so the slot must hold the frame it had.
 */
export function writeTooBig(buf: Buffer, off: number, len: number, mtu: number): number {
  if (len < ETH_HEADER_LEN) return 0;
  const type = (buf[off + 12] << 8) | buf[off + 13];
  if (type === EtherType.IPv4) return tooBig4(buf, off, len, mtu);
  if (type === EtherType.IPv6) return tooBig6(buf, off, len, mtu);
  return 0;
}

function tooBig4(buf: Buffer, off: number, len: number, mtu: number): number {
  const ip = off + ETH_HEADER_LEN;
  if (len < ETH_HEADER_LEN + IPV4_MIN_HEADER_LEN || buf[ip] >>> 4 !== 4 || mtu < MIN_TOO_BIG_MTU_V4) return 0;
  const ihl = (buf[ip] & 0x0f) * 4;
  const flags = (buf[ip + 6] << 8) | buf[ip + 7];
  // Only whole packets with DF: fragments, and packets the path may fragment, get nothing.
  if (flags !== 0x4000 || ihl < IPV4_MIN_HEADER_LEN) return 0;
  if (groupOrUnspecified4(buf, ip + 12) || groupOrUnspecified4(buf, ip + 16)) return 0;
  if (buf[ip + 9] === IpProto.ICMP && len >= ETH_HEADER_LEN + ihl + 1 && isIcmpError(buf[ip + ihl])) return 0;
  const quote = Math.min(len - ETH_HEADER_LEN, IPV4_ERROR_MAX - IPV4_MIN_HEADER_LEN - ICMP_HEADER_LEN);
  const ttl = buf[ip + 8];
  const at = ip + IPV4_MIN_HEADER_LEN;
  const q = makeRoom(buf, off, at, quote);
  // The old addresses, now in the quote, swapped into the new header.
  const total = IPV4_MIN_HEADER_LEN + ICMP_HEADER_LEN + quote;
  buf[ip] = 0x45;
  buf[ip + 1] = 0;
  buf.writeUInt16BE(total, ip + 2);
  buf.writeUInt16BE(0, ip + 4);
  buf.writeUInt16BE(0x4000, ip + 6);
  buf[ip + 8] = ttl;
  buf[ip + 9] = IpProto.ICMP;
  buf.writeUInt16BE(0, ip + 10);
  buf.copy(buf, ip + 12, q + 16, q + 20);
  buf.copy(buf, ip + 16, q + 12, q + 16);
  buf.writeUInt16BE(checksum(buf, ip, IPV4_MIN_HEADER_LEN), ip + 10);
  buf[at] = ICMP_UNREACH;
  buf[at + 1] = ICMP_FRAG_NEEDED;
  buf.writeUInt16BE(0, at + 2);
  buf.writeUInt16BE(0, at + 4);
  buf.writeUInt16BE(mtu, at + 6);
  buf.writeUInt16BE(checksum(buf, at, ICMP_HEADER_LEN + quote), at + 2);
  return ETH_HEADER_LEN + total;
}

function tooBig6(buf: Buffer, off: number, len: number, mtu: number): number {
  const ip = off + ETH_HEADER_LEN;
  if (len < ETH_HEADER_LEN + IPV6_HEADER_LEN || buf[ip] >>> 4 !== 6 || mtu < MIN_TOO_BIG_MTU_V6) return 0;
  if (buf[ip + 8] === 0xff || buf[ip + 24] === 0xff || unspecified6(buf, ip + 8)) return 0;
  if (buf[ip + 6] === NextHeader.ICMPv6 && len > ETH_HEADER_LEN + IPV6_HEADER_LEN && buf[ip + IPV6_HEADER_LEN] < 128)
    return 0;
  const quote = Math.min(len - ETH_HEADER_LEN, IPV6_ERROR_MAX - IPV6_HEADER_LEN - ICMP_HEADER_LEN);
  const hops = buf[ip + 7];
  const at = ip + IPV6_HEADER_LEN;
  const q = makeRoom(buf, off, at, quote);
  const payload = ICMP_HEADER_LEN + quote;
  buf.writeUInt32BE(0x60000000, ip);
  buf.writeUInt16BE(payload, ip + 4);
  buf[ip + 6] = NextHeader.ICMPv6;
  buf[ip + 7] = hops;
  buf.copy(buf, ip + 8, q + 24, q + 40);
  buf.copy(buf, ip + 24, q + 8, q + 24);
  buf[at] = ICMPV6_PACKET_TOO_BIG;
  buf[at + 1] = 0;
  buf.writeUInt16BE(0, at + 2);
  buf.writeUInt32BE(mtu, at + 4);
  buf.writeUInt16BE(
    checksum(buf, at, payload, pseudoHeaderSum6(buf, ip + 8, ip + 24, NextHeader.ICMPv6, payload)),
    at + 2,
  );
  return ETH_HEADER_LEN + IPV6_HEADER_LEN + payload;
}

/**
 * ICMP types that are errors (RFC 1122 section 3.2.2): unreachable, source quench, redirect, time exceeded,
 * parameter problem.
 */
function isIcmpError(type: number): boolean {
  return type === 3 || type === 4 || type === 5 || type === 11 || type === 12;
}

function groupOrUnspecified4(buf: Buffer, at: number): boolean {
  return buf[at] >= 224 || (buf[at] | buf[at + 1] | buf[at + 2] | buf[at + 3]) === 0;
}

function unspecified6(buf: Buffer, at: number): boolean {
  for (let i = 0; i < 16; i++) if (buf[at + i] !== 0) return false;
  return true;
}

/**
 * Moves the first `quote` bytes of the frame's IP packet behind the new IP
 * and ICMP headers (the ICMP header at `at`), and swaps the frame's MACs;
 * returns where the quoted packet now starts.
 */
function makeRoom(buf: Buffer, off: number, at: number, quote: number): number {
  const ip = off + ETH_HEADER_LEN;
  const q = at + ICMP_HEADER_LEN;
  buf.copyWithin(q, ip, ip + quote);
  swapMacs(buf, off);
  return q;
}

function swapMacs(buf: Buffer, off: number): void {
  for (let i = 0; i < 6; i++) {
    const t = buf[off + i];
    buf[off + i] = buf[off + 6 + i];
    buf[off + 6 + i] = t;
  }
}
