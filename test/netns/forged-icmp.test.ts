// Forged ICMP "too big" errors, sent by a host on the underlay that is no VTEP
// and sees no tunnel traffic (h3), at vtepd on h1 while TCP runs through the
// tunnel: the forgeries of the hardening issue are not believed (the path MTU
// stays, `stats` counts them by reason), and even a believed one, at the
// lowest path MTU there is, never silences TCP: the frames go fragmentable.
import { describe, expect, it } from 'vitest';
import type { RemoteRow } from '../../src/control/protocol.ts';
import { checksum } from '../../src/wire/checksum.ts';
import { parseIp } from '../../src/wire/ip-address.ts';
import { sleep, type Lab } from '../../scripts/lab/lab.ts';
import { expectOk, kernelMac, overlay, stats, vtepctl, withLab } from './helpers.ts';

const NO_OFFLOAD = (process.env.VTEPD_TEST_ARGS ?? '').includes('--no-offload');

/** An IPv4 header as vtepd's packets have it, local -> remote, quoted by an error. */
function quotedIpv4(src: string, dst: string, protocol: number, length: number, df: boolean): Buffer {
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

function udpHeader(src: number, dst: number, length: number): Buffer {
  const h = Buffer.alloc(8);
  h.writeUInt16BE(src, 0);
  h.writeUInt16BE(dst, 2);
  h.writeUInt16BE(length, 4);
  return h;
}

/** A GRE header with key and protocol 0x6558. */
function greHeader(key: number): Buffer {
  const h = Buffer.alloc(8);
  h.writeUInt16BE(0x2000, 0);
  h.writeUInt16BE(0x6558, 2);
  h.writeUInt32BE(key, 4);
  return h;
}

/** ICMP "fragmentation needed" with `mtu`, quoting `quote`; the checksum filled in. */
function fragNeeded(mtu: number, quote: Buffer): Buffer {
  const m = Buffer.concat([Buffer.alloc(8), quote]);
  m[0] = 3;
  m[1] = 4;
  m.writeUInt16BE(mtu, 6);
  m.writeUInt16BE(checksum(m, 0, m.length), 2);
  return m;
}

/** ICMPv6 "packet too big" with `mtu`, quoting an IPv6 header src -> dst (next header, payload length) and `l4` (the kernel fills the checksum). */
function packetTooBig(mtu: number, src: string, dst: string, next: number, payload: number, l4: Buffer): Buffer {
  const m = Buffer.alloc(8 + 40);
  m[0] = 2;
  m.writeUInt32BE(mtu, 4);
  m.writeUInt32BE(0x60000000, 8);
  m.writeUInt16BE(payload, 12);
  m[14] = next;
  m[15] = 64;
  Buffer.from(parseIp(src)!).copy(m, 16);
  Buffer.from(parseIp(dst)!).copy(m, 32);
  return Buffer.concat([m, l4]);
}

/** Host i sends ICMP (or ICMPv6) message `m` to `to` from a raw socket: its own address as source, as a router would. */
async function forge(lab: Lab, i: number, to: string, m: Buffer): Promise<void> {
  const v6 = to.includes(':');
  const py =
    'import socket,sys\n' +
    `s = socket.socket(socket.AF_INET${v6 ? '6' : ''}, socket.SOCK_RAW, socket.IPPROTO_ICMP${v6 ? 'V6' : ''})\n` +
    's.sendto(bytes.fromhex(sys.argv[2]), (sys.argv[1], 0))\n';
  expectOk(await lab.exec(i, 'python3', ['-c', py, to, m.toString('hex')]), 'forging an ICMP error');
}

/** TCP from host 1 to host 2's overlay address for `seconds`: bits per second received. */
async function tcpRate(lab: Lab, seconds = 2): Promise<number> {
  const server = lab.exec(2, 'iperf3', ['-s', '-1', '-B', overlay(2)], (seconds + 20) * 1000);
  await sleep(300);
  const r = await lab.exec(1, 'iperf3', ['-c', overlay(2), '-t', String(seconds), '-J'], (seconds + 20) * 1000);
  await server;
  expectOk(r, 'iperf3');
  return (JSON.parse(r.stdout) as { end: { sum_received: { bits_per_second: number } } }).end.sum_received
    .bits_per_second;
}

async function pmtu(lab: Lab, remote: string): Promise<number> {
  const r = await vtepctl('--socket', lab.socket(1), 'remote', 'show', '--json');
  expectOk(r, 'remote show');
  return (JSON.parse(r.stdout) as RemoteRow[]).find((x) => x.remote === remote)!.pmtu;
}

function config(lab: Lab, i: number, local: string, remote: string, tunnel: string, extra = ''): string {
  return `
local: ${local}
socket: ${lab.socket(i)}
networks:
  blue:
    tap: tap-blue
    address: ${overlay(i)}/24
    ${tunnel}
    remotes: [${remote}]
${extra}`;
}

/**
 * Sends `errors` from h3, gives vtepd time to read them, and measures TCP again: at least `floor` of the rate
 * before. Half where the frames keep their size (the error ignored, or believed and the frames sent
 * fragmentable); a fifth where a believed error lowers the inner MTU (TCP restarts smaller segments after
 * vtepd's ICMP, and one 2-second sample of each varies by 1.7x on this VM): the attack's mark is 0 Mb/s.
 */
async function forgeDuringTcp(lab: Lab, to: string, errors: Buffer[], before: number, floor = 0.5): Promise<number> {
  for (const m of errors) await forge(lab, 3, to, m);
  await sleep(300);
  const after = await tcpRate(lab);
  console.log(`forged ICMP: TCP ${(before / 1e6).toFixed(0)} Mb/s before, ${(after / 1e6).toFixed(0)} after`);
  expect(
    after,
    `TCP after the forged errors: ${(after / 1e6).toFixed(0)} Mb/s against ${(before / 1e6).toFixed(0)} before`,
  ).toBeGreaterThanOrEqual(before * floor);
  return after;
}

/**
 * After one believed error at the lowest path MTU (552): frames go fragmentable, none is dropped, and on
 * the wire h1's tunnel packets (`filter`) are full-size and without DF while TCP runs.
 */
async function expectSentFragmentable(lab: Lab, filter: string[]): Promise<void> {
  expect(await pmtu(lab, lab.underlay(2))).toBe(552);
  const s = await stats(lab);
  expect(s['pmtu-icmp']!.believed).toBe(1);
  expect(s.networks.blue.counters['pmtu-fragmentable']).toBeGreaterThan(1000);
  expect(s.networks.blue.drops.oversize).toBe(0);
  const cap = await lab.capture(1, lab.dev(1), [
    '-c',
    '20',
    ...filter,
    'and',
    'src',
    lab.underlay(1),
    'and',
    'greater',
    '1400',
  ]);
  await tcpRate(lab, 1);
  const packets = await cap.stop();
  expect(packets.length).toBeGreaterThan(0);
  for (const p of packets) expect(p.data[14 + 6] & 0x40, 'DF').toBe(0);
}

describe('forged ICMP "too big" errors from a host on the underlay', () => {
  it('GRE: errors quoting local -> remote proto 47 with another GRE header (MTU 68 and 600) are ignored; TCP keeps its rate', () =>
    withLab(3, async (lab) => {
      for (const [i, peer] of [
        [1, 2],
        [2, 1],
      ])
        await lab.startDaemon(i, config(lab, i, lab.underlay(i), lab.underlay(peer), 'gre: { key: 77 }'));
      const before = await tcpRate(lab);
      const quote = (key: number) =>
        Buffer.concat([quotedIpv4(lab.underlay(1), lab.underlay(2), 47, 1480, true), greHeader(key)]);
      await forgeDuringTcp(
        lab,
        lab.underlay(1),
        [fragNeeded(68, quote(1)), fragNeeded(600, quote(0xdeadbeef)), fragNeeded(600, quote(78))],
        before,
      );
      expect(await pmtu(lab, lab.underlay(2))).toBe(1500);
      const s = await stats(lab);
      expect(s['pmtu-icmp']).toMatchObject({ believed: 0, ignored: { 'not-our-packet': 3 } });
      expect(s.networks.blue.counters['pmtu-fragmentable']).toBe(0);
    }));

  it('GRE: one quoting our key is believed, the path MTU falls to 552, and TCP still keeps going: its frames go without DF', () =>
    withLab(3, async (lab) => {
      for (const [i, peer] of [
        [1, 2],
        [2, 1],
      ])
        await lab.startDaemon(i, config(lab, i, lab.underlay(i), lab.underlay(peer), 'gre: { key: 77 }'));
      const before = await tcpRate(lab);
      const quote = Buffer.concat([quotedIpv4(lab.underlay(1), lab.underlay(2), 47, 1480, true), greHeader(77)]);
      await forgeDuringTcp(lab, lab.underlay(1), [fragNeeded(68, quote)], before);
      await expectSentFragmentable(lab, ['ip', 'proto', '47']);
    }));

  it('VXLAN with df: true: errors quoting a predictable lane port (50176) to any port, without DF, are ignored', () =>
    withLab(3, async (lab) => {
      await lab.kernelVxlan(2, { vni: 42, address: `${overlay(2)}/24`, mac: kernelMac(2), remotes: [lab.underlay(1)] });
      await lab.startDaemon(
        1,
        config(lab, 1, lab.underlay(1), lab.underlay(2), 'vxlan: { vni: 42 }', '    df: true\n'),
      );
      const before = await tcpRate(lab);
      const quote = (dport: number, df: boolean) =>
        Buffer.concat([quotedIpv4(lab.underlay(1), lab.underlay(2), 17, 1500, df), udpHeader(50176, dport, 1480)]);
      await forgeDuringTcp(
        lab,
        lab.underlay(1),
        [fragNeeded(600, quote(9999, false)), fragNeeded(600, quote(4789, false)), fragNeeded(600, quote(9999, true))],
        before,
      );
      expect(await pmtu(lab, lab.underlay(2))).toBe(1500);
      const s = await stats(lab);
      expect(s['pmtu-icmp']!.believed).toBe(0);
      expect(s['pmtu-icmp']!.ignored['no-df'] + s['pmtu-icmp']!.ignored['not-our-packet']).toBe(3);
    }));

  it('VXLAN with df: true: one quoting a source port seen on the wire is believed, the path MTU falls to 552, and TCP keeps half its rate: its frames go without DF, still in GSO batches', () =>
    withLab(3, async (lab) => {
      await lab.kernelVxlan(2, { vni: 42, address: `${overlay(2)}/24`, mac: kernelMac(2), remotes: [lab.underlay(1)] });
      await lab.startDaemon(
        1,
        config(lab, 1, lab.underlay(1), lab.underlay(2), 'vxlan: { vni: 42 }', '    df: true\n'),
      );
      // What a forger on the path sees (or a blind one guesses right): the source port of h1's tunnel packets.
      const seen = await lab.capture(1, lab.dev(1), [
        '-c',
        '5',
        'udp',
        'dst',
        'port',
        '4789',
        'and',
        'src',
        lab.underlay(1),
      ]);
      const before = await tcpRate(lab);
      const wire = await seen.stop();
      expect(wire.length).toBeGreaterThan(0);
      const sport = wire[0].data.readUInt16BE(14 + 20);
      const quote = Buffer.concat([
        quotedIpv4(lab.underlay(1), lab.underlay(2), 17, 1500, true),
        udpHeader(sport, 4789, 1480),
      ]);
      await forgeDuringTcp(lab, lab.underlay(1), [fragNeeded(552, quote)], before);
      await expectSentFragmentable(lab, ['udp', 'dst', 'port', '4789']);
    }));

  it('VXLAN over IPv6: a Packet Too Big quoting local -> remote UDP to port 4789 does not stop TCP', () =>
    withLab(3, async (lab) => {
      await lab.ipv6Underlay();
      await lab.kernelVxlan(2, {
        vni: 42,
        ipv6: true,
        address: `${overlay(2)}/24`,
        mac: kernelMac(2),
        remotes: [lab.underlay6(1)],
        mtu: 1430,
      });
      await lab.startDaemon(1, config(lab, 1, lab.underlay6(1), lab.underlay6(2), 'vxlan: { vni: 42 }'));
      const before = await tcpRate(lab);
      // A source port of the range that is no lane of this start (lanes are random, and not told).
      const lanes = (await lab.exec(1, 'ss', ['-Huan'])).stdout;
      expect(lanes, 'the lanes of h1').toMatch(/:\d+\s/);
      let sport = 50176;
      while (new RegExp(`:${sport}\\s`).test(lanes)) sport++;
      const error = packetTooBig(1280, lab.underlay6(1), lab.underlay6(2), 17, 1446, udpHeader(sport, 4789, 1446));
      // One raw socket (--no-offload) sends from any port of the range: 8 quoted bytes cannot be told from ours.
      await forgeDuringTcp(lab, lab.underlay6(1), [error], before, NO_OFFLOAD ? 0.2 : 0.5);
      const s = await stats(lab);
      if (NO_OFFLOAD) {
        // Believed, and harmless: the inner sender is told the MTU left (1280 - 70) and TCP goes on below it.
        expect(s['pmtu-icmp']!.believed).toBe(1);
        expect(await pmtu(lab, lab.underlay6(2))).toBe(1280);
        expect(s.networks.blue.counters['pmtu-icmp-sent']).toBeGreaterThan(0);
      } else {
        expect(s['pmtu-icmp']).toMatchObject({ believed: 0, ignored: { 'not-our-packet': 1 } });
        expect(await pmtu(lab, lab.underlay6(2))).toBe(1430 + 70);
      }
    }));
});
