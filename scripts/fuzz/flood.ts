// A MAC flood: broadcasts from as many random source MACs as asked, from the
// TAP or from a tunnel, while a ping runs between two hosts the daemon already
// knows. The table must stay at max-macs (new MACs refused, not evicting the
// known ones), the ping must lose nothing, and the daemon's memory must stay
// bounded. Figures for docs/operations.md; `npm run fuzz -- --flood`.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { request } from '../../src/control/client.ts';
import type { StatsReport } from '../../src/control/protocol.ts';
import { DEFAULT_MAX_MACS } from '../../src/switch/fdb.ts';
import { blueConfig, kernelMac, kernelPeers, Lab, overlay, ROOT, sleep } from '../lab/lab.ts';
import { rssMb } from './run.ts';

export interface FloodReport {
  side: 'tap' | 'vxlan';
  macs: number;
  seconds: number;
  /** Frames per second the sender kept up. */
  pps: number;
  maxMacs: number;
  /** FDB entries at the end, and new MACs refused because the table was full. */
  entries: number;
  refused: number;
  /** The known hosts' own entries survived. */
  knownKept: boolean;
  ping: { sent: number; received: number };
  /** Where frames were lost outside vtepd: h1's TAP queue, and the UDP receive buffers of each host. */
  kernelDrops: { tapQueue: number; h1Udp: number; h2Udp: number };
  rssMb: { before: number; peak: number; after: number };
}

export async function runFlood(
  side: 'tap' | 'vxlan',
  macs: number,
  pps: number,
  vtepdArgs: string[],
): Promise<FloodReport> {
  const lab = await Lab.create(2);
  try {
    await kernelPeers(lab, [2]);
    const saved = process.env.VTEPD_TEST_ARGS;
    process.env.VTEPD_TEST_ARGS = vtepdArgs.join(' ');
    const d = await lab.startDaemon(1, blueConfig(lab, '', [2])).finally(() => (process.env.VTEPD_TEST_ARGS = saved));
    const tapMac = (await lab.exec(1, 'cat', ['/sys/class/net/tap-blue/address'])).stdout.trim();
    if ((await lab.exec(1, 'ping', ['-c', '2', '-i', '0.2', '-W', '2', overlay(2)])).code !== 0)
      throw new Error('the warm-up ping failed');
    const before = rssMb(d.pid);
    const drops = async () => ({
      tapQueue: Number((await lab.exec(1, 'cat', ['/sys/class/net/tap-blue/statistics/tx_dropped'])).stdout.trim()),
      h1Udp: await udpRcvbufErrors(lab, 1),
      h2Udp: await udpRcvbufErrors(lab, 2),
    });
    const drops0 = await drops();
    const seconds = Math.ceil(macs / pps) + 3;
    const ping = lab.exec(
      1,
      'ping',
      ['-q', '-i', '0.01', '-W', '1', '-w', String(seconds), overlay(2)],
      (seconds + 20) * 1000,
    );
    await sleep(1000);
    const nets = { vni: 42, greKey: 0, vxlanMaxFrame: 1468, greMaxFrame: 0, tapMtu: 1450, maxMacs: DEFAULT_MAX_MACS };
    const args = [
      join(ROOT, 'scripts/fuzz/sender.ts'),
      `flood-${side}`,
      '--from',
      lab.underlay(2),
      '--to',
      lab.underlay(1),
      '--dev',
      'tap-blue',
      '--networks',
      JSON.stringify(nets),
      '--pps',
      String(pps),
    ];
    const proc = spawn(
      'ip',
      ['netns', 'exec', lab.ns(side === 'tap' ? 1 : 2), process.execPath, '--import', 'tsx', ...args],
      { cwd: ROOT, stdio: ['pipe', 'pipe', 'inherit'] },
    );
    const lines = createInterface({ input: proc.stdout })[Symbol.asyncIterator]();
    let peak = before;
    const sampler = setInterval(() => (peak = Math.max(peak, rssMb(d.pid))), 250);
    proc.stdin.write(JSON.stringify({ seed: 7, count: macs }) + '\n');
    const res = JSON.parse((await lines.next()).value as string) as { sent: number; seconds: number };
    proc.kill('SIGKILL');
    const pinged = await ping;
    clearInterval(sampler);
    const m = /(\d+) packets transmitted, (\d+) received/.exec(pinged.stdout);
    const drops1 = await drops();
    const s = await request<StatsReport>(lab.socket(1), { cmd: 'stats' });
    const fdb = await request<{ mac: string }[]>(lab.socket(1), { cmd: 'fdb-show', network: 'blue' });
    return {
      side,
      macs: res.sent,
      seconds: res.seconds,
      pps: Math.round(res.sent / res.seconds),
      maxMacs: DEFAULT_MAX_MACS,
      entries: s.networks.blue.macs.entries,
      refused: s.networks.blue.macs.refused,
      knownKept: fdb.some((r) => r.mac === tapMac) && fdb.some((r) => r.mac === kernelMac(2)),
      ping: { sent: Number(m?.[1] ?? 0), received: Number(m?.[2] ?? 0) },
      kernelDrops: {
        tapQueue: drops1.tapQueue - drops0.tapQueue,
        h1Udp: drops1.h1Udp - drops0.h1Udp,
        h2Udp: drops1.h2Udp - drops0.h2Udp,
      },
      rssMb: {
        before: Math.round(before),
        peak: Math.round(Math.max(peak, rssMb(d.pid))),
        after: Math.round(rssMb(d.pid)),
      },
    };
  } finally {
    await lab.destroy();
  }
}

async function udpRcvbufErrors(lab: Lab, i: number): Promise<number> {
  const [names, values] = (await lab.exec(i, 'cat', ['/proc/net/snmp'])).stdout
    .split('\n')
    .filter((l) => l.startsWith('Udp:'))
    .map((l) => l.split(/\s+/).slice(1));
  return Number(values[names.indexOf('RcvbufErrors')]);
}
