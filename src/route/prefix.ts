// IP prefixes (address/length) as the routing tables keep them: 16 bytes
// (IPv4 mapped, RFC 4291 section 2.5.5.2), masked to their length, and the
// length counted in the family's own bits (0-32 for IPv4, 0-128 for IPv6).
import { ADDR_LEN, formatIp, isV4Mapped, parseIp } from '../wire/ip-address.ts';

export interface Prefix {
  /** The network address, masked, 16 bytes. */
  readonly addr: Uint8Array;
  /** Prefix length in the family's bits. */
  readonly len: number;
  readonly v4: boolean;
}

/** The bit at which a family's address starts in 16 bytes. */
export function firstBit(v4: boolean): number {
  return v4 ? 96 : 0;
}

/** `addr` (16 bytes) masked to `len` bits of its family. */
export function masked(addr: Uint8Array, len: number): Prefix {
  const v4 = isV4Mapped(addr);
  const out = new Uint8Array(ADDR_LEN);
  out.set(addr);
  const keep = firstBit(v4) + len;
  for (let bit = keep; bit < 128; bit++) out[bit >> 3] &= ~(0x80 >> (bit & 7));
  return { addr: out, len, v4 };
}

/** Parses "192.168.10.0/24" or "fd00:10::/64"; undefined if it is not a prefix. The address is masked. */
export function parsePrefix(text: string): Prefix | undefined {
  const m = /^([^/]+)\/(\d{1,3})$/.exec(text);
  if (m === null) return undefined;
  const addr = parseIp(m[1]);
  const len = Number(m[2]);
  if (addr === undefined || len > (isV4Mapped(addr) ? 32 : 128)) return undefined;
  return masked(addr, len);
}

/** "192.168.10.0/24". */
export function formatPrefix(p: Prefix): string {
  return `${formatIp(p.addr)}/${p.len}`;
}

/** Whether `addr` (16 bytes at b[off]) is inside prefix `p`. */
export function contains(p: Prefix, b: Uint8Array, off = 0): boolean {
  if (isV4Mapped(b, off) !== p.v4) return false;
  const end = firstBit(p.v4) + p.len;
  for (let bit = firstBit(p.v4); bit < end; bit++) {
    const mask = 0x80 >> (bit & 7);
    if ((b[off + (bit >> 3)] & mask) !== (p.addr[bit >> 3] & mask)) return false;
  }
  return true;
}

/** Whether two prefixes share an address (one contains the other). */
export function overlaps(a: Prefix, b: Prefix): boolean {
  return a.v4 === b.v4 && (a.len <= b.len ? contains(a, b.addr) : contains(b, a.addr));
}

export function samePrefix(a: Prefix, b: Prefix): boolean {
  return a.len === b.len && a.v4 === b.v4 && Buffer.compare(Buffer.from(a.addr), Buffer.from(b.addr)) === 0;
}
