// A VRF: the networks that route between each other, each through its
// gateway (the same address and MAC on every host: an anycast gateway), and
// one routing table: a connected route per gateway prefix, static routes via
// a neighbour on one of them, and routes added at run time. The table is
// rebuilt from those when any of them changes (the control path; lookups on
// the data path walk the trie), and each change is reported. Counters and the
// ICMP rate limit are the VRF's.
import type { Network } from '../switch/network.ts';
import { TableError } from '../switch/table-error.ts';
import { formatIp, ipv4Of, isV4Mapped } from '../wire/ip-address.ts';
import type { Mac } from '../wire/mac.ts';
import { Lpm } from './lpm.ts';
import { contains, formatPrefix, samePrefix, type Prefix } from './prefix.ts';
import { Resolver } from './resolver.ts';

export type SourceMac = 'anycast' | 'dvr';
export type RouteOrigin = 'connected' | 'config' | 'vtepctl' | 'evpn';
/** Where a route of the table came from other than a gateway of its own. */
export type GivenRouteOrigin = Exclude<RouteOrigin, 'connected'>;

/** This host's DVR MAC, and the other hosts' (Neutron's dvr_host_macs). */
export class DvrMacs {
  own: Mac | undefined = undefined;
  readonly others = new Set<Mac>();
}

export interface GatewayAddress {
  /** The gateway's address, 16 bytes. */
  readonly ip: Uint8Array;
  /** Its subnet: the connected route. */
  readonly prefix: Prefix;
  readonly v4: boolean;
  /** The IPv4 address as a number (0 for IPv6). */
  readonly v4num: number;
}

/** Where a packet is routed from: a network's gateway, or the fabric (a VRF's L3VNI). */
export interface Ingress {
  readonly vrf: Vrf;
  /** The network whose counters count it (and whose TAP gets the answers of a gateway). */
  readonly net: Network;
  /** The MAC answers come from. */
  readonly mac: Mac;
  /** From the fabric, nothing is answered and nothing is sent back into the fabric. */
  readonly fromFabric: boolean;
  /** The address answers of a family come from; none from the fabric. */
  first(v4: boolean): GatewayAddress | undefined;
}

/** A route's next hop on the fabric (symmetric IRB): a VTEP, reached on the VRF's L3VNI at its router MAC. */
export interface RemoteHop {
  /** The VTEP's underlay address, 16 bytes. */
  vtep: Uint8Array;
  rmac: Mac;
}

/** A VRF's L3VNI: its network (no TAP: what it receives is routed), and this VTEP's router MAC. */
export interface L3Vni {
  vni: number;
  rmac: Mac;
  net: Network;
}

/** A network's gateway: its addresses, its MAC, and the MAC routed frames leave it with. */
export class Gateway implements Ingress {
  readonly fromFabric = false;
  constructor(
    readonly net: Network,
    readonly vrf: Vrf,
    readonly mac: Mac,
    readonly addresses: readonly GatewayAddress[],
    readonly sourceMac: SourceMac,
    private readonly dvr: DvrMacs,
  ) {}

  /**
   * The source MAC of frames this gateway sends into its network: the gateway
   * MAC, or with `dvr`, this host's DVR MAC.
   */
  get egressMac(): Mac {
    return this.sourceMac === 'dvr' && this.dvr.own !== undefined ? this.dvr.own : this.mac;
  }

  /** This host's DVR MAC, if it has one. */
  get dvrMac(): Mac | undefined {
    return this.dvr.own;
  }

  /** Whether `mac` is another host's DVR MAC. */
  isOtherDvr(mac: Mac): boolean {
    return this.dvr.others.has(mac);
  }

  /**
   * The gateway's address of a family that is on the subnet of `ip` (16 bytes
   * at b[at]), else its first of that family.
   */
  addressFor(b: Uint8Array, at: number): GatewayAddress | undefined {
    const v4 = isV4Mapped(b, at);
    let first: GatewayAddress | undefined;
    for (const a of this.addresses) {
      if (a.v4 !== v4) continue;
      if (contains(a.prefix, b, at)) return a;
      first ??= a;
    }
    return first;
  }

  /** The first address of a family: what the router answers from on this network. */
  first(v4: boolean): GatewayAddress | undefined {
    return this.addresses.find((a) => a.v4 === v4);
  }

  /** Whether the IPv4 address `a` is one of this gateway's. */
  is4(a: number): boolean {
    for (const g of this.addresses) if (g.v4 && g.v4num === a) return true;
    return false;
  }

  /** Whether the IPv6 address at b[at] is one of this gateway's. */
  is6(b: Uint8Array, at: number): boolean {
    for (const g of this.addresses) if (!g.v4 && same16(g.ip, b, at)) return true;
    return false;
  }
}

export interface Route {
  readonly prefix: Prefix;
  /** The network packets leave on, through its gateway; undefined for a route over the fabric (`remote`). */
  readonly gateway: Gateway | undefined;
  /** The next hop (16 bytes; a remote route's VTEP); none for a connected route (the destination is on the network). */
  readonly via: Uint8Array | undefined;
  /** A route over the fabric: packets leave on the VRF's L3VNI to this VTEP's router MAC. */
  readonly remote: RemoteHop | undefined;
  readonly origin: RouteOrigin;
}

/**
 * A route given by the config, vtepctl or EVPN: installed while its next hop
 * is on a connected subnet, or (`remote`, EVPN) while the VRF has an L3VNI.
 */
export interface GivenRoute {
  readonly prefix: Prefix;
  readonly via: Uint8Array;
  readonly origin: GivenRouteOrigin;
  readonly remote?: RemoteHop;
}

/** The network a route leaves on, as the tables show it: its name, or the VRF's L3VNI. */
export function routeDevice(r: Route): string {
  return r.gateway !== undefined ? r.gateway.net.name : 'l3vni';
}

/** Per-VRF counter slots. */
export const VrfCounter = {
  Routed: 0,
  TtlExceeded: 1,
  NoRoute: 2,
  NeighUnresolved: 3,
  IcmpSent: 4,
  IcmpRatelimited: 5,
} as const;
export const VRF_COUNTER_NAMES = [
  'routed',
  'ttl-exceeded',
  'no-route',
  'neigh-unresolved',
  'icmp-sent',
  'icmp-ratelimited',
] as const;

/** ICMP errors a VRF sends at most per second, and in one burst (the kernel's icmp_ratelimit and icmp_msgs_burst). */
export const DEFAULT_ICMP_RATELIMIT = 1000;
const ICMP_BURST = 50;

/** A token bucket: `rate` a second, `burst` at once; rate 0 means no limit. */
export class TokenBucket {
  private tokens: number;
  private last = 0;

  constructor(
    public rate: number,
    private readonly burst = ICMP_BURST,
  ) {
    this.tokens = burst;
  }

  take(now: number): boolean {
    if (this.rate === 0) return true;
    this.tokens = Math.min(this.burst, this.tokens + (now - this.last) * this.rate);
    this.last = now;
    if (this.tokens < 1) return false;
    this.tokens--;
    return true;
  }
}

/** What a route change looks like to a listener (monitor, EVPN). */
export interface RouteEvents {
  route(vrf: Vrf, action: 'added' | 'deleted', r: Route): void;
}

export class Vrf {
  readonly gateways = new Map<Network, Gateway>();
  readonly routes = new Lpm<Route>();
  readonly counters = new Float64Array(VRF_COUNTER_NAMES.length);
  readonly limiter: TokenBucket;
  readonly resolver: Resolver;
  private given: GivenRoute[] = [];
  /** Given routes whose next hop is on no connected subnet now: kept, not installed. */
  inactive: GivenRoute[] = [];
  events: RouteEvents | undefined = undefined;
  /** Symmetric IRB over EVPN: the VRF's L3VNI, when it has one. */
  l3: L3Vni | undefined = undefined;

  constructor(
    readonly name: string,
    icmpRatelimit = DEFAULT_ICMP_RATELIMIT,
  ) {
    this.limiter = new TokenBucket(icmpRatelimit);
    this.resolver = new Resolver(this);
  }

  /** Adds or replaces a network's gateway: its subnets become connected routes. */
  setGateway(g: Gateway): void {
    this.gateways.set(g.net, g);
    this.rebuild();
  }

  removeGateway(net: Network): void {
    if (!this.gateways.delete(net)) return;
    this.resolver.forget(net);
    this.rebuild();
  }

  /**
   * Adds a given route; refused when the prefix has a route of another
   * origin, and (`strict`, vtepctl) when its next hop is on no connected
   * subnet. Not strict (the config, checked as a whole), such a route waits,
   * inactive, for its subnet.
   */
  addRoute(route: GivenRoute, strict = true): void {
    const egress = route.remote !== undefined ? undefined : this.gatewayFor(route.via);
    if (egress === undefined && route.remote === undefined && strict) {
      throw new TableError(
        `${formatIp(route.via)} is on no subnet of VRF ${this.name}: a route's next hop must be on a network's gateway subnet`,
      );
    }
    const taken = this.given.find((r) => samePrefix(r.prefix, route.prefix));
    if (taken !== undefined && taken.origin !== route.origin) {
      throw new TableError(
        `${formatPrefix(route.prefix)} has a route already in VRF ${this.name} (origin ${taken.origin})`,
      );
    }
    this.given = [...this.given.filter((r) => r !== taken), route];
    this.rebuild();
  }

  /** Sets the VRF's L3VNI (undefined: none): its remote routes are installed while it has one. */
  setL3(l3: L3Vni | undefined): void {
    const old = this.l3;
    this.l3 = l3;
    if (old !== undefined && old.net !== l3?.net) for (const [mac] of old.net.fdb.entries()) old.net.deleteMac(mac);
    this.rebuild();
  }

  /** Removes the given route of `prefix` (of `origin`, if said); returns it. */
  deleteRoute(prefix: Prefix, origin?: GivenRouteOrigin): GivenRoute | undefined {
    const r = this.given.find((x) => samePrefix(x.prefix, prefix) && (origin === undefined || x.origin === origin));
    if (r === undefined) return undefined;
    this.given = this.given.filter((x) => x !== r);
    this.rebuild();
    return r;
  }

  /** The given routes of `origin`. */
  givenRoutes(origin?: GivenRouteOrigin): readonly GivenRoute[] {
    return this.given.filter((r) => origin === undefined || r.origin === origin);
  }

  /** The gateway whose subnet holds `ip` (16 bytes), if any. */
  gatewayFor(ip: Uint8Array): Gateway | undefined {
    for (const g of this.gateways.values()) for (const a of g.addresses) if (contains(a.prefix, ip)) return g;
    return undefined;
  }

  /** Whether the IPv4 address `a` is a gateway address of the VRF (the router itself). */
  isGateway4(a: number): boolean {
    for (const g of this.gateways.values()) if (g.is4(a)) return true;
    return false;
  }

  /** Whether the IPv6 address at b[at] is a gateway address of the VRF. */
  isGateway6(b: Uint8Array, at: number): boolean {
    for (const g of this.gateways.values()) if (g.is6(b, at)) return true;
    return false;
  }

  private syncRouterMacs(): void {
    syncRouterMacsOf(this);
  }

  /** The table from the gateways and the given routes; what changed is reported. */
  private rebuild(): void {
    const before = [...this.routes.entries()].map(([, r]) => r);
    for (const r of before) this.routes.delete(r.prefix);
    for (const g of this.gateways.values()) {
      for (const a of g.addresses)
        this.routes.set(a.prefix, {
          prefix: a.prefix,
          gateway: g,
          via: undefined,
          remote: undefined,
          origin: 'connected',
        });
    }
    this.inactive = [];
    for (const r of this.given) {
      const egress = r.remote !== undefined ? undefined : this.gatewayFor(r.via);
      const usable = r.remote !== undefined ? this.l3 !== undefined : egress !== undefined;
      if (!usable || this.routes.get(r.prefix)?.origin === 'connected') {
        this.inactive.push(r);
        continue;
      }
      this.routes.set(r.prefix, { prefix: r.prefix, gateway: egress, via: r.via, remote: r.remote, origin: r.origin });
    }
    this.syncRouterMacs();
    if (this.events === undefined) return;
    const after = [...this.routes.entries()].map(([, r]) => r);
    const key = (r: Route) =>
      `${formatPrefix(r.prefix)} ${r.via ? formatIp(r.via) : ''} ${routeDevice(r)} ${r.remote?.rmac ?? ''} ${r.origin}`;
    const was = new Set(before.map(key));
    const is = new Set(after.map(key));
    for (const r of before) if (!is.has(key(r))) this.events.route(this, 'deleted', r);
    for (const r of after) if (!was.has(key(r))) this.events.route(this, 'added', r);
  }
}

/**
 * The L3VNI's FDB holds each router MAC the installed routes name, behind its
 * VTEP (as the kernel's L3VNI device does): routed frames find their VTEP by
 * their destination MAC, and no other MAC is there.
 */
function syncRouterMacsOf(vrf: Vrf): void {
  const l3 = vrf.l3;
  if (l3 === undefined) return;
  const wanted = new Map<Mac, Uint8Array>();
  for (const [, r] of vrf.routes.entries()) if (r.remote !== undefined) wanted.set(r.remote.rmac, r.remote.vtep);
  const net = l3.net;
  for (const [mac] of [...net.fdb.entries()]) if (!wanted.has(mac)) net.deleteMac(mac);
  for (const [mac, vtep] of wanted) {
    const e = net.fdb.get(mac);
    if (e !== undefined && e.port !== undefined && same16(net.remotes.bytes, vtep, 0, e.port * 16)) continue;
    try {
      net.setStatic(mac, vtep, 'evpn', 0);
    } catch {
      // a router MAC that is a gateway's or ours: not installed
    }
  }
}

/** The IPv4 number of a 16-byte address. */
export function v4Number(ip: Uint8Array): number {
  return isV4Mapped(ip) ? ipv4Of(ip) : 0;
}

function same16(a: Uint8Array, b: Uint8Array, at: number, aAt = 0): boolean {
  for (let i = 0; i < 16; i++) if (a[aAt + i] !== b[at + i]) return false;
  return true;
}
