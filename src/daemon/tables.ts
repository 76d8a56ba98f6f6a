// A network's tables and settings brought from one config to the next, in
// place (start: from nothing): remotes, allowed VTEPs, static entries,
// neighbours, and the settings that change without a restart. Learned MACs,
// what vtepctl and EVPN added, and counters stay; config entries that left
// the file go. One line per change, for the reload's answer and the log.
import type { NetworkConfig } from '../config/config.ts';
import { hasAddress, ip } from '../io/link.ts';
import { Hold } from '../switch/hold.ts';
import { parseIp } from '../wire/ip-address.ts';
import { formatMac } from '../wire/mac.ts';
import { monotonicSeconds } from '../datapath/clock.ts';
import type { NetworkUnit } from './network-unit.ts';

/**
 * Brings a network's tables and settings from `old` (undefined: nothing) to
 * `cfg`, keeping learned MACs, entries added at run time and counters;
 * config entries that left the file go. Returns one line per change.
 */
export function applyNetworkTables(run: NetworkUnit, old: NetworkConfig | undefined, cfg: NetworkConfig): string[] {
  const { net } = run;
  const now = monotonicSeconds();
  const changes: string[] = [];
  const gone = <T>(a: readonly T[], b: readonly T[]) => a.filter((x) => !b.includes(x));
  // Bounds first: what follows is held to them.
  net.fdb.maxStaticMacs = cfg.maxStaticMacs;
  net.fdb.maxEvpnMacs = cfg.maxEvpnMacs;
  net.remotes.maxRemotes = cfg.maxRemotes;
  if (old !== undefined) {
    if (old.maxStaticMacs !== cfg.maxStaticMacs) changes.push(`max-static-macs ${cfg.maxStaticMacs}`);
    if (old.maxEvpnMacs !== cfg.maxEvpnMacs) changes.push(`max-evpn-macs ${cfg.maxEvpnMacs}`);
    if (old.maxRemotes !== cfg.maxRemotes) changes.push(`max-remotes ${cfg.maxRemotes}`);
  }
  for (const [list, hold, what] of [
    ['remotes', Hold.Flood, 'remote'],
    ['allow', Hold.Allow, 'allowed VTEP'],
  ] as const) {
    for (const a of gone(old?.[list] ?? [], cfg[list])) {
      net.releaseRemote(net.remotes.indexOf(parseIp(a)!), hold);
      changes.push(`${what} ${a} removed`);
    }
    for (const a of gone(cfg[list], old?.[list] ?? [])) {
      net.holdRemote(parseIp(a)!, hold);
      changes.push(`${what} ${a} added`);
    }
  }
  const oldStatics = new Map((old?.statics ?? []).map((s) => [s.mac, s.remote]));
  const newStatics = new Map(cfg.statics.map((s) => [s.mac, s.remote]));
  for (const [mac] of oldStatics) {
    if (newStatics.has(mac) || net.fdb.get(mac)?.origin !== 'config') continue;
    net.deleteMac(mac);
    changes.push(`static ${formatMac(mac)} removed`);
  }
  for (const [mac, remote] of newStatics) {
    if (oldStatics.get(mac) === remote && net.fdb.get(mac)?.origin === 'config') continue;
    try {
      net.setStatic(mac, parseIp(remote)!, 'config', now);
      changes.push(`static ${formatMac(mac)} dst ${remote}`);
    } catch (e) {
      changes.push(`static ${formatMac(mac)} not set: ${(e as Error).message}`);
    }
  }
  const oldNeigh = new Map((old?.neigh ?? []).map((n) => [n.ip, n.mac]));
  const newNeigh = new Map(cfg.neigh.map((n) => [n.ip, n.mac]));
  for (const [ip] of oldNeigh) {
    const b = parseIp(ip)!;
    if (newNeigh.has(ip) || net.neigh.get(b)?.origin !== 'config') continue;
    net.deleteNeigh(b);
    changes.push(`neigh ${ip} removed`);
  }
  for (const [ip, mac] of newNeigh) {
    if (oldNeigh.get(ip) === mac && net.neigh.get(parseIp(ip)!)?.origin === 'config') continue;
    net.setNeigh(parseIp(ip)!, mac, 'config', now);
    changes.push(`neigh ${ip} lladdr ${formatMac(mac)}`);
  }
  if (old === undefined) return changes;
  const set = <K extends keyof NetworkConfig>(key: K, apply: (v: NetworkConfig[K]) => void) => {
    if (JSON.stringify(old[key]) === JSON.stringify(cfg[key])) return;
    apply(cfg[key]);
    changes.push(`${key} ${String(cfg[key] ?? 'none')}`);
  };
  set('ageing', (v) => (net.fdb.ageing = v));
  set('maxMacs', (v) => (net.fdb.maxMacs = v));
  set('acceptAnyRemote', (v) => (net.acceptAnyRemote = v));
  set('arpResponder', (v) => (net.arpResponder = v));
  set('arpSnoop', (v) => (net.arpSnoop = v));
  set('learning', (v) => (net.learning = v));
  set('udp6ZeroCsumRx', () => undefined); // applied to the shared sockets once run.cfg is the new one (reloadConfig)
  if (cfg.mac !== undefined && cfg.mac !== old.mac) {
    // a mac taken out of the config leaves the TAP the one it has
    ip('link', 'set', 'dev', cfg.tap, 'address', formatMac(cfg.mac));
    run.announce();
    changes.push(`mac ${formatMac(cfg.mac)}`);
  }
  if (old.ttl !== cfg.ttl || old.df !== cfg.df) {
    net.ttl = cfg.ttl;
    net.df = cfg.df;
    run.sender.configure(cfg.ttl, cfg.df);
    changes.push(`ttl ${cfg.ttl} df ${cfg.df}`);
  }
  set('address', (v) => {
    if (old.address !== undefined && hasAddress(cfg.tap, old.address)) ip('addr', 'del', old.address, 'dev', cfg.tap);
    if (v !== undefined && !hasAddress(cfg.tap, v)) ip('addr', 'add', v, 'dev', cfg.tap);
  });
  return changes;
}
