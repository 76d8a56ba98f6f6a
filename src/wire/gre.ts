// GRE (RFC 2784) with the key and sequence number extensions (RFC 2890), as
// Linux gretap and Open vSwitch gre ports send Ethernet over it:
//
//   |C|R|K|S|s|Recur|  Flags  | Ver |    Protocol Type (0x6558)     |
//   |      Checksum (if C)          |       Reserved1 (if C)        |
//   |                         Key (if K)                            |
//   |                  Sequence Number (if S)                       |
import { checksum } from './checksum.ts';
import { ParseError } from './parse-error.ts';
import { readU32, writeU16, writeU32 } from './ipv4.ts';

export const GRE_FLAG_C = 0x8000;
export const GRE_FLAG_R = 0x4000;
export const GRE_FLAG_K = 0x2000;
export const GRE_FLAG_S = 0x1000;
/** Strict source route, recursion control and the other flag bits: RFC 1701 features we refuse. */
const GRE_FLAGS_UNSUPPORTED = 0x0ff8;
const GRE_VERSION_MASK = 0x0007;
/** Transparent Ethernet Bridging: the payload is an Ethernet frame. */
export const GRE_PROTO_TEB = 0x6558;
export const GRE_BASE_LEN = 4;

const FLAGS = 0;
const PROTOCOL = 2;

export interface GreRepr {
  flags: number;
  protocol: number;
  key: number;
  seq: number;
  /** Bytes of GRE header: the payload starts here. */
  headerLen: number;
}

export function newGreRepr(): GreRepr {
  return { flags: 0, protocol: 0, key: 0, seq: 0, headerLen: GRE_BASE_LEN };
}

export function greHeaderLen(flags: number): number {
  return GRE_BASE_LEN + (flags & GRE_FLAG_C ? 4 : 0) + (flags & GRE_FLAG_K ? 4 : 0) + (flags & GRE_FLAG_S ? 4 : 0);
}

/**
 * Accepts only what a TEB tunnel sends: version 0, no routing, only the C, K
 * and S flags. A present checksum is verified over the whole GRE packet
 * buf[off, end), so `end` must be the end of the IPv4 payload.
 */
export function parseGre(buf: Uint8Array, off: number, end: number, out: GreRepr): ParseError {
  if (end - off < GRE_BASE_LEN) return ParseError.Truncated;
  const flags = (buf[off + FLAGS] << 8) | buf[off + FLAGS + 1];
  if ((flags & GRE_VERSION_MASK) !== 0) return ParseError.BadVersion;
  if (flags & GRE_FLAG_R) return ParseError.RoutingBit;
  if (flags & GRE_FLAGS_UNSUPPORTED) return ParseError.BadFlags;
  const headerLen = greHeaderLen(flags);
  if (end - off < headerLen) return ParseError.Truncated;
  out.flags = flags;
  out.protocol = (buf[off + PROTOCOL] << 8) | buf[off + PROTOCOL + 1];
  out.headerLen = headerLen;
  let o = off + GRE_BASE_LEN;
  if (flags & GRE_FLAG_C) {
    if (checksum(buf, off, end - off) !== 0) return ParseError.BadChecksum;
    o += 4;
  }
  if (flags & GRE_FLAG_K) {
    out.key = readU32(buf, o);
    o += 4;
  }
  if (flags & GRE_FLAG_S) out.seq = readU32(buf, o);
  return ParseError.None;
}

/**
 * Writes the header for the C/K/S flags of `r` (its headerLen is not read).
 * The checksum, when present, covers the payload too: call fillGreChecksum()
 * once the payload is in place.
 */
export function emitGre(r: GreRepr, buf: Uint8Array, off: number): number {
  const flags = r.flags;
  writeU16(flags & (GRE_FLAG_C | GRE_FLAG_K | GRE_FLAG_S), buf, off + FLAGS);
  writeU16(r.protocol, buf, off + PROTOCOL);
  let o = off + GRE_BASE_LEN;
  if (flags & GRE_FLAG_C) {
    writeU32(0, buf, o); // checksum and reserved1, zero while the checksum is computed
    o += 4;
  }
  if (flags & GRE_FLAG_K) {
    writeU32(r.key, buf, o);
    o += 4;
  }
  if (flags & GRE_FLAG_S) {
    writeU32(r.seq, buf, o);
    o += 4;
  }
  return o - off;
}

/** Computes the checksum of the GRE packet buf[off, off+len) (header with C set, then payload). */
export function fillGreChecksum(buf: Uint8Array, off: number, len: number): void {
  writeU16(checksum(buf, off, len), buf, off + GRE_BASE_LEN);
}
