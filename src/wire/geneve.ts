// Geneve header (RFC 8926 section 3.4): Ver(2) Opt Len(6) | O(1) C(1) Rsvd(6) |
// Protocol Type(16) | VNI(24) | Reserved(8), then Opt Len × 4 bytes of options,
// each a TLV: Option Class(16) | Type(8) | R(3) Length(5) | Length × 4 bytes of data.
import { ParseError } from './parse-error.ts';

export const GENEVE_HEADER_LEN = 8;
export const GENEVE_PORT = 6081;
/** Opt Len is 6 bits of 4-byte words. */
export const GENEVE_MAX_OPTIONS_LEN = 63 * 4;
/** An option's Length is 5 bits of 4-byte words. */
export const GENEVE_MAX_OPTION_DATA = 31 * 4;
export const GENEVE_OPTION_HEADER_LEN = 4;
/** Transparent Ethernet Bridging: an Ethernet frame follows. */
export const GENEVE_PROTO_TEB = 0x6558;
/** In an option's type: the receiver must drop the packet if it does not understand the option. */
export const GENEVE_TYPE_CRITICAL = 0x80;
const FLAG_OAM = 0x80;
const FLAG_CRITICAL = 0x40;

export interface GeneveRepr {
  vni: number;
  /** Bytes of options that follow the fixed header. */
  optionsLen: number;
  oam: boolean;
  critical: boolean;
  protocol: number;
}

export function newGeneveRepr(): GeneveRepr {
  return { vni: 0, optionsLen: 0, oam: false, critical: false, protocol: 0 };
}

/**
 * Reads the fixed header and checks that the options it announces are all
 * there and are whole TLVs. It refuses what no receiver delivers: another
 * version, a control (OAM) packet, a payload that is not Ethernet. Reserved
 * bits are ignored, as section 3.4 asks.
 */
export function parseGeneve(buf: Uint8Array, off: number, end: number, out: GeneveRepr): ParseError {
  if (end - off < GENEVE_HEADER_LEN) return ParseError.Truncated;
  if (buf[off] >>> 6 !== 0) return ParseError.GeneveVersion;
  const optionsLen = (buf[off] & 0x3f) * 4;
  if (GENEVE_HEADER_LEN + optionsLen > end - off) return ParseError.GeneveBadOptions;
  const opts = off + GENEVE_HEADER_LEN;
  for (let at = opts; at < opts + optionsLen; at = nextOption(buf, at))
    if (at + GENEVE_OPTION_HEADER_LEN > opts + optionsLen || nextOption(buf, at) > opts + optionsLen)
      return ParseError.GeneveBadOptions;
  out.optionsLen = optionsLen;
  out.oam = (buf[off + 1] & FLAG_OAM) !== 0;
  out.critical = (buf[off + 1] & FLAG_CRITICAL) !== 0;
  out.protocol = (buf[off + 2] << 8) | buf[off + 3];
  out.vni = (buf[off + 4] << 16) | (buf[off + 5] << 8) | buf[off + 6];
  if (out.oam) return ParseError.GeneveOam;
  if (out.protocol !== GENEVE_PROTO_TEB) return ParseError.GeneveProtocol;
  return ParseError.None;
}

/** Where the option after the one at buf[at] starts. */
export function nextOption(buf: Uint8Array, at: number): number {
  return at + GENEVE_OPTION_HEADER_LEN + (buf[at + 3] & 0x1f) * 4;
}

/** An option's class and type as one number, (class << 8) | type: what a network knows an option by. */
export function optionKey(buf: Uint8Array, at: number): number {
  return ((buf[at] << 16) | (buf[at + 1] << 8) | buf[at + 2]) >>> 0;
}

/**
 * The first option of buf[opts, opts + len) with the critical bit whose key
 * is not in `known`, or -1. The options were checked by parseGeneve.
 */
export function unknownCriticalOption(buf: Uint8Array, opts: number, len: number, known: readonly number[]): number {
  for (let at = opts; at < opts + len; at = nextOption(buf, at))
    if ((buf[at + 2] & GENEVE_TYPE_CRITICAL) !== 0 && !known.includes(optionKey(buf, at))) return at;
  return -1;
}

export interface GeneveOption {
  class: number;
  type: number;
  data: Buffer;
}

/** The options as TLVs, ready to follow a header (every data a multiple of 4 bytes, as the config checks). */
export function emitOptions(options: readonly GeneveOption[]): Buffer {
  const out = Buffer.alloc(options.reduce((n, o) => n + GENEVE_OPTION_HEADER_LEN + o.data.length, 0));
  let at = 0;
  for (const o of options) {
    out.writeUInt16BE(o.class, at);
    out[at + 2] = o.type;
    out[at + 3] = o.data.length / 4;
    o.data.copy(out, at + GENEVE_OPTION_HEADER_LEN);
    at += GENEVE_OPTION_HEADER_LEN + o.data.length;
  }
  return out;
}

/** The options of buf[opts, opts + len), checked by parseGeneve. */
export function readOptions(buf: Uint8Array, opts: number, len: number): GeneveOption[] {
  const out: GeneveOption[] = [];
  for (let at = opts; at < opts + len; at = nextOption(buf, at)) {
    out.push({
      class: (buf[at] << 8) | buf[at + 1],
      type: buf[at + 2],
      data: Buffer.from(buf.subarray(at + GENEVE_OPTION_HEADER_LEN, nextOption(buf, at))),
    });
  }
  return out;
}

/**
 * Writes the header with `options` (TLVs from emitOptions) at buf[off];
 * returns its length. C is set when any option is critical (section 3.4).
 */
export function emitGeneve(vni: number, options: Buffer, critical: boolean, buf: Uint8Array, off: number): number {
  buf[off] = options.length / 4;
  buf[off + 1] = critical ? FLAG_CRITICAL : 0;
  buf[off + 2] = GENEVE_PROTO_TEB >>> 8;
  buf[off + 3] = GENEVE_PROTO_TEB & 0xff;
  buf[off + 4] = (vni >>> 16) & 0xff;
  buf[off + 5] = (vni >>> 8) & 0xff;
  buf[off + 6] = vni & 0xff;
  buf[off + 7] = 0;
  buf.set(options, off + GENEVE_HEADER_LEN);
  return GENEVE_HEADER_LEN + options.length;
}
