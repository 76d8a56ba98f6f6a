// A network's state as plain data, for a daemon that takes over from another
// (`vtepctl upgrade`): what the config does not say. The successor builds the
// network from the same config, then restores on top of it the remotes and
// entries added at run time, the learned MACs and snooped addresses with
// their ages, and the counters, so that nothing is flooded or forgotten and
// `vtepctl stats` carries on. Ages, not times: each process has its own clock.
import { parseIp } from '../wire/ip-address.ts';
import { formatMac, parseMac } from '../wire/mac.ts';
import { REMOTE_SLOTS } from './counters.ts';
import { LOCAL_PORT, type Origin } from './fdb.ts';
import type { Network } from './network.ts';
import type { NeighOrigin } from './neigh.ts';
import { Hold } from './remotes.ts';

/** Holds that only run time gives (the config's come back from the config). */
const RUNTIME_HOLDS = [Hold.FloodCtl, Hold.AcceptCtl, Hold.Learned] as const;

export interface NetworkSnapshot {
  remotes: { ip: string; holds: number; counters: number[] }[];
  /** Oldest first: the learned entries' order is their ageing order. */
  fdb: { mac: string; remote: string | null; origin: Origin; age: number }[];
  neigh: { ip: string; mac: string; origin: NeighOrigin; age: number }[];
  counters: number[];
  drops: number[];
  macs: { learned: number; aged: number; moved: number; refused: number };
}

export function snapshotNetwork(net: Network, now: number): NetworkSnapshot {
  const t = net.remotes;
  const remotes = [...t.indices()].map((r) => ({
    ip: t.address(r),
    holds: RUNTIME_HOLDS.reduce((acc, h) => acc | (t.holdsOf(r) & h), 0),
    counters: Array.from(t.counters.subarray(r * REMOTE_SLOTS, (r + 1) * REMOTE_SLOTS)),
  }));
  const fdb = [...net.fdb.entries()].map(([mac, e]) => ({
    mac: formatMac(mac),
    remote: e.port === LOCAL_PORT ? null : t.address(e.port),
    origin: e.origin,
    age: Math.max(0, now - e.seen),
  }));
  const neigh = [...net.neigh.entries()].map((e) => ({
    ip: e.ip,
    mac: formatMac(e.mac),
    origin: e.origin,
    age: Math.max(0, now - e.seen),
  }));
  const f = net.fdb;
  return {
    remotes,
    fdb,
    neigh,
    counters: Array.from(net.counters.v),
    drops: Array.from(net.counters.drops),
    macs: { learned: f.learned, aged: f.aged, moved: f.moved, refused: f.refused },
  };
}

/**
 * Puts a snapshot's run-time state into `net`, which was built from the same
 * config. Entries the config gave are there already; EVPN's come from BGP.
 */
export function restoreNetwork(net: Network, s: NetworkSnapshot, now: number): void {
  for (const r of s.remotes) for (const h of RUNTIME_HOLDS) if (r.holds & h) net.holdRemote(parseIp(r.ip)!, h);
  for (const e of s.fdb) {
    const mac = parseMac(e.mac)!;
    if (e.origin === 'vtepctl' && e.remote !== null) net.setStatic(mac, parseIp(e.remote)!, 'vtepctl', now);
    if (e.origin !== 'learned') continue;
    const port = e.remote === null ? LOCAL_PORT : net.remotes.indexOf(parseIp(e.remote)!);
    if (port >= 0) net.fdb.learn(mac, port, now - e.age);
  }
  for (const e of s.neigh) {
    const ip = parseIp(e.ip)!;
    const mac = parseMac(e.mac)!;
    if (e.origin === 'vtepctl') net.setNeigh(ip, mac, 'vtepctl', now);
    else if (e.origin === 'snooped' || e.origin === 'local' || e.origin === 'resolved')
      net.neigh.snoop(ip, 0, mac, now - e.age, e.origin);
  }
  net.counters.v.set(s.counters.slice(0, net.counters.v.length));
  net.counters.drops.set(s.drops.slice(0, net.counters.drops.length));
  Object.assign(net.fdb, s.macs);
  const t = net.remotes;
  for (const r of s.remotes) {
    const i = t.indexOf(parseIp(r.ip)!);
    if (i > 0) t.counters.set(r.counters.slice(0, REMOTE_SLOTS), i * REMOTE_SLOTS);
  }
}
