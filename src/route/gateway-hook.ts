// A network's gateway on the data path: the hooks that make vtepd the router
// of its networks, on every host (Neutron's DVR, EVPN's distributed anycast
// gateway).
//
// From the TAP (GatewayHook): ARP requests and NS for a gateway address are
// answered on the TAP and never flooded; so is a ping of a gateway address.
// An IPv4 or IPv6 packet to the gateway MAC is routed in the network's VRF
// (route.ts). ARP replies and NA to the gateway MAC answer the router's own
// requests, or those another host's router sent for this host's hosts: those
// go back to the VTEP that asked.
//
// From a tunnel (GatewayTunnelHook): another host's gateway MAC or DVR MAC is
// never learned (a gateway is local on every host), and a DVR MAC is written
// back to the gateway MAC before the TAP (Neutron's br-tun table 9, br-int
// table 1); a request another host's router sends is remembered with the VTEP
// it came from; ARP and NS for a gateway address are dropped (every host's
// gateway is this one); and a frame to the gateway MAC is taken only as the
// answer to this host's own request.
import type { TapHook, TunnelHook } from '../switch/hooks.ts';
import { NetworkCounter as N } from '../switch/counters.ts';
import { Drop } from '../switch/drop.ts';
import { tunnelTo } from '../switch/forward.ts';
import type { Network } from '../switch/network.ts';
import { solicitation, writeArpReply, writeNaReply } from '../switch/responder.ts';
import { Verdict, type Forwarding } from '../switch/verdict.ts';
import { ArpOp, ARP_LEN, newArpRepr, parseArp } from '../wire/arp.ts';
import { EtherType, ETH_HEADER_LEN } from '../wire/ethernet.ts';
import { Icmpv6Type, NA_OVERRIDE, NA_ROUTER, NA_SOLICITED, ND_HOP_LIMIT, newNdRepr, parseNd } from '../wire/icmpv6.ts';
import { writeV4Mapped } from '../wire/ip-address.ts';
import { IPV6_HEADER_LEN, newIpv6Repr, NextHeader, parseIpv6 } from '../wire/ipv6.ts';
import { readMac, writeMac, type Mac } from '../wire/mac.ts';
import { ParseError } from '../wire/parse-error.ts';
import { contains } from './prefix.ts';
import { routeFrame } from './route.ts';
import type { Gateway } from './vrf.ts';

/** How long a request another host's router sent is remembered, to pass the answer back. */
const ASKED_S = 3;
/** Requests remembered per network at most. */
const MAX_ASKED = 1024;

const arp = newArpRepr();
const ip6 = newIpv6Repr();
const nd = newNdRepr();
const scratch = new Uint8Array(16);

interface Asker {
  port: number;
  until: number;
}

/** The requests other hosts' routers sent for the hosts behind one network's TAP: who asked, by address. */
class Askers {
  private readonly byAddress = new Map<string, Asker>();

  remember(ip: Uint8Array, port: number, now: number): void {
    if (this.byAddress.size >= MAX_ASKED) {
      for (const [k, a] of this.byAddress) if (a.until < now) this.byAddress.delete(k);
      if (this.byAddress.size >= MAX_ASKED) return;
    }
    this.byAddress.set(hex(ip), { port, until: now + ASKED_S });
  }

  /** The remote that asked for `ip`, if it still waits; forgotten once told. */
  take(ip: Uint8Array, now: number): number {
    const k = hex(ip);
    const a = this.byAddress.get(k);
    if (a === undefined) return -1;
    this.byAddress.delete(k);
    return a.until >= now ? a.port : -1;
  }
}

function hex(ip: Uint8Array): string {
  return Buffer.from(ip.buffer, ip.byteOffset, 16).toString('hex');
}

/** What a network's gateway needs on both sides: the requests others asked it to pass back. */
export class GatewayState {
  readonly askers = new Askers();
  constructor(readonly gw: Gateway) {}
}

export class GatewayHook implements TapHook {
  readonly name = 'gateway';

  constructor(private readonly s: GatewayState) {}

  fromTap(net: Network, buf: Buffer, off: number, len: number, f: Forwarding): boolean {
    const gw = this.s.gw;
    const type = (buf[off + 12] << 8) | buf[off + 13];
    if (type === EtherType.ARP) return this.arp(net, buf, off, len, f);
    const dst = readMac(buf, off);
    const toGateway = dst === gw.mac || (gw.dvrMac !== undefined && dst === gw.dvrMac);
    if (type === EtherType.IPv6 && (toGateway || buf[off] === 0x33) && this.nd(net, buf, off, len, f)) return true;
    if (!toGateway) return false;
    if (type === EtherType.IPv4 || type === EtherType.IPv6) routeFrame(gw, buf, off, len, f);
    else drop(net, Drop.NotRoutable, f);
    return true;
  }

  private arp(net: Network, buf: Buffer, off: number, len: number, f: Forwarding): boolean {
    const gw = this.s.gw;
    if (parseArp(buf, off + ETH_HEADER_LEN, off + len, arp) !== ParseError.None || arp.senderIp === 0) return false;
    writeV4Mapped(arp.senderIp, scratch);
    if (arp.op === ArpOp.Request) {
      if (arp.senderIp === arp.targetIp || !gw.is4(arp.targetIp)) return false;
      // A host asks for its gateway, and says where it is.
      learnNeighbour(gw, scratch, arp.senderMac, f.now);
      writeArpReply(buf, off, arp, gw.mac);
      net.counters.v[N.ArpSuppressed]++;
      f.decide(Verdict.Answered, net.tapHooks.indexOf(this));
      net.writeToTap(buf, off, ETH_HEADER_LEN + ARP_LEN, 0, f);
      return true;
    }
    const dst = readMac(buf, off);
    if (dst !== gw.mac && dst !== gw.dvrMac) {
      // Gratuitous, or to another host: bridged; it may still answer what the router waits for.
      if (gw.vrf.resolver.waitsFor(net, scratch, 0)) learnNeighbour(gw, scratch, arp.senderMac, f.now);
      return false;
    }
    learnNeighbour(gw, scratch, arp.senderMac, f.now);
    this.passBack(net, scratch, buf, off, len, f);
    return true;
  }

  private nd(net: Network, buf: Buffer, off: number, len: number, f: Forwarding): boolean {
    const gw = this.s.gw;
    const target = solicitation(buf, off, len, nd);
    if (target >= 0) {
      if (!gw.is6(buf, target)) return false;
      // A host asks for its gateway (its source address and link-layer option say where it is).
      if (nd.lla >= 0)
        learnNeighbour(gw, buf.subarray(off + ETH_HEADER_LEN + 8, off + ETH_HEADER_LEN + 24), nd.lla, f.now);
      writeNaReply(buf, off, target, gw.mac, NA_ROUTER | NA_SOLICITED | NA_OVERRIDE);
      net.counters.v[N.NdSuppressed]++;
      f.decide(Verdict.Answered, net.tapHooks.indexOf(this));
      net.writeToTap(buf, off, ETH_HEADER_LEN + IPV6_HEADER_LEN + 32, 0, f);
      return true;
    }
    const at = advertisement(buf, off, len);
    if (at < 0) return false;
    const mac = nd.lla >= 0 ? nd.lla : readMac(buf, off + 6);
    const dst = readMac(buf, off);
    const target6 = buf.subarray(at, at + 16);
    if (dst !== gw.mac && dst !== gw.dvrMac) {
      if (gw.vrf.resolver.waitsFor(net, buf, at)) learnNeighbour(gw, target6, mac, f.now);
      return false;
    }
    learnNeighbour(gw, target6, mac, f.now);
    this.passBack(net, target6, buf, off, len, f);
    return true;
  }

  /** An answer to the gateway MAC: to another host's router that asked through a tunnel, it goes back to that VTEP. */
  private passBack(net: Network, ip: Uint8Array, buf: Buffer, off: number, len: number, f: Forwarding): void {
    f.decide(Verdict.Answered, net.tapHooks.indexOf(this));
    const port = this.s.askers.take(ip, f.now);
    if (port > 0) tunnelTo(net, buf, off, len, port, f);
  }
}

export class GatewayTunnelHook implements TunnelHook {
  constructor(private readonly s: GatewayState) {}

  learns(src: Mac): boolean {
    const gw = this.s.gw;
    return src !== gw.mac && src !== gw.dvrMac && !gw.isOtherDvr(src);
  }

  fromTunnel(net: Network, buf: Buffer, off: number, len: number, port: number, f: Forwarding): boolean {
    const gw = this.s.gw;
    const type = (buf[off + 12] << 8) | buf[off + 13];
    const src = readMac(buf, off + 6);
    if (src === gw.mac || gw.isOtherDvr(src)) {
      // Another host's router: a routed frame, or its request for a host behind this TAP (remember who asked).
      if (type === EtherType.ARP) {
        const r = parseArp(buf, off + ETH_HEADER_LEN, off + len, arp);
        if (r === ParseError.None && arp.op === ArpOp.Request && gw.is4(arp.senderIp)) {
          writeV4Mapped(arp.targetIp, scratch);
          this.s.askers.remember(scratch, port, f.now);
        }
      } else if (type === EtherType.IPv6) {
        const target = solicitation(buf, off, len, nd);
        if (target >= 0) this.s.askers.remember(buf.subarray(target, target + 16), port, f.now);
      }
      if (src !== gw.mac) writeMac(gw.mac, buf, off + 6);
      return false;
    }
    if (type === EtherType.ARP && parseArp(buf, off + ETH_HEADER_LEN, off + len, arp) === ParseError.None) {
      if (arp.op === ArpOp.Request && arp.senderIp !== arp.targetIp && gw.is4(arp.targetIp))
        return drop(net, Drop.GatewayArpFromTunnel, f);
    } else if (type === EtherType.IPv6) {
      const target = solicitation(buf, off, len, nd);
      if (target >= 0 && gw.is6(buf, target)) return drop(net, Drop.GatewayArpFromTunnel, f);
    }
    const dst = readMac(buf, off);
    if (dst !== gw.mac && (gw.dvrMac === undefined || dst !== gw.dvrMac)) return false;
    // To the gateway MAC from a tunnel: only an answer to this host's own request.
    const answered =
      type === EtherType.ARP
        ? answeredArp(buf, off, len)
        : type === EtherType.IPv6
          ? answeredNd(buf, off, len)
          : undefined;
    if (answered === undefined || !gw.vrf.resolver.waitsFor(net, answered.ip, 0))
      return drop(net, Drop.GatewayMacFromTunnel, f);
    learnNeighbour(gw, answered.ip, answered.mac, f.now);
    f.decide(Verdict.Answered, -1);
    return true;
  }
}

const answer = { ip: new Uint8Array(16), mac: 0 };

/** The sender of an ARP reply at buf[off, off+len), or undefined. */
function answeredArp(buf: Buffer, off: number, len: number): typeof answer | undefined {
  if (parseArp(buf, off + ETH_HEADER_LEN, off + len, arp) !== ParseError.None || arp.op !== ArpOp.Reply)
    return undefined;
  writeV4Mapped(arp.senderIp, answer.ip);
  answer.mac = arp.senderMac;
  return answer;
}

/** The target of a Neighbor Advertisement at buf[off, off+len), or undefined. */
function answeredNd(buf: Buffer, off: number, len: number): typeof answer | undefined {
  const at = advertisement(buf, off, len);
  if (at < 0) return undefined;
  answer.ip.set(buf.subarray(at, at + 16));
  answer.mac = nd.lla >= 0 ? nd.lla : readMac(buf, off + 6);
  return answer;
}

/** Where the target of the Neighbor Advertisement at buf[off, off+len) is, or -1. */
function advertisement(buf: Buffer, off: number, len: number): number {
  const ip = off + ETH_HEADER_LEN;
  if (
    parseIpv6(buf, ip, off + len, ip6) !== ParseError.None ||
    ip6.nextHeader !== NextHeader.ICMPv6 ||
    ip6.hopLimit !== ND_HOP_LIMIT
  )
    return -1;
  const icmp = ip + IPV6_HEADER_LEN;
  if (
    parseNd(buf, icmp, icmp + ip6.payloadLen, ip6.src, ip6.dst, nd) !== ParseError.None ||
    nd.type !== Icmpv6Type.NeighborAdvertisement
  )
    return -1;
  return nd.target;
}

/**
 * Records that `ip` (16 bytes) is at `mac` on the gateway's network (origin
 * resolved, aged like a learned MAC; never over a given entry), if it is on
 * one of its subnets; what waited for it is sent.
 */
export function learnNeighbour(gw: Gateway, ip: Uint8Array, mac: Mac, now: number): void {
  if (!gw.addresses.some((a) => contains(a.prefix, ip))) return;
  const net = gw.net;
  const r = net.neigh.snoop(ip, 0, mac, now, 'resolved');
  if ((r === 'new' || r === 'moved') && net.events.active) net.events.neigh(net, 'resolved', net.neigh.get(ip)!);
  gw.vrf.resolver.resolved(net, ip);
}

function drop(net: Network, reason: Drop, f: Forwarding): true {
  net.counters.drop(reason);
  f.decide(Verdict.Dropped, reason);
  return true;
}
