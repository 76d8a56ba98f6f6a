// The status page's data: what `GET /api/status` serves beside /metrics, and
// the page itself (status-page/: one HTML file, its script and its styles,
// served as they are; nothing is fetched from anywhere else).
//
// The JSON is made of the same objects the control socket answers
// (`vtepctl stats --json`, `remote show --json`, `evpn show --json`, the MAC
// and neighbour tables), through the same verbs, so the page can never show
// something vtepctl would not; plus rates: the counters sampled once a second
// into rings of five minutes, per network and per remote VTEP. Nothing is
// stored on disk; reading the page changes nothing.
import { readFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import { VERSION } from '../host/version.ts';
import { answer } from './commands.ts';
import type { DaemonView } from './daemon-view.ts';
import type { FdbRow, NeighRow, RemoteRow, StatsReport } from './protocol.ts';
import { verbNamed } from './registry.ts';

/** Seconds of rate history kept (and drawn). */
export const HISTORY_S = 300;
/** Rows of the MAC and neighbour tables sent at most: the page searches these (the counts say how many there are). */
export const STATUS_ROWS = 5000;
/** Remote VTEPs per network with a rate history: a fabric's picture needs no more. */
const REMOTES_WITH_HISTORY = 64;

/** Rates of one network or remote: packets and bits per second each way, oldest first. */
export interface RateHistory {
  rxPps: number[];
  rxBps: number[];
  txPps: number[];
  txBps: number[];
}

/** A ring of HISTORY_S samples of four rates. */
class Ring {
  private readonly v = [0, 1, 2, 3].map(() => new Float64Array(HISTORY_S));
  private at = 0;
  private n = 0;
  /** The counters at the last sample: packets and bytes in, packets and bytes out. */
  last: number[] | undefined;

  push(rates: number[]): void {
    for (let k = 0; k < 4; k++) this.v[k][this.at] = rates[k];
    this.at = (this.at + 1) % HISTORY_S;
    this.n = Math.min(HISTORY_S, this.n + 1);
  }

  toJSON(): RateHistory {
    const series = (k: number) =>
      Array.from({ length: this.n }, (_, i) => this.v[k][(this.at - this.n + i + HISTORY_S) % HISTORY_S]);
    return { rxPps: series(0), rxBps: series(1), txPps: series(2), txBps: series(3) };
  }
}

/** The rates the page draws, sampled by the daemon once a second while the status page is served. */
export class StatusHistory {
  private readonly rings = new Map<string, Ring>();
  private lastAt = 0;

  /** Takes one sample of the counters in `stats`, at `now` (seconds). */
  sample(now: number, stats: StatsReport): void {
    const dt = this.lastAt === 0 ? 0 : now - this.lastAt;
    this.lastAt = now;
    const seen = new Set<string>();
    const take = (key: string, counters: number[]) => {
      seen.add(key);
      let r = this.rings.get(key);
      if (r === undefined) this.rings.set(key, (r = new Ring()));
      const prev = r.last;
      r.last = counters;
      if (prev === undefined || dt <= 0) return;
      // A counter that went back (a network restarted by a reload) starts again from 0.
      const rate = (k: number, scale: number) => Math.max(0, ((counters[k] - prev[k]) * scale) / dt);
      r.push([rate(0, 1), rate(1, 8), rate(2, 1), rate(3, 8)]);
    };
    for (const [name, n] of Object.entries(stats.networks)) {
      const c = n.counters;
      take(`network ${name}`, [
        c['tunnel-rx-packets'],
        c['tunnel-rx-bytes'],
        c['tunnel-tx-packets'],
        c['tunnel-tx-bytes'],
      ]);
      for (const [ip, r] of Object.entries(n.remotes).slice(0, REMOTES_WITH_HISTORY))
        take(`remote ${name} ${ip}`, [r['rx-packets'], r['rx-bytes'], r['tx-packets'], r['tx-bytes']]);
    }
    for (const key of this.rings.keys()) if (!seen.has(key)) this.rings.delete(key);
  }

  /** Per network, and per network and remote ("NETWORK IP"). */
  toJSON(): { networks: Record<string, RateHistory>; remotes: Record<string, RateHistory> } {
    const networks: Record<string, RateHistory> = {};
    const remotes: Record<string, RateHistory> = {};
    for (const [key, r] of this.rings) {
      const [kind, ...rest] = key.split(' ');
      (kind === 'network' ? networks : remotes)[rest.join(' ')] = r.toJSON();
    }
    return { networks, remotes };
  }
}

/** What `GET /api/status` answers. */
export interface StatusReport {
  version: string;
  pid: number;
  /** The user vtepd runs as (root, or `user:` after it dropped privileges). */
  user: string;
  /** Seconds since the daemon started. */
  uptime: number;
  local: string;
  /** As `vtepctl stats --json`. */
  stats: StatsReport;
  /** As `vtepctl remote show --json`. */
  remotes: RemoteRow[];
  /** As `vtepctl evpn show --json`, or null without BGP EVPN. */
  evpn: unknown;
  /** As `vtepctl fdb show --json`, the first STATUS_ROWS rows; `fdbTotal` counts them all. */
  fdb: FdbRow[];
  fdbTotal: number;
  /** As `vtepctl neigh show --json`, the first STATUS_ROWS rows. */
  neigh: NeighRow[];
  neighTotal: number;
  /** Rates of the last HISTORY_S seconds, a sample a second. */
  rates: ReturnType<StatusHistory['toJSON']>;
}

/** A read-only verb's answer data, through the control socket's own handler. */
async function verbData<T>(d: DaemonView, cmd: string): Promise<T | undefined> {
  const verb = verbNamed(cmd)!;
  const reply = await answer(d, verb, { cmd });
  return 'ok' in reply && reply.ok ? (reply.data as T) : undefined;
}

/** The first `max` rows of an iterable answer, and how many there are. */
function firstRows<T>(rows: Iterable<T> | undefined, max: number): [T[], number] {
  const out: T[] = [];
  let n = 0;
  for (const r of rows ?? []) if (n++ < max) out.push(r);
  return [out, n];
}

export async function statusReport(d: DaemonView, history: StatusHistory, startedAt: number): Promise<StatusReport> {
  const [fdb, fdbTotal] = firstRows(await verbData<Iterable<FdbRow>>(d, 'fdb-show'), STATUS_ROWS);
  const [neigh, neighTotal] = firstRows(await verbData<Iterable<NeighRow>>(d, 'neigh-show'), STATUS_ROWS);
  return {
    version: VERSION,
    pid: process.pid,
    user: userInfo().username,
    uptime: Math.round((Date.now() - startedAt) / 1000),
    local: d.localText,
    stats: (await verbData<StatsReport>(d, 'stats'))!,
    remotes: [...((await verbData<Iterable<RemoteRow>>(d, 'remote-show')) ?? [])],
    evpn: d.evpn === undefined ? null : ((await verbData(d, 'evpn-show')) ?? null),
    fdb,
    fdbTotal,
    neigh,
    neighTotal,
    rates: history.toJSON(),
  };
}

/** The page's files: name -> content type. Anything else is not served. */
const ASSETS: Record<string, string> = {
  'index.html': 'text/html; charset=utf-8',
  'status.js': 'text/javascript; charset=utf-8',
  'status.css': 'text/css; charset=utf-8',
};

/** The page's files, read once (they ship beside this module: src/control/status-page, or dist/ after a build). */
export function statusAssets(): Map<string, { type: string; body: Buffer }> {
  const out = new Map<string, { type: string; body: Buffer }>();
  for (const [name, type] of Object.entries(ASSETS))
    out.set(name, { type, body: readFileSync(new URL(`./status-page/${name}`, import.meta.url)) });
  return out;
}
