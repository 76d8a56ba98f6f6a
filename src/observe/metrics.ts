// Prometheus metrics on `metrics: ADDR:PORT`, with prom-client. Every value is
// read from the same report `vtepctl stats` answers, at scrape time: the data
// path does not know metrics exist. Counters are set from the switch's own
// counters on each scrape (reset, then added), so their type stays `counter`.
import { createServer, type Server } from 'node:http';
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { StatsReport } from '../control/protocol.ts';
import { VERSION } from '../host/version.ts';

/** `tap-rx-frames` → `tap_rx_frames`. */
const snake = (name: string) => name.replace(/-/g, '_');

/** What the EVPN metrics read at a scrape (the speaker's metrics()). */
export interface EvpnMetrics {
  sessions: { neighbor: string; state: string; flaps?: number; 'dropped-updates'?: number }[];
  routes: { network: string; type: number; direction: string }[];
  withdrawFailures: number;
}

/** What one scrape reads: the stats report, each network's TAP MTU, and with BGP EVPN its sessions and routes. */
export interface MetricsSource {
  stats(): StatsReport;
  mtu(network: string): number | undefined;
  evpn?(): Promise<EvpnMetrics> | undefined;
}

/** A counter whose values are copied from the report on every scrape. */
function mirrored(
  registry: Registry,
  name: string,
  help: string,
  labelNames: string[],
  values: (s: StatsReport) => Iterable<[Record<string, string>, number]>,
  read: () => StatsReport,
) {
  return new Counter({
    name,
    help,
    labelNames,
    registers: [registry],
    collect() {
      this.reset();
      for (const [labels, v] of values(read())) this.inc(labels, v);
    },
  });
}

function gauge(
  registry: Registry,
  name: string,
  help: string,
  labelNames: string[],
  values: () => Iterable<[Record<string, string>, number]>,
) {
  return new Gauge({
    name,
    help,
    labelNames,
    registers: [registry],
    collect() {
      this.reset();
      for (const [labels, v] of values()) this.set(labels, v);
    },
  });
}

/** Per-VRF counters of the stats report, as `vtepd_vrf_<counter>_total{vrf}`. */
const VRF_COUNTERS: Record<string, string> = {
  routed: 'Packets routed between networks of the VRF',
  'ttl-exceeded': 'Packets whose TTL (hop limit) ran out at the gateway',
  'no-route': 'Packets to a destination with no route in the VRF',
  'neigh-unresolved': 'Routed packets dropped because their next hop did not answer or too many waited',
  'icmp-sent': 'ICMP errors the gateway sent (time exceeded, unreachable, too big)',
  'icmp-ratelimited': 'ICMP errors not sent because of icmp-ratelimit',
};

/** Per-network counters of the stats report, as `vtepd_network_<counter>_total{network}`. */
const NETWORK_COUNTERS: Record<string, string> = {
  'tap-rx-frames': 'Frames read from the TAP',
  'tap-rx-bytes': 'Bytes read from the TAP',
  'tap-tx-frames': 'Frames written to the TAP',
  'tap-tx-bytes': 'Bytes written to the TAP',
  'tunnel-rx-packets': 'Tunnel packets accepted for the network',
  'tunnel-rx-bytes': 'Bytes of tunnel packets accepted for the network',
  'tunnel-tx-packets': 'Tunnel packets sent for the network',
  'tunnel-tx-bytes': 'Bytes of tunnel packets sent for the network',
  'flooded-frames': 'Broadcast, unknown-unicast and multicast frames from the TAP replicated to the flood list',
  'flood-copies': 'Tunnel packets sent as copies of flooded frames',
  'gre-seq-out-of-order': 'GRE packets whose sequence number was not after the last one (delivered anyway)',
  'group-tx-packets': 'Packets sent to the multicast group',
  'group-tx-bytes': 'Bytes sent to the multicast group',
  'arp-suppressed': 'ARP requests answered locally by the responder',
  'nd-suppressed': 'Neighbor Solicitations answered locally by the responder',
  'pmtu-icmp-sent':
    'Frames from the TAP too big for the path MTU, answered with ICMP "fragmentation needed" or ICMPv6 ' +
    '"packet too big"',
  'pmtu-fragmentable':
    'Frames over a path MTU too small for ICMP to help their sender, sent fragmentable (without DF over IPv4)',
};

/** Per-remote counters, named as the tunnel's side of a network is: `vtepd_tunnel_rx_packets_total{network,remote}`. */
const REMOTE_COUNTERS = {
  'rx-packets': 'packets received from',
  'rx-bytes': 'bytes received from',
  'tx-packets': 'packets sent to',
  'tx-bytes': 'bytes sent to',
} as const;

export function metricsRegistry(source: MetricsSource): Registry {
  const registry = new Registry();
  // One report per scrape, shared by every metric of that scrape.
  let cached: { at: number; report: StatsReport } | undefined;
  const read = () => {
    const now = Date.now();
    if (cached === undefined || now - cached.at > 100) cached = { at: now, report: source.stats() };
    return cached.report;
  };
  const perNetwork = (s: StatsReport) => Object.entries(s.networks);

  gauge(
    registry,
    'vtepd_build_info',
    'vtepd version and the Node.js it runs on (always 1)',
    ['version', 'node'],
    () => [[{ version: VERSION, node: process.version }, 1]],
  );
  gauge(
    registry,
    'vtepd_network_up',
    'Whether the network forwards (1) or has failed, e.g. its TAP is gone (0)',
    ['network', 'encap', 'id', 'tap'],
    () =>
      perNetwork(read()).map(([network, n]) => [
        { network, encap: n.encap, id: String(n.id), tap: n.tap },
        n.state === 'up' ? 1 : 0,
      ]),
  );
  gauge(
    registry,
    'vtepd_network_mtu_bytes',
    "MTU of the network's TAP: the largest frame sent into the tunnel, less its Ethernet header",
    ['network'],
    () =>
      perNetwork(read()).flatMap(([network]) => {
        const mtu = source.mtu(network);
        return mtu === undefined ? [] : [[{ network }, mtu] as [Record<string, string>, number]];
      }),
  );
  for (const [key, help] of Object.entries(NETWORK_COUNTERS)) {
    mirrored(
      registry,
      `vtepd_network_${snake(key)}_total`,
      help,
      ['network'],
      (s) => perNetwork(s).map(([network, n]) => [{ network }, n.counters[key] ?? 0]),
      read,
    );
  }
  for (const [key, what] of Object.entries(REMOTE_COUNTERS)) {
    const [dir, unit] = key.split('-');
    mirrored(
      registry,
      `vtepd_tunnel_${dir}_${unit}_total`,
      `Tunnel ${what} a remote VTEP`,
      ['network', 'remote'],
      (s) =>
        perNetwork(s).flatMap(([network, n]) =>
          Object.entries(n.remotes).map(
            ([remote, r]) =>
              [{ network, remote }, r[key as keyof typeof REMOTE_COUNTERS]] as [Record<string, string>, number],
          ),
        ),
      read,
    );
  }
  gauge(
    registry,
    'vtepd_remote_info',
    'Remote VTEPs of each network and how they are known: flood, static or learned (always 1)',
    ['network', 'remote', 'kind'],
    () =>
      perNetwork(read()).flatMap(([network, n]) =>
        Object.entries(n.remotes).map(
          ([remote, r]) => [{ network, remote, kind: r.kind }, 1] as [Record<string, string>, number],
        ),
      ),
  );
  gauge(
    registry,
    'vtepd_tunnel_pmtu_bytes',
    "Path MTU toward a remote VTEP: the underlay's MTU, or less as an ICMP error said",
    ['network', 'remote'],
    () =>
      perNetwork(read()).flatMap(([network, n]) =>
        Object.entries(n.remotes).map(
          ([remote, r]) => [{ network, remote }, r.pmtu] as [Record<string, string>, number],
        ),
      ),
  );
  mirrored(
    registry,
    'vtepd_gre_socket_tx_packets_total',
    'GRE packets sent by each socket (gre-socket: packet; the raw socket carries what the packet socket cannot)',
    ['network', 'socket'],
    (s) =>
      perNetwork(s).flatMap(([network, n]) => {
        const g = n['gre-socket'];
        return g?.mode !== 'packet'
          ? []
          : ([
              [{ network, socket: 'packet' }, g['packet-tx'] ?? 0],
              [{ network, socket: 'raw' }, g['raw-tx'] ?? 0],
            ] as [Record<string, string>, number][]);
      }),
    read,
  );
  mirrored(
    registry,
    'vtepd_pmtu_icmp_errors_total',
    'ICMP "too big" errors sent to this VTEP: believed (about a packet it sent), or ignored and why',
    ['verdict'],
    (s) => {
      const p = s['pmtu-icmp'];
      return p === undefined
        ? []
        : ([
            [{ verdict: 'believed' }, p.believed],
            ...Object.entries(p.ignored).map(([verdict, v]) => [{ verdict }, v]),
          ] as [Record<string, string>, number][]);
    },
    read,
  );
  mirrored(
    registry,
    'vtepd_evpn_rejected_total',
    'EVPN routes ignored because their next hop or PMSI tunnel id is an address no VTEP can have, by reason',
    ['reason'],
    (s) => Object.entries(s.evpn?.rejected ?? {}).map(([reason, v]) => [{ reason }, v]),
    read,
  );
  mirrored(
    registry,
    'vtepd_drops_total',
    'Packets and frames dropped, by reason; without a network label, dropped before a network was known',
    ['network', 'reason'],
    (s) => [
      ...Object.entries(s.drops).map(([reason, v]) => [{ reason }, v] as [Record<string, string>, number]),
      ...perNetwork(s).flatMap(([network, n]) =>
        Object.entries(n.drops).map(([reason, v]) => [{ network, reason }, v] as [Record<string, string>, number]),
      ),
    ],
    read,
  );
  mirrored(
    registry,
    'vtepd_given_refused_total',
    'Given state refused at its bound: FDB entries (max-static-macs, max-evpn-macs) and remote VTEPs (max-remotes)',
    ['network', 'kind'],
    (s) =>
      perNetwork(s).flatMap(([network, n]) =>
        Object.entries(n.given).map(([kind, g]) => [{ network, kind }, g.refused] as [Record<string, string>, number]),
      ),
    read,
  );
  gauge(registry, 'vtepd_fdb_entries', 'MAC table entries', ['network'], () =>
    perNetwork(read()).map(([network, n]) => [{ network }, n.macs.entries]),
  );
  for (const event of ['learned', 'aged', 'moved', 'refused'] as const) {
    const help = {
      learned: 'MACs learned',
      aged: 'MACs aged out',
      moved: 'Learned MACs moved to another port',
      refused: 'MACs not learned because the table was full (max-macs)',
    }[event];
    mirrored(
      registry,
      `vtepd_fdb_${event}_total`,
      help,
      ['network'],
      (s) => perNetwork(s).map(([network, n]) => [{ network }, n.macs[event]]),
      read,
    );
  }
  gauge(registry, 'vtepd_neigh_entries', 'Neighbour (ARP/ND responder) table entries', ['network'], () =>
    perNetwork(read()).map(([network, n]) => [{ network }, n.neigh.entries]),
  );
  for (const event of ['learned', 'moved', 'aged', 'refused'] as const) {
    const help = {
      learned: 'Neighbours learned by snooping',
      moved: 'Snooped neighbours now at another MAC',
      aged: 'Snooped neighbours aged out',
      refused: 'Neighbours not snooped because the table was full',
    }[event];
    mirrored(
      registry,
      `vtepd_neigh_${event}_total`,
      help,
      ['network'],
      (s) => perNetwork(s).map(([network, n]) => [{ network }, n.neigh[event]]),
      read,
    );
  }
  for (const [key, help] of Object.entries(VRF_COUNTERS)) {
    mirrored(
      registry,
      `vtepd_vrf_${snake(key)}_total`,
      help,
      ['vrf'],
      (s) => Object.entries(s.vrfs ?? {}).map(([vrf, v]) => [{ vrf }, v.counters[key] ?? 0]),
      read,
    );
  }
  gauge(registry, 'vtepd_vrf_routes', "Routes in the VRF's table (connected and given)", ['vrf'], () =>
    Object.entries(read().vrfs ?? {}).map(([vrf, v]) => [{ vrf }, v.routes]),
  );
  gauge(registry, 'vtepd_control_clients', 'Clients connected to the control socket', [], () => [
    [{}, read().control.clients],
  ]);
  for (const key of ['refused', 'idle-closed', 'slow-readers', 'lines-dropped'] as const) {
    const help = {
      refused: 'Control clients refused (max-clients were connected)',
      'idle-closed': 'Control clients closed after idle-timeout',
      'slow-readers': 'Stream clients disconnected for not reading',
      'lines-dropped': 'Stream lines dropped because their client was behind',
    }[key];
    mirrored(registry, `vtepd_control_${snake(key)}_total`, help, [], (s) => [[{}, s.control[key]]], read);
  }
  if (source.evpn !== undefined) evpnMetrics(registry, () => source.evpn!());
  collectDefaultMetrics({ register: registry });
  return registry;
}

/** BGP EVPN's sessions and routes, asked of the speaker once a scrape (GoBGP answers the sessions). */
function evpnMetrics(registry: Registry, read: () => Promise<EvpnMetrics> | undefined): void {
  let pending: { at: number; value: Promise<EvpnMetrics | undefined> } | undefined;
  const once = () => {
    const now = Date.now();
    if (pending === undefined || now - pending.at > 100)
      pending = { at: now, value: read() ?? Promise.resolve(undefined) };
    return pending.value;
  };
  const asyncGauge = (
    name: string,
    help: string,
    labelNames: string[],
    values: (m: EvpnMetrics) => [Record<string, string>, number][],
  ) =>
    new Gauge({
      name,
      help,
      labelNames,
      registers: [registry],
      async collect() {
        const m = await once();
        this.reset();
        if (m !== undefined) for (const [labels, v] of values(m)) this.set(labels, v);
      },
    });
  asyncGauge(
    'vtepd_evpn_session_up',
    'Whether the BGP session with the neighbor is established (1) or not (0)',
    ['neighbor'],
    (m) => m.sessions.map((p) => [{ neighbor: p.neighbor }, p.state === 'ESTABLISHED' ? 1 : 0]),
  );
  new Counter({
    name: 'vtepd_evpn_session_flaps_total',
    help: 'Times the BGP session with the neighbor went down from established',
    labelNames: ['neighbor'],
    registers: [registry],
    async collect() {
      const m = await once();
      this.reset();
      for (const p of m?.sessions ?? []) this.inc({ neighbor: p.neighbor }, p.flaps ?? 0);
    },
  });
  new Counter({
    name: 'vtepd_evpn_updates_dropped_total',
    help: 'UPDATEs from the neighbor that GoBGP dropped as malformed, their routes treated as withdrawn (a gobgpd vtepd started)',
    labelNames: ['neighbor'],
    registers: [registry],
    async collect() {
      const m = await once();
      this.reset();
      for (const p of m?.sessions ?? [])
        if (p['dropped-updates'] !== undefined) this.inc({ neighbor: p.neighbor }, p['dropped-updates']);
    },
  });
  asyncGauge(
    'vtepd_evpn_routes',
    'EVPN routes of the network: advertised by vtepd, or received (imported) from the fabric',
    ['network', 'type', 'direction'],
    (m) => {
      const counts = new Map<string, number>();
      for (const r of m.routes) {
        const k = `${r.network}\0${r.type}\0${r.direction}`;
        counts.set(k, (counts.get(k) ?? 0) + 1);
      }
      return [...counts].map(([k, n]) => {
        const [network, type, direction] = k.split('\0');
        return [{ network, type: String(type), direction }, n];
      });
    },
  );
  new Counter({
    name: 'vtepd_evpn_withdraw_failures_total',
    help: "vtepd's own routes GoBGP refused to withdraw",
    registers: [registry],
    async collect() {
      const m = await once();
      this.reset();
      this.inc(m?.withdrawFailures ?? 0);
    },
  });
}

/** Seconds a metrics connection may stay without a complete request: a scraper needs far less. */
export const METRICS_IDLE_S = 10;
/** Metrics connections open at once: scrapers are few; idle sockets from anyone must not pile up. */
export const METRICS_MAX_CONNECTIONS = 128;

/** The status page beside /metrics: its JSON, and its files by name (index.html, status.js, status.css). */
export interface StatusSource {
  api(): Promise<unknown>;
  assets: ReadonlyMap<string, { type: string; body: Buffer }>;
}

/**
 * The HTTP endpoint: GET (and HEAD) /metrics, and with a status source the
 * status page (/, its two files) and /api/status; anything else is 404.
 * Read-only: any other method is refused (405), and so is a request that
 * carries a body (413), before it is read.
 */
export class MetricsServer {
  private constructor(private readonly server: Server) {}

  /** Listens on host:port; rejects with the system's reason (EADDRINUSE, EADDRNOTAVAIL...). */
  static listen(host: string, port: number, registry: Registry, status?: StatusSource): Promise<MetricsServer> {
    const server = createServer((req, res) => {
      const path = (req.url ?? '').split('?')[0];
      const text = (code: number, body: string, headers: Record<string, string> = {}) =>
        res.writeHead(code, { 'content-type': 'text/plain', ...headers }).end(`${body}\n`);
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        text(405, 'vtepd serves read-only pages: GET or HEAD', { allow: 'GET, HEAD', connection: 'close' });
        return;
      }
      if (Number(req.headers['content-length'] ?? 0) > 0 || req.headers['transfer-encoding'] !== undefined) {
        text(413, 'vtepd takes no request body', { connection: 'close' });
        return;
      }
      // Node sends no body for HEAD, with the headers GET would have.
      const fail = (e: Error) => text(500, e.message);
      if (path === '/metrics') {
        registry.metrics().then((t) => res.writeHead(200, { 'content-type': registry.contentType }).end(t), fail);
        return;
      }
      const asset = status?.assets.get(path === '/' ? 'index.html' : path.slice(1));
      if (asset !== undefined) {
        res.writeHead(200, { 'content-type': asset.type, 'cache-control': 'no-cache' }).end(asset.body);
        return;
      }
      if (status !== undefined && path === '/api/status') {
        status
          .api()
          .then(
            (data) =>
              res
                .writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' })
                .end(JSON.stringify(data)),
            fail,
          );
        return;
      }
      text(404, status === undefined ? 'vtepd serves /metrics only' : 'vtepd serves /, /api/status and /metrics');
    });
    // Keep-alive connections from a scraper must not hold a stopping daemon; idle or slow
    // connections from anyone who can reach the port are closed long before Node's 60 s.
    server.keepAliveTimeout = 5000;
    server.headersTimeout = METRICS_IDLE_S * 1000;
    server.requestTimeout = METRICS_IDLE_S * 1000;
    server.timeout = METRICS_IDLE_S * 1000;
    server.maxConnections = METRICS_MAX_CONNECTIONS;
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve(new MetricsServer(server));
      });
    });
  }

  close(): void {
    this.server.close();
    this.server.closeAllConnections();
  }
}
