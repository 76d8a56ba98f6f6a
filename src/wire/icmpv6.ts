// ICMPv6 Neighbor Discovery (RFC 4861 sections 4.3, 4.4): the Neighbor
// Solicitation a host sends to resolve an address, and the Neighbor
// Advertisement that answers it, with their link-layer address options.
import { checksum } from './checksum.ts';
import { IPV6_ADDR_LEN, NextHeader, pseudoHeaderSum6 } from './ipv6.ts';
import { readMac, writeMac, type Mac } from './mac.ts';
import { ParseError } from './parse-error.ts';

export const Icmpv6Type = { NeighborSolicitation: 135, NeighborAdvertisement: 136 } as const;
/** A Neighbor Solicitation with its source link-layer address option, as emitNd() writes it. */
export const NS_LEN = 8 + IPV6_ADDR_LEN + 8;
/** NS and NA: type, code, checksum, 4 bytes (NA flags), target address. */
export const ND_HEADER_LEN = 8 + IPV6_ADDR_LEN;
/** A link-layer address option for Ethernet: type, length (in 8 bytes), MAC. */
const LLA_OPTION_LEN = 8;
/** A Neighbor Advertisement with its target link-layer address option, as emitNd() writes it. */
export const NA_LEN = ND_HEADER_LEN + LLA_OPTION_LEN;
const OPTION_SOURCE_LLA = 1;
const OPTION_TARGET_LLA = 2;
export const NA_ROUTER = 0x80;
export const NA_SOLICITED = 0x40;
export const NA_OVERRIDE = 0x20;
/** RFC 4861: ND messages are sent, and only accepted, with hop limit 255. */
export const ND_HOP_LIMIT = 255;

const TYPE = 0;
const CODE = 1;
const CHECKSUM = 2;
const FLAGS = 4;
export const ND_TARGET = 8;

export interface NdRepr {
  type: number;
  /** NA flags (router, solicited, override); 0 for an NS. */
  flags: number;
  /** Offset of the target address in the buffer parsed. */
  target: number;
  /** The source (NS) or target (NA) link-layer address option's MAC, or -1 without one. */
  lla: Mac;
}

export function newNdRepr(): NdRepr {
  return { type: 0, flags: 0, target: 0, lla: -1 };
}

/**
 * Parses an NS or NA at buf[off, end) (the ICMPv6 message, after the IPv6
 * header whose addresses are at src and dst). The checksum is verified; other
 * ICMPv6 types are Malformed for this parser's purpose.
 */
export function parseNd(buf: Uint8Array, off: number, end: number, src: number, dst: number, out: NdRepr): ParseError {
  if (end - off < ND_HEADER_LEN) return ParseError.Truncated;
  const type = buf[off + TYPE];
  if ((type !== Icmpv6Type.NeighborSolicitation && type !== Icmpv6Type.NeighborAdvertisement) || buf[off + CODE] !== 0)
    return ParseError.Malformed;
  if (checksum(buf, off, end - off, pseudoHeaderSum6(buf, src, dst, NextHeader.ICMPv6, end - off)) !== 0)
    return ParseError.BadChecksum;
  out.type = type;
  out.flags = type === Icmpv6Type.NeighborAdvertisement ? buf[off + FLAGS] : 0;
  out.target = off + ND_TARGET;
  out.lla = -1;
  const wanted = type === Icmpv6Type.NeighborSolicitation ? OPTION_SOURCE_LLA : OPTION_TARGET_LLA;
  for (let o = off + ND_HEADER_LEN; o + 2 <= end;) {
    const len = buf[o + 1] * 8;
    if (len === 0 || o + len > end) return ParseError.Malformed;
    if (buf[o] === wanted && len === LLA_OPTION_LEN) out.lla = readMac(buf, o + 2);
    o += len;
  }
  return ParseError.None;
}

/** An NS or NA to write: its target (a 16-byte view), the NA's flags, and the MAC of its link-layer address option. */
export interface NdMessage {
  type: number;
  /** NA_ROUTER, NA_SOLICITED, NA_OVERRIDE (0 for an NS). */
  flags: number;
  target: Uint8Array;
  /** The source (NS) or target (NA) link-layer address. */
  mac: Mac;
}

/**
 * Writes an NS (with a source link-layer address option) or an NA (with a
 * target one) at buf[off], and its checksum over the IPv6 pseudo-header from
 * `src` to `dst` (offsets of 16-byte addresses in `buf`: the IPv6 header,
 * written first). Returns its length.
 */
export function emitNd(r: NdMessage, buf: Uint8Array, off: number, src: number, dst: number): number {
  const na = r.type === Icmpv6Type.NeighborAdvertisement;
  buf[off + TYPE] = r.type;
  buf[off + CODE] = 0;
  for (let i = CHECKSUM; i < ND_TARGET; i++) buf[off + i] = 0;
  if (na) buf[off + FLAGS] = r.flags;
  buf.set(r.target.subarray(0, IPV6_ADDR_LEN), off + ND_TARGET);
  const o = off + ND_HEADER_LEN;
  buf[o] = na ? OPTION_TARGET_LLA : OPTION_SOURCE_LLA;
  buf[o + 1] = 1;
  writeMac(r.mac, buf, o + 2);
  const len = ND_HEADER_LEN + LLA_OPTION_LEN;
  const sum = checksum(buf, off, len, pseudoHeaderSum6(buf, src, dst, NextHeader.ICMPv6, len));
  buf[off + CHECKSUM] = sum >>> 8;
  buf[off + CHECKSUM + 1] = sum & 0xff;
  return len;
}
