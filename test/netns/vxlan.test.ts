// vtepd against the Linux kernel's VXLAN device, in a lab of namespaces:
// h1 runs vtepd, h2 and h3 the kernel (head-end replication to each other).
import { describe, expect, it } from 'vitest';
import { vxlanPackets } from '../../src/observe/dissect.ts';
import { sleep } from '../../scripts/lab/lab.ts';
import { ArpOp } from '../../src/wire/arp.ts';
import { checksum } from '../../src/wire/checksum.ts';
import { parseIpv4Address } from '../../src/wire/ipv4.ts';
import {
  arping,
  blueConfig,
  expectOk,
  fdb,
  kernelMac,
  kernelPeers,
  overlay,
  ping,
  stats,
  VNI,
  withLab,
} from './helpers.ts';

const ICMP = 1;

/** Sends one datagram to dst:4789 with outer TOS 3 (CE), as a congested underlay would have marked it. */
const SEND_CE = [
  'import socket, sys',
  's = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)',
  's.setsockopt(socket.IPPROTO_IP, socket.IP_TOS, 3)',
  's.bind((sys.argv[1], 0))',
  's.sendto(bytes.fromhex(sys.argv[3]), (sys.argv[2], 4789))',
].join('\n');

/** A VXLAN payload (VNI 42) with an Ethernet + IPv4 + UDP frame to port 9999 whose ECN codepoint is `ecn`. */
function vxlanUdp(dstMac: string, srcMac: string, src: string, dst: string, ecn: number): string {
  const ip = Buffer.alloc(20 + 8 + 4);
  ip[0] = 0x45;
  ip[1] = ecn;
  ip.writeUInt16BE(ip.length, 2);
  ip[8] = 64;
  ip[9] = 17;
  ip.writeUInt32BE(parseIpv4Address(src)!, 12);
  ip.writeUInt32BE(parseIpv4Address(dst)!, 16);
  ip.writeUInt16BE(checksum(ip, 0, 20), 10);
  ip.writeUInt16BE(40000, 20);
  ip.writeUInt16BE(9999, 22);
  ip.writeUInt16BE(12, 24); // UDP checksum 0: none
  ip.write('ecn!', 28);
  const mac = (m: string) => m.replace(/:/g, '');
  return (
    '08000000' + VNI.toString(16).padStart(6, '0') + '00' + mac(dstMac) + mac(srcMac) + '0800' + ip.toString('hex')
  );
}

describe('vtepd with kernel VXLAN peers', () => {
  it('answers ping and arping both ways', () =>
    withLab(3, async (lab) => {
      await kernelPeers(lab, [2, 3]);
      const d = await lab.startDaemon(1, blueConfig(lab));
      expectOk(await ping(lab, 1, overlay(2)), 'ping h1 -> h2');
      expectOk(await ping(lab, 1, overlay(3)), 'ping h1 -> h3');
      expectOk(await ping(lab, 2, overlay(1)), 'ping h2 -> h1');
      expectOk(await ping(lab, 3, overlay(1)), 'ping h3 -> h1');
      expectOk(await arping(lab, 1, 'tap-blue', overlay(2)), 'arping h1 -> h2');
      expectOk(await arping(lab, 3, 'vx0', overlay(1)), 'arping h3 -> h1');
      const rows = await fdb(lab);
      expect(rows).toEqual(
        expect.arrayContaining([
          expect.objectContaining({ mac: kernelMac(2), network: 'blue', remote: lab.underlay(2), static: false }),
          expect.objectContaining({ mac: kernelMac(3), network: 'blue', remote: lab.underlay(3), static: false }),
          expect.objectContaining({ network: 'blue', remote: null, static: false }),
        ]),
      );
      expect(await d.stop()).toBe(0);
    }));

  it('sends a broadcast from its side as exactly one unicast VXLAN packet per remote', () =>
    withLab(3, async (lab) => {
      await kernelPeers(lab, [2, 3]);
      await lab.startDaemon(1, blueConfig(lab));
      const cap = await lab.capture(1, lab.dev(1), ['udp', 'port', '4789']);
      expectOk(await arping(lab, 1, 'tap-blue', overlay(2)), 'arping h1 -> h2');
      const requests = vxlanPackets(await cap.stop()).filter(
        (p) =>
          p.src === lab.underlay(1) && p.arp?.op === ArpOp.Request && p.arp.targetIp === parseIpv4Address(overlay(2)),
      );
      expect(requests.map((p) => p.dst).sort()).toEqual([lab.underlay(2), lab.underlay(3)]);
      for (const p of requests) {
        expect(p.vni).toBe(VNI);
        expect(p.udp.dstPort).toBe(4789);
        expect(p.ip.ttl).toBe(64);
        expect(p.eth.dst).toBe(0xffffffffffff);
      }
    }));

  it('carries ECN across the tunnel as the kernel does (RFC 6040)', () =>
    withLab(2, async (lab) => {
      await kernelPeers(lab, [2]);
      await lab.startDaemon(1, blueConfig(lab, '', [2]));
      expectOk(await ping(lab, 1, overlay(2), 1), 'warm-up ping');
      // Out: pings marked ECT(0) (TOS 2). The outer header carries the inner codepoint, from vtepd as from the kernel.
      const cap = await lab.capture(1, lab.dev(1), ['udp', 'port', '4789']);
      expectOk(await lab.exec(1, 'ping', ['-Q', '2', '-c', '3', '-i', '0.2', '-W', '2', overlay(2)]), 'ping -Q 2');
      const pings = vxlanPackets(await cap.stop()).filter((p) => p.innerProto === ICMP);
      const sent = pings.filter((p) => p.src === lab.underlay(1));
      expect(sent.length).toBeGreaterThanOrEqual(3);
      expect(sent.map((p) => p.ip.tos & 3)).toEqual(sent.map(() => 2));
      for (const p of pings) expect(p.ip.tos & 3, `outer ECN from ${p.src}`).toBe(p.inner[15] & 3);
      // In: CE put on the outer header by the underlay reaches an ECN-capable inner packet; one that cannot carry it is dropped.
      const tapMac = (await lab.exec(1, 'cat', ['/sys/class/net/tap-blue/address'])).stdout.trim();
      const tap = await lab.capture(1, 'tap-blue', ['udp', 'port', '9999']);
      for (const ecn of [2, 0]) {
        expectOk(
          await lab.exec(2, 'python3', [
            '-c',
            SEND_CE,
            lab.underlay(2),
            lab.underlay(1),
            vxlanUdp(tapMac, kernelMac(2), overlay(2), overlay(1), ecn),
          ]),
          `send CE around ECN ${ecn}`,
        );
      }
      expectOk(await ping(lab, 2, overlay(1), 1), 'ping behind them: both have been handled');
      const delivered = await tap.stop();
      expect(delivered).toHaveLength(1);
      expect(delivered[0].data[14 + 1] & 3).toBe(3);
      expect(checksum(delivered[0].data, 14, 20)).toBe(0);
      expect((await stats(lab)).networks.blue.drops['ce-not-ect']).toBe(1);
    }));

  it('after learning, sends unicast to the one VTEP behind the destination', () =>
    withLab(3, async (lab) => {
      await kernelPeers(lab, [2, 3]);
      await lab.startDaemon(1, blueConfig(lab));
      expectOk(await ping(lab, 1, overlay(2), 1), 'first ping h1 -> h2 (learning)');
      const cap = await lab.capture(1, lab.dev(1), ['udp', 'port', '4789']);
      expectOk(await ping(lab, 1, overlay(2), 5), 'ping h1 -> h2');
      const out = vxlanPackets(await cap.stop()).filter((p) => p.src === lab.underlay(1) && p.innerProto === ICMP);
      expect(out.length).toBeGreaterThanOrEqual(5);
      expect(new Set(out.map((p) => p.dst))).toEqual(new Set([lab.underlay(2)]));
    }));

  it('uses a static entry without flooding', () =>
    withLab(3, async (lab) => {
      await kernelPeers(lab, [2, 3]);
      await lab.startDaemon(
        1,
        blueConfig(lab, `    static:\n      - { mac: "${kernelMac(2)}", remote: ${lab.underlay(2)} }\n`),
      );
      // With the neighbour known, h1 sends no ARP: every frame it sends is unicast to the static MAC.
      expectOk(
        await lab.exec(1, 'ip', [
          'neigh',
          'replace',
          overlay(2),
          'lladdr',
          kernelMac(2),
          'dev',
          'tap-blue',
          'nud',
          'permanent',
        ]),
        'ip neigh',
      );
      const floodedBefore = (await stats(lab)).networks.blue.counters['flooded-frames']; // the TAP's own announcement at start
      const cap = await lab.capture(1, lab.dev(1), ['udp', 'port', '4789']);
      expectOk(await ping(lab, 1, overlay(2)), 'ping h1 -> h2');
      const sent = vxlanPackets(await cap.stop()).filter((p) => p.src === lab.underlay(1));
      expect(sent.length).toBeGreaterThanOrEqual(3);
      expect(new Set(sent.map((p) => p.dst))).toEqual(new Set([lab.underlay(2)]));
      const s = await stats(lab);
      expect(s.networks.blue.counters['flooded-frames']).toBe(floodedBefore);
      expect(await fdb(lab)).toContainEqual(
        expect.objectContaining({ mac: kernelMac(2), remote: lab.underlay(2), static: true }),
      );
    }));

  it('ages out an idle entry after `ageing` seconds', () =>
    withLab(3, async (lab) => {
      await kernelPeers(lab, [2, 3]);
      await lab.startDaemon(1, blueConfig(lab, '    ageing: 2\n'));
      // A source MAC that speaks once and then is silent (the hosts' own MACs are kept alive by neighbour probes).
      const quiet = '02:aa:00:00:00:02';
      expectOk(
        await lab.exec(2, 'arping', ['-c', '1', '-w', '3', '-s', quiet, '-i', 'vx0', overlay(1)]),
        'arping from a one-off MAC',
      );
      expect(await fdb(lab)).toContainEqual(expect.objectContaining({ mac: quiet, remote: lab.underlay(2) }));
      await sleep(4500);
      expect((await fdb(lab)).map((r) => r.mac)).not.toContain(quiet);
      expect((await stats(lab)).networks.blue.macs.aged).toBeGreaterThanOrEqual(1);
    }));

  it('keeps two networks apart', () =>
    withLab(3, async (lab) => {
      // blue = VNI 42 on 192.168.100.0/24, red = VNI 43 on 192.168.101.0/24; h2 and h3 carry both.
      for (const [vni, net, dev] of [
        [42, 100, 'vx42'],
        [43, 101, 'vx43'],
      ] as const) {
        await kernelPeers(lab, [2, 3], { vni, net, dev });
      }
      await lab.startDaemon(
        1,
        `
local: ${lab.underlay(1)}
socket: ${lab.socket(1)}
networks:
  blue: { tap: tap-blue, address: ${overlay(1, 100)}/24, vxlan: { vni: 42 }, remotes: [${lab.underlay(2)}, ${lab.underlay(3)}] }
  red:  { tap: tap-red,  address: ${overlay(1, 101)}/24, vxlan: { vni: 43 }, remotes: [${lab.underlay(2)}, ${lab.underlay(3)}] }
`,
      );
      expectOk(await ping(lab, 1, overlay(2, 100)), 'ping blue');
      expectOk(await ping(lab, 1, overlay(3, 101)), 'ping red');
      const blueTap = await lab.capture(1, 'tap-blue');
      const redTap = await lab.capture(1, 'tap-red');
      const redKernel = await lab.capture(2, 'vx43');
      expectOk(await arping(lab, 1, 'tap-blue', overlay(2, 100), 2), 'arping on blue from h1');
      expectOk(await arping(lab, 3, 'vx42', overlay(1, 100), 2), 'arping on blue from h3');
      expectOk(await ping(lab, 2, overlay(1, 100)), 'ping on blue from h2');
      expectOk(await ping(lab, 1, overlay(3, 101)), 'ping on red from h1, while both are captured');
      expect((await blueTap.stop()).length).toBeGreaterThanOrEqual(6); // the captures do see this traffic where it belongs
      // Red carries its own traffic (neighbour probes); no frame of it may carry a blue MAC or a blue address.
      const blueTapMac = (await lab.exec(1, 'cat', ['/sys/class/net/tap-blue/address'])).stdout.trim();
      const blueMacs = [kernelMac(2), kernelMac(3), blueTapMac].map((m) => m.replace(/:/g, ''));
      const blueSubnet = Buffer.from([192, 168, 100]);
      const red = await redTap.stop();
      // Red's own traffic was seen: a capture that saw nothing would prove nothing.
      expect(red.filter((r) => r.data.includes(Buffer.from([192, 168, 101, 3]))).length).toBeGreaterThanOrEqual(6);
      for (const r of [...red, ...(await redKernel.stop())]) {
        const hex = r.data.toString('hex');
        expect(blueMacs, hex).not.toContain(hex.slice(0, 12));
        expect(blueMacs, hex).not.toContain(hex.slice(12, 24));
        expect(r.data.includes(blueSubnet), hex).toBe(false);
      }
      const rows = await fdb(lab);
      expect(rows.filter((r) => r.network === 'red').map((r) => r.mac)).not.toContain(kernelMac(3, 0));
      expect(rows.filter((r) => r.network === 'blue').map((r) => r.mac)).not.toContain(kernelMac(3, 1));
    }));
});
