// The router of a daemon: its VRFs, this host's DVR MAC and the other hosts',
// and which network routes in which VRF through which gateway. It attaches a
// network's gateway to the data path (its hooks, gateway-hook.ts), keeps the
// VRFs as the config and vtepctl say, and does the router's work that no
// frame starts: asking again for neighbours that did not answer, answering
// the senders of packets that waited in vain, and sending the packets whose
// neighbour answered. Those go as a batch of their own between batches
// (Datapath.originate), never inside one.
import type { Batch } from '../datapath/batch.ts';
import type { Network } from '../switch/network.ts';
import type { Forwarding } from '../switch/verdict.ts';
import { formatIp, isV4Mapped, parseIp, sameIp } from '../wire/ip-address.ts';
import { formatMac, parseMac, type Mac } from '../wire/mac.ts';
import { GatewayHook, GatewayState, GatewayTunnelHook } from './gateway-hook.ts';
import { formatPrefix, masked, parsePrefix, samePrefix, type Prefix } from './prefix.ts';
import type { Pending, Queued } from './resolver.ts';
import { answerUnresolved, routeFrame, sendRequest } from './route.ts';
import { DvrMacs, Gateway, v4Number, Vrf, type GatewayAddress, type RouteEvents, type SourceMac } from './vrf.ts';

/** A network's gateway as the config gives it. */
export interface GatewaySpec {
  /** Each address with its prefix length: "192.168.10.1/24" as 16 bytes and 24. */
  addresses: { ip: Uint8Array; len: number }[];
  mac: Mac;
  sourceMac: SourceMac;
}

/** A VRF as the config gives it. */
export interface VrfSpec {
  name: string;
  routes: { prefix: Prefix; via: Uint8Array }[];
  icmpRatelimit: number;
}

/** What an upgrade carries of the router: what no config says (routes and DVR MACs vtepctl added), and counters. */
export interface RouterSnapshot {
  routes: { vrf: string; prefix: string; via: string }[];
  dvrMacs: string[];
  counters: Record<string, number[]>;
}

/** Makes frames as a batch of their own (Datapath.originate). */
export type Originate = (make: (f: Forwarding, b: Batch) => void) => void;

export class Router {
  readonly vrfs = new Map<string, Vrf>();
  readonly dvr = new DvrMacs();
  private readonly attached = new Map<Network, Vrf>();
  /** DVR MACs of the config, apart from those vtepctl added. */
  private configDvr = new Set<Mac>();
  /** Set by the daemon: how the router sends what no frame started. */
  originate: Originate = () => {};
  events: RouteEvents | undefined = undefined;
  /**
   * Set by the daemon: told when a VRF begins to wait for a neighbour, after which tick() must be called until
   * `waiting` is false. An idle router needs no tick: a vtepd with nothing to do sleeps.
   */
  onWaiting: () => void = () => {};
  private flushQueued = false;

  /** Brings the VRFs and DVR MACs to what the config says; returns one line per change. */
  configure(specs: readonly VrfSpec[], dvrMac: Mac | undefined, dvrMacs: readonly Mac[]): string[] {
    const changes: string[] = [];
    for (const s of specs) {
      let vrf = this.vrfs.get(s.name);
      if (vrf === undefined) {
        vrf = this.newVrf(s.name, s.icmpRatelimit);
        changes.push(`vrf ${s.name} added`);
      } else if (vrf.limiter.rate !== s.icmpRatelimit) {
        vrf.limiter.rate = s.icmpRatelimit;
        changes.push(`vrf ${s.name}: icmp-ratelimit ${s.icmpRatelimit}`);
      }
      const old = vrf.givenRoutes('config');
      for (const r of old) {
        if (s.routes.some((n) => samePrefix(n.prefix, r.prefix) && sameIp(n.via, r.via))) continue;
        vrf.deleteRoute(r.prefix, 'config');
        changes.push(`vrf ${s.name}: route ${describe(r.prefix)} removed`);
      }
      for (const r of s.routes) {
        if (old.some((o) => samePrefix(o.prefix, r.prefix) && sameIp(o.via, r.via))) continue;
        vrf.addRoute({ prefix: r.prefix, via: r.via, origin: 'config' }, false);
        changes.push(`vrf ${s.name}: route ${describe(r.prefix)} added`);
      }
    }
    for (const [name, vrf] of this.vrfs) {
      if (specs.some((s) => s.name === name) || vrf.gateways.size > 0) continue;
      this.vrfs.delete(name);
      changes.push(`vrf ${name} removed`);
    }
    if (dvrMac !== this.dvr.own) {
      this.dvr.own = dvrMac;
      changes.push(`dvr-mac ${dvrMac === undefined ? 'none' : formatMac(dvrMac)}`);
    }
    const next = new Set(dvrMacs);
    for (const m of this.configDvr) if (!next.has(m)) this.dvr.others.delete(m);
    for (const m of next) this.dvr.others.add(m);
    if ([...next].some((m) => !this.configDvr.has(m)) || [...this.configDvr].some((m) => !next.has(m)))
      changes.push(`dvr-macs ${[...next].map(formatMac).join(', ') || 'none'}`);
    this.configDvr = next;
    return changes;
  }

  /** What vtepctl added, and the VRFs' counters, for the successor of an upgrade. */
  snapshot(): RouterSnapshot {
    const routes: RouterSnapshot['routes'] = [];
    const counters: Record<string, number[]> = {};
    for (const vrf of this.vrfs.values()) {
      for (const r of vrf.givenRoutes('vtepctl'))
        routes.push({ vrf: vrf.name, prefix: formatPrefix(r.prefix), via: formatIp(r.via) });
      counters[vrf.name] = Array.from(vrf.counters);
    }
    const dvrMacs = [...this.dvr.others].filter((m) => !this.configDvr.has(m)).map(formatMac);
    return { routes, dvrMacs, counters };
  }

  /** Takes back what snapshot() gave (the config's VRFs and networks are in place); what no longer fits is skipped. */
  restore(s: RouterSnapshot): void {
    for (const r of s.routes) {
      const vrf = this.vrfs.get(r.vrf);
      const prefix = parsePrefix(r.prefix);
      const via = parseIp(r.via);
      if (vrf === undefined || prefix === undefined || via === undefined) continue;
      try {
        vrf.addRoute({ prefix, via, origin: 'vtepctl' });
      } catch {
        // its next hop's subnet or its prefix is the config's now
      }
    }
    for (const m of s.dvrMacs) {
      const mac = parseMac(m);
      if (mac !== undefined && mac !== this.dvr.own) this.dvr.others.add(mac);
    }
    for (const [name, values] of Object.entries(s.counters)) {
      const vrf = this.vrfs.get(name);
      if (vrf !== undefined) vrf.counters.set(values.slice(0, vrf.counters.length));
    }
  }

  /** Whether `mac`, another host's DVR MAC, came from the config (not vtepctl). */
  isConfigDvr(mac: Mac): boolean {
    return this.configDvr.has(mac);
  }

  vrf(name: string): Vrf | undefined {
    return this.vrfs.get(name);
  }

  /** The VRF `net` routes in, if any. */
  vrfOf(net: Network): Vrf | undefined {
    return this.attached.get(net);
  }

  /** `net` belongs to VRF `vrfName` (made if need be) with gateway `spec`, or routes nowhere; what it had goes. */
  attach(net: Network, vrfName: string | undefined, spec: GatewaySpec | undefined): void {
    this.detach(net);
    if (vrfName === undefined) return;
    const vrf = this.vrfs.get(vrfName) ?? this.newVrf(vrfName);
    this.attached.set(net, vrf);
    if (spec === undefined) return;
    const addresses: GatewayAddress[] = spec.addresses.map((a) => ({
      ip: a.ip,
      prefix: masked(a.ip, a.len),
      v4: isV4Mapped(a.ip),
      v4num: v4Number(a.ip),
    }));
    const gw = new Gateway(net, vrf, spec.mac, addresses, spec.sourceMac, this.dvr);
    const state = new GatewayState(gw);
    net.setExtraHooks([new GatewayHook(state)]);
    net.tunnelHook = new GatewayTunnelHook(state);
    vrf.setGateway(gw);
  }

  /** `net` routes nowhere any more (it left its VRF, or it stops). */
  detach(net: Network): void {
    const vrf = this.attached.get(net);
    if (vrf === undefined) return;
    this.attached.delete(net);
    vrf.removeGateway(net);
    net.setExtraHooks([]);
    net.tunnelHook = undefined;
  }

  /**
   * A copy of `net`'s VRF, its networks cloned and their gateways on the
   * clones, for `vtepctl trace`: routing a frame there changes nothing real.
   * Returns the clone of `net` (`net` itself when it routes nowhere).
   */
  traceCopy(net: Network): Network {
    const vrf = this.attached.get(net);
    if (vrf === undefined) return net.clone();
    const copy = new Vrf(vrf.name, vrf.limiter.rate);
    let mine: Network | undefined;
    for (const g of vrf.gateways.values()) {
      const clone = g.net.clone();
      const gw = new Gateway(clone, copy, g.mac, g.addresses, g.sourceMac, this.dvr);
      const state = new GatewayState(gw);
      clone.setExtraHooks([new GatewayHook(state)]);
      clone.tunnelHook = new GatewayTunnelHook(state);
      copy.setGateway(gw);
      if (g.net === net) mine = clone;
    }
    if (vrf.l3 !== undefined) {
      const l3net = vrf.l3.net.clone();
      copy.setL3({ ...vrf.l3, net: l3net });
      if (vrf.l3.net === net) mine = l3net;
    }
    for (const r of vrf.givenRoutes()) copy.addRoute(r, false);
    return mine ?? net.clone();
  }

  /** Whether a VRF waits for a neighbour's answer (or holds one that failed): tick() has work. */
  get waiting(): boolean {
    for (const vrf of this.vrfs.values()) if (vrf.resolver.size > 0) return true;
    return false;
  }

  /** 4 times a second while `waiting`: what the resolvers must do now. */
  tick(now: number): void {
    const retry: Pending[] = [];
    const failed: Pending[] = [];
    for (const vrf of this.vrfs.values()) vrf.resolver.due(now, retry, failed);
    if (retry.length === 0 && failed.length === 0) return;
    for (const e of failed) {
      const net = e.gateway.net;
      if (net.events.active)
        net.events.neigh(net, 'failed', { ip: formatIp(e.ip), mac: 0, origin: 'resolved', seen: now });
    }
    const answers = failed.flatMap((e) => e.packets);
    this.inBatches(retry.length + answers.length, (f, b, from, to) => {
      for (let k = from; k < to; k++) {
        f.i = k - from;
        const off = b.start(f.i);
        if (k < retry.length) {
          sendRequest(retry[k].gateway, retry[k].ip, b.arena, off, f);
        } else {
          const p = answers[k - retry.length];
          p.data.copy(b.arena, off);
          answerUnresolved(p.ingress, b.arena, off, p.data.length, f);
        }
      }
    });
  }

  private newVrf(name: string, icmpRatelimit?: number): Vrf {
    const vrf = new Vrf(name, icmpRatelimit);
    vrf.events = this.events;
    vrf.resolver.onReady = () => this.scheduleFlush();
    vrf.resolver.onWaiting = () => this.onWaiting();
    this.vrfs.set(name, vrf);
    return vrf;
  }

  /** Packets whose neighbour answered go after the batch that brought the answer. */
  private scheduleFlush(): void {
    if (this.flushQueued) return;
    this.flushQueued = true;
    setImmediate(() => {
      this.flushQueued = false;
      const ready: Queued[] = [];
      for (const vrf of this.vrfs.values()) ready.push(...vrf.resolver.ready.splice(0));
      this.inBatches(ready.length, (f, b, from, to) => {
        for (let k = from; k < to; k++) {
          const p = ready[k];
          f.i = k - from;
          const off = b.start(f.i);
          if (p.data.length >= b.room) continue;
          p.data.copy(b.arena, off);
          routeFrame(p.ingress, b.arena, off, p.data.length, f);
        }
      });
    });
  }

  /** Runs `fill` over `n` items, as many batches of the data path's own as it takes. */
  private inBatches(n: number, fill: (f: Forwarding, b: Batch, from: number, to: number) => void): void {
    for (let from = 0; from < n;) {
      let to = from;
      this.originate((f, b) => {
        to = Math.min(n, from + b.capacity);
        fill(f, b, from, to);
        b.count = to - from;
      });
      if (to === from) return; // nothing to send on: the data path is gone
      from = to;
    }
  }
}

function describe(p: Prefix): string {
  return `${formatIp(p.addr)}/${p.len}`;
}
