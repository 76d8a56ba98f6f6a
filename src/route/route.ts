// Routing one packet, as a router does (RFC 1812, RFC 8200): a frame from a
// host to its gateway's MAC is checked, its TTL (hop limit) taken down by one
// and the header checksum updated incrementally (RFC 1624), its destination
// looked up in the VRF (longest prefix), the next hop's MAC taken from the
// egress network's neighbour table (or asked for: resolver.ts), and the frame,
// rewritten from the egress gateway's MAC to the neighbour's, bridged on the
// egress network exactly as a frame of its own TAP would be: to its TAP, or
// into its tunnel with its VNI or key. The ingress host routes; the egress
// host only bridges (asymmetric IRB). A route over the fabric (symmetric IRB,
// from EVPN) sends the packet on the VRF's L3VNI instead, from this VTEP's
// router MAC to the egress VTEP's; a packet received on the L3VNI is routed
// again here, to a host of a local network, and never back into the fabric.
//
// What cannot go is answered from the ingress gateway's address: time
// exceeded, network unreachable, fragmentation needed / packet too big (the
// egress network's MTU, or the path MTU toward its VTEP), rate limited per VRF.
import { Drop } from '../switch/drop.ts';
import { NetworkCounter as N } from '../switch/counters.ts';
import { bridgeOut } from '../switch/forward.ts';
import { ROUTED, Verdict, type Forwarding } from '../switch/verdict.ts';
import { checksum } from '../wire/checksum.ts';
import { ETH_HEADER_LEN, EtherType } from '../wire/ethernet.ts';
import { IcmpError, writeEchoReply, writeIcmpError } from '../wire/icmp-out.ts';
import { formatIp, ipv4Of, writeV4Mapped } from '../wire/ip-address.ts';
import { decrementTtl, IPV4_MIN_HEADER_LEN, readU32 } from '../wire/ipv4.ts';
import { IPV6_HEADER_LEN } from '../wire/ipv6.ts';
import { formatMac, readMac, writeMac } from '../wire/mac.ts';
import { emitSolicitation, type Solicitation } from '../wire/resolution.ts';
import { formatPrefix } from './prefix.ts';
import { Queue } from './resolver.ts';
import { routeDevice, VrfCounter, type Gateway, type Ingress, type Route } from './vrf.ts';

/** The next hop of the packet being routed, 16 bytes. */
const hop = new Uint8Array(16);
/** The request a gateway sends for a neighbour. */
const ask: Solicitation = { ethSrc: 0, senderMac: 0, sender: hop, target: hop };

/** Routes the IPv4 or IPv6 packet in the frame at buf[off, off+len), which came to `ingress`'s gateway MAC. */
export function routeFrame(ingress: Ingress, buf: Buffer, off: number, len: number, f: Forwarding): void {
  if (((buf[off + 12] << 8) | buf[off + 13]) === EtherType.IPv4) route4(ingress, buf, off, len, f);
  else route6(ingress, buf, off, len, f);
}

function route4(ingress: Ingress, buf: Buffer, off: number, len: number, f: Forwarding): void {
  const ip = off + ETH_HEADER_LEN;
  if (len < ETH_HEADER_LEN + IPV4_MIN_HEADER_LEN || buf[ip] >>> 4 !== 4) return dropped(ingress, Drop.Malformed, f);
  const ihl = (buf[ip] & 0x0f) * 4;
  const total = (buf[ip + 2] << 8) | buf[ip + 3];
  if (ihl < IPV4_MIN_HEADER_LEN || total < ihl || ETH_HEADER_LEN + total > len)
    return dropped(ingress, Drop.Malformed, f);
  if (checksum(buf, ip, ihl) !== 0) return dropped(ingress, Drop.BadChecksum, f);
  const dst = readU32(buf, ip + 16);
  const src = readU32(buf, ip + 12);
  if (ingress.vrf.isGateway4(dst)) return toRouter(ingress, buf, off, len, f);
  // Not forwarded by any router: a group, broadcast, loopback, "this network" destination, or such a source.
  if (dst >= 0xe0000000 || dst >>> 24 === 127 || dst >>> 24 === 0 || src >= 0xe0000000 || src >>> 24 === 127) {
    return dropped(ingress, Drop.NotRoutable, f);
  }
  if (buf[ip + 8] <= 1)
    return icmpError(ingress, buf, off, len, IcmpError.TimeExceeded, 0, Drop.TtlExceeded, VrfCounter.TtlExceeded, f);
  const route = ingress.vrf.routes.lookup(buf, ip + 16, true);
  if (route === undefined)
    return icmpError(ingress, buf, off, len, IcmpError.NetUnreachable, 0, Drop.NoRoute, VrfCounter.NoRoute, f);
  if (f.notes !== undefined) noteRoute(ingress, route, f.notes);
  if (route.remote !== undefined) return forwardRemote(ingress, route, buf, off, len, true, f);
  if (route.via !== undefined) hop.set(route.via);
  else writeV4Mapped(dst, hop);
  const egress = route.gateway!;
  const e = egress.net.neigh.lookup4(ipv4Of(hop));
  if (e === undefined) return resolve(ingress, egress, buf, off, ETH_HEADER_LEN + total, f);
  forward(ingress, egress, e.mac, buf, off, len, true, f);
}

function route6(ingress: Ingress, buf: Buffer, off: number, len: number, f: Forwarding): void {
  const ip = off + ETH_HEADER_LEN;
  if (len < ETH_HEADER_LEN + IPV6_HEADER_LEN || buf[ip] >>> 4 !== 6) return dropped(ingress, Drop.Malformed, f);
  const payload = (buf[ip + 4] << 8) | buf[ip + 5];
  if (ETH_HEADER_LEN + IPV6_HEADER_LEN + payload > len) return dropped(ingress, Drop.Malformed, f);
  if (ingress.vrf.isGateway6(buf, ip + 24)) return toRouter(ingress, buf, off, len, f);
  // Not forwarded: a group or link-local destination, a link-local, group or unspecified source.
  const d0 = buf[ip + 24];
  const s0 = buf[ip + 8];
  if (
    d0 === 0xff ||
    (d0 === 0xfe && (buf[ip + 25] & 0xc0) === 0x80) ||
    s0 === 0xff ||
    (s0 === 0xfe && (buf[ip + 9] & 0xc0) === 0x80)
  ) {
    return dropped(ingress, Drop.NotRoutable, f);
  }
  if (buf[ip + 7] <= 1)
    return icmpError(ingress, buf, off, len, IcmpError.TimeExceeded, 0, Drop.TtlExceeded, VrfCounter.TtlExceeded, f);
  const route = ingress.vrf.routes.lookup(buf, ip + 24, false);
  if (route === undefined)
    return icmpError(ingress, buf, off, len, IcmpError.NetUnreachable, 0, Drop.NoRoute, VrfCounter.NoRoute, f);
  if (f.notes !== undefined) noteRoute(ingress, route, f.notes);
  if (route.remote !== undefined) return forwardRemote(ingress, route, buf, off, len, false, f);
  if (route.via !== undefined) hop.set(route.via);
  else hop.set(buf.subarray(ip + 24, ip + 40));
  const egress = route.gateway!;
  const e = egress.net.neigh.lookup6(hop, 0);
  if (e === undefined) return resolve(ingress, egress, buf, off, ETH_HEADER_LEN + IPV6_HEADER_LEN + payload, f);
  forward(ingress, egress, e.mac, buf, off, len, false, f);
}

function noteRoute(ingress: Ingress, route: Route, notes: string[]): void {
  const via = route.via ? `via ${formatIp(route.via)} ` : '';
  const rmac = route.remote ? `rmac ${formatMac(route.remote.rmac)} ` : '';
  notes.push(
    `route ${formatPrefix(route.prefix)} ${via}${rmac}dev ${routeDevice(route)} (origin ${route.origin}) in VRF ${ingress.vrf.name}`,
  );
}

/**
 * Over the fabric (symmetric IRB): the frame, its TTL down by one, goes on the
 * VRF's L3VNI from this VTEP's router MAC to the egress VTEP's, which routes
 * it again to its host. A packet that came from the fabric is not sent back.
 */
function forwardRemote(
  ingress: Ingress,
  route: Route,
  buf: Buffer,
  off: number,
  len: number,
  v4: boolean,
  f: Forwarding,
): void {
  const l3 = ingress.vrf.l3;
  if (l3 === undefined || ingress.fromFabric) return dropped(ingress, Drop.NoRoute, f);
  const ip = off + ETH_HEADER_LEN;
  const dstMac = readMac(buf, off);
  const sender = readMac(buf, off + 6);
  const ttl = v4 ? buf[ip + 8] : buf[ip + 7];
  const c0 = buf[ip + 10];
  const c1 = buf[ip + 11];
  if (v4) decrementTtl(buf, ip);
  else buf[ip + 7]--;
  writeMac(route.remote!.rmac, buf, off);
  writeMac(l3.rmac, buf, off + 6);
  if (f.notes !== undefined)
    f.notes.push(
      `${v4 ? 'TTL' : 'hop limit'} ${ttl} -> ${ttl - 1}; rewritten: ${formatMac(l3.rmac)} > ` +
        `${formatMac(route.remote!.rmac)} (router MACs) onto L3VNI ${l3.vni}`,
    );
  if (!bridgeOut(l3.net, buf, off, len, false, f)) {
    writeMac(dstMac, buf, off);
    writeMac(sender, buf, off + 6);
    if (v4) {
      buf[ip + 8] = ttl;
      buf[ip + 10] = c0;
      buf[ip + 11] = c1;
    } else {
      buf[ip + 7] = ttl;
    }
    return tooBig(ingress, buf, off, len, f.innerMtu, f);
  }
  f.verdicts.kind[f.i] |= ROUTED;
  ingress.vrf.counters[VrfCounter.Routed]++;
}

/**
 * The frame, rewritten, leaves on the egress network: its TTL down by one,
 * from the egress gateway's MAC to the neighbour's `mac`, bridged there. One
 * too big for the egress network or its path goes back as it came, answered.
 */
function forward(
  ingress: Ingress,
  egress: Gateway,
  mac: number,
  buf: Buffer,
  off: number,
  len: number,
  v4: boolean,
  f: Forwarding,
): void {
  const ip = off + ETH_HEADER_LEN;
  const mtu = egress.net.maxFrame - FRAME_OVERHEAD;
  if (len - ETH_HEADER_LEN > mtu) return tooBig(ingress, buf, off, len, mtu, f);
  const dstMac = readMac(buf, off);
  const sender = readMac(buf, off + 6);
  const ttl = v4 ? buf[ip + 8] : buf[ip + 7];
  const c0 = buf[ip + 10];
  const c1 = buf[ip + 11];
  if (v4) decrementTtl(buf, ip);
  else buf[ip + 7]--;
  writeMac(mac, buf, off);
  writeMac(egress.egressMac, buf, off + 6);
  if (f.notes !== undefined) {
    f.notes.push(
      `neighbour ${formatMac(mac)} on network ${egress.net.name}; ${v4 ? 'TTL' : 'hop limit'} ${ttl} -> ${ttl - 1}`,
    );
    f.notes.push(
      `rewritten: ${formatMac(egress.egressMac)} > ${formatMac(mac)} (${egress.sourceMac === 'dvr' ? "this host's DVR MAC" : 'the gateway MAC'})`,
    );
  }
  if (!bridgeOut(egress.net, buf, off, len, false, f)) {
    // Too big for the path toward the VTEP: the packet as it came, answered.
    writeMac(dstMac, buf, off);
    writeMac(sender, buf, off + 6);
    if (v4) {
      buf[ip + 8] = ttl;
      buf[ip + 10] = c0;
      buf[ip + 11] = c1;
    } else {
      buf[ip + 7] = ttl;
    }
    return tooBig(ingress, buf, off, len, f.innerMtu, f);
  }
  f.verdicts.kind[f.i] |= ROUTED;
  ingress.vrf.counters[VrfCounter.Routed]++;
}

/** Ethernet header plus one VLAN tag: what a network's maxFrame adds to its TAP's MTU. */
const FRAME_OVERHEAD = 18;

/** A packet to a gateway address: a ping is answered, anything else is not for a router to forward. */
function toRouter(ingress: Ingress, buf: Buffer, off: number, len: number, f: Forwarding): void {
  if (ingress.fromFabric) return dropped(ingress, Drop.NotRoutable, f);
  const n = writeEchoReply(buf, off, len, ingress.mac);
  if (n === 0) return dropped(ingress, Drop.NotRoutable, f);
  f.decide(Verdict.Answered, -1);
  if (f.notes !== undefined) f.notes.push('to a gateway address: answered by the gateway (echo reply) on the TAP');
  ingress.net.writeToTap(buf, off, n, 0, f);
}

/** The next hop's MAC is not known: the packet waits, and the egress gateway asks (once per address). */
function resolve(ingress: Ingress, egress: Gateway, buf: Buffer, off: number, len: number, f: Forwarding): void {
  const q = ingress.vrf.resolver.queue(egress, hop, buf, off, len, ingress, f.now);
  if (q === Queue.Dropped) return dropped(ingress, Drop.NeighUnresolved, f);
  f.decide(Verdict.Queued, 0);
  if (f.notes !== undefined)
    f.notes.push(
      `neighbour ${formatIp(hop)} unknown on network ${egress.net.name}: the packet waits while the gateway asks`,
    );
  // The packet is copied: its slot carries the request.
  if (q === Queue.Requested) sendRequest(egress, hop, buf, off, f);
}

/**
 * Writes the egress gateway's ARP request (NS) for `ip` (16 bytes) at
 * buf[off] and sends it as the network sends broadcast: to its TAP, its flood
 * list, its group. The caller's verdict stays.
 */
export function sendRequest(egress: Gateway, ip: Uint8Array, buf: Buffer, off: number, f: Forwarding): void {
  const from = egress.addressFor(ip, 0);
  if (from === undefined) return;
  ask.ethSrc = egress.egressMac;
  ask.senderMac = egress.mac;
  ask.sender = from.ip;
  ask.target = ip;
  const n = emitSolicitation(ask, buf, off);
  const kind = f.verdicts.kind[f.i];
  const detail = f.verdicts.detail[f.i];
  bridgeOut(egress.net, buf, off, n, false, f);
  f.verdicts.kind[f.i] = kind;
  f.verdicts.detail[f.i] = detail;
}

/** Too big for where it goes: "fragmentation needed" / "packet too big" from the ingress gateway, or dropped. */
function tooBig(ingress: Ingress, buf: Buffer, off: number, len: number, mtu: number, f: Forwarding): void {
  if (f.notes !== undefined) f.notes.push(`too big for where it goes (inner MTU ${mtu})`);
  icmpError(ingress, buf, off, len, IcmpError.TooBig, mtu, Drop.Oversize, -1, f);
}

/**
 * Answers the packet's sender with an ICMP error from the ingress gateway's
 * address, within the VRF's rate limit; counted as `counter` of the VRF (when
 * one) and dropped as `reason` otherwise.
 */
function icmpError(
  ingress: Ingress,
  buf: Buffer,
  off: number,
  len: number,
  kind: IcmpError,
  info: number,
  reason: Drop,
  counter: number,
  f: Forwarding,
): void {
  const vrf = ingress.vrf;
  if (counter >= 0) vrf.counters[counter]++;
  const v4 = ((buf[off + 12] << 8) | buf[off + 13]) === EtherType.IPv4;
  const from = ingress.first(v4);
  if (from === undefined) return dropped(ingress, reason, f);
  if (!vrf.limiter.take(f.now)) {
    vrf.counters[VrfCounter.IcmpRatelimited]++;
    return dropped(ingress, reason, f);
  }
  const n = writeIcmpError(buf, off, len, kind, info, { ip: from.ip, mac: ingress.mac });
  if (n === 0) return dropped(ingress, reason, f);
  vrf.counters[VrfCounter.IcmpSent]++;
  if (kind === IcmpError.TooBig) {
    ingress.net.counters.v[N.PmtuIcmpSent]++;
    f.decide(Verdict.TooBig, info);
  } else {
    ingress.net.counters.drop(reason);
    f.decide(Verdict.Dropped, reason);
  }
  if (f.notes !== undefined)
    f.notes.push(
      `answered from ${formatIp(from.ip)} with ICMP ${['too big', 'time exceeded', 'network unreachable', 'host unreachable'][kind]}`,
    );
  ingress.net.writeToTap(buf, off, n, 0, f);
}

function dropped(ingress: Ingress, reason: Drop, f: Forwarding): void {
  ingress.net.counters.drop(reason);
  f.decide(Verdict.Dropped, reason);
}

/**
 * Answers the sender of a packet that waited for a neighbour nobody
 * resolved, written into buf[off]: ICMP host unreachable from the ingress
 * gateway (what the kernel sends: ping's "Destination Host Unreachable").
 */
export function answerUnresolved(ingress: Ingress, buf: Buffer, off: number, len: number, f: Forwarding): void {
  icmpError(ingress, buf, off, len, IcmpError.HostUnreachable, 0, Drop.NeighUnresolved, -1, f);
}
