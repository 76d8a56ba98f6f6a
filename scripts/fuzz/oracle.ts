// What the daemon must do with each packet the fuzzer sends, written from the
// RFCs and the rules of docs/behaviour.md rather than from vtepd's own parsers: the
// fuzzer counts what should reach each TAP (or each tunnel) and compares with
// the daemon's counters after every batch.
import { checksum } from '../../src/wire/checksum.ts';

/** What the fuzzer's daemon runs: one network per tunnel, each with the largest frame its TAP takes. */
export interface FuzzNetworks {
  vni: number;
  greKey: number;
  /** The Geneve network's VNI, and the options it is configured with as "CCCCTT" (class, type) in hex. */
  geneveVni: number;
  geneveKnown: string[];
  /** The largest frame each TAP takes: its MTU plus an Ethernet header and one VLAN tag. */
  vxlanMaxFrame: number;
  greMaxFrame: number;
  geneveMaxFrame: number;
}

function sourceOk(f: Buffer): boolean {
  return (f[6] & 1) === 0 && f.subarray(6, 12).some((x) => x !== 0);
}

/** Where the frame's network header starts (after at most one VLAN tag), and its EtherType. */
function l3(f: Buffer): { at: number; type: number } {
  let at = 12;
  let type = f.readUInt16BE(at);
  if (type === 0x8100 && f.length >= 18) {
    at += 4;
    type = f.readUInt16BE(at);
  }
  return { at: at + 2, type };
}

/** The inner IP header's offset, or -1. */
function innerIp(f: Buffer): number {
  const { at, type } = l3(f);
  if (type === 0x0800) return at + 20 <= f.length && f[at] >> 4 === 4 && at + (f[at] & 15) * 4 <= f.length ? at : -1;
  if (type === 0x86dd) return at + 40 <= f.length && f[at] >> 4 === 6 ? at : -1;
  return -1;
}

/** RFC 6040: congestion marked outside, and an inner packet that cannot carry the mark. */
function ceOnNotEct(f: Buffer, outerEcn: number): boolean {
  if (outerEcn !== 3) return false;
  const ip = innerIp(f);
  if (ip < 0) return false;
  const ecn = f[ip] >> 4 === 4 ? f[ip + 1] & 3 : (f[ip + 1] >> 4) & 3;
  return ecn === 0;
}

/**
 * A TCP/UDP checksum holding only the pseudo-header's sum (a sender that left
 * it to a NIC) and not verifying as a whole, over IPv4 (not a fragment) or
 * IPv6 (no extension header) after at most one VLAN tag.
 */
export function partialChecksum(f: Buffer): boolean {
  const { at, type } = l3(f);
  let proto: number;
  let hdr: number;
  let l4len: number;
  let pseudo = 0;
  if (type === 0x0800 && f.length >= at + 20) {
    hdr = (f[at] & 15) * 4;
    const total = f.readUInt16BE(at + 2);
    if (f[at] >> 4 !== 4 || hdr < 20 || total < hdr || at + total > f.length || (f.readUInt16BE(at + 6) & 0x3fff) !== 0)
      return false;
    proto = f[at + 9];
    l4len = total - hdr;
    for (let i = 12; i < 20; i += 2) pseudo += f.readUInt16BE(at + i);
  } else if (type === 0x86dd && f.length >= at + 40) {
    hdr = 40;
    l4len = f.readUInt16BE(at + 4);
    if (f[at] >> 4 !== 6 || at + 40 + l4len > f.length) return false;
    proto = f[at + 6];
    for (let i = 8; i < 40; i += 2) pseudo += f.readUInt16BE(at + i);
  } else {
    return false;
  }
  const field = proto === 6 ? 16 : proto === 17 ? 6 : 0;
  if (field === 0 || l4len < field + 2) return false;
  pseudo += proto + (l4len >>> 16) + (l4len & 0xffff);
  while (pseudo > 0xffff) pseudo = (pseudo & 0xffff) + (pseudo >>> 16);
  const check = f.readUInt16BE(at + hdr + field);
  if (check === 0 || check !== pseudo) return false; // the folded sum, not complemented: what a stack leaves for a NIC
  return checksum(f, at + hdr, l4len, pseudo) !== 0; // and the whole does not verify
}

/** Whether an inner frame that a network accepted goes to its TAP. */
function innerDelivered(f: Buffer, maxFrame: number, outerEcn: number): boolean {
  if (f.length < 14 || f.length > maxFrame || !sourceOk(f)) return false;
  if (ceOnNotEct(f, outerEcn)) return false;
  return !partialChecksum(f);
}

/** A VXLAN datagram's payload from a remote of the network: delivered to the VXLAN network's TAP? */
export function vxlanDelivered(p: Buffer, outerTos: number, n: FuzzNetworks): boolean {
  if (p.length < 8 || p[0] !== 0x08) return false;
  if (((p[4] << 16) | (p[5] << 8) | p[6]) !== n.vni) return false;
  return innerDelivered(p.subarray(8), n.vxlanMaxFrame, outerTos & 3);
}

/**
 * A Geneve datagram's payload from a remote of the network: delivered to the
 * Geneve network's TAP? RFC 8926 section 3.5: version 0, options that are
 * whole TLVs within the option length, not a control packet, Ethernet, our
 * VNI, and no critical option (type bit 0x80) the network was not given.
 */
export function geneveDelivered(p: Buffer, outerTos: number, n: FuzzNetworks): boolean {
  if (p.length < 8 || p[0] >> 6 !== 0) return false;
  const end = 8 + (p[0] & 0x3f) * 4;
  if (end > p.length) return false;
  for (let at = 8; at < end;) {
    if (at + 4 > end) return false;
    const next = at + 4 + (p[at + 3] & 0x1f) * 4;
    if (next > end) return false;
    at = next;
  }
  if (p[1] & 0x80 || p.readUInt16BE(2) !== 0x6558 || p.readUIntBE(4, 3) !== n.geneveVni) return false;
  for (let at = 8; at < end; at += 4 + (p[at + 3] & 0x1f) * 4)
    if (p[at + 2] & 0x80 && !n.geneveKnown.includes(p.toString('hex', at, at + 3))) return false;
  return innerDelivered(p.subarray(end), n.geneveMaxFrame, outerTos & 3);
}

/** A GRE packet (outer IPv4 header included, as the raw socket sees it) from a remote: delivered to the GRE network's TAP? */
export function greDelivered(p: Buffer, n: FuzzNetworks): boolean {
  const ihl = (p[0] & 15) * 4;
  const g = p.subarray(ihl, p.readUInt16BE(2));
  if (g.length < 4) return false;
  const flags = g.readUInt16BE(0);
  if ((flags & 7) !== 0 || flags & 0x4000 || flags & ~0xb007 & 0xffff) return false; // version, routing, flags other than C, K, S
  const len = 4 + (flags & 0x8000 ? 4 : 0) + (flags & 0x2000 ? 4 : 0) + (flags & 0x1000 ? 4 : 0);
  if (g.length < len) return false;
  if (flags & 0x8000 && checksum(g, 0, g.length) !== 0) return false;
  if (g.readUInt16BE(2) !== 0x6558 || !(flags & 0x2000)) return false;
  if (g.readUInt32BE(flags & 0x8000 ? 8 : 4) !== n.greKey) return false;
  return innerDelivered(g.subarray(len), n.greMaxFrame, p[1] & 3);
}

/**
 * A frame from the TAP: how many tunnel packets it makes (1: there is one
 * remote, so flood and unicast alike make one) or 0 (dropped). Keeps what
 * the switch learns: MACs seen as sources are local, and a frame to one is
 * dropped (local-destination), up to `maxMacs` of them.
 */
export class TapOracle {
  private readonly local = new Set<string>();

  /** `tapMac`: the TAP's own MAC, local from the start (the host behind it has spoken before any batch). */
  constructor(
    private readonly maxMacs: number,
    private readonly tapMac = '',
  ) {
    this.forget();
  }

  forward(f: Buffer): number {
    if (f.length < 14 || !sourceOk(f)) return 0;
    const src = f.toString('hex', 6, 12);
    if (!this.local.has(src) && this.local.size < this.maxMacs) this.local.add(src);
    if ((f[0] & 1) === 0 && this.local.has(f.toString('hex', 0, 6))) return 0;
    return 1;
  }

  forget(): void {
    this.local.clear();
    if (this.tapMac) this.local.add(this.tapMac.replace(/:/g, ''));
  }
}
