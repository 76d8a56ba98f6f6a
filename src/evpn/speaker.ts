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
// Each MAC has one record (as FRR's zebra_mac): whether it is local and with
// which sequence number it is advertised, the routes received for it, its
// recent moves, and until when it is frozen. MAC mobility (RFC 7432 section
// 15): a MAC learned here that another VTEP advertises is advertised with a
// sequence number one above the highest seen; a remote route with a higher
// number (or an equal one from a lower VTEP address) for a local MAC wins,
// and the local entry goes. A MAC that moves more than MAX_MOVES times in
// MOVE_WINDOW_S seconds is frozen where it is for MOVE_WINDOW_S, and logged
// (FRR's duplicate address detection defaults).
//
// The tables are heard as numbers (EventHub.listenTables), and the speaker's
// own writes (origin evpn) are not heard back. GoBGP's best paths come from
// a RibFollower (follow.ts): a snapshot, then the stream, resynced when it
// ends; the speaker then advertises its routes again. (Over 400 lines: the
// advertised and the installed side share each MAC's record and decide
// together; split, each would reach into the other.)
import type { Logger } from '../observe/log.ts';
import type { EvpnConfig, NetworkEvpn } from '../config/config.ts';
import type { EventHub, TableListener } from '../observe/monitor.ts';
import type { FdbAction, NeighAction } from '../switch/events.ts';
import { LOCAL_PORT, type Origin } from '../switch/fdb.ts';
import type { NeighEntry } from '../switch/neigh.ts';
import { Hold } from '../switch/remotes.ts';
import { LimitError, TableError, type Network } from '../switch/network.ts';
import type { Vrf } from '../route/vrf.ts';
import { onLink } from '../io/link.ts';
import { parseIp, vtepProblem, type VtepChecks } from '../wire/ip-address.ts';
import { parseIpv4Address } from '../wire/ipv4.ts';
import { formatMac, type Mac } from '../wire/mac.ts';
import { RibFollower, type RibSource } from './follow.ts';
import { Irb, type IrbStatus, type VrfEvpn } from './irb.ts';
import {
  Gobgp,
  droppedUpdateMessage,
  type ApiPath,
  type DroppedUpdate,
  type PeerStatus,
  type SessionLine,
} from './gobgp.ts';
import { imetPath, macIpPath, readPath, routeKey, withdrawable, type EvpnRoute, type MacIp } from './routes.ts';
import { importsTarget } from './values.ts';

/** What the speaker needs of a BGP engine (GoBGP; a fake in tests). */
export interface BgpEngine extends RibSource {
  readonly address: string;
  readonly managed: boolean;
  addPath(path: ApiPath): Promise<unknown>;
  deletePath(path: ApiPath): Promise<unknown>;
  peers(): Promise<PeerStatus[]>;
  stop(): void;
  /** Told of a session that came up, went down or a NOTIFICATION (a gobgpd vtepd started: from its log). */
  onSession?: (s: SessionLine) => void;
  /** Told of an UPDATE GoBGP dropped as malformed (a gobgpd vtepd started: from its log). */
  onDroppedUpdate?: (d: DroppedUpdate) => void;
  /**
   * The last session problem told before anyone listened (gobgpd starts, and a peer may refuse it, before
   * the speaker exists); undefined once a session came up.
   */
  readonly earlyProblem?: string;
}

export const MAX_MOVES = 5;
/** The highest MAC Mobility sequence number (a 32-bit field, RFC 7432 section 7.7). */
export const MAX_SEQ = 0xffffffff;
export const MOVE_WINDOW_S = 180;

/** One MAC of an EVPN network, local or remote or both (while it moves). */
interface MacRecord {
  /** The sequence number it is advertised with while it is behind the TAP; undefined when it is not. */
  localSeq: number | undefined;
  /** Received type-2 routes for it, by route key. */
  remote: Map<string, MacIp>;
  /** When it moved lately (monotonic seconds), within MOVE_WINDOW_S. */
  moves: number[];
  /** Frozen where it is until then (0: not frozen). */
  frozenUntil: number;
}

interface EvpnNetwork {
  name: string;
  net: Network;
  settings: NetworkEvpn;
  vni: number;
  /** The VRF it routes in: with an L3VNI, its MAC/IP routes carry it (symmetric IRB). */
  vrf: string | undefined;
  /** Our routes in GoBGP, by route key. */
  advertised: Map<string, ApiPath>;
  macs: Map<Mac, MacRecord>;
  /** Received type-3 routes: route key -> VTEP. */
  floods: Map<string, string>;
}

export interface EvpnStatus {
  asn: number;
  'router-id': string;
  gobgp: string;
  /** Whether vtepd started this gobgpd. */
  managed: boolean;
  /** Whether GoBGP's route stream is followed now (false while reconnecting). */
  following: boolean;
  /** How often the stream was lost and followed again. */
  resyncs: number;
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
  /** VRFs that route over EVPN (symmetric IRB). */
  vrfs: Record<string, IrbStatus>;
  /** Routes ignored, by reason: their VTEP address is one no VTEP can have. */
  rejected: Record<string, number>;
  'last-error': string | null;
}

function now(): number {
  return performance.now() / 1000;
}

/** One row of `vtepctl evpn routes --json`. */
export interface EvpnRouteRow {
  network: string;
  direction: 'advertised' | 'received';
  type: 2 | 3;
  rd: string;
  mac?: string;
  ip?: string;
  /** The next hop (type 2) or the PMSI tunnel id (type 3): the VTEP. */
  vtep: string;
  vni: number;
  /** MAC Mobility sequence number (type 2). */
  seq?: number;
  rts: string[];
  /** Received: whether the network follows it (its FDB entry or flood list); advertised: true. */
  installed: boolean;
}

function routeRow(
  network: string,
  direction: EvpnRouteRow['direction'],
  r: Exclude<EvpnRoute, { kind: 'prefix' }>,
  installed: boolean,
): EvpnRouteRow {
  if (r.kind === 'imet')
    return { network, direction, type: 3, rd: r.rd, vtep: r.vtep, vni: r.vni, rts: r.rts, installed };
  return {
    network,
    direction,
    type: 2,
    rd: r.rd,
    mac: formatMac(r.mac),
    ...(r.ip !== undefined ? { ip: r.ip } : {}),
    vtep: r.vtep,
    vni: r.vni,
    seq: r.seq,
    rts: r.rts,
    installed,
  };
}

export class EvpnSpeaker implements TableListener {
  private readonly networks = new Map<string, EvpnNetwork>();
  /** GoBGP calls in the order made: an add and a later withdrawal of one route must not cross. */
  private queue: Promise<unknown> = Promise.resolve();
  private lastError: string | null = null;
  private unlisten: () => void = () => {};
  private rib!: RibFollower;
  private readonly irb: Irb;
  private stopped = false;

  private constructor(
    private readonly cfg: EvpnConfig,
    private readonly local: string,
    private readonly gobgp: BgpEngine,
    private readonly log: Logger,
  ) {
    this.irb = new Irb(local, {
      add: (path, what) => this.call(() => this.gobgp.addPath(path), what),
      delete: (path, what) => this.call(() => this.gobgp.deletePath(withdrawable(path)), what),
      error: (m) => this.error(m),
    });
  }

  /** Routes ignored, by reason: their VTEP address is one no VTEP can have. */
  get rejected(): ReadonlyMap<string, number> {
    return this.rib.rejected;
  }

  /** Starts (or connects to) GoBGP, and listens to the networks' tables for local MACs. */
  static async start(
    cfg: EvpnConfig,
    local: string,
    hub: EventHub,
    log: Logger,
    checks: () => VtepChecks = () => ({ local: parseIp(local)! }),
  ): Promise<EvpnSpeaker> {
    // Told to a gobgpd of our own only: one vtepd did not start has its own neighbor settings.
    const neighbors = cfg.neighbors.map((n) => ({
      ...n,
      multihop: cfg.gobgp === undefined && n.peerAs !== cfg.asn && !onLink(n.address),
    }));
    const gobgp =
      cfg.gobgp !== undefined
        ? await Gobgp.connect(cfg.gobgp)
        : await Gobgp.start({ asn: cfg.asn, routerId: cfg.routerId, local, neighbors }, log);
    const peers = neighbors.map((n) =>
      n.peerAs === cfg.asn
        ? n.address
        : `${n.address} (AS ${n.peerAs === 'external' ? 'external' : n.peerAs}${n.multihop ? ', multihop' : ''})`,
    );
    log.info(
      `evpn: AS ${cfg.asn}, router-id ${cfg.routerId}, neighbors ${peers.join(', ')}; GoBGP at ` +
        `${gobgp.address}${gobgp.managed ? ' (started by vtepd)' : ''}`,
    );
    return EvpnSpeaker.over(gobgp, cfg, local, hub, log, checks);
  }

  /**
   * A speaker over a BGP engine already running; `checks`: what a route's VTEP address must not be
   * (asked per route, so that a reload counts).
   */
  static over(
    engine: BgpEngine,
    cfg: EvpnConfig,
    local: string,
    hub: EventHub,
    log: Logger,
    checks: () => VtepChecks = () => ({ local: parseIp(local)! }),
  ): EvpnSpeaker {
    const s = new EvpnSpeaker(cfg, local, engine, log);
    // Already logged by the engine: kept as the last error, not told twice.
    s.lastError = engine.earlyProblem ?? null;
    engine.onSession = (x) => {
      if (x.up) log.info(x.message);
      else s.error(x.message);
      hub.bgp(x.neighbor, x.up, x.reason);
    };
    // The routes of such an UPDATE never reach vtepd: this is the one place that says they were sent.
    engine.onDroppedUpdate = (d) => s.error(droppedUpdateMessage(d));
    s.unlisten = hub.listenTables(s);
    s.rib = new RibFollower(
      engine,
      local,
      {
        received: (r, old) => s.received(r, old),
        withdrawn: (key) => s.withdrawn(key),
        reconnected: () => s.advertiseAgain(),
        error: (m) => s.error(m),
        info: (m) => log.info(m),
      },
      (r) => {
        const b = parseIp(r.vtep);
        return b === undefined ? 'family' : vtepProblem(b, checks());
      },
    );
    return s;
  }

  /** Resolves when every call made to the engine so far has been answered. */
  settled(): Promise<unknown> {
    return this.queue;
  }

  /** Resolves once the speaker follows GoBGP's routes: a snapshot read, the stream open. */
  synced(): Promise<void> {
    return this.rib.whenFollowing();
  }

  // ---------------------------------------------------------------- networks

  /** Advertises a network and installs what the fabric already says of it. */
  add(net: Network, settings: NetworkEvpn, vni: number, vrf?: string): void {
    const n: EvpnNetwork = {
      name: net.name,
      net,
      settings,
      vni,
      vrf,
      advertised: new Map(),
      macs: new Map(),
      floods: new Map(),
    };
    this.networks.set(net.name, n);
    net.snoopLocal = true;
    this.advertise(n, imetPath(settings.rd, this.local, settings.exportRts, vni));
    for (const [mac, e] of net.fdb.entries()) if (e.port === LOCAL_PORT) this.advertiseMac(n, mac);
    for (const r of this.rib.routes.values()) if (this.imports(n, r)) this.install(n, r);
  }

  /** Withdraws a network's routes (its tables go with it, or are the caller's to keep). */
  remove(name: string): void {
    const n = this.networks.get(name);
    if (n === undefined) return;
    this.networks.delete(name);
    n.net.snoopLocal = false;
    for (const path of n.advertised.values())
      this.call(() => this.gobgp.deletePath(withdrawable(path)), `withdraw a route of network ${name}`);
  }

  has(name: string): boolean {
    return this.networks.has(name);
  }

  // ---------------------------------------------------------------- VRFs (symmetric IRB)

  /** A VRF routes over EVPN: its prefixes go out as type-5 routes, the fabric's come into it. */
  addVrf(vrf: Vrf, s: VrfEvpn): void {
    this.irb.add(vrf, s, this.rib.routes.values());
    // Its networks' MAC/IP routes gain the L3VNI.
    for (const n of this.networks.values()) if (n.vrf === vrf.name) this.readvertiseMacs(n);
  }

  removeVrf(name: string): void {
    this.irb.remove(name);
    for (const n of this.networks.values()) if (n.vrf === name) this.readvertiseMacs(n);
  }

  /** A VRF's subnets or static routes changed: its type-5 routes follow. */
  refreshVrf(name: string): void {
    this.irb.refresh(name);
  }

  vrfNames(): string[] {
    return this.irb.names();
  }

  private readvertiseMacs(n: EvpnNetwork): void {
    for (const [mac, r] of n.macs) if (r.localSeq !== undefined) this.advertiseMac(n, mac);
  }

  // ---------------------------------------------------------------- local MACs

  fdb(net: Network, action: FdbAction, mac: Mac, port: number, origin: Origin, was?: number): void {
    if (origin === 'evpn') return; // our own write, heard back
    const n = this.networks.get(net.name);
    if (n === undefined || n.net !== net) return;
    const isLocal = port === LOCAL_PORT;
    if (action === 'learned' && isLocal) this.advertiseMac(n, mac);
    else if (action === 'moved' && isLocal) this.localMove(n, mac);
    else if (action === 'moved' && was === LOCAL_PORT) this.withdrawMac(n, mac);
    else if ((action === 'aged' || action === 'deleted') && isLocal) this.withdrawMac(n, mac);
  }

  neigh(net: Network, action: NeighAction, e: NeighEntry): void {
    // A host behind the TAP claimed an address: its MAC's routes gain it; an aged one loses it.
    if (e.origin !== 'local') return;
    const n = this.networks.get(net.name);
    if (n === undefined || n.net !== net) return;
    if (n.net.fdb.get(e.mac)?.port === LOCAL_PORT) this.advertiseMac(n, e.mac);
    if (action === 'aged' || action === 'deleted') this.withdrawAddress(n, e.mac, e.ip);
  }

  private record(n: EvpnNetwork, mac: Mac): MacRecord {
    let r = n.macs.get(mac);
    if (r === undefined) n.macs.set(mac, (r = { localSeq: undefined, remote: new Map(), moves: [], frozenUntil: 0 }));
    return r;
  }

  /** Forgets a MAC nothing holds any more: not local, no route, no recent move, not frozen. */
  private tidy(n: EvpnNetwork, mac: Mac): void {
    const r = n.macs.get(mac);
    if (r === undefined || r.localSeq !== undefined || r.remote.size > 0) return;
    const t = now();
    if (r.frozenUntil > t || r.moves.some((x) => t - x < MOVE_WINDOW_S)) return;
    n.macs.delete(mac);
  }

  /** A MAC that was behind a VTEP showed up behind the TAP. */
  private localMove(n: EvpnNetwork, mac: Mac): void {
    const r = this.record(n, mac);
    if (r.remote.size > 0) {
      r.localSeq = this.seqAbove(n, mac, r);
      if (r.localSeq === undefined) return;
      this.moved(n, mac, r);
    }
    this.advertiseMac(n, mac);
  }

  /**
   * The sequence number that wins `mac` back from the routes received for it: one above the highest.
   * Above 4294967295 there is none (the field has 32 bits, and a wrapped 0 would lose to every PE):
   * the MAC is frozen where it is, as duplicate detection freezes it, and logged; undefined then.
   */
  private seqAbove(n: EvpnNetwork, mac: Mac, r: MacRecord): number | undefined {
    const highest = highestSeq(r);
    if (highest < MAX_SEQ) return highest + 1;
    const t = now();
    if (r.frozenUntil <= t) {
      r.frozenUntil = t + MOVE_WINDOW_S;
      const by = [...r.remote.values()].filter((x) => x.seq === highest).map((x) => x.vtep);
      this.log.warn(
        `evpn: network ${n.name}: ${formatMac(mac)} is advertised by ${[...new Set(by)].join(', ')} with sequence ` +
          `${MAX_SEQ}, the highest there is: it cannot be won back (a hijack?); not advertised, frozen where it is ` +
          `for ${MOVE_WINDOW_S} s`,
      );
    }
    return undefined;
  }

  /** The addresses hosts behind the TAP claimed with this MAC. */
  private localAddresses(n: EvpnNetwork, mac: Mac): string[] {
    return [...n.net.neigh.entries()].filter((e) => e.origin === 'local' && e.mac === mac).map((e) => e.ip);
  }

  /** (Re-)advertises a local MAC: a MAC-only route and one per address, with its sequence number. */
  private advertiseMac(n: EvpnNetwork, mac: Mac): void {
    const r = this.record(n, mac);
    r.localSeq ??= r.remote.size > 0 ? this.seqAbove(n, mac, r) : 0;
    if (r.localSeq === undefined) return;
    for (const ip of [undefined, ...this.localAddresses(n, mac)]) {
      this.advertise(
        n,
        macIpPath(
          n.settings.rd,
          mac,
          ip,
          this.local,
          n.settings.exportRts,
          n.vni,
          r.localSeq,
          false,
          this.irb.l3Of(n.vrf),
        ),
      );
    }
  }

  private withdrawMac(n: EvpnNetwork, mac: Mac): void {
    const r = n.macs.get(mac);
    if (r !== undefined) r.localSeq = undefined;
    const prefix = `2 ${n.settings.rd} ${formatMac(mac)} `;
    for (const [key, path] of n.advertised) {
      if (!key.startsWith(prefix)) continue;
      n.advertised.delete(key);
      this.call(() => this.gobgp.deletePath(withdrawable(path)), `withdraw ${formatMac(mac)}`);
    }
    this.tidy(n, mac);
  }

  private withdrawAddress(n: EvpnNetwork, mac: Mac, ip: string): void {
    const key = `2 ${n.settings.rd} ${formatMac(mac)} ${ip}`;
    const path = n.advertised.get(key);
    if (path === undefined) return;
    n.advertised.delete(key);
    this.call(() => this.gobgp.deletePath(withdrawable(path)), `withdraw ${formatMac(mac)} ${ip}`);
  }

  private advertise(n: EvpnNetwork, path: ApiPath): void {
    const r = readPath(path)!;
    n.advertised.set(routeKey(r), path);
    this.call(() => this.gobgp.addPath(path), `advertise ${describe(r)}`);
  }

  // ---------------------------------------------------------------- received routes

  /** A route, new or updated: installed where imported, uninstalled where an update is no longer imported. */
  private received(r: EvpnRoute, old: EvpnRoute | undefined): void {
    const moved = old !== undefined && old.rts.join() !== r.rts.join();
    for (const n of this.networks.values()) {
      if (this.imports(n, r)) this.install(n, r);
      else if (moved && this.imports(n, old)) this.uninstall(n, old);
    }
    if (moved) this.irb.withdrawn(old);
    this.irb.received(r);
  }

  /** A route withdrawn: still in the follower's table while this runs. */
  private withdrawn(key: string): void {
    const old = this.rib.routes.get(key);
    if (old === undefined) return;
    for (const n of this.networks.values()) if (this.imports(n, old)) this.uninstall(n, old);
    this.irb.withdrawn(old);
  }

  /** A gobgpd that restarted has none of our routes: all of them again (an add of one it has is harmless). */
  private advertiseAgain(): void {
    const paths = [...[...this.networks.values()].flatMap((n) => [...n.advertised.values()]), ...this.irb.advertised()];
    for (const path of paths) this.call(() => this.gobgp.addPath(path), 'advertise again');
  }

  /** Whether a network takes a route: a type-2 or type-3 with one of its import route targets. */
  private imports(n: EvpnNetwork, r: EvpnRoute): r is Exclude<EvpnRoute, { kind: 'prefix' }> {
    return r.kind !== 'prefix' && r.rts.some((rt) => n.settings.importRts.some((p) => importsTarget(p, rt)));
  }

  private install(n: EvpnNetwork, r: Exclude<EvpnRoute, { kind: 'prefix' }>): void {
    const vtep = parseIp(r.vtep);
    if (vtep === undefined || parseIpv4Address(r.vtep) === undefined) return;
    if (r.kind === 'imet') {
      n.floods.set(routeKey(r), r.vtep);
      if (n.net.holdRemote(vtep, Hold.FloodEvpn) < 0) {
        const max = n.net.remotes.maxRemotes;
        this.refuse(n, `cannot flood to ${r.vtep}: network ${n.name} has ${max} remote VTEPs, its max-remotes`, true);
      }
      return;
    }
    this.record(n, r.mac).remote.set(routeKey(r), r);
    this.settle(n, r.mac);
  }

  private uninstall(n: EvpnNetwork, r: Exclude<EvpnRoute, { kind: 'prefix' }>): void {
    const key = routeKey(r);
    if (r.kind === 'imet') {
      if (!n.floods.delete(key)) return;
      if ([...n.floods.values()].includes(r.vtep)) return; // another route of that VTEP still asks for floods
      const i = n.net.remotes.indexOf(parseIp(r.vtep)!);
      if (i > 0) n.net.releaseRemote(i, Hold.FloodEvpn);
      return;
    }
    const rec = n.macs.get(r.mac);
    if (rec === undefined || !rec.remote.delete(key)) return;
    if (
      r.ip !== undefined &&
      n.net.neigh.get(parseIp(r.ip)!)?.origin === 'evpn' &&
      ![...rec.remote.values()].some((x) => x.ip === r.ip)
    ) {
      n.net.deleteNeigh(parseIp(r.ip)!);
    }
    this.settle(n, r.mac);
    this.tidy(n, r.mac);
  }

  /** Puts `mac` where the best route (or the local sighting) says. */
  private settle(n: EvpnNetwork, mac: Mac): void {
    const t = now();
    const rec = this.record(n, mac);
    if (t < rec.frozenUntil) return;
    rec.frozenUntil = 0;
    const routes = [...rec.remote.values()];
    const entry = n.net.fdb.get(mac);
    if (routes.length === 0) {
      if (entry?.origin === 'evpn') n.net.deleteMac(mac);
      return;
    }
    // Highest sequence number first; among equals, the lowest VTEP address (RFC 7432 section 15.1).
    const best = routes.reduce((a, b) => (b.seq > a.seq || (b.seq === a.seq && ipv4Less(b.vtep, a.vtep)) ? b : a));
    if (entry?.port === LOCAL_PORT && entry.origin === 'learned') {
      const ours = rec.localSeq ?? 0;
      if (best.seq < ours || (best.seq === ours && ipv4Less(this.local, best.vtep))) return; // we stay the winner
      this.withdrawMac(n, mac);
      n.net.deleteMac(mac);
      this.moved(n, mac, rec);
    } else if (entry?.origin === 'evpn' && n.net.remotes.address(entry.port) !== best.vtep) {
      this.moved(n, mac, rec);
    }
    try {
      n.net.setStatic(mac, parseIp(best.vtep)!, 'evpn', t);
    } catch (e) {
      if (!(e instanceof TableError)) throw e;
      this.refuse(n, `cannot install ${formatMac(mac)} behind ${best.vtep}: ${e.message}`, e instanceof LimitError);
      return;
    }
    for (const r of routes)
      if (r.ip !== undefined && r.vtep === best.vtep) n.net.setNeigh(parseIp(r.ip)!, mac, 'evpn', t);
  }

  /** Counts a move; too many in the window freeze the MAC where it is, with a log line. */
  private moved(n: EvpnNetwork, mac: Mac, rec: MacRecord): void {
    const t = now();
    rec.moves = rec.moves.filter((x) => t - x < MOVE_WINDOW_S);
    rec.moves.push(t);
    if (rec.moves.length > MAX_MOVES && rec.frozenUntil <= t) {
      rec.frozenUntil = t + MOVE_WINDOW_S;
      this.log.warn(
        `evpn: network ${n.name}: ${formatMac(mac)} moved ${rec.moves.length} times in ${MOVE_WINDOW_S} s: a ` +
          `duplicate MAC? frozen where it is for ${MOVE_WINDOW_S} s`,
      );
    }
  }

  // ---------------------------------------------------------------- plumbing

  private call(op: () => Promise<unknown>, what: string): void {
    this.queue = this.queue.then(op).catch((e: Error) => {
      if (what.startsWith('withdraw')) this.withdrawFailures++;
      this.error(`evpn: could not ${what}: ${e.message}`);
    });
  }

  /** Own routes GoBGP refused to withdraw (a withdrawal vtepd wanted that did not happen). */
  withdrawFailures = 0;

  /** What the metrics need, read at scrape time: the sessions (asked of GoBGP) and the routes. */
  async metrics(): Promise<{ sessions: PeerStatus[]; routes: EvpnRouteRow[]; withdrawFailures: number }> {
    let sessions: PeerStatus[] = [];
    try {
      sessions = await this.gobgp.peers();
    } catch {
      // GoBGP not answering: no session is up, which the gauge then says
    }
    return { sessions, routes: this.routes(), withdrawFailures: this.withdrawFailures };
  }

  /** When each network last logged a route refused at a table's bound: once a minute, or a peer fills the log. */
  private readonly limitLogged = new Map<string, number>();

  /** A route refused by the network's tables: logged (at a bound, once a minute per network) and the last error. */
  private refuse(n: EvpnNetwork, why: string, atLimit: boolean): void {
    const message = `network ${n.name}: ${why}`;
    if (!atLimit) return this.error(message);
    this.lastError = message;
    const t = now();
    if (t - (this.limitLogged.get(n.name) ?? -Infinity) < 60) return;
    this.limitLogged.set(n.name, t);
    this.log.warn(`${message} (more such routes are counted in vtepctl stats, not logged, for a minute)`);
  }

  private error(message: string): void {
    this.lastError = message;
    this.log.warn(message);
  }

  async status(): Promise<EvpnStatus> {
    let sessions: PeerStatus[] = [];
    try {
      sessions = await this.gobgp.peers();
    } catch (e) {
      this.error(`evpn: GoBGP does not answer: ${(e as Error).message}`);
    }
    const networks: EvpnStatus['networks'] = {};
    const t = now();
    for (const n of this.networks.values()) {
      const adv = [...n.advertised.keys()];
      const macs = [...n.macs];
      networks[n.name] = {
        vni: n.vni,
        rd: n.settings.rd,
        'import-rt': n.settings.importRts,
        'export-rt': n.settings.exportRts,
        advertised: {
          'type-2': adv.filter((k) => k.startsWith('2 ')).length,
          'type-3': adv.filter((k) => k.startsWith('3 ')).length,
        },
        received: { 'type-2': macs.reduce((a, [, r]) => a + r.remote.size, 0), 'type-3': n.floods.size },
        frozen: macs.filter(([, r]) => r.frozenUntil > t).map(([mac]) => formatMac(mac)),
      };
    }
    return {
      asn: this.cfg.asn,
      'router-id': this.cfg.routerId,
      gobgp: this.gobgp.address,
      managed: this.gobgp.managed,
      following: this.rib.following,
      resyncs: this.rib.resyncs,
      sessions,
      networks,
      vrfs: this.irb.status(),
      rejected: Object.fromEntries(this.rib.rejected),
      'last-error': this.lastError,
    };
  }

  /**
   * The type-2 and type-3 routes of each network (or of `network`): those vtepd advertises, and those
   * received that the network imports, marked installed when its FDB (or flood list) follows them.
   */
  routes(network?: string): EvpnRouteRow[] {
    const out: EvpnRouteRow[] = [];
    for (const n of this.networks.values()) {
      if (network !== undefined && n.name !== network) continue;
      for (const path of n.advertised.values()) {
        const r = readPath(path);
        if (r !== undefined && r.kind !== 'prefix') out.push(routeRow(n.name, 'advertised', r, true));
      }
      for (const [mac, rec] of n.macs) {
        const entry = n.net.fdb.get(mac);
        const at = entry?.origin === 'evpn' ? n.net.remotes.address(entry.port) : undefined;
        for (const r of rec.remote.values()) out.push(routeRow(n.name, 'received', r, r.vtep === at));
      }
      for (const key of n.floods.keys()) {
        const r = this.rib.routes.get(key);
        if (r !== undefined && r.kind === 'imet') out.push(routeRow(n.name, 'received', r, true));
      }
    }
    return out;
  }

  /** Withdraws every route (within a second or two), then stops listening and stops a gobgpd of our own. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.unlisten();
    for (const name of [...this.networks.keys()]) this.remove(name);
    for (const name of this.irb.names()) this.irb.remove(name);
    await Promise.race([this.queue, new Promise((r) => setTimeout(r, 2000))]);
    this.rib.stop();
    this.gobgp.stop();
  }
}

function highestSeq(r: MacRecord): number {
  let seq = 0;
  for (const x of r.remote.values()) seq = Math.max(seq, x.seq);
  return seq;
}

function ipv4Less(a: string, b: string): boolean {
  return (parseIpv4Address(a) ?? 0) < (parseIpv4Address(b) ?? 0);
}

function describe(r: EvpnRoute): string {
  if (r.kind === 'prefix') return `type-5 ${r.prefix}/${r.len} rd ${r.rd}`;
  return r.kind === 'imet'
    ? `type-3 rd ${r.rd}`
    : `type-2 ${formatMac(r.mac)}${r.ip ? ` ${r.ip}` : ''} rd ${r.rd} seq ${r.seq}`;
}
