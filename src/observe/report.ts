// What the control socket answers, read from the switch's state. MACs and
// addresses become text here and nowhere on the data path.
import { NetworkCounter as N, RemoteCounter as R, REMOTE_SLOTS, type Counters } from '../switch/counters.ts';
import { LOCAL_PORT } from '../switch/fdb.ts';
import type { Network } from '../switch/network.ts';
import type { IcmpCounters } from '../switch/pmtu-guard.ts';
import type { TunnelSender } from '../io/port.ts';
import { formatMac } from '../wire/mac.ts';
import type {
  ControlStats,
  FdbRow,
  NeighRow,
  NetworkStats,
  RemoteRow,
  RemoteStats,
  RouteRow,
  StatsReport,
  VrfStats,
} from '../control/protocol.ts';
import { formatPrefix } from '../route/prefix.ts';
import type { Router } from '../route/router.ts';
import { VRF_COUNTER_NAMES } from '../route/vrf.ts';
import { formatIp } from '../wire/ip-address.ts';

/** Every running network of the daemon, as the reports see them. */
export function infos(d: {
  networks: ReadonlyMap<
    string,
    { net: Network; cfg: { tap: string }; failure: string | undefined; sender?: TunnelSender }
  >;
}): NetworkInfo[] {
  return [...d.networks.values()].map(({ net, cfg, failure, sender }) => ({ net, tap: cfg.tap, failure, sender }));
}

/** A running network as the reports see it. */
export interface NetworkInfo {
  net: Network;
  tap: string;
  /** Why the network cannot forward now, if it cannot. */
  failure?: string;
  /** What sends its packets (raw and packet sockets). */
  sender?: TunnelSender;
}

export function fdbRows(networks: readonly NetworkInfo[], now: number, only?: string): FdbRow[] {
  return [...eachFdbRow(networks, now, only)];
}

/** The rows of `fdb show`, one at a time (a table may hold a million). */
export function* eachFdbRow(networks: readonly NetworkInfo[], now: number, only?: string): Generator<FdbRow> {
  for (const { net } of networks) {
    if (only !== undefined && net.name !== only) continue;
    for (const [mac, e, isStatic] of net.fdb.entries()) {
      // An entry deleted while the listing paused between chunks points at no remote any more.
      if (e.port !== LOCAL_PORT && !net.remotes.live(e.port)) continue;
      yield {
        mac: formatMac(mac),
        network: net.name,
        remote: e.port === LOCAL_PORT ? null : net.remotes.address(e.port),
        static: isStatic,
        age: Math.max(0, Math.floor(now - e.seen)),
        origin: e.origin,
      };
    }
  }
}

export function statsReport(
  networks: readonly NetworkInfo[],
  unattributed: Counters,
  control: ControlStats,
  more: {
    busyPoll?: { contended: number; idle: number };
    icmp?: IcmpCounters;
    router?: Router;
    /** EVPN routes ignored, by reason (with EVPN). */
    evpnRejected?: ReadonlyMap<string, number>;
  } = {},
): StatsReport {
  const { busyPoll, icmp, router, evpnRejected } = more;
  const out: StatsReport = { networks: {}, drops: unattributed.dropsByName(), control: { ...control } };
  if (busyPoll !== undefined)
    out['busy-poll'] = { 'paused-contended': busyPoll.contended, 'paused-idle': busyPoll.idle };
  if (icmp !== undefined) out['pmtu-icmp'] = { believed: icmp.believed, ignored: icmp.ignored() };
  for (const info of networks) out.networks[info.net.name] = networkStats(info);
  if (router !== undefined && router.vrfs.size > 0) out.vrfs = vrfStats(router);
  if (evpnRejected !== undefined) out.evpn = { rejected: Object.fromEntries(evpnRejected) };
  return out;
}

function networkStats({ net, tap, failure, sender }: NetworkInfo): NetworkStats {
  const remotes: Record<string, RemoteStats> = {};
  const table = net.remotes;
  const rc = table.counters;
  for (const r of table.indices()) {
    const base = r * REMOTE_SLOTS;
    remotes[table.address(r)] = {
      'rx-packets': rc[base + R.RxPackets],
      'rx-bytes': rc[base + R.RxBytes],
      'tx-packets': rc[base + R.TxPackets],
      'tx-bytes': rc[base + R.TxBytes],
      kind: table.floods(r) ? 'flood' : table.configured(r) ? 'static' : 'learned',
      pmtu: table.pmtu[r],
    };
  }
  const f = net.fdb;
  return {
    encap: net.tunnel.kind,
    id: net.tunnel.id,
    tap,
    state: failure === undefined ? 'up' : 'failed',
    ...(failure !== undefined && { failure }),
    group: table.group === 0 ? null : table.address(table.group),
    counters: net.counters.valuesByName(),
    macs: { entries: f.size, learned: f.learned, aged: f.aged, moved: f.moved, refused: f.refused },
    given: {
      'static-macs': { entries: f.givenCount('static'), max: f.maxStaticMacs, refused: f.refusedStatic },
      'evpn-macs': { entries: f.givenCount('evpn'), max: f.maxEvpnMacs, refused: f.refusedEvpn },
      remotes: { entries: table.givenCount, max: table.maxRemotes, refused: table.refusedRemotes },
    },
    neigh: { entries: net.neigh.size, ...net.neigh.events },
    drops: net.counters.dropsByName(),
    remotes,
    ...(net.tunnel.kind === 'gre' && sender?.socketStats !== undefined && { 'gre-socket': sender.socketStats() }),
  };
}

export function remoteRows(networks: readonly NetworkInfo[], only?: string): RemoteRow[] {
  const rows: RemoteRow[] = [];
  for (const { net } of networks) {
    if (only !== undefined && net.name !== only) continue;
    const macs = new Map<number, number>();
    for (const [, e] of net.fdb.entries()) macs.set(e.port, (macs.get(e.port) ?? 0) + 1);
    const t = net.remotes;
    for (const r of t.indices()) {
      const base = r * REMOTE_SLOTS;
      rows.push({
        remote: t.address(r),
        network: net.name,
        flood: t.floods(r),
        origins: t.origins(r),
        macs: macs.get(r) ?? 0,
        'rx-packets': t.counters[base + R.RxPackets],
        'rx-bytes': t.counters[base + R.RxBytes],
        'tx-packets': t.counters[base + R.TxPackets],
        'tx-bytes': t.counters[base + R.TxBytes],
        pmtu: t.pmtu[r],
        'pmtu-learned': t.pmtuExpires[r] !== 0 && t.pmtu[r] < t.underlayMtu,
      });
    }
  }
  return rows;
}

export function neighRows(networks: readonly NetworkInfo[], now: number, only?: string, router?: Router): NeighRow[] {
  return [...eachNeighRow(networks, now, only, router)];
}

/** The rows of `neigh show`, one at a time. */
export function* eachNeighRow(
  networks: readonly NetworkInfo[],
  now: number,
  only?: string,
  router?: Router,
): Generator<NeighRow> {
  for (const { net } of networks) {
    if (only !== undefined && net.name !== only) continue;
    for (const e of net.neigh.entries()) {
      yield {
        ip: e.ip,
        mac: formatMac(e.mac),
        network: net.name,
        origin: e.origin,
        age: Math.max(0, Math.floor(now - e.seen)),
        ...(e.origin === 'resolved' && { state: 'reachable' as const }),
      };
    }
  }
  // What the gateways ask for now, or asked for in vain.
  for (const vrf of router?.vrfs.values() ?? []) {
    for (const p of vrf.resolver.pending()) {
      const name = p.gateway.net.name;
      if (only !== undefined && name !== only) continue;
      yield {
        ip: formatIp(p.ip),
        mac: null,
        network: name,
        origin: 'resolved',
        age: Math.max(0, Math.floor(now - p.since)),
        state: p.failed ? 'failed' : 'resolving',
      };
    }
  }
}

/** Every route of each VRF (of `only`), installed or not. */
export function routeRows(router: Router, only?: string): RouteRow[] {
  const rows: RouteRow[] = [];
  for (const vrf of router.vrfs.values()) {
    if (only !== undefined && vrf.name !== only) continue;
    for (const [prefix, r] of vrf.routes.entries()) {
      rows.push({
        vrf: vrf.name,
        prefix: formatPrefix(prefix),
        via: r.via === undefined ? null : formatIp(r.via),
        network: r.gateway?.net.name ?? null,
        ...(r.remote !== undefined && vrf.l3 !== undefined && { rmac: formatMac(r.remote.rmac), vni: vrf.l3.vni }),
        origin: r.origin,
        active: true,
      });
    }
    for (const r of vrf.inactive) {
      const connected = vrf.routes.get(r.prefix)?.origin === 'connected';
      rows.push({
        vrf: vrf.name,
        prefix: formatPrefix(r.prefix),
        via: formatIp(r.via),
        network: null,
        origin: r.origin,
        active: false,
        why: connected
          ? 'the subnet is connected here'
          : r.remote !== undefined
            ? 'the VRF has no L3VNI'
            : 'its next hop is on no connected subnet',
      });
    }
  }
  return rows;
}

/** Per VRF: its networks, routes, counters and what its gateways ask for. */
export function vrfStats(router: Router): Record<string, VrfStats> {
  const out: Record<string, VrfStats> = {};
  for (const vrf of router.vrfs.values()) {
    const counters: Record<string, number> = {};
    VRF_COUNTER_NAMES.forEach((n, i) => (counters[n] = vrf.counters[i]));
    out[vrf.name] = {
      networks: [...vrf.gateways.keys()].map((n) => n.name),
      routes: vrf.routes.size,
      counters,
      resolving: [...vrf.resolver.pending()].filter((p) => !p.failed).length,
      ...(vrf.l3 !== undefined && {
        l3vni: {
          vni: vrf.l3.vni,
          'router-mac': formatMac(vrf.l3.rmac),
          'rx-packets': vrf.l3.net.counters.v[N.TunnelRxPackets],
          'tx-packets': vrf.l3.net.counters.v[N.TunnelTxPackets],
          drops: vrf.l3.net.counters.dropsByName(),
        },
      }),
    };
  }
  return out;
}
