// IPv4 header (RFC 791). The data path never builds one (the kernel does, on
// our raw and UDP sockets); this codec serves captures, tests and the flow hash.
import { checksum } from './checksum.ts';
import { ParseError } from './parse-error.ts';

export const IPV4_MIN_HEADER_LEN = 20;
export const IpProto = { ICMP: 1, TCP: 6, UDP: 17, GRE: 47 } as const;

const VER_IHL = 0;
const TOS = 1;
const TOTAL_LEN = 2;
const IDENT = 4;
const FLAGS_FRAG = 6;
const TTL = 8;
const PROTOCOL = 9;
const CHECKSUM = 10;
const SRC = 12;
const DST = 16;
const FLAG_DF = 0x4000;
const FLAG_MF = 0x2000;
const FRAG_OFFSET_MASK = 0x1fff;

export interface Ipv4Repr {
  headerLen: number;
  tos: number;
  totalLen: number;
  ident: number;
  df: boolean;
  /** More-fragments flag or a non-zero offset: this is a fragment. */
  fragment: boolean;
  ttl: number;
  protocol: number;
  checksum: number;
  src: number;
  dst: number;
}

export function newIpv4Repr(): Ipv4Repr {
  return {
    headerLen: 20,
    tos: 0,
    totalLen: 20,
    ident: 0,
    df: false,
    fragment: false,
    ttl: 64,
    protocol: 0,
    checksum: 0,
    src: 0,
    dst: 0,
  };
}

/**
 * Accepts only a header that is whole and consistent; the checksum is checked
 * too unless `verifyChecksum` is false (a header the kernel already checked and
 * may have changed since: it records its address in a Record Route option
 * without computing the checksum again).
 */
export function parseIpv4(buf: Uint8Array, off: number, end: number, out: Ipv4Repr, verifyChecksum = true): ParseError {
  if (end - off < IPV4_MIN_HEADER_LEN) return ParseError.Truncated;
  const verIhl = buf[off + VER_IHL];
  const headerLen = (verIhl & 0x0f) * 4;
  if (verIhl >>> 4 !== 4 || headerLen < IPV4_MIN_HEADER_LEN) return ParseError.Malformed;
  const totalLen = (buf[off + TOTAL_LEN] << 8) | buf[off + TOTAL_LEN + 1];
  if (totalLen < headerLen) return ParseError.Malformed;
  if (end - off < totalLen) return ParseError.Truncated;
  if (verifyChecksum && checksum(buf, off, headerLen) !== 0) return ParseError.BadChecksum;
  const flagsFrag = (buf[off + FLAGS_FRAG] << 8) | buf[off + FLAGS_FRAG + 1];
  out.headerLen = headerLen;
  out.tos = buf[off + TOS];
  out.totalLen = totalLen;
  out.ident = (buf[off + IDENT] << 8) | buf[off + IDENT + 1];
  out.df = (flagsFrag & FLAG_DF) !== 0;
  out.fragment = (flagsFrag & (FLAG_MF | FRAG_OFFSET_MASK)) !== 0;
  out.ttl = buf[off + TTL];
  out.protocol = buf[off + PROTOCOL];
  out.checksum = (buf[off + CHECKSUM] << 8) | buf[off + CHECKSUM + 1];
  out.src = readU32(buf, off + SRC);
  out.dst = readU32(buf, off + DST);
  return ParseError.None;
}

/** Writes a 20-byte header (no options) with its checksum. */
export function emitIpv4(r: Ipv4Repr, buf: Uint8Array, off: number): number {
  buf[off + VER_IHL] = 0x45;
  buf[off + TOS] = r.tos;
  writeU16(r.totalLen, buf, off + TOTAL_LEN);
  writeU16(r.ident, buf, off + IDENT);
  writeU16(r.df ? FLAG_DF : 0, buf, off + FLAGS_FRAG);
  buf[off + TTL] = r.ttl;
  buf[off + PROTOCOL] = r.protocol;
  writeU16(0, buf, off + CHECKSUM);
  writeU32(r.src, buf, off + SRC);
  writeU32(r.dst, buf, off + DST);
  writeU16(checksum(buf, off, IPV4_MIN_HEADER_LEN), buf, off + CHECKSUM);
  return IPV4_MIN_HEADER_LEN;
}

/**
 * The header checksum after a 16-bit word of the header changed from `m` to
 * `m2`, from the old checksum `hc` alone (RFC 1624, eqn. 3:
 * HC' = ~(~HC + ~m + m')): never the 0xffff that eqn. 2 gives for 0x0000.
 */
export function updateChecksum(hc: number, m: number, m2: number): number {
  let sum = (~hc & 0xffff) + (~m & 0xffff) + m2;
  sum = (sum & 0xffff) + (sum >>> 16);
  sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

/**
 * Decrements the TTL of the IPv4 header at buf[ip] and updates its checksum
 * incrementally (RFC 1624), as a router does to every packet it forwards.
 * The caller checked TTL > 1.
 */
export function decrementTtl(buf: Uint8Array, ip: number): void {
  const m = (buf[ip + TTL] << 8) | buf[ip + PROTOCOL];
  buf[ip + TTL]--;
  const hc = updateChecksum((buf[ip + CHECKSUM] << 8) | buf[ip + CHECKSUM + 1], m, m - 0x100);
  buf[ip + CHECKSUM] = hc >>> 8;
  buf[ip + CHECKSUM + 1] = hc & 0xff;
}

/** Sum of the pseudo-header for a TCP/UDP checksum (RFC 768/793), unfolded. */
export function pseudoHeaderSum(src: number, dst: number, protocol: number, length: number): number {
  return (src >>> 16) + (src & 0xffff) + (dst >>> 16) + (dst & 0xffff) + protocol + length;
}

export function readU32(buf: Uint8Array, off: number): number {
  return ((buf[off] << 24) | (buf[off + 1] << 16) | (buf[off + 2] << 8) | buf[off + 3]) >>> 0;
}

export function writeU32(v: number, buf: Uint8Array, off: number): void {
  buf[off] = v >>> 24;
  buf[off + 1] = (v >>> 16) & 0xff;
  buf[off + 2] = (v >>> 8) & 0xff;
  buf[off + 3] = v & 0xff;
}

export function writeU16(v: number, buf: Uint8Array, off: number): void {
  buf[off] = (v >>> 8) & 0xff;
  buf[off + 1] = v & 0xff;
}

export function formatIpv4(addr: number): string {
  return `${addr >>> 24}.${(addr >>> 16) & 0xff}.${(addr >>> 8) & 0xff}.${addr & 0xff}`;
}

/**
 * Parses dotted-quad text; undefined if it is not exactly an IPv4 address. A leading zero is
 * refused, as inet_pton does: inet_aton (and so `ping`) reads 010 as octal 8, so accepting it
 * either way would name another host than the user's tools do.
 */
export function parseIpv4Address(text: string): number | undefined {
  const m = /^(0|[1-9]\d{0,2})\.(0|[1-9]\d{0,2})\.(0|[1-9]\d{0,2})\.(0|[1-9]\d{0,2})$/.exec(text);
  if (!m) return undefined;
  const octets = m.slice(1).map(Number);
  if (octets.some((o) => o > 255)) return undefined;
  return ((octets[0] << 24) | (octets[1] << 16) | (octets[2] << 8) | octets[3]) >>> 0;
}
