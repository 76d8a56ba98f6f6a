// `npm run bench`: vtepd side by side with the Linux kernel's VXLAN device and
// Open vSwitch's userspace datapath, in one run and the same conditions. Not a
// test: it prints figures. As root.
//
// Each setup is a fresh two-host lab (TX checksum offload off on the veths, the
// fair setting: real NICs put full checksums on the wire): h1 runs the implementation under test,
// h2 the peer. Measured from h1: TCP h1 -> h2 and h2 -> h1 (iperf3), 64-byte
// frames h1 -> h2 (iperf3 UDP, 18-byte payloads: 60-byte frames + FCS), and
// the ping round-trip time, 5 ms apart and back to back. Ratios are to the
// kernel-to-kernel row of the same underlay family (the IPv6 rows run over
// fd00::/64 and compare with the kernel over IPv6). GRE is compared with Open
// vSwitch GRE, and with vtepd's own VXLAN with vtepd on both ends (so that no
// peer is the limit). Routing between networks is measured between tenant
// hosts behind bridges on both hosts (scripts/lab/routing-lab.ts): vtepd
// routing blue -> red, the same vtepd pair bridging blue -> blue, and the
// kernel routing the same topology (its bridges as the anycast gateways); the
// routed rows' ratios are to the kernel's routed row. Routing over an EVPN
// fabric (symmetric IRB) runs vtepd or a kernel VTEP with FRR on h1 against a
// kernel VTEP with FRR on h2, the two BGP peers; ratios to kernel <-> kernel.
//
// Figures on a shared 2-vCPU VM vary by about ±20% from one run to the next,
// so every setup is measured in several rounds (the setups interleaved, so
// that a slow spell of the host hits them all) and the table shows medians.
//
// (Over 400 lines: the setups, the measures and the report with its chart.)
//
//   npx tsx scripts/bench.ts [--rounds N] [--seconds N] [--only NAME,...] [--vtepd-args="--no-offload"] [--redraw]
//   npx tsx scripts/bench.ts --only cli     (the commands' start, a batch of 10,000 adds, vtepd's start and memory)
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, hostname, release } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Lab, ROOT, sleep, type Result } from './lab/lab.ts';
import { kernelIrbConfig, kernelIrbVtep } from './lab/evpn-fabric.ts';
import { irbConfig, KERNEL_RMAC, L3VNI, routedKernel, routedVtepd, routingTenants, v4 } from './lab/routing-lab.ts';

const A2 = '192.168.100.2';

/** Where a setup is measured: the client's namespace, the server's, and the server's address. */
interface Ends {
  client: string;
  server: string;
  address: string;
}

interface Setup {
  name: string;
  label: string;
  encap: 'vxlan' | 'gre' | 'geneve';
  /** Over the IPv6 underlay; its ratios are then to the kernel over IPv6. */
  ipv6?: boolean;
  /** The row its ratios are to (default: the kernel over the same underlay family). */
  base?: string;
  /** Builds the setup; returns where to measure, when not from h1 to 192.168.100.2 on h2. */
  build(lab: Lab, vtepdArgs: string[]): Promise<Ends | void>;
}

/** What one run writes to bench/results/: medians in `results`, every round in `perRound`. */
interface Saved {
  when: string;
  machine: string;
  seconds: number;
  rounds: number;
  vtepdArgs: string[];
  results: Record<string, Figures>;
  perRound: Record<string, Figures[]>;
  table: string;
}

interface Figures {
  tcpOut: number;
  tcpIn: number;
  pps64: number;
  /** What iperf3 sent, of which pps64 arrived (a peer that cannot keep up loses the rest). */
  pps64Sent: number;
  /** Pings 5 ms apart: the daemon (and the vCPUs) fall idle in between. */
  rttMedianUs: number;
  /** Pings back to back (ping -A): no idle time, the forwarding cost alone. */
  rttBusyUs: number;
  /** Pings of both runs that got no reply. */
  pingsLost: number;
}

const under = (lab: Lab, i: number, v6: boolean) => (v6 ? lab.underlay6(i) : lab.underlay(i));
const kernel = (lab: Lab, i: number, peer: number, v6 = false) =>
  lab.kernelVxlan(i, {
    vni: 42,
    ipv6: v6,
    address: `192.168.100.${i}/24`,
    mac: `02:00:00:00:00:0${i}`,
    remotes: [under(lab, peer, v6)],
    mtu: v6 ? 1430 : 1450,
  });
const ovs = (lab: Lab, i: number, peer: number, type: 'vxlan' | 'gre' | 'ip6gre' | 'geneve') =>
  lab.ovs(i, {
    type,
    key: type === 'vxlan' || type === 'geneve' ? 42 : 77,
    remote: under(lab, peer, type === 'ip6gre'),
    address: `192.168.100.${i}/24`,
    mtu: type === 'vxlan' || type === 'geneve' ? 1450 : type === 'gre' ? 1458 : 1438,
  });
const vtepd = async (lab: Lab, encap: string, args: string[], i = 1, peer = 2, v6 = false) => {
  await lab.startDaemonArgs(i, [
    '--local',
    under(lab, i, v6),
    '--tap',
    'tap0',
    ...encap.split(' '),
    '--remote',
    under(lab, peer, v6),
    '--address',
    `192.168.100.${i}/24`,
    '--socket',
    lab.socket(i),
    ...args,
  ]);
};

const SETUPS: Setup[] = [
  {
    name: 'kernel',
    label: 'kernel VXLAN <-> kernel VXLAN',
    encap: 'vxlan',
    build: async (lab) => {
      await kernel(lab, 1, 2);
      await kernel(lab, 2, 1);
    },
  },
  {
    name: 'vtepd',
    label: 'vtepd VXLAN <-> kernel VXLAN',
    encap: 'vxlan',
    build: async (lab, a) => {
      await kernel(lab, 2, 1);
      await vtepd(lab, '--vni 42', a);
    },
  },
  {
    name: 'ovs',
    label: 'OVS userspace VXLAN <-> kernel VXLAN',
    encap: 'vxlan',
    build: async (lab) => {
      await kernel(lab, 2, 1);
      await ovs(lab, 1, 2, 'vxlan');
    },
  },
  {
    name: 'vtepd-gre',
    label: 'vtepd GRE <-> OVS GRE',
    encap: 'gre',
    build: async (lab, a) => {
      await ovs(lab, 2, 1, 'gre');
      await vtepd(lab, '--gre-key 77', a);
    },
  },
  {
    name: 'vtepd-pair',
    label: 'vtepd VXLAN <-> vtepd VXLAN',
    encap: 'vxlan',
    build: async (lab, a) => {
      await vtepd(lab, '--vni 42', a, 2, 1);
      await vtepd(lab, '--vni 42', a);
    },
  },
  {
    name: 'vtepd-gre-pair',
    label: 'vtepd GRE <-> vtepd GRE',
    encap: 'gre',
    build: async (lab, a) => {
      await vtepd(lab, '--gre-key 77', a, 2, 1);
      await vtepd(lab, '--gre-key 77', a);
    },
  },
  {
    name: 'ovs-gre',
    label: 'OVS userspace GRE <-> OVS GRE',
    encap: 'gre',
    build: async (lab) => {
      await ovs(lab, 2, 1, 'gre');
      await ovs(lab, 1, 2, 'gre');
    },
  },
  {
    name: 'vtepd-geneve',
    label: 'vtepd Geneve <-> OVS Geneve',
    encap: 'geneve',
    build: async (lab, a) => {
      await ovs(lab, 2, 1, 'geneve');
      await vtepd(lab, '--geneve-vni 42', a);
    },
  },
  {
    name: 'vtepd-geneve-pair',
    label: 'vtepd Geneve <-> vtepd Geneve',
    encap: 'geneve',
    build: async (lab, a) => {
      await vtepd(lab, '--geneve-vni 42', a, 2, 1);
      await vtepd(lab, '--geneve-vni 42', a);
    },
  },
  {
    name: 'ovs-geneve',
    label: 'OVS userspace Geneve <-> OVS Geneve',
    encap: 'geneve',
    build: async (lab) => {
      await ovs(lab, 2, 1, 'geneve');
      await ovs(lab, 1, 2, 'geneve');
    },
  },
  {
    name: 'kernel6',
    label: 'IPv6: kernel VXLAN <-> kernel VXLAN',
    encap: 'vxlan',
    ipv6: true,
    build: async (lab) => {
      await kernel(lab, 1, 2, true);
      await kernel(lab, 2, 1, true);
    },
  },
  {
    name: 'vtepd6',
    label: 'IPv6: vtepd VXLAN <-> kernel VXLAN',
    encap: 'vxlan',
    ipv6: true,
    build: async (lab, a) => {
      await kernel(lab, 2, 1, true);
      await vtepd(lab, '--vni 42', a, 1, 2, true);
    },
  },
  {
    name: 'vtepd-gre6',
    label: 'IPv6: vtepd GRE <-> OVS ip6gre',
    encap: 'gre',
    ipv6: true,
    build: async (lab, a) => {
      await ovs(lab, 2, 1, 'ip6gre');
      await vtepd(lab, '--gre-key 77', a, 1, 2, true);
    },
  },
  {
    name: 'ovs-gre6',
    label: 'IPv6: OVS ip6gre <-> OVS ip6gre',
    encap: 'gre',
    ipv6: true,
    build: async (lab) => {
      await ovs(lab, 2, 1, 'ip6gre');
      await ovs(lab, 1, 2, 'ip6gre');
    },
  },
  // Routing between networks: tenant hosts behind bridges on both hosts, blue@h1 -> red@h2 (routed) or
  // blue@h2 (bridged, the same vtepd pair), and the kernel routing the same topology. Ratios to the kernel's.
  {
    name: 'kernel-routed',
    label: 'routed: kernel bridges + VXLAN, blue -> red',
    encap: 'vxlan',
    base: 'kernel-routed',
    build: async (lab) => tenantEnds(lab, await routedKernel(lab), 'red'),
  },
  {
    name: 'vtepd-routed',
    label: 'routed: vtepd <-> vtepd, blue -> red',
    encap: 'vxlan',
    base: 'kernel-routed',
    build: async (lab, a) => tenantEnds(lab, await routedVtepd(lab, undefined, undefined, a), 'red'),
  },
  {
    name: 'vtepd-bridged',
    label: 'bridged: vtepd <-> vtepd, blue -> blue',
    encap: 'vxlan',
    base: 'kernel-routed',
    build: async (lab, a) => tenantEnds(lab, await routedVtepd(lab, undefined, undefined, a), 'blue'),
  },
  // Routing over an EVPN fabric with symmetric IRB: 192.168.10.0/24 behind h1, 192.168.30.0/24 behind a kernel
  // VTEP on h2 (FRR), the two VTEPs BGP peers; vtepd on h1, or the kernel with FRR. Ratios to kernel <-> kernel.
  {
    name: 'kernel-irb',
    label: 'routed over EVPN: kernel <-> kernel, symmetric IRB',
    encap: 'vxlan',
    base: 'kernel-irb',
    build: async (lab) => {
      const h1 = await kernelIrbVtep(lab, 1, { l3vni: L3VNI, rmac: '02:66:00:00:00:01', subnets: [IRB_BLUE] });
      await irbPeer(lab, 1);
      return irbEnds(lab, h1.get(10)!, await irbKernel(lab));
    },
  },
  {
    name: 'vtepd-irb',
    label: 'routed over EVPN: vtepd <-> kernel, symmetric IRB',
    encap: 'vxlan',
    base: 'kernel-irb',
    build: async (lab, a) => {
      const tenants = new Map<string, string>();
      await lab.startDaemonArgs(1, ['--config', lab.writeConfig(1, irbConfig(lab, 1, ['blue'], '', 2)), ...a]);
      await routingTenants(lab, { blue: {} }, [1], tenants);
      return irbEnds(lab, tenants.get('blue@1')!, await irbKernel(lab));
    },
  },
];

/** h1's subnet in the EVPN routing rows: blue, its tenant 192.168.10.11. */
const IRB_BLUE = { vni: 10, gateway: '192.168.10.1/24', host: '192.168.10.11/24', hostMac: '02:00:00:00:10:0b' };

/** FRR on host i, peering with the other host of the pair. */
async function irbPeer(lab: Lab, i: number): Promise<void> {
  const k = kernelIrbConfig(lab, i, L3VNI, 3 - i);
  await lab.frr(i, k.bgpd, k.zebra);
}

/** h2: the kernel VTEP with 192.168.30.0/24 and FRR; returns its tenant (192.168.30.12). */
async function irbKernel(lab: Lab): Promise<string> {
  const h2 = await kernelIrbVtep(lab, 2, {
    l3vni: L3VNI,
    rmac: KERNEL_RMAC,
    subnets: [{ vni: 30, gateway: '192.168.30.1/24', host: '192.168.30.12/24', hostMac: '02:00:00:00:30:0c' }],
  });
  await irbPeer(lab, 2);
  return h2.get(30)!;
}

/** From h1's tenant to h2's, once the route to h2's subnet is in h1's tenant VRF (30 s at most). */
async function irbEnds(lab: Lab, client: string, server: string): Promise<Ends> {
  for (let t = 0; t < 150; t++) {
    const r = await lab.execIn(client, 'ping', ['-c', '1', '-W', '1', '192.168.30.12']);
    if (r.code === 0) break;
    await sleep(200);
  }
  return { client, server, address: '192.168.30.12' };
}

/** From blue@h1 to the tenant of `to` on h2. */
function tenantEnds(_lab: Lab, tenants: Map<string, string>, to: 'red' | 'blue'): Ends {
  return { client: tenants.get('blue@1')!, server: tenants.get(`${to}@2`)!, address: v4(to, 2) };
}

/** The row a setup's ratios are to: the kernel over the same underlay family, or its own base. */
const baseOf = (s: Setup) => s.base ?? (s.ipv6 ? 'kernel6' : 'kernel');

function iperfJson(r: Result): { end: Record<string, Record<string, number>> } {
  try {
    return JSON.parse(r.stdout) as { end: Record<string, Record<string, number>> };
  } catch {
    throw new Error(`iperf3 failed (${r.code}): ${r.stderr || r.stdout.slice(0, 500)}`);
  }
}

async function iperf(
  lab: Lab,
  ends: Ends,
  args: string[],
  seconds: number,
): Promise<{ end: Record<string, Record<string, number>> }> {
  const server = lab.execIn(ends.server, 'iperf3', ['-s', '-1', '-B', ends.address], (seconds + 20) * 1000);
  await sleep(300);
  const r = await lab.execIn(
    ends.client,
    'iperf3',
    ['-c', ends.address, '-t', String(seconds), '-J', ...args],
    (seconds + 20) * 1000,
  );
  await server;
  return iperfJson(r);
}

/** The median round trip of a ping run, and how many of its pings got no reply. */
async function pingRtt(lab: Lab, ends: Ends, args: string[]): Promise<{ medianUs: number; lost: number }> {
  const ping = await lab.execIn(ends.client, 'ping', [...args, '-W', '1', ends.address], 30_000);
  const times = [...ping.stdout.matchAll(/time=([\d.]+) ms/g)].map((m) => Number(m[1]) * 1000).sort((a, b) => a - b);
  const m = /(\d+) packets transmitted, (\d+) received/.exec(ping.stdout);
  return {
    medianUs: times.length ? times[Math.floor(times.length / 2)] : NaN,
    lost: m ? Number(m[1]) - Number(m[2]) : NaN,
  };
}

async function measure(lab: Lab, ends: Ends, seconds: number): Promise<Figures> {
  const out = await iperf(lab, ends, [], seconds);
  const back = await iperf(lab, ends, ['-R'], seconds);
  const udp = await iperf(lab, ends, ['-u', '-b', '0', '-l', '18'], seconds);
  const paced = await pingRtt(lab, ends, ['-c', '200', '-i', '0.005']);
  const busy = await pingRtt(lab, ends, ['-c', '1000', '-A']);
  const sum = udp.end.sum;
  return {
    tcpOut: out.end.sum_received.bits_per_second / 1e9,
    tcpIn: back.end.sum_received.bits_per_second / 1e9,
    pps64: (sum.packets - sum.lost_packets) / sum.seconds,
    pps64Sent: sum.packets / sum.seconds,
    rttMedianUs: paced.medianUs,
    rttBusyUs: busy.medianUs,
    pingsLost: paced.lost + busy.lost,
  };
}

async function run(s: Setup, seconds: number, vtepdArgs: string[]): Promise<Figures> {
  const lab = await Lab.create(2);
  try {
    if (s.ipv6) await lab.ipv6Underlay();
    const ends = (await s.build(lab, vtepdArgs)) ?? { client: lab.ns(1), server: lab.ns(2), address: A2 };
    // Warm up: ARP, OVS underlay resolution, a router's neighbour.
    await lab.execIn(ends.client, 'ping', ['-c', '3', '-i', '0.3', '-W', '2', ends.address]);
    return await measure(lab, ends, seconds);
  } finally {
    await lab.destroy();
  }
}

function median(xs: number[]): number {
  const v = xs.filter(Number.isFinite).sort((a, b) => a - b);
  if (!v.length) return NaN;
  const mid = Math.floor(v.length / 2);
  return v.length % 2 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
}

/** Each figure's median over the rounds a setup completed. */
function medians(rounds: Record<string, Figures[]>): Record<string, Figures> {
  const out: Record<string, Figures> = {};
  for (const [name, runs] of Object.entries(rounds)) {
    if (!runs.length) continue;
    const keys = Object.keys(runs[0]) as (keyof Figures)[];
    out[name] = Object.fromEntries(keys.map((key) => [key, median(runs.map((r) => r[key]))])) as unknown as Figures;
  }
  return out;
}

/** vtepd's ratios to the kernel round by round (over IPv4, and over IPv6): how far one run can be from the median. */
function spread(rounds: Record<string, Figures[]>): string {
  const lines: string[] = [];
  for (const [base, ours, what] of [
    ['kernel', 'vtepd', 'vtepd VXLAN'],
    ['kernel6', 'vtepd6', 'IPv6: vtepd VXLAN'],
  ]) {
    const k = rounds[base];
    const v = rounds[ours];
    if (!k || !v || Math.min(k.length, v.length) < 2) continue;
    const n = Math.min(k.length, v.length);
    const per = (f: (r: Figures) => number, digits = 2) =>
      Array.from({ length: n }, (_, i) => fmt(f(v[i]) / f(k[i]), digits)).join(' ');
    const added = (f: (r: Figures) => number) =>
      Array.from({ length: n }, (_, i) => fmt(f(v[i]) - f(k[i]), 0)).join(' ');
    lines.push(
      `${what} × kernel, round by round: TCP out ${per((r) => r.tcpOut)}; TCP in ${per((r) => r.tcpIn)}; ` +
        `pps ${per((r) => r.pps64)}; added RTT µs ${added((r) => r.rttMedianUs)} (5 ms apart), ${added((r) => r.rttBusyUs)} (back to back)`,
    );
  }
  return lines.join('\n');
}

function fmt(n: number, digits = 2): string {
  return Number.isFinite(n) ? n.toFixed(digits) : '—';
}

function table(results: Record<string, Figures>): string {
  const lines = [
    '| setup | TCP h1→h2 Gb/s | TCP h2→h1 Gb/s | 64-byte pps h1→h2 | ping RTT median µs (5 ms apart / back to back) | TCP out × kernel | TCP in × kernel | pps × kernel | added RTT µs (5 ms apart / back to back) |',
    '|---|---|---|---|---|---|---|---|---|',
  ];
  for (const s of SETUPS) {
    const r = results[s.name];
    if (!r) continue;
    const k = results[baseOf(s)];
    lines.push(
      `| ${s.label} | ${fmt(r.tcpOut)} | ${fmt(r.tcpIn)} | ${fmt(r.pps64 / 1000, 0)}k | ${fmt(r.rttMedianUs, 0)} / ${fmt(r.rttBusyUs, 0)} | ` +
        `${k ? fmt(r.tcpOut / k.tcpOut) : '—'} | ${k ? fmt(r.tcpIn / k.tcpIn) : '—'} | ${k ? fmt(r.pps64 / k.pps64) : '—'} | ` +
        `${k ? `${fmt(r.rttMedianUs - k.rttMedianUs, 0)} / ${fmt(r.rttBusyUs - k.rttBusyUs, 0)}` : '—'} |`,
    );
  }
  // GRE against VXLAN like for like: vtepd on both ends, so that neither peer is the limit.
  const v = results['vtepd-pair'];
  const g = results['vtepd-gre-pair'];
  if (v && g)
    lines.push(
      '',
      `vtepd GRE / vtepd VXLAN (vtepd on both ends): TCP out ${fmt(g.tcpOut / v.tcpOut)}, TCP in ${fmt(g.tcpIn / v.tcpIn)}, 64-byte pps ${fmt(g.pps64 / v.pps64)}`,
    );
  // Routing against bridging on the same vtepd pair and topology.
  const rt = results['vtepd-routed'];
  const br = results['vtepd-bridged'];
  if (rt && br)
    lines.push(
      '',
      `vtepd routed / vtepd bridged (blue -> red / blue -> blue): TCP out ${fmt(rt.tcpOut / br.tcpOut)}, TCP in ${fmt(rt.tcpIn / br.tcpIn)}, 64-byte pps ${fmt(rt.pps64 / br.pps64)}, added RTT µs ${fmt(rt.rttMedianUs - br.rttMedianUs, 0)} / ${fmt(rt.rttBusyUs - br.rttBusyUs, 0)}`,
    );
  // Routing over EVPN against bridging, each against the kernel (target: at least the bridged ratio).
  const irb = results['vtepd-irb'];
  const kirb = results['kernel-irb'];
  const bridged = results['vtepd'];
  const kernelBridged = results['kernel'];
  if (irb && kirb && bridged && kernelBridged)
    lines.push(
      '',
      `routed over EVPN (vtepd × kernel, symmetric IRB) / bridged (vtepd × kernel VXLAN): TCP out ${fmt(irb.tcpOut / kirb.tcpOut)} / ${fmt(bridged.tcpOut / kernelBridged.tcpOut)}, TCP in ${fmt(irb.tcpIn / kirb.tcpIn)} / ${fmt(bridged.tcpIn / kernelBridged.tcpIn)}, 64-byte pps ${fmt(irb.pps64 / kirb.pps64)} / ${fmt(bridged.pps64 / kernelBridged.pps64)}`,
    );
  const lost = SETUPS.filter((s) => results[s.name]?.pingsLost !== undefined).map(
    (s) => `${s.name} ${fmt(results[s.name].pingsLost, 0)}`,
  );
  if (lost.length) lines.push('', `Pings lost of 1200 (median over rounds): ${lost.join(', ')}`);
  return lines.join('\n');
}

/** The table of medians, then how the rounds spread. */
function report(saved: Saved): string {
  const head = `Medians of ${saved.rounds} round${saved.rounds === 1 ? '' : 's'}, ${saved.seconds} s per figure.\n\n`;
  const by = spread(saved.perRound);
  return `${head}${table(saved.results)}${by ? `\n\n${by}` : ''}`;
}

function xml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** A grouped bar chart of every figure relative to the kernel, as SVG (no dependency). */
function chart(results: Record<string, Figures>, title: string): string {
  const metrics: ['tcpOut' | 'tcpIn' | 'pps64', string][] = [
    ['tcpOut', 'TCP h1→h2'],
    ['tcpIn', 'TCP h2→h1'],
    ['pps64', '64-byte pps'],
  ];
  const setups = SETUPS.filter((s) => results[s.name]);
  const colors = [
    '#555',
    '#1f77b4',
    '#ff7f0e',
    '#2ca02c',
    '#9467bd',
    '#8c564b',
    '#d62728',
    '#999',
    '#17becf',
    '#bcbd22',
    '#e377c2',
  ];
  const W = 820,
    H = 390,
    left = 40,
    bottom = 300,
    top = 50;
  const ratio = (s: Setup, m: 'tcpOut' | 'tcpIn' | 'pps64') => {
    const k = results[baseOf(s)];
    return k ? results[s.name][m] / k[m] : 0;
  };
  const max = Math.max(1.2, ...setups.flatMap((s) => metrics.map(([m]) => ratio(s, m))));
  const groupW = (W - left - 20) / metrics.length;
  const barW = (groupW - 30) / setups.length;
  const y = (v: number) => bottom - ((bottom - top) * v) / max;
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${left}" y="24" font-size="15">${xml(title)}</text>`,
    `<line x1="${left}" y1="${y(1)}" x2="${W - 10}" y2="${y(1)}" stroke="#999" stroke-dasharray="4"/>`,
    `<text x="${left - 8}" y="${y(1) + 4}" text-anchor="end">1.0×</text>`,
    `<text x="${left - 8}" y="${bottom + 4}" text-anchor="end">0</text>`,
  ];
  metrics.forEach(([m, label], gi) => {
    const gx = left + gi * groupW + 15;
    setups.forEach((s, si) => {
      const v = ratio(s, m);
      const x = gx + si * barW;
      parts.push(
        `<rect x="${x}" y="${y(v)}" width="${barW - 4}" height="${bottom - y(v)}" fill="${colors[si % colors.length]}"><title>${xml(s.label)}: ${fmt(v)}×</title></rect>`,
      );
      parts.push(
        `<text x="${x + (barW - 4) / 2}" y="${y(v) - 4}" text-anchor="middle" font-size="10">${fmt(v)}</text>`,
      );
    });
    parts.push(`<text x="${gx + (setups.length * barW) / 2}" y="${bottom + 18}" text-anchor="middle">${label}</text>`);
  });
  const perRow = 3;
  setups.forEach((s, si) => {
    const x = left + (si % perRow) * ((W - left) / perRow);
    const yy = H - 58 + Math.floor(si / perRow) * 16;
    parts.push(
      `<rect x="${x}" y="${yy}" width="10" height="10" fill="${colors[si % colors.length]}"/>`,
      `<text x="${x + 14}" y="${yy + 9}" font-size="10">${xml(s.label.replace(/ <-> /, ' ↔ '))}</text>`,
    );
  });
  parts.push('</svg>');
  return parts.join('\n');
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      rounds: { type: 'string', default: '3' },
      seconds: { type: 'string', default: '5' },
      only: { type: 'string' },
      'vtepd-args': { type: 'string', default: '' },
      redraw: { type: 'boolean' },
    },
  });
  const dir = join(ROOT, 'bench', 'results');
  if (values.redraw) {
    // The chart and table again from the last run's figures, without measuring.
    const last = JSON.parse(readFileSync(join(dir, 'latest.json'), 'utf8')) as Saved;
    writeFileSync(
      join(dir, 'latest.svg'),
      chart(
        last.results,
        `vtepd vs the Linux kernel and Open vSwitch (× the kernel: VXLAN, or routing for the routed rows), ${last.when.slice(0, 10)}`,
      ),
    );
    writeFileSync(join(dir, 'latest.md'), `${last.when} on ${last.machine}\n\n${report(last)}\n`);
    return;
  }
  const seconds = Number(values.seconds);
  const roundCount = Number(values.rounds);
  if (!Number.isInteger(roundCount) || roundCount < 1)
    throw new Error(`--rounds must be a whole number of at least 1, not ${values.rounds}`);
  const only = values.only?.split(',');
  // Not throughput either: what the commands cost a user (scripts/bench-cli.ts).
  if (only?.includes('cli')) {
    await (await import('./bench-cli.ts')).main();
    if (only.every((o) => o === 'cli')) return;
  }
  if (only?.includes('evpn-scale') || only?.includes('evpn-scale-routed')) {
    // Not a throughput figure: BGP EVPN convergence with many VTEPs (scripts/evpn-scale.ts), bridged or routed.
    const { main: scale } = await import('./evpn-scale.ts');
    if (only.includes('evpn-scale')) await scale(['--vteps', '20,50,100']);
    if (only.includes('evpn-scale-routed')) await scale(['--routed']);
    if (only.every((o) => o.startsWith('evpn-scale'))) return;
  }
  const vtepdArgs = values['vtepd-args']!.split(' ').filter(Boolean);
  const rounds: Record<string, Figures[]> = {};
  for (let round = 1; round <= roundCount; round++) {
    for (const s of SETUPS) {
      if (only && !only.includes(s.name)) continue;
      process.stderr.write(`bench: round ${round}/${roundCount}: ${s.label}...\n`);
      try {
        (rounds[s.name] ??= []).push(await run(s, seconds, vtepdArgs));
      } catch (e) {
        process.stderr.write(`bench: ${s.label} failed: ${(e as Error).message}\n`);
      }
    }
  }
  const results = medians(rounds);
  const when = new Date().toISOString();
  const machine = `${hostname()}, ${cpus().length} × ${cpus()[0]?.model ?? 'CPU'}, Linux ${release()}, Node ${process.version}`;
  const saved: Saved = { when, machine, seconds, rounds: roundCount, vtepdArgs, results, perRound: rounds, table: '' };
  const text = (saved.table = report(saved));
  console.log(`\n${when} on ${machine}${vtepdArgs.length ? ` (vtepd ${vtepdArgs.join(' ')})` : ''}\n\n${text}`);
  mkdirSync(dir, { recursive: true });
  const stamp = when.replace(/[:.]/g, '-');
  const json = JSON.stringify(saved, null, 2);
  writeFileSync(join(dir, `${stamp}.json`), json);
  if (only || vtepdArgs.length) {
    // A partial or tuned run is kept, but bench/results/latest.* stays a full run with the defaults.
    console.log(`\nwrote bench/results/${stamp}.json (not latest: --only or --vtepd-args was given)`);
    return;
  }
  writeFileSync(join(dir, 'latest.json'), json);
  writeFileSync(
    join(dir, 'latest.svg'),
    chart(
      results,
      `vtepd vs the Linux kernel and Open vSwitch (× the kernel: VXLAN, or routing for the routed rows), ${when.slice(0, 10)}`,
    ),
  );
  writeFileSync(join(dir, 'latest.md'), `${when} on ${machine}\n\n${text}\n`);
  console.log(`\nwrote bench/results/${stamp}.json, latest.json, latest.md and latest.svg`);
}

await main();
