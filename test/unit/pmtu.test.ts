// Path MTU and the IPv6 underlay, without a kernel: the "too big" errors
// written back to the TAP, the path MTU table, the forwarding decision for
// frames that do not fit, flow labels and df inherit on the send queue, and
// GRE received over IPv6 (no IP header in front).
import { describe, expect, it } from 'vitest';
import { Batch, OUTER_DF, OUTER_FRAGMENTABLE, OUTER_LABEL, type SendQueue } from '../../src/datapath/batch.ts';
import { renderSent } from '../../src/observe/capture.ts';
import { Counters, NetworkCounter as C } from '../../src/switch/counters.ts';
import { Drop } from '../../src/switch/drop.ts';
import { demuxBatch, forwardFromTap } from '../../src/switch/forward.ts';
import { Forwarding } from '../../src/switch/verdict.ts';
import { Network } from '../../src/switch/network.ts';
import { Hold, PMTU_EXPIRES_S, RemoteTable } from '../../src/switch/remotes.ts';
import { GreTunnel } from '../../src/tunnel/gre.ts';
import { Resolved } from '../../src/tunnel/tunnel.ts';
import { VxlanTunnel } from '../../src/tunnel/vxlan.ts';
import { checksum } from '../../src/wire/checksum.ts';
import { emitGre, GRE_FLAG_K, GRE_PROTO_TEB } from '../../src/wire/gre.ts';
import { parseIp } from '../../src/wire/ip-address.ts';
import { pseudoHeaderSum6 } from '../../src/wire/ipv6.ts';
import { newOuterIpRepr, parseOuterIp } from '../../src/wire/outer-ip.ts';
import { writeTooBig } from '../../src/wire/icmp-out.ts';

const MAC_A = Buffer.from('020000000001', 'hex');
const MAC_B = Buffer.from('020000000002', 'hex');

/** An Ethernet frame from MAC_A to MAC_B with an IPv4 packet of `ipLen` bytes (UDP, DF as given). */
function ipv4Frame(ipLen: number, df = true, protocol = 17, flags?: number): Buffer {
  const f = Buffer.alloc(14 + ipLen, 0x5a);
  MAC_B.copy(f, 0);
  MAC_A.copy(f, 6);
  f.writeUInt16BE(0x0800, 12);
  f[14] = 0x45;
  f.writeUInt16BE(ipLen, 16);
  f.writeUInt16BE(flags ?? (df ? 0x4000 : 0), 20);
  f[22] = 63;
  f[23] = protocol;
  f.writeUInt16BE(0, 24);
  Buffer.from([192, 168, 100, 1, 192, 168, 100, 2]).copy(f, 26);
  f.writeUInt16BE(checksum(f, 14, 20), 24);
  return f;
}

function ipv6Frame(payload: number, next = 17): Buffer {
  const f = Buffer.alloc(14 + 40 + payload, 0x5a);
  MAC_B.copy(f, 0);
  MAC_A.copy(f, 6);
  f.writeUInt16BE(0x86dd, 12);
  f.writeUInt32BE(0x60000000, 14);
  f.writeUInt16BE(payload, 18);
  f[20] = next;
  f[21] = 64;
  Buffer.from(parseIp('fd01::1')!).copy(f, 22);
  Buffer.from(parseIp('fd01::2')!).copy(f, 38);
  return f;
}

describe('writeTooBig', () => {
  it('turns an IPv4 frame with DF into ICMP "fragmentation needed" from its destination, quoting 548 bytes, checksums valid', () => {
    const original = ipv4Frame(2000);
    const buf = Buffer.from(original);
    const n = writeTooBig(buf, 0, buf.length, 1450);
    expect(n).toBe(14 + 576);
    expect(buf.subarray(0, 6)).toEqual(MAC_A);
    expect(buf.subarray(6, 12)).toEqual(MAC_B);
    expect(checksum(buf, 14, 20)).toBe(0);
    expect(buf.readUInt16BE(16)).toBe(576);
    expect([...buf.subarray(26, 34)]).toEqual([192, 168, 100, 2, 192, 168, 100, 1]);
    expect([buf[23], buf[34], buf[35], buf.readUInt16BE(40)]).toEqual([1, 3, 4, 1450]);
    expect(checksum(buf, 34, 576 - 20)).toBe(0);
    expect(buf.subarray(42, 14 + 576)).toEqual(original.subarray(14, 14 + 548));
  });

  it('answers nothing for IPv4 without DF, a fragment, an ICMP error, an MTU under 576, or a frame that is not IP', () => {
    expect(writeTooBig(ipv4Frame(2000, false), 0, 2014, 1450)).toBe(0);
    expect(writeTooBig(ipv4Frame(2000, true, 17, 0x4001), 0, 2014, 1450)).toBe(0);
    const icmpError = ipv4Frame(2000, true, 1);
    icmpError[34] = 3;
    expect(writeTooBig(icmpError, 0, 2014, 1450)).toBe(0);
    const echo = ipv4Frame(2000, true, 1);
    echo[34] = 8;
    expect(writeTooBig(echo, 0, 2014, 1450)).toBeGreaterThan(0);
    expect(writeTooBig(ipv4Frame(2000), 0, 2014, 500)).toBe(0);
    const arp = ipv4Frame(100);
    arp.writeUInt16BE(0x0806, 12);
    expect(writeTooBig(arp, 0, arp.length, 1450)).toBe(0);
  });

  it('turns an IPv6 frame into ICMPv6 "packet too big", at most 1280 bytes, checksum valid; never about an ICMPv6 error', () => {
    const original = ipv6Frame(3000);
    const buf = Buffer.from(original);
    const n = writeTooBig(buf, 0, buf.length, 1430);
    expect(n).toBe(14 + 1280);
    expect(buf.readUInt16BE(18)).toBe(1240);
    expect(buf[20]).toBe(58);
    expect(buf.subarray(22, 38)).toEqual(original.subarray(38, 54));
    expect(buf.subarray(38, 54)).toEqual(original.subarray(22, 38));
    expect([buf[54], buf[55], buf.readUInt32BE(58)]).toEqual([2, 0, 1430]);
    expect(checksum(buf, 54, 1240, pseudoHeaderSum6(buf, 22, 38, 58, 1240))).toBe(0);
    expect(buf.subarray(62, 14 + 1280)).toEqual(original.subarray(14, 14 + 1232));
    const error = ipv6Frame(3000, 58);
    error[54] = 1; // destination unreachable
    expect(writeTooBig(error, 0, error.length, 1430)).toBe(0);
    expect(writeTooBig(ipv6Frame(3000), 0, 3054, 1200)).toBe(0);
  });
});

describe('the path MTU of each remote', () => {
  const a = parseIp('10.0.0.2')!;
  const b = parseIp('fd00::2')!;

  it("starts at the underlay's, is lowered by ICMP (never below 552 / 1280, never raised), and comes back after 10 minutes", () => {
    const t = new RemoteTable();
    t.setUnderlayMtu(1500);
    const ra = t.hold(a, Hold.Flood);
    const rb = t.hold(b, Hold.Flood);
    expect([t.pmtu[ra], t.pmtu[rb], t.minPmtu]).toEqual([1500, 1500, 1500]);
    expect(t.lowerPmtu(ra, 1400, 100)).toBe(1400);
    expect(t.lowerPmtu(ra, 1450, 101)).toBe(0);
    expect(t.lowerPmtu(rb, 600, 100)).toBe(1280);
    expect(t.minPmtu).toBe(1280);
    expect(t.lowerPmtu(ra, 100, 102)).toBe(552);
    expect(t.expirePmtu(100 + PMTU_EXPIRES_S - 1)).toEqual([]);
    expect(t.expirePmtu(102 + PMTU_EXPIRES_S)).toEqual([ra, rb]);
    expect([t.pmtu[ra], t.pmtu[rb], t.minPmtu]).toEqual([1500, 1500, 1500]);
  });

  it("forgets a removed remote's: its index comes back at the underlay's MTU", () => {
    const t = new RemoteTable();
    t.setUnderlayMtu(1500);
    const r = t.hold(a, Hold.Flood);
    t.lowerPmtu(r, 1400, 0);
    t.release(r, Hold.Flood);
    expect(t.minPmtu).toBe(1500);
    expect(t.pmtu[t.hold(b, Hold.Flood)]).toBe(1500);
  });
});

function network(o: { ipv6?: boolean; df?: boolean | 'inherit'; remotes?: string[] } = {}): Network {
  const tunnel = new VxlanTunnel({ kind: 'vxlan', vni: 42, port: 4789, srcPortMin: 49152, srcPortMax: 65535 });
  const net = new Network({
    name: 'blue',
    tunnel,
    encap: tunnel.encap([]),
    ttl: 64,
    df: o.df ?? false,
    ipv6: o.ipv6,
    underlayMtu: 1500,
    acceptAnyRemote: false,
    ageing: 300,
    maxMacs: 100,
    arpResponder: false,
    arpSnoop: false,
    learning: true,
    batchSize: 16,
  });
  for (const r of o.remotes ?? ['10.0.0.2', '10.0.0.3']) net.holdRemote(parseIp(r)!, Hold.Flood);
  return net;
}

function fromTap(net: Network, ...frames: Buffer[]): SendQueue {
  const rx = new Batch(16, 4096, 32);
  rx.count = frames.length;
  frames.forEach((f, i) => {
    f.copy(rx.arena, rx.start(i));
    rx.len[i] = f.length;
  });
  net.toTap.count = 0;
  net.toTunnel.count = 0;
  const fw = new Forwarding(16);
  fw.begin(1, rx.count);
  forwardFromTap(net, rx, fw);
  fw.end();
  return net.toTunnel;
}

describe('frames too big for the path', () => {
  it('go out while they fit (1450 of IP over IPv4 VXLAN), are answered on the TAP when they do not, and dropped without DF', () => {
    const net = network();
    expect(fromTap(net, ipv4Frame(1450)).count).toBe(2); // flooded to both remotes
    const out = fromTap(net, ipv4Frame(1451));
    expect(out.count).toBe(0);
    expect(net.toTap.count).toBe(1);
    const reply = net.toTap.arena.subarray(net.toTap.off[0], net.toTap.off[0] + net.toTap.len[0]);
    expect([reply[34], reply[35], reply.readUInt16BE(40)]).toEqual([3, 4, 1450]);
    expect(net.counters.v[C.PmtuIcmpSent]).toBe(1);
    expect(fromTap(net, ipv4Frame(1451, false)).count).toBe(0);
    expect(net.toTap.count).toBe(0);
    expect(net.counters.drops[Drop.Oversize]).toBe(1);
  });

  it("are captured as sent: DF on a df network's packets, none on the fragmentable one over a path MTU below ICMP's floor", () => {
    const net = network({ df: true, remotes: ['10.0.0.2'] });
    const local = parseIp('10.0.0.1')!;
    const buf = Buffer.alloc(4096);
    const dfOf = (q: SendQueue) => {
      renderSent(net, q, 0, local, buf);
      const ip = newOuterIpRepr();
      parseOuterIp(buf, 14, buf.length, false, ip);
      return ip.df;
    };
    expect(dfOf(fromTap(net, ipv4Frame(500)))).toBe(true);
    net.lowerPmtu(parseIp('10.0.0.2')!, 560, 1); // below 576 + 50: ICMP could not tell a host an MTU that low
    const q = fromTap(net, ipv4Frame(600));
    expect(q.count).toBe(1);
    expect(q.outer[0] & OUTER_FRAGMENTABLE).toBe(OUTER_FRAGMENTABLE);
    expect(dfOf(q)).toBe(false);
  });

  it('take the least path MTU of where they go: one remote lowered to 1400 lowers a flood, and the inner MTU is 70 less over IPv6', () => {
    const net = network({ ipv6: true, remotes: ['fd00::2', 'fd00::3'] });
    expect(fromTap(net, ipv4Frame(1430)).count).toBe(2);
    expect(net.lowerPmtu(parseIp('fd00::3')!, 1400, 1)).toBe(1400);
    expect(fromTap(net, ipv4Frame(1331)).count).toBe(0);
    expect(net.toTap.arena.readUInt16BE(net.toTap.off[0] + 40)).toBe(1330);
    expect(fromTap(net, ipv4Frame(1330)).count).toBe(2);
  });
});

describe('the outer header fields of each queued packet', () => {
  it('over IPv6: a flow label from the inner flow, the same for a flow, different between flows', () => {
    const net = network({ ipv6: true, remotes: ['fd00::2'] });
    const a1 = ipv4Frame(100);
    const a2 = ipv4Frame(200);
    const b = ipv4Frame(100);
    b[33] = 9; // another destination address
    const out = fromTap(net, a1, a2, b);
    const labels = Array.from(out.outer.subarray(0, 3), (v) => v & OUTER_LABEL);
    expect(labels[0]).not.toBe(0);
    expect(labels[1]).toBe(labels[0]);
    expect(labels[2]).not.toBe(labels[0]);
  });

  it("over IPv4: none, and with df inherit the inner packet's DF", () => {
    expect(fromTap(network(), ipv4Frame(100)).outer[0]).toBe(0);
    const net = network({ df: 'inherit', remotes: ['10.0.0.2'] });
    const out = fromTap(net, ipv4Frame(100, true), ipv4Frame(100, false));
    expect([out.outer[0] & OUTER_DF, out.outer[1] & OUTER_DF]).toEqual([OUTER_DF, 0]);
  });
});

describe('GRE over IPv6', () => {
  it('is demultiplexed from the GRE header on (an IPv6 raw socket has no IP header), ECN from the traffic class', () => {
    const tunnel = new GreTunnel({ kind: 'gre', key: 77, csum: false, seq: false });
    const demux = tunnel.newDemux<string>(true);
    demux.set(77, 'red');
    const b = new Batch(1, 2048, 0);
    const inner = ipv4Frame(60);
    const len = emitGre({ flags: GRE_FLAG_K, protocol: GRE_PROTO_TEB, key: 77, seq: 0, headerLen: 0 }, b.arena, 0);
    inner.copy(b.arena, len);
    b.len[0] = len + inner.length;
    b.tos[0] = 0x02;
    b.count = 1;
    const r = new Resolved<string>(1);
    const dropped = new Counters();
    demuxBatch(b, demux as never, r as never, dropped);
    expect([r.target[0], r.off[0], r.len[0], r.ecn[0]]).toEqual(['red', 8, inner.length, 2]);
  });
});

describe('parseOuterIp', () => {
  it('reads an IPv6 header: traffic class, flow label, hop limit, next header, addresses', () => {
    const f = Buffer.alloc(40 + 8);
    f.writeUInt32BE(0x6_2a_12345, 0);
    f.writeUInt16BE(8, 4);
    f[6] = 47;
    f[7] = 63;
    Buffer.from(parseIp('fd00::1')!).copy(f, 8);
    Buffer.from(parseIp('fd00::2')!).copy(f, 24);
    const ip = newOuterIpRepr();
    expect(parseOuterIp(f, 0, f.length, true, ip)).toBe(0);
    expect(ip).toMatchObject({
      version: 6,
      tos: 0x2a,
      flowLabel: 0x12345,
      ttl: 63,
      protocol: 47,
      totalLen: 48,
      src: 'fd00::1',
      dst: 'fd00::2',
    });
  });
});
