// `npm run bench -- --only cli`: what the commands cost a user, beside what
// they are compared with, in one run: `vtepctl --version` and `vtepctl fdb
// show` against a running vtepd beside `node -e 0` and `bridge fdb show`;
// 10,000 `fdb add` through one `vtepctl -batch`; vtepd from exec to "ready"
// (one VXLAN network) and its resident memory 2 s after and once settled
// (15 s idle: V8 gives back what the start used), without and with BGP
// EVPN (vtepd's own, gobgpd apart), beside Node.js idle. Each as it ships (the compiled dist/) and,
// beside it, through tsx from the sources (VTEPD_RUN=src, a checkout being
// edited). Medians. Not a test: it prints figures.
import { spawn, spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { blueConfig, kernelPeers, Lab, ROOT, sleep } from './lab/lab.ts';
import { vtepdEvpnConfig } from './lab/evpn-fabric.ts';
import { rssMb } from './fuzz/run.ts';

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** Wall time of one run of a command in host 1's namespace, in ms; throws when it fails. */
function once(lab: Lab, cmd: string[]): number {
  const t0 = performance.now();
  const r = spawnSync('ip', ['netns', 'exec', lab.ns(1), ...cmd], { stdio: ['ignore', 'ignore', 'pipe'] });
  const took = performance.now() - t0;
  if (r.status !== 0) throw new Error(`${cmd.join(' ')} failed: ${r.stderr.toString()}`);
  return took;
}

/** Wall time of a command in host 1's namespace, in ms (median of `n`); throws when it fails. */
function timed(lab: Lab, cmd: string[], n: number): number {
  return median(Array.from({ length: n }, () => once(lab, cmd)));
}

/**
 * Medians of `n` runs of each command, taken in turns (one of each, `n` times): this VM has slow
 * phases of some seconds, which timing one command after the other puts into one figure and not
 * its neighbour's, and a ratio between them then says more about the phase than the commands.
 */
function timedInTurns(lab: Lab, cmds: { cmd: string[] }[], n: number): number[] {
  const times = cmds.map((): number[] => []);
  for (let k = 0; k < n; k++) cmds.forEach(({ cmd }, j) => times[j].push(once(lab, cmd)));
  return times.map(median);
}

/** Runs `f` with the commands forced to run the TypeScript sources through tsx (VTEPD_RUN=src). */
async function fromSources<T>(f: () => T | Promise<T>): Promise<T> {
  const was = process.env.VTEPD_RUN;
  process.env.VTEPD_RUN = 'src';
  try {
    return await f();
  } finally {
    if (was === undefined) delete process.env.VTEPD_RUN;
    else process.env.VTEPD_RUN = was;
  }
}

/** How long after "ready" V8 has given back what the start used: its memory reducer runs after some seconds idle. */
const SETTLED_MS = 15_000;

/**
 * vtepd from exec to "ready" and its RSS 2 s later, medians of `n` starts; and its RSS once settled
 * (SETTLED_MS idle), from one more start.
 */
async function startup(
  lab: Lab,
  config: string,
  n: number,
): Promise<{ readyMs: number; rssMb: number; settledMb: number }> {
  const ready: number[] = [];
  const rss: number[] = [];
  for (let k = 0; k < n; k++) {
    const t0 = performance.now();
    const d = await lab.startDaemon(1, config);
    ready.push(performance.now() - t0);
    await sleep(2000);
    rss.push(rssMb(d.pid));
    await d.stop();
  }
  const d = await lab.startDaemon(1, config);
  await sleep(SETTLED_MS);
  const settledMb = rssMb(d.pid);
  await d.stop();
  return { readyMs: median(ready), rssMb: median(rss), settledMb };
}

/** Node.js itself doing nothing, SETTLED_MS after its start: the floor under every figure of memory above. */
async function nodeIdleMb(lab: Lab): Promise<number> {
  const p = spawn('ip', [
    'netns',
    'exec',
    lab.ns(1),
    process.execPath,
    '-e',
    `setTimeout(() => {}, ${SETTLED_MS + 5000})`,
  ]);
  try {
    await sleep(SETTLED_MS);
    return rssMb(p.pid!); // ip netns exec runs node in its own place (exec, no fork)
  } finally {
    p.kill();
  }
}

export async function main(): Promise<void> {
  const lab = await Lab.create(2);
  try {
    await kernelPeers(lab, [2]);
    const vtepctl = join(ROOT, 'bin/vtepctl');
    const rows: [string, string][] = [];
    const ms = (x: number) => `${x.toFixed(0)} ms`;
    const base = await startup(lab, blueConfig(lab, '', [2]), 5);
    const baseTsx = await fromSources(() => startup(lab, blueConfig(lab, '', [2]), 5));
    // Its neighbor (h2) runs no BGP: the session never comes up, which costs the start nothing.
    const evpnConfig = vtepdEvpnConfig(lab, 1, { vni: 100, address: '192.168.100.1/24' }).replace(
      `neighbors: [${lab.underlay(1)}]`,
      `neighbors: [${lab.underlay(2)}]`,
    );
    const evpn = await startup(lab, evpnConfig, 5);
    const d = await lab.startDaemon(1, blueConfig(lab, '', [2]));
    // tsx apart: the second of CPU and memory it takes puts its wake into whichever run follows it.
    const [node, version, show, bridge] = timedInTurns(
      lab,
      [
        { cmd: [process.execPath, '-e', '0'] },
        { cmd: [vtepctl, '--version'] },
        { cmd: [vtepctl, '--socket', lab.socket(1), 'fdb', 'show'] },
        { cmd: ['bridge', 'fdb', 'show'] },
      ],
      20,
    );
    const versionTsx = await fromSources(() => timed(lab, [vtepctl, '--version'], 20));
    const ratio = (x: number) => `${ms(x)} (${(x / node).toFixed(2)}× node -e 0)`;
    rows.push(['node -e 0', ms(node)]);
    rows.push(['vtepctl --version', ratio(version)]);
    rows.push(['  the same through tsx', ms(versionTsx)]);
    rows.push(['vtepctl fdb show', ratio(show)]);
    rows.push(['bridge fdb show', ms(bridge)]);
    const file = join(lab.dir, 'adds.batch');
    writeFileSync(
      file,
      Array.from(
        { length: 10_000 },
        (_, i) =>
          `fdb add 02:ee:00:00:${((i >> 8) & 0xff).toString(16).padStart(2, '0')}:${(i & 0xff).toString(16).padStart(2, '0')} dst ${lab.underlay(2)} --network blue`,
      ).join('\n') + '\n',
    );
    // Each into an empty table (the flush before it is not timed), twenty times like the rest: one run
    // of it on this VM fell anywhere from 0.7 to 1.1 s.
    const batch = median(
      Array.from({ length: 20 }, () => {
        once(lab, [vtepctl, '--socket', lab.socket(1), 'fdb', 'flush', '--static']);
        return once(lab, [vtepctl, '--socket', lab.socket(1), '-batch', file, '-force']);
      }),
    );
    rows.push(['10,000 fdb add, one vtepctl -batch', ms(batch)]);
    await d.stop();
    const started = (r: { readyMs: number; rssMb: number; settledMb: number }) =>
      `${ms(r.readyMs)}; RSS ${r.rssMb.toFixed(0)} MB 2 s after, ${r.settledMb.toFixed(0)} MB idle (${SETTLED_MS / 1000} s)`;
    rows.push(['vtepd exec -> ready, one network', started(base)]);
    rows.push(['  the same through tsx', started(baseTsx)]);
    rows.push(['the same with BGP EVPN (gobgpd apart)', started(evpn)]);
    rows.push(['node -e (a timer), RSS idle', `${(await nodeIdleMb(lab)).toFixed(0)} MB`]);
    const width = Math.max(...rows.map(([k]) => k.length));
    console.log(rows.map(([k, v]) => `${k.padEnd(width)}  ${v}`).join('\n'));
  } finally {
    await lab.destroy();
  }
}
