// Metrics read from the stats report: what a GRE network on the packet socket adds.
import { describe, expect, it } from 'vitest';
import { metricsRegistry } from '../../src/observe/metrics.ts';
import type { NetworkStats, StatsReport } from '../../src/control/protocol.ts';

function network(extra: Partial<NetworkStats>): NetworkStats {
  return {
    encap: 'gre',
    id: 77,
    tap: 'tap-red',
    state: 'up',
    group: null,
    counters: {},
    drops: {},
    remotes: {},
    macs: { entries: 0, learned: 0, aged: 0, moved: 0, refused: 0 },
    neigh: { entries: 0, learned: 0, moved: 0, aged: 0, refused: 0 },
    given: {
      'static-macs': { entries: 0, max: 65536, refused: 0 },
      'evpn-macs': { entries: 0, max: 65536, refused: 0 },
      remotes: { entries: 0, max: 1024, refused: 0 },
    },
    ...extra,
  };
}

describe('vtepd_gre_socket_tx_packets_total', () => {
  it('counts what each socket sent for a GRE network on the packet socket, and nothing for one on the raw socket alone', async () => {
    const report: StatsReport = {
      networks: {
        red: network({
          'gre-socket': { mode: 'packet', 'packet-tx': 5000, 'raw-tx': 3, 'remotes-packet': 1, 'remotes-raw': 0 },
        }),
        green: network({ id: 78, 'gre-socket': { mode: 'raw' } }),
      },
      drops: {},
      control: { clients: 0, refused: 0, 'idle-closed': 0, 'slow-readers': 0, 'lines-dropped': 0 },
    };
    const page = await metricsRegistry({ stats: () => report, mtu: () => 1458 }).metrics();
    const lines = page.split('\n').filter((l) => l.startsWith('vtepd_gre_socket_tx_packets_total'));
    expect(lines).toEqual([
      'vtepd_gre_socket_tx_packets_total{network="red",socket="packet"} 5000',
      'vtepd_gre_socket_tx_packets_total{network="red",socket="raw"} 3',
    ]);
  });
});

describe('BGP EVPN metrics', () => {
  it('serve each session up or not with its flaps, the routes per network, type and direction, and withdraw failures', async () => {
    const report: StatsReport = {
      networks: {},
      drops: {},
      control: { clients: 0, refused: 0, 'idle-closed': 0, 'slow-readers': 0, 'lines-dropped': 0 },
    };
    let asked = 0;
    const page = await metricsRegistry({
      stats: () => report,
      mtu: () => undefined,
      evpn: () => {
        asked++;
        return Promise.resolve({
          sessions: [
            { neighbor: '10.0.0.1', state: 'ESTABLISHED', flaps: 2, 'dropped-updates': 3 },
            { neighbor: '10.0.0.9', state: 'ACTIVE', flaps: 0 },
          ],
          routes: [
            { network: 'blue', type: 3, direction: 'advertised' },
            { network: 'blue', type: 2, direction: 'received' },
            { network: 'blue', type: 2, direction: 'received' },
          ],
          withdrawFailures: 1,
        });
      },
    }).metrics();
    const lines = page.split('\n').filter((l) => l.startsWith('vtepd_evpn_'));
    expect(lines).toEqual(
      expect.arrayContaining([
        'vtepd_evpn_session_up{neighbor="10.0.0.1"} 1',
        'vtepd_evpn_session_up{neighbor="10.0.0.9"} 0',
        'vtepd_evpn_session_flaps_total{neighbor="10.0.0.1"} 2',
        'vtepd_evpn_routes{network="blue",type="3",direction="advertised"} 1',
        'vtepd_evpn_routes{network="blue",type="2",direction="received"} 2',
        'vtepd_evpn_withdraw_failures_total 1',
        'vtepd_evpn_updates_dropped_total{neighbor="10.0.0.1"} 3',
      ]),
    );
    // Not known with a gobgpd vtepd did not start: no line rather than a 0 that would be a guess.
    expect(lines.filter((l) => l.includes('updates_dropped') && l.includes('10.0.0.9'))).toEqual([]);
    expect(asked, 'GoBGP asked once a scrape').toBe(1);
  });
});
