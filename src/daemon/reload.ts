// `vtepctl reload` (SIGHUP): the difference between the running config and
// the file, applied. New networks start, removed ones stop, a network whose
// TAP, tunnel, group, MTU or GRE socket changed restarts alone, and the rest
// changes in place, keeping learned MACs and counters. A config with an
// error, a change that needs a restart of vtepd, or a network that cannot
// start is refused before anything changes; a network that fails while it
// starts (a port taken meanwhile) undoes what the reload had done.
import type { Config, NetworkConfig } from '../config/config.ts';
import type { ControlServer } from '../control/server.ts';
import { RefusedError } from '../control/verb.ts';
import type { Datapath } from '../datapath/datapath.ts';
import type { EvpnSpeaker } from '../evpn/speaker.ts';
import type { Logger } from '../observe/log.ts';
import { formatMac } from '../wire/mac.ts';
import type { EventHub } from '../observe/monitor.ts';
import type { NetworkUnit, Planned } from './network-unit.ts';
import type { Receivers } from './receivers.ts';
import { StartupError } from './system.ts';
import { monotonicSeconds } from '../datapath/clock.ts';
import { restoreNetwork, snapshotNetwork, type NetworkSnapshot } from '../switch/snapshot.ts';
import { applyNetworkTables } from './tables.ts';
import type { Router } from '../route/router.ts';
import { applyL3, attachNetwork, configureRouter, routingChanged, type L3Target } from './routing.ts';

/** The settings a network cannot change in place: a change restarts that network alone. */
const RESTART_KEYS = ['tap', 'tunnel', 'group', 'mtu', 'greSocket'] as const;
/** How the reload message names them: as the config file does. */
const CONFIG_NAMES: Partial<Record<keyof NetworkConfig, string>> = { greSocket: 'gre-socket' };

/** What a reload changes in the daemon. */
export interface ReloadTarget extends L3Target {
  config: Config;
  readonly networks: Map<string, NetworkUnit>;
  readonly log: Logger;
  readonly events: EventHub;
  readonly evpn: EvpnSpeaker | undefined;
  readonly control: ControlServer | undefined;
  readonly datapath: Datapath;
  readonly receivers: Receivers;
  readonly router: Router;
  /**
   * Checks a network against the system; `freed`: TAPs of networks about to go, with whether each was there
   * before vtepd.
   */
  plan(cfg: NetworkConfig, freed: Map<string, boolean>): Planned;
  addNetwork(p: Planned): void;
  removeNetwork(name: string): void;
  joinEvpn(unit: NetworkUnit): void;
}

/** Applies `next` to the running daemon; returns one line per change, each also logged. */
export function reloadConfig(d: ReloadTarget, next: Config): string[] {
  refuseFixed(d.config, next);
  const names = new Set(next.networks.map((c) => c.name));
  const removed = [...d.networks.values()].filter((r) => !names.has(r.cfg.name));
  const added = next.networks.filter((c) => !d.networks.has(c.name));
  const restarted = next.networks.filter((c) => {
    const old = d.networks.get(c.name)?.cfg;
    return old !== undefined && RESTART_KEYS.some((k) => JSON.stringify(old[k]) !== JSON.stringify(c[k]));
  });
  const inPlace = next.networks.filter((c) => d.networks.has(c.name) && !restarted.includes(c));
  // Look before changing: what will start must be able to, with the TAPs of what goes counted as free.
  const freed = new Map(
    [...removed, ...restarted.map((c) => d.networks.get(c.name)!)].map((r) => [r.cfg.tap, r.existed]),
  );
  let plans: Planned[];
  try {
    plans = [...restarted, ...added].map((c) => d.plan(c, freed));
  } catch (e) {
    if (e instanceof StartupError) throw new RefusedError(`${e.message}; nothing changed`);
    throw e;
  }
  const changes: string[] = [];
  const failures: string[] = [];
  // What stops is remembered with its tables, so that a network that cannot start undoes the whole reload.
  const now = monotonicSeconds();
  const stopped: Stopped[] = [];
  const started: string[] = [];
  const stop = (name: string) => {
    const unit = d.networks.get(name)!;
    stopped.push({ cfg: unit.cfg, tables: snapshotNetwork(unit.net, now) });
    d.removeNetwork(name);
  };
  // VRFs first: the networks that come or change join them.
  changes.push(...configureRouter(d.router, next));
  for (const r of removed) {
    stop(r.cfg.name);
    changes.push(`network ${r.cfg.name} removed`);
  }
  for (const p of plans) {
    const old = d.networks.get(p.cfg.name)?.cfg;
    if (old !== undefined) stop(p.cfg.name);
    try {
      d.addNetwork(p);
    } catch (e) {
      const undone = rollBack(d, started, stopped, now);
      throw new RefusedError(`network ${p.cfg.name} could not start: ${(e as Error).message}; ${undone}`);
    }
    started.push(p.cfg.name);
    changes.push(
      old !== undefined
        ? `network ${p.cfg.name} restarted (${RESTART_KEYS.filter(
            (k) => JSON.stringify(old[k]) !== JSON.stringify(p.cfg[k]),
          )
            .map((k) => CONFIG_NAMES[k] ?? k)
            .join(', ')} changed)`
        : `network ${p.cfg.name} added`,
    );
  }
  for (const cfg of inPlace) {
    const unit = d.networks.get(cfg.name)!;
    for (const c of applyNetworkTables(unit, unit.cfg, cfg)) changes.push(`network ${cfg.name}: ${c}`);
    const evpnChanged = JSON.stringify(unit.cfg.evpn) !== JSON.stringify(cfg.evpn);
    if (routingChanged(unit.cfg, cfg)) {
      attachNetwork(d.router, unit.net, cfg);
      const g = cfg.gateway;
      const gateway = g
        ? `gateway ${g.addresses.map((a) => `${a.ip}/${a.len}`).join(', ')} mac ${formatMac(g.mac)} source-mac ${g.sourceMac}`
        : 'no gateway';
      changes.push(`network ${cfg.name}: vrf ${cfg.vrf ?? 'none'}, ${gateway}`);
    }
    unit.cfg = cfg;
    d.receivers.applyZeroChecksum(d.networks.values());
    if (evpnChanged) {
      d.evpn?.remove(cfg.name);
      d.joinEvpn(unit);
      const e = cfg.evpn;
      const what = e ? `rd ${e.rd}, import ${e.importRts.join(',')}, export ${e.exportRts.join(',')}` : 'off';
      changes.push(`network ${cfg.name}: evpn ${what}`);
    }
  }
  // VRFs no network names any more, and no config declares, go; L3VNIs follow their VRFs.
  changes.push(...configureRouter(d.router, next));
  try {
    changes.push(...applyL3(d, next));
  } catch (e) {
    failures.push(`an L3VNI could not start: ${(e as Error).message}`);
  }
  if (JSON.stringify(next.control) !== JSON.stringify(d.config.control) && d.control !== undefined) {
    d.control.limits = next.control;
    changes.push(`control max-clients ${next.control.maxClients} idle-timeout ${next.control.idleTimeoutS}`);
  }
  if (next.busyPoll !== d.config.busyPoll) {
    d.datapath.busyPollUs = next.busyPoll;
    changes.push(`busy-poll ${next.busyPoll}`);
  }
  d.config = next;
  for (const c of changes) d.log.info(`reload: ${c}`);
  for (const f of failures) d.log.error(`reload: ${f}`);
  if (changes.length === 0 && failures.length === 0) d.log.info('reload: no changes');
  d.events.reload([...changes, ...failures]);
  if (failures.length > 0) throw new Error([...failures, ...changes.map((c) => `applied: ${c}`)].join('; '));
  return changes;
}

/** A network a reload stopped (removed, or to restart it): its settings and tables, to bring it back. */
interface Stopped {
  cfg: NetworkConfig;
  tables: NetworkSnapshot;
}

/**
 * Undoes a reload that failed half-way (a port another program took since it was checked, a TAP
 * that cannot be made): what it started goes, what it stopped comes back with its settings and
 * tables, the VRFs as they were. Returns what to tell the user.
 */
function rollBack(d: ReloadTarget, started: string[], stopped: Stopped[], now: number): string {
  for (const name of started.reverse()) d.removeNetwork(name);
  configureRouter(d.router, d.config);
  const lost: string[] = [];
  for (const s of stopped.reverse()) {
    try {
      d.addNetwork(d.plan(s.cfg, new Map()));
      restoreNetwork(d.networks.get(s.cfg.name)!.net, s.tables, now);
    } catch (e) {
      lost.push(`network ${s.cfg.name} could not start again: ${(e as Error).message}`);
    }
  }
  for (const l of lost) d.log.error(`reload: ${l}`);
  const back = stopped.map((s) => s.cfg.name);
  if (lost.length > 0) return `rolled back, but ${lost.join('; ')}`;
  return back.length === 0
    ? 'nothing changed'
    : `nothing changed (network ${back.join(', ')} started again as it was, with its tables)`;
}

/** What only a restart of vtepd can change: refused, with nothing changed. */
function refuseFixed(now: Config, next: Config): void {
  for (const key of ['local', 'socket', 'offload'] as const) {
    if (next[key] !== now[key])
      throw new RefusedError(
        `${key} cannot change while vtepd runs (${now[key]} -> ${next[key]}); restart vtepd to change it; ` +
          `nothing changed`,
      );
  }
  const fixed = {
    metrics: 'metrics',
    log: 'log-format and log-level',
    socketAccess: 'socket-group, socket-mode and socket-mutations',
    user: 'user',
  } as const;
  for (const [key, name] of Object.entries(fixed) as [keyof typeof fixed, string][]) {
    if (JSON.stringify(next[key]) !== JSON.stringify(now[key]))
      throw new RefusedError(`${name} cannot change while vtepd runs; restart vtepd for that; nothing changed`);
  }
  if (JSON.stringify(next.evpn) !== JSON.stringify(now.evpn)) {
    throw new RefusedError(
      'evpn (the BGP settings) cannot change while vtepd runs; restart vtepd to change them; nothing changed',
    );
  }
}
