// Fuzzing in process: the wire codecs, the switch's forwarding on both sides,
// and the native segmentation (TSO frames from a TAP) and coalescing (TCP
// segments merged for a TAP) straight from JavaScript, with generated and
// mutated input. Nothing may throw, and what comes out must stay inside its
// buffers. Run as a child of the fuzzer (with an AddressSanitizer build of the
// addon under --asan); prints one JSON line.
//
//   node --import tsx scripts/fuzz/codecs.ts COUNT SEED
import { execFileSync } from 'node:child_process';
import { closeSync, constants, mkdtempSync, openSync, readSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Batch, SendQueue } from '../../src/datapath/batch.ts';
import { decodeTunnelFrame, describeFrame } from '../../src/observe/dissect.ts';
import { native } from '../../src/io/native.ts';
import { Counters } from '../../src/switch/counters.ts';
import { deliverBatch, demuxBatch, forwardFromTap } from '../../src/switch/forward.ts';
import { Forwarding } from '../../src/switch/verdict.ts';
import { Network } from '../../src/switch/network.ts';
import { Hold } from '../../src/switch/remotes.ts';
import { geneveSchema, geneveSettings, GeneveTunnel } from '../../src/tunnel/geneve.ts';
import { GreTunnel } from '../../src/tunnel/gre.ts';
import { Resolved } from '../../src/tunnel/tunnel.ts';
import { VxlanTunnel } from '../../src/tunnel/vxlan.ts';
import { newArpRepr, parseArp } from '../../src/wire/arp.ts';
import { newGeneveRepr, parseGeneve, readOptions } from '../../src/wire/geneve.ts';
import { newGreRepr, parseGre } from '../../src/wire/gre.ts';
import { newNdRepr, parseNd } from '../../src/wire/icmpv6.ts';
import { parseIp, writeV4Mapped } from '../../src/wire/ip-address.ts';
import { newIpv4Repr, parseIpv4 } from '../../src/wire/ipv4.ts';
import { newIpv6Repr, parseIpv6 } from '../../src/wire/ipv6.ts';
import { newVxlanRepr, parseVxlan } from '../../src/wire/vxlan.ts';
import { mutate, Rng, validFrame, type Hosts } from './generate.ts';
import { tapFrames, writeFrames } from '../../src/io/batch-io.ts';

const count = Number(process.argv[2] ?? 100_000);
const rng = new Rng(Number(process.argv[3] ?? 1));
const VNET = native.vnetHdrLen;
const problems: string[] = [];
const hosts: Hosts = {
  macs: Array.from({ length: 8 }, (_, i) => Buffer.from(`02f30000000${i}`, 'hex')),
  ipv4: [Buffer.from([10, 9, 0, 1]), Buffer.from([10, 9, 0, 2])],
};

function network(tunnel: VxlanTunnel | GeneveTunnel | GreTunnel): Network {
  const net = new Network({
    name: 'fz',
    tunnel,
    encap: tunnel.encap([49152]),
    ttl: 64,
    df: false,
    acceptAnyRemote: true,
    ageing: 300,
    maxMacs: 64,
    arpResponder: true,
    arpSnoop: true,
    learning: true,
    batchSize: 64,
    maxFrame: 1468,
  });
  net.holdRemote(parseIp('10.0.0.2')!, Hold.Flood);
  net.setNeigh(parseIp('10.9.0.2')!, 0x02f300000002, 'config', 0);
  net.snoopLocal = true;
  return net;
}

const vxlan = network(new VxlanTunnel({ kind: 'vxlan', vni: 42, port: 4789, srcPortMin: 49152, srcPortMax: 65535 }));
const gre = network(new GreTunnel({ kind: 'gre', key: 77, csum: true, seq: true }));
const vxDemux = vxlan.tunnel.newDemux<Network>();
vxDemux.set(42, vxlan);
const greDemux = gre.tunnel.newDemux<Network>();
greDemux.set(77, gre);
const geneve = network(
  new GeneveTunnel(
    geneveSettings(geneveSchema.parse({ vni: 42, options: [{ class: 0x0102, type: 0x80, data: '00010002' }] })),
  ),
);
const geneveDemux = geneve.tunnel.newDemux<Network>();
geneveDemux.set(42, geneve, geneve.tunnel);
const dropped = new Counters();
const tapBatch = new Batch(64, 2048, 64);
const tunnelBatch = new Batch(64, 2048, 16);
const forwarding = new Forwarding(64);
const resolved = new Resolved<Network>(64);

function input(): Buffer {
  const f = validFrame(
    rng,
    hosts,
    rng.pick(hosts.macs),
    rng.chance(0.3) ? Buffer.from('ffffffffffff', 'hex') : rng.pick(hosts.macs),
    1468,
  );
  return rng.chance(0.7) ? mutate(rng, f, 1468) : f;
}

function guard(what: string, fn: () => void): void {
  try {
    fn();
  } catch (e) {
    if (problems.length < 20) problems.push(`${what}: ${(e as Error).stack?.split('\n').slice(0, 3).join(' | ')}`);
  }
}

/** The parsers: each takes any bytes and reports what they are, never throws. */
function codecs(b: Buffer): void {
  const off = rng.int(Math.min(8, b.length + 1));
  guard('parseVxlan', () => parseVxlan(b, off, b.length, newVxlanRepr()));
  guard('parseGre', () => parseGre(b, off, b.length, newGreRepr()));
  guard('parseGeneve', () => {
    const g = newGeneveRepr();
    if (parseGeneve(b, off, b.length, g) === 0) readOptions(b, off + 8, g.optionsLen);
  });
  guard('parseIpv4', () => parseIpv4(b, off, b.length, newIpv4Repr(), rng.chance(0.5)));
  guard('parseIpv6', () => parseIpv6(b, off, b.length, newIpv6Repr()));
  guard('parseArp', () => parseArp(b, off, b.length, newArpRepr()));
  guard('parseNd', () => b.length >= 40 && parseNd(b, 40, b.length, 8, 24, newNdRepr()));
  guard('describeFrame', () => describeFrame(b));
  guard('decodeTunnelFrame', () => decodeTunnelFrame(b));
}

/** The switch: frames from the TAP, packets from both tunnels, through the data path's own functions. */
function switching(): void {
  tapBatch.count = 0;
  for (let i = 0; i < 16; i++) {
    const f = input();
    const len = Math.min(f.length, tapBatch.room);
    f.copy(tapBatch.arena, tapBatch.start(i), 0, len);
    tapBatch.len[i] = len;
    tapBatch.count++;
  }
  const net = rng.pick([vxlan, gre, geneve]);
  const out = net.toTunnel;
  out.count = 0;
  net.toTap.count = 0;
  forwarding.begin(rng.int(1000), tapBatch.count);
  guard('forwardFromTap', () => forwardFromTap(net, tapBatch, forwarding));
  forwarding.end();
  for (let i = 0; i < out.count; i++) {
    if (out.off[i] + out.len[i] > out.arena.length)
      problems.push(`forwardFromTap queued bytes outside the arena (${out.off[i]}+${out.len[i]})`);
  }
  for (const [net, demux] of [
    [vxlan, vxDemux],
    [gre, greDemux],
    [geneve, geneveDemux],
  ] as const) {
    tunnelBatch.count = 0;
    for (let i = 0; i < 16; i++) {
      const inner = input();
      const head =
        net === vxlan
          ? Buffer.from('0800000000002a00', 'hex')
          : net === geneve
            ? Buffer.from(
                rng
                  .pick(['000065580000 2a00', '024065580000 2a00 01028001 00010002', '01006558 00002a00 00ff8100'])
                  .replace(/ /g, ''),
                'hex',
              )
            : Buffer.concat([
                Buffer.from('4500000000004000402f0000' + '0a000002' + '0a000001', 'hex'),
                Buffer.from('2000655800000' + '04d', 'hex'),
              ]);
      let p: Buffer = Buffer.concat([head, inner]);
      if (net === gre) p.writeUInt16BE(p.length, 2);
      if (rng.chance(0.5)) p = mutate(rng, p, 1600);
      const len = Math.min(p.length, tunnelBatch.room + 1);
      p.copy(tunnelBatch.arena, tunnelBatch.start(i), 0, Math.min(len, tunnelBatch.room));
      tunnelBatch.len[i] = len;
      writeV4Mapped(rng.chance(0.9) ? 0x0a000002 : rng.u32(), tunnelBatch.peer, i * 16);
      tunnelBatch.tos[i] = rng.int(256);
      tunnelBatch.count++;
    }
    net.toTap.count = 0;
    guard('demuxBatch/deliverBatch', () => {
      demuxBatch(tunnelBatch, demux, resolved, dropped);
      forwarding.begin(rng.int(1000), tunnelBatch.count);
      deliverBatch(tunnelBatch, resolved, forwarding);
      forwarding.end();
    });
    const q = net.toTap;
    for (let i = 0; i < q.count; i++)
      if (q.off[i] + q.len[i] > q.arena.length) problems.push('deliverBatch queued bytes outside the arena');
  }
}

/** TSO frames with mutated virtio_net_hdr and headers, cut into segments by the addon. */
function segmentation(raw: Batch, segs: Batch, stats: Uint32Array): void {
  raw.count = 0;
  for (let i = 0; i < 4; i++) {
    const hdr = Buffer.alloc(VNET);
    hdr[0] = rng.pick([0, 1, 2, 3, rng.int(256)]);
    hdr[1] = rng.pick([0, 1, 4, 3, 0x80, rng.int(256)]);
    hdr.writeUInt16LE(rng.pick([0, 54, 66, rng.int(65536)]), 2);
    hdr.writeUInt16LE(rng.pick([0, 1, 1448, 536, rng.int(65536)]), 4);
    hdr.writeUInt16LE(rng.pick([34, 54, rng.int(65536)]), 6);
    hdr.writeUInt16LE(rng.pick([16, 6, rng.int(65536)]), 8);
    let f = validFrame(rng, hosts, hosts.macs[0], hosts.macs[1], 1468);
    if (rng.chance(0.3)) f = Buffer.concat([f, rng.bytes(rng.int(60000))]);
    if (rng.chance(0.5)) f = mutate(rng, f, 65000);
    const whole = Buffer.concat([hdr, f]).subarray(0, raw.room);
    whole.copy(raw.arena, raw.start(i));
    raw.len[i] = whole.length;
    raw.count++;
  }
  guard('tapFrames', () => {
    segs.count = tapFrames(raw, segs, stats);
  });
  for (let i = 0; i < segs.count; i++)
    if (segs.len[i] > segs.room)
      problems.push(`tapFrames made a segment of ${segs.len[i]} bytes in a slot of ${segs.room}`);
}

/** TCP segments (mutated) written with coalescing into a FIFO, read back and thrown away. */
function coalescing(fd: number, reader: number, q: SendQueue, sink: Buffer): void {
  q.count = 0;
  let at = 0;
  for (let i = 0; i < 16; i++) {
    let f = validFrame(rng, hosts, hosts.macs[0], hosts.macs[1], 1468);
    if (rng.chance(0.5)) f = mutate(rng, f, 1468);
    f = f.subarray(0, 1500);
    f.copy(q.arena, at + VNET);
    q.push(at + VNET, f.length, 0);
    at += 2048;
  }
  const partial = new Uint32Array(2);
  guard('writeFrames', () => writeFrames(fd, q, { vnetHdrLen: VNET, coalesce: true, partial: partial }));
  try {
    while (readSync(reader, sink, 0, sink.length, null) > 0) {
      /* drain */
    }
  } catch {
    // EAGAIN: drained
  }
}

const dir = mkdtempSync(join(tmpdir(), 'vtepd-fuzz-'));
const fifo = join(dir, 'tap.fifo');
execFileSync('mkfifo', [fifo]);
// Both ends non-blocking: a write the pipe cannot take is given up, not waited for.
const reader = openSync(fifo, constants.O_RDWR | constants.O_NONBLOCK);
const writer = openSync(fifo, constants.O_WRONLY | constants.O_NONBLOCK);
const raw = new Batch(4, 65536 + 128, 0);
const segs = new Batch(1024, 2048, 64);
const stats = new Uint32Array(2);
const q = new SendQueue(16, Buffer.alloc(16 * 2048 + VNET));
const sink = Buffer.alloc(1 << 20);
const t0 = performance.now();
let done = 0;
try {
  for (; done < count; done++) {
    codecs(input());
    if (done % 16 === 0) switching();
    if (done % 64 === 0) segmentation(raw, segs, stats);
    if (done % 64 === 32) coalescing(writer, reader, q, sink);
  }
} finally {
  closeSync(writer);
  closeSync(reader);
  rmSync(dir, { recursive: true, force: true });
}
process.stdout.write(JSON.stringify({ inputs: done, seconds: (performance.now() - t0) / 1000, problems }) + '\n');
