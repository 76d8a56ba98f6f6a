// One overlay network: a TAP on one side, a tunnel (VNI or GRE key) and its
// remote VTEPs on the other, and the state the switch keeps for it.
//
// Its tables change while it runs, from the config (at start and on
// reload), from vtepctl and from EVPN, always through the operations below,
// which keep the tables consistent with each other and report each change
// to `events`: a given FDB entry holds its remote; a remote that goes takes
// every MAC behind it along (Neutron's fdb_remove).
import { SendQueue } from '../datapath/batch.ts';
import type { Encap, Tunnel } from '../tunnel/tunnel.ts';
import type { Mac } from '../wire/mac.ts';
import { Counters } from './counters.ts';
import { NO_EVENTS, type SwitchEvents } from './events.ts';
import { Fdb, LOCAL_PORT, UNKNOWN_PORT, type FdbEntry, type GivenOrigin } from './fdb.ts';
import { NeighTable, type NeighEntry, type NeighOrigin, type SnoopedOrigin } from './neigh.ts';
import { Hold, RemoteTable } from './remotes.ts';
import { LimitError, TableError } from './table-error.ts';
import type { TapHook, TunnelHook } from './hooks.ts';
import { responderHook, snoopLocalHook } from './responder.ts';
import { Drop } from './drop.ts';
import type { Forwarding } from './verdict.ts';

export interface NetworkSpec {
  name: string;
  tunnel: Tunnel;
  encap: Encap;
  /** Outer TTL and DF, as the sender sets them (captures show them). */
  ttl: number;
  df: boolean | 'inherit';
  /** The underlay is IPv6: each packet gets a flow label from its inner flow (RFC 6438). Default false. */
  ipv6?: boolean;
  /** The underlay's MTU: each remote's path MTU until ICMP says less (default: no limit but IP's). */
  underlayMtu?: number;
  /** Accept (and learn) tunnel packets from VTEPs that are not remotes. */
  acceptAnyRemote: boolean;
  ageing: number;
  maxMacs: number;
  /** Answer ARP requests and NS for addresses in the neighbour table on the TAP. */
  arpResponder: boolean;
  /** Fill the neighbour table from ARP and unsolicited NA that arrive from tunnels. */
  arpSnoop: boolean;
  /** Learn source MACs of frames from tunnels (off where a control plane says where MACs are). */
  learning: boolean;
  /** How many frames one batch can hand this network for its TAP. */
  batchSize: number;
  /**
   * The longest frame from a tunnel the TAP is given: its MTU plus an Ethernet
   * header and one VLAN tag. Anything longer is not one the hosts behind it
   * could have been sent (default: no limit but the slot's).
   */
  maxFrame?: number;
}

export { LimitError, TableError };

export class Network {
  readonly name: string;
  readonly tunnel: Tunnel;
  readonly encap: Encap;
  ttl: number;
  df: boolean | 'inherit';
  /** Flow labels on the outer IPv6 header. */
  readonly ipv6: boolean;
  /**
   * What a frame becomes on the underlay besides its own bytes: tunnel header, UDP header the kernel adds, outer
   * IP header.
   */
  readonly outerLen: number;
  acceptAnyRemote: boolean;
  arpSnoop: boolean;
  learning: boolean;
  /** See NetworkSpec.maxFrame; a restart of the network changes it (a new MTU). */
  readonly maxFrame: number;
  readonly fdb: Fdb;
  readonly remotes = new RemoteTable();
  readonly neigh: NeighTable;
  readonly counters = new Counters();
  /** Frames for this network's TAP: decapsulated ones, routed ones, or the hooks' answers; written after each batch. */
  readonly toTap: SendQueue;
  /**
   * Tunnel packets for this network's sender (its VNI or key), from its own TAP or routed into it; sent after
   * each batch.
   */
  readonly toTunnel: SendQueue;
  /** What runs on each frame from the TAP before it is bridged, in order (hooks.ts); rebuilt when a setting changes. */
  tapHooks: readonly TapHook[] = [];
  /** Hooks of another part of the switch: the router's, for a network with a gateway. */
  private extraHooks: readonly TapHook[] = [];
  /** What frames from tunnels meet before the TAP (the router's, for a network with a gateway). */
  tunnelHook: TunnelHook | undefined = undefined;
  /** Set while a batch has frames queued for this network (Forwarding.queued). */
  pendingIn: Forwarding | undefined = undefined;
  events: SwitchEvents = NO_EVENTS;
  /** fdb.refused when refusals were last reported. */
  private refusedReported = 0;
  private responding: boolean;
  private snoopingLocal = false;
  /**
   * MACs that moved here from an EVPN entry during a batch, with the remote they were behind: applied after it
   * (settle).
   */
  private readonly displacedFrom: [Mac, number][] = [];

  constructor(spec: NetworkSpec) {
    this.name = spec.name;
    this.tunnel = spec.tunnel;
    this.encap = spec.encap;
    this.ttl = spec.ttl;
    this.df = spec.df;
    this.ipv6 = spec.ipv6 ?? false;
    this.outerLen = spec.encap.headerLen + spec.encap.kernelHeaderLen + (this.ipv6 ? 40 : 20);
    this.remotes.setUnderlayMtu(spec.underlayMtu ?? 65535);
    this.acceptAnyRemote = spec.acceptAnyRemote;
    this.responding = spec.arpResponder;
    this.arpSnoop = spec.arpSnoop;
    this.learning = spec.learning;
    this.maxFrame = spec.maxFrame ?? Infinity;
    this.fdb = new Fdb(spec.ageing, spec.maxMacs);
    this.neigh = new NeighTable(spec.maxMacs);
    this.toTap = new SendQueue(spec.batchSize, Buffer.alloc(0));
    this.toTunnel = new SendQueue(spec.batchSize, Buffer.alloc(0));
    this.rebuildHooks();
  }

  // ---------------------------------------------------------------- hooks

  /** Answer ARP requests and NS for addresses in the neighbour table on the TAP. */
  get arpResponder(): boolean {
    return this.responding;
  }

  set arpResponder(on: boolean) {
    this.responding = on;
    this.rebuildHooks();
  }

  /** Record the addresses the hosts behind the TAP claim (for EVPN MAC/IP routes). */
  get snoopLocal(): boolean {
    return this.snoopingLocal;
  }

  set snoopLocal(on: boolean) {
    this.snoopingLocal = on;
    this.rebuildHooks();
  }

  /**
   * Hooks of another part of the switch (the router's), run after local
   * snooping (what a host says of itself is recorded first) and before the
   * responder. Between batches only.
   */
  setExtraHooks(hooks: readonly TapHook[]): void {
    this.extraHooks = hooks;
    this.rebuildHooks();
  }

  private rebuildHooks(): void {
    this.tapHooks = [
      ...(this.snoopingLocal ? [snoopLocalHook] : []),
      ...this.extraHooks,
      ...(this.responding ? [responderHook] : []),
    ];
  }

  // ---------------------------------------------------------------- queues

  /** Queues the frame at buf[off, off+len) for this network's TAP; `from` names its remote (0: this host). */
  writeToTap(buf: Buffer, off: number, len: number, from: number, f: Forwarding): void {
    const q = this.toTap;
    if (q.count === 0) q.arena = buf;
    if (!q.push(off, len, from)) {
      this.counters.drop(Drop.TxFailed);
      return;
    }
    f.queued(this);
  }

  // ---------------------------------------------------------------- remotes

  /** Adds `hold` to the remote at `addr` (16 bytes); returns its index, -1 if the table refused it. */
  holdRemote(addr: Uint8Array, hold: Hold): number {
    const known = this.remotes.indexOf(addr) >= 0 || (hold === Hold.Group && this.remotes.group !== 0);
    const r = this.remotes.hold(addr, hold);
    if (r > 0 && !known && hold !== Hold.Group && this.events.active) this.events.remote(this, 'added', r);
    return r;
  }

  /** Takes `hold` away from remote r; if that removes it, the MACs learned behind it go too. */
  releaseRemote(r: number, hold: Hold): void {
    if (!this.remotes.has(r, hold)) return;
    const goes = this.remotes.holdsOnly(r, hold);
    if (goes) this.flushBehind(r, 'dynamic');
    if (goes && hold !== Hold.Group && this.events.active) this.events.remote(this, 'deleted', r);
    this.remotes.release(r, hold);
  }

  /** Removes remote r and every MAC learned or given behind it, whatever holds it. */
  forgetRemote(r: number): void {
    if (!this.remotes.live(r)) return;
    if (this.events.active) this.events.remote(this, 'deleted', r);
    for (const [mac, e] of this.fdb.flush(r, 'all'))
      if (this.events.active) this.events.fdb(this, 'deleted', mac, e.port, e.origin);
    this.remotes.drop(r);
  }

  // ---------------------------------------------------------------- FDB

  /**
   * A given entry: `mac` behind the remote at `addr` (16 bytes), which it holds.
   * With `replace` false, refuses a MAC that already has a given entry. A MAC
   * behind the local TAP is refused: it cannot be behind a VTEP too.
   */
  setStatic(mac: Mac, addr: Uint8Array, origin: GivenOrigin, now: number, replace = true): number {
    const old = this.fdb.get(mac);
    if (old !== undefined && old.port === LOCAL_PORT)
      throw new TableError(`is behind the local TAP of network ${this.name}; it cannot be behind a remote VTEP too`);
    if (old !== undefined && !replace && old.origin !== 'learned') {
      throw new TableError(
        `already has an entry in network ${this.name} (dst ${this.remotes.address(old.port)}, origin ` +
          `${old.origin}); use fdb replace to move it`,
      );
    }
    if (this.fdb.refuseGiven(mac, origin)) {
      const kind = origin === 'evpn' ? 'evpn' : 'static';
      throw new LimitError(
        `cannot be added: network ${this.name} has ${this.fdb.givenCount(kind)} ${kind === 'evpn' ? 'EVPN' : 'given'} ` +
          `FDB entries, its max-${kind}-macs; raise max-${kind}-macs or remove some`,
      );
    }
    const known = this.remotes.indexOf(addr) >= 0;
    // The same entry again (a MAC/IP route beside the MAC-only one, a config reloaded): nothing changes, nothing told.
    if (old !== undefined && old.origin === origin && known && old.port === this.remotes.indexOf(addr)) return old.port;
    const r = this.remotes.reference(addr);
    if (r < 0) {
      throw new LimitError(
        `cannot be added: network ${this.name} has ${this.remotes.maxRemotes} remote VTEPs, its max-remotes; ` +
          'raise max-remotes or remove some',
      );
    }
    if (!known && this.events.active) this.events.remote(this, 'added', r);
    this.removeEntry(mac, false);
    this.fdb.addStatic(mac, r, now, origin);
    if (this.events.active) this.events.fdb(this, 'added', mac, r, origin);
    return r;
  }

  /** Removes the entry of `mac`, learned or given; returns it (undefined if there was none). */
  deleteMac(mac: Mac): FdbEntry | undefined {
    return this.removeEntry(mac, true);
  }

  /**
   * Removes entries: learned ones, given ones or both, behind remote `port` (or
   * any, local MACs included); returns how many.
   */
  flushFdb(which: 'dynamic' | 'static' | 'all', port?: number, limit = Infinity): number {
    return this.flushEntries(this.fdb.flush(port, which, limit));
  }

  /**
   * The data path saw `mac`, which had an EVPN entry behind remote `was`,
   * behind the TAP: it moved here. What that takes away (remote `was`, if
   * nothing else holds it) goes after the batch (settle()): packets queued
   * for it in this batch still name it.
   */
  displaced(mac: Mac, was: number): void {
    this.displacedFrom.push([mac, was]);
  }

  /** After a batch was sent: the table changes it asked for. */
  settle(): void {
    if (this.displacedFrom.length === 0) return;
    for (const [mac, was] of this.displacedFrom) {
      if (this.events.active) this.events.fdb(this, 'moved', mac, LOCAL_PORT, 'learned', was);
      if (this.remotes.live(was)) this.unreference(was);
    }
    this.displacedFrom.length = 0;
  }

  // ---------------------------------------------------------------- neighbours

  setNeigh(ip: Uint8Array, mac: Mac, origin: Exclude<NeighOrigin, SnoopedOrigin>, now: number): void {
    // The same entry again (EVPN settles a MAC at each of its routes' changes, a config reloaded): nothing told.
    const old = this.neigh.get(ip);
    if (old !== undefined && old.mac === mac && old.origin === origin) {
      old.seen = now;
      return;
    }
    this.neigh.set(ip, mac, origin, now);
    if (this.events.active) this.events.neigh(this, 'added', this.neigh.get(ip)!);
  }

  deleteNeigh(ip: Uint8Array): NeighEntry | undefined {
    const e = this.neigh.remove(ip);
    if (e !== undefined && this.events.active) this.events.neigh(this, 'deleted', e);
    return e;
  }

  // ---------------------------------------------------------------- time

  /** Once a second: ages learned MACs and snooped neighbours, reports refusals. */
  tick(now: number): void {
    const events = this.events;
    this.fdb.run(now, events.active ? (mac, e) => events.fdb(this, 'aged', mac, e.port, e.origin) : undefined);
    for (const e of this.neigh.run(now, this.fdb.ageing)) if (events.active) events.neigh(this, 'aged', e);
    const refused = this.fdb.refused - this.refusedReported;
    if (refused > 0) {
      this.refusedReported = this.fdb.refused;
      if (events.active) events.refused(this, refused);
    }
    for (const r of this.remotes.expirePmtu(now)) if (events.active) events.pmtu(this, r);
  }

  /**
   * An ICMP error said packets to `addr` (16 bytes) of more than `mtu` bytes do not arrive; returns the remote's
   * new path MTU, 0 if unchanged.
   */
  lowerPmtu(addr: Uint8Array, mtu: number, now: number): number {
    const r = this.remotes.indexOf(addr);
    const m = r < 0 ? 0 : this.remotes.lowerPmtu(r, mtu, now);
    if (m !== 0 && this.events.active) this.events.pmtu(this, r);
    return m;
  }

  /**
   * A copy of this network's tables, counters zeroed and no one listening,
   * for `vtepctl trace`: the data path's own functions run on it, and what
   * they change shows what they would have done.
   */
  clone(): Network {
    const n = Object.create(Network.prototype) as Network;
    Object.assign(n, this, {
      encap: this.encap.clone(),
      fdb: this.fdb.clone(),
      remotes: this.remotes.clone(),
      neigh: this.neigh.clone(),
      counters: new Counters(),
      toTap: new SendQueue(this.toTap.capacity, Buffer.alloc(0)),
      toTunnel: new SendQueue(this.toTunnel.capacity, Buffer.alloc(0)),
      pendingIn: undefined,
      displacedFrom: [],
      events: NO_EVENTS,
    });
    n.remotes.counters.fill(0);
    return n;
  }

  // ---------------------------------------------------------------- internals

  private removeEntry(mac: Mac, report: boolean): FdbEntry | undefined {
    const e = this.fdb.delete(mac);
    if (e === undefined) return undefined;
    if (report && this.events.active) this.events.fdb(this, 'deleted', mac, e.port, e.origin);
    if (e.origin !== 'learned' && e.port !== UNKNOWN_PORT) this.unreference(e.port);
    return e;
  }

  /** A given entry no longer points at r: if nothing else holds r, it goes with the MACs learned behind it. */
  private unreference(r: number): void {
    if (this.remotes.referencedOnly(r)) {
      this.flushBehind(r, 'dynamic');
      if (this.events.active) this.events.remote(this, 'deleted', r);
    }
    this.remotes.unreference(r);
  }

  private flushBehind(r: number, which: 'dynamic' | 'static' | 'all'): number {
    return this.flushEntries(this.fdb.flush(r, which));
  }

  private flushEntries(gone: [Mac, FdbEntry][]): number {
    for (const [mac, e] of gone) {
      if (this.events.active) this.events.fdb(this, 'deleted', mac, e.port, e.origin);
      if (e.origin !== 'learned' && this.remotes.live(e.port)) this.unreference(e.port);
    }
    return gone.length;
  }
}
