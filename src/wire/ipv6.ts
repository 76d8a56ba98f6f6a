// IPv6 fixed header (RFC 8200 section 3). The data path only looks into
// inner IPv6 packets (neighbour discovery, ECN); addresses stay in the buffer.
import { ParseError } from './parse-error.ts';

export const IPV6_HEADER_LEN = 40;
export const IPV6_ADDR_LEN = 16;
/** Next header values the switch looks for. */
export const NextHeader = { ICMPv6: 58 } as const;

const VERSION = 0;
const PAYLOAD_LEN = 4;
const NEXT_HEADER = 6;
const HOP_LIMIT = 7;
export const IPV6_SRC = 8;
export const IPV6_DST = 24;

export interface Ipv6Repr {
  payloadLen: number;
  nextHeader: number;
  hopLimit: number;
  /** Offsets of the addresses in the buffer parsed (not copies). */
  src: number;
  dst: number;
}

export function newIpv6Repr(): Ipv6Repr {
  return { payloadLen: 0, nextHeader: 0, hopLimit: 0, src: 0, dst: 0 };
}

/** Accepts a whole header whose payload fits buf[off, end). */
export function parseIpv6(buf: Uint8Array, off: number, end: number, out: Ipv6Repr): ParseError {
  if (end - off < IPV6_HEADER_LEN) return ParseError.Truncated;
  if (buf[off + VERSION] >>> 4 !== 6) return ParseError.Malformed;
  const payloadLen = (buf[off + PAYLOAD_LEN] << 8) | buf[off + PAYLOAD_LEN + 1];
  if (end - off - IPV6_HEADER_LEN < payloadLen) return ParseError.Truncated;
  out.payloadLen = payloadLen;
  out.nextHeader = buf[off + NEXT_HEADER];
  out.hopLimit = buf[off + HOP_LIMIT];
  out.src = off + IPV6_SRC;
  out.dst = off + IPV6_DST;
  return ParseError.None;
}

/** An IPv6 header to write: its addresses are 16-byte views (not overlapping where it is written). */
export interface Ipv6Header {
  payloadLen: number;
  nextHeader: number;
  hopLimit: number;
  trafficClass: number;
  flowLabel: number;
  src: Uint8Array;
  dst: Uint8Array;
}

export function newIpv6Header(): Ipv6Header {
  return { payloadLen: 0, nextHeader: 0, hopLimit: 0, trafficClass: 0, flowLabel: 0, src: ZERO, dst: ZERO };
}
const ZERO = new Uint8Array(IPV6_ADDR_LEN);

export function emitIpv6(r: Ipv6Header, buf: Uint8Array, off: number): number {
  buf[off] = 0x60 | (r.trafficClass >>> 4);
  buf[off + 1] = ((r.trafficClass & 0x0f) << 4) | ((r.flowLabel >>> 16) & 0x0f);
  buf[off + 2] = (r.flowLabel >>> 8) & 0xff;
  buf[off + 3] = r.flowLabel & 0xff;
  buf[off + PAYLOAD_LEN] = r.payloadLen >>> 8;
  buf[off + PAYLOAD_LEN + 1] = r.payloadLen & 0xff;
  buf[off + NEXT_HEADER] = r.nextHeader;
  buf[off + HOP_LIMIT] = r.hopLimit;
  buf.set(r.src.subarray(0, IPV6_ADDR_LEN), off + IPV6_SRC);
  buf.set(r.dst.subarray(0, IPV6_ADDR_LEN), off + IPV6_DST);
  return IPV6_HEADER_LEN;
}

/** Sum of the IPv6 pseudo-header (RFC 8200 section 8.1) for `length` bytes of `nextHeader`, unfolded. */
export function pseudoHeaderSum6(
  buf: Uint8Array,
  src: number,
  dst: number,
  nextHeader: number,
  length: number,
): number {
  let acc = 0;
  for (let i = 0; i < IPV6_ADDR_LEN; i += 2) acc += (buf[src + i] << 8) | buf[src + i + 1];
  for (let i = 0; i < IPV6_ADDR_LEN; i += 2) acc += (buf[dst + i] << 8) | buf[dst + i + 1];
  return acc + (length >>> 16) + (length & 0xffff) + nextHeader;
}
