// The packet loop with in-memory TAPs and sockets: what a frame from the TAP
// becomes on the sender, what a datagram becomes on the TAP, what a capture
// sees, and the switch state changing between batches (remotes coming and
// going, networks detached, a flood list that outgrows the send queue).
import { beforeEach, describe, expect, it } from 'vitest';
import type { Batch, SendQueue } from '../../src/datapath/batch.ts';
import { Datapath, type PacketObserver, type ReceivePoint } from '../../src/datapath/datapath.ts';
import { NetworkCounter as N, RemoteCounter as R, REMOTE_SLOTS } from '../../src/switch/counters.ts';
import { Drop } from '../../src/switch/drop.ts';
import { Network } from '../../src/switch/network.ts';
import { Hold } from '../../src/switch/remotes.ts';
import type { Resolved, Tunnel } from '../../src/tunnel/tunnel.ts';
import { VxlanTunnel } from '../../src/tunnel/vxlan.ts';
import { parseIp } from '../../src/wire/ip-address.ts';
import { emitVxlan } from '../../src/wire/vxlan.ts';
import { FakeSender, FakeSocket, FakeTap } from '../fakes/devices.ts';

const LOCAL = '10.0.0.1';
const TAP_MAC = '020000000001';
const BCAST = 'ffffffffffff';

function frame(dst: string, src: string, payload = 46, fill = 0x5a): Buffer {
  return Buffer.concat([Buffer.from(dst + src + '0800', 'hex'), Buffer.alloc(payload, fill)]);
}

function vxlan(vni: number, f: Buffer): Buffer {
  const d = Buffer.alloc(8 + f.length);
  emitVxlan(vni, d, 0);
  f.copy(d, 8);
  return d;
}

/** A frame of one IPv4 UDP flow: the flow hash (and so the lane) depends on the ports. */
function udpFrame(srcPort: number): Buffer {
  const f = frame(BCAST, TAP_MAC, 46, 0);
  f[14] = 0x45;
  f[14 + 9] = 17;
  f.writeUInt16BE(srcPort, 14 + 20);
  f.writeUInt16BE(9999, 14 + 22);
  return f;
}

class Recorder implements PacketObserver {
  active = true;
  readonly events: string[] = [];
  tapRx(net: Network, b: Batch): void {
    this.events.push(`${net.name} tap rx ${b.count}`);
  }
  tapTx(net: Network, q: SendQueue): void {
    this.events.push(`${net.name} tap tx ${q.count}`);
  }
  tunnelTx(net: Network, q: SendQueue): void {
    this.events.push(`${net.name} tunnel tx ${q.count}`);
  }
  tunnelRx(b: Batch, r: Resolved<Network>): void {
    for (let i = 0; i < b.count; i++) this.events.push(`${r.target[i]?.name ?? '(none)'} tunnel rx`);
  }
}

interface Host {
  dp: Datapath;
  socket: FakeSocket;
  point: ReceivePoint;
  observer: Recorder;
  add(
    name: string,
    vni: number,
    remotes: string[],
    lanes?: number[],
  ): { net: Network; tap: FakeTap; sender: FakeSender };
}

function host(offload = false): Host {
  const observer = new Recorder();
  const dp = new Datapath({ slotSize: 2048, offload, busyPollUs: 0, observer });
  const tunnelOf = (vni: number): Tunnel =>
    new VxlanTunnel({ kind: 'vxlan', vni, port: 4789, srcPortMin: 49152, srcPortMax: 65535 });
  const socket = new FakeSocket();
  const point: ReceivePoint = {
    rx: socket,
    demux: tunnelOf(0).newDemux(),
    local: parseIp(LOCAL)!,
    port: 4789,
    name: 'the fake socket',
  };
  dp.attachReceiver(point);
  return {
    dp,
    socket,
    point,
    observer,
    add(name, vni, remotes, lanes = []) {
      const tunnel = tunnelOf(vni);
      const sender = new FakeSender(lanes);
      const net = new Network({
        name,
        tunnel,
        encap: tunnel.encap(sender.lanePorts),
        ttl: 64,
        df: false,
        acceptAnyRemote: false,
        ageing: 300,
        maxMacs: 1000,
        arpResponder: false,
        arpSnoop: false,
        learning: true,
        batchSize: dp.framesPerBatch,
      });
      for (const r of remotes) net.holdRemote(parseIp(r)!, Hold.Flood);
      const tap = new FakeTap(`tap-${name}`, { offload });
      point.demux.set(vni, net);
      dp.attach({ net, device: tap, sender });
      return { net, tap, sender };
    },
  };
}

describe('the data path, with fake TAPs and sockets', () => {
  let h: Host;
  beforeEach(() => (h = host()));

  it('replicates a broadcast from the TAP to each remote, then sends to the one VTEP a MAC was learned behind', () => {
    const { tap, sender } = h.add('blue', 42, ['10.0.0.2', '10.0.0.3']);
    tap.inject(frame(BCAST, TAP_MAC));
    expect(sender.take().map((s) => s.to)).toEqual(['10.0.0.2', '10.0.0.3']);
    h.socket.inject({ from: '10.0.0.3', data: vxlan(42, frame(TAP_MAC, '020000000033')) });
    expect(tap.written).toHaveLength(1);
    tap.inject(frame('020000000033', TAP_MAC));
    const sent = sender.take();
    expect(sent.map((s) => s.to)).toEqual(['10.0.0.3']);
    // On a raw socket the UDP header is ours to write: to port 4789, then VXLAN with VNI 42.
    expect(sent[0].data.readUInt16BE(2)).toBe(4789);
    expect(sent[0].data.subarray(8, 16)).toEqual(Buffer.from('0800000000002a00', 'hex'));
  });

  it('delivers each datagram to the TAP of its VNI, and counts what belongs to no network', () => {
    const blue = h.add('blue', 42, ['10.0.0.2']);
    const red = h.add('red', 43, ['10.0.0.2']);
    h.socket.inject(
      { from: '10.0.0.2', data: vxlan(43, frame(BCAST, '020000000022')) },
      { from: '10.0.0.2', data: vxlan(7, frame(BCAST, '020000000022')) },
      { from: '10.0.0.9', data: vxlan(42, frame(BCAST, '020000000099')) },
    );
    expect(red.tap.written).toHaveLength(1);
    expect(blue.tap.written).toHaveLength(0);
    expect(h.dp.unattributed.drops[Drop.UnknownVni]).toBe(1);
    expect(blue.net.counters.drops[Drop.UnknownRemote]).toBe(1);
  });

  it('offers a capture each side of each event, with the network every received packet resolved to', () => {
    const { tap } = h.add('blue', 42, ['10.0.0.2']);
    tap.inject(frame(BCAST, TAP_MAC));
    h.socket.inject(
      { from: '10.0.0.2', data: vxlan(42, frame(TAP_MAC, '020000000022')) },
      { from: '10.0.0.2', data: vxlan(9, frame(BCAST, '020000000022')) },
    );
    expect(h.observer.events).toEqual([
      'blue tap rx 1',
      'blue tunnel tx 1',
      'blue tunnel rx',
      '(none) tunnel rx',
      'blue tap tx 1',
    ]);
  });

  it('keeps a flow on one lane and spreads flows over the lanes', () => {
    const { tap, sender } = h.add('blue', 42, ['10.0.0.2'], [50000, 50001, 50002, 50003]);
    for (let port = 1000; port < 1064; port++) tap.inject(udpFrame(port), udpFrame(port));
    const sent = sender.take();
    expect(sent).toHaveLength(128);
    for (let k = 0; k < sent.length; k += 2) expect(sent[k + 1].lane, `flow ${k / 2}`).toBe(sent[k].lane);
    expect(new Set(sent.map((s) => s.lane)).size).toBe(4);
    // On lanes the kernel writes the UDP header: the packet starts with VXLAN.
    expect(sent[0].data.subarray(0, 8)).toEqual(Buffer.from('0800000000002a00', 'hex'));
  });

  it('sends to remotes added at run time, once the queue has grown to the flood list', () => {
    const { net, tap, sender } = h.add('blue', 42, []);
    tap.inject(frame(BCAST, TAP_MAC));
    expect(net.counters.drops[Drop.NoRemote]).toBe(1);
    const remotes = Array.from({ length: 100 }, (_, k) => `10.1.${k >> 8}.${k & 255}`);
    for (const r of remotes) net.holdRemote(parseIp(r)!, Hold.Flood);
    tap.inject(...Array.from({ length: 64 }, () => frame(BCAST, TAP_MAC)));
    const sent = sender.take();
    expect(sent).toHaveLength(64 * 100);
    expect(new Set(sent.map((s) => s.to))).toEqual(new Set(remotes));
    expect(net.counters.drops[Drop.TxFailed]).toBe(0);
  });

  it('stops flooding to a removed remote, forgets the MACs behind it, and reuses its index for the next', () => {
    const { net, tap, sender } = h.add('blue', 42, ['10.0.0.2', '10.0.0.3']);
    h.socket.inject({ from: '10.0.0.3', data: vxlan(42, frame(BCAST, '020000000033')) });
    const gone = net.remotes.indexOf(parseIp('10.0.0.3')!);
    expect(net.fdb.lookup(0x020000000033)).toBe(gone);
    net.releaseRemote(gone, Hold.Flood);
    expect(net.fdb.lookup(0x020000000033)).toBe(-1);
    tap.inject(frame(BCAST, TAP_MAC));
    expect(sender.take().map((s) => s.to)).toEqual(['10.0.0.2']);
    h.socket.inject({ from: '10.0.0.3', data: vxlan(42, frame(BCAST, '020000000033')) });
    expect(net.counters.drops[Drop.UnknownRemote]).toBe(1);
    expect(net.holdRemote(parseIp('10.0.0.4')!, Hold.Flood)).toBe(gone);
    tap.inject(frame(BCAST, TAP_MAC));
    expect(
      sender
        .take()
        .map((s) => s.to)
        .sort(),
    ).toEqual(['10.0.0.2', '10.0.0.4']);
  });

  it('counts what the sender did not take as tx-failed, and not as tx of its remote or network', () => {
    const { net, tap, sender } = h.add('blue', 42, ['10.0.0.2', '10.0.0.3']);
    sender.accept = 1;
    tap.inject(frame(BCAST, TAP_MAC));
    expect(net.counters.drops[Drop.TxFailed]).toBe(1);
    const tx = (addr: string) => net.remotes.counters[net.remotes.indexOf(parseIp(addr)!) * REMOTE_SLOTS + R.TxPackets];
    const txBytes = (addr: string) =>
      net.remotes.counters[net.remotes.indexOf(parseIp(addr)!) * REMOTE_SLOTS + R.TxBytes];
    expect([tx('10.0.0.2'), tx('10.0.0.3')]).toEqual([1, 0]);
    expect(txBytes('10.0.0.3')).toBe(0);
    expect(txBytes('10.0.0.2')).toBeGreaterThan(0);
    expect(net.counters.v[N.TunnelTxPackets]).toBe(1);
    expect(net.counters.v[N.TunnelTxBytes]).toBe(txBytes('10.0.0.2'));
  });

  it('stops reading a detached network, and leaves the others running', () => {
    const blue = h.add('blue', 42, ['10.0.0.2']);
    const red = h.add('red', 43, ['10.0.0.2']);
    h.dp.detach(blue.net);
    expect(blue.tap.watched).toBe(false);
    red.tap.inject(frame(BCAST, TAP_MAC));
    expect(red.sender.take()).toHaveLength(1);
  });
});

describe('the data path with an offloading TAP (fake)', () => {
  let h: Host;
  beforeEach(() => (h = host(true)));

  it('cuts TSO frames into their segments, sends each once and in order, within the segment budget per read', () => {
    const { tap, sender } = h.add('blue', 42, ['10.0.0.2']);
    // 60 TSO frames of 45 segments each: 2700 frames, more than a batch of 1024 holds.
    tap.injectTso(Array.from({ length: 60 }, (_, k) => ({ frame: frame(BCAST, TAP_MAC, 100, k), segments: 45 })));
    const sent = sender.take();
    expect(sent).toHaveLength(60 * 45);
    for (let k = 0; k < 60; k++) {
      const mine = sent.slice(k * 45, k * 45 + 45);
      // The frame follows the 16 bytes of UDP and VXLAN header; its first payload byte says which TSO frame.
      expect(
        mine.every((s) => s.data[16 + 14] === k),
        `TSO frame ${k}`,
      ).toBe(true);
      expect(mine.map((s) => s.data.readUInt16BE(s.data.length - 2))).toEqual(Array.from({ length: 45 }, (_, i) => i));
    }
    // No read took more TSO frames than a batch's segments allow.
    expect(Math.max(...tap.reads)).toBeLessThanOrEqual(Math.floor(1024 / 45));
  });

  it('counts what segmentation refused as malformed, and sends the rest', () => {
    const { net, tap, sender } = h.add('blue', 42, ['10.0.0.2']);
    tap.injectTso([
      { frame: frame(BCAST, TAP_MAC), segments: 3 },
      { frame: frame(BCAST, TAP_MAC), segments: 3, malformed: true },
      { frame: frame(BCAST, TAP_MAC), segments: 2 },
    ]);
    expect(sender.take()).toHaveLength(5);
    expect(net.counters.drops[Drop.Malformed]).toBe(1);
  });

  it('stops watching a TAP whose read fails, says so once, and leaves the other networks running', () => {
    const errors: string[] = [];
    h.dp.onIoError = (what, errno) => errors.push(`${what}: ${errno}`);
    const blue = h.add('blue', 42, ['10.0.0.2']);
    const red = h.add('red', 43, ['10.0.0.2']);
    blue.tap.failRead(5);
    expect(errors).toEqual(['read from TAP tap-blue: 5']);
    expect(blue.tap.watched).toBe(false);
    blue.tap.inject(frame(BCAST, TAP_MAC));
    expect(blue.sender.take()).toHaveLength(0);
    red.tap.inject(frame(BCAST, TAP_MAC));
    expect(red.sender.take()).toHaveLength(1);
  });

  it('reads and writes a new TAP after replaceDevice, and no longer the old one', () => {
    const { net, tap, sender } = h.add('blue', 42, ['10.0.0.2']);
    tap.failRead(5);
    const fresh = new FakeTap('tap-blue', { offload: true });
    h.dp.replaceDevice(net, fresh);
    expect(tap.watched).toBe(false);
    expect(fresh.watched).toBe(true);
    fresh.injectTso([{ frame: frame(BCAST, TAP_MAC), segments: 4 }]);
    expect(sender.take()).toHaveLength(4);
    h.socket.inject({ from: '10.0.0.2', data: vxlan(42, frame(BCAST, '020000000022')) });
    expect(fresh.written).toHaveLength(1);
    expect(tap.written).toHaveLength(0);
  });

  it('reads nothing while paused, and everything that waited once resumed', () => {
    const { tap, sender } = h.add('blue', 42, ['10.0.0.2']);
    h.dp.pause();
    tap.injectTso([{ frame: frame(BCAST, TAP_MAC), segments: 2 }]);
    h.socket.inject({ from: '10.0.0.2', data: vxlan(42, frame(BCAST, '020000000022')) });
    expect(sender.take()).toHaveLength(0);
    expect(tap.written).toHaveLength(0);
    h.dp.resume();
    tap.inject(); // the watcher is level-triggered: what waits is read on the next wakeup
    h.socket.inject();
    expect(sender.take()).toHaveLength(2);
    expect(tap.written).toHaveLength(1);
  });
});
