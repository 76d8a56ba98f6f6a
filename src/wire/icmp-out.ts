// ICMP that vtepd writes back to a host on its TAP, in place of the frame it
// answers: "packet too big" errors (ICMP destination unreachable,
// fragmentation needed with RFC 1191's next-hop MTU; ICMPv6 packet too big,
// RFC 4443 section 3.2) as if the frame's destination had sent them, so that
// a sender's TCP lowers its MSS; and, as a router, time exceeded and
// destination unreachable from the gateway's address, and echo replies to a
// ping of the gateway. The rules of who gets an error are RFC 1122 section
// 3.2.2, RFC 1812 section 4.3.2.7 and RFC 4443 section 2.4(e): never about an
// ICMP error, a fragment that is not the first, or from or to a group address;
// "too big" never about an IPv4 packet without DF.
import { checksum } from './checksum.ts';
import { EtherType, ETH_HEADER_LEN } from './ethernet.ts';
import { IPV4_MIN_HEADER_LEN, IpProto } from './ipv4.ts';
import { IPV6_HEADER_LEN, NextHeader, pseudoHeaderSum6 } from './ipv6.ts';
import { writeMac, type Mac } from './mac.ts';

const ICMP_HEADER_LEN = 8;
const ICMP_ECHO_REQUEST = 8;
const ICMP_ECHO_REPLY = 0;
const ICMPV6_ECHO_REQUEST = 128;
const ICMPV6_ECHO_REPLY = 129;
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

/** What an ICMP error tells the sender of a packet. */
export const IcmpError = {
  /** Fragmentation needed (IPv4 with DF) / packet too big: `info` is the MTU. */
  TooBig: 0,
  /** TTL or hop limit exceeded in transit (a router's, traceroute's answer). */
  TimeExceeded: 1,
  /** No route to the destination network. */
  NetUnreachable: 2,
  /** The destination's address could not be resolved. */
  HostUnreachable: 3,
} as const;
export type IcmpError = (typeof IcmpError)[keyof typeof IcmpError];

/** Type and code of each error: IPv4 (RFC 792), IPv6 (RFC 4443). */
const TYPE_CODE_V4: Record<IcmpError, [number, number]> = { 0: [3, 4], 1: [11, 0], 2: [3, 0], 3: [3, 1] };
const TYPE_CODE_V6: Record<IcmpError, [number, number]> = { 0: [2, 0], 1: [3, 0], 2: [1, 0], 3: [1, 3] };
/** The hop limit of what a router originates. */
const ORIGINATED_TTL = 64;

/** A router that answers: its address (16 bytes, IPv4 mapped) and MAC. Without one, the frame's destination answers. */
export interface IcmpSource {
  readonly ip: Uint8Array;
  readonly mac: Mac;
}

/**
 * Writes, in place of the frame at buf[off, off+len), the ICMP error that
 * tells its sender packets of more than `mtu` bytes do not fit; returns the
 * error's frame length, or 0 when the frame gets none (not IP, IPv4 without
 * DF, an error about an error...). The quoted packet moves within the frame,
 * so the slot must hold the frame it had.
 */
export function writeTooBig(buf: Buffer, off: number, len: number, mtu: number): number {
  return writeIcmpError(buf, off, len, IcmpError.TooBig, mtu);
}

/**
 * Writes, in place of the frame at buf[off, off+len), ICMP error `kind`
 * (`info`: the MTU of TooBig) about its packet, from `from` (a router on the
 * way) or, without it, from the packet's destination. Returns the error's
 * frame length, or 0 when the packet gets none (RFC 1122 section 3.2.2, RFC
 * 1812 section 4.3.2.7, RFC 4443 section 2.4: never about an ICMP error, a
 * fragment that is not the first, or a packet from a group or unspecified
 * address; "too big" only about IPv4 with DF).
 */
export function writeIcmpError(
  buf: Buffer,
  off: number,
  len: number,
  kind: IcmpError,
  info = 0,
  from?: IcmpSource,
): number {
  if (len < ETH_HEADER_LEN) return 0;
  const type = (buf[off + 12] << 8) | buf[off + 13];
  if (type === EtherType.IPv4) return error4(buf, off, len, kind, info, from);
  if (type === EtherType.IPv6) return error6(buf, off, len, kind, info, from);
  return 0;
}

function error4(buf: Buffer, off: number, len: number, kind: IcmpError, info: number, from?: IcmpSource): number {
  const ip = off + ETH_HEADER_LEN;
  if (len < ETH_HEADER_LEN + IPV4_MIN_HEADER_LEN || buf[ip] >>> 4 !== 4) return 0;
  if (kind === IcmpError.TooBig && info < MIN_TOO_BIG_MTU_V4) return 0;
  const ihl = (buf[ip] & 0x0f) * 4;
  const flags = (buf[ip + 6] << 8) | buf[ip + 7];
  // Only whole packets with DF are told "too big" (the path may fragment the
  // others); no fragment but the first gets any.
  if (kind === IcmpError.TooBig ? flags !== 0x4000 : (flags & 0x1fff) !== 0) return 0;
  if (ihl < IPV4_MIN_HEADER_LEN) return 0;
  if (groupOrUnspecified4(buf, ip + 12) || groupOrUnspecified4(buf, ip + 16)) return 0;
  if (buf[ip + 9] === IpProto.ICMP && len >= ETH_HEADER_LEN + ihl + 1 && isIcmpError(buf[ip + ihl])) return 0;
  // The packet as its header says, without the Ethernet padding of a short frame.
  const packet = Math.min(len - ETH_HEADER_LEN, Math.max((buf[ip + 2] << 8) | buf[ip + 3], ihl));
  const quote = Math.min(packet, IPV4_ERROR_MAX - IPV4_MIN_HEADER_LEN - ICMP_HEADER_LEN);
  const ttl = from === undefined ? buf[ip + 8] : ORIGINATED_TTL;
  const at = ip + IPV4_MIN_HEADER_LEN;
  const q = makeRoom(buf, off, at, quote, from);
  // The old addresses, now in the quote: the sender becomes the destination.
  const total = IPV4_MIN_HEADER_LEN + ICMP_HEADER_LEN + quote;
  buf[ip] = 0x45;
  buf[ip + 1] = 0;
  buf.writeUInt16BE(total, ip + 2);
  buf.writeUInt16BE(0, ip + 4);
  buf.writeUInt16BE(0x4000, ip + 6);
  buf[ip + 8] = ttl;
  buf[ip + 9] = IpProto.ICMP;
  buf.writeUInt16BE(0, ip + 10);
  if (from === undefined) buf.copy(buf, ip + 12, q + 16, q + 20);
  else buf.set(from.ip.subarray(12, 16), ip + 12);
  buf.copy(buf, ip + 16, q + 12, q + 16);
  buf.writeUInt16BE(checksum(buf, ip, IPV4_MIN_HEADER_LEN), ip + 10);
  const [t, c] = TYPE_CODE_V4[kind];
  buf[at] = t;
  buf[at + 1] = c;
  buf.writeUInt16BE(0, at + 2);
  buf.writeUInt16BE(0, at + 4);
  buf.writeUInt16BE(kind === IcmpError.TooBig ? info : 0, at + 6);
  buf.writeUInt16BE(checksum(buf, at, ICMP_HEADER_LEN + quote), at + 2);
  return ETH_HEADER_LEN + total;
}

function error6(buf: Buffer, off: number, len: number, kind: IcmpError, info: number, from?: IcmpSource): number {
  const ip = off + ETH_HEADER_LEN;
  if (len < ETH_HEADER_LEN + IPV6_HEADER_LEN || buf[ip] >>> 4 !== 6) return 0;
  if (kind === IcmpError.TooBig && info < MIN_TOO_BIG_MTU_V6) return 0;
  if (buf[ip + 8] === 0xff || buf[ip + 24] === 0xff || unspecified6(buf, ip + 8)) return 0;
  if (buf[ip + 6] === NextHeader.ICMPv6 && len > ETH_HEADER_LEN + IPV6_HEADER_LEN && buf[ip + IPV6_HEADER_LEN] < 128)
    return 0;
  const packet = Math.min(len - ETH_HEADER_LEN, IPV6_HEADER_LEN + ((buf[ip + 4] << 8) | buf[ip + 5]));
  const quote = Math.min(packet, IPV6_ERROR_MAX - IPV6_HEADER_LEN - ICMP_HEADER_LEN);
  const hops = from === undefined ? buf[ip + 7] : ORIGINATED_TTL;
  const at = ip + IPV6_HEADER_LEN;
  const q = makeRoom(buf, off, at, quote, from);
  const payload = ICMP_HEADER_LEN + quote;
  buf.writeUInt32BE(0x60000000, ip);
  buf.writeUInt16BE(payload, ip + 4);
  buf[ip + 6] = NextHeader.ICMPv6;
  buf[ip + 7] = hops;
  if (from === undefined) buf.copy(buf, ip + 8, q + 24, q + 40);
  else buf.set(from.ip, ip + 8);
  buf.copy(buf, ip + 24, q + 8, q + 24);
  const [t, c] = TYPE_CODE_V6[kind];
  buf[at] = t;
  buf[at + 1] = c;
  buf.writeUInt16BE(0, at + 2);
  buf.writeUInt32BE(kind === IcmpError.TooBig ? info : 0, at + 4);
  buf.writeUInt16BE(
    checksum(buf, at, payload, pseudoHeaderSum6(buf, ip + 8, ip + 24, NextHeader.ICMPv6, payload)),
    at + 2,
  );
  return ETH_HEADER_LEN + IPV6_HEADER_LEN + payload;
}

/**
 * Turns the ICMP (ICMPv6) echo request at buf[off, off+len), to an address of
 * the router that answers from `mac`, into its echo reply in place; returns
 * the reply's frame length, or 0 when it is no echo request.
 */
export function writeEchoReply(buf: Buffer, off: number, len: number, mac: Mac): number {
  if (len < ETH_HEADER_LEN) return 0;
  const type = (buf[off + 12] << 8) | buf[off + 13];
  const ip = off + ETH_HEADER_LEN;
  if (type === EtherType.IPv4) {
    if (len < ETH_HEADER_LEN + IPV4_MIN_HEADER_LEN + ICMP_HEADER_LEN || buf[ip] >>> 4 !== 4) return 0;
    const ihl = (buf[ip] & 0x0f) * 4;
    const total = (buf[ip + 2] << 8) | buf[ip + 3];
    const at = ip + ihl;
    if (buf[ip + 9] !== IpProto.ICMP || ((buf[ip + 6] & 0x3f) | buf[ip + 7]) !== 0 || total > len - ETH_HEADER_LEN)
      return 0;
    if (total < ihl + ICMP_HEADER_LEN || buf[at] !== ICMP_ECHO_REQUEST || buf[at + 1] !== 0) return 0;
    swapAddresses(buf, ip + 12, 4);
    buf[ip + 8] = ORIGINATED_TTL;
    buf.writeUInt16BE(0, ip + 10);
    buf.writeUInt16BE(checksum(buf, ip, ihl), ip + 10);
    buf[at] = ICMP_ECHO_REPLY;
    buf.writeUInt16BE(0, at + 2);
    buf.writeUInt16BE(checksum(buf, at, total - ihl), at + 2);
    answerFrom(buf, off, mac);
    return ETH_HEADER_LEN + total;
  }
  if (type !== EtherType.IPv6 || len < ETH_HEADER_LEN + IPV6_HEADER_LEN + ICMP_HEADER_LEN || buf[ip] >>> 4 !== 6)
    return 0;
  const payload = (buf[ip + 4] << 8) | buf[ip + 5];
  const at = ip + IPV6_HEADER_LEN;
  if (
    buf[ip + 6] !== NextHeader.ICMPv6 ||
    payload > len - ETH_HEADER_LEN - IPV6_HEADER_LEN ||
    payload < ICMP_HEADER_LEN
  )
    return 0;
  if (buf[at] !== ICMPV6_ECHO_REQUEST || buf[at + 1] !== 0) return 0;
  swapAddresses(buf, ip + 8, 16);
  buf[ip + 7] = ORIGINATED_TTL;
  buf[at] = ICMPV6_ECHO_REPLY;
  buf.writeUInt16BE(0, at + 2);
  buf.writeUInt16BE(
    checksum(buf, at, payload, pseudoHeaderSum6(buf, ip + 8, ip + 24, NextHeader.ICMPv6, payload)),
    at + 2,
  );
  answerFrom(buf, off, mac);
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
 * and ICMP headers (the ICMP header at `at`), and addresses the frame back to
 * its sender (from `from`, or from its destination); returns where the quoted
 * packet now starts.
 */
function makeRoom(buf: Buffer, off: number, at: number, quote: number, from?: IcmpSource): number {
  const ip = off + ETH_HEADER_LEN;
  const q = at + ICMP_HEADER_LEN;
  buf.copyWithin(q, ip, ip + quote);
  if (from === undefined) swapMacs(buf, off);
  else answerFrom(buf, off, from.mac);
  return q;
}

/** The frame goes back to its sender, from `mac`. */
function answerFrom(buf: Buffer, off: number, mac: Mac): void {
  buf.copyWithin(off, off + 6, off + 12);
  writeMac(mac, buf, off + 6);
}

function swapMacs(buf: Buffer, off: number): void {
  swapAddresses(buf, off, 6);
}

/**
 * Swaps the `n`-byte source and destination that follow each other at `at`
 * (IP addresses: source first; MACs: destination first).
 */
function swapAddresses(buf: Buffer, at: number, n: number): void {
  for (let i = 0; i < n; i++) {
    const t = buf[at + i];
    buf[at + i] = buf[at + n + i];
    buf[at + n + i] = t;
  }
}
