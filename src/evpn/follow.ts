// GoBGP's best paths, followed: a snapshot of the RIB, then the route stream,
// as routes received and withdrawn. When the stream ends (gobgpd restarted,
// or the connection lost), it reconnects with backoff, says so (the speaker
// advertises its routes again: a restarted gobgpd has none of them) and
// resyncs from a new snapshot: what was withdrawn meanwhile is withdrawn,
// what is new comes. Paths heard on the stream while a snapshot is read wait
// and are applied after it, so that nothing is lost or applied out of order.
import type { ApiPath } from './gobgp.ts';
import { readPath, routeKey, type EvpnRoute } from './routes.ts';
import { VTEP_PROBLEMS, type VtepProblem } from '../wire/ip-address.ts';

/** The first wait before reconnecting to GoBGP, and the longest (it doubles between). */
export const RECONNECT_FIRST_MS = 500;
export const RECONNECT_MAX_MS = 30_000;

/** What the follower needs of the BGP engine. */
export interface RibSource {
  /**
   * The best paths as they change from now on; `onEnd` hears the stream end. `registered` resolves true once the
   * engine watches for us (a snapshot taken after that misses nothing), false if the stream ended first.
   */
  watch(
    onPath: (p: ApiPath) => void,
    onEnd: (e: Error | undefined) => void,
  ): { stop: () => void; registered: Promise<boolean> };
  /** The best paths now. */
  bestPaths(): Promise<ApiPath[]>;
  /** Resolves once the engine answers again (after it restarted). */
  waitReady(): Promise<void>;
}

/** Routes whose logging is remembered (one line per route), at most. */
const LOGGED_MAX = 4096;

/** What a follower tells: routes (EVPN as vtepd speaks it, not from `local`) that came and went. */
export interface RibListener {
  /** A route, new or updated: `old` is what it was (its route targets may have changed). */
  received(r: EvpnRoute, old: EvpnRoute | undefined): void;
  withdrawn(key: string): void;
  /** Before a resync after the stream was lost: the engine may have lost our routes. */
  reconnected(): void;
  error(message: string): void;
  info(message: string): void;
}

export class RibFollower {
  /** Routes received (best paths), by route key. */
  readonly routes = new Map<string, EvpnRoute>();
  /** Whether the stream is followed now. */
  following = false;
  /** How often the stream was lost. */
  resyncs = 0;
  /** Routes refused by `check`, by reason. */
  readonly rejected = new Map<string, number>();
  private readonly logged = new Set<string>();
  private pending: ApiPath[] | undefined = [];
  private unwatch: () => void = () => {};
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private synced: Promise<void>;
  private nowSynced: () => void = () => {};

  constructor(
    private readonly source: RibSource,
    /** This VTEP's address: its own routes, reflected back, are not received. */
    private readonly local: string,
    private readonly listener: RibListener,
    /** Why a route cannot be taken (a VTEP address no VTEP can have); undefined when it can. */
    private readonly check: (r: EvpnRoute) => VtepProblem | undefined = () => undefined,
  ) {
    this.synced = new Promise((r) => (this.nowSynced = r));
    this.follow(0);
  }

  /** Resolves once a snapshot was read and the stream is open (again). */
  whenFollowing(): Promise<void> {
    return this.synced;
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    this.unwatch();
  }

  private follow(delayMs: number): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.resync().catch((e: Error) => {
        if (this.stopped) return;
        this.unwatch();
        this.listener.error(`evpn: cannot follow GoBGP's routes yet: ${e.message}`);
        this.follow(Math.min(RECONNECT_MAX_MS, Math.max(RECONNECT_FIRST_MS, delayMs * 2)));
      });
    }, delayMs);
  }

  private async resync(): Promise<void> {
    if (this.stopped) return;
    this.pending = [];
    if (this.resyncs > 0) {
      await this.source.waitReady();
      this.listener.reconnected();
    }
    const { stop, registered } = this.source.watch(
      (p) => this.onPath(p),
      (e) => this.onEnd(e),
    );
    this.unwatch = stop;
    // The snapshot only once the stream is in place: GoBGP registers a watch in its main loop, between UPDATEs;
    // a snapshot read before that misses what came in between (a VTEP started under a route reflector's
    // initial table lacked 78 routes that way, for good).
    if (!(await registered) || this.stopped) return; // ended first: onEnd follows again
    const snapshot = await this.source.bestPaths();
    if (this.stopped) return;
    const now = new Map<string, EvpnRoute>();
    for (const p of snapshot) {
      const r = this.read(p);
      if (r !== undefined) now.set(routeKey(r), r);
    }
    for (const key of [...this.routes.keys()]) if (!now.has(key)) this.withdraw(key);
    for (const r of now.values()) this.receive(r);
    const waited = this.pending;
    this.pending = undefined;
    for (const p of waited) this.onPath(p);
    this.following = true;
    this.nowSynced();
    if (this.resyncs > 0) this.listener.info(`evpn: following GoBGP's routes again: ${now.size} received, resynced`);
  }

  private read(p: ApiPath): EvpnRoute | undefined {
    const r = readPath(p);
    if (r === undefined || r.vtep === this.local) return undefined; // not EVPN as we speak it, or our own
    if (p.is_withdraw) return r; // a withdrawal removes what was taken, if anything
    const why = this.check(r);
    if (why === undefined) return r;
    this.rejected.set(why, (this.rejected.get(why) ?? 0) + 1);
    const key = routeKey(r);
    if (!this.logged.has(key) && this.logged.size < LOGGED_MAX) {
      this.logged.add(key);
      this.listener.error(`evpn: route ${key} ignored: its VTEP ${r.vtep} ${VTEP_PROBLEMS[why]}`);
    }
    return undefined;
  }

  private onPath(p: ApiPath): void {
    if (this.pending !== undefined) {
      this.pending.push(p); // a snapshot is being read: after it
      return;
    }
    const r = this.read(p);
    if (r === undefined) return;
    if (p.is_withdraw) this.withdraw(routeKey(r));
    else this.receive(r);
  }

  private receive(r: EvpnRoute): void {
    const key = routeKey(r);
    const old = this.routes.get(key);
    this.routes.set(key, r);
    this.listener.received(r, old);
  }

  private withdraw(key: string): void {
    if (!this.routes.has(key)) return;
    this.listener.withdrawn(key);
    this.routes.delete(key);
  }

  private onEnd(e: Error | undefined): void {
    if (this.stopped) return;
    this.following = false;
    this.synced = new Promise((r) => (this.nowSynced = r));
    this.resyncs++;
    this.listener.error(`evpn: GoBGP's route stream ended${e ? `: ${e.message}` : ''}; reconnecting`);
    this.follow(RECONNECT_FIRST_MS);
  }
}
