// `npm run fuzz`: generated packets on every ingress of a running vtepd (the
// VXLAN socket, the GRE raw socket, the TAP, the control socket) and at the
// codecs and native offload code in process; see scripts/fuzz/run.ts for what
// is checked after every batch. Not a test (the suite runs a bounded version):
// it prints figures. As root.
//
//   npx tsx scripts/fuzz.ts [--packets N] [--batch N] [--pps N] [--seed N] [--only vxlan,gre,tap,geneve,control,codecs]
//                           [--control N] [--codecs N] [--asan] [--vtepd-args="--no-offload"]
//   npx tsx scripts/fuzz.ts --flood [--macs N] [--pps N]
//   npx tsx scripts/fuzz.ts --stuck-clients N [--seconds S]
//   npx tsx scripts/fuzz.ts --evpn-routes N [--minutes M]   (a hostile BGP peer pushing N MAC routes and bogus ones)
//   npx tsx scripts/fuzz.ts --given N   (N static FDB entries pushed, listed and flushed while pings run)
//   npx tsx scripts/fuzz.ts --forged-icmp N [--icmp-pps P] [--seed S]   (N forged ICMP errors from the underlay)
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { ROOT } from './lab/lab.ts';
import { runFlood } from './fuzz/flood.ts';
import { runStuckClients } from './fuzz/stuck-clients.ts';
import { runEvpnRoutes } from './fuzz/evpn-routes.ts';
import { runForgedIcmp } from './fuzz/forged-icmp.ts';
import { runGiven } from './fuzz/given.ts';
import { INGRESSES, runFuzz, type Ingress } from './fuzz/run.ts';

const { values } = parseArgs({
  options: {
    packets: { type: 'string', default: '1000000' },
    batch: { type: 'string', default: '20000' },
    pps: { type: 'string', default: '150000' },
    seed: { type: 'string', default: '1' },
    only: { type: 'string' },
    control: { type: 'string', default: '20000' },
    codecs: { type: 'string', default: '1000000' },
    asan: { type: 'boolean', default: false },
    flood: { type: 'boolean', default: false },
    macs: { type: 'string', default: '1000000' },
    'stuck-clients': { type: 'string' },
    'evpn-routes': { type: 'string' },
    'forged-icmp': { type: 'string' },
    given: { type: 'string' },
    'icmp-pps': { type: 'string', default: '10000' },
    minutes: { type: 'string', default: '30' },
    seconds: { type: 'string', default: '10' },
    'vtepd-args': { type: 'string', default: '' },
  },
});
const vtepdArgs = values['vtepd-args']!.split(' ').filter(Boolean);
const only = values.only?.split(',');
const wants = (what: string) => only === undefined || only.includes(what);
const n = (s: string | undefined) => Number(s);

/**
 * The addon built again with AddressSanitizer and UBSan, in a directory of its
 * own (the regular build stays as it is), and the environment that runs Node
 * on it: the sanitizers' runtimes preloaded, since Node itself is not built
 * with them.
 */
function asanBuild(): { env: Record<string, string> } {
  const dir = mkdtempSync(join(tmpdir(), 'vtepd-asan-'));
  cpSync(join(ROOT, 'binding.gyp'), join(dir, 'binding.gyp'));
  cpSync(join(ROOT, 'src/native'), join(dir, 'src/native'), { recursive: true });
  const flags = '-fsanitize=address,undefined -fno-omit-frame-pointer -g';
  console.log(`fuzz: building the addon with ${flags} in ${dir}`);
  const built = spawnSync(join(ROOT, 'node_modules/.bin/node-gyp'), ['rebuild'], {
    cwd: dir,
    encoding: 'utf8',
    env: {
      ...process.env,
      CXXFLAGS: flags,
      LDFLAGS: '-fsanitize=address,undefined',
      NODE_PATH: join(ROOT, 'node_modules'),
    },
  });
  if (built.status !== 0) throw new Error(`the sanitized build failed:\n${built.stderr.slice(-3000)}`);
  const lib = (name: string) =>
    execFileSync('gcc', [`-print-file-name=${name}`])
      .toString()
      .trim();
  const addon = join(dir, 'build/Release/vtep_native.node');
  if (!existsSync(addon)) throw new Error('the sanitized build made no addon');
  return {
    env: {
      VTEPD_NATIVE: addon,
      LD_PRELOAD: `${lib('libasan.so')} ${lib('libubsan.so')}`,
      // Node's own allocations are not ours to judge; a report stops the daemon, which the fuzzer sees as a crash.
      ASAN_OPTIONS: 'detect_leaks=0:abort_on_error=1:halt_on_error=1',
      UBSAN_OPTIONS: 'print_stacktrace=1:halt_on_error=1',
    },
  };
}

function table(rows: (string | number)[][]): string {
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => String(r[c]).length)));
  return rows
    .map((r) =>
      r.map((x, c) => (typeof x === 'number' ? String(x).padStart(widths[c]) : String(x).padEnd(widths[c]))).join('  '),
    )
    .join('\n');
}

async function flood(): Promise<number> {
  const rows: (string | number)[][] = [
    [
      'from',
      'MACs sent',
      'frames/s',
      'table',
      'refused',
      'known kept',
      'ping lost',
      'RSS MB before/peak/after',
      'kernel drops (TAP queue, h1 UDP, h2 UDP)',
    ],
  ];
  let bad = 0;
  for (const side of ['tap', 'vxlan'] as const) {
    const r = await runFlood(side, n(values.macs), n(values.pps), vtepdArgs);
    rows.push([
      side === 'tap' ? 'the TAP' : 'a tunnel',
      r.macs,
      r.pps,
      `${r.entries}/${r.maxMacs}`,
      r.refused,
      r.knownKept ? 'yes' : 'NO',
      `${r.ping.sent - r.ping.received}/${r.ping.sent}`,
      `${r.rssMb.before}/${r.rssMb.peak}/${r.rssMb.after}`,
      `${r.kernelDrops.tapQueue}, ${r.kernelDrops.h1Udp}, ${r.kernelDrops.h2Udp}`,
    ]);
    if (!r.knownKept || r.ping.received !== r.ping.sent || r.entries > r.maxMacs + 2) bad++;
  }
  console.log(table(rows));
  return bad === 0 ? 0 : 1;
}

async function fuzz(): Promise<number> {
  const asan = values.asan ? asanBuild() : undefined;
  const t0 = Date.now();
  const report = await runFuzz({
    packets: n(values.packets),
    batch: n(values.batch),
    pps: n(values.pps),
    seed: n(values.seed),
    ingresses: INGRESSES.filter((i: Ingress) => wants(i)),
    controlRequests: wants('control') ? n(values.control) : 0,
    vtepdArgs,
    daemonEnv: asan?.env,
    progress: (line) => process.stdout.write(`\r${line.padEnd(100)}`),
    note: (line) => process.stdout.write(`\n${line}\n`),
  });
  process.stdout.write('\n');
  let codecs: { inputs: number; seconds: number; problems: string[] } | undefined;
  if (wants('codecs')) {
    const r = spawnSync(
      process.execPath,
      ['--import', 'tsx', join(ROOT, 'scripts/fuzz/codecs.ts'), values.codecs!, values.seed!],
      { cwd: ROOT, env: { ...process.env, ...asan?.env }, encoding: 'utf8', maxBuffer: 64 << 20 },
    );
    const sanitizer = r.stderr.split('\n').filter((l) => /AddressSanitizer|runtime error:/.test(l));
    report.sanitizer.push(...sanitizer);
    codecs =
      r.status === 0
        ? JSON.parse(r.stdout.trim().split('\n').at(-1)!)
        : { inputs: 0, seconds: 0, problems: [`the codec fuzzer exited with ${r.status}: ${r.stderr.slice(-2000)}`] };
  }
  const rows: (string | number)[][] = [
    [
      'ingress',
      'sent',
      'packets/s',
      'delivered',
      'expected',
      'dropped',
      'unaccounted',
      'kernel drops',
      'unchecked batches',
      'probes failed',
      'mismatches',
    ],
  ];
  for (const r of report.ingresses) {
    const dropped = Object.values(r.dropped).reduce((a, b) => a + b, 0);
    rows.push([
      r.ingress,
      r.sent,
      Math.round(r.sent / r.seconds),
      r.delivered,
      r.expected,
      dropped,
      r.unaccounted,
      r.kernelDropped,
      r.unchecked,
      r.probesFailed,
      r.mismatches.length,
    ]);
  }
  console.log(table(rows));
  for (const r of report.ingresses) {
    const top = Object.entries(r.dropped)
      .sort((a, b) => b[1] - a[1])
      .map(([k, v]) => `${k} ${v}`)
      .join(', ');
    console.log(`${r.ingress} drops: ${top || 'none'}`);
    for (const m of r.mismatches.slice(0, 5)) console.log(`  ${m}`);
  }
  if (report.control)
    console.log(
      `control: ${report.control.requests} requests, ${report.control.ok} ok, ${report.control.refused} refused, ${report.control.problems.length} problems${report.control.problems.length ? `: ${report.control.problems.slice(0, 3).join('; ')}` : ''}`,
    );
  if (codecs)
    console.log(
      `codecs and native offloads: ${codecs.inputs} inputs in ${codecs.seconds.toFixed(1)} s, ${codecs.problems.length} problems${codecs.problems.length ? `: ${codecs.problems.slice(0, 3).join('; ')}` : ''}`,
    );
  console.log(
    `daemon: ${report.crashed ? 'CRASHED' : 'alive throughout'}${asan ? `, AddressSanitizer/UBSan reports: ${report.sanitizer.length}` : ''}; ${((Date.now() - t0) / 1000).toFixed(0)} s`,
  );
  for (const l of report.sanitizer.slice(0, 20)) console.log(`  ${l}`);
  const failed =
    report.crashed ||
    report.sanitizer.length > 0 ||
    report.ingresses.some((r) => r.unaccounted !== 0 || r.mismatches.length > 0 || r.probesFailed > 0) ||
    (report.control?.problems.length ?? 0) > 0 ||
    (codecs?.problems.length ?? 0) > 0;
  if (failed) console.log(report.log.split('\n').slice(-30).join('\n'));
  return failed ? 1 : 0;
}

async function stuck(): Promise<number> {
  const r = await runStuckClients(n(values['stuck-clients']), n(values.seconds), vtepdArgs);
  console.log(
    `${r.clients} capture clients that never read: TCP ${r.tcpGbps.without} Gb/s without them, ${r.tcpGbps.with} with them; ` +
      `RSS ${r.rssMb.before} MB before, ${r.rssMb.peak} MB at most; ${r.linesDropped} lines dropped, ${r.slowReadersDropped} clients dropped`,
  );
  return 0;
}

async function evpnRoutes(): Promise<number> {
  const r = await runEvpnRoutes(n(values['evpn-routes']), vtepdArgs, n(values.minutes), (l) => console.log(l));
  console.log(
    `${r.routes} EVPN routes from a hostile peer: ${r.installed} MACs installed, ${r.refused} refused at ` +
      `max-evpn-macs, ${Object.values(r.rejected).reduce((a, b) => a + b, 0)} ignored for their next hop ` +
      `(${JSON.stringify(r.rejected)}), in ${r.seconds.toFixed(1)} s; RSS ${r.rssMb.before.toFixed(0)} MB before, ` +
      `${r.rssMb.peak.toFixed(0)} at most, ${r.rssMb.after.toFixed(0)} after; stats answered within ${r.slowestStatsMs} ms`,
  );
  return r.installed + r.refused >= Number(values['evpn-routes']) ? 0 : 1;
}

async function forgedIcmp(): Promise<number> {
  const r = await runForgedIcmp(n(values['forged-icmp']), n(values['icmp-pps']), vtepdArgs, n(values.seed));
  const mbps = ([a, b]: [number, number]) => `${a.toFixed(0)} -> ${b.toFixed(0)} Mb/s`;
  const lost = (p: { sent: number; received: number }) => `${p.sent - p.received}/${p.sent}`;
  const classes = Object.entries(r.classes)
    .map(([k, v]) => `${k} ${v}`)
    .join(', ');
  console.log(
    `${r.sent} forged ICMP errors in ${r.seconds.toFixed(1)} s (${classes})\n` +
      `vtepd believed ${r.believed}, ignored ${JSON.stringify(r.ignored)}; path MTU to h2 at the end: VXLAN ` +
      `${r.pmtu.vxlan}, GRE ${r.pmtu.gre}\n` +
      `pings lost: VXLAN ${lost(r.pings.vxlan)}, GRE ${lost(r.pings.gre)}; TCP before -> after: VXLAN ` +
      `${mbps(r.tcpMbps.vxlan)}, GRE ${mbps(r.tcpMbps.gre)}; RSS ${r.rssMb.before.toFixed(0)} -> ` +
      `${r.rssMb.after.toFixed(0)} MB; daemon ${r.alive ? 'alive' : 'EXITED'}`,
  );
  const kept = ([a, b]: [number, number]) => b >= a * 0.5;
  const whole = (p: { sent: number; received: number }) => p.sent > 0 && p.received === p.sent;
  return r.alive && whole(r.pings.vxlan) && whole(r.pings.gre) && kept(r.tcpMbps.vxlan) && kept(r.tcpMbps.gre) ? 0 : 1;
}

async function given(): Promise<number> {
  const r = await runGiven(n(values.given), vtepdArgs);
  const ms = (x: number) => `${x.toFixed(1)} ms`;
  console.log(
    `${r.entries} static FDB entries: added in ${r.addSeconds.toFixed(1)} s, listed (${r.listed.rows} rows, ` +
      `${(r.listed.bytes / 1e6).toFixed(0)} MB) in ${r.listed.seconds.toFixed(1)} s, ${r.flushed} flushed in ` +
      `${r.flushSeconds.toFixed(1)} s\nlargest gap between ping replies (every 10 ms): idle ${ms(r.gapMs.idle)}, ` +
      `adding ${ms(r.gapMs.adding)}, listing ${ms(r.gapMs.listing)}, flushing ${ms(r.gapMs.flushing)}\n` +
      `RSS ${r.rssMb.before.toFixed(0)} MB before, ${r.rssMb.full.toFixed(0)} full, ${r.rssMb.listing.toFixed(0)} ` +
      `while listing, ${r.rssMb.after.toFixed(0)} after the flush`,
  );
  return r.listed.rows >= r.entries && r.flushed === r.entries ? 0 : 1;
}

process.exit(
  values.given !== undefined
    ? await given()
    : values['forged-icmp'] !== undefined
      ? await forgedIcmp()
      : values.flood
        ? await flood()
        : values['stuck-clients'] !== undefined
          ? await stuck()
          : values['evpn-routes'] !== undefined
            ? await evpnRoutes()
            : await fuzz(),
);
