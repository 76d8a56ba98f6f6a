// Ethernet over GRE with key against Open vSwitch's userspace datapath (the GRE
// peer on a kernel without a GRE module), and VXLAN and GRE side by side.
import { describe, expect, it } from 'vitest';
import { grePackets, vxlanPackets } from '../../src/observe/dissect.ts';
import type { Lab } from '../../scripts/lab/lab.ts';
import { GRE_FLAG_C, GRE_FLAG_K, GRE_PROTO_TEB } from '../../src/wire/gre.ts';
import { arping, expectOk, fdb, overlay, ping, stats, withLab } from './helpers.ts';

const KEY = 77;
const RED = 200;

function redConfig(lab: Lab, gre = `{ key: ${KEY} }`): string {
  return `
local: ${lab.underlay(1)}
socket: ${lab.socket(1)}
networks:
  red:
    tap: tap-red
    address: ${overlay(1, RED)}/24
    gre: ${gre}
    remotes: [${lab.underlay(2)}]
`;
}

describe('vtepd with an Open vSwitch GRE peer', () => {
  it('answers ping and arping both ways, with key 77 and 0x6558 on every packet', () =>
    withLab(2, async (lab) => {
      await lab.ovs(2, { type: 'gre', key: KEY, remote: lab.underlay(1), address: `${overlay(2, RED)}/24`, mtu: 1458 });
      const d = await lab.startDaemon(1, redConfig(lab));
      expect(d.log).toMatch(/MTU 1458/); // 1500 - 20 IPv4 - 8 GRE with key - 14 Ethernet
      const cap = await lab.capture(1, lab.dev(1), ['ip', 'proto', 'gre']);
      expectOk(await ping(lab, 1, overlay(2, RED), 4), 'ping vtepd -> OVS');
      expectOk(await ping(lab, 2, overlay(1, RED)), 'ping OVS -> vtepd');
      expectOk(await arping(lab, 1, 'tap-red', overlay(2, RED)), 'arping vtepd -> OVS');
      expectOk(await arping(lab, 2, 'br-int', overlay(1, RED)), 'arping OVS -> vtepd');
      const records = await cap.stop();
      const packets = grePackets(records);
      expect(packets.length).toBe(records.length); // every GRE packet on the wire is well formed
      const sent = packets.filter((p) => p.src === lab.underlay(1));
      const received = packets.filter((p) => p.src === lab.underlay(2));
      expect(sent.length).toBeGreaterThanOrEqual(6);
      expect(received.length).toBeGreaterThanOrEqual(6);
      for (const p of packets) {
        expect(p.gre.flags).toBe(GRE_FLAG_K);
        expect(p.gre.protocol).toBe(GRE_PROTO_TEB);
        expect(p.key).toBe(KEY);
      }
      for (const p of sent) {
        expect(p.ip.ttl).toBe(64);
        expect(p.ip.df).toBe(true);
      }
      expect(await fdb(lab)).toContainEqual(expect.objectContaining({ network: 'red', remote: lab.underlay(2) }));
    }));

  it('carries the inner ECN codepoint on the outer header, as Open vSwitch does (RFC 6040)', () =>
    withLab(2, async (lab) => {
      await lab.ovs(2, { type: 'gre', key: KEY, remote: lab.underlay(1), address: `${overlay(2, RED)}/24`, mtu: 1458 });
      await lab.startDaemon(1, redConfig(lab));
      expectOk(await ping(lab, 1, overlay(2, RED), 1), 'warm-up ping');
      const cap = await lab.capture(1, lab.dev(1), ['ip', 'proto', 'gre']);
      expectOk(
        await lab.exec(1, 'ping', ['-Q', '2', '-c', '3', '-i', '0.2', '-W', '2', overlay(2, RED)]),
        'ping -Q 2 (ECT(0))',
      );
      const pings = grePackets(await cap.stop()).filter((p) => p.innerProto === 1);
      const sent = pings.filter((p) => p.src === lab.underlay(1));
      expect(sent.length).toBeGreaterThanOrEqual(3);
      expect(sent.map((p) => p.ip.tos & 3)).toEqual(sent.map(() => 2));
      for (const p of pings) expect(p.ip.tos & 3, `outer ECN from ${p.src}`).toBe(p.inner[15] & 3);
    }));

  it('drops and counts GRE with a key that is not ours', () =>
    withLab(2, async (lab) => {
      await lab.ovs(2, {
        type: 'gre',
        key: KEY + 1,
        remote: lab.underlay(1),
        address: `${overlay(2, RED)}/24`,
        mtu: 1458,
      });
      await lab.startDaemon(1, redConfig(lab));
      expect((await ping(lab, 2, overlay(1, RED), 2)).code).not.toBe(0);
      const s = await stats(lab);
      expect(s.drops['unknown-key']).toBeGreaterThanOrEqual(2);
      expect(s.networks.red.counters['tap-tx-frames']).toBe(0);
    }));

  it('sends and verifies GRE checksums with Open vSwitch (csum: true)', () =>
    withLab(2, async (lab) => {
      await lab.ovs(2, {
        type: 'gre',
        key: KEY,
        remote: lab.underlay(1),
        address: `${overlay(2, RED)}/24`,
        mtu: 1454,
        options: { csum: 'true' },
      });
      const d = await lab.startDaemon(1, redConfig(lab, `{ key: ${KEY}, csum: true }`));
      expect(d.log).toMatch(/MTU 1454/);
      const cap = await lab.capture(1, lab.dev(1), ['ip', 'proto', 'gre']);
      expectOk(await ping(lab, 1, overlay(2, RED), 4), 'ping vtepd -> OVS with checksums');
      const packets = grePackets(await cap.stop()); // decoding verifies each checksum
      expect(packets.filter((p) => p.src === lab.underlay(1)).length).toBeGreaterThanOrEqual(4);
      for (const p of packets) expect(p.gre.flags & GRE_FLAG_C).toBe(GRE_FLAG_C);
      expect((await stats(lab)).drops['bad-checksum']).toBe(0);
    }));
});

describe('VXLAN and GRE networks side by side', () => {
  it('carries both between three vtepd hosts, without leaking one into the other', () =>
    withLab(3, async (lab) => {
      const others = (i: number) =>
        [1, 2, 3]
          .filter((j) => j !== i)
          .map((j) => lab.underlay(j))
          .join(', ');
      for (const i of [1, 2, 3]) {
        await lab.startDaemon(
          i,
          `
local: ${lab.underlay(i)}
socket: ${lab.socket(i)}
networks:
  blue: { tap: tap-blue, address: ${overlay(i)}/24, vxlan: { vni: 42 }, remotes: [${others(i)}] }
  red:  { tap: tap-red, address: ${overlay(i, RED)}/24, gre: { key: ${KEY}, seq: true }, remotes: [${others(i)}] }
`,
        );
      }
      const blueTap3 = await lab.capture(3, 'tap-blue');
      const redTap3 = await lab.capture(3, 'tap-red');
      const underlay = await lab.capture(1, lab.dev(1));
      for (const [from, to] of [
        [1, 2],
        [2, 3],
        [3, 1],
      ]) {
        expectOk(await ping(lab, from, overlay(to)), `blue ping h${from} -> h${to}`);
        expectOk(await ping(lab, from, overlay(to, RED)), `red ping h${from} -> h${to}`);
      }
      expectOk(await arping(lab, 1, 'tap-blue', overlay(3), 2), 'blue arping');
      const wire = await underlay.stop();
      const blueFrames = (await blueTap3.stop()).map((r) => r.data);
      const redFrames = (await redTap3.stop()).map((r) => r.data);
      // On the wire: blue only as VXLAN 42, red only as GRE key 77.
      expect(vxlanPackets(wire).every((p) => p.vni === 42 && p.inner.includes(Buffer.from([192, 168, 100])))).toBe(
        true,
      );
      expect(grePackets(wire).every((p) => p.key === KEY && p.inner.includes(Buffer.from([192, 168, RED])))).toBe(true);
      expect(vxlanPackets(wire).length).toBeGreaterThan(0);
      expect(grePackets(wire).length).toBeGreaterThan(0);
      // On h3's TAPs: each network's own addresses only.
      expect(blueFrames.length).toBeGreaterThan(0);
      expect(redFrames.length).toBeGreaterThan(0);
      expect(blueFrames.some((f) => f.includes(Buffer.from([192, 168, RED])))).toBe(false);
      expect(redFrames.some((f) => f.includes(Buffer.from([192, 168, 100])))).toBe(false);
      const s = await stats(lab, 3);
      expect(s.networks.red.counters['gre-seq-out-of-order']).toBe(0);
    }));
});
