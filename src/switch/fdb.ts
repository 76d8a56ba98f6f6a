// The MAC learning table of one network (its forwarding database).
//
// A MAC maps to a port: 0 is the network's TAP (a local MAC), n > 0 is remote
// VTEP n of the network's RemoteTable. Lookups that find nothing, and group
// (broadcast/multicast) destinations, make the caller flood.
//
// Complications, and how they are handled:
// - Ageing. A learned entry that has not been seen for `ageing` seconds is
//   removed (default 300 s, as in the Linux bridge and Open vSwitch). The Map's
//   insertion order is the LRU list: refreshing an entry deletes and re-inserts
//   it, so `run()` removes entries from the old end and stops at the first one
//   still valid (a once-a-second tick calls it). To keep the per-packet cost
//   to a read, an entry is refreshed at most once a second (as Open vSwitch
//   does), so idleness is measured to within a second.
// - Moves. A MAC seen on another port moves there at once (a VM migrated, or a
//   host was re-cabled); moves are counted, since many of them mean a loop.
// - Size. At most `maxMacs` learned entries. When full, new MACs are refused
//   and counted rather than evicting: a flood of random source MACs must not
//   push out the hosts that are really there.
// - Given entries (from the config, vtepctl or EVPN) never age and are never
//   moved by learning; they live in their own Map, outside the LRU order, and
//   remember where they came from. They are bounded too, per kind: those an
//   operator or controller gives (config, vtepctl) at `maxStaticMacs`, those
//   BGP peers give at `maxEvpnMacs`; one more is refused and counted.
import type { Mac } from '../wire/mac.ts';

export const LOCAL_PORT = 0;
/** What lookup() returns for a MAC it does not know: flood. */
export const UNKNOWN_PORT = -1;

export const DEFAULT_AGEING_S = 300;
export const DEFAULT_MAX_MACS = 8192;
/**
 * Given entries per network (config and vtepctl; EVPN apart): a controller programs the MACs of a
 * network's hosts, thousands in a large tenant; 65536 is far beyond that and keeps a network's
 * tables within tens of MB and its listing within a second.
 */
export const DEFAULT_MAX_STATIC_MACS = 65_536;
export const DEFAULT_MAX_EVPN_MACS = 65_536;
const REFRESH_INTERVAL_S = 1;

/**
 * What learn() did. Displaced: the MAC had an EVPN entry elsewhere and was now
 * seen behind the TAP; a host moved here, and the local sighting wins (EVPN MAC
 * mobility, RFC 7432 section 15, then tells the fabric).
 */
export const Learned = { Same: 0, New: 1, Moved: 2, Refused: 3, Static: 4, Displaced: 5 } as const;
export type Learned = (typeof Learned)[keyof typeof Learned];

/** Where an entry came from: learned from traffic, or given by the config, vtepctl or EVPN. */
export type Origin = 'learned' | 'config' | 'vtepctl' | 'evpn';
export type GivenOrigin = Exclude<Origin, 'learned'>;

export interface FdbEntry {
  port: number;
  /** Monotonic seconds when last seen. */
  seen: number;
  origin: Origin;
}

export class Fdb {
  private readonly dynamic = new Map<Mac, FdbEntry>();
  private readonly statics = new Map<Mac, FdbEntry>();
  learned = 0;
  aged = 0;
  moved = 0;
  refused = 0;
  /** Given entries refused because their kind was at its bound. */
  refusedStatic = 0;
  refusedEvpn = 0;
  maxStaticMacs = DEFAULT_MAX_STATIC_MACS;
  maxEvpnMacs = DEFAULT_MAX_EVPN_MACS;
  /** Given entries of origin evpn (the others are config and vtepctl). */
  private evpnCount = 0;
  /** The port a MAC was behind before the last move learn() reported. */
  movedFrom = UNKNOWN_PORT;

  constructor(
    public ageing = DEFAULT_AGEING_S,
    public maxMacs = DEFAULT_MAX_MACS,
  ) {}

  /** A given entry: `mac` behind `port`; replaces a learned one. */
  addStatic(mac: Mac, port: number, now: number, origin: GivenOrigin): void {
    this.dynamic.delete(mac);
    this.forgetGiven(this.statics.get(mac));
    this.statics.set(mac, { port, seen: now, origin });
    if (origin === 'evpn') this.evpnCount++;
  }

  /** Given entries of a kind: 'evpn', or 'static' (config and vtepctl). */
  givenCount(kind: 'static' | 'evpn'): number {
    return kind === 'evpn' ? this.evpnCount : this.statics.size - this.evpnCount;
  }

  /**
   * Whether a given entry of `origin` for `mac` would go beyond its kind's bound (a new MAC of that
   * kind, not one it replaces); counts the refusal when it would.
   */
  refuseGiven(mac: Mac, origin: GivenOrigin): boolean {
    const evpn = origin === 'evpn';
    const old = this.statics.get(mac);
    if (old !== undefined && (old.origin === 'evpn') === evpn) return false;
    if (this.givenCount(evpn ? 'evpn' : 'static') < (evpn ? this.maxEvpnMacs : this.maxStaticMacs)) return false;
    if (evpn) this.refusedEvpn++;
    else this.refusedStatic++;
    return true;
  }

  private forgetGiven(e: FdbEntry | undefined): void {
    if (e?.origin === 'evpn') this.evpnCount--;
  }

  /** Removes the entry of `mac`, learned or given; returns it. */
  delete(mac: Mac): FdbEntry | undefined {
    const e = this.statics.get(mac) ?? this.dynamic.get(mac);
    if (e === undefined) return undefined;
    if (this.statics.delete(mac)) this.forgetGiven(e);
    this.dynamic.delete(mac);
    return e;
  }

  /** The entry of `mac`, learned or given. */
  get(mac: Mac): FdbEntry | undefined {
    return this.statics.get(mac) ?? this.dynamic.get(mac);
  }

  isStatic(mac: Mac): boolean {
    return this.statics.has(mac);
  }

  /**
   * Removes the entries behind `port` (every port if undefined), learned ones,
   * given ones or both, at most `limit` of them; returns them (given ones hold a
   * reference on their remote).
   */
  flush(port?: number, which: 'dynamic' | 'static' | 'all' = 'all', limit = Infinity): [Mac, FdbEntry][] {
    const gone: [Mac, FdbEntry][] = [];
    for (const [map, kind] of [
      [this.dynamic, 'dynamic'],
      [this.statics, 'static'],
    ] as const) {
      if (which !== 'all' && which !== kind) continue;
      for (const [mac, e] of map) {
        if (gone.length >= limit) return gone;
        if (port !== undefined && e.port !== port) continue;
        map.delete(mac);
        if (kind === 'static') this.forgetGiven(e);
        gone.push([mac, e]);
      }
    }
    return gone;
  }

  /** Records that `mac` was seen as a source on `port`. The caller refuses group MACs. */
  learn(mac: Mac, port: number, now: number): Learned {
    const fixed = this.statics.get(mac);
    if (fixed !== undefined) {
      if (fixed.origin !== 'evpn' || port !== LOCAL_PORT || fixed.port === LOCAL_PORT) {
        fixed.seen = now;
        return Learned.Static;
      }
      this.statics.delete(mac);
      this.forgetGiven(fixed);
      this.movedFrom = fixed.port;
      this.dynamic.set(mac, { port, seen: now, origin: 'learned' });
      this.moved++;
      return Learned.Displaced;
    }
    const e = this.dynamic.get(mac);
    if (e === undefined) {
      if (this.dynamic.size >= this.maxMacs) {
        this.refused++;
        return Learned.Refused;
      }
      this.dynamic.set(mac, { port, seen: now, origin: 'learned' });
      this.learned++;
      return Learned.New;
    }
    if (e.port !== port) {
      this.movedFrom = e.port;
      e.port = port;
      this.touch(mac, e, now);
      this.moved++;
      return Learned.Moved;
    }
    if (now - e.seen >= REFRESH_INTERVAL_S) this.touch(mac, e, now);
    return Learned.Same;
  }

  /** The port `mac` is behind, or UNKNOWN_PORT. */
  lookup(mac: Mac): number {
    const e = this.statics.get(mac) ?? this.dynamic.get(mac);
    return e === undefined ? UNKNOWN_PORT : e.port;
  }

  /** Removes entries idle for `ageing` seconds; calls `onAged` for each (if given); returns how many. */
  run(now: number, onAged?: (mac: Mac, e: FdbEntry) => void): number {
    let n = 0;
    for (const [mac, e] of this.dynamic) {
      if (now - e.seen < this.ageing) break;
      this.dynamic.delete(mac);
      onAged?.(mac, e);
      n++;
    }
    this.aged += n;
    return n;
  }

  get size(): number {
    return this.dynamic.size + this.statics.size;
  }

  /** Every entry, given ones first, for `vtepctl fdb show`. */
  *entries(): IterableIterator<[Mac, FdbEntry, boolean]> {
    for (const [mac, e] of this.statics) yield [mac, e, true];
    for (const [mac, e] of this.dynamic) yield [mac, e, false];
  }

  /** A copy with the same entries and counters, for `vtepctl trace` to run the data path on. */
  clone(): Fdb {
    const f = new Fdb(this.ageing, this.maxMacs);
    for (const [mac, e] of this.dynamic) f.dynamic.set(mac, { ...e });
    for (const [mac, e] of this.statics) f.statics.set(mac, { ...e });
    f.evpnCount = this.evpnCount;
    f.maxStaticMacs = this.maxStaticMacs;
    f.maxEvpnMacs = this.maxEvpnMacs;
    f.learned = this.learned;
    f.aged = this.aged;
    f.moved = this.moved;
    f.refused = this.refused;
    return f;
  }

  private touch(mac: Mac, e: FdbEntry, now: number): void {
    e.seen = now;
    this.dynamic.delete(mac);
    this.dynamic.set(mac, e);
  }
}
