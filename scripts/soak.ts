// `npm run soak -- --minutes N`: vtepd under mixed traffic for a long while,
// sampled every few seconds. h1 runs vtepd, h2 a kernel VXLAN peer: TCP in
// both directions (iperf3, a minute at a time), 100 pings a second, an ARP
// exchange a second, MAC churn (a broadcast a frame from a new MAC, 50 a
// second, aged out after a minute), control requests (reads and writes,
// five a second), eight clients holding `monitor` streams the whole time, and
// once a minute a controller's bulk push: 10,000 static entries added in one
// write, then deleted in one; and EVPN churn: a BGP peer on h3 (a gobgpd the
// soak drives) advertising 1,000 MAC routes and withdrawing them, round after
// round, 200 a second. Passes if no ping is lost, every request is answered,
// the streams stay up, the BGP session never drops, no withdrawal fails, and
// the resident memory after the first minute grows by less than 5%. Not a test: it prints figures and saves them
// in bench/results/.
//
//   npx tsx scripts/soak.ts [--minutes N] [--vtepd-args="--no-offload"]
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { request } from '../src/control/client.ts';
import type { Request, StatsReport } from '../src/control/protocol.ts';
import type { EvpnStatus } from '../src/evpn/speaker.ts';
import { blueConfig, kernelMac, kernelPeers, Lab, overlay, ROOT, sleep } from './lab/lab.ts';
import type { RogueRoute } from './lab/rogue-peer.ts';
import { rssMb } from './fuzz/run.ts';
import { mac, sendAll } from './fuzz/given.ts';

const { values } = parseArgs({
  options: { minutes: { type: 'string', default: '10' }, 'vtepd-args': { type: 'string', default: '' } },
});
const minutes = Number(values.minutes);
const seconds = Math.round(minutes * 60);
const SAMPLE_S = 10;
const WARM_UP_S = 60;

interface Sample {
  t: number;
  rssMb: number;
  macs: number;
  tunnelRx: number;
  tapRx: number;
  controlRequests: number;
  evpnMacs: number;
}

/** The EVPN churn: h3's BGP peer advertises these MAC routes, then withdraws them, round after round. */
const CHURN_MACS = 1000;
const CHURN_PER_S = 200;

const lab = await Lab.create(3);
let failed = false;
try {
  await kernelPeers(lab, [2]);
  process.env.VTEPD_TEST_ARGS = values['vtepd-args'];
  const d = await lab.startDaemon(
    1,
    blueConfig(
      lab,
      '    ageing: 60\n    evpn: true\n',
      [2],
      `evpn: { asn: 65000, neighbors: [${lab.underlay(3)}], hold-time: 9 }\n`,
    ),
  );
  const churnRoutes: RogueRoute[] = [
    {
      kind: 'churn',
      count: CHURN_MACS,
      rd: `${lab.underlay(3)}:42`,
      vtep: lab.underlay(3),
      rt: '65000:42',
      vni: 42,
      perSecond: CHURN_PER_S,
    },
  ];
  const evpnPeer = lab.spawnCommand(3, join(ROOT, 'scripts/lab/rogue-peer.ts'), [
    lab.underlay(3),
    lab.underlay(1),
    lab.writeConfig(3, JSON.stringify(churnRoutes), 'churn.json'),
  ]);
  const churnRounds = () => [...evpnPeer.log.matchAll(/^churn (\d+)$/gm)].length;
  const tapMac = (await lab.exec(1, 'cat', ['/sys/class/net/tap-blue/address'])).stdout.trim();
  const until = Date.now() + seconds * 1000;
  const running = () => Date.now() < until;

  // 100 pings a second, the whole time.
  const ping = lab.exec(
    2,
    'ping',
    ['-q', '-i', '0.01', '-W', '1', '-w', String(seconds), overlay(1)],
    (seconds + 60) * 1000,
  );
  // TCP both ways, a minute at a time, at a rate that leaves room for the rest.
  const iperfServer = spawn('ip', ['netns', 'exec', lab.ns(2), 'iperf3', '-s'], { stdio: 'ignore' });
  const tcp: number[] = [];
  const tcpLoop = (async () => {
    await sleep(1000);
    for (let reverse = false; running(); reverse = !reverse) {
      const t = Math.max(1, Math.min(60, Math.floor((until - Date.now()) / 1000) - 2));
      if (t < 3) break;
      const r = await lab.exec(
        1,
        'iperf3',
        ['-c', overlay(2), '-t', String(t), '-b', '500M', '-J', ...(reverse ? ['-R'] : [])],
        (t + 30) * 1000,
      );
      try {
        tcp.push(
          (JSON.parse(r.stdout) as { end: { sum_received: { bits_per_second: number } } }).end.sum_received
            .bits_per_second / 1e9,
        );
      } catch {
        // a run cut short: no figure
      }
    }
  })();
  // An ARP exchange a second.
  const arpLoop = (async () => {
    while (running()) {
      await lab.exec(1, 'arping', ['-c', '1', '-w', '1', '-i', 'tap-blue', overlay(2)]);
      await sleep(1000);
    }
  })();
  // MAC churn from behind h2: a broadcast from a new MAC each time, 50 a second.
  const churn = spawn(
    'ip',
    [
      'netns',
      'exec',
      lab.ns(2),
      process.execPath,
      '--import',
      'tsx',
      join(ROOT, 'scripts/fuzz/sender.ts'),
      'flood-vxlan',
      '--from',
      lab.underlay(2),
      '--to',
      lab.underlay(1),
      '--networks',
      JSON.stringify({ vni: 42, greKey: 0, vxlanMaxFrame: 1468, greMaxFrame: 0, tapMtu: 1450, maxMacs: 8192 }),
      '--pps',
      '50',
    ],
    { cwd: ROOT, stdio: ['pipe', 'ignore', 'inherit'] },
  );
  churn.stdin.write(JSON.stringify({ seed: 11, count: seconds * 50 }) + '\n');
  // Control requests: reads and writes, five a second.
  let controlRequests = 0;
  let controlErrors = 0;
  const controlLoop = (async () => {
    const reqs: Request[] = [
      { cmd: 'stats' },
      { cmd: 'fdb-show', network: 'blue' },
      { cmd: 'remote-show' },
      { cmd: 'neigh-show' },
      { cmd: 'fdb-add', network: 'blue', mac: '02:5a:00:00:00:01', dst: lab.underlay(2) },
      { cmd: 'fdb-del', network: 'blue', mac: '02:5a:00:00:00:01' },
      { cmd: 'neigh-add', network: 'blue', ip: '192.168.100.77', mac: '02:5a:00:00:00:02' },
      { cmd: 'neigh-del', network: 'blue', ip: '192.168.100.77' },
      { cmd: 'trace', network: 'blue', in: 'tap', src: tapMac, dst: kernelMac(2) },
    ];
    for (let i = 0; running(); i++) {
      try {
        await request(lab.socket(1), reqs[i % reqs.length]);
      } catch {
        controlErrors++;
      }
      controlRequests++;
      await sleep(200);
    }
  })();

  // Eight clients holding `monitor` streams the whole time, reading what comes.
  const HOLDERS = 8;
  const holders = Array.from({ length: HOLDERS }, () => {
    const h = { lines: 0, closed: false, socket: createConnection(lab.socket(1)) };
    h.socket.on('connect', () => h.socket.write(JSON.stringify({ cmd: 'monitor' }) + '\n'));
    h.socket.on('data', (d: Buffer) => {
      for (let k = d.indexOf(0x0a); k >= 0; k = d.indexOf(0x0a, k + 1)) h.lines++;
    });
    h.socket.on('close', () => (h.closed = running()));
    h.socket.on('error', () => {});
    return h;
  });
  // Once a minute, a controller's bulk push: 10,000 static entries in one write, then their removal in one.
  const BULK = 10_000;
  let bulkRounds = 0;
  let bulkRefused = 0;
  const bulkLoop = (async () => {
    for (await sleep(30_000); running(); await sleep(Math.min(60_000, Math.max(0, until - Date.now())))) {
      const entry = (i: number) => ({ network: 'blue', mac: mac(0x10_0000 + i) });
      bulkRefused += await sendAll(
        lab.socket(1),
        (i) => JSON.stringify({ cmd: 'fdb-add', ...entry(i), dst: lab.underlay(2) }),
        BULK,
      );
      bulkRefused += await sendAll(lab.socket(1), (i) => JSON.stringify({ cmd: 'fdb-del', ...entry(i) }), BULK);
      bulkRounds++;
    }
  })();

  const samples: Sample[] = [];
  const t0 = Date.now();
  while (running()) {
    const s = await request<StatsReport>(lab.socket(1), { cmd: 'stats' });
    const b = s.networks.blue;
    samples.push({
      t: Math.round((Date.now() - t0) / 1000),
      rssMb: Math.round(rssMb(d.pid) * 10) / 10,
      macs: b.macs.entries,
      tunnelRx: b.counters['tunnel-rx-packets'],
      tapRx: b.counters['tap-rx-frames'],
      controlRequests,
      evpnMacs: b.given['evpn-macs'].entries,
    });
    const last = samples.at(-1)!;
    process.stdout.write(
      `\rsoak: ${last.t}/${seconds} s, RSS ${last.rssMb} MB, ${last.macs} MACs (${last.evpnMacs} from EVPN), ${controlRequests} control requests, ${churnRounds()} EVPN churn rounds`.padEnd(
        140,
      ),
    );
    await sleep(Math.min(SAMPLE_S * 1000, Math.max(0, until - Date.now())));
  }
  process.stdout.write('\n');
  churn.kill('SIGKILL');
  const evpn = await request<EvpnStatus>(lab.socket(1), { cmd: 'evpn-show' });
  const session = evpn.sessions[0];
  const flaps = session?.flaps ?? 0;
  const established = session?.state === 'ESTABLISHED';
  const withdrawFailures = (d.log.match(/evpn: could not withdraw/g) ?? []).length;
  evpnPeer.proc.kill('SIGTERM');
  const rounds = churnRounds();
  await Promise.all([tcpLoop, arpLoop, controlLoop, bulkLoop]);
  const streamsDropped = holders.filter((h) => h.closed).length;
  const streamLines = holders.reduce((n, h) => n + h.lines, 0);
  for (const h of holders) h.socket.destroy();
  iperfServer.kill('SIGKILL');
  const pinged = await ping;
  const m = /(\d+) packets transmitted, (\d+) received/.exec(pinged.stdout);
  const sent = Number(m?.[1] ?? 0);
  const received = Number(m?.[2] ?? 0);
  const settled = samples.filter((s) => s.t >= Math.min(WARM_UP_S, seconds / 2));
  const base = settled[0]?.rssMb ?? samples[0].rssMb;
  const peak = Math.max(...settled.map((s) => s.rssMb));
  const end = samples.at(-1)!.rssMb;
  const growth = ((end - base) / base) * 100;
  const alive = d.proc.exitCode === null;
  console.log(
    `soak: ${minutes} min; pings ${received}/${sent} (lost ${sent - received}); RSS after the first minute ${base} MB, at the end ${end} MB ` +
      `(growth ${growth.toFixed(1)}%, peak ${peak} MB); TCP ${tcp.length} runs, median ${(tcp.sort((a, b) => a - b)[Math.floor(tcp.length / 2)] ?? 0).toFixed(2)} Gb/s; ` +
      `${controlRequests} control requests, ${controlErrors} failed; ${HOLDERS} monitor streams held, ` +
      `${streamsDropped} dropped, ${streamLines} lines read; ${bulkRounds} bulk pushes of ${BULK} entries, ` +
      `${bulkRefused} refused; EVPN churn ${rounds} rounds of ${CHURN_MACS} MAC routes (at most ` +
      `${Math.max(...samples.map((x) => x.evpnMacs))} installed at once), session ${established ? 'established' : 'DOWN'}, ` +
      `${flaps} flaps, ${withdrawFailures} withdrawals failed; daemon ${alive ? 'alive' : 'EXITED'}`,
  );
  failed =
    sent === 0 ||
    received !== sent ||
    growth >= 5 ||
    !alive ||
    controlErrors > 0 ||
    streamsDropped > 0 ||
    bulkRefused > 0 ||
    !established ||
    flaps > 0 ||
    withdrawFailures > 0 ||
    (seconds >= 60 && rounds === 0);
  const dir = join(ROOT, 'bench/results');
  mkdirSync(dir, { recursive: true });
  const when = new Date().toISOString().replace(/[:.]/g, '-');
  writeFileSync(
    join(dir, `soak-${when}.json`),
    JSON.stringify(
      {
        when,
        machine: hostname(),
        minutes,
        vtepdArgs: values['vtepd-args'],
        pings: { sent, received },
        rss: { base, end, peak, growthPercent: growth },
        tcpGbps: tcp,
        controlRequests,
        controlErrors,
        streams: { held: HOLDERS, dropped: streamsDropped, lines: streamLines },
        bulk: { rounds: bulkRounds, entries: BULK, refused: bulkRefused },
        evpnChurn: { rounds, macs: CHURN_MACS, perSecond: CHURN_PER_S, established, flaps, withdrawFailures },
        samples,
      },
      null,
      2,
    ) + '\n',
  );
} finally {
  await lab.destroy();
}
process.exit(failed ? 1 : 0);
