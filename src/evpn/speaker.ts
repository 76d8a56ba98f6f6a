// vtepd as a BGP EVPN VTEP (RFC 7432, RFC 8365): what it advertises and what
// it does with what others advertise. BGP itself is GoBGP's (gobgp.ts); the
// tables change only through the networks' own operations, with origin
// `evpn`, as vtepctl's changes do, so fdb show, neigh show, remote show,
// monitor and trace all see them.
//
// Advertised, per EVPN network:
// - a type-3 route: "send me this VNI's BUM frames";
// - a type-2 route for every MAC learned behind the TAP, and one more per
//   address a host behind the TAP claimed (ARP, ND), withdrawn when the MAC
//   ages out, is deleted or moves away.
// Installed, from routes whose route targets a network imports:
// - type-3: the VTEP joins the flood list (withdrawn: it leaves);
// - type-2: an FDB entry of origin evpn, and with an address, a neighbour
//   entry the ARP/ND responder answers from.
//
// MAC mobility (RFC 7432 section 15): a MAC learned here that another VTEP
// advertises is advertised with a sequence number one above the highest seen;
// a remote route with a higher number (or an equal one from a lower VTEP
// address) for a local MAC wins, and the local entry goes. A MAC that moves
// more than MAX_MOVES times in MOVE_WINDOW_S seconds is frozen where it is for
// MOVE_WINDOW_S, and logged (FRR's duplicate address detection defaults).
import type { Logger } from '../observe/log.ts';
import type { EvpnConfig, NetworkEvpn } from '../config/config.ts';
import type { EventHub, MonitorEvent } from '../observe/monitor.ts';
import { LOCAL_PORT } from '../switch/fdb.ts';
import { Hold } from '../switch/remotes.ts';
import { TableError, type Network } from '../switch/network.ts';
import { parseIp } from '../wire/ip-address.ts';
import { parseIpv4Address } from '../wire/ipv4.ts';
import { formatMac, parseMac, type Mac } from '../wire/mac.ts';
import { Gobgp, type ApiPath, type PeerStatus } from './gobgp.ts';

/** What the speaker needs of a BGP engine (GoBGP; a fake in tests). */
export interface BgpEngine {
  readonly address: string;
  readonly managed: boolean;
  addPath(path: ApiPath): Promise<unknown>;
  deletePath(path: ApiPath): Promise<unknown>;
  watch(onPath: (p: ApiPath) => void, onEnd: (e: Error | undefined) => void): () => void;
  peers(): Promise<PeerStatus[]>;
  stop(): void;
}
import { imetPath, macIpPath, readPath, routeKey, type EvpnRoute, type MacIp } from './routes.ts';

export const MAX_MOVES = 5;
export const MOVE_WINDOW_S = 180;

interface EvpnNetwork {
  name: string;
  net: Network;
  settings: NetworkEvpn;
  vni: number;
  /** Our routes in GoBGP, by route key. */
  advertised: Map<string, ApiPath>;
  /** The sequence number each local MAC is advertised with. */
  localSeq: Map<Mac, number>;
  /** Received type-2 routes, by MAC then route key. */
  remote: Map<Mac, Map<string, MacIp>>;
  /** Received type-3 routes: route key -> VTEP. */
  floods: Map<string, string>;
  /** Recent moves of each MAC (monotonic seconds), and MACs frozen until a time. */
  moves: Map<Mac, number[]>;
  frozen: Map<Mac, number>;
}

export interface EvpnStatus {
  asn: number;
  'router-id': string;
  gobgp: string;
  /** Whether vtepd started this gobgpd. */
  managed: boolean;
  sessions: PeerStatus[];
  networks: Record<
    string,
    {
      vni: number;
      rd: string;
      'import-rt': string[];
      'export-rt': string[];
      advertised: { 'type-2': number; 'type-3': number };
      received: { 'type-2': number; 'type-3': number };
      frozen: string[];
    }
  >;
  'last-error': string | null;
}

function now(): number {
  return performance.now() / 1000;
}

export class EvpnSpeaker {
  private readonly networks = new Map<string, EvpnNetwork>();
  /** Every EVPN route received (best paths), by route key: kept for networks that come later. */
  private readonly received = new Map<string, EvpnRoute>();
  /** GoBGP calls in the order made: an add and a later withdrawal of one route must not cross. */
  private queue: Promise<unknown> = Promise.resolve();
  private lastError: string | null = null;
  private unlisten: () => void = () => {};
  private unwatch: () => void = () => {};
  private stopped = false;

  private constructor(
    private readonly cfg: EvpnConfig,
    private readonly local: string,
    private readonly gobgp: BgpEngine,
    private readonly log: Logger,
  ) {}

  /** Starts (or connects to) GoBGP, and listens to the networks' tables for local MACs. */
  static async start(cfg: EvpnConfig, local: string, hub: EventHub, log: Logger): Promise<EvpnSpeaker> {
    const gobgp =
      cfg.gobgp !== undefined
        ? await Gobgp.connect(cfg.gobgp)
        : await Gobgp.start(
            { asn: cfg.asn, routerId: cfg.routerId, local, neighbors: cfg.neighbors, holdTime: cfg.holdTime },
            log,
          );
    log.info(
      `evpn: AS ${cfg.asn}, router-id ${cfg.routerId}, neighbors ${cfg.neighbors.join(', ')}; GoBGP at ` +
        `${gobgp.address}${gobgp.managed ? ' (started by vtepd)' : ''}`,
    );
    return EvpnSpeaker.over(gobgp, cfg, local, hub, log);
  }

  /** A speaker over a BGP engine already running. */
  static over(engine: BgpEngine, cfg: EvpnConfig, local: string, hub: EventHub, log: Logger): EvpnSpeaker {
    const s = new EvpnSpeaker(cfg, local, engine, log);
    s.unlisten = hub.listen((e) => s.onTableEvent(e));
    s.unwatch = engine.watch(
      (p) => s.onPath(p),
      (e) => s.onWatchEnd(e),
    );
    return s;
  }

  /** Resolves when every call made to the engine so far has been answered. */
  settled(): Promise<unknown> {
    return this.queue;
  }

  // ---------------------------------------------------------------- networks

  /** Advertises a network and installs what the fabric already says of it. */
  add(net: Network, settings: NetworkEvpn, vni: number): void {
    const n: EvpnNetwork = {
      name: net.name,
      net,
      settings,
      vni,
      advertised: new Map(),
      localSeq: new Map(),
      remote: new Map(),
      floods: new Map(),
      moves: new Map(),
      frozen: new Map(),
    };
    this.networks.set(net.name, n);
    net.snoopLocal = true;
    this.advertise(n, imetPath(settings.rd, this.local, settings.exportRts, vni));
    for (const [mac, e] of net.fdb.entries()) if (e.port === LOCAL_PORT) this.advertiseMac(n, mac);
    for (const r of this.received.values()) if (this.imports(n, r)) this.install(n, r);
  }

  /** Withdraws a network's routes (its tables go with it, or are the caller's to keep). */
  remove(name: string): void {
    const n = this.networks.get(name);
    if (n === undefined) return;
    this.networks.delete(name);
    n.net.snoopLocal = false;
    for (const path of n.advertised.values())
      this.call(() => this.gobgp.deletePath(path), `withdraw a route of network ${name}`);
  }

  has(name: string): boolean {
    return this.networks.has(name);
  }

  // ---------------------------------------------------------------- local MACs

  private onTableEvent(e: MonitorEvent): void {
    if (e.event !== 'fdb' && e.event !== 'neigh') return;
    const n = this.networks.get(e.network);
    if (n === undefined) return;
    if (e.event === 'neigh') {
      // A host behind the TAP claimed an address: its MAC's routes gain it; an aged one loses it.
      if (e.origin !== 'local') return;
      const mac = parseMac(e.mac)!;
      if (n.net.fdb.get(mac)?.port === LOCAL_PORT) this.advertiseMac(n, mac);
      if (e.action === 'aged' || e.action === 'deleted') this.withdrawAddress(n, mac, e.ip);
      return;
    }
    if (e.action === 'refused') return;
    const mac = parseMac(e.mac)!;
    const isLocal = e.remote === null;
    if (e.action === 'learned' && isLocal) this.advertiseMac(n, mac);
    else if (e.action === 'moved' && isLocal) this.localMove(n, mac);
    else if (e.action === 'moved' && e.was === null) this.withdrawMac(n, mac);
    else if ((e.action === 'aged' || e.action === 'deleted') && isLocal) this.withdrawMac(n, mac);
  }

  /** A MAC that was behind a VTEP showed up behind the TAP. */
  private localMove(n: EvpnNetwork, mac: Mac): void {
    const routes = n.remote.get(mac);
    if (routes !== undefined && routes.size > 0) {
      n.localSeq.set(mac, Math.max(...[...routes.values()].map((r) => r.seq)) + 1);
      this.moved(n, mac);
    }
    this.advertiseMac(n, mac);
  }

  /** The addresses hosts behind the TAP claimed with this MAC. */
  private localAddresses(n: EvpnNetwork, mac: Mac): string[] {
    return [...n.net.neigh.entries()].filter((e) => e.origin === 'local' && e.mac === mac).map((e) => e.ip);
  }

  /** (Re-)advertises a local MAC: a MAC-only route and one per address, with its sequence number. */
  private advertiseMac(n: EvpnNetwork, mac: Mac): void {
    const seq = n.localSeq.get(mac) ?? Math.max(0, ...[...(n.remote.get(mac)?.values() ?? [])].map((r) => r.seq + 1));
    n.localSeq.set(mac, seq);
    for (const ip of [undefined, ...this.localAddresses(n, mac)]) {
      this.advertise(n, macIpPath(n.settings.rd, mac, ip, this.local, n.settings.exportRts, n.vni, seq, false));
    }
  }

  private withdrawMac(n: EvpnNetwork, mac: Mac): void {
    const prefix = `2 ${n.settings.rd} ${formatMac(mac)} `;
    for (const [key, path] of n.advertised) {
      if (!key.startsWith(prefix)) continue;
      n.advertised.delete(key);
      this.call(() => this.gobgp.deletePath(path), `withdraw ${formatMac(mac)}`);
    }
  }

  private withdrawAddress(n: EvpnNetwork, mac: Mac, ip: string): void {
    const key = `2 ${n.settings.rd} ${formatMac(mac)} ${ip}`;
    const path = n.advertised.get(key);
    if (path === undefined) return;
    n.advertised.delete(key);
    this.call(() => this.gobgp.deletePath(path), `withdraw ${formatMac(mac)} ${ip}`);
  }

  private advertise(n: EvpnNetwork, path: ApiPath): void {
    const r = readPath(path)!;
    n.advertised.set(routeKey(r), path);
    this.call(() => this.gobgp.addPath(path), `advertise ${describe(r)}`);
  }

  // ---------------------------------------------------------------- received routes

  private onPath(p: ApiPath): void {
    const r = readPath(p);
    if (r === undefined || r.vtep === this.local) return; // not EVPN as we speak it, or our own reflected back
    const key = routeKey(r);
    if (p.is_withdraw) {
      const old = this.received.get(key);
      this.received.delete(key);
      if (old !== undefined) for (const n of this.networks.values()) if (this.imports(n, old)) this.uninstall(n, old);
      return;
    }
    this.received.set(key, r);
    for (const n of this.networks.values()) if (this.imports(n, r)) this.install(n, r);
  }

  private imports(n: EvpnNetwork, r: EvpnRoute): boolean {
    return r.rts.some((rt) => n.settings.importRts.includes(rt));
  }

  private install(n: EvpnNetwork, r: EvpnRoute): void {
    const vtep = parseIp(r.vtep);
    if (vtep === undefined || parseIpv4Address(r.vtep) === undefined) return;
    if (r.kind === 'imet') {
      n.floods.set(routeKey(r), r.vtep);
      n.net.holdRemote(vtep, Hold.FloodEvpn);
      return;
    }
    let routes = n.remote.get(r.mac);
    if (routes === undefined) n.remote.set(r.mac, (routes = new Map()));
    routes.set(routeKey(r), r);
    this.settle(n, r.mac);
  }

  private uninstall(n: EvpnNetwork, r: EvpnRoute): void {
    const key = routeKey(r);
    if (r.kind === 'imet') {
      if (!n.floods.delete(key)) return;
      if ([...n.floods.values()].includes(r.vtep)) return; // another route of that VTEP still asks for floods
      const i = n.net.remotes.indexOf(parseIp(r.vtep)!);
      if (i > 0) n.net.releaseRemote(i, Hold.FloodEvpn);
      return;
    }
    const routes = n.remote.get(r.mac);
    if (routes === undefined || !routes.delete(key)) return;
    if (routes.size === 0) n.remote.delete(r.mac);
    if (
      r.ip !== undefined &&
      n.net.neigh.get(parseIp(r.ip)!)?.origin === 'evpn' &&
      ![...routes.values()].some((x) => x.ip === r.ip)
    ) {
      n.net.deleteNeigh(parseIp(r.ip)!);
    }
    this.settle(n, r.mac);
  }

  /** Puts `mac` where the best route (or the local sighting) says. */
  private settle(n: EvpnNetwork, mac: Mac): void {
    const t = now();
    const frozenUntil = n.frozen.get(mac);
    if (frozenUntil !== undefined && t < frozenUntil) return;
    n.frozen.delete(mac);
    const routes = [...(n.remote.get(mac)?.values() ?? [])];
    const entry = n.net.fdb.get(mac);
    if (routes.length === 0) {
      if (entry?.origin === 'evpn') n.net.deleteMac(mac);
      return;
    }
    // Highest sequence number first; among equals, the lowest VTEP address (RFC 7432 section 15.1).
    const best = routes.reduce((a, b) => (b.seq > a.seq || (b.seq === a.seq && ipv4Less(b.vtep, a.vtep)) ? b : a));
    if (entry?.port === LOCAL_PORT && entry.origin === 'learned') {
      const ours = n.localSeq.get(mac) ?? 0;
      if (best.seq < ours || (best.seq === ours && ipv4Less(this.local, best.vtep))) return; // we stay the winner
      this.withdrawMac(n, mac);
      n.localSeq.delete(mac);
      n.net.deleteMac(mac);
      this.moved(n, mac);
    } else if (entry?.origin === 'evpn' && n.net.remotes.address(entry.port) !== best.vtep) {
      this.moved(n, mac);
    }
    try {
      n.net.setStatic(mac, parseIp(best.vtep)!, 'evpn', t);
    } catch (e) {
      if (!(e instanceof TableError)) throw e;
      this.error(`network ${n.name}: cannot install ${formatMac(mac)} behind ${best.vtep}: ${e.message}`);
      return;
    }
    for (const r of routes)
      if (r.ip !== undefined && r.vtep === best.vtep) n.net.setNeigh(parseIp(r.ip)!, mac, 'evpn', t);
  }

  /** Counts a move; too many in the window freeze the MAC where it is, with a log line. */
  private moved(n: EvpnNetwork, mac: Mac): void {
    const t = now();
    const recent = (n.moves.get(mac) ?? []).filter((x) => t - x < MOVE_WINDOW_S);
    recent.push(t);
    n.moves.set(mac, recent);
    if (recent.length > MAX_MOVES && !n.frozen.has(mac)) {
      n.frozen.set(mac, t + MOVE_WINDOW_S);
      this.log.warn(
        `evpn: network ${n.name}: ${formatMac(mac)} moved ${recent.length} times in ${MOVE_WINDOW_S} s: a ` +
          `duplicate MAC? frozen where it is for ${MOVE_WINDOW_S} s`,
      );
    }
  }

  // ---------------------------------------------------------------- plumbing

  private call(op: () => Promise<unknown>, what: string): void {
    this.queue = this.queue.then(op).catch((e: Error) => this.error(`evpn: could not ${what}: ${e.message}`));
  }

  private error(message: string): void {
    this.lastError = message;
    this.log.warn(message);
  }

  private onWatchEnd(e: Error | undefined): void {
    if (this.stopped) return;
    this.error(`evpn: GoBGP's route stream ended${e ? `: ${e.message}` : ''}`);
  }

  async status(): Promise<EvpnStatus> {
    let sessions: PeerStatus[] = [];
    try {
      sessions = await this.gobgp.peers();
    } catch (e) {
      this.error(`evpn: GoBGP does not answer: ${(e as Error).message}`);
    }
    const networks: EvpnStatus['networks'] = {};
    for (const n of this.networks.values()) {
      const adv = [...n.advertised.keys()];
      networks[n.name] = {
        vni: n.vni,
        rd: n.settings.rd,
        'import-rt': n.settings.importRts,
        'export-rt': n.settings.exportRts,
        advertised: {
          'type-2': adv.filter((k) => k.startsWith('2 ')).length,
          'type-3': adv.filter((k) => k.startsWith('3 ')).length,
        },
        received: { 'type-2': [...n.remote.values()].reduce((a, m) => a + m.size, 0), 'type-3': n.floods.size },
        frozen: [...n.frozen].filter(([, until]) => until > now()).map(([mac]) => formatMac(mac)),
      };
    }
    return {
      asn: this.cfg.asn,
      'router-id': this.cfg.routerId,
      gobgp: this.gobgp.address,
      managed: this.gobgp.managed,
      sessions,
      networks,
      'last-error': this.lastError,
    };
  }

  /** Withdraws every route (within a second or two), then stops listening and stops a gobgpd of our own. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.unlisten();
    for (const name of [...this.networks.keys()]) this.remove(name);
    await Promise.race([this.queue, new Promise((r) => setTimeout(r, 2000))]);
    this.unwatch();
    this.gobgp.stop();
  }
}

function ipv4Less(a: string, b: string): boolean {
  return (parseIpv4Address(a) ?? 0) < (parseIpv4Address(b) ?? 0);
}

function describe(r: EvpnRoute): string {
  return r.kind === 'imet'
    ? `type-3 rd ${r.rd}`
    : `type-2 ${formatMac(r.mac)}${r.ip ? ` ${r.ip}` : ''} rd ${r.rd} seq ${r.seq}`;
}
