// VXLAN header (RFC 7348 section 5): flags(8) reserved(24) VNI(24) reserved(8).
import { ParseError } from './parse-error.ts';

export const VXLAN_HEADER_LEN = 8;
export const VXLAN_PORT = 4789;
/** The I flag: the VNI is valid. RFC 7348 defines no other flag. */
export const VXLAN_FLAG_I = 0x08;
export const MAX_VNI = 0xff_ffff;

const FLAGS = 0;
const VNI = 4;

export interface VxlanRepr {
  vni: number;
}

export function newVxlanRepr(): VxlanRepr {
  return { vni: 0 };
}

/**
 * Only the flag byte 0x08 is accepted: a set reserved flag means an extension
 * (GBP, GPE) we do not speak, so the frame is not ours to deliver. The
 * reserved fields are ignored on receipt, as RFC 7348 asks.
 */
export function parseVxlan(buf: Uint8Array, off: number, end: number, out: VxlanRepr): ParseError {
  if (end - off < VXLAN_HEADER_LEN) return ParseError.Truncated;
  if (buf[off + FLAGS] !== VXLAN_FLAG_I) return ParseError.BadFlags;
  out.vni = (buf[off + VNI] << 16) | (buf[off + VNI + 1] << 8) | buf[off + VNI + 2];
  return ParseError.None;
}

export function emitVxlan(vni: number, buf: Uint8Array, off: number): number {
  buf[off + FLAGS] = VXLAN_FLAG_I;
  buf[off + 1] = 0;
  buf[off + 2] = 0;
  buf[off + 3] = 0;
  buf[off + VNI] = (vni >>> 16) & 0xff;
  buf[off + VNI + 1] = (vni >>> 8) & 0xff;
  buf[off + VNI + 2] = vni & 0xff;
  buf[off + 7] = 0;
  return VXLAN_HEADER_LEN;
}
