// Which ICMP "too big" errors vtepd believes (RFC 5927 section 4), and what a
// believed one can do to a flow: the forged errors of the hardening issue,
// each refused for its own reason, the genuine one believed, and a path MTU
// too small for ICMP to help a sender turning frames fragmentable, never
// silent. The errors are written byte by byte here, as a host would forge them.
import { describe, expect, it } from 'vitest';
import { Batch, OUTER_FRAGMENTABLE, type SendQueue } from '../../src/datapath/batch.ts';
import { NetworkCounter as C } from '../../src/switch/counters.ts';
import { Drop } from '../../src/switch/drop.ts';
import { forwardFromTap } from '../../src/switch/forward.ts';
import { Forwarding } from '../../src/switch/verdict.ts';
import { Network } from '../../src/switch/network.ts';
import { judgeTooBig } from '../../src/switch/pmtu-guard.ts';
import { Hold } from '../../src/switch/remotes.ts';
import { GreTunnel } from '../../src/tunnel/gre.ts';
import type { Tunnel } from '../../src/tunnel/tunnel.ts';
import { VxlanTunnel } from '../../src/tunnel/vxlan.ts';
import { checksum } from '../../src/wire/checksum.ts';
import { flowHash, setFlowHashSeed, sourcePort } from '../../src/wire/flow-hash.ts';
import { newTooBigRepr, parseTooBig4, parseTooBig6 } from '../../src/wire/icmp-error.ts';
import { parseIp } from '../../src/wire/ip-address.ts';

const LOCAL = '10.0.0.1';
const REMOTE = '10.0.0.2';
const ROUTER = [10, 0, 0, 9];

/** An inner frame: IPv4 TCP from 192.168.100.1:40000 to .2:5001, DF, `ipLen` bytes of IP. */
function tcpFrame(ipLen = 1400, dport = 5001): Buffer {
  const f = Buffer.alloc(14 + ipLen, 0x5a);
  Buffer.from('020000000002020000000001', 'hex').copy(f, 0);
  f.writeUInt16BE(0x0800, 12);
  f[14] = 0x45;
  f.writeUInt16BE(ipLen, 16);
  f.writeUInt16BE(0x4000, 20);
  f[22] = 64;
  f[23] = 6;
  f.writeUInt16BE(0, 24);
  Buffer.from([192, 168, 100, 1, 192, 168, 100, 2]).copy(f, 26);
  f.writeUInt16BE(checksum(f, 14, 20), 24);
  f.writeUInt16BE(40000, 34);
  f.writeUInt16BE(dport, 36);
  return f;
}

/** What a router sends back: IPv4 (router -> local), ICMP 3/4 with `mtu`, quoting `quoteIp` (an IPv4 header) and `l4`. */
function fragNeeded(mtu: number, quoteIp: Buffer, l4: Buffer): Buffer {
  const icmp = Buffer.concat([Buffer.alloc(8), quoteIp, l4]);
  icmp[0] = 3;
  icmp[1] = 4;
  icmp.writeUInt16BE(mtu, 6);
  icmp.writeUInt16BE(checksum(icmp, 0, icmp.length), 2);
  const ip = Buffer.alloc(20);
  ip[0] = 0x45;
  ip.writeUInt16BE(20 + icmp.length, 2);
  ip[8] = 64;
  ip[9] = 1;
  Buffer.from(ROUTER).copy(ip, 12);
  Buffer.from([10, 0, 0, 1]).copy(ip, 16);
  ip.writeUInt16BE(checksum(ip, 0, 20), 10);
  return Buffer.concat([ip, icmp]);
}

/** The quoted outer IPv4 header of a packet local -> `dst` of `protocol`, `length` bytes, DF as given. */
function quotedIp(protocol: number, length: number, df = true, dst = REMOTE, src = LOCAL): Buffer {
  const ip = Buffer.alloc(20);
  ip[0] = 0x45;
  ip.writeUInt16BE(length, 2);
  ip.writeUInt16BE(df ? 0x4000 : 0, 6);
  ip[8] = 64;
  ip[9] = protocol;
  Buffer.from(parseIp(src)!.subarray(12)).copy(ip, 12);
  Buffer.from(parseIp(dst)!.subarray(12)).copy(ip, 16);
  ip.writeUInt16BE(checksum(ip, 0, 20), 10);
  return ip;
}

function network(
  tunnel: Tunnel,
  o: { df?: boolean | 'inherit'; lanes?: number[]; remotes?: string[]; ipv6?: boolean } = {},
): Network {
  const net = new Network({
    name: tunnel.kind === 'gre' ? 'red' : 'blue',
    tunnel,
    encap: tunnel.encap(o.lanes ?? []),
    ttl: 64,
    df: o.df ?? true,
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
  for (const r of o.remotes ?? [REMOTE]) net.holdRemote(parseIp(r)!, Hold.Flood);
  return net;
}

const vxlan = (): VxlanTunnel =>
  new VxlanTunnel({ kind: 'vxlan', vni: 42, port: 4789, srcPortMin: 49152, srcPortMax: 65535 });
const gre = (csum = false): GreTunnel => new GreTunnel({ kind: 'gre', key: 77, csum, seq: false });

/** What `net` sends for `frame`: the tunnel packet from its tunnel header on (the kernel adds UDP for lanes). */
function sent(net: Network, frame: Buffer): Buffer {
  const rx = new Batch(1, 4096, 64);
  frame.copy(rx.arena, rx.start(0));
  rx.len[0] = frame.length;
  rx.count = 1;
  const out = net.toTunnel;
  out.count = 0;
  const f = new Forwarding(1);
  f.begin(1, 1);
  forwardFromTap(net, rx, f);
  f.end();
  expect(out.count).toBe(1);
  return Buffer.from(out.arena.subarray(out.off[0], out.off[0] + out.len[0]));
}

/** The UDP header a lane socket of `port` puts in front of `payload`. */
function udp(src: number, dst: number, payload: Buffer): Buffer {
  const h = Buffer.alloc(8);
  h.writeUInt16BE(src, 0);
  h.writeUInt16BE(dst, 2);
  h.writeUInt16BE(8 + payload.length, 4);
  return Buffer.concat([h, payload]);
}

function judge(nets: Network[], error: Buffer): string {
  const e = newTooBigRepr();
  expect(parseTooBig4(error, 0, error.length, e)).toBe('ok');
  const about: Network[] = [];
  const v = judgeTooBig(e, error, parseIp(LOCAL)!, nets, about);
  expect(about.length > 0).toBe(v === 'believed');
  return v;
}

describe('parseTooBig4 and parseTooBig6', () => {
  it('read the MTU, the quoted addresses, protocol, DF, length and where the quoted transport header is', () => {
    const q = quotedIp(17, 1486);
    const l4 = Buffer.from('c35012b505be0000', 'hex');
    const err = fragNeeded(1400, q, l4);
    const e = newTooBigRepr();
    expect(parseTooBig4(err, 0, err.length, e)).toBe('ok');
    expect({
      mtu: e.mtu,
      protocol: e.protocol,
      df: e.df,
      fragment: e.fragment,
      length: e.length,
      l4: e.l4,
      end: e.end,
    }).toEqual({ mtu: 1400, protocol: 17, df: true, fragment: false, length: 1486, l4: 48, end: 56 });
    expect(Buffer.from(e.src.subarray(12)).toString('hex')).toBe('0a000001');
    expect(Buffer.from(e.dst.subarray(12)).toString('hex')).toBe('0a000002');
  });

  it('refuse a bad ICMP checksum, another ICMP type, a quote cut inside its IP header', () => {
    const good = fragNeeded(1400, quotedIp(17, 1486), Buffer.alloc(8));
    const e = newTooBigRepr();
    const bad = Buffer.from(good);
    bad[23] ^= 1; // the ICMP checksum
    expect(parseTooBig4(bad, 0, bad.length, e)).toBe('bad-checksum');
    const port = Buffer.from(good);
    port[21] = 3; // port unreachable
    port.writeUInt16BE(0, 22);
    port.writeUInt16BE(checksum(port, 20, port.length - 20), 22);
    expect(parseTooBig4(port, 0, port.length, e)).toBe('not-too-big');
    const cut = fragNeeded(1400, quotedIp(17, 1486).subarray(0, 12), Buffer.alloc(0));
    expect(parseTooBig4(cut, 0, cut.length, e)).toBe('truncated');
  });

  it('reads an ICMPv6 packet too big: a 32-bit MTU, the quoted IPv6 header, the length from its payload length', () => {
    const m = Buffer.alloc(8 + 40 + 8);
    m[0] = 2;
    m.writeUInt32BE(1280, 4);
    m.writeUInt32BE(0x60000000, 8);
    m.writeUInt16BE(1446, 12);
    m[14] = 47;
    Buffer.from(parseIp('fd00::1')!).copy(m, 16);
    Buffer.from(parseIp('fd00::2')!).copy(m, 32);
    const e = newTooBigRepr();
    expect(parseTooBig6(m, 0, m.length, e)).toBe('ok');
    expect([e.mtu, e.protocol, e.length, e.df, e.l4]).toEqual([1280, 47, 1486, true, 48]);
  });
});

describe('judgeTooBig: only errors about packets this VTEP could have sent are believed', () => {
  it('believes the error a router sends about a real VXLAN packet of a lane, quoting it whole', () => {
    setFlowHashSeed(0x1234567);
    const lanes = [50321, 51811, 52001, 53999];
    const net = network(vxlan(), { lanes });
    const frame = tcpFrame();
    const vx = sent(net, frame);
    const port = lanes[sourcePort(flowHash(frame, 0, frame.length), 0, lanes.length - 1)];
    const packet = udp(port, 4789, vx);
    expect(judge([net], fragNeeded(1400, quotedIp(17, 20 + packet.length), packet.subarray(0, 548)))).toBe('believed');
    // RFC 792's minimum: the UDP header alone, still from a lane port to ours.
    expect(judge([net], fragNeeded(1400, quotedIp(17, 20 + packet.length), packet.subarray(0, 8)))).toBe('believed');
  });

  it('ignores a quote from another lane port than the flow hash picks, from a port that is no lane, to another port', () => {
    setFlowHashSeed(0x1234567);
    const lanes = [50321, 51811, 52001, 53999];
    const net = network(vxlan(), { lanes });
    const frame = tcpFrame();
    const vx = sent(net, frame);
    const mine = lanes[sourcePort(flowHash(frame, 0, frame.length), 0, lanes.length - 1)];
    const other = lanes.find((p) => p !== mine)!;
    const len = 20 + 8 + vx.length;
    expect(judge([net], fragNeeded(1400, quotedIp(17, len), udp(other, 4789, vx)))).toBe('not-our-packet');
    // The forgery: a predictable lane port (50176: 49152 + 1024), any destination port.
    expect(judge([net], fragNeeded(600, quotedIp(17, len), udp(50176, 4789, vx).subarray(0, 8)))).toBe(
      'not-our-packet',
    );
    expect(judge([net], fragNeeded(600, quotedIp(17, len), udp(mine, 9999, vx).subarray(0, 8)))).toBe('not-our-packet');
  });

  it("without lanes: any port of the range when only 8 bytes are quoted, the flow hash's port once the inner flow is quoted", () => {
    setFlowHashSeed(0xabcdef);
    const net = network(vxlan());
    const packet = sent(net, tcpFrame()); // the raw socket's packet: UDP header written by vtepd
    const len = 20 + packet.length;
    expect(judge([net], fragNeeded(1400, quotedIp(17, len), packet))).toBe('believed');
    const wrong = Buffer.from(packet);
    wrong.writeUInt16BE(packet.readUInt16BE(0) ^ 1, 0);
    expect(judge([net], fragNeeded(1400, quotedIp(17, len), wrong))).toBe('not-our-packet');
    expect(judge([net], fragNeeded(1400, quotedIp(17, len), wrong.subarray(0, 8)))).toBe('believed');
    // Another seed, another daemon: the same frame's port is not the one quoted.
    setFlowHashSeed(0xabcdee);
    expect(judge([net], fragNeeded(1400, quotedIp(17, len), packet))).toBe('not-our-packet');
  });

  it('ignores an IPv4 quote without DF (a router fragments those), and any quote for a network that never sets DF', () => {
    setFlowHashSeed(7);
    const net = network(vxlan());
    const packet = sent(net, tcpFrame());
    expect(judge([net], fragNeeded(600, quotedIp(17, 20 + packet.length, false), packet))).toBe('no-df');
    const noDf = network(vxlan(), { df: false });
    expect(judge([noDf], fragNeeded(600, quotedIp(17, 20 + packet.length, true), packet))).toBe('no-df');
  });

  it('ignores GRE quotes with another key, flags or protocol (the forged "any GRE header"), believes our key', () => {
    const net = network(gre());
    const packet = sent(net, tcpFrame());
    const len = 20 + packet.length;
    expect(judge([net], fragNeeded(1400, quotedIp(47, len), packet.subarray(0, 8)))).toBe('believed');
    for (const [at, v] of [
      [7, 78],
      [0, 0x30],
      [3, 0x59],
    ] as const) {
      const forged = Buffer.from(packet.subarray(0, 8));
      forged[at] = v;
      expect(judge([net], fragNeeded(68, quotedIp(47, len), forged))).toBe('not-our-packet');
    }
    // With a checksum in front of the key, 8 bytes do not reach the key: not believed.
    const csum = network(gre(true));
    const c = sent(csum, tcpFrame());
    expect(judge([csum], fragNeeded(1400, quotedIp(47, 20 + c.length), c.subarray(0, 8)))).toBe('not-our-packet');
    expect(judge([csum], fragNeeded(1400, quotedIp(47, 20 + c.length), c.subarray(0, 12)))).toBe('believed');
  });

  it('ignores a quote not from our address, to no remote, of a fragment, or no longer than the MTU it names', () => {
    const net = network(gre());
    const packet = sent(net, tcpFrame()).subarray(0, 8);
    const len = 20 + 8 + 1400;
    expect(judge([net], fragNeeded(1400, quotedIp(47, len, true, REMOTE, '10.0.0.5'), packet))).toBe('not-from-local');
    expect(judge([net], fragNeeded(1400, quotedIp(47, len, true, '10.0.0.7'), packet))).toBe('unknown-remote');
    expect(judge([net], fragNeeded(1400, quotedIp(17, len), packet))).toBe('unknown-remote');
    const frag = quotedIp(47, len);
    frag.writeUInt16BE(0x4010, 6);
    expect(judge([net], fragNeeded(1400, frag, packet))).toBe('fragment');
    expect(judge([net], fragNeeded(1500, quotedIp(47, 1500), packet))).toBe('not-larger');
  });
});

describe('a path MTU too small for ICMP to help the sender never silences a flow', () => {
  function queue(net: Network, frame: Buffer): SendQueue {
    const rx = new Batch(1, 4096, 64);
    frame.copy(rx.arena, rx.start(0));
    rx.len[0] = frame.length;
    rx.count = 1;
    net.toTap.count = 0;
    net.toTunnel.count = 0;
    const f = new Forwarding(1);
    f.begin(1, 1);
    forwardFromTap(net, rx, f);
    f.end();
    return net.toTunnel;
  }

  it('GRE at the 552 floor (a forged 68): TCP frames go fragmentable, counted, not dropped; ICMP-sized paths still get ICMP', () => {
    const net = network(gre());
    expect(net.lowerPmtu(parseIp(REMOTE)!, 68, 1)).toBe(552);
    const out = queue(net, tcpFrame(1400));
    expect(out.count).toBe(1);
    expect(out.outer[0] & OUTER_FRAGMENTABLE).toBe(OUTER_FRAGMENTABLE);
    expect(net.counters.v[C.PmtuFragmentable]).toBe(1);
    expect(net.counters.drops[Drop.Oversize]).toBe(0);
    expect(net.toTap.count, 'no ICMP to the host').toBe(0);
    // 600: 558 left inside, below IPv4's 576: still fragmentable.
    const v = network(gre());
    v.lowerPmtu(parseIp(REMOTE)!, 600, 1);
    expect(queue(v, tcpFrame(1400)).outer[0] & OUTER_FRAGMENTABLE).toBe(OUTER_FRAGMENTABLE);
    // 1000: 958 inside, an MTU a host takes: "fragmentation needed", as before.
    const w = network(gre());
    w.lowerPmtu(parseIp(REMOTE)!, 1000, 1);
    expect(queue(w, tcpFrame(1400)).count).toBe(0);
    expect(w.counters.v[C.PmtuIcmpSent]).toBe(1);
    expect(w.toTap.arena.readUInt16BE(w.toTap.off[0] + 14 + 20 + 6)).toBe(958);
  });

  it('over IPv6: the 1280 floor leaves 1210 inside, so IPv6 frames go fragmentable and IPv4 ones get "fragmentation needed"', () => {
    const net = network(vxlan(), { remotes: ['fd00::2'], ipv6: true });
    expect(net.lowerPmtu(parseIp('fd00::2')!, 1280, 1)).toBe(1280);
    const v6 = Buffer.alloc(14 + 1400, 0);
    Buffer.from('020000000002020000000001', 'hex').copy(v6, 0);
    v6.writeUInt16BE(0x86dd, 12);
    v6.writeUInt32BE(0x60000000, 14);
    v6.writeUInt16BE(1360, 18);
    v6[20] = 6;
    v6[21] = 64;
    Buffer.from(parseIp('fd01::1')!).copy(v6, 22);
    Buffer.from(parseIp('fd01::2')!).copy(v6, 38);
    const out = queue(net, v6);
    expect(out.count).toBe(1);
    expect(out.outer[0] & OUTER_FRAGMENTABLE).toBe(OUTER_FRAGMENTABLE);
    expect(queue(net, tcpFrame(1400)).count).toBe(0);
    expect(net.toTap.arena.readUInt16BE(net.toTap.off[0] + 14 + 20 + 6)).toBe(1210);
  });
});
