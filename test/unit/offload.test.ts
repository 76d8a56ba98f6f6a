// The native offload steps on crafted frames: TSO frames from a TAP cut into
// segments (tapFrames), TCP segments merged into one GSO frame for a TAP
// (writeFrames with coalescing), and inner checksums a peer left partial
// refused (writeFrames), read back through a FIFO. Every checksum is verified
// with our own wire code.
import { execFileSync } from 'node:child_process';
import { closeSync, constants, mkdtempSync, openSync, readSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Batch, SendQueue } from '../../src/datapath/batch.ts';
import { native } from '../../src/io/native.ts';
import { checksum } from '../../src/wire/checksum.ts';
import { pseudoHeaderSum, readU32 } from '../../src/wire/ipv4.ts';
import { readFrames, tapFrames, writeFrames } from '../../src/io/batch-io.ts';

const VNET = native.vnetHdrLen;
const MACS = Buffer.from('020000000002' + '020000000001' + '0800', 'hex');
const SRC = 0xc0a86401;
const DST = 0xc0a86402;

/**
 * Ethernet + IPv4 (SRC -> DST) around a TCP or UDP header and payload, both
 * checksums filled in; `checkAt` is where the L4 checksum field is.
 */
function ipv4Frame(protocol: number, l4: Buffer, checkAt: number, ident = 0, df = false): Buffer {
  const f = Buffer.alloc(14 + 20 + l4.length);
  MACS.copy(f, 0);
  const ip = f.subarray(14);
  ip[0] = 0x45;
  ip.writeUInt16BE(20 + l4.length, 2);
  ip.writeUInt16BE(ident, 4);
  ip.writeUInt16BE(df ? 0x4000 : 0, 6);
  ip[8] = 64;
  ip[9] = protocol;
  ip.writeUInt32BE(SRC, 12);
  ip.writeUInt32BE(DST, 16);
  ip.writeUInt16BE(checksum(ip, 0, 20), 10);
  l4.copy(ip, 20);
  ip.writeUInt16BE(checksum(ip, 20, l4.length, pseudoHeaderSum(SRC, DST, protocol, l4.length)), 20 + checkAt);
  return f;
}

/** Ethernet + IPv4 + TCP (20-byte header) with valid checksums. */
function tcpFrame(seq: number, payload: Buffer, flags = 0x10, ident = 7): Buffer {
  const tcp = Buffer.alloc(20 + payload.length);
  tcp.writeUInt16BE(40000, 0);
  tcp.writeUInt16BE(5001, 2);
  tcp.writeUInt32BE(seq >>> 0, 4);
  tcp.writeUInt32BE(777, 8);
  tcp[12] = 5 << 4;
  tcp[13] = flags;
  tcp.writeUInt16BE(512, 14);
  payload.copy(tcp, 20);
  return ipv4Frame(6, tcp, 16, ident, true);
}

function tcpValid(f: Buffer): boolean {
  const ip = f.subarray(14);
  const l4 = ip.readUInt16BE(2) - 20;
  return checksum(ip, 0, 20) === 0 && checksum(ip, 20, l4, pseudoHeaderSum(SRC, DST, 6, l4)) === 0;
}

function vnetHdr(
  flags: number,
  gso: number,
  hdrLen: number,
  gsoSize: number,
  csumStart: number,
  csumOffset: number,
): Buffer {
  const h = Buffer.alloc(VNET);
  h[0] = flags;
  h[1] = gso;
  h.writeUInt16LE(hdrLen, 2); // host order on a legacy (non-LE-switched) TAP, little-endian here
  h.writeUInt16LE(gsoSize, 4);
  h.writeUInt16LE(csumStart, 6);
  h.writeUInt16LE(csumOffset, 8);
  return h;
}

const payload = Buffer.from(Array.from({ length: 3500 }, (_, i) => (i * 7) & 0xff));

describe('tapFrames: TSO frames from the TAP become wire-sized segments', () => {
  function run(frames: Buffer[]) {
    const raw = new Batch(4, 65536 + 128, 0);
    frames.forEach((f, i) => {
      f.copy(raw.arena, raw.start(i));
      raw.len[i] = f.length;
    });
    raw.count = frames.length;
    const out = new Batch(64, 2048, 32);
    const stats = new Uint32Array(2);
    out.count = tapFrames(raw, out, stats);
    return { out, stats, frame: (i: number) => out.arena.subarray(out.start(i), out.start(i) + out.len[i]) };
  }

  it('cuts a 3500-byte TSO frame into MSS segments with their own lengths, IDs, sequence numbers, flags and checksums', () => {
    const big = tcpFrame(1000, payload, 0x19 /* ACK PSH FIN */, 100);
    const { out, stats, frame } = run([Buffer.concat([vnetHdr(1, 1, 54, 1000, 34, 16), big])]);
    expect(stats[0] + stats[1]).toBe(0);
    expect(out.count).toBe(4);
    for (let k = 0; k < 4; k++) {
      const f = frame(k);
      const size = k < 3 ? 1000 : 500;
      expect(f.length).toBe(54 + size);
      expect(f.readUInt16BE(14 + 2)).toBe(40 + size);
      expect(f.readUInt16BE(14 + 4)).toBe(100 + k);
      expect(readU32(f, 14 + 20 + 4)).toBe(1000 + k * 1000);
      expect(f[14 + 20 + 13]).toBe(k < 3 ? 0x10 : 0x19);
      expect(f.subarray(54)).toEqual(payload.subarray(k * 1000, k * 1000 + size));
      expect(tcpValid(f), `segment ${k}`).toBe(true);
    }
  });

  it('completes a partial checksum (NEEDS_CSUM) and passes plain frames through', () => {
    const f = tcpFrame(5, payload.subarray(0, 100));
    const partial = Buffer.from(f);
    partial.writeUInt16BE(partialOf4(6, 120), 14 + 20 + 16);
    const { out, frame } = run([
      Buffer.concat([vnetHdr(1, 0, 0, 0, 34, 16), partial]),
      Buffer.concat([vnetHdr(0, 0, 0, 0, 0, 0), f]),
    ]);
    expect(out.count).toBe(2);
    expect(frame(0)).toEqual(f);
    expect(frame(1)).toEqual(f);
  });

  it('drops and counts a GSO type it does not handle', () => {
    const { out, stats } = run([Buffer.concat([vnetHdr(0, 3 /* UFO */, 42, 1000, 0, 0), tcpFrame(1, payload)])]);
    expect(out.count).toBe(0);
    expect(stats[0]).toBe(1);
  });
});

const fifoDir = mkdtempSync(join(tmpdir(), 'vtepd-fifo-'));
afterAll(() => rmSync(fifoDir, { recursive: true, force: true }));

/** Writes the frames as an offloading TAP would get them, into a FIFO; returns what writeFrames said and the bytes written. */
function writeThroughFifo(frames: Buffer[], partial?: Uint32Array): { written: number; bytes: Buffer } {
  const fifo = join(fifoDir, `f${Math.random()}`);
  execFileSync('mkfifo', [fifo]);
  const fd = openSync(fifo, constants.O_RDWR | constants.O_NONBLOCK);
  try {
    const n = Math.max(16, frames.length);
    const b = new Batch(n, 2048, 16);
    const q = new SendQueue(n, b.arena);
    frames.forEach((f, i) => {
      f.copy(b.arena, b.start(i));
      q.push(b.start(i), f.length, 0, 0);
    });
    const written = writeFrames(fd, q, { vnetHdrLen: VNET, coalesce: true, partial: partial });
    const out = Buffer.alloc(65536);
    return { written, bytes: out.subarray(0, readSync(fd, out)) };
  } finally {
    closeSync(fd);
  }
}

describe('writeFrames: TCP segments of one flow become one GSO frame for the TAP', () => {
  function write(frames: Buffer[]): Buffer {
    const { written, bytes } = writeThroughFifo(frames);
    expect(written).toBe(frames.length);
    return bytes;
  }

  const stream = Buffer.from(Array.from({ length: 5000 }, (_, i) => (i * 13) & 0xff));
  const seg = (k: number, flags = 0x10) =>
    tcpFrame(1000 + k * 1000, stream.subarray(k * 1000, (k + 1) * 1000), flags, 50 + k);

  it('merges contiguous segments behind a virtio_net_hdr: GSO TCPv4, NEEDS_CSUM, MSS, pseudo-header checksum', () => {
    const arp = Buffer.concat([Buffer.from('ffffffffffff' + '020000000002' + '0806', 'hex'), Buffer.alloc(28, 1)]);
    const bytes = write([seg(0), seg(1), seg(2, 0x18), arp]);
    const h = bytes.subarray(0, VNET);
    expect([h[0], h[1], h.readUInt16LE(2), h.readUInt16LE(4), h.readUInt16LE(6), h.readUInt16LE(8)]).toEqual([
      1, 1, 54, 1000, 34, 16,
    ]);
    const merged = bytes.subarray(VNET, VNET + 54 + 3000);
    expect(merged.readUInt16BE(14 + 2)).toBe(40 + 3000);
    expect(checksum(merged, 14, 20)).toBe(0);
    expect(merged[14 + 20 + 13]).toBe(0x18); // PSH of the last segment
    expect(merged.subarray(54)).toEqual(stream.subarray(0, 3000));
    // Partial checksum: the pseudo-header sum alone, which the receiving stack completes.
    expect(merged.readUInt16BE(14 + 20 + 16)).toBe(partialOf4(6, 3020));
    // Then the ARP frame, behind a zeroed header.
    expect(bytes.subarray(VNET + 3054)).toEqual(Buffer.concat([Buffer.alloc(VNET), arp]));
  });

  it('merges at most 64 segments into one frame', () => {
    const many = Array.from({ length: 65 }, (_, k) => tcpFrame(1000 + k * 100, stream.subarray(0, 100), 0x10, k));
    const bytes = write(many);
    const h = bytes.subarray(0, VNET);
    expect(h[1]).toBe(1); // GSO TCPv4
    const merged = 54 + 64 * 100;
    expect(bytes.readUInt16BE(VNET + 14 + 2)).toBe(merged - 14);
    expect(bytes.length).toBe(VNET + merged + VNET + 154); // then the 65th, alone
  });
});

/**
 * Every condition under which Linux's GRO would not merge two TCP segments,
 * one at a time: the second segment differs from a mergeable one in that one
 * way only, with every checksum valid (unless the case is the checksum), so
 * that the comparison under test is the one that refuses.
 */
describe('writeFrames: what is not merged, condition by condition', () => {
  const data = Buffer.from(Array.from({ length: 2000 }, (_, i) => (i * 5) & 0xff));
  const base = (k: number): Seg4 => ({ seq: 100 + k * 500, payload: data.subarray(k * 500, k * 500 + 500) });
  const merges = (a: Buffer, b: Buffer) => writeThroughFifo([a, b]).bytes[1] !== 0; // gso_type of the first header

  it('merges the two unchanged segments (the control)', () => {
    expect(merges(tcp4(base(0)), tcp4(base(1)))).toBe(true);
  });

  const cases: [string, (s: Seg4) => Seg4 | Buffer][] = [
    ['another destination MAC', (s) => ({ ...s, dstMac: '020000000099' })],
    ['another TOS', (s) => ({ ...s, tos: 4 })],
    ['another TTL', (s) => ({ ...s, ttl: 63 })],
    ['another source address', (s) => ({ ...s, src: SRC + 1 })],
    ['another destination address', (s) => ({ ...s, dst: DST + 1 })],
    ['another source port', (s) => ({ ...s, sport: 40001 })],
    ['another destination port', (s) => ({ ...s, dport: 5002 })],
    ['a gap in the sequence', (s) => ({ ...s, seq: s.seq + 1 })],
    ['a sequence number that steps back', (s) => ({ ...s, seq: s.seq - 1 })],
    ['another acknowledgement number', (s) => ({ ...s, ack: 778 })],
    ['another window', (s) => ({ ...s, window: 513 })],
    ['other TCP options', (s) => ({ ...s, options: Buffer.from('0101080a0000000100000003', 'hex') })],
    ['a flag other than ACK and PSH (URG)', (s) => ({ ...s, flags: 0x30 })],
    ['FIN', (s) => ({ ...s, flags: 0x11 })],
    ['SYN', (s) => ({ ...s, flags: 0x12 })],
    ['RST', (s) => ({ ...s, flags: 0x14 })],
    ['IPv4 options', (s) => ({ ...s, ipOptions: Buffer.from('01010101', 'hex') })],
    ['a fragment (MF set)', (s) => ({ ...s, fragment: 0x2000 })],
    ['a fragment (offset)', (s) => ({ ...s, fragment: 0x0010 })],
    ['no payload (a pure ACK)', (s) => ({ ...s, payload: Buffer.alloc(0) })],
    ['a larger payload than the first', (s) => ({ ...s, payload: data.subarray(500, 1100) })],
    ['a bad IPv4 header checksum', (s) => corrupt(tcp4(s), 14 + 10)],
    ['a bad TCP checksum', (s) => corrupt(tcp4(s), 14 + 20 + 16)],
  ];
  for (const [name, change] of cases) {
    it(`does not merge a segment with ${name}`, () => {
      const second = change(base(1));
      expect(merges(tcp4(base(0)), Buffer.isBuffer(second) ? second : tcp4(second))).toBe(false);
    });
  }

  it('does not merge past a segment with PSH, nor past a shorter one', () => {
    const afterPsh = writeThroughFifo([tcp4(base(0)), tcp4({ ...base(1), flags: 0x18 }), tcp4(base(2))]).bytes;
    expect(afterPsh.readUInt16BE(VNET + 14 + 2)).toBe(40 + 1000); // the first two merged, the third alone
    const shorter = { ...base(1), payload: data.subarray(500, 800) };
    const afterShort = writeThroughFifo([tcp4(base(0)), tcp4(shorter), tcp4({ ...base(2), seq: 100 + 800 })]).bytes;
    expect(afterShort.readUInt16BE(VNET + 14 + 2)).toBe(40 + 800);
  });

  it('does not merge IPv6 segments of another traffic class, flow label or hop limit, nor IPv4 with IPv6', () => {
    const a = tcp6Frame(data.subarray(0, 500), 100).frame;
    const b = () => Buffer.from(tcp6Frame(data.subarray(500, 1000), 600).frame);
    expect(merges(a, b())).toBe(true);
    for (const [byte, value] of [
      [14 + 0, 0x61],
      [14 + 3, 0x01],
      [14 + 7, 63],
    ] as const) {
      const other = b();
      other[byte] = value; // none of these is under the TCP checksum
      expect(merges(a, other), `byte ${byte}`).toBe(false);
    }
    expect(merges(tcp4(base(0)), b())).toBe(false);
  });
});

interface Seg4 {
  seq: number;
  payload: Buffer;
  flags?: number;
  ack?: number;
  window?: number;
  options?: Buffer;
  ipOptions?: Buffer;
  tos?: number;
  ttl?: number;
  src?: number;
  dst?: number;
  sport?: number;
  dport?: number;
  fragment?: number;
  dstMac?: string;
}

/** Ethernet + IPv4 + TCP from a description, every checksum valid. */
function tcp4(s: Seg4): Buffer {
  const opts = s.options ?? Buffer.alloc(0);
  const ipOpts = s.ipOptions ?? Buffer.alloc(0);
  const tcp = Buffer.alloc(20 + opts.length + s.payload.length);
  tcp.writeUInt16BE(s.sport ?? 40000, 0);
  tcp.writeUInt16BE(s.dport ?? 5001, 2);
  tcp.writeUInt32BE(s.seq >>> 0, 4);
  tcp.writeUInt32BE(s.ack ?? 777, 8);
  tcp[12] = ((20 + opts.length) / 4) << 4;
  tcp[13] = s.flags ?? 0x10;
  tcp.writeUInt16BE(s.window ?? 512, 14);
  opts.copy(tcp, 20);
  s.payload.copy(tcp, 20 + opts.length);
  const ihl = 20 + ipOpts.length;
  const f = Buffer.alloc(14 + ihl + tcp.length);
  Buffer.from((s.dstMac ?? '020000000002') + '020000000001' + '0800', 'hex').copy(f, 0);
  const ip = f.subarray(14);
  ip[0] = 0x40 | (ihl / 4);
  ip[1] = s.tos ?? 0;
  ip.writeUInt16BE(ihl + tcp.length, 2);
  ip.writeUInt16BE(s.fragment ?? 0x4000, 6);
  ip[8] = s.ttl ?? 64;
  ip[9] = 6;
  ip.writeUInt32BE((s.src ?? SRC) >>> 0, 12);
  ip.writeUInt32BE((s.dst ?? DST) >>> 0, 16);
  ipOpts.copy(ip, 20);
  ip.writeUInt16BE(checksum(ip, 0, ihl), 10);
  tcp.copy(ip, ihl);
  ip.writeUInt16BE(checksum(ip, ihl, tcp.length, pseudoHeaderSum(s.src ?? SRC, s.dst ?? DST, 6, tcp.length)), ihl + 16);
  return f;
}

function corrupt(f: Buffer, at: number): Buffer {
  f[at] ^= 0xff;
  return f;
}

/** The pseudo-header sum folded, uncomplemented: what a stack that offloads the checksum leaves in the field. */
function partialOf(pseudo: Buffer): number {
  return ~checksum(pseudo, 0, pseudo.length) & 0xffff;
}

/** The same for IPv4 from SRC to DST. */
function partialOf4(protocol: number, length: number): number {
  return ~checksum(Buffer.alloc(0), 0, 0, pseudoHeaderSum(SRC, DST, protocol, length)) & 0xffff;
}

function udp4Frame(data: Buffer): Buffer {
  const udp = Buffer.alloc(8 + data.length);
  udp.writeUInt16BE(40000, 0);
  udp.writeUInt16BE(9999, 2);
  udp.writeUInt16BE(udp.length, 4);
  data.copy(udp, 8);
  return ipv4Frame(17, udp, 6);
}

/** Ethernet + IPv6 + TCP with a valid checksum; `pseudo` is its pseudo-header. */
function tcp6Frame(data: Buffer, seq = 0, flags = 0x10): { frame: Buffer; pseudo: Buffer } {
  const f = Buffer.alloc(14 + 40 + 20 + data.length);
  Buffer.from('020000000002' + '020000000001' + '86dd', 'hex').copy(f, 0);
  const ip = f.subarray(14);
  ip[0] = 0x60;
  ip.writeUInt16BE(20 + data.length, 4);
  ip[6] = 6;
  ip[7] = 64;
  Buffer.from('fd000000000000000000000000000001' + 'fd000000000000000000000000000002', 'hex').copy(ip, 8);
  const tcp = ip.subarray(40);
  tcp.writeUInt16BE(40000, 0);
  tcp.writeUInt16BE(5001, 2);
  tcp.writeUInt32BE(seq >>> 0, 4);
  tcp[12] = 5 << 4;
  tcp[13] = flags;
  data.copy(tcp, 20);
  const pseudo = Buffer.alloc(40);
  ip.copy(pseudo, 0, 8, 40);
  pseudo.writeUInt32BE(tcp.length, 32);
  pseudo[39] = 6;
  tcp.writeUInt16BE(checksum(Buffer.concat([pseudo, tcp]), 0, 40 + tcp.length), 16);
  return { frame: f, pseudo };
}

describe('writeFrames: inner checksums a peer left partial are refused, and only those', () => {
  it('refuses partial TCP and UDP checksums over IPv4 and IPv6, writes complete, absent and merely wrong ones', () => {
    const data = Buffer.from('partial checksums from a misconfigured VTEP');
    const goodUdp = udp4Frame(data);
    const partialUdp = Buffer.from(goodUdp);
    partialUdp.writeUInt16BE(partialOf4(17, 8 + data.length), 14 + 20 + 6);
    const noUdpChecksum = Buffer.from(goodUdp);
    noUdpChecksum.writeUInt16BE(0, 14 + 20 + 6);
    const wrongUdp = Buffer.from(goodUdp);
    wrongUdp[wrongUdp.length - 1] ^= 0x01; // corrupted on the way: the receiving stack's business, not a partial checksum
    const partialTcp = tcpFrame(1, data);
    partialTcp.writeUInt16BE(partialOf4(6, 20 + data.length), 14 + 20 + 16);
    const { frame: goodTcp6, pseudo: pseudo6 } = tcp6Frame(data);
    const partialTcp6 = Buffer.from(goodTcp6);
    partialTcp6.writeUInt16BE(partialOf(pseudo6), 14 + 40 + 16);

    const partial = new Uint32Array(2);
    const frames = [goodUdp, partialUdp, noUdpChecksum, partialTcp, goodTcp6, wrongUdp, partialTcp6];
    const { written, bytes } = writeThroughFifo(frames, partial);
    expect(written).toBe(4);
    expect([partial[0], partial[1]]).toEqual([3, 7]); // three refused, the last at index 6
    const plain = (f: Buffer) => Buffer.concat([Buffer.alloc(VNET), f]);
    expect(bytes).toEqual(Buffer.concat([goodUdp, noUdpChecksum, goodTcp6, wrongUdp].map(plain)));
  });
});

describe('writeFrames: TCP segments over IPv6 become one GSO frame too', () => {
  const stream = Buffer.from(Array.from({ length: 3000 }, (_, i) => (i * 11) & 0xff));
  const seg6 = (k: number, flags = 0x10) =>
    tcp6Frame(stream.subarray(k * 1000, (k + 1) * 1000), 5000 + k * 1000, flags).frame;

  it('merges contiguous segments behind a virtio_net_hdr: GSO TCPv6, NEEDS_CSUM, MSS, pseudo-header checksum', () => {
    const { written, bytes } = writeThroughFifo([seg6(0), seg6(1), seg6(2, 0x18)]);
    expect(written).toBe(3);
    const h = bytes.subarray(0, VNET);
    expect([h[0], h[1], h.readUInt16LE(2), h.readUInt16LE(4), h.readUInt16LE(6), h.readUInt16LE(8)]).toEqual([
      1, 4, 74, 1000, 54, 16,
    ]);
    const merged = bytes.subarray(VNET);
    expect(merged.length).toBe(74 + 3000);
    expect(merged.readUInt16BE(14 + 4)).toBe(20 + 3000); // payload length
    expect(merged[14 + 40 + 13]).toBe(0x18); // PSH of the last segment
    expect(merged.subarray(74)).toEqual(stream);
    const pseudo = Buffer.from(tcp6Frame(Buffer.alloc(3000)).pseudo); // same addresses, the merged length
    expect(merged.readUInt16BE(14 + 40 + 16)).toBe(partialOf(pseudo));
  });

  it('does not merge an IPv6 segment whose checksum fails', () => {
    const bad = seg6(1);
    bad[bad.length - 1] ^= 0xff;
    const { bytes } = writeThroughFifo([seg6(0), bad, seg6(2)]);
    expect(bytes.length).toBe(3 * (VNET + 1074)); // three plain frames
  });
});

describe('readFrames with a segment budget: frames counted by the segments they will make', () => {
  /** Reads frames written as messages of a SEQPACKET pair (one read() a frame, as from a TAP; at most 8 queued). */
  function readAfter(frames: Buffer[], budget: number): number {
    const [a, b] = native.channelOpen();
    try {
      for (const f of frames) expect(native.sendMessage(a, f, undefined, 1000)).toBe(0);
      const raw = new Batch(64, 65536 + 128, 0);
      return readFrames(b, raw, budget, frames.length);
    } finally {
      native.close(a);
      native.close(b);
    }
  }
  // 1 + 45 segments each: 4500 bytes of payload at an MSS of 100.
  const tso = Buffer.concat([vnetHdr(1, 1, 54, 100, 34, 16), Buffer.alloc(54 + 4500)]);
  const small = Buffer.concat([vnetHdr(0, 0, 0, 0, 0, 0), Buffer.alloc(60)]);

  it('stops once the next TSO frame might not fit (budget 300, 128 kept free: 4 frames of 46 segments)', () => {
    expect(
      readAfter(
        Array.from({ length: 8 }, () => tso),
        300,
      ),
    ).toBe(4);
  });

  it('counts a plain frame as one segment: all 8 within 1024, 3 within 130', () => {
    expect(
      readAfter(
        Array.from({ length: 8 }, () => small),
        1024,
      ),
    ).toBe(8);
    expect(
      readAfter(
        Array.from({ length: 8 }, () => small),
        130,
      ),
    ).toBe(3);
  });
});
