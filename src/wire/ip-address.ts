// Underlay addresses as 16 bytes: IPv6 as is, IPv4 as ::ffff:a.b.c.d (RFC
// 4291 section 2.5.5.2), so that one table, one batch array and one native
// call serve both families. Text forms are for the control plane only: the
// canonical text (RFC 5952 for IPv6, dotted quad for IPv4) is what config,
// logs and vtepctl show and compare.
import { parseIpv4Address } from './ipv4.ts';

export const ADDR_LEN = 16;
/** 32-bit words per address, for comparisons over a Uint32Array view. */
export const ADDR_WORDS = 4;

const V4_MAPPED_PREFIX = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff];

export function isV4Mapped(b: Uint8Array, off = 0): boolean {
  for (let i = 0; i < 12; i++) if (b[off + i] !== V4_MAPPED_PREFIX[i]) return false;
  return true;
}

/** The IPv4 address (host order) in the last 4 bytes of a 16-byte address. */
export function ipv4Of(b: Uint8Array, off = 0): number {
  return ((b[off + 12] << 24) | (b[off + 13] << 16) | (b[off + 14] << 8) | b[off + 15]) >>> 0;
}

/** Writes IPv4 address `v4` (host order) as ::ffff:a.b.c.d at b[off]. */
export function writeV4Mapped(v4: number, b: Uint8Array, off = 0): void {
  b.set(V4_MAPPED_PREFIX, off);
  b[off + 12] = v4 >>> 24;
  b[off + 13] = (v4 >>> 16) & 0xff;
  b[off + 14] = (v4 >>> 8) & 0xff;
  b[off + 15] = v4 & 0xff;
}

/** Parses IPv4 or IPv6 text into 16 bytes; undefined if it is neither. */
export function parseIp(text: string): Uint8Array | undefined {
  const v4 = parseIpv4Address(text);
  if (v4 !== undefined) {
    const b = new Uint8Array(ADDR_LEN);
    writeV4Mapped(v4, b);
    return b;
  }
  return parseIpv6(text);
}

function parseIpv6(text: string): Uint8Array | undefined {
  if (!/^[0-9A-Fa-f:.]{2,45}$/.test(text)) return undefined;
  const halves = text.split('::');
  if (halves.length > 2) return undefined;
  const groups = (s: string): number[] | undefined => {
    if (s === '') return [];
    const out: number[] = [];
    const parts = s.split(':');
    for (let i = 0; i < parts.length; i++) {
      const p = parts[i];
      if (i === parts.length - 1 && p.includes('.')) {
        const v4 = parseIpv4Address(p);
        if (v4 === undefined) return undefined;
        out.push(v4 >>> 16, v4 & 0xffff);
      } else if (/^[0-9A-Fa-f]{1,4}$/.test(p)) {
        out.push(parseInt(p, 16));
      } else {
        return undefined;
      }
    }
    return out;
  };
  const head = groups(halves[0]);
  const tail = halves.length === 2 ? groups(halves[1]) : [];
  if (head === undefined || tail === undefined) return undefined;
  const missing = 8 - head.length - tail.length;
  if (halves.length === 2 ? missing < 1 : missing !== 0) return undefined;
  const all = [...head, ...new Array<number>(missing).fill(0), ...tail];
  const b = new Uint8Array(ADDR_LEN);
  all.forEach((g, i) => {
    b[2 * i] = g >>> 8;
    b[2 * i + 1] = g & 0xff;
  });
  return b;
}

/** The canonical text of the 16-byte address at b[off]: dotted quad for IPv4, RFC 5952 for IPv6. */
export function formatIp(b: Uint8Array, off = 0): string {
  if (isV4Mapped(b, off)) return `${b[off + 12]}.${b[off + 13]}.${b[off + 14]}.${b[off + 15]}`;
  const g: number[] = [];
  for (let i = 0; i < 8; i++) g.push((b[off + 2 * i] << 8) | b[off + 2 * i + 1]);
  // The longest run of two or more zero groups (the first of equal ones) becomes "::".
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8;) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (from: number, to: number) =>
    g
      .slice(from, to)
      .map((x) => x.toString(16))
      .join(':');
  return best < 0 ? hex(0, 8) : `${hex(0, best)}::${hex(best + bestLen, 8)}`;
}

/** The canonical text of an address given as text; undefined if it is not one. */
export function canonicalIp(text: string): string | undefined {
  const b = parseIp(text);
  return b === undefined ? undefined : formatIp(b);
}

/** IPv4 224.0.0.0/4 or IPv6 ff00::/8. */
export function isMulticastIp(b: Uint8Array, off = 0): boolean {
  return isV4Mapped(b, off) ? b[off + 12] >>> 4 === 0xe : b[off] === 0xff;
}

/** Whether two addresses (16 bytes each) are the same. */
export function sameIp(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Neither unspecified, nor broadcast, nor multicast: an address a VTEP can have. */
export function isUnicastIp(b: Uint8Array, off = 0): boolean {
  if (isMulticastIp(b, off)) return false;
  if (isV4Mapped(b, off)) {
    const v4 = ipv4Of(b, off);
    return v4 !== 0 && v4 !== 0xffffffff;
  }
  for (let i = 0; i < ADDR_LEN; i++) if (b[off + i] !== 0) return true;
  return false;
}

/** Why an address cannot be a remote VTEP's, as vtepctl, the config and EVPN refuse it. */
export type VtepProblem =
  'family' | 'unspecified' | 'loopback' | 'link-local' | 'multicast' | 'broadcast' | 'reserved' | 'ours' | 'overlay';

/**
 * What a VTEP's address must not be besides what any address says of itself: ours, the underlay
 * subnet's broadcast, the overlay.
 */
export interface VtepChecks {
  /** This VTEP's address (16 bytes). */
  local: Uint8Array;
  /** The broadcast address of the underlay's IPv4 subnet (16 bytes), if it has one. */
  broadcast?: Uint8Array;
  /** Whether an address (16 bytes) is an overlay address: a subnet of a TAP or a gateway. */
  overlay?: (b: Uint8Array) => boolean;
}

/** What a refusal says after the address, by problem. */
export const VTEP_PROBLEMS: Record<VtepProblem, string> = {
  family: "is not of the underlay's family",
  unspecified: 'is the unspecified address',
  loopback: 'is a loopback address',
  'link-local': 'is a link-local address',
  multicast: 'is a multicast address, not a VTEP',
  broadcast: 'is a broadcast address',
  reserved: 'is a reserved address (240.0.0.0/4)',
  ours: "is this VTEP's own address (local)",
  overlay: 'is an overlay address (a TAP or gateway subnet)',
};

/** Why `b` (16 bytes) cannot be a remote VTEP's address; undefined when it can. */
export function vtepProblem(b: Uint8Array, checks: VtepChecks): VtepProblem | undefined {
  const v4 = isV4Mapped(b);
  if (v4 !== isV4Mapped(checks.local)) return 'family';
  if (isMulticastIp(b)) return 'multicast';
  if (v4) {
    const a = ipv4Of(b);
    if (a === 0) return 'unspecified';
    if (a >>> 24 === 127) return 'loopback';
    if (a >>> 16 === 0xa9fe) return 'link-local';
    if (a === 0xffffffff) return 'broadcast';
    if (a >>> 28 === 0xf) return 'reserved';
  } else {
    if (!isUnicastIp(b)) return 'unspecified';
    if (b.every((x, i) => x === (i === 15 ? 1 : 0))) return 'loopback';
    if (b[0] === 0xfe && (b[1] & 0xc0) === 0x80) return 'link-local';
  }
  if (sameIp(b, checks.local)) return 'ours';
  if (checks.broadcast !== undefined && sameIp(b, checks.broadcast)) return 'broadcast';
  if (checks.overlay?.(b)) return 'overlay';
  return undefined;
}
