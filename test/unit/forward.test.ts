// The forwarding decision on real frames: what goes to which VTEP, what is
// learned, what is dropped and why. No kernel involved: batches in, queues out,
// through the same demux, delivery and forwarding functions as the data path.
import { beforeEach, describe, expect, it } from 'vitest';
import { Batch, type SendQueue } from '../../src/datapath/batch.ts';
import { Counters, NetworkCounter as C } from '../../src/switch/counters.ts';
import { Drop } from '../../src/switch/drop.ts';
import { LOCAL_PORT } from '../../src/switch/fdb.ts';
import { bridgeOut, deliverBatch, demuxBatch, forwardFromTap } from '../../src/switch/forward.ts';
import { Forwarding, Verdict } from '../../src/switch/verdict.ts';
import { Network } from '../../src/switch/network.ts';
import { Hold } from '../../src/switch/remotes.ts';
import { GreTunnel } from '../../src/tunnel/gre.ts';
import { Resolved, type Demux, type Tunnel } from '../../src/tunnel/tunnel.ts';
import { VxlanTunnel } from '../../src/tunnel/vxlan.ts';
import {
  emitGre,
  fillGreChecksum,
  greHeaderLen,
  GRE_FLAG_C,
  GRE_FLAG_K,
  GRE_FLAG_S,
  GRE_PROTO_TEB,
  newGreRepr,
  parseGre,
} from '../../src/wire/gre.ts';
import { ADDR_LEN, formatIp, parseIp, writeV4Mapped } from '../../src/wire/ip-address.ts';
import { emitIpv4, newIpv4Repr } from '../../src/wire/ipv4.ts';
import { emitVxlan } from '../../src/wire/vxlan.ts';

const ip = (s: string) => s.split('.').reduce((a, o) => a * 256 + Number(o), 0);
const R1 = ip('10.0.0.2');
const R2 = ip('10.0.0.3');
const STRANGER = ip('10.0.0.9');
const LOCAL_MAC = '020000000001';
const REMOTE_MAC = '020000000002';
const BCAST = 'ffffffffffff';
const v4 = (a: number) => parseIp(formatV4(a))!;
const formatV4 = (a: number) => `${a >>> 24}.${(a >>> 16) & 255}.${(a >>> 8) & 255}.${a & 255}`;

function frame(dst: string, src: string, payload = 46): Buffer {
  return Buffer.concat([Buffer.from(dst + src + '0800', 'hex'), Buffer.alloc(payload, 0x5a)]);
}

interface NetOpts {
  remotes?: number[];
  acceptAnyRemote?: boolean;
  statics?: { mac: number; remote: number }[];
  group?: number;
  tunnel?: Tunnel;
  maxFrame?: number;
}

function network(o: NetOpts = {}): Network {
  const tunnel =
    o.tunnel ?? new VxlanTunnel({ kind: 'vxlan', vni: 42, port: 4789, srcPortMin: 49152, srcPortMax: 65535 });
  const net = new Network({
    name: 'blue',
    tunnel,
    encap: tunnel.encap([]),
    ttl: 64,
    df: false,
    acceptAnyRemote: o.acceptAnyRemote ?? false,
    ageing: 300,
    maxMacs: 100,
    arpResponder: false,
    arpSnoop: false,
    learning: true,
    batchSize: 16,
    maxFrame: o.maxFrame,
  });
  for (const r of o.remotes ?? [R1, R2]) net.holdRemote(v4(r), Hold.Flood);
  for (const s of o.statics ?? []) net.setStatic(s.mac, v4(s.remote), 'config', 0);
  if (o.group !== undefined) net.holdRemote(v4(o.group), Hold.Group);
  return net;
}

/** The address a queue entry or an FDB port names, as an IPv4 number. */
function addressOf(net: Network, r: number): number {
  return ip(formatIp(net.remotes.bytes, r * ADDR_LEN));
}

class TapSide {
  readonly rx = new Batch(16, 2048, 32);
  /** The last batch's verdicts. */
  readonly f = new Forwarding(16);
  private net: Network | undefined;
  send(net: Network, ...frames: Buffer[]): void {
    this.net = net;
    this.rx.count = frames.length;
    frames.forEach((f, i) => {
      f.copy(this.rx.arena, this.rx.start(i));
      this.rx.len[i] = f.length;
    });
    net.toTunnel.count = 0;
    net.toTap.count = 0;
    this.f.begin(1, frames.length);
    forwardFromTap(net, this.rx, this.f);
    this.f.end();
  }
  /** What the last batch queued on the network's tunnel. */
  get out(): SendQueue {
    return this.net!.toTunnel;
  }
  destinations(): number[] {
    return Array.from(this.out.dst.subarray(0, this.out.count), (r) => addressOf(this.net!, r));
  }
  packet(i: number): Buffer {
    return this.rx.arena.subarray(this.out.off[i], this.out.off[i] + this.out.len[i]);
  }
}

/** Receives packets as one socket would hand them over, through its demux. */
function receive(
  demux: Demux<Network>,
  nets: Network[],
  packets: { from: number; data: Buffer }[],
  dropped = new Counters(),
): Counters {
  const rx = new Batch(16, 2048, 0);
  rx.count = packets.length;
  packets.forEach((p, i) => {
    p.data.copy(rx.arena, rx.start(i));
    rx.len[i] = p.data.length;
    writeV4Mapped(p.from, rx.peer, i * ADDR_LEN);
  });
  for (const n of nets) n.toTap.count = 0;
  const resolved = new Resolved<Network>(16);
  demuxBatch(rx, demux, resolved, dropped);
  const f = new Forwarding(16);
  f.begin(1, rx.count);
  deliverBatch(rx, resolved, f);
  f.end();
  return dropped;
}

class TunnelSide {
  readonly dropped = new Counters();
  receive(byVni: Map<number, Network>, ...pkts: { from: number; vni: number; frame: Buffer; flags?: number }[]): void {
    const demux = [...byVni.values()][0].tunnel.newDemux<Network>();
    for (const [vni, net] of byVni) demux.set(vni, net);
    receive(
      demux,
      [...byVni.values()],
      pkts.map((p) => {
        const data = Buffer.alloc(8 + p.frame.length);
        emitVxlan(p.vni, data, 0);
        if (p.flags !== undefined) data[0] = p.flags;
        p.frame.copy(data, 8);
        return { from: p.from, data };
      }),
      this.dropped,
    );
  }
}

describe('from the TAP', () => {
  let tap: TapSide;
  beforeEach(() => (tap = new TapSide()));

  it('replicates a broadcast as one packet to each remote of the flood list', () => {
    const net = network();
    tap.send(net, frame(BCAST, LOCAL_MAC));
    expect(tap.destinations()).toEqual([R1, R2]);
    expect(tap.out.off[0]).toBe(tap.out.off[1]); // both copies are the same bytes, encapsulated once
    expect(net.counters.v[C.FloodedFrames]).toBe(1);
    expect(net.counters.v[C.FloodCopies]).toBe(2);
  });

  it('in group mode, sends a BUM frame once to the group, and to each listed remote besides', () => {
    const GROUP = ip('239.1.1.1');
    const grouped = network({ remotes: [], group: GROUP });
    tap.send(grouped, frame(BCAST, LOCAL_MAC));
    expect(tap.destinations()).toEqual([GROUP]);
    const mixed = network({ remotes: [R1], group: GROUP });
    tap.send(mixed, frame(BCAST, LOCAL_MAC));
    expect(tap.destinations()).toEqual([GROUP, R1]);
    expect(mixed.counters.v[C.GroupTxPackets]).toBe(1);
    expect(mixed.counters.v[C.FloodCopies]).toBe(2);
  });

  it('encapsulates in place: UDP to port 4789 with the right length, VXLAN with the VNI, then the frame', () => {
    const net = network();
    const f = frame(BCAST, LOCAL_MAC);
    tap.send(net, f);
    const p = tap.packet(0);
    expect(p.length).toBe(16 + f.length);
    expect(p.readUInt16BE(2)).toBe(4789);
    expect(p.readUInt16BE(4)).toBe(16 + f.length);
    expect(p.readUInt16BE(0)).toBeGreaterThanOrEqual(49152);
    expect(p.subarray(8, 16)).toEqual(Buffer.from('080000000000' + '2a00', 'hex'));
    expect(p.subarray(16)).toEqual(f);
  });

  it('floods unknown unicast, and sends known unicast to the one VTEP it was learned behind', () => {
    const net = network();
    const tunnel = new TunnelSide();
    tap.send(net, frame(REMOTE_MAC, LOCAL_MAC));
    expect(tap.destinations()).toEqual([R1, R2]);
    tunnel.receive(new Map([[42, net]]), { from: R2, vni: 42, frame: frame(LOCAL_MAC, REMOTE_MAC) });
    tap.send(net, frame(REMOTE_MAC, LOCAL_MAC));
    expect(tap.destinations()).toEqual([R2]);
  });

  it('learns the source as local, and does not send a frame whose destination is local', () => {
    const net = network();
    tap.send(net, frame(BCAST, LOCAL_MAC));
    expect(net.fdb.lookup(0x020000000001)).toBe(LOCAL_PORT);
    tap.send(net, frame(LOCAL_MAC, '020000000099'));
    expect(tap.out.count).toBe(0);
    expect(net.counters.drops[Drop.LocalDestination]).toBe(1);
  });

  it('uses a static entry without flooding', () => {
    const net = network({ statics: [{ mac: 0x020000000002, remote: R1 }] });
    tap.send(net, frame(REMOTE_MAC, LOCAL_MAC));
    expect(tap.destinations()).toEqual([R1]);
    expect(net.counters.v[C.FloodedFrames]).toBe(0);
  });

  it('drops frames too short for Ethernet, with a group or all-zero source MAC, or with nowhere to flood', () => {
    const net = network();
    tap.send(net, Buffer.alloc(10), frame(BCAST, '010000000001'), frame(BCAST, '000000000000'));
    expect(tap.out.count).toBe(0);
    expect(net.counters.drops[Drop.Truncated]).toBe(1);
    expect(net.counters.drops[Drop.BadSourceMac]).toBe(2);
    expect(net.fdb.size).toBe(0);
    const lonely = network({ remotes: [] });
    tap.send(lonely, frame(BCAST, LOCAL_MAC));
    expect(lonely.counters.drops[Drop.NoRemote]).toBe(1);
  });
});

describe('from the tunnel', () => {
  it("delivers to the TAP of the VNI's network and learns the source behind the sender", () => {
    const blue = network();
    const tunnel = new TunnelSide();
    const f = frame(LOCAL_MAC, REMOTE_MAC);
    tunnel.receive(new Map([[42, blue]]), { from: R1, vni: 42, frame: f });
    expect(blue.toTap.count).toBe(1);
    const q = blue.toTap;
    expect(q.arena.subarray(q.off[0], q.off[0] + q.len[0])).toEqual(f);
    expect(addressOf(blue, blue.fdb.lookup(0x020000000002))).toBe(R1);
  });

  it("keeps networks apart: a frame goes only to its own VNI's network", () => {
    const blue = network();
    const red = network();
    const tunnel = new TunnelSide();
    tunnel.receive(
      new Map([
        [42, blue],
        [43, red],
      ]),
      { from: R1, vni: 43, frame: frame(BCAST, REMOTE_MAC) },
    );
    expect(blue.toTap.count).toBe(0);
    expect(red.toTap.count).toBe(1);
    expect(blue.fdb.size).toBe(0);
  });

  it('drops and counts unknown VNIs, bad flags and truncated packets', () => {
    const blue = network();
    const tunnel = new TunnelSide();
    tunnel.receive(
      new Map([[42, blue]]),
      { from: R1, vni: 7, frame: frame(BCAST, REMOTE_MAC) },
      { from: R1, vni: 42, frame: frame(BCAST, REMOTE_MAC), flags: 0x0c },
      { from: R1, vni: 42, frame: Buffer.alloc(5) },
    );
    expect(blue.toTap.count).toBe(0);
    expect(tunnel.dropped.drops[Drop.UnknownVni]).toBe(1);
    expect(tunnel.dropped.drops[Drop.BadFlags]).toBe(1);
    expect(blue.counters.drops[Drop.Truncated]).toBe(1);
  });

  it('drops an inner frame with an all-zero source MAC as bad-src-mac, learning nothing', () => {
    const blue = network();
    const tunnel = new TunnelSide();
    tunnel.receive(new Map([[42, blue]]), { from: R1, vni: 42, frame: frame(BCAST, '000000000000') });
    expect(blue.toTap.count).toBe(0);
    expect(blue.counters.drops[Drop.BadSourceMac]).toBe(1);
    expect(blue.fdb.size).toBe(0);
  });

  it("drops a frame longer than the TAP's MTU allows (MTU + Ethernet + one VLAN tag) as oversize, and delivers one that fits", () => {
    const blue = network({ maxFrame: 1450 + 18 });
    const tunnel = new TunnelSide();
    tunnel.receive(
      new Map([[42, blue]]),
      { from: R1, vni: 42, frame: frame(BCAST, REMOTE_MAC, 1468 - 14) },
      { from: R1, vni: 42, frame: frame(BCAST, REMOTE_MAC, 1469 - 14) },
      { from: R1, vni: 42, frame: frame(BCAST, REMOTE_MAC, 2000 - 14) },
    );
    expect(blue.toTap.count).toBe(1);
    expect(blue.toTap.len[0]).toBe(1468);
    expect(blue.counters.drops[Drop.Oversize]).toBe(2);
  });

  it('drops packets from a VTEP that is not a remote of the network', () => {
    const blue = network();
    const tunnel = new TunnelSide();
    tunnel.receive(new Map([[42, blue]]), { from: STRANGER, vni: 42, frame: frame(BCAST, REMOTE_MAC) });
    expect(blue.toTap.count).toBe(0);
    expect(blue.counters.drops[Drop.UnknownRemote]).toBe(1);
    expect(blue.fdb.size).toBe(0);
  });

  it('accepts and learns a new VTEP with accept-any-remote, without adding it to the flood list', () => {
    const blue = network({ acceptAnyRemote: true });
    const tunnel = new TunnelSide();
    tunnel.receive(new Map([[42, blue]]), { from: STRANGER, vni: 42, frame: frame(BCAST, REMOTE_MAC) });
    expect(blue.toTap.count).toBe(1);
    expect(addressOf(blue, blue.fdb.lookup(0x020000000002))).toBe(STRANGER);
    expect(blue.remotes.floodCount).toBe(2);
  });

  it('accepts packets from the remote of a static entry', () => {
    const blue = network({ remotes: [], statics: [{ mac: 0x020000000002, remote: R2 }] });
    const tunnel = new TunnelSide();
    tunnel.receive(new Map([[42, blue]]), { from: R2, vni: 42, frame: frame(BCAST, REMOTE_MAC) });
    expect(blue.toTap.count).toBe(1);
  });
});

describe('GRE', () => {
  const LOCAL = ip('10.0.0.1');

  function greNetwork(key = 77, csum = false, seq = false): Network {
    return network({ tunnel: new GreTunnel({ kind: 'gre', key, csum, seq }) });
  }

  /** An IPv4 + GRE packet as a raw socket receives it. */
  function grePacket(o: {
    from: number;
    to?: number;
    key?: number;
    flags?: number;
    proto?: number;
    seq?: number;
    frame: Buffer;
  }): { from: number; data: Buffer } {
    const flags = o.flags ?? GRE_FLAG_K;
    const greLen = greHeaderLen(flags);
    const pkt = Buffer.alloc(20 + greLen + o.frame.length);
    emitIpv4({ ...newIpv4Repr(), totalLen: pkt.length, protocol: 47, src: o.from, dst: o.to ?? LOCAL }, pkt, 0);
    emitGre(
      { flags: flags, protocol: o.proto ?? GRE_PROTO_TEB, key: o.key ?? 77, seq: o.seq ?? 0, headerLen: 0 },
      pkt,
      20,
    );
    pkt.writeUInt16BE(flags, 20); // also the bits emitGre refuses to write (R)
    o.frame.copy(pkt, 20 + greLen);
    if (flags & GRE_FLAG_C) fillGreChecksum(pkt, 20, pkt.length - 20);
    return { from: o.from, data: pkt };
  }

  function receiveGre(byKey: Map<number, Network>, ...pkts: { from: number; data: Buffer }[]): Counters {
    const demux = new GreTunnel({ kind: 'gre', key: 0, csum: false, seq: false }).newDemux<Network>();
    for (const [key, net] of byKey) demux.set(key, net);
    return receive(demux, [...byKey.values()], pkts);
  }

  it('encapsulates with flags 0x2000, protocol 0x6558 and the key, and floods like VXLAN', () => {
    const tap = new TapSide();
    const net = greNetwork();
    const f = frame(BCAST, LOCAL_MAC);
    tap.send(net, f);
    expect(tap.destinations()).toEqual([R1, R2]);
    expect(tap.packet(0)).toEqual(Buffer.concat([Buffer.from('20006558' + '0000004d', 'hex'), f]));
  });

  it('numbers frames and checksums them when asked', () => {
    const tap = new TapSide();
    const net = greNetwork(77, true, true);
    tap.send(net, frame(BCAST, LOCAL_MAC), frame(BCAST, LOCAL_MAC));
    const g = newGreRepr();
    const first = tap.packet(0);
    const second = tap.packet(2);
    expect(parseGre(first, 0, first.length, g)).toBe(Drop.None);
    expect(g.seq).toBe(0);
    expect(parseGre(second, 0, second.length, g)).toBe(Drop.None);
    expect(g.seq).toBe(1);
    expect(g.flags).toBe(0xb000);
  });

  it('delivers a frame with a known key from a remote, learning the source', () => {
    const red = greNetwork();
    const f = frame(LOCAL_MAC, REMOTE_MAC);
    receiveGre(new Map([[77, red]]), grePacket({ from: R2, frame: f }));
    expect(red.toTap.count).toBe(1);
    expect(red.toTap.arena.subarray(red.toTap.off[0], red.toTap.off[0] + red.toTap.len[0])).toEqual(f);
    expect(addressOf(red, red.fdb.lookup(0x020000000002))).toBe(R2);
  });

  it('drops and counts what is not ours: wrong key, no key, other protocol, routing, other destination, bad checksum', () => {
    const red = greNetwork();
    const f = frame(BCAST, REMOTE_MAC);
    const badCsum = grePacket({ from: R1, flags: GRE_FLAG_K | GRE_FLAG_C, frame: f });
    badCsum.data[badCsum.data.length - 1] ^= 1;
    const dropped = receiveGre(
      new Map([[77, red]]),
      grePacket({ from: R1, key: 78, frame: f }),
      grePacket({ from: R1, flags: 0, frame: f }),
      grePacket({ from: R1, proto: 0x0800, frame: f }),
      grePacket({ from: R1, flags: GRE_FLAG_K | 0x4000, frame: f }),
      badCsum,
    );
    expect(red.toTap.count).toBe(0);
    expect(dropped.drops[Drop.UnknownKey]).toBe(2);
    expect(dropped.drops[Drop.BadProtocol]).toBe(1);
    expect(dropped.drops[Drop.RoutingBit]).toBe(1);
    expect(dropped.drops[Drop.BadChecksum]).toBe(1);
  });

  it('delivers GRE whose outer IPv4 header carries options the kernel changed (Record Route) without a new checksum', () => {
    const red = greNetwork(77);
    const f = frame(LOCAL_MAC, REMOTE_MAC);
    const plain = grePacket({ from: R1, frame: f }).data;
    // IHL 8: a Record Route option (type 7, length 11, pointer 8 after the kernel wrote one address) and an end-of-options byte.
    const rr = Buffer.from([7, 11, 8, 10, 0, 0, 1, 0, 0, 0, 0, 0]);
    const pkt = Buffer.concat([plain.subarray(0, 20), rr, plain.subarray(20)]);
    pkt[0] = 0x48;
    pkt.writeUInt16BE(pkt.length, 2); // the checksum stays the one computed before the option was written: stale
    const dropped = receiveGre(new Map([[77, red]]), { from: R1, data: pkt });
    expect(dropped.drops[Drop.BadChecksum]).toBe(0);
    expect(red.toTap.count).toBe(1);
  });

  it('counts sequence numbers that step back, and still delivers those frames', () => {
    const red = greNetwork(77, false, true);
    const f = frame(BCAST, REMOTE_MAC);
    const seq = (n: number) => grePacket({ from: R1, flags: GRE_FLAG_K | GRE_FLAG_S, seq: n, frame: f });
    receiveGre(new Map([[77, red]]), seq(5), seq(7), seq(6), seq(8));
    expect(red.counters.v[C.SeqOutOfOrder]).toBe(1);
    expect(red.toTap.count).toBe(4);
  });
});

describe('verdicts, hooks and queues per network', () => {
  it("records each frame's verdict where it is decided: unicast to its remote, flooded with its copies, dropped with its reason", () => {
    const net = network({ statics: [{ mac: 0x020000000002, remote: R2 }] });
    const tap = new TapSide();
    tap.send(
      net,
      frame(REMOTE_MAC, LOCAL_MAC),
      frame(BCAST, LOCAL_MAC),
      frame(LOCAL_MAC, '020000000003'),
      Buffer.alloc(10),
    );
    const v = tap.f.verdicts;
    expect([v.kind[0], addressOf(net, v.detail[0])]).toEqual([Verdict.Unicast, R2]);
    expect([v.kind[1], v.detail[1]]).toEqual([Verdict.Flooded, 2]);
    expect([v.kind[2], v.detail[2]]).toEqual([Verdict.Dropped, Drop.LocalDestination]);
    expect([v.kind[3], v.detail[3]]).toEqual([Verdict.Dropped, Drop.Truncated]);
  });

  it("runs the network's hooks in order: a consuming hook's frame is not bridged, a passing one's is; none without a setting that needs one", () => {
    const net = network();
    expect(net.tapHooks).toEqual([]);
    const seen: string[] = [];
    net.setExtraHooks([
      { name: 'first', fromTap: (_n, buf, off) => (seen.push(`first ${buf[off + 5]}`), false) },
      {
        name: 'eater',
        fromTap: (_n, buf, off, _len, f) => (buf[off + 5] === 9 ? (f.decide(Verdict.Answered, 1), true) : false),
      },
    ]);
    net.arpResponder = true;
    expect(net.tapHooks.map((h) => h.name)).toEqual(['first', 'eater', 'arp responder']);
    const tap = new TapSide();
    tap.send(net, frame('020000000009', LOCAL_MAC), frame(BCAST, LOCAL_MAC));
    expect(seen).toEqual(['first 9', 'first 255']);
    expect([tap.f.verdicts.kind[0], tap.f.verdicts.kind[1]]).toEqual([Verdict.Answered, Verdict.Flooded]);
    expect(tap.out.count).toBe(2); // the broadcast only, to both remotes
  });

  it('bridges a frame the switch made onto another network: to its TAP when the destination is behind it, else into its tunnel', () => {
    const blue = network();
    const red = network({ remotes: [R2], statics: [{ mac: 0x020000000002, remote: R2 }] });
    red.fdb.learn(0x020000000007, LOCAL_PORT, 0);
    const rx = new Batch(2, 2048, 64);
    for (const [i, dst] of [
      [0, '020000000007'],
      [1, REMOTE_MAC],
    ] as const) {
      frame(dst, 'aa0000000001').copy(rx.arena, rx.start(i));
      rx.len[i] = 60;
    }
    const f = new Forwarding(2);
    f.begin(1, 2);
    for (const i of [0, 1]) {
      f.i = i;
      expect(bridgeOut(red, rx.arena, rx.start(i), rx.len[i], false, f)).toBe(true);
    }
    expect([f.verdicts.kind[0], f.verdicts.kind[1]]).toEqual([Verdict.Delivered, Verdict.Unicast]);
    expect([red.toTap.count, red.toTunnel.count, blue.toTunnel.count]).toEqual([1, 1, 0]);
    expect(f.pending).toEqual([red]); // sent after the batch, once
    f.end();
    expect(red.pendingIn).toBeUndefined();
  });

  it('takes a remote away only after the batch: a displaced EVPN MAC leaves its remote named by packets queued in the batch', () => {
    const net = network({ remotes: [] });
    net.setStatic(0x02000000000a, v4(R1), 'evpn', 0);
    const r = net.remotes.indexOf(v4(R1));
    const tap = new TapSide();
    const rx = tap.rx;
    frame('02000000000a', LOCAL_MAC).copy(rx.arena, rx.start(0)); // unicast to R1's MAC...
    frame(BCAST, '02000000000a').copy(rx.arena, rx.start(1)); // ...then that MAC appears behind the TAP
    rx.len[0] = rx.len[1] = 60;
    rx.count = 2;
    net.toTunnel.count = 0;
    const f = new Forwarding(2);
    f.begin(1, 2);
    forwardFromTap(net, rx, f);
    expect(net.toTunnel.count).toBe(1);
    expect(net.remotes.live(r)).toBe(true); // still there for the send
    expect(f.pending).toContain(net);
    net.settle();
    expect(net.remotes.live(r)).toBe(false);
    expect(net.fdb.get(0x02000000000a)?.port).toBe(LOCAL_PORT);
  });
});
