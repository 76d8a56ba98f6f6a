// Capture clients that never read, against TCP through vtepd: the stream
// bounds must keep the daemon's memory and the data path's cost flat. TCP
// h1 -> h2 (iperf3) is measured with no capture client, then with N clients
// asking for every packet and reading nothing; the daemon's RSS with them.
// `npm run fuzz -- --stuck-clients N`.
import { spawn } from 'node:child_process';
import { createConnection, type Socket } from 'node:net';
import { request } from '../../src/control/client.ts';
import type { StatsReport } from '../../src/control/protocol.ts';
import { blueConfig, kernelPeers, Lab, overlay, sleep } from '../lab/lab.ts';
import { rssMb } from './run.ts';

export interface StuckReport {
  clients: number;
  tcpGbps: { without: number; with: number };
  rssMb: { before: number; peak: number };
  linesDropped: number;
  slowReadersDropped: number;
}

export async function runStuckClients(clients: number, seconds: number, vtepdArgs: string[]): Promise<StuckReport> {
  const lab = await Lab.create(2);
  const socks: Socket[] = [];
  try {
    await kernelPeers(lab, [2]);
    process.env.VTEPD_TEST_ARGS = vtepdArgs.join(' ');
    const d = await lab.startDaemon(1, blueConfig(lab, '', [2], `control: { max-clients: ${clients + 8} }\n`));
    const server = spawn('ip', ['netns', 'exec', lab.ns(2), 'iperf3', '-s'], { stdio: 'ignore' });
    await sleep(500);
    const tcp = async () => {
      const r = await lab.exec(1, 'iperf3', ['-c', overlay(2), '-t', String(seconds), '-J'], (seconds + 30) * 1000);
      return (
        (JSON.parse(r.stdout) as { end: { sum_received: { bits_per_second: number } } }).end.sum_received
          .bits_per_second / 1e9
      );
    };
    const without = await tcp();
    const before = rssMb(d.pid);
    for (let i = 0; i < clients; i++) {
      const s = createConnection(lab.socket(1));
      s.on('error', () => {});
      s.pause();
      s.write('{"cmd":"capture","side":"both"}\n');
      socks.push(s);
    }
    await sleep(500);
    let peak = before;
    const sampler = setInterval(() => (peak = Math.max(peak, rssMb(d.pid))), 250);
    const withClients = await tcp();
    clearInterval(sampler);
    const s = await request<StatsReport>(lab.socket(1), { cmd: 'stats' });
    server.kill('SIGKILL');
    return {
      clients,
      tcpGbps: { without: round(without), with: round(withClients) },
      rssMb: { before: Math.round(before), peak: Math.round(peak) },
      linesDropped: s.control['lines-dropped'],
      slowReadersDropped: s.control['slow-readers'],
    };
  } finally {
    for (const s of socks) s.destroy();
    await lab.destroy();
  }
}

function round(x: number): number {
  return Math.round(x * 100) / 100;
}
