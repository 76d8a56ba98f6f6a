// Shared pieces of the lab tests: a lab per test, torn down whatever happens,
// kernel VXLAN peers, and vtepctl's JSON.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { expect } from 'vitest';
import type { FdbRow, StatsReport } from '../../src/control/protocol.ts';
import { request } from '../../src/control/client.ts';
import { Lab, overlay, ROOT, sh, sleep, type Result } from '../../scripts/lab/lab.ts';

export { blueConfig, kernelMac, kernelPeers, overlay, VNI } from '../../scripts/lab/lab.ts';

/** Runs `fn` with a fresh lab of `hosts` hosts; the lab is destroyed even if `fn` fails. */
export async function withLab(hosts: number, fn: (lab: Lab) => Promise<void>): Promise<void> {
  const lab = await Lab.create(hosts);
  try {
    await fn(lab);
  } finally {
    await lab.destroy();
  }
}

export function vtepctl(...args: string[]): Promise<Result> {
  return sh(join(ROOT, 'bin/vtepctl'), args);
}

export async function fdb(lab: Lab, host = 1): Promise<FdbRow[]> {
  const r = await vtepctl('--socket', lab.socket(host), 'fdb', 'show', '--json');
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as FdbRow[];
}

export async function stats(lab: Lab, host = 1): Promise<StatsReport> {
  const r = await vtepctl('--socket', lab.socket(host), 'stats', '--json');
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as StatsReport;
}

/**
 * `stats` asked over the control socket from the test process itself: no
 * vtepctl to start (0.35 s and more under load), so that polling can see a
 * state that lasts a second.
 */
export function statsNow(lab: Lab, host = 1): Promise<StatsReport> {
  return request<StatsReport>(lab.socket(host), { cmd: 'stats' });
}

/**
 * Waits until `streams` stream clients (monitor, capture) are connected to
 * host's control socket, besides the one asking: a stream started by a
 * process only sees what happens once it is connected.
 */
export async function streamsConnected(lab: Lab, host: number, streams: number, ms = 15_000): Promise<void> {
  const t0 = Date.now();
  // Following their streams, not only connected: what happens from now on reaches them.
  while (((await statsNow(lab, host)).control.streams ?? 0) < streams) {
    if (Date.now() - t0 > ms)
      throw new Error(`${streams} stream client(s) of h${host} did not start their streams within ${ms} ms`);
    await sleep(20);
  }
}

export function expectOk(r: Result, what: string): void {
  expect(r.code, `${what} failed:\n${r.stdout}\n${r.stderr}`).toBe(0);
}

export function ping(lab: Lab, from: number, to: string, count = 3): Promise<Result> {
  return lab.exec(from, 'ping', ['-c', String(count), '-i', '0.2', '-W', '2', to]);
}

export function arping(lab: Lab, from: number, dev: string, to: string, count = 1): Promise<Result> {
  return lab.exec(from, 'arping', ['-c', String(count), '-w', '3', '-i', dev, to]);
}

const BLAST = join(ROOT, 'scripts/lab/tcp-blast.mjs');
/** What a bulk transfer carries. */
export const BYTES = 8 * 1024 * 1024;

/**
 * Sends BYTES over TCP from host `from` to host `to` (at `address(to)`);
 * returns "BYTES SHA-256" as sent and as received.
 */
export function transfer(
  lab: Lab,
  from: number,
  to: number,
  address: (i: number) => string = overlay,
  timeoutMs = 60_000,
): Promise<[string, string]> {
  return transferIn(lab, lab.ns(from), lab.ns(to), address(to), timeoutMs);
}

/** Sends BYTES over TCP from namespace `from` to `address` in namespace `to`; returns what was sent and received. */
export async function transferIn(
  lab: Lab,
  from: string,
  to: string,
  address: string,
  timeoutMs = 60_000,
): Promise<[string, string]> {
  const server = spawn('ip', ['netns', 'exec', to, process.execPath, BLAST, 'serve', address, '5001'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let received = '';
  server.stdout.on('data', (d: Buffer) => (received += d.toString()));
  const done = new Promise<void>((res) => server.once('exit', () => res()));
  try {
    while (!received.includes('listening')) await sleep(20);
    const sent = await lab.execIn(from, process.execPath, [BLAST, 'send', address, '5001', String(BYTES)], timeoutMs);
    expectOk(sent, 'sender');
    await done;
    return [sent.stdout.trim(), received.replace('listening\n', '').trim()];
  } finally {
    server.kill();
  }
}
