// Bulk given state: a controller pushes N static FDB entries (max-static-macs
// raised to N) down one control connection, then lists them all and flushes
// them, while h1 pings h2 through vtepd every 10 ms. Figures: how long the
// adds, the listing and the flush took, vtepd's memory, and the largest gap
// between ping replies during each (forwarding paused by at most a batch).
// `npm run fuzz -- --given N`.
import { createConnection } from 'node:net';
import { request } from '../../src/control/client.ts';
import type { StatsReport } from '../../src/control/protocol.ts';
import { blueConfig, kernelPeers, Lab, withLabInterruptible, overlay, sleep } from '../lab/lab.ts';
import { rssMb } from './run.ts';

export interface GivenReport {
  entries: number;
  /** Seconds to add them all (one connection, requests written 10,000 at a time). */
  addSeconds: number;
  /** The `fdb show` reply: rows, bytes, seconds. */
  listed: { rows: number; bytes: number; seconds: number };
  flushSeconds: number;
  flushed: number;
  /** Largest gap between ping replies (ms): idle, while adding, listing, flushing. */
  gapMs: { idle: number; adding: number; listing: number; flushing: number };
  rssMb: { before: number; full: number; listing: number; after: number };
}

const WRITE_ROWS = 10_000;

export function mac(i: number): string {
  return (0x0200_0000_0000 + i)
    .toString(16)
    .padStart(12, '0')
    .replace(/(..)(?!$)/g, '$1:');
}

/** Sends `lines` on one connection, WRITE_ROWS at a time, each block once the previous one's replies came. */
export function sendAll(socket: string, lines: (i: number) => string, count: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const c = createConnection(socket);
    let replies = 0;
    let bad = 0;
    let sent = 0;
    let rest = '';
    const next = () => {
      let block = '';
      const end = Math.min(count, sent + WRITE_ROWS);
      for (; sent < end; sent++) block += lines(sent) + '\n';
      c.write(block);
    };
    c.on('connect', next);
    c.on('data', (d: Buffer) => {
      const parts = (rest + d.toString()).split('\n');
      rest = parts.pop()!;
      for (const p of parts) if (!p.startsWith('{"ok":true')) bad++;
      replies += parts.length;
      if (replies === count) {
        c.destroy();
        resolve(bad);
      } else if (replies === sent) next();
    });
    c.on('error', reject);
  });
}

/** The raw `fdb show` reply: rows (commas between objects, plus one) and bytes, read as it streams. */
function listAll(socket: string, sample: () => void): Promise<{ rows: number; bytes: number }> {
  return new Promise((resolve, reject) => {
    const c = createConnection(socket);
    let bytes = 0;
    let rows = 0;
    // The end of the previous chunk: a row's start may be cut between two.
    let tail = Buffer.alloc(0);
    c.on('connect', () => c.write(JSON.stringify({ cmd: 'fdb-show' }) + '\n'));
    c.on('data', (chunk: Buffer) => {
      bytes += chunk.length;
      const d = Buffer.concat([tail, chunk]);
      for (let i = d.indexOf('{"mac"'); i >= 0; i = d.indexOf('{"mac"', i + 1)) rows++;
      tail = d.subarray(Math.max(0, d.length - 5));
      sample();
      if (chunk[chunk.length - 1] === 0x0a) {
        c.destroy();
        resolve({ rows, bytes });
      }
    });
    c.on('error', reject);
  });
}

export async function runGiven(count: number, vtepdArgs: string[]): Promise<GivenReport> {
  const lab = await Lab.create(2);
  return withLabInterruptible(lab, async () => {
    await kernelPeers(lab, [2]);
    process.env.VTEPD_TEST_ARGS = vtepdArgs.join(' ');
    const d = await lab.startDaemon(1, blueConfig(lab, `    max-static-macs: ${count}\n`, [2]));
    if ((await lab.exec(1, 'ping', ['-c', '3', '-i', '0.2', '-W', '2', overlay(2)])).code !== 0)
      throw new Error('the warm-up ping failed');
    const rss = { before: rssMb(d.pid), full: 0, listing: 0, after: 0 };
    /** Runs `during` while h1 pings every 10 ms; the largest gap between replies (ms). */
    const gap = async (during: () => Promise<void>): Promise<number> => {
      const stop = `${lab.dir}/stop-ping-${Date.now()}`;
      const pinger = lab.exec(
        1,
        'sh',
        [
          '-c',
          `ping -D -i 0.01 -W 1 ${overlay(2)} & p=$!; while [ ! -e ${stop} ]; do sleep 0.1; done; kill -INT $p; wait $p`,
        ],
        3_600_000,
      );
      await sleep(500);
      await during();
      await sleep(300);
      await lab.exec(1, 'touch', [stop]);
      const r = await pinger;
      const times = [...r.stdout.matchAll(/^\[(\d+\.\d+)\].*icmp_seq=/gm)].map((m) => Number(m[1]) * 1000);
      return Math.max(...times.slice(1).map((t, i) => t - times[i]));
    };
    const idle = await gap(() => sleep(2000));
    let addSeconds = 0;
    const adding = await gap(async () => {
      const t0 = performance.now();
      const bad = await sendAll(
        lab.socket(1),
        (i) => JSON.stringify({ cmd: 'fdb-add', network: 'blue', mac: mac(i), dst: lab.underlay(2) }),
        count,
      );
      addSeconds = (performance.now() - t0) / 1000;
      if (bad > 0) throw new Error(`${bad} of ${count} fdb add were refused`);
    });
    rss.full = rssMb(d.pid);
    let listed = { rows: 0, bytes: 0, seconds: 0 };
    const listing = await gap(async () => {
      const t0 = performance.now();
      const r = await listAll(lab.socket(1), () => (rss.listing = Math.max(rss.listing, rssMb(d.pid))));
      listed = { ...r, seconds: (performance.now() - t0) / 1000 };
    });
    let flushed = 0;
    let flushSeconds = 0;
    const flushing = await gap(async () => {
      const t0 = performance.now();
      flushed = (await request<{ flushed: number }>(lab.socket(1), { cmd: 'fdb-flush', which: 'static' }, 600_000))
        .flushed;
      flushSeconds = (performance.now() - t0) / 1000;
    });
    rss.after = rssMb(d.pid);
    const s = await request<StatsReport>(lab.socket(1), { cmd: 'stats' });
    if (s.networks.blue.given['static-macs'].entries !== 0) throw new Error('the flush left static entries');
    return {
      entries: count,
      addSeconds,
      listed,
      flushSeconds,
      flushed,
      gapMs: { idle, adding, listing, flushing },
      rssMb: rss,
    };
  });
}
