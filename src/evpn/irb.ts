// Symmetric IRB over BGP EVPN (RFC 9135, RFC 9136), per VRF with an L3VNI:
// what the speaker advertises of a VRF and what it installs in it.
//
// Advertised: a type-5 route for each connected subnet of the VRF (and its
// static routes, with `advertise: [static]`): label = the L3VNI, this VTEP's
// router MAC, the VRF's route targets. (The MAC/IP routes of the VRF's
// networks carry the L3VNI as second label: the speaker asks l3Of().)
// Installed, from routes carrying one of the VRF's import route targets and
// a router MAC: a type-5 becomes a prefix route, a MAC/IP route a host route
// (/32, /128), each via its VTEP and router MAC on the L3VNI (origin evpn).
// Several VTEPs may advertise one prefix (a subnet stretched over two); the
// route goes to the one with the lowest address, and to the next when it
// withdraws.
import { formatPrefix, masked, samePrefix, type Prefix } from '../route/prefix.ts';
import type { RemoteHop, Vrf } from '../route/vrf.ts';
import { Hold } from '../switch/hold.ts';
import { TableError } from '../switch/table-error.ts';
import { formatIp, parseIp } from '../wire/ip-address.ts';
import { parseIpv4Address } from '../wire/ipv4.ts';
import { formatMac } from '../wire/mac.ts';
import type { VrfL3Config } from '../config/routing.ts';
import type { ApiPath } from './gobgp.ts';
import { prefixPath, readPath, routeKey, type EvpnRoute, type L3Route } from './routes.ts';
import { importsTarget } from './values.ts';

/** A VRF's symmetric IRB settings, as the config gives them. */
export type VrfEvpn = VrfL3Config;

/** The next hops the fabric offers for one prefix of a VRF, by the key of the route that offers each. */
interface Candidates {
  prefix: Prefix;
  hops: Map<string, RemoteHop & { vtepText: string }>;
}

interface EvpnVrf {
  vrf: Vrf;
  s: VrfEvpn;
  /** The VTEPs its received routes name, with how many: each may send on the L3VNI. */
  senders: Map<string, number>;
  /** Our type-5 routes in GoBGP, by route key. */
  advertised: Map<string, ApiPath>;
  /** Received routes that name a prefix of the VRF, by prefix. */
  candidates: Map<string, Candidates>;
}

export interface IrbStatus {
  l3vni: number;
  'router-mac': string;
  rd: string;
  'import-rt': string[];
  'export-rt': string[];
  advertised: { 'type-5': number };
  received: { 'type-5': number; 'host-routes': number };
}

/** How the IRB side reaches GoBGP and the log: through the speaker's ordered queue. */
export interface IrbSink {
  add(path: ApiPath, what: string): void;
  delete(path: ApiPath, what: string): void;
  error(message: string): void;
}

export class Irb {
  private readonly vrfs = new Map<string, EvpnVrf>();

  constructor(
    private readonly local: string,
    private readonly sink: IrbSink,
  ) {}

  /** The L3 part of the MAC/IP routes of a network in VRF `name`, when the VRF routes over EVPN. */
  l3Of(name: string | undefined): L3Route | undefined {
    const v = name === undefined ? undefined : this.vrfs.get(name);
    return v === undefined ? undefined : { l3vni: v.s.vni, rts: v.s.exportRts, rmac: v.s.rmac };
  }

  /** A VRF routes over EVPN: its type-5 routes go out, and what the fabric has for it comes in. */
  add(vrf: Vrf, s: VrfEvpn, received: Iterable<EvpnRoute>): void {
    const v: EvpnVrf = { vrf, s, senders: new Map(), advertised: new Map(), candidates: new Map() };
    this.vrfs.set(vrf.name, v);
    this.refresh(vrf.name);
    for (const r of received) this.received(r);
  }

  /** Brings a VRF's type-5 routes to its connected subnets (and static routes) now. */
  refresh(name: string): void {
    const v = this.vrfs.get(name);
    if (v === undefined) return;
    const want = new Map<string, ApiPath>();
    for (const p of this.prefixes(v)) {
      const path = prefixPath(v.s.rd, formatIp(p.addr), p.len, this.local, v.s.exportRts, v.s.vni, v.s.rmac);
      want.set(routeKey(readPath(path)!), path);
    }
    for (const [key, path] of v.advertised)
      if (!want.has(key)) {
        v.advertised.delete(key);
        this.sink.delete(path, `withdraw type-5 ${key}`);
      }
    for (const [key, path] of want)
      if (!v.advertised.has(key)) {
        v.advertised.set(key, path);
        this.sink.add(path, `advertise type-5 ${key}`);
      }
  }

  /** Withdraws a VRF's routes and removes what EVPN installed in it. */
  remove(name: string): void {
    const v = this.vrfs.get(name);
    if (v === undefined) return;
    this.vrfs.delete(name);
    for (const path of v.advertised.values()) this.sink.delete(path, `withdraw a type-5 route of VRF ${name}`);
    for (const c of v.candidates.values()) v.vrf.deleteRoute(c.prefix, 'evpn');
  }

  names(): string[] {
    return [...this.vrfs.keys()];
  }

  /** Every route advertised (to give a restarted gobgpd again). */
  advertised(): ApiPath[] {
    return [...this.vrfs.values()].flatMap((v) => [...v.advertised.values()]);
  }

  received(r: EvpnRoute): void {
    for (const v of this.vrfs.values()) {
      const target = this.target(v, r);
      if (target === undefined) continue;
      const key = formatPrefix(target.prefix);
      let c = v.candidates.get(key);
      if (c === undefined) v.candidates.set(key, (c = { prefix: target.prefix, hops: new Map() }));
      const rk = routeKey(r);
      if (!c.hops.has(rk)) this.sender(v, target.hop, +1);
      c.hops.set(rk, target.hop);
      this.install(v, c);
    }
  }

  withdrawn(r: EvpnRoute): void {
    for (const v of this.vrfs.values()) {
      const target = this.target(v, r);
      if (target === undefined) continue;
      const key = formatPrefix(target.prefix);
      const c = v.candidates.get(key);
      const hop = c?.hops.get(routeKey(r));
      if (c === undefined || hop === undefined) continue;
      c.hops.delete(routeKey(r));
      this.sender(v, hop, -1);
      if (c.hops.size === 0) {
        v.candidates.delete(key);
        v.vrf.deleteRoute(c.prefix, 'evpn');
      } else this.install(v, c);
    }
  }

  status(): Record<string, IrbStatus> {
    const out: Record<string, IrbStatus> = {};
    for (const [name, v] of this.vrfs) {
      let prefixes = 0;
      let hosts = 0;
      for (const c of v.candidates.values()) {
        const host = c.prefix.len === (c.prefix.v4 ? 32 : 128);
        if (host) hosts++;
        else prefixes++;
      }
      out[name] = {
        l3vni: v.s.vni,
        'router-mac': formatMac(v.s.rmac),
        rd: v.s.rd,
        'import-rt': v.s.importRts,
        'export-rt': v.s.exportRts,
        advertised: { 'type-5': v.advertised.size },
        received: { 'type-5': prefixes, 'host-routes': hosts },
      };
    }
    return out;
  }

  /** The prefix a received route names in VRF `v`, and its next hop; undefined when the VRF does not take it. */
  private target(v: EvpnVrf, r: EvpnRoute): { prefix: Prefix; hop: RemoteHop & { vtepText: string } } | undefined {
    if (
      r.kind === 'imet' ||
      r.rmac === undefined ||
      !r.rts.some((rt) => v.s.importRts.some((p) => importsTarget(p, rt)))
    )
      return undefined;
    const vtep = parseIp(r.vtep);
    if (vtep === undefined || parseIpv4Address(r.vtep) === undefined || r.vtep === this.local) return undefined;
    let prefix: Prefix | undefined;
    if (r.kind === 'prefix') {
      const addr = parseIp(r.prefix);
      if (addr !== undefined && r.len <= (r.prefix.includes(':') ? 128 : 32)) prefix = masked(addr, r.len);
    } else if (r.ip !== undefined) {
      const addr = parseIp(r.ip);
      // A link-local address names no host of the VRF (FRR advertises those too: RFC 9135 says not to route them).
      if (addr !== undefined && !(addr[0] === 0xfe && (addr[1] & 0xc0) === 0x80))
        prefix = masked(addr, r.ip.includes(':') ? 128 : 32);
    }
    return prefix === undefined ? undefined : { prefix, hop: { vtep, rmac: r.rmac, vtepText: r.vtep } };
  }

  /** Installs the candidate with the lowest VTEP address (then router MAC) as the VRF's route of the prefix. */
  private install(v: EvpnVrf, c: Candidates): void {
    let best: (RemoteHop & { vtepText: string }) | undefined;
    for (const h of c.hops.values()) {
      if (
        best === undefined ||
        parseIpv4Address(h.vtepText)! < parseIpv4Address(best.vtepText)! ||
        (h.vtepText === best.vtepText && h.rmac < best.rmac)
      )
        best = h;
    }
    const current = v.vrf.givenRoutes('evpn').find((r) => samePrefix(r.prefix, c.prefix));
    if (current?.remote?.rmac === best!.rmac && current.via.every((b, i) => b === best!.vtep[i])) return;
    try {
      v.vrf.addRoute({ prefix: c.prefix, via: best!.vtep, origin: 'evpn', remote: best! }, false);
    } catch (e) {
      if (!(e instanceof TableError)) throw e;
      this.sink.error(`evpn: VRF ${v.vrf.name}: ${formatPrefix(c.prefix)} not installed: ${e.message}`);
    }
  }

  /**
   * Counts the routes naming a VTEP: while one does, the VTEP may send on the
   * VRF's L3VNI (whichever VTEP a route goes to here, every one that
   * advertised a prefix may route to us).
   */
  private sender(v: EvpnVrf, hop: RemoteHop & { vtepText: string }, delta: number): void {
    const n = (v.senders.get(hop.vtepText) ?? 0) + delta;
    const net = v.vrf.l3?.net;
    if (n > 0) {
      if (!v.senders.has(hop.vtepText)) net?.holdRemote(hop.vtep, Hold.AcceptEvpn);
      v.senders.set(hop.vtepText, n);
      return;
    }
    v.senders.delete(hop.vtepText);
    const i = net?.remotes.indexOf(hop.vtep) ?? -1;
    if (i >= 0) net!.releaseRemote(i, Hold.AcceptEvpn);
  }

  /** What the VRF advertises: its connected subnets, and its static routes if asked. */
  private prefixes(v: EvpnVrf): Prefix[] {
    const out: Prefix[] = [];
    if (v.s.advertise.includes('connected'))
      for (const g of v.vrf.gateways.values()) for (const a of g.addresses) out.push(a.prefix);
    if (v.s.advertise.includes('static'))
      for (const r of v.vrf.givenRoutes()) if (r.origin === 'config' || r.origin === 'vtepctl') out.push(r.prefix);
    return out;
  }
}
