// The ARP/ND responder and snooping against the kernel VXLAN device: address
// resolution answered on vtepd's side with nothing sent into a tunnel, what
// must still flood, the table filled from a peer's gratuitous ARP, and the
// l2population pattern (both sides programmed) with no BUM frame at all.
import { describe, expect, it } from 'vitest';
import { vxlanPackets, type VxlanPacket } from '../../src/observe/dissect.ts';
import type { NeighRow } from '../../src/control/protocol.ts';
import { sleep, type Lab } from '../../scripts/lab/lab.ts';
import { ArpOp } from '../../src/wire/arp.ts';
import { isGroupMac } from '../../src/wire/mac.ts';
import { newIpv6Repr, parseIpv6 } from '../../src/wire/ipv6.ts';
import { Icmpv6Type, NA_OVERRIDE, NA_ROUTER, NA_SOLICITED, newNdRepr, parseNd } from '../../src/wire/icmpv6.ts';
import { parseMac } from '../../src/wire/mac.ts';
import { ParseError } from '../../src/wire/parse-error.ts';
import {
  arping,
  blueConfig,
  expectOk,
  kernelMac,
  kernelPeers,
  overlay,
  ping,
  stats,
  vtepctl,
  withLab,
} from './helpers.ts';

const V6 = (i: number) => `fd00:100::${i}`;

async function tapMac(lab: Lab): Promise<string> {
  return (await lab.exec(1, 'cat', ['/sys/class/net/tap-blue/address'])).stdout.trim();
}

/** h2 knows h1's address for good: what h1's side sends is all that crosses. */
async function pinH2(lab: Lab): Promise<void> {
  const mac = await tapMac(lab);
  expectOk(
    await lab.exec(2, 'ip', ['neigh', 'replace', overlay(1), 'lladdr', mac, 'dev', 'vx0', 'nud', 'permanent']),
    'neigh on h2',
  );
}

function ndType(p: VxlanPacket): number | undefined {
  const f = p.inner;
  if (f.readUInt16BE(12) !== 0x86dd || f[14 + 6] !== 58) return undefined;
  return f[14 + 40];
}

describe('the ARP and ND responder', () => {
  it('answers ARP for a known host on the TAP: arping and ping work with no ARP in any tunnel', () =>
    withLab(2, async (lab) => {
      await kernelPeers(lab, [2]);
      await lab.startDaemon(
        1,
        blueConfig(lab, `    arp-responder: true\n    neigh: [{ ip: ${overlay(2)}, mac: "${kernelMac(2)}" }]\n`, [2]),
      );
      await pinH2(lab);
      const tap = await lab.capture(1, 'tap-blue', ['arp']);
      const wire = await lab.capture(1, lab.dev(1), ['udp', 'port', '4789']);
      expectOk(await arping(lab, 1, 'tap-blue', overlay(2), 2), 'arping h1 -> h2');
      expectOk(await ping(lab, 1, overlay(2)), 'ping h1 -> h2');
      expect(vxlanPackets(await wire.stop()).filter((p) => p.arp !== undefined)).toEqual([]);
      const replies = (await tap.stop()).map((r) => r.data).filter((f) => f.readUInt16BE(20) === ArpOp.Reply);
      expect(replies.length).toBeGreaterThanOrEqual(2);
      const mine = (await tapMac(lab)).replace(/:/g, '');
      for (const f of replies) {
        // As the kernel's proxy sends it: from the neighbour's MAC to the asker, sender = the neighbour.
        expect(f.subarray(0, 6).toString('hex')).toBe(mine);
        expect(f.subarray(6, 12).toString('hex')).toBe(kernelMac(2).replace(/:/g, ''));
        expect(f.subarray(22, 28).toString('hex')).toBe(kernelMac(2).replace(/:/g, ''));
        expect([...f.subarray(28, 32)].join('.')).toBe(overlay(2));
        expect(f.subarray(32, 38).toString('hex')).toBe(mine);
        expect([...f.subarray(38, 42)].join('.')).toBe(overlay(1));
      }
      expect((await stats(lab)).networks.blue.counters['arp-suppressed']).toBeGreaterThanOrEqual(2);
    }));

  it('still floods a request for an unknown address and a duplicate address detection probe', () =>
    withLab(2, async (lab) => {
      await kernelPeers(lab, [2]);
      await lab.startDaemon(
        1,
        blueConfig(lab, `    arp-responder: true\n    neigh: [{ ip: ${overlay(2)}, mac: "${kernelMac(2)}" }]\n`, [2]),
      );
      const wire = await lab.capture(1, lab.dev(1), ['udp', 'port', '4789']);
      await lab.exec(1, 'arping', ['-c', '1', '-w', '1', '-I', 'tap-blue', '192.168.100.77']);
      await lab.exec(1, 'arping', ['-0', '-c', '1', '-w', '1', '-I', 'tap-blue', overlay(2)]); // sender 0.0.0.0: a duplicate address detection probe
      const requests = vxlanPackets(await wire.stop()).filter(
        (p) => p.arp?.op === ArpOp.Request && p.src === lab.underlay(1),
      );
      expect(
        requests.map((p) => [p.arp!.senderIp === 0 ? 'probe' : 'request', (p.arp!.targetIp >>> 0) & 0xff]),
      ).toEqual([
        ['request', 77],
        ['probe', 2],
      ]);
      expect((await stats(lab)).networks.blue.counters['arp-suppressed']).toBe(0);
    }));

  it('answers IPv6 neighbour solicitations with a correct advertisement: ping -6 works with no NS in any tunnel', () =>
    withLab(2, async (lab) => {
      for (const i of [1, 2]) await lab.ipv6(i);
      await kernelPeers(lab, [2]);
      await lab.startDaemon(
        1,
        blueConfig(lab, `    arp-responder: true\n    neigh: [{ ip: "${V6(2)}", mac: "${kernelMac(2)}" }]\n`, [2]),
      );
      expectOk(
        await lab.exec(1, 'ip', ['-6', 'addr', 'add', `${V6(1)}/64`, 'dev', 'tap-blue', 'nodad']),
        'address on h1',
      );
      expectOk(await lab.exec(2, 'ip', ['-6', 'addr', 'add', `${V6(2)}/64`, 'dev', 'vx0', 'nodad']), 'address on h2');
      expectOk(
        await lab.exec(2, 'ip', [
          '-6',
          'neigh',
          'replace',
          V6(1),
          'lladdr',
          await tapMac(lab),
          'dev',
          'vx0',
          'nud',
          'permanent',
        ]),
        'neigh on h2',
      );
      await sleep(500);
      const tap = await lab.capture(1, 'tap-blue', ['icmp6']);
      const wire = await lab.capture(1, lab.dev(1), ['udp', 'port', '4789']);
      expectOk(await lab.exec(1, 'ping', ['-6', '-c', '3', '-i', '0.2', '-W', '2', V6(2)]), 'ping -6 h1 -> h2');
      const tunneled = vxlanPackets(await wire.stop());
      expect(tunneled.filter((p) => ndType(p) === Icmpv6Type.NeighborSolicitation)).toEqual([]);
      expect(tunneled.filter((p) => ndType(p) === 129).length).toBe(3); // the three echo replies did cross
      const advertisements = (await tap.stop())
        .map((r) => r.data)
        .filter((f) => f[14 + 40] === Icmpv6Type.NeighborAdvertisement);
      expect(advertisements.length).toBeGreaterThanOrEqual(1);
      for (const f of advertisements) {
        const ip = newIpv6Repr();
        expect(parseIpv6(f, 14, f.length, ip)).toBe(ParseError.None);
        expect(ip.hopLimit).toBe(255);
        const nd = newNdRepr();
        expect(parseNd(f, 54, 54 + ip.payloadLen, ip.src, ip.dst, nd)).toBe(ParseError.None); // the checksum verifies
        expect(nd.flags & (NA_ROUTER | NA_SOLICITED | NA_OVERRIDE)).toBe(NA_SOLICITED | NA_OVERRIDE);
        expect(nd.lla).toBe(parseMac(kernelMac(2)));
      }
      expect((await stats(lab)).networks.blue.counters['nd-suppressed']).toBeGreaterThanOrEqual(1);
    }));

  it("fills the table from a peer's gratuitous ARP with arp-snoop", () =>
    withLab(2, async (lab) => {
      await kernelPeers(lab, [2]);
      await lab.startDaemon(1, blueConfig(lab, '    arp-snoop: true\n', [2]));
      await lab.exec(2, 'arping', ['-U', '-c', '1', '-w', '1', '-I', 'vx0', overlay(2)]);
      await sleep(200);
      const r = await vtepctl('--socket', lab.socket(1), 'neigh', 'show', '--json');
      expectOk(r, 'neigh show');
      expect(JSON.parse(r.stdout) as NeighRow[]).toContainEqual(
        expect.objectContaining({ ip: overlay(2), mac: kernelMac(2), network: 'blue', origin: 'snooped' }),
      );
    }));
});

describe('the l2population pattern', () => {
  it('with both sides programmed (kernel nolearning, static entries, responders) a ping crosses with no BUM frame on the underlay', () =>
    withLab(2, async (lab) => {
      await lab.kernelVxlan(2, {
        vni: 42,
        address: `${overlay(2)}/24`,
        mac: kernelMac(2),
        remotes: [],
        learning: false,
        proxy: true,
      });
      await lab.startDaemon(
        1,
        blueConfig(
          lab,
          `    arp-responder: true\n    neigh: [{ ip: ${overlay(2)}, mac: "${kernelMac(2)}" }]\n    static: [{ mac: "${kernelMac(2)}", remote: ${lab.underlay(2)} }]\n`,
          [],
        ),
      );
      const mine = await tapMac(lab);
      expectOk(
        await lab.exec(2, 'bridge', ['fdb', 'add', mine, 'dev', 'vx0', 'dst', lab.underlay(1)]),
        'kernel fdb entry',
      );
      expectOk(
        await lab.exec(2, 'ip', ['neigh', 'replace', overlay(1), 'lladdr', mine, 'dev', 'vx0', 'nud', 'permanent']),
        'kernel neighbour',
      );
      const before = (await stats(lab)).networks.blue; // the TAP's own announcement at start
      const wire = await lab.capture(1, lab.dev(1), ['udp', 'port', '4789']);
      expectOk(await ping(lab, 1, overlay(2)), 'ping h1 -> h2');
      expectOk(await ping(lab, 2, overlay(1)), 'ping h2 -> h1');
      const packets = vxlanPackets(await wire.stop());
      expect(packets.length).toBeGreaterThanOrEqual(12);
      expect(packets.filter((p) => isGroupMac(p.eth.dst))).toEqual([]);
      const s = await stats(lab);
      expect(s.networks.blue.counters['flooded-frames']).toBe(before.counters['flooded-frames']);
      expect(s.networks.blue.drops['no-remote']).toBe(before.drops['no-remote']);
    }));
});
