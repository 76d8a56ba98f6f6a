// The fuzzer's packet source, run inside a lab namespace: a VTEP that speaks
// garbage (VXLAN from a UDP socket, GRE from a raw socket whose outer IPv4
// header it writes itself), or the host behind a TAP (an AF_PACKET socket on
// the kernel's side of the TAP). One JSON command a line on stdin
// ({ seed, count } or { forget: true }); one JSON line back per batch: what
// was sent, and what the oracle says must arrive.
//
//   node --import tsx scripts/fuzz/sender.ts vxlan|geneve|gre|tap|flood-vxlan|flood-tap --from IP --to IP --dev NAME --networks JSON --pps N [--macs MAC,...] [--tap-mac MAC]
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { SendQueue } from '../../src/datapath/batch.ts';
import { native } from '../../src/io/native.ts';
import { parseIp } from '../../src/wire/ip-address.ts';
import { Rng } from './generate.ts';
import { TapOracle } from './oracle.ts';
import { PacketSource, type Mode, type SenderNetworks } from './packets.ts';
import { sendDatagrams, writeFrames } from '../../src/io/batch-io.ts';

const { positionals, values } = parseArgs({
  allowPositionals: true,
  options: {
    from: { type: 'string' },
    to: { type: 'string' },
    dev: { type: 'string' },
    networks: { type: 'string' },
    pps: { type: 'string' },
    macs: { type: 'string' },
    'tap-mac': { type: 'string' },
  },
});
/** vxlan, geneve, gre, tap: fuzzing; flood-vxlan, flood-tap: valid broadcasts, each from a new random source MAC. */
const mode = positionals[0] as Mode;
const flood = mode.startsWith('flood-');
const kind = mode.replace('flood-', '') as 'vxlan' | 'geneve' | 'gre' | 'tap';
const nets = JSON.parse(values.networks!) as SenderNetworks;
const pps = Number(values.pps ?? 100_000);
const BATCH = 64;
const SLOT = 2048;

const from = parseIp(values.from ?? '0.0.0.0')!;
const to = Buffer.from(parseIp(values.to ?? '0.0.0.0')!);
const table = new Uint8Array(16);
table.set(to);

const queue = new SendQueue(BATCH, Buffer.alloc(BATCH * SLOT));
const fd =
  kind === 'vxlan' || kind === 'geneve'
    ? native.udpSenderOpen(from, 0, 64, false, 4 << 20)
    : kind === 'gre'
      ? native.rawHdrinclOpen(47, 4 << 20)
      : native.packetOpen(values.dev!);
const tapOracle = new TapOracle(nets.maxMacs, values['tap-mac']);
const source = new PacketSource(
  mode,
  nets,
  Buffer.from(from.subarray(12)),
  to.subarray(12),
  (values.macs ?? '')
    .split(',')
    .filter(Boolean)
    .map((m) => Buffer.from(m.replace(/:/g, ''), 'hex')),
);

/** Sends the queue's entries, waiting out a full socket buffer; returns how many went. */
function flush(q: SendQueue): number {
  if (kind === 'tap') return writeFrames(fd, q, { vnetHdrLen: 0, coalesce: false });
  let sent = 0;
  for (let tries = 0; sent < q.count && tries < 1000; tries++) {
    const part = new SendQueue(q.count - sent, q.arena);
    for (let i = sent; i < q.count; i++) part.push(q.off[i], q.len[i], 0, 0, q.tos[i]);
    const n = sendDatagrams(fd, part, {
      table: table,
      port: kind === 'vxlan' ? 4789 : kind === 'geneve' ? 6081 : 0,
      df: 0,
    });
    sent += Math.max(0, n);
    if (sent < q.count) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1);
  }
  return sent;
}

async function main(): Promise<void> {
  const lines = createInterface({ input: process.stdin });
  for await (const line of lines) {
    const cmd = JSON.parse(line) as { seed?: number; count?: number; forget?: boolean };
    if (cmd.forget) {
      tapOracle.forget();
      process.stdout.write('{"forgot":true}\n');
      continue;
    }
    const rng = new Rng(cmd.seed!);
    let sent = 0;
    let expected = 0;
    let failed = 0;
    const t0 = performance.now();
    for (let done = 0; done < cmd.count!;) {
      queue.count = 0;
      let at = 0;
      const made: { data: Buffer; expect: number }[] = [];
      for (; queue.count < BATCH && done < cmd.count!; done++) {
        const p = source.next(rng);
        p.data.copy(queue.arena, at);
        queue.push(at, p.data.length, 0, 0, p.tos);
        made.push(p);
        at += SLOT;
      }
      const n = flush(queue);
      for (let i = 0; i < made.length; i++) {
        // A TAP write that the kernel refused has its length zeroed: it was not sent.
        const went = kind === 'tap' ? queue.len[i] !== 0 : i < n;
        if (!went) {
          failed++;
          continue;
        }
        sent++;
        if (!flood) expected += kind === 'tap' ? tapOracle.forward(made[i].data) : made[i].expect;
      }
      // Paced, so that no socket buffer overflows and every packet sent reaches the daemon.
      const due = t0 + (done / pps) * 1000;
      while (performance.now() < due)
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, Math.max(0, Math.min(5, due - performance.now())));
    }
    process.stdout.write(JSON.stringify({ sent, failed, expected, seconds: (performance.now() - t0) / 1000 }) + '\n');
  }
}

await main();
