// Shared pieces of the lab tests: a lab per test, torn down whatever happens,
// kernel VXLAN peers, and vtepctl's JSON.
import { join } from 'node:path';
import { expect } from 'vitest';
import type { FdbRow, StatsReport } from '../../src/control/protocol.ts';
import { Lab, overlay, ROOT, sh, VNI, type Result } from '../../scripts/lab/lab.ts';

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

export function expectOk(r: Result, what: string): void {
  expect(r.code, `${what} failed:\n${r.stdout}\n${r.stderr}`).toBe(0);
}

export function ping(lab: Lab, from: number, to: string, count = 3): Promise<Result> {
  return lab.exec(from, 'ping', ['-c', String(count), '-i', '0.2', '-W', '2', to]);
}

export function arping(lab: Lab, from: number, dev: string, to: string, count = 1): Promise<Result> {
  return lab.exec(from, 'arping', ['-c', String(count), '-w', '3', '-i', dev, to]);
}
