// `npm run bench -- --only evpn-scale` (or `npx tsx scripts/evpn-scale.ts [--vteps N]`):
// BGP EVPN convergence at scale. Not a test: it prints figures. As root.
//
// N vtepd VTEPs (20 by default) and an FRR route reflector in namespaces on one
// underlay switch, one EVPN network (VNI 100) everywhere, nothing configured
// but the route reflector's address. Measured:
// - convergence: from the last vtepd's start (its host has said who it is)
//   until every VTEP has every other in its flood list and every other
//   host's MAC in its FDB (origin evpn), and from the last BGP session up
//   (the last join) until then. GoBGP waits 5 to 10 s before it first dials
//   a peer (a constant of GoBGP's); the route reflector dials instead, every
//   second (lab/evpn-fabric.ts);
// - a MAC move: a host leaves one VTEP and appears behind another; the time
//   until every VTEP points at the new one;
// - memory per VTEP: vtepd's and its gobgpd's resident sets.
// Every daemon's tables are read through its control socket (a Unix socket
// path, reachable from outside its network namespace), every 20 ms.
//
// `--routed` (`--only evpn-scale-routed`): the same VTEPs routing with
// symmetric IRB instead, one VRF (L3VNI 4001), each VTEP its own subnet
// (10.I.0.0/24 on VNI 1000+I, behind its anycast gateway); convergence until
// every VTEP has every other's type-5 route, from the last start and from the
// last session up.
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { request } from '../src/control/client.ts';
import type { FdbRow, RemoteRow, RouteRow } from '../src/control/protocol.ts';
import { routeReflectorConfig, vtepdEvpnConfig } from './lab/evpn-fabric.ts';
import { Lab, ROOT, sleep, type DaemonProcess } from './lab/lab.ts';

const VNI = 100;
const MOBILE_MAC = '02:00:00:00:99:01';
const overlay = (i: number) => `192.168.${100 + (i >> 8)}.${i & 255}`;

export interface ScaleResult {
  when: string;
  vteps: number;
  /** Seconds from the last start until every VTEP had every other VTEP and MAC. */
  convergenceS: number;
  /** Seconds from the last BGP session established (the last join) until then. */
  afterJoinS: number;
  /** Seconds from the first frame of a moved host until every VTEP pointed at its new VTEP. */
  moveS: number;
  /** Resident memory per VTEP, MB: vtepd, its gobgpd, both. */
  rssMb: { vtepd: number; gobgpd: number; total: number };
  /** Seconds to start the N daemons one after the other. */
  startS: number;
}

function vtepdConfig(lab: Lab, i: number): string {
  return vtepdEvpnConfig(lab, i, { vni: VNI, address: `${overlay(i)}/16`, extra: '' }).replace(
    `socket: ${lab.socket(i)}\n`,
    `socket: ${lab.socket(i)}\nbusy-poll: 0\n`,
  );
}

/** VTEP i's config with symmetric IRB: one subnet of its own in VRF tenant1. */
function routedConfig(lab: Lab, i: number): string {
  return `
local: ${lab.underlay(i)}
socket: ${lab.socket(i)}
busy-poll: 0
evpn: { asn: 65000, neighbors: [${lab.underlay(1)}], hold-time: 9 }
vrfs:
  tenant1: { l3vni: 4001 }
networks:
  sub:
    tap: tap-sub
    vxlan: { vni: ${1000 + i} }
    evpn: true
    learning: false
    vrf: tenant1
    gateway: { addresses: [10.${i}.0.1/24], mac: "00:00:5e:00:01:01" }
`;
}

export interface RoutedScaleResult {
  when: string;
  vteps: number;
  routed: true;
  /** Seconds from the last start until every VTEP had every other's type-5 route. */
  convergenceS: number;
  afterJoinS: number;
  startS: number;
}

/** The routed variant: every VTEP's subnet as a type-5 route everywhere. */
export async function evpnScaleRouted(
  vteps: number,
  log: (s: string) => void = console.log,
): Promise<RoutedScaleResult> {
  const lab = await Lab.create(vteps + 1);
  const ids = Array.from({ length: vteps }, (_, k) => k + 2);
  try {
    log(`evpn-scale --routed: ${vteps} vtepd VTEPs routing with symmetric IRB, an FRR route reflector`);
    await lab.frr(1, routeReflectorConfig(lab, ids));
    const t0 = performance.now();
    for (const i of ids) await lab.startDaemonArgs(i, ['--config', lab.writeConfig(i, routedConfig(lab, i))]);
    const startS = (performance.now() - t0) / 1000;
    let lastJoin = NaN;
    const tStart = performance.now();
    const convergenceS = await until(120_000, async () => {
      if (Number.isNaN(lastJoin)) {
        for (const i of ids) {
          const st = await request<{ sessions: { state: string }[] }>(lab.socket(i), { cmd: 'evpn-show' });
          if (st.sessions.length === 0 || !st.sessions.every((p) => p.state === 'ESTABLISHED')) return false;
        }
        lastJoin = performance.now();
      }
      for (const i of ids) {
        const routes = await request<RouteRow[]>(lab.socket(i), { cmd: 'route-show' });
        if (routes.filter((r) => r.origin === 'evpn' && r.active && r.prefix.endsWith('/24')).length < vteps - 1)
          return false;
      }
      return true;
    });
    const afterJoinS = (tStart + convergenceS * 1000 - lastJoin) / 1000;
    log(
      `evpn-scale --routed: started in ${startS.toFixed(1)} s; every type-5 everywhere ${convergenceS.toFixed(2)} s ` +
        `after the last start, ${afterJoinS.toFixed(2)} s after the last session came up`,
    );
    return { when: new Date().toISOString(), vteps, routed: true, convergenceS, afterJoinS, startS };
  } finally {
    await lab.destroy();
  }
}

async function rows<T>(lab: Lab, i: number, cmd: 'fdb-show' | 'remote-show'): Promise<T[]> {
  return request<T[]>(lab.socket(i), { cmd });
}

async function until(timeoutMs: number, check: () => Promise<boolean>): Promise<number> {
  const t0 = performance.now();
  while (performance.now() - t0 < timeoutMs) {
    if (await check()) return (performance.now() - t0) / 1000;
    await sleep(20);
  }
  return NaN;
}

function rssMb(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

/** The gobgpd a vtepd started: its child. */
function childPid(parent: number): number | undefined {
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === parent && stat.includes('(gobgpd)'))
        return Number(d);
    } catch {
      // gone
    }
  }
  return undefined;
}

export async function evpnScale(vteps: number, log: (s: string) => void = console.log): Promise<ScaleResult> {
  const hosts = vteps + 1;
  const lab = await Lab.create(hosts);
  const ids = Array.from({ length: vteps }, (_, k) => k + 2);
  try {
    log(`evpn-scale: ${vteps} vtepd VTEPs and an FRR route reflector`);
    await lab.frr(1, routeReflectorConfig(lab, ids));
    const daemons: DaemonProcess[] = [];
    const t0 = performance.now();
    for (const i of ids) {
      daemons.push(await lab.startDaemonArgs(i, ['--config', lab.writeConfig(i, vtepdConfig(lab, i))]));
      // The host behind the TAP says who it is: its MAC is learned, its address snooped.
      await lab.exec(i, 'arping', ['-U', '-c', '1', '-w', '0.2', '-I', 'tap-blue', overlay(i)]);
    }
    const startS = (performance.now() - t0) / 1000;
    const macs = new Map<number, string>();
    for (const i of ids) macs.set(i, (await lab.exec(i, 'cat', ['/sys/class/net/tap-blue/address'])).stdout.trim());
    let lastJoin = NaN;
    const sessionsUp = async () => {
      for (const i of ids) {
        const s = await request<{ sessions: { state: string }[] }>(lab.socket(i), { cmd: 'evpn-show' });
        if (!s.sessions.every((p) => p.state === 'ESTABLISHED') || s.sessions.length === 0) return false;
      }
      return true;
    };
    const tStart = performance.now();
    const convergenceS = await until(120_000, async () => {
      if (Number.isNaN(lastJoin)) {
        if (!(await sessionsUp())) return false;
        lastJoin = performance.now();
      }
      for (const i of ids) {
        const remotes = await rows<RemoteRow>(lab, i, 'remote-show');
        if (remotes.filter((r) => r.flood).length < vteps - 1) return false;
        const fdb = await rows<FdbRow>(lab, i, 'fdb-show');
        const evpn = new Set(fdb.filter((r) => r.origin === 'evpn').map((r) => r.mac));
        for (const j of ids) if (j !== i && !evpn.has(macs.get(j)!)) return false;
      }
      return true;
    });
    const afterJoinS = (tStart + convergenceS * 1000 - lastJoin) / 1000;
    log(
      `evpn-scale: started in ${startS.toFixed(1)} s; converged ${convergenceS.toFixed(2)} s after the last start, ${afterJoinS.toFixed(2)} s after the last session came up`,
    );

    // A host moves from the first VTEP to the second.
    const [a, b] = ids;
    const bringUp = async (i: number) => {
      await lab.exec(i, 'ip', [
        'link',
        'add',
        'mv0',
        'link',
        'tap-blue',
        'address',
        MOBILE_MAC,
        'type',
        'macvlan',
        'mode',
        'bridge',
      ]);
      await lab.exec(i, 'ip', ['addr', 'add', `${overlay(250)}/32`, 'dev', 'mv0']);
      await lab.exec(i, 'ip', ['link', 'set', 'mv0', 'up']);
    };
    const announce = (i: number) => lab.exec(i, 'arping', ['-U', '-c', '1', '-w', '0.2', '-I', 'mv0', overlay(250)]);
    const pointsAt = (target: number) => async () => {
      for (const i of ids) {
        if (i === target) continue;
        const e = (await rows<FdbRow>(lab, i, 'fdb-show')).find((r) => r.mac === MOBILE_MAC);
        if (e?.remote !== lab.underlay(target)) return false;
      }
      return true;
    };
    await bringUp(a);
    await announce(a);
    await until(30_000, pointsAt(a));
    await lab.exec(a, 'ip', ['link', 'del', 'mv0']);
    await bringUp(b);
    const announced = announce(b); // the host's first frame behind its new VTEP: the clock starts
    const moveS = await until(30_000, pointsAt(b));
    await announced;
    log(`evpn-scale: a MAC move reached every VTEP in ${moveS.toFixed(2)} s`);

    const vtepd = daemons.map((d) => rssMb(d.pid));
    const gobgpd = daemons.map((d) => {
      const pid = childPid(d.pid);
      return pid === undefined ? NaN : rssMb(pid);
    });
    const mean = (xs: number[]) => xs.reduce((s, x) => s + x, 0) / xs.length;
    const rss = { vtepd: mean(vtepd), gobgpd: mean(gobgpd), total: mean(vtepd) + mean(gobgpd) };
    log(
      `evpn-scale: memory per VTEP: vtepd ${rss.vtepd.toFixed(0)} MB + gobgpd ${rss.gobgpd.toFixed(0)} MB = ${rss.total.toFixed(0)} MB`,
    );
    return { when: new Date().toISOString(), vteps, convergenceS, afterJoinS, moveS, rssMb: rss, startS };
  } finally {
    await lab.destroy();
  }
}

export function formatScale(r: ScaleResult): string {
  return [
    `| VTEPs | start, one after the other | convergence after the last start | after the last session came up | MAC move, to every VTEP | memory per VTEP (vtepd + gobgpd) |`,
    `|---|---|---|---|---|---|`,
    `| ${r.vteps} | ${r.startS.toFixed(1)} s | ${r.convergenceS.toFixed(2)} s | ${r.afterJoinS.toFixed(2)} s | ${r.moveS.toFixed(2)} s | ${r.rssMb.vtepd.toFixed(0)} + ${r.rssMb.gobgpd.toFixed(0)} = ${r.rssMb.total.toFixed(0)} MB |`,
  ].join('\n');
}

/** Runs it and writes bench/results/evpn-scale-<date>.json. */
const USAGE = `usage: npx tsx scripts/evpn-scale.ts [--vteps N] [--routed]   (as root)

BGP EVPN convergence at scale: N vtepd VTEPs (default 20, at least 2) and an FRR route
reflector in network namespaces of their own (a lab of its own, beside any other), one EVPN
network everywhere; prints the time to converge after the last start and after the last
session came up, a MAC move's time to reach every VTEP, and memory per VTEP. --routed: the
same VTEPs routing with symmetric IRB (type-5 routes) instead.`;

export async function main(argv: string[]): Promise<void> {
  let values: { vteps?: string; routed?: boolean; help?: boolean };
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        vteps: { type: 'string', default: '20' },
        routed: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
    }));
  } catch (e) {
    console.error(`evpn-scale: ${(e as Error).message.split('\n')[0]}\n${USAGE}`);
    process.exit(2);
  }
  if (values.help) {
    console.log(USAGE);
    return;
  }
  const vteps = Number(values.vteps);
  if (!Number.isInteger(vteps) || vteps < 2 || vteps > 250) {
    console.error(`evpn-scale: --vteps: expected a whole number from 2 to 250, not ${values.vteps}`);
    process.exit(2);
  }
  const r = values.routed ? await evpnScaleRouted(vteps) : await evpnScale(vteps);
  if (!('routed' in r)) console.log(`\n${formatScale(r)}`);
  const dir = join(ROOT, 'bench/results');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `evpn-scale-${'routed' in r ? 'routed-' : ''}${r.when.replace(/[:.]/g, '-')}.json`);
  writeFileSync(file, JSON.stringify(r, null, 2) + '\n');
  console.log(`\nwrote ${file}`);
}

if (process.argv[1]?.endsWith('evpn-scale.ts')) await main(process.argv.slice(2));
