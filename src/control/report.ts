// What the control socket answers, read from the switch's state. MACs and
// addresses become text here and nowhere on the data path.
import { R, REMOTE_SLOTS, type Counters } from '../switch/counters.ts';
import { LOCAL_PORT } from '../switch/fdb.ts';
import type { Network } from '../switch/network.ts';
import { formatIpv4 } from '../wire/ipv4.ts';
import { formatMac } from '../wire/mac.ts';
import type { FdbRow, NetworkStats, RemoteStats, StatsReport } from './protocol.ts';

export interface NetworkInfo {
  net: Network;
  encap: string;
  id: number;
  tap: string;
}

export function fdbRows(networks: readonly NetworkInfo[], now: number, only?: string): FdbRow[] {
  const rows: FdbRow[] = [];
  for (const { net } of networks) {
    if (only !== undefined && net.name !== only) continue;
    for (const [mac, e, isStatic] of net.fdb.entries()) {
      rows.push({
        mac: formatMac(mac),
        network: net.name,
        remote: e.port === LOCAL_PORT ? null : formatIpv4(net.remotes.addr[e.port]),
        static: isStatic,
        age: Math.max(0, Math.floor(now - e.seen)),
      });
    }
  }
  return rows;
}

export function statsReport(networks: readonly NetworkInfo[], unattributed: Counters): StatsReport {
  const out: StatsReport = { networks: {}, drops: unattributed.dropsByName() };
  for (const info of networks) out.networks[info.net.name] = networkStats(info);
  return out;
}

function networkStats({ net, encap, id, tap }: NetworkInfo): NetworkStats {
  const remotes: Record<string, RemoteStats> = {};
  const rc = net.remotes.counters;
  for (let r = 1; r <= net.remotes.size; r++) {
    const base = r * REMOTE_SLOTS;
    remotes[formatIpv4(net.remotes.addr[r])] = {
      'rx-packets': rc[base + R.RxPackets],
      'rx-bytes': rc[base + R.RxBytes],
      'tx-packets': rc[base + R.TxPackets],
      'tx-bytes': rc[base + R.TxBytes],
      kind: r <= net.remotes.floodCount ? 'flood' : r <= net.remotes.fixedCount ? 'static' : 'learned',
    };
  }
  const f = net.fdb;
  return {
    encap,
    id,
    tap,
    group: net.floodGroup === 0 ? null : formatIpv4(net.floodGroup),
    counters: net.counters.valuesByName(),
    macs: { entries: f.size, learned: f.learned, aged: f.aged, moved: f.moved, refused: f.refused },
    drops: net.counters.dropsByName(),
    remotes,
  };
}
