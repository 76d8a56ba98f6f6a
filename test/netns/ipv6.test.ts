// An IPv6 underlay: VXLAN over UDP/IPv6 against the kernel's VXLAN device
// (unicast, head-end replication, a multicast group), Ethernet over GRE over
// IPv6 against Open vSwitch's ip6gre, and what goes with it (checksums, flow
// labels, zero-checksum datagrams).
import { describe, expect, it } from 'vitest';
import { grePackets, vxlanPackets, type VxlanPacket } from '../../src/observe/dissect.ts';
import { checksum } from '../../src/wire/checksum.ts';
import { IpProto } from '../../src/wire/ipv4.ts';
import { IPV6_DST, IPV6_SRC, pseudoHeaderSum6 } from '../../src/wire/ipv6.ts';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parsePcap } from '../../src/wire/pcap.ts';
import { sh, type Lab } from '../../scripts/lab/lab.ts';
import {
  arping,
  expectOk,
  kernelMac,
  overlay,
  ping,
  stats,
  streamsConnected,
  transfer,
  vtepctl,
  withLab,
} from './helpers.ts';

/** A vtepd config for host i over the IPv6 underlay: network blue (VNI 42) or red (GRE key 77) to `remotes`. */
function v6Config(lab: Lab, i: number, remotes: number[], extra = '', tunnel = 'vxlan: { vni: 42 }'): string {
  return `
local: ${lab.underlay6(i)}
socket: ${lab.socket(i)}
networks:
  blue:
    tap: tap-blue
    address: ${overlay(i)}/24
    ${tunnel}
    remotes: [${remotes.map((r) => lab.underlay6(r)).join(', ')}]
${extra}`;
}

/** Whether the UDP checksum of a VXLAN packet over IPv6 verifies (IPv6 requires one: RFC 8200 section 8.1). */
function udp6ChecksumOk(p: VxlanPacket): boolean {
  const udp = Buffer.from(p.inner.buffer, p.inner.byteOffset - 16, p.udp.length);
  const ip = Buffer.from(p.inner.buffer, p.inner.byteOffset - 16 - 40, 40);
  return (
    p.udp.checksum !== 0 &&
    checksum(udp, 0, udp.length, pseudoHeaderSum6(ip, IPV6_SRC, IPV6_DST, IpProto.UDP, p.udp.length)) === 0
  );
}

/** Host i's kernel count of UDP/IPv6 datagrams dropped for their checksum (a zero one without UDP_NO_CHECK6_RX among them). */
async function udp6ChecksumErrors(lab: Lab, i: number): Promise<number> {
  const snmp = (await lab.exec(i, 'cat', ['/proc/net/snmp6'])).stdout;
  const m = /^Udp6InCsumErrors\s+(\d+)/m.exec(snmp);
  if (m === null) throw new Error('no Udp6InCsumErrors in /proc/net/snmp6');
  return Number(m[1]);
}

describe('VXLAN over an IPv6 underlay', () => {
  it('talks to the kernel VXLAN device: ping both ways, 8 MB of TCP each way byte for byte, checksums and flow labels on the wire', () =>
    withLab(2, async (lab) => {
      await lab.ipv6Underlay();
      await lab.kernelVxlan(2, {
        vni: 42,
        ipv6: true,
        address: `${overlay(2)}/24`,
        mac: kernelMac(2),
        remotes: [lab.underlay6(1)],
        mtu: 1430,
      });
      const d = await lab.startDaemon(1, v6Config(lab, 1, [2]));
      expect(d.log).toMatch(/MTU 1430/); // 1500 - 40 IPv6 - 8 UDP - 8 VXLAN - 14 Ethernet
      const cap = await lab.capture(1, lab.dev(1), ['ip6', 'and', 'udp', 'port', '4789']);
      expectOk(await ping(lab, 1, overlay(2), 4), 'ping vtepd -> kernel');
      expectOk(await ping(lab, 2, overlay(1), 4), 'ping kernel -> vtepd');
      const packets = vxlanPackets(await cap.stop());
      const sent = packets.filter((p) => p.src === lab.underlay6(1));
      expect(sent.length).toBeGreaterThanOrEqual(8);
      expect(packets.filter((p) => p.src === lab.underlay6(2)).length).toBeGreaterThanOrEqual(8);
      for (const p of sent) {
        expect(p.ip.version).toBe(6);
        expect(p.dst).toBe(lab.underlay6(2));
        expect(p.ip.ttl, 'hop limit').toBe(64);
        expect(udp6ChecksumOk(p), 'UDP checksum').toBe(true);
        expect(p.ip.flowLabel, 'flow label').not.toBe(0);
      }
      // One flow, one label: every echo request of the ping went with the same one.
      const echoes = sent.filter((p) => p.innerProto === 1 && p.inner[14 + 20] === 8);
      expect(echoes.length).toBe(4);
      expect(new Set(echoes.map((p) => p.ip.flowLabel)).size).toBe(1);
      // ECN rides in the traffic class, as in the IPv4 TOS (RFC 6040).
      const ecnCap = await lab.capture(1, lab.dev(1), ['ip6', 'and', 'udp', 'port', '4789']);
      expectOk(
        await lab.exec(1, 'ping', ['-Q', '2', '-c', '2', '-i', '0.2', '-W', '2', overlay(2)]),
        'ping -Q 2 (ECT(0))',
      );
      const ecn = vxlanPackets(await ecnCap.stop()).filter((p) => p.src === lab.underlay6(1) && p.innerProto === 1);
      expect(ecn.map((p) => p.ip.tos)).toEqual([2, 2]);
      const [out, outGot] = await transfer(lab, 1, 2);
      expect(outGot).toBe(out);
      const [back, backGot] = await transfer(lab, 2, 1);
      expect(backGot).toBe(back);
      const s = await stats(lab);
      expect(s.networks.blue.remotes[lab.underlay6(2)]['rx-packets']).toBeGreaterThan(1000);
      expect(s.networks.blue.drops['bad-checksum']).toBe(0);
    }));

  it('replicates BUM frames to two IPv6 remotes (head-end replication)', () =>
    withLab(3, async (lab) => {
      await lab.ipv6Underlay();
      for (const i of [2, 3]) {
        const others = [1, 2, 3].filter((j) => j !== i).map((j) => lab.underlay6(j));
        await lab.kernelVxlan(i, {
          vni: 42,
          ipv6: true,
          address: `${overlay(i)}/24`,
          mac: kernelMac(i),
          remotes: others,
          mtu: 1430,
        });
      }
      await lab.startDaemon(1, v6Config(lab, 1, [2, 3]));
      const cap = await lab.capture(1, lab.dev(1), ['ip6', 'and', 'udp', 'port', '4789']);
      expectOk(await arping(lab, 1, 'tap-blue', overlay(3)), 'arping h3');
      const requests = vxlanPackets(await cap.stop()).filter((p) => p.src === lab.underlay6(1) && p.arp?.op === 1);
      expect(requests.map((p) => p.dst).sort()).toEqual([lab.underlay6(2), lab.underlay6(3)]);
      expectOk(await ping(lab, 1, overlay(2)), 'ping h2');
      expectOk(await ping(lab, 1, overlay(3)), 'ping h3');
      expectOk(await ping(lab, 2, overlay(3)), 'ping h2 -> h3 (kernel to kernel, beside vtepd)');
    }));

  it('sends BUM frames to an IPv6 multicast group joined on group.dev, with the kernel in group mode', () =>
    withLab(3, async (lab) => {
      await lab.ipv6Underlay();
      const group = 'ff05::42';
      for (const i of [2, 3])
        await lab.kernelVxlan(i, {
          vni: 42,
          ipv6: true,
          address: `${overlay(i)}/24`,
          mac: kernelMac(i),
          group,
          mtu: 1430,
        });
      await lab.startDaemon(
        1,
        `
local: ${lab.underlay6(1)}
socket: ${lab.socket(1)}
networks:
  blue:
    tap: tap-blue
    address: ${overlay(1)}/24
    vxlan: { vni: 42 }
    group: { address: ${group}, dev: ${lab.dev(1)} }
`,
      );
      const joined = await lab.exec(1, 'ip', ['-6', 'maddr', 'show', 'dev', lab.dev(1)]);
      expect(joined.stdout).toContain(group);
      const cap = await lab.capture(1, lab.dev(1), ['ip6', 'and', 'udp', 'port', '4789']);
      expectOk(await ping(lab, 1, overlay(2)), 'ping h2');
      expectOk(await ping(lab, 3, overlay(1)), 'ping from h3');
      const toGroup = vxlanPackets(await cap.stop()).filter((p) => p.src === lab.underlay6(1) && p.dst === group);
      expect(toGroup.length).toBeGreaterThanOrEqual(1); // the ARP request, once, to the group
      expect(toGroup.every((p) => p.arp !== undefined || p.eth.dst >= 0x3333_0000_0000)).toBe(true);
    }));

  it("takes zero-checksum datagrams only with udp6-zero-csum-rx: true (the kernel's udp6zerocsumrx)", () =>
    withLab(2, async (lab) => {
      await lab.ipv6Underlay();
      await lab.kernelVxlan(2, {
        vni: 42,
        ipv6: true,
        address: `${overlay(2)}/24`,
        mac: kernelMac(2),
        remotes: [lab.underlay6(1)],
        mtu: 1430,
        extra: ['udp6zerocsumtx'],
      });
      await lab.startDaemon(1, v6Config(lab, 1, [2]));
      const before = await udp6ChecksumErrors(lab, 1);
      expect(
        (await ping(lab, 1, overlay(2), 2)).code,
        'the kernel drops the zero-checksum replies before vtepd',
      ).not.toBe(0);
      expect(await udp6ChecksumErrors(lab, 1), "h1's kernel counts them as UDP checksum errors").toBeGreaterThan(
        before,
      );
      lab.writeConfig(1, v6Config(lab, 1, [2], '    udp6-zero-csum-rx: true\n'));
      expectOk(await vtepctl('--socket', lab.socket(1), 'reload'), 'reload');
      // h1's kernel may still hold the INCOMPLETE entry of the failed resolution (3 probes 1 s apart): packets queued
      // on it would be answered "Host Unreachable" when it fails, whatever vtepd does now. Start from no entry.
      await lab.exec(1, 'ip', ['neigh', 'flush', 'dev', 'tap-blue']);
      const after = await udp6ChecksumErrors(lab, 1);
      const r = await ping(lab, 1, overlay(2), 3);
      expectOk(r, 'ping with udp6-zero-csum-rx');
      expect(r.stdout, 'every echo answered').toMatch(/3 packets transmitted, 3 received/);
      expect(await udp6ChecksumErrors(lab, 1), 'no zero-checksum datagram dropped after the reload').toBe(after);
    }));

  it('shows the tunnel packets of `vtepctl capture` with their IPv6 headers, as tshark reads them', () =>
    withLab(2, async (lab) => {
      await lab.ipv6Underlay();
      await lab.kernelVxlan(2, {
        vni: 42,
        ipv6: true,
        address: `${overlay(2)}/24`,
        mac: kernelMac(2),
        remotes: [lab.underlay6(1)],
        mtu: 1430,
        ttl: 33,
      });
      await lab.startDaemon(1, v6Config(lab, 1, [2]));
      expectOk(await ping(lab, 1, overlay(2), 1), 'warm-up ping');
      const file = join(lab.dir, 'capture.pcap');
      const cap = vtepctl(
        '--socket',
        lab.socket(1),
        'capture',
        '--network',
        'blue',
        '--side',
        'tunnel',
        '--count',
        '4',
        '-w',
        file,
      );
      await streamsConnected(lab, 1, 1);
      expectOk(await ping(lab, 1, overlay(2), 2), 'ping');
      expectOk(await cap, 'capture');
      const pcap = parsePcap(readFileSync(file));
      if (typeof pcap === 'number') throw new Error('unreadable pcap');
      const packets = vxlanPackets(pcap.records);
      expect(packets).toHaveLength(4);
      const sent = packets.filter((p) => p.src === lab.underlay6(1));
      const received = packets.filter((p) => p.src === lab.underlay6(2));
      expect(sent.map((p) => [p.ip.version, p.dst, p.ip.ttl, p.ip.flowLabel !== 0])).toEqual(
        sent.map(() => [6, lab.underlay6(2), 64, true]),
      );
      expect(received.map((p) => [p.ip.version, p.dst, p.ip.ttl])).toEqual(
        received.map(() => [6, lab.underlay6(1), 33]),
      );
      const t = await sh('tshark', ['-r', file, '-T', 'fields', '-e', 'frame.protocols']);
      expect(
        t.stdout
          .trim()
          .split('\n')
          .every((p) => p.startsWith('eth:ethertype:ipv6:udp:vxlan:')),
        t.stdout,
      ).toBe(true);
      const expert = await sh('tshark', ['-r', file, '-Y', '_ws.malformed || _ws.expert.severity == error', '-V']);
      expect(expert.stdout.trim()).toBe('');
    }));

  it('refuses an IPv4 remote on an IPv6 underlay, from the config and from vtepctl', () =>
    withLab(1, async (lab) => {
      await lab.ipv6Underlay();
      const bad = await lab.runDaemon(1, [
        '--local',
        lab.underlay6(1),
        '--tap',
        'tap-blue',
        '--vni',
        '42',
        '--remote',
        '10.0.0.2',
        '--socket',
        lab.socket(1),
      ]);
      expect(bad.code).toBe(2);
      expect(bad.stderr).toMatch(/--remote: 10\.0\.0\.2 is IPv4, but local fd00::1 is IPv6/);
      await lab.startDaemon(1, v6Config(lab, 1, []));
      const r = await vtepctl('--socket', lab.socket(1), 'remote', 'add', '10.0.0.2', '--network', 'blue');
      expect(r.code).not.toBe(0);
      expect(r.stderr).toMatch(/10\.0\.0\.2 is IPv4, but this VTEP's underlay \(local fd00::1\) is IPv6/);
    }));
});

describe('Ethernet over GRE over an IPv6 underlay', () => {
  it('talks to Open vSwitch (type=ip6gre): ping and arping both ways, 8 MB of TCP each way, key 77 on every packet', () =>
    withLab(2, async (lab) => {
      await lab.ipv6Underlay();
      await lab.ovs(2, { type: 'ip6gre', key: 77, remote: lab.underlay6(1), address: `${overlay(2)}/24`, mtu: 1438 });
      const d = await lab.startDaemon(1, v6Config(lab, 1, [2], '', 'gre: { key: 77 }'));
      expect(d.log).toMatch(/MTU 1438/); // 1500 - 40 IPv6 - 8 GRE with key - 14 Ethernet
      const cap = await lab.capture(1, lab.dev(1), ['ip6', 'proto', '47']);
      expectOk(await ping(lab, 1, overlay(2), 4), 'ping vtepd -> OVS');
      expectOk(await ping(lab, 2, overlay(1), 4), 'ping OVS -> vtepd');
      expectOk(await arping(lab, 2, 'br-int', overlay(1)), 'arping OVS -> vtepd');
      const packets = grePackets(await cap.stop());
      const sent = packets.filter((p) => p.src === lab.underlay6(1));
      expect(sent.length).toBeGreaterThanOrEqual(4);
      expect(packets.filter((p) => p.src === lab.underlay6(2)).length).toBeGreaterThanOrEqual(4);
      for (const p of packets) expect([p.ip.version, p.key, p.gre.protocol]).toEqual([6, 77, 0x6558]);
      for (const p of sent) expect(p.ip.flowLabel).not.toBe(0);
      const [out, outGot] = await transfer(lab, 1, 2);
      expect(outGot).toBe(out);
      const [back, backGot] = await transfer(lab, 2, 1);
      expect(backGot).toBe(back);
      const s = await stats(lab);
      expect(s.drops['unknown-key']).toBe(0);
      // Over IPv6 too, the packet socket carried them, with the neighbour NDP found (gre-socket: packet by default).
      expect(s.networks.blue['gre-socket']).toMatchObject({ mode: 'packet', 'remotes-packet': 1 });
      expect(s.networks.blue['gre-socket']!['packet-tx']).toBeGreaterThan(1000);
    }));
});
