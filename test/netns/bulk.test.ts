// Bulk TCP through vtepd, checked byte for byte: with offloads (the default)
// this runs through TSO segmentation and UDP GSO on the way out, UDP GRO and
// coalesced TAP writes on the way in; with --no-offload, one frame a datagram.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT, sleep, type Lab } from '../../scripts/lab/lab.ts';
import { blueConfig, expectOk, kernelPeers, overlay, withLab } from './helpers.ts';

const BLAST = join(ROOT, 'scripts/lab/tcp-blast.mjs');
const BYTES = 8 * 1024 * 1024;

async function transfer(lab: Lab, from: number, to: number): Promise<[string, string]> {
  const server = spawn('ip', ['netns', 'exec', lab.ns(to), process.execPath, BLAST, 'serve', overlay(to), '5001'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let received = '';
  server.stdout.on('data', (d: Buffer) => (received += d.toString()));
  const done = new Promise<void>((res) => server.once('exit', () => res()));
  try {
    while (!received.includes('listening')) await sleep(20);
    const sent = await lab.exec(from, process.execPath, [BLAST, 'send', overlay(to), '5001', String(BYTES)], 60_000);
    expectOk(sent, 'sender');
    await done;
    return [sent.stdout.trim(), received.replace('listening\n', '').trim()];
  } finally {
    server.kill();
  }
}

describe('bulk TCP through vtepd', () => {
  it('carries 8 MB each way without a byte changed', () => withLab(2, async (lab) => {
    await kernelPeers(lab, [2]);
    await lab.startDaemon(1, blueConfig(lab, '', [2]));
    const [out, outGot] = await transfer(lab, 1, 2);
    expect(outGot).toBe(out);
    const [back, backGot] = await transfer(lab, 2, 1);
    expect(backGot).toBe(back);
    expect(out.startsWith(`${BYTES} `)).toBe(true);
  }));
});
