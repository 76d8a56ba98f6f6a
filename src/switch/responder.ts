// The ARP and ND responder, and snooping: decisions of the switch about
// address resolution frames.
//
// answer(): an ARP request or an IPv6 Neighbor Solicitation read from the
// TAP, for an address in the network's neighbour table, is answered on the
// TAP instead of being flooded into every tunnel (Neutron's ARP responder,
// br-tun table 21; the kernel VXLAN device's `proxy`). The request's slot is
// rewritten in place into the reply: an ARP reply from the neighbour's MAC,
// or a Neighbor Advertisement with the solicited and override flags and a
// target link-layer address option, as the kernel sends them. Requests for
// unknown addresses are left alone: they flood as before. So are gratuitous
// ARP, unsolicited NAs and duplicate address detection probes, unless the
// network's hosts are announced by a control plane (EVPN): then they stay off
// the tunnels, as the Linux bridge keeps them from a port with neigh_suppress
// (selfAnnouncement()).
//
// snoop(): ARP replies, gratuitous ARP and unsolicited NAs that arrive from a
// tunnel fill the table (`arp-snoop`).
//
// snoopLocal(): what the hosts behind the TAP say of themselves (the sender
// of their ARP, the source of their NS, the target of their NA) fills it
// with `local` entries: an EVPN network advertises these with their MACs.
import { ARP_LEN, ArpOp, emitArp, newArpRepr, parseArp, type ArpRepr } from '../wire/arp.ts';
import { emitEthernet, EtherType, ETH_HEADER_LEN, newEthernetRepr } from '../wire/ethernet.ts';
import {
  emitNd,
  Icmpv6Type,
  NA_LEN,
  NA_OVERRIDE,
  NA_SOLICITED,
  ND_HOP_LIMIT,
  newNdRepr,
  parseNd,
  type NdMessage,
  type NdRepr,
} from '../wire/icmpv6.ts';
import { writeV4Mapped } from '../wire/ip-address.ts';
import {
  emitIpv6,
  IPV6_DST,
  IPV6_HEADER_LEN,
  IPV6_SRC,
  newIpv6Header,
  newIpv6Repr,
  NextHeader,
  parseIpv6,
  type Ipv6Header,
} from '../wire/ipv6.ts';
import { readMac, type Mac } from '../wire/mac.ts';
import { ParseError } from '../wire/parse-error.ts';
import { NetworkCounter as N } from './counters.ts';
import type { TapHook } from './hooks.ts';
import type { NeighEntry, NeighTable, SnoopedOrigin } from './neigh.ts';
import type { Network } from './network.ts';
import { Verdict, type Forwarding } from './verdict.ts';

/** What answer() did, for the counters. */
export const Answered = { No: 0, Arp: 1, Nd: 2 } as const;
export type Answered = (typeof Answered)[keyof typeof Answered];

const arp = newArpRepr();
const reply = newArpRepr();
const ip6 = newIpv6Repr();
const nd = newNdRepr();
const eth = newEthernetRepr();
const target = new Uint8Array(16);
const asker = new Uint8Array(16);

function etherType(buf: Uint8Array, off: number): number {
  return (buf[off + 12] << 8) | buf[off + 13];
}

/**
 * Answers the ARP request or NS at buf[off, off+len) from `neigh`, rewriting
 * the frame in place (the slot must hold MAX_ANSWER_LEN bytes from `off`);
 * returns what it answered. The reply's length is then answerLength().
 */
export function answer(neigh: NeighTable, buf: Buffer, off: number, len: number): Answered {
  const type = etherType(buf, off);
  if (type === EtherType.ARP) return answerArp(neigh, buf, off, len) ? Answered.Arp : Answered.No;
  if (type === EtherType.IPv6) return answerNs(neigh, buf, off, len) ? Answered.Nd : Answered.No;
  return Answered.No;
}

/** The length of a reply answer() wrote. */
export function answerLength(a: Answered): number {
  return ETH_HEADER_LEN + (a === Answered.Arp ? ARP_LEN : IPV6_HEADER_LEN + NA_LEN);
}

/** The most bytes a reply takes, for the slot's room. */
export const MAX_ANSWER_LEN = ETH_HEADER_LEN + IPV6_HEADER_LEN + NA_LEN;

function answerArp(neigh: NeighTable, buf: Buffer, off: number, len: number): boolean {
  if (parseArp(buf, off + ETH_HEADER_LEN, off + len, arp) !== ParseError.None || arp.op !== ArpOp.Request) return false;
  // Duplicate address detection (sender 0.0.0.0) and gratuitous ARP are the host's own business.
  if (arp.senderIp === 0 || arp.senderIp === arp.targetIp) return false;
  const e = neigh.lookup4(arp.targetIp);
  if (e === undefined) return false;
  writeArpReply(buf, off, arp, e.mac);
  return true;
}

/** Rewrites the ARP request at buf[off] (parsed into `req`) into the reply from `mac`, which has req.targetIp. */
export function writeArpReply(buf: Buffer, off: number, req: ArpRepr, mac: Mac): void {
  eth.dst = readMac(buf, off + 6);
  eth.src = mac;
  eth.ethertype = EtherType.ARP;
  emitEthernet(eth, buf, off);
  const askerMac = req.senderMac;
  const askerIp = req.senderIp;
  reply.op = ArpOp.Reply;
  reply.senderMac = mac;
  reply.senderIp = req.targetIp;
  reply.targetMac = askerMac;
  reply.targetIp = askerIp;
  emitArp(reply, buf, off + ETH_HEADER_LEN);
}

function answerNs(neigh: NeighTable, buf: Buffer, off: number, len: number): boolean {
  const target = solicitation(buf, off, len);
  if (target < 0) return false;
  const e = neigh.lookup6(buf, target);
  if (e === undefined) return false;
  writeNaReply(buf, off, target, e.mac, NA_SOLICITED | NA_OVERRIDE);
  return true;
}

/**
 * Parses the IPv6 frame at buf[off, off+len) as a Neighbor Discovery message into `out` (its IPv6
 * header into ip6): false unless it is ICMPv6 with hop limit 255 (RFC 4861 section 7.1.1) and a
 * well-formed ND message.
 */
function parseNdFrame(buf: Buffer, off: number, len: number, out: NdRepr): boolean {
  const ip = off + ETH_HEADER_LEN;
  if (
    parseIpv6(buf, ip, off + len, ip6) !== ParseError.None ||
    ip6.nextHeader !== NextHeader.ICMPv6 ||
    ip6.hopLimit !== ND_HOP_LIMIT
  )
    return false;
  const icmp = ip + IPV6_HEADER_LEN;
  return parseNd(buf, icmp, icmp + ip6.payloadLen, ip6.src, ip6.dst, out) === ParseError.None;
}

/**
 * Where the target address of the Neighbor Solicitation at buf[off, off+len)
 * is in `buf`, or -1 when the frame is none a neighbour answers (not an NS,
 * a duplicate address detection probe, a multicast target).
 */
export function solicitation(buf: Buffer, off: number, len: number, out: NdRepr = nd): number {
  if (!parseNdFrame(buf, off, len, out) || out.type !== Icmpv6Type.NeighborSolicitation) return -1;
  let unspecified = true;
  for (let i = 0; i < 16; i++) if (buf[ip6.src + i] !== 0) unspecified = false;
  if (unspecified || buf[out.target] === 0xff) return -1; // a DAD probe, or a multicast target
  return out.target;
}

/**
 * Rewrites the Neighbor Solicitation at buf[off] (its target at buf[targetAt])
 * into the Neighbor Advertisement from `mac` with `flags`: from the target, to
 * the asker, hop limit 255, a target link-layer address option.
 */
export function writeNaReply(buf: Buffer, off: number, targetAt: number, mac: Mac, flags: number): void {
  const ip = off + ETH_HEADER_LEN;
  const icmp = ip + IPV6_HEADER_LEN;
  // The reply's addresses come from the request, which it overwrites: keep them first.
  target.set(buf.subarray(targetAt, targetAt + 16));
  asker.set(buf.subarray(ip + IPV6_SRC, ip + IPV6_SRC + 16));
  eth.dst = readMac(buf, off + 6);
  eth.src = mac;
  eth.ethertype = EtherType.IPv6;
  emitEthernet(eth, buf, off);
  na6.src = target;
  na6.dst = asker;
  emitIpv6(na6, buf, ip);
  na.flags = flags;
  na.mac = mac;
  emitNd(na, buf, icmp, ip + IPV6_SRC, ip + IPV6_DST);
}

const na6: Ipv6Header = {
  ...newIpv6Header(),
  payloadLen: NA_LEN,
  nextHeader: NextHeader.ICMPv6,
  hopLimit: ND_HOP_LIMIT,
};
const na: NdMessage = { type: Icmpv6Type.NeighborAdvertisement, flags: 0, target, mac: 0 };

const snoopedIp = new Uint8Array(16);

/**
 * The address the ARP or ND frame at buf[off, off+len) announces (left in
 * snoopedIp) and its MAC, or -1. From a tunnel only what announces (an ARP
 * reply, a gratuitous ARP, an unsolicited NA) counts; from the TAP, whatever a
 * host says of itself (its ARP's sender, its NS's source, its NA's target).
 */
function announced(buf: Buffer, off: number, len: number, fromTap: boolean): number {
  const type = etherType(buf, off);
  if (type === EtherType.ARP) {
    if (parseArp(buf, off + ETH_HEADER_LEN, off + len, arp) !== ParseError.None || arp.senderIp === 0) return -1;
    if (!fromTap && arp.op !== ArpOp.Reply && arp.senderIp !== arp.targetIp) return -1;
    writeV4Mapped(arp.senderIp, snoopedIp);
    return arp.senderMac;
  }
  if (type !== EtherType.IPv6 || !parseNdFrame(buf, off, len, nd)) return -1;
  if (!fromTap && (nd.type !== Icmpv6Type.NeighborAdvertisement || nd.flags & NA_SOLICITED)) return -1;
  const at = nd.type === Icmpv6Type.NeighborSolicitation ? ip6.src : nd.target;
  if (buf[at] === 0xff || buf.subarray(at, at + 16).every((x) => x === 0)) return -1; // multicast, or a DAD probe's ::
  snoopedIp.set(buf.subarray(at, at + 16));
  return nd.lla >= 0 ? nd.lla : readMac(buf, off + 6);
}

/**
 * Fills `neigh` from the ARP reply, gratuitous ARP or unsolicited NA at buf[off, off+len), a frame from a
 * tunnel; returns the entry if new or moved.
 */
export function snoop(neigh: NeighTable, buf: Buffer, off: number, len: number, now: number): NeighEntry | undefined {
  return record(neigh, announced(buf, off, len, false), now, 'snooped');
}

/**
 * Records the address a host behind the TAP claims in the ARP or ND frame at buf[off, off+len); returns the
 * entry if new or moved.
 */
export function snoopLocal(
  neigh: NeighTable,
  buf: Buffer,
  off: number,
  len: number,
  now: number,
): NeighEntry | undefined {
  return record(neigh, announced(buf, off, len, true), now, 'local');
}

function record(neigh: NeighTable, mac: number, now: number, origin: SnoopedOrigin): NeighEntry | undefined {
  if (mac < 0) return undefined;
  const result = neigh.snoop(snoopedIp, 0, mac, now, origin);
  return result === 'new' || result === 'moved' ? neigh.get(snoopedIp) : undefined;
}

/** ARP or IPv6 (an NS or NA may be in it): the only frames the responder and snooping look into. */
function isResolution(buf: Buffer, off: number): boolean {
  const type = etherType(buf, off);
  return type === EtherType.ARP || type === EtherType.IPv6;
}

/** Records what the hosts behind the TAP claim (EVPN advertises it); passes every frame on. */
export const snoopLocalHook: TapHook = {
  name: 'local address snooping',
  fromTap(net: Network, buf: Buffer, off: number, len: number, f: Forwarding): boolean {
    if (!isResolution(buf, off)) return false;
    const e = snoopLocal(net.neigh, buf, off, len, f.now);
    if (e !== undefined && net.events.active) net.events.neigh(net, 'snooped', e);
    return false;
  },
};

/**
 * Whether the ARP or ND frame at buf[off, off+len) is a host announcing itself or probing for its own
 * address, asking nobody: a gratuitous ARP, an ARP probe (sender 0.0.0.0), an unsolicited NA, a
 * duplicate address detection NS (source ::). The Linux bridge's tests on a neigh_suppress port
 * (br_do_proxy_suppress_arp, br_do_suppress_nd), RARP aside.
 */
export function selfAnnouncement(buf: Buffer, off: number, len: number): Answered {
  const type = etherType(buf, off);
  if (type === EtherType.ARP) {
    if (parseArp(buf, off + ETH_HEADER_LEN, off + len, arp) !== ParseError.None) return Answered.No;
    const announces = arp.op === ArpOp.Request || arp.op === ArpOp.Reply;
    return announces && (arp.senderIp === 0 || arp.senderIp === arp.targetIp) ? Answered.Arp : Answered.No;
  }
  if (type !== EtherType.IPv6 || !parseNdFrame(buf, off, len, nd)) return Answered.No;
  if (nd.type === Icmpv6Type.NeighborAdvertisement) return nd.flags & NA_SOLICITED ? Answered.No : Answered.Nd;
  if (nd.type !== Icmpv6Type.NeighborSolicitation) return Answered.No;
  // A DAD probe comes from ::; Linux also counts an NS from an address to itself.
  let unspecified = true;
  let toItself = true;
  for (let i = 0; i < 16; i++) {
    if (buf[ip6.src + i] !== 0) unspecified = false;
    if (buf[ip6.src + i] !== buf[ip6.dst + i]) toItself = false;
  }
  return unspecified || toItself ? Answered.Nd : Answered.No;
}

/**
 * Answers ARP requests and NS for addresses in the neighbour table on the TAP, instead of flooding them.
 * In a network whose hosts a control plane announces (EVPN: snoopLocal), a host's announcement of itself
 * stays off the tunnels too: the routes already tell every VTEP where it is, and flooded it made each of
 * them do a move's work twice (with 100 VTEPs, the copies arrived before the route and held it up).
 */
export const responderHook: TapHook = {
  name: 'arp responder',
  fromTap(net: Network, buf: Buffer, off: number, len: number, f: Forwarding): boolean {
    if (!isResolution(buf, off)) return false;
    const a = answer(net.neigh, buf, off, len);
    if (a !== Answered.No) {
      net.counters.v[a === Answered.Arp ? N.ArpSuppressed : N.NdSuppressed]++;
      f.decide(Verdict.Answered, net.tapHooks.indexOf(this));
      net.writeToTap(buf, off, answerLength(a), 0, f);
      return true;
    }
    if (!net.snoopLocal) return false;
    const s = selfAnnouncement(buf, off, len);
    if (s === Answered.No) return false;
    net.counters.v[s === Answered.Arp ? N.ArpSuppressed : N.NdSuppressed]++;
    f.decide(Verdict.Suppressed, net.tapHooks.indexOf(this));
    return true;
  },
};
