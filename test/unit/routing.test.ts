// Routing between networks without a kernel: the longest-prefix-match table,
// the TTL and checksum arithmetic of RFC 1624, the ICMP a gateway writes
// (byte for byte), the resolver's bounds, and the gateway hooks on real
// frames through the same forwarding functions as the data path: routed
// frames, DVR MACs written on the way out and back on the way in, and what a
// gateway refuses from a tunnel.
import { describe, expect, it } from 'vitest';
import { Batch, type SendQueue } from '../../src/datapath/batch.ts';
import { Lpm } from '../../src/route/lpm.ts';
import { contains, masked, parsePrefix, samePrefix, type Prefix } from '../../src/route/prefix.ts';
import { MAX_ENTRIES, MAX_QUEUED, Queue, TRIES, type Pending } from '../../src/route/resolver.ts';
import { L3VniHook } from '../../src/route/l3vni-hook.ts';
import { Router, type GatewaySpec } from '../../src/route/router.ts';
import { VrfCounter } from '../../src/route/vrf.ts';
import { Counters } from '../../src/switch/counters.ts';
import { Drop } from '../../src/switch/drop.ts';
import { deliverBatch, demuxBatch, forwardFromTap } from '../../src/switch/forward.ts';
import { Network } from '../../src/switch/network.ts';
import { Hold } from '../../src/switch/remotes.ts';
import { Forwarding, ROUTED, Verdict, VERDICT_MASK } from '../../src/switch/verdict.ts';
import { Resolved } from '../../src/tunnel/tunnel.ts';
import { VxlanTunnel } from '../../src/tunnel/vxlan.ts';
import { IcmpError, writeEchoReply, writeIcmpError } from '../../src/wire/icmp-out.ts';
import { ADDR_LEN, parseIp, writeV4Mapped } from '../../src/wire/ip-address.ts';
import { decrementTtl, updateChecksum } from '../../src/wire/ipv4.ts';
import { parseMac } from '../../src/wire/mac.ts';
import { emitVxlan } from '../../src/wire/vxlan.ts';

/** The Internet checksum, written here again so that the tests do not check the code with itself. */
function inetSum(b: Uint8Array, start = 0, end = b.length, acc = 0): number {
  for (let i = start; i < end; i += 2) acc += (b[i] << 8) | (i + 1 < end ? b[i + 1] : 0);
  while (acc > 0xffff) acc = (acc & 0xffff) + (acc >>> 16);
  return ~acc & 0xffff;
}

const hex = (s: string) => Buffer.from(s.replace(/[\s:.]/g, ''), 'hex');
const v4bytes = (a: string) => Buffer.from(a.split('.').map(Number));
const v6bytes = (a: string) => Buffer.from(parseIp(a)!);
const macBytes = (m: string) => hex(m);

const GW = '00:00:5e:00:01:01';
const DVR_A = 'fa:16:3f:00:00:01';
const DVR_B = 'fa:16:3f:00:00:02';
const HOST_BLUE = '02:00:00:00:10:0b';
const HOST_RED = '02:00:00:00:20:0c';
const REMOTE = '10.0.0.2';

/** An IPv4 packet: header (checksum filled) and payload. */
function ipv4(o: { src: string; dst: string; ttl: number; proto: number; payload: Buffer; id?: number }): Buffer {
  const h = Buffer.alloc(20);
  h[0] = 0x45;
  h.writeUInt16BE(20 + o.payload.length, 2);
  h.writeUInt16BE(o.id ?? 0x1234, 4);
  h.writeUInt16BE(0x4000, 6);
  h[8] = o.ttl;
  h[9] = o.proto;
  v4bytes(o.src).copy(h, 12);
  v4bytes(o.dst).copy(h, 16);
  h.writeUInt16BE(inetSum(h), 10);
  return Buffer.concat([h, o.payload]);
}

/** An ICMP echo request (or `type`) with checksum. */
function icmp(type: number, rest: Buffer): Buffer {
  const m = Buffer.concat([Buffer.from([type, 0, 0, 0]), rest]);
  m.writeUInt16BE(inetSum(m), 2);
  return m;
}

function ipv6(o: { src: string; dst: string; hops: number; next: number; payload: Buffer }): Buffer {
  const h = Buffer.alloc(40);
  h.writeUInt32BE(0x60000000, 0);
  h.writeUInt16BE(o.payload.length, 4);
  h[6] = o.next;
  h[7] = o.hops;
  v6bytes(o.src).copy(h, 8);
  v6bytes(o.dst).copy(h, 24);
  return Buffer.concat([h, o.payload]);
}

/** ICMPv6 message with its checksum over the pseudo-header. */
function icmp6(src: string, dst: string, type: number, code: number, rest: Buffer): Buffer {
  const m = Buffer.concat([Buffer.from([type, code, 0, 0]), rest]);
  const pseudo = Buffer.concat([
    v6bytes(src),
    v6bytes(dst),
    Buffer.from([0, 0, m.length >> 8, m.length & 255, 0, 0, 0, 58]),
  ]);
  m.writeUInt16BE(inetSum(Buffer.concat([pseudo, m])), 2);
  return m;
}

function eth(dst: string, src: string, type: number, payload: Buffer): Buffer {
  const t = Buffer.alloc(2);
  t.writeUInt16BE(type);
  return Buffer.concat([macBytes(dst), macBytes(src), t, payload]);
}

const echo4 = (src: string, dst: string, ttl = 64) =>
  eth(GW, HOST_BLUE, 0x0800, ipv4({ src, dst, ttl, proto: 1, payload: icmp(8, hex('0001 0001 6162636465666768')) }));

describe('longest-prefix match', () => {
  const p = (s: string) => parsePrefix(s)!;
  const at = (a: string) => parseIp(a)!;
  const look = (t: Lpm<string>, a: string) => {
    const b = at(a);
    const v4 = a.includes('.');
    return t.lookup(b, v4 ? 12 : 0, v4);
  };

  it('picks the longest of nested prefixes, /0 to /32 and /0 to /128, and falls back when one is removed', () => {
    const t = new Lpm<string>();
    for (let len = 0; len <= 32; len += 8) t.set(p(`10.1.2.3/${len}`), `v4/${len}`);
    t.set(p('10.1.2.3/32'), 'v4/32');
    for (let len = 0; len <= 128; len += 16) t.set(p(`fd00:10::1/${len}`), `v6/${len}`);
    t.set(p('fd00:10::1/128'), 'v6/128');
    expect(look(t, '10.1.2.3')).toBe('v4/32');
    expect(look(t, '10.1.2.4')).toBe('v4/24');
    expect(look(t, '10.1.3.1')).toBe('v4/16');
    expect(look(t, '10.2.0.0')).toBe('v4/8');
    expect(look(t, '11.0.0.0')).toBe('v4/0');
    expect(look(t, 'fd00:10::1')).toBe('v6/128');
    expect(look(t, 'fd00:10::2')).toBe('v6/112');
    expect(look(t, 'fd00:11::1')).toBe('v6/16');
    expect(look(t, '2001:db8::1')).toBe('v6/0');
    // IPv4 never matches an IPv6 route, even ::/0, and the other way round.
    t.delete(p('0.0.0.0/0'));
    expect(look(t, '11.0.0.0')).toBeUndefined();
    t.delete(p('10.1.2.3/32'));
    expect(look(t, '10.1.2.3')).toBe('v4/24');
    t.delete(p('10.1.2.0/24'));
    t.delete(p('10.1.0.0/16'));
    expect(look(t, '10.1.2.3')).toBe('v4/8');
    expect(t.get(p('10.0.0.0/8'))).toBe('v4/8');
    expect(t.delete(p('10.1.0.0/16'))).toBeUndefined();
  });

  it('agrees with a linear scan of every prefix on random tables and addresses', () => {
    let seed = 7;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) >>> 0) >>> 8) & 0xffff;
    for (const v4 of [true, false]) {
      const t = new Lpm<number>();
      const list: Prefix[] = [];
      for (let k = 0; k < 300; k++) {
        const a = new Uint8Array(16);
        if (v4) writeV4Mapped(((rnd() << 16) | rnd()) >>> 0, a);
        else for (let i = 0; i < 16; i += 2) a.set([rnd() & 0x1f, rnd() & 0xff], i); // a small space: many overlaps
        const pr = masked(a, rnd() % (v4 ? 33 : 129));
        t.set(pr, k);
        // A prefix set again takes the new value: the scan must not see the old one.
        list.forEach((x, j) => x !== undefined && samePrefix(x, pr) && delete list[j]);
        list[k] = pr;
        if (k % 5 === 0) {
          const gone = rnd() % (k + 1);
          if (list[gone] !== undefined) {
            expect(t.delete(list[gone])).toBe(gone);
            delete list[gone];
          }
        }
      }
      for (let n = 0; n < 2000; n++) {
        const a = new Uint8Array(16);
        if (v4) writeV4Mapped(((rnd() << 16) | rnd()) >>> 0, a);
        else for (let i = 0; i < 16; i += 2) a.set([rnd() & 0x1f, rnd() & 0xff], i);
        let best = -1;
        list.forEach((pr, k) => {
          if (pr !== undefined && contains(pr, a) && (best < 0 || pr.len >= list[best].len)) best = k;
        });
        const got = t.lookup(a, v4 ? 12 : 0, v4);
        if (best < 0) expect(got).toBeUndefined();
        else expect(list[got!].len).toBe(list[best].len);
      }
    }
  });
});

describe('TTL and checksum (RFC 1624)', () => {
  it("gives RFC 1624 section 4's answer: 0xDD2F with 0x5555 -> 0x3285 is 0x0000, not 0xFFFF", () => {
    expect(updateChecksum(0xdd2f, 0x5555, 0x3285)).toBe(0x0000);
  });

  it('decrements the TTL with the checksum a full recomputation gives, for every TTL', () => {
    for (const proto of [1, 6, 17, 0xff]) {
      for (let ttl = 2; ttl <= 255; ttl++) {
        const h = ipv4({
          src: '192.168.10.11',
          dst: '192.168.20.12',
          ttl,
          proto,
          payload: Buffer.alloc(0),
          id: ttl * 257,
        });
        decrementTtl(h, 0);
        expect(h[8]).toBe(ttl - 1);
        const again = Buffer.from(h);
        again.writeUInt16BE(0, 10);
        expect(h.readUInt16BE(10)).toBe(inetSum(again));
      }
    }
  });
});

describe('ICMP from the gateway, byte for byte', () => {
  const from = { ip: parseIp('192.168.10.1')!, mac: parseMac(GW)! };

  it('time exceeded (11/0) from the gateway address: TTL 64, the packet quoted whole, to its sender', () => {
    const frame = echo4('192.168.10.11', '192.168.20.12', 1);
    const packet = frame.subarray(14);
    const buf = Buffer.alloc(2048);
    frame.copy(buf, 100);
    const n = writeIcmpError(buf, 100, frame.length, IcmpError.TimeExceeded, 0, from);
    const body = icmp(11, Buffer.concat([Buffer.alloc(4), packet]));
    const expected = eth(
      HOST_BLUE,
      GW,
      0x0800,
      ipv4({ src: '192.168.10.1', dst: '192.168.10.11', ttl: 64, proto: 1, payload: body, id: 0 }),
    );
    expect(buf.subarray(100, 100 + n).toString('hex')).toBe(expected.toString('hex'));
  });

  it('network unreachable (3/0) quotes the packet without the Ethernet padding, and at most 576 bytes in all', () => {
    const small = echo4('192.168.10.11', '10.99.0.1');
    const padded = Buffer.concat([small, Buffer.alloc(60 - small.length > 0 ? 60 - small.length : 8, 0xee)]);
    const buf = Buffer.alloc(2048);
    padded.copy(buf);
    const n = writeIcmpError(buf, 0, padded.length, IcmpError.NetUnreachable, 0, from);
    const expected = eth(
      HOST_BLUE,
      GW,
      0x0800,
      ipv4({
        src: '192.168.10.1',
        dst: '192.168.10.11',
        ttl: 64,
        proto: 1,
        payload: icmp(3, Buffer.concat([Buffer.alloc(4), small.subarray(14)])),
        id: 0,
      }),
    );
    expect(buf.subarray(0, n).toString('hex')).toBe(expected.toString('hex'));
    const big = eth(
      GW,
      HOST_BLUE,
      0x0800,
      ipv4({ src: '192.168.10.11', dst: '10.99.0.1', ttl: 64, proto: 17, payload: Buffer.alloc(1400, 7) }),
    );
    big.copy(buf);
    expect(writeIcmpError(buf, 0, big.length, IcmpError.NetUnreachable, 0, from)).toBe(14 + 576);
    // Never about an ICMP error.
    const err = Buffer.from(buf.subarray(0, 14 + 576));
    expect(writeIcmpError(err, 0, err.length, IcmpError.TimeExceeded, 0, from)).toBe(0);
  });

  it('ICMPv6 time exceeded (3/0) and no route (1/0) from the gateway, checksummed over the pseudo-header', () => {
    const gw6 = { ip: parseIp('fd00:10::1')!, mac: parseMac(GW)! };
    for (const [kind, type] of [
      [IcmpError.TimeExceeded, 3],
      [IcmpError.NetUnreachable, 1],
    ] as const) {
      const req = icmp6('fd00:10::11', 'fd00:20::12', 128, 0, hex('0001 0001 6162636465666768'));
      const packet = ipv6({ src: 'fd00:10::11', dst: 'fd00:20::12', hops: 1, next: 58, payload: req });
      const frame = eth(GW, HOST_BLUE, 0x86dd, packet);
      const buf = Buffer.alloc(2048);
      frame.copy(buf);
      const n = writeIcmpError(buf, 0, frame.length, kind, 0, gw6);
      const body = icmp6('fd00:10::1', 'fd00:10::11', type, 0, Buffer.concat([Buffer.alloc(4), packet]));
      const expected = eth(
        HOST_BLUE,
        GW,
        0x86dd,
        ipv6({ src: 'fd00:10::1', dst: 'fd00:10::11', hops: 64, next: 58, payload: body }),
      );
      expect(buf.subarray(0, n).toString('hex')).toBe(expected.toString('hex'));
    }
  });

  it('an echo reply to a ping of the gateway: addresses swapped, TTL 64, type 0, from the gateway MAC', () => {
    const frame = echo4('192.168.10.11', '192.168.10.1', 5);
    const n = writeEchoReply(frame, 0, frame.length, parseMac(GW)!);
    const expected = eth(
      HOST_BLUE,
      GW,
      0x0800,
      ipv4({
        src: '192.168.10.1',
        dst: '192.168.10.11',
        ttl: 64,
        proto: 1,
        payload: icmp(0, hex('0001 0001 6162636465666768')),
      }),
    );
    expect(frame.subarray(0, n).toString('hex')).toBe(expected.toString('hex'));
  });
});

// Two hosts' worth of networks and routers, wired by hand.
const tunnel = (vni: number) =>
  new VxlanTunnel({ kind: 'vxlan', vni, port: 4789, srcPortMin: 49152, srcPortMax: 65535 });

function network(name: string, vni: number, maxFrame?: number): Network {
  const t = tunnel(vni);
  const net = new Network({
    name,
    tunnel: t,
    encap: t.encap([]),
    ttl: 64,
    df: false,
    acceptAnyRemote: false,
    ageing: 300,
    maxMacs: 100,
    arpResponder: false,
    arpSnoop: false,
    learning: true,
    batchSize: 16,
    maxFrame,
  });
  net.holdRemote(parseIp(REMOTE)!, Hold.Flood);
  return net;
}

function gateway(addresses: string[], sourceMac: 'anycast' | 'dvr'): GatewaySpec {
  return {
    addresses: addresses.map((a) => ({ ip: parseIp(a.split('/')[0])!, len: Number(a.split('/')[1]) })),
    mac: parseMac(GW)!,
    sourceMac,
  };
}

/** A host: blue (VNI 10) and red (VNI 20) in VRF t, routed by `router`. */
function host(o: { own?: string; others?: string[]; sourceMac?: 'anycast' | 'dvr'; redMtu?: number } = {}) {
  const router = new Router();
  const now = { t: 1 };
  const sent: { net: Network; frames: Buffer[] }[] = [];
  router.originate = (make) => {
    const b = new Batch(16, 2048, 64);
    const f = new Forwarding(16);
    f.begin(now.t, b.capacity);
    make(f, b);
    for (const net of f.pending) sent.push({ net, frames: queued(net.toTunnel) });
    f.end();
  };
  router.configure(
    [{ name: 't', routes: [], icmpRatelimit: 1000 }],
    o.own === undefined ? undefined : parseMac(o.own),
    (o.others ?? []).map((m) => parseMac(m)!),
  );
  const blue = network('blue', 10);
  const red = network('red', 20, o.redMtu === undefined ? undefined : o.redMtu + 18);
  router.attach(blue, 't', gateway(['192.168.10.1/24', 'fd00:10::1/64'], o.sourceMac ?? 'anycast'));
  router.attach(red, 't', gateway(['192.168.20.1/24', 'fd00:20::1/64'], o.sourceMac ?? 'anycast'));
  return { router, blue, red, now, sent, vrf: router.vrf('t')! };
}

/** The frames a tunnel queue holds, copied (the VXLAN header stripped), taken off it as a send would. */
function queued(q: SendQueue): Buffer[] {
  const out = Array.from({ length: q.count }, (_, i) =>
    Buffer.from(q.arena.subarray(q.off[i] + 16, q.off[i] + q.len[i])),
  );
  q.count = 0;
  return out;
}

/** Frames from `net`'s TAP, through forwardFromTap; returns the verdicts. */
function fromTap(net: Network, now: number, ...frames: Buffer[]): Forwarding {
  const rx = new Batch(16, 2048, 64);
  rx.count = frames.length;
  frames.forEach((fr, i) => {
    fr.copy(rx.arena, rx.start(i));
    rx.len[i] = fr.length;
  });
  const f = new Forwarding(16);
  f.begin(now, frames.length);
  forwardFromTap(net, rx, f);
  f.end();
  return f;
}

/** A frame from remote REMOTE on `net`'s VNI, through demux and delivery; returns the verdicts. */
function fromTunnel(net: Network, vni: number, frame: Buffer, now = 1): Forwarding {
  const rx = new Batch(16, 2048, 0);
  const data = Buffer.alloc(8 + frame.length);
  emitVxlan(vni, data, 0);
  frame.copy(data, 8);
  rx.count = 1;
  data.copy(rx.arena, rx.start(0));
  rx.len[0] = data.length;
  writeV4Mapped(0x0a000002, rx.peer, 0 * ADDR_LEN);
  const demux = net.tunnel.newDemux<Network>();
  demux.set(vni, net);
  net.toTap.count = 0;
  const resolved = new Resolved<Network>(16);
  demuxBatch(rx, demux, resolved, new Counters());
  const f = new Forwarding(16);
  f.begin(now, 1);
  deliverBatch(rx, resolved, f);
  f.end();
  return f;
}

function tapFrames(net: Network): Buffer[] {
  const q = net.toTap;
  return Array.from({ length: q.count }, (_, i) => Buffer.from(q.arena.subarray(q.off[i], q.off[i] + q.len[i])));
}

const macAt = (b: Buffer, at: number) =>
  Array.from(b.subarray(at, at + 6), (x) => x.toString(16).padStart(2, '0')).join(':');

describe('the gateway on the data path', () => {
  it('routes blue -> red: TTL 63, checksum right, to the neighbour from the gateway MAC, into red with its VNI', () => {
    const a = host();
    a.red.setNeigh(parseIp('192.168.20.12')!, parseMac(HOST_RED)!, 'config', 0);
    a.red.setStatic(parseMac(HOST_RED)!, parseIp(REMOTE)!, 'config', 0);
    const f = fromTap(a.blue, 1, echo4('192.168.10.11', '192.168.20.12'));
    expect(f.verdicts.kind[0] & ROUTED).toBe(ROUTED);
    expect(f.verdicts.kind[0] & VERDICT_MASK).toBe(Verdict.Unicast);
    const [out] = queued(a.red.toTunnel);
    expect(a.blue.toTunnel.count).toBe(0);
    expect(macAt(out, 0)).toBe(HOST_RED);
    expect(macAt(out, 6)).toBe(GW);
    expect(out[14 + 8]).toBe(63);
    expect(inetSum(out, 14, 34)).toBe(0);
    expect(a.red.toTunnel.arena.readUInt32BE(a.red.toTunnel.off[0] + 12) >>> 8).toBe(20);
    expect(a.vrf.counters[VrfCounter.Routed]).toBe(1);
  });

  it("answers a packet too big for the egress network's MTU with fragmentation needed from the gateway, naming that MTU", () => {
    const a = host({ redMtu: 1000 });
    a.red.setNeigh(parseIp('192.168.20.12')!, parseMac(HOST_RED)!, 'config', 0);
    a.red.setStatic(parseMac(HOST_RED)!, parseIp(REMOTE)!, 'config', 0);
    const big = eth(
      GW,
      HOST_BLUE,
      0x0800,
      ipv4({ src: '192.168.10.11', dst: '192.168.20.12', ttl: 64, proto: 17, payload: Buffer.alloc(1200) }),
    );
    const f = fromTap(a.blue, 1, big);
    expect(f.verdicts.kind[0] & VERDICT_MASK).toBe(Verdict.TooBig);
    expect(a.red.toTunnel.count).toBe(0);
    const [icmpErr] = tapFrames(a.blue);
    expect(icmpErr.subarray(26, 30)).toEqual(v4bytes('192.168.10.1'));
    expect([icmpErr[34], icmpErr[35], icmpErr.readUInt16BE(40)]).toEqual([3, 4, 1000]);
    // The packet quoted as it came: TTL 64, not decremented.
    expect(icmpErr[42 + 8]).toBe(64);
  });

  it('with source-mac dvr, leaves with the DVR MAC; the other host writes it back to the gateway MAC and learns neither', () => {
    const a = host({ own: DVR_A, others: [DVR_B], sourceMac: 'dvr' });
    const b = host({ own: DVR_B, others: [DVR_A], sourceMac: 'dvr' });
    a.red.setNeigh(parseIp('192.168.20.12')!, parseMac(HOST_RED)!, 'config', 0);
    a.red.setStatic(parseMac(HOST_RED)!, parseIp(REMOTE)!, 'config', 0);
    fromTap(a.blue, 1, echo4('192.168.10.11', '192.168.20.12'));
    const [out] = queued(a.red.toTunnel);
    expect(macAt(out, 6)).toBe(DVR_A);
    const f = fromTunnel(b.red, 20, out);
    expect(f.verdicts.kind[0] & VERDICT_MASK).toBe(Verdict.Delivered);
    const [delivered] = tapFrames(b.red);
    expect(macAt(delivered, 0)).toBe(HOST_RED);
    expect(macAt(delivered, 6)).toBe(GW);
    expect(delivered.subarray(12)).toEqual(out.subarray(12));
    expect(b.red.fdb.get(parseMac(DVR_A)!)).toBeUndefined();
    expect(b.red.fdb.get(parseMac(GW)!)).toBeUndefined();
  });

  it('with anycast, a routed frame arrives with the gateway MAC as source, delivered and never learned', () => {
    const b = host();
    const frame = eth(
      HOST_RED,
      GW,
      0x0800,
      ipv4({ src: '192.168.10.11', dst: '192.168.20.12', ttl: 63, proto: 17, payload: Buffer.alloc(20) }),
    );
    fromTunnel(b.red, 20, frame);
    expect(tapFrames(b.red)).toEqual([frame]);
    expect(b.red.fdb.get(parseMac(GW)!)).toBeUndefined();
  });

  it('answers ARP for the gateway on the TAP, never flooding it; drops ARP for the gateway and frames to it from a tunnel', () => {
    const a = host();
    const arp = (op: number, senderMac: string, senderIp: string, targetIp: string) =>
      Buffer.concat([
        hex('0001 0800 06 04'),
        Buffer.from([0, op]),
        macBytes(senderMac),
        v4bytes(senderIp),
        Buffer.alloc(6),
        v4bytes(targetIp),
      ]);
    const req = eth('ff:ff:ff:ff:ff:ff', HOST_BLUE, 0x0806, arp(1, HOST_BLUE, '192.168.10.11', '192.168.10.1'));
    const f = fromTap(a.blue, 1, req);
    expect(f.verdicts.kind[0] & VERDICT_MASK).toBe(Verdict.Answered);
    expect(a.blue.toTunnel.count).toBe(0);
    const [reply] = tapFrames(a.blue);
    expect(macAt(reply, 0)).toBe(HOST_BLUE);
    expect(macAt(reply, 6)).toBe(GW);
    expect(reply.readUInt16BE(20)).toBe(2);
    expect(macAt(reply, 22)).toBe(GW);
    // The host that asked is now a neighbour of the router.
    expect(a.blue.neigh.lookup4(0xc0a80a0b)?.mac).toBe(parseMac(HOST_BLUE));

    const other = eth(
      'ff:ff:ff:ff:ff:ff',
      '02:00:00:00:10:99',
      0x0806,
      arp(1, '02:00:00:00:10:99', '192.168.10.99', '192.168.10.1'),
    );
    expect(fromTunnel(a.blue, 10, other).verdicts.detail[0]).toBe(Drop.GatewayArpFromTunnel);
    expect(tapFrames(a.blue)).toEqual([]);
    const toGw = eth(
      GW,
      '02:00:00:00:10:99',
      0x0800,
      ipv4({ src: '192.168.10.99', dst: '192.168.20.12', ttl: 64, proto: 17, payload: Buffer.alloc(8) }),
    );
    expect(fromTunnel(a.blue, 10, toGw).verdicts.detail[0]).toBe(Drop.GatewayMacFromTunnel);
    expect(a.blue.counters.dropsByName()).toMatchObject({ 'gateway-arp-from-tunnel': 1, 'gateway-mac-from-tunnel': 1 });
  });

  it('resolves an unknown neighbour: the packet waits, an ARP request leaves red from the gateway, the answer from a tunnel sends it', async () => {
    const a = host();
    const f = fromTap(a.blue, 1, echo4('192.168.10.11', '192.168.20.12'));
    expect(f.verdicts.kind[0] & VERDICT_MASK).toBe(Verdict.Queued);
    const [request] = queued(a.red.toTunnel);
    expect(macAt(request, 0)).toBe('ff:ff:ff:ff:ff:ff');
    expect(macAt(request, 6)).toBe(GW);
    expect(request.subarray(28, 32)).toEqual(v4bytes('192.168.20.1'));
    expect(request.subarray(38, 42)).toEqual(v4bytes('192.168.20.12'));
    // The host's answer comes back through the tunnel, addressed to the gateway MAC.
    const answer = eth(
      GW,
      HOST_RED,
      0x0806,
      Buffer.concat([
        hex('0001 0800 06 04 0002'),
        macBytes(HOST_RED),
        v4bytes('192.168.20.12'),
        macBytes(GW),
        v4bytes('192.168.20.1'),
      ]),
    );
    const g = fromTunnel(a.red, 20, answer);
    expect(g.verdicts.kind[0] & VERDICT_MASK).toBe(Verdict.Answered);
    expect(a.red.neigh.lookup4(0xc0a8140c)).toMatchObject({ mac: parseMac(HOST_RED), origin: 'resolved' });
    await new Promise((r) => setImmediate(r));
    const routed = a.sent.flatMap((s) => (s.net === a.red ? s.frames : []));
    expect(routed).toHaveLength(1);
    expect(macAt(routed[0], 0)).toBe(HOST_RED);
    expect(routed[0][14 + 8]).toBe(63);
  });
});

describe('symmetric IRB on the data path', () => {
  const RMAC = '02:00:00:00:00:33';
  const REMOTE_RMAC = '02:66:00:00:00:02';
  function irbHost() {
    const a = host();
    const l3net = network('l3vni-t', 4001);
    l3net.learning = false;
    a.vrf.setL3({ vni: 4001, rmac: parseMac(RMAC)!, net: l3net });
    l3net.tunnelHook = new L3VniHook(a.vrf, parseMac(RMAC)!, l3net);
    const vtep = parseIp(REMOTE)!;
    a.vrf.addRoute(
      {
        prefix: parsePrefix('192.168.30.0/24')!,
        via: vtep,
        origin: 'evpn',
        remote: { vtep, rmac: parseMac(REMOTE_RMAC)! },
      },
      false,
    );
    return { ...a, l3net };
  }

  it('routes to a remote prefix onto the L3VNI: router MACs both ends, TTL 63, VNI 4001, to the VTEP the route names', () => {
    const a = irbHost();
    const f = fromTap(a.blue, 1, echo4('192.168.10.11', '192.168.30.12'));
    expect(f.verdicts.kind[0] & ROUTED).toBe(ROUTED);
    const q = a.l3net.toTunnel;
    expect(q.count).toBe(1);
    expect(q.arena.readUInt32BE(q.off[0] + 12) >>> 8).toBe(4001);
    expect(a.l3net.remotes.address(q.dst[0])).toBe(REMOTE);
    const [out] = queued(q);
    expect([macAt(out, 0), macAt(out, 6)]).toEqual([REMOTE_RMAC, RMAC]);
    expect(out[14 + 8]).toBe(63);
    expect(inetSum(out, 14, 34)).toBe(0);
  });

  it('routes what comes on the L3VNI to its router MAC to a local host, from the gateway MAC; drops the rest, counted', () => {
    const a = irbHost();
    a.red.setNeigh(parseIp('192.168.20.12')!, parseMac(HOST_RED)!, 'config', 0);
    const toUs = eth(
      RMAC,
      REMOTE_RMAC,
      0x0800,
      ipv4({ src: '192.168.30.12', dst: '192.168.20.12', ttl: 63, proto: 1, payload: icmp(8, Buffer.alloc(8)) }),
    );
    const f = fromTunnel(a.l3net, 4001, toUs);
    expect(f.verdicts.kind[0] & ROUTED).toBe(ROUTED);
    const [delivered] = tapFrames(a.red);
    expect([macAt(delivered, 0), macAt(delivered, 6)]).toEqual([HOST_RED, GW]);
    expect(delivered[14 + 8]).toBe(62);
    const other = eth(
      '02:00:00:00:00:44',
      REMOTE_RMAC,
      0x0800,
      ipv4({ src: '192.168.30.12', dst: '192.168.20.12', ttl: 63, proto: 1, payload: Buffer.alloc(8) }),
    );
    expect(fromTunnel(a.l3net, 4001, other).verdicts.detail[0]).toBe(Drop.L3vniNotRouterMac);
    // Never back into the fabric: a packet from it to a remote prefix is dropped, and nobody is answered.
    const hairpin = eth(
      RMAC,
      REMOTE_RMAC,
      0x0800,
      ipv4({ src: '192.168.40.1', dst: '192.168.30.12', ttl: 63, proto: 1, payload: Buffer.alloc(8) }),
    );
    expect(fromTunnel(a.l3net, 4001, hairpin).verdicts.detail[0]).toBe(Drop.NoRoute);
    expect(a.l3net.toTunnel.count).toBe(0);
  });
});

describe('ICMP rate limit', () => {
  it('sends a burst of 50 errors at once, then icmp-ratelimit a second, and counts the rest', () => {
    const a = host();
    a.vrf.limiter.rate = 100;
    const frames = Array.from({ length: 16 }, () => echo4('192.168.10.11', '192.168.20.12', 1));
    let sent = 0;
    for (let k = 0; k < 4; k++) {
      fromTap(a.blue, 1, ...frames);
      sent += a.blue.toTap.count;
      a.blue.toTap.count = 0;
    }
    expect(sent).toBe(50);
    expect(a.vrf.counters[VrfCounter.IcmpSent]).toBe(50);
    expect(a.vrf.counters[VrfCounter.IcmpRatelimited]).toBe(14);
    expect(a.vrf.counters[VrfCounter.TtlExceeded]).toBe(64);
    // 0.1 s later: 10 more tokens.
    fromTap(a.blue, 1.1, ...frames);
    expect(a.blue.toTap.count).toBe(10);
  });
});

describe('the resolver', () => {
  it(`queues ${MAX_QUEUED} packets per address and counts the rest; asks ${TRIES} times; then answers and holds the address as failed`, () => {
    const a = host();
    const r = a.vrf.resolver;
    const red = a.vrf.gateways.get(a.red)!;
    const blue = a.vrf.gateways.get(a.blue)!;
    const ip = parseIp('192.168.20.99')!;
    const frame = echo4('192.168.10.11', '192.168.20.99');
    const results = Array.from({ length: 10 }, () => r.queue(red, ip, frame, 0, frame.length, blue, 1));
    expect(results).toEqual([Queue.Requested, Queue.Queued, Queue.Queued, ...Array(7).fill(Queue.Dropped)]);
    expect(a.vrf.counters[VrfCounter.NeighUnresolved]).toBe(7);
    const retries: number[] = [];
    let failed: Pending[] = [];
    for (let t = 1; t <= 5; t += 0.25) {
      const retry: Pending[] = [];
      const f: Pending[] = [];
      r.due(t, retry, f);
      if (retry.length > 0) retries.push(t);
      if (f.length > 0) failed = f;
    }
    expect(retries).toEqual([2, 3]); // the first request went at 1
    expect(failed).toHaveLength(1);
    expect(failed[0].packets).toHaveLength(3);
    expect(a.vrf.counters[VrfCounter.NeighUnresolved]).toBe(10);
    expect(r.queue(red, ip, frame, 0, frame.length, blue, 5)).toBe(Queue.Dropped);
    expect(r.waitsFor(a.red, ip, 0)).toBe(false);
  });

  it('asks for its tick only while it waits: told once at the first unresolved neighbour, idle again once it failed and was let go', () => {
    const a = host();
    let told = 0;
    a.router.onWaiting = () => told++;
    expect(a.router.waiting).toBe(false);
    const red = a.vrf.gateways.get(a.red)!;
    const blue = a.vrf.gateways.get(a.blue)!;
    const frame = echo4('192.168.10.11', '192.168.20.99');
    for (const last of [1, 2]) {
      a.vrf.resolver.queue(red, parseIp(`192.168.20.9${last}`)!, frame, 0, frame.length, blue, 1);
    }
    expect(told, 'told once, not per neighbour').toBe(1);
    expect(a.router.waiting).toBe(true);
    // Asked at 1, 2 and 3, failed at 4, held as failed for a while, then let go.
    let t = 1;
    while (a.router.waiting && t < 60) a.router.tick((t += 0.25));
    expect(a.router.waiting, 'nothing left to wait for: the tick may stop').toBe(false);
    expect(t).toBeGreaterThan(4);
    a.vrf.resolver.queue(red, parseIp('192.168.20.93')!, frame, 0, frame.length, blue, t);
    expect(told, 'waiting again: told again').toBe(2);
  });

  it(`holds at most ${MAX_ENTRIES} addresses, whatever a scan asks`, () => {
    const a = host();
    const r = a.vrf.resolver;
    const red = a.vrf.gateways.get(a.red)!;
    const blue = a.vrf.gateways.get(a.blue)!;
    const frame = echo4('192.168.10.11', '192.168.20.99');
    const ip = new Uint8Array(16);
    let dropped = 0;
    for (let k = 0; k < 5000; k++) {
      writeV4Mapped(0xc0a80000 + k, ip);
      if (r.queue(red, ip, frame, 0, frame.length, blue, 1) === Queue.Dropped) dropped++;
    }
    expect(r.size).toBe(MAX_ENTRIES);
    expect(dropped).toBe(5000 - MAX_ENTRIES);
  });

  it('lets a new address take the place of a failed one when the table is full: a scan does not keep real neighbours unresolved', () => {
    const a = host();
    const r = a.vrf.resolver;
    const red = a.vrf.gateways.get(a.red)!;
    const blue = a.vrf.gateways.get(a.blue)!;
    const frame = echo4('192.168.10.11', '192.168.20.99');
    const ip = new Uint8Array(16);
    for (let k = 0; k < MAX_ENTRIES; k++) {
      writeV4Mapped(0xc0a80000 + k, ip);
      r.queue(red, ip, frame, 0, frame.length, blue, 1);
    }
    const real = parseIp('192.168.20.12')!;
    // Full of addresses still resolving: a new one waits its turn (dropped, counted).
    expect(r.queue(red, real, frame, 0, frame.length, blue, 1.5)).toBe(Queue.Dropped);
    // Asked again at 2 and 3, they all fail at 4 and are held as failed until 9; at 4.5 the real neighbour is
    // asked for at once.
    for (const t of [2, 3, 4]) r.due(t, [], []);
    expect([...r.pending()].every((p) => p.failed)).toBe(true);
    expect(r.queue(red, real, frame, 0, frame.length, blue, 4.5)).toBe(Queue.Requested);
    expect(r.size).toBe(MAX_ENTRIES);
    expect(r.waitsFor(a.red, real, 0)).toBe(true);
    // The address it replaced is the oldest failed one; the others are still held (their packets dropped at once).
    writeV4Mapped(0xc0a80000, ip);
    expect([...r.pending()].some((p) => Buffer.compare(Buffer.from(p.ip), Buffer.from(ip)) === 0)).toBe(false);
    writeV4Mapped(0xc0a80001, ip);
    expect(r.queue(red, ip, frame, 0, frame.length, blue, 4.5)).toBe(Queue.Dropped);
  });
});
