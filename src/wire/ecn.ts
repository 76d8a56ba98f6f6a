// ECN across a tunnel, RFC 6040 "normal mode", as the Linux kernel's
// tunnels (INET_ECN_encapsulate / INET_ECN_decapsulate) and Open vSwitch do
// it: the outer header carries the inner packet's ECN codepoint, and a
// congestion mark (CE) that the underlay put on the outer header is copied
// onto the inner packet at the far end, so that the endpoints still learn of
// it. Works on inner IPv4 and IPv6 (after at most one VLAN tag); other frames
// have no ECN field and are left alone.
import { checksum } from './checksum.ts';
import { EtherType, l3Offset, l3Type } from './ethernet.ts';

export const ECN_NOT_ECT = 0;
export const ECN_ECT_1 = 1;
export const ECN_ECT_0 = 2;
export const ECN_CE = 3;

/**
 * Where the inner IPv4 or IPv6 header of the frame at `off` starts, or -1 if
 * it carries neither (the version is then the header's first nibble).
 */
function innerIp(buf: Uint8Array, off: number, len: number): number {
  const at = l3Offset(buf, off, len);
  const type = l3Type(buf, at);
  const end = off + len;
  if (type === EtherType.IPv4)
    return at + 20 <= end && buf[at] >> 4 === 4 && at + (buf[at] & 0x0f) * 4 <= end ? at : -1;
  if (type === EtherType.IPv6) return at + 40 <= end && buf[at] >> 4 === 6 ? at : -1;
  return -1;
}

function ecnOf(buf: Uint8Array, ip: number): number {
  return buf[ip] >> 4 === 4 ? buf[ip + 1] & 3 : (buf[ip + 1] >> 4) & 3;
}

/** The outer ECN codepoint for an inner frame: its own, except that CE goes out as ECT(0). */
export function encapsulationEcn(buf: Uint8Array, off: number, len: number): number {
  const ip = innerIp(buf, off, len);
  if (ip < 0) return ECN_NOT_ECT;
  const inner = ecnOf(buf, ip);
  return inner === ECN_CE ? ECN_ECT_0 : inner;
}

/**
 * Applies the outer ECN codepoint to the inner frame at `off`: CE is copied
 * onto an ECN-capable inner packet, ECT(1) replaces an inner ECT(0). Returns
 * false when the frame must be dropped: CE outside, and inside a packet that
 * cannot carry it (Not-ECT), which the congestion would otherwise go unnoticed by.
 */
export function decapsulateEcn(buf: Uint8Array, off: number, len: number, outer: number): boolean {
  if (outer === ECN_NOT_ECT || outer === ECN_ECT_0) return true;
  const at = innerIp(buf, off, len);
  if (at < 0) return true;
  const inner = ecnOf(buf, at);
  if (inner === ECN_NOT_ECT) return outer !== ECN_CE;
  const next = outer === ECN_CE ? ECN_CE : inner === ECN_ECT_0 ? ECN_ECT_1 : inner;
  if (next === inner) return true;
  if (buf[at] >> 4 === 4) {
    buf[at + 1] = (buf[at + 1] & ~3) | next;
    const ihl = (buf[at] & 0x0f) * 4;
    buf[at + 10] = 0;
    buf[at + 11] = 0;
    const sum = checksum(buf, at, ihl);
    buf[at + 10] = sum >> 8;
    buf[at + 11] = sum & 0xff;
  } else {
    buf[at + 1] = (buf[at + 1] & ~0x30) | (next << 4);
  }
  return true;
}
