// Text output of vtepctl, in the spirit of `bridge fdb show` and `ip -s link`.
import { idLabel } from '../tunnel/id-label.ts';
import type { EvpnRouteRow, EvpnStatus } from '../evpn/speaker.ts';
import type { FdbRow, NeighRow, NetworkStats, RemoteRow, RouteRow, StatsReport } from './protocol.ts';

/** One line a MAC: `MAC network NAME (local | dst IP) (static | dynamic) age SECONDS origin ORIGIN`. */
export function formatFdb(rows: readonly FdbRow[]): string {
  return rows
    .map(
      (r) =>
        `${r.mac} network ${r.network} ${r.remote === null ? 'local' : `dst ${r.remote}`} ` +
        `${r.static ? 'static' : 'dynamic'} age ${r.age} origin ${r.origin}`,
    )
    .join('\n');
}

/** One line a remote: `IP network NAME (flood | no-flood) origin A,B macs N rx ... tx ... pmtu N`. */
export function formatRemotes(rows: readonly RemoteRow[]): string {
  return rows
    .map(
      (r) =>
        `${r.remote} network ${r.network} ${r.flood ? 'flood' : 'no-flood'} origin ` +
        `${r.origins.join(',') || 'none'} macs ${r.macs} ` +
        `rx ${r['rx-packets']} packets ${r['rx-bytes']} bytes tx ${r['tx-packets']} packets ${r['tx-bytes']} bytes ` +
        `pmtu ${r.pmtu}${r['pmtu-learned'] ? ' (icmp)' : ''}`,
    )
    .join('\n');
}

/** One line an address, in the spirit of `ip neigh`: `IP lladdr MAC network NAME origin ORIGIN age SECONDS`. */
export function formatNeigh(rows: readonly NeighRow[]): string {
  return rows
    .map((r) => {
      const mac = r.mac === null ? '' : ` lladdr ${r.mac}`;
      return `${r.ip}${mac} network ${r.network} origin ${r.origin}${r.state ? ` state ${r.state}` : ''} age ${r.age}`;
    })
    .join('\n');
}

/** One line a route, in the spirit of `ip route`: `PREFIX [via IP] dev NETWORK origin ORIGIN vrf VRF`. */
export function formatRoutes(rows: readonly RouteRow[]): string {
  return rows
    .map((r) => {
      const via = r.via === null ? '' : ` via ${r.via}`;
      const dev = r.rmac !== undefined ? ` rmac ${r.rmac} vni ${r.vni}` : r.network === null ? '' : ` dev ${r.network}`;
      return `${r.prefix}${via}${dev} origin ${r.origin} vrf ${r.vrf}${r.active ? '' : ` (inactive: ${r.why ?? 'not installed'})`}`;
    })
    .join('\n');
}

export function formatStats(s: StatsReport): string {
  const lines: string[] = [];
  for (const [name, n] of Object.entries(s.networks)) lines.push(...formatNetwork(name, n));
  lines.push(`unattributed drops (before a network is known): ${formatDrops(s.drops)}`);
  const c = s.control;
  lines.push(
    `control: ${c.clients} client${c.clients === 1 ? '' : 's'}; refused ${c.refused} (too many), idle-closed ` +
      `${c['idle-closed']}, ` +
      `slow readers dropped ${c['slow-readers']}, stream lines dropped ${c['lines-dropped']}`,
  );
  const p = s['pmtu-icmp'];
  if (p !== undefined) {
    const ignored = Object.values(p.ignored).reduce((a, v) => a + v, 0);
    lines.push(
      `pmtu-icmp: ${p.believed} "too big" error${p.believed === 1 ? '' : 's'} believed, ${ignored} ` +
        `ignored${ignored > 0 ? ` (${formatDrops(p.ignored)})` : ''}`,
    );
  }
  if (s.evpn !== undefined) {
    const n = Object.values(s.evpn.rejected).reduce((a, v) => a + v, 0);
    lines.push(`evpn: ${n} route${n === 1 ? '' : 's'} rejected${n > 0 ? ` (${formatDrops(s.evpn.rejected)})` : ''}`);
  }
  for (const [name, v] of Object.entries(s.vrfs ?? {})) {
    const c = v.counters;
    lines.push(
      `vrf ${name}: networks ${v.networks.join(', ') || 'none'}; ${v.routes} routes; routed ${c.routed}, ` +
        `ttl-exceeded ${c['ttl-exceeded']}, no-route ${c['no-route']}, neigh-unresolved ${c['neigh-unresolved']}, ` +
        `icmp-sent ${c['icmp-sent']}, icmp-ratelimited ${c['icmp-ratelimited']}; resolving ${v.resolving}`,
    );
    const l3 = v.l3vni;
    if (l3 !== undefined)
      lines.push(
        `  l3vni ${l3.vni} router-mac ${l3['router-mac']}: rx ${l3['rx-packets']} packets, tx ${l3['tx-packets']} ` +
          `packets; drops ${formatDrops(l3.drops)}`,
      );
  }
  const b = s['busy-poll'];
  if (b !== undefined && b['paused-contended'] + b['paused-idle'] > 0) {
    lines.push(
      `busy-poll: paused ${b['paused-contended']} times (the CPU was wanted elsewhere), ${b['paused-idle']} ` +
        `(nothing caught)`,
    );
  }
  return lines.join('\n');
}

function formatNetwork(name: string, n: NetworkStats): string[] {
  const c = n.counters;
  const lines = [
    `network ${name}: ${n.encap} ${idLabel(n.encap)} ${n.id}, tap ` +
      `${n.tap}${n.state === 'failed' ? `, FAILED: ${n.failure}` : ''}`,
    `  tap     rx ${c['tap-rx-frames']} frames ${c['tap-rx-bytes']} bytes, tx ${c['tap-tx-frames']} frames ` +
      `${c['tap-tx-bytes']} bytes`,
    `  tunnel  rx ${c['tunnel-rx-packets']} packets ${c['tunnel-rx-bytes']} bytes, tx ` +
      `${c['tunnel-tx-packets']} packets ${c['tunnel-tx-bytes']} bytes`,
    `  flood   ${c['flooded-frames']} frames sent as ${c['flood-copies']} ` +
      `copies${n.group ? ` (${c['group-tx-packets']} to group ${n.group}, ${c['group-tx-bytes']} bytes)` : ''}`,
    `  macs    ${n.macs.entries} entries; learned ${n.macs.learned}, aged ${n.macs.aged}, moved ` +
      `${n.macs.moved}, refused ${n.macs.refused}`,
    `  given   ${formatGiven(n.given)}`,
    `  neigh   ${n.neigh.entries} entries; arp-suppressed ${c['arp-suppressed']}, nd-suppressed ${c['nd-suppressed']}`,
    `  drops   ${formatDrops(n.drops)}`,
  ];
  const g = n['gre-socket'];
  if (g !== undefined) {
    lines.push(
      g.mode === 'raw'
        ? '  socket  raw (gre-socket raw)'
        : `  socket  packet: ${g['packet-tx']} packets by the packet socket, ${g['raw-tx']} by the raw socket; ` +
            `remotes ${g['remotes-packet']} by packet, ${g['remotes-raw']} by raw (no usable next hop)`,
    );
  }
  if (c['pmtu-icmp-sent'] > 0)
    lines.push(`  pmtu    ${c['pmtu-icmp-sent']} frames over a path MTU answered with ICMP on the TAP`);
  if (c['pmtu-fragmentable'] > 0) {
    lines.push(
      `  pmtu    ${c['pmtu-fragmentable']} frames over a path MTU too small for ICMP to help their sender, ` +
        `sent fragmentable`,
    );
  }
  for (const [addr, r] of Object.entries(n.remotes)) {
    lines.push(
      `  remote ${addr} (${r.kind}): rx ${r['rx-packets']} packets ${r['rx-bytes']} bytes, tx ` +
        `${r['tx-packets']} packets ${r['tx-bytes']} bytes, pmtu ${r.pmtu}`,
    );
  }
  return lines;
}

function formatDrops(drops: Record<string, number>): string {
  const nonzero = Object.entries(drops).filter(([, v]) => v > 0);
  return nonzero.length === 0 ? 'none' : nonzero.map(([k, v]) => `${k} ${v}`).join(', ');
}

/** `vtepctl evpn show`: the BGP sessions, and per network what was advertised and received. */
/** How long ago a Unix time was, as 45s, 3m12s, 5h02m or 2d04h. */
function ago(unixSeconds: number): string {
  const t = Math.max(0, Math.round(Date.now() / 1000 - unixSeconds));
  const two = (n: number) => String(n).padStart(2, '0');
  if (t < 60) return `${t}s`;
  if (t < 3600) return `${Math.floor(t / 60)}m${two(t % 60)}s`;
  if (t < 86400) return `${Math.floor(t / 3600)}h${two(Math.floor(t / 60) % 60)}m`;
  return `${Math.floor(t / 86400)}d${two(Math.floor(t / 3600) % 24)}h`;
}

export function formatEvpn(s: EvpnStatus): string {
  const lines = [
    `evpn: AS ${s.asn}, router-id ${s['router-id']}, GoBGP ${s.gobgp}${s.managed ? ' (started by vtepd)' : ''}`,
  ];
  for (const p of s.sessions) {
    const more = [
      ...(p['peer-as'] !== undefined ? [`AS ${p['peer-as']}`] : []),
      ...(p.since !== undefined ? [`${p.state === 'ESTABLISHED' ? 'up' : 'down'} ${ago(p.since)}`] : []),
      ...(p.flaps !== undefined ? [`${p.flaps} flap${p.flaps === 1 ? '' : 's'}`] : []),
      ...(p['hold-time'] ? [`hold time ${p['hold-time']} s`] : []),
      ...(p['dropped-updates']
        ? [
            `${p['dropped-updates']} UPDATE${p['dropped-updates'] === 1 ? '' : 's'} dropped as malformed (last: ${p['last-dropped']})`,
          ]
        : []),
    ];
    lines.push(
      `  neighbor ${p.neighbor}: ${p.state.toLowerCase()}, ${p.received} routes received, ${p.accepted} accepted` +
        (p['own-reflected'] > 0 ? ` (and ${p['own-reflected']} of our own reflected back)` : '') +
        (more.length > 0 ? `; ${more.join(', ')}` : ''),
    );
  }
  if (s.sessions.length === 0) lines.push('  no BGP session');
  lines.push(
    `  routes: ${s.following ? 'following GoBGP' : 'reconnecting to GoBGP'}` +
      (s.resyncs > 0 ? ` (the stream was lost ${s.resyncs} time${s.resyncs === 1 ? '' : 's'}, and resynced)` : ''),
  );
  for (const [name, n] of Object.entries(s.networks)) {
    lines.push(
      `  network ${name}: vni ${n.vni}, rd ${n.rd}, import ${n['import-rt'].join(',')}, export ` +
        `${n['export-rt'].join(',')}`,
    );
    lines.push(
      `    advertised ${n.advertised['type-3']} type-3, ${n.advertised['type-2']} type-2; received ` +
        `${n.received['type-3']} type-3, ${n.received['type-2']} type-2` +
        (n.frozen.length ? `; frozen ${n.frozen.join(', ')}` : ''),
    );
  }
  for (const [name, v] of Object.entries(s.vrfs ?? {})) {
    lines.push(
      `  vrf ${name}: l3vni ${v.l3vni}, router-mac ${v['router-mac']}, rd ${v.rd}, import ${v['import-rt'].join(',')}, ` +
        `export ${v['export-rt'].join(',')}`,
    );
    lines.push(
      `    advertised ${v.advertised['type-5']} type-5; received ${v.received['type-5']} type-5, ` +
        `${v.received['host-routes']} host routes`,
    );
  }
  const rejected = Object.entries(s.rejected ?? {});
  if (rejected.length > 0)
    lines.push(`  rejected: ${rejected.map(([why, n]) => `${n} ${why}`).join(', ')} (next hops no VTEP can have)`);
  lines.push(`  last error: ${s['last-error'] ?? 'none'}`);
  return lines.join('\n');
}

/** `12/65536 static MACs, 0/65536 EVPN MACs, 2/1024 remotes; refused 0`: given state against its bounds. */
function formatGiven(g: NetworkStats['given']): string {
  const names: Record<keyof NetworkStats['given'], string> = {
    'static-macs': 'static MACs',
    'evpn-macs': 'EVPN MACs',
    remotes: 'remotes',
  };
  const parts = Object.entries(g).map(([k, v]) => `${v.entries}/${v.max} ${names[k as keyof typeof names]}`);
  const refused = Object.entries(g).filter(([, v]) => v.refused > 0);
  return (
    `${parts.join(', ')}; refused ` +
    (refused.length === 0 ? '0' : refused.map(([k, v]) => `${v.refused} (max-${k})`).join(', '))
  );
}

/** `vtepctl evpn routes`: a line a route (advertised, installed or received; type, rd, mac, ip, vtep, vni, seq, rt). */
export function formatEvpnRoutes(rows: readonly EvpnRouteRow[]): string {
  return rows
    .map((r) =>
      [
        r.direction === 'advertised' ? 'advertised' : r.installed ? 'installed ' : 'received  ',
        r.network,
        `type-${r.type}`,
        `rd ${r.rd}`,
        ...(r.mac !== undefined ? [`mac ${r.mac}`] : []),
        ...(r.ip !== undefined ? [`ip ${r.ip}`] : []),
        `vtep ${r.vtep}`,
        `vni ${r.vni}`,
        ...(r.seq !== undefined ? [`seq ${r.seq}`] : []),
        `rt ${r.rts.join(',')}`,
      ].join(' '),
    )
    .join('\n');
}
