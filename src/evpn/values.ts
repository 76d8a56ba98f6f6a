// Route distinguishers and route targets (RFC 4364 section 4.2, RFC 4360):
// their text forms, as FRR writes them, and their defaults for a VNI.
//
//   "10.0.0.1:42"  type 1: IPv4 address and a 16-bit number
//   "65000:42"     type 0: 2-byte AS and a 32-bit number; type 2 for a 4-byte AS and a 16-bit number
import { parseIpv4Address } from '../wire/ipv4.ts';

/** Where golang-github-osrg-gobgp-dev installs GoBGP's API (read by gobgp.ts; checked before start by look.ts). */
export const GOBGP_API_DIR = '/usr/share/gocode/src/github.com/osrg/gobgp/api';

export type RouteValue =
  | { kind: 'ip'; admin: string; assigned: number }
  | { kind: 'as2'; asn: number; assigned: number }
  | { kind: 'as4'; asn: number; assigned: number };

const U16 = 0xffff;
const U32 = 0xffff_ffff;

/** Parses "IP:N" or "ASN:N"; undefined if it is not a valid RD or RT. */
export function parseRouteValue(text: string): RouteValue | undefined {
  const m = /^([0-9.]+):(\d{1,10})$/.exec(text);
  if (m === null) return undefined;
  const assigned = Number(m[2]);
  if (m[1].includes('.')) {
    return parseIpv4Address(m[1]) !== undefined && assigned <= U16 ? { kind: 'ip', admin: m[1], assigned } : undefined;
  }
  if (!/^\d{1,10}$/.test(m[1])) return undefined;
  const asn = Number(m[1]);
  if (asn <= U16 && assigned <= U32) return { kind: 'as2', asn, assigned };
  if (asn <= U32 && assigned <= U16) return { kind: 'as4', asn, assigned };
  return undefined;
}

/** `*:N`: an import route target that matches N under any AS or address, as FRR's wildcard; N or undefined. */
export function wildcardTarget(text: string): number | undefined {
  const m = /^\*:(\d{1,10})$/.exec(text);
  return m !== null && Number(m[1]) <= U32 ? Number(m[1]) : undefined;
}

/** Whether route target `rt` (canonical) is one an import list entry (canonical, or `*:N`) takes. */
export function importsTarget(pattern: string, rt: string): boolean {
  if (pattern === rt) return true;
  const n = wildcardTarget(pattern);
  return n !== undefined && parseRouteValue(rt)?.assigned === n;
}

export function formatRouteValue(v: RouteValue): string {
  return `${v.kind === 'ip' ? v.admin : v.asn}:${v.assigned}`;
}

/** A route distinguisher or target as written the one way (leading zeros gone); the text must be valid. */
export function canonicalRouteValue(text: string): string {
  return formatRouteValue(parseRouteValue(text)!);
}

/** An import route target the one way: `*:N` kept a wildcard, others as canonicalRouteValue. */
export function canonicalImportTarget(text: string): string {
  const n = wildcardTarget(text);
  return n !== undefined ? `*:${n}` : canonicalRouteValue(text);
}

/**
 * The route target of a VNI by default, as FRR's auto-RT: ASN:VNI (a 4-byte
 * ASN keeps the VNI's low 16 bits, all a type-2 value holds).
 */
export function defaultRouteTarget(asn: number, vni: number): string {
  return `${asn}:${asn <= U16 ? vni : vni & U16}`;
}

/** The route distinguisher of a VNI by default: router-id:N, N the VNI (its low 16 bits, all a type-1 value holds). */
export function defaultRouteDistinguisher(routerId: string, vni: number): string {
  return `${routerId}:${vni & U16}`;
}
