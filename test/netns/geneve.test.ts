// Geneve (RFC 8926) against Open vSwitch's userspace datapath (this kernel has
// no geneve device), over IPv4 and IPv6, with OVN's option carried both ways;
// and what a receiver must refuse, sent by a misbehaving host on the underlay.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { genevePackets } from '../../src/observe/dissect.ts';
import { ROOT, sleep, type Lab } from '../../scripts/lab/lab.ts';
import {
  arping,
  expectOk,
  fdb,
  overlay,
  ping,
  stats,
  streamsConnected,
  transfer,
  vtepctl,
  withLab,
} from './helpers.ts';

const VNI = 5001;
const OVN_OPTION = { class: 0x0102, type: 0x80, data: Buffer.from('00010002', 'hex') };
const WITH_OPTION = `{ vni: ${VNI}, options: [ { class: 0x0102, type: 0x80, data: "00010002" } ] }`;
const SEND = join(ROOT, 'scripts/lab/udp-send.mjs');

function redConfig(lab: Lab, geneve = `{ vni: ${VNI} }`, remotes = [2], v6 = false): string {
  const u = (i: number) => (v6 ? lab.underlay6(i) : lab.underlay(i));
  return `
local: ${u(1)}
socket: ${lab.socket(1)}
networks:
  red:
    tap: tap-red
    address: ${overlay(1)}/24
    geneve: ${geneve}
    remotes: [${remotes.map(u).join(', ')}]
`;
}

/** Every host answers the other: ping and arping both ways. */
async function pingsBothWays(lab: Lab): Promise<void> {
  expectOk(await ping(lab, 1, overlay(2), 4), 'ping vtepd -> OVS');
  expectOk(await ping(lab, 2, overlay(1), 4), 'ping OVS -> vtepd');
  expectOk(await arping(lab, 1, 'tap-red', overlay(2)), 'arping vtepd -> OVS');
  expectOk(await arping(lab, 2, 'br-int', overlay(1)), 'arping OVS -> vtepd');
}

describe('vtepd with an Open vSwitch Geneve peer', () => {
  it('answers ping and arping both ways and carries 8 MB of TCP each way, VNI 5001 on port 6081 every packet', () =>
    withLab(2, async (lab) => {
      await lab.ovs(2, { type: 'geneve', key: VNI, remote: lab.underlay(1), address: `${overlay(2)}/24`, mtu: 1450 });
      const d = await lab.startDaemon(1, redConfig(lab));
      expect(d.log).toMatch(/Geneve VNI 5001 port 6081/);
      expect(d.log).toMatch(/MTU 1450/); // 1500 - 20 IPv4 - 8 UDP - 8 Geneve - 14 Ethernet
      const cap = await lab.capture(1, lab.dev(1), ['udp', 'port', '6081']);
      await pingsBothWays(lab);
      const records = await cap.stop();
      const packets = genevePackets(records);
      expect(packets.length).toBe(records.length); // every datagram to 6081 on the wire is well formed
      const sent = packets.filter((p) => p.src === lab.underlay(1));
      expect(sent.length).toBeGreaterThanOrEqual(6);
      expect(packets.filter((p) => p.src === lab.underlay(2)).length).toBeGreaterThanOrEqual(6);
      for (const p of packets) expect([p.vni, p.udp.dstPort, p.options, p.critical]).toEqual([VNI, 6081, [], false]);
      for (const p of sent) expect([p.ip.ttl, p.udp.srcPort >= 49152]).toEqual([64, true]);
      const [out, outGot] = await transfer(lab, 1, 2);
      expect(outGot).toBe(out);
      const [back, backGot] = await transfer(lab, 2, 1);
      expect(backGot).toBe(back);
      expect(await fdb(lab)).toContainEqual(expect.objectContaining({ network: 'red', remote: lab.underlay(2) }));
      const s = await stats(lab);
      expect(s.drops['unknown-vni']).toBe(0);
      expect(s.networks.red.counters['tunnel-rx-packets']).toBeGreaterThan(1000);
    }));

  it('over an IPv6 underlay: ping, arping and 8 MB of TCP each way', () =>
    withLab(2, async (lab) => {
      await lab.ipv6Underlay();
      await lab.ovs(2, { type: 'geneve', key: VNI, remote: lab.underlay6(1), address: `${overlay(2)}/24`, mtu: 1430 });
      const d = await lab.startDaemon(1, redConfig(lab, undefined, [2], true));
      expect(d.log).toMatch(/MTU 1430/); // 1500 - 40 IPv6 - 8 UDP - 8 Geneve - 14 Ethernet
      const cap = await lab.capture(1, lab.dev(1), ['ip6', 'and', 'udp', 'port', '6081']);
      await pingsBothWays(lab);
      const packets = genevePackets(await cap.stop());
      expect(packets.filter((p) => p.src === lab.underlay6(1)).length).toBeGreaterThanOrEqual(6);
      expect(packets.filter((p) => p.src === lab.underlay6(2)).length).toBeGreaterThanOrEqual(6);
      for (const p of packets) expect([p.ip.version, p.vni]).toEqual([6, VNI]);
      const [out, outGot] = await transfer(lab, 1, 2);
      expect(outGot).toBe(out);
      const [back, backGot] = await transfer(lab, 2, 1);
      expect(backGot).toBe(back);
    }));

  it("round-trips OVN's option: OVS drops what lacks it, vtepd drops OVS's critical option until configured with it", () =>
    withLab(2, async (lab) => {
      const ovs = await lab.ovs(2, {
        type: 'geneve',
        key: VNI,
        remote: lab.underlay(1),
        address: `${overlay(2)}/24`,
        mtu: 1442,
      });
      // OVN's way: the option in tun_metadata0, set on output, required on input.
      await ovs.ofctl('add-tlv-map', 'br-int', '{class=0x0102,type=0x80,len=4}->tun_metadata0');
      await ovs.ofctl('del-flows', 'br-int');
      await ovs.ofctl(
        'add-flow',
        'br-int',
        'priority=10,in_port=LOCAL,actions=set_field:0x00010002->tun_metadata0,output:t0',
      );
      await ovs.ofctl('add-flow', 'br-int', 'priority=10,in_port=t0,tun_metadata0=0x00010002,actions=output:LOCAL');
      await ovs.ofctl('add-flow', 'br-int', 'priority=5,in_port=t0,actions=drop');
      // Without the option configured: OVS's packets carry a critical option vtepd does not know.
      const plain = await lab.startDaemon(1, redConfig(lab));
      expect((await ping(lab, 2, overlay(1), 2)).code).not.toBe(0);
      expect((await stats(lab)).drops['geneve-critical-option']).toBeGreaterThanOrEqual(2);
      await plain.stop();
      // With it: both ways, and each side's option on the wire.
      const d = await lab.startDaemon(1, redConfig(lab, WITH_OPTION));
      expect(d.log).toMatch(/MTU 1442/); // 8 bytes of option
      const cap = await lab.capture(1, lab.dev(1), ['udp', 'port', '6081']);
      await pingsBothWays(lab);
      const packets = genevePackets(await cap.stop());
      for (const from of [1, 2]) {
        const mine = packets.filter((p) => p.src === lab.underlay(from));
        expect(mine.length, `packets from h${from}`).toBeGreaterThanOrEqual(6);
        for (const p of mine) expect([p.options, p.critical], `from h${from}`).toEqual([[OVN_OPTION], true]);
      }
      expect((await stats(lab)).drops['geneve-critical-option']).toBe(0);
      // vtepctl capture's text form shows the options received and sent.
      const text = vtepctl('--socket', lab.socket(1), 'capture', '--side', 'tunnel', '--count', '4');
      await streamsConnected(lab, 1, 1);
      expectOk(await ping(lab, 2, overlay(1), 2), 'ping during capture');
      const r = await text;
      expect(r.code, r.stderr).toBe(0);
      for (const l of r.stdout.trim().split('\n'))
        expect(l).toMatch(
          / red tunnel (rx|tx) \d+ .*:6081 ttl \d+ Geneve vni 5001 C \[class 0x0102 type 0x80 data 00010002\]: /,
        );
    }));
});

describe('Geneve packets a receiver must refuse (RFC 8926 section 3.5)', () => {
  /** An Ethernet broadcast frame from 02:bb:00:00:00:03. */
  const FRAME = 'ffffffffffff' + '02bb00000003' + '0800' + '00'.repeat(46);
  const send = (lab: Lab, hex: string) => lab.exec(3, 'node', [SEND, lab.underlay(3), lab.underlay(1), '6081', hex]);

  it('drops and counts each malformed kind by reason, skips an unknown non-critical option and delivers', () =>
    withLab(3, async (lab) => {
      await lab.startDaemon(1, redConfig(lab, WITH_OPTION, [2, 3]));
      const tap = await lab.capture(1, 'tap-red');
      const cases: [string, string, string][] = [
        ['geneve-version', '40006558 00138900', FRAME],
        ['geneve-oam', '00806558 00138900', FRAME],
        ['geneve-proto', '00000800 00138900', FRAME],
        ['geneve-bad-options', '02006558 00138900 01020102', ''], // 8 bytes announced, 4 there
        ['geneve-bad-options', '01006558 00138900 01020101', FRAME], // an option of 4 bytes in 0 bytes left
        ['geneve-critical-option', '01406558 00138900 00ff8100', FRAME], // class 0x00ff type 0x81 unknown
      ];
      for (const [, header, frame] of cases) expectOk(await send(lab, header.replace(/ /g, '') + frame), 'send');
      // Known critical option, and an unknown non-critical one: both delivered.
      expectOk(await send(lab, '02406558 00138900 01028001 00010002'.replace(/ /g, '') + FRAME), 'send known');
      expectOk(await send(lab, '02006558 00138900 00ff0101 deadbeef'.replace(/ /g, '') + FRAME), 'send non-critical');
      let s = await stats(lab);
      for (let t = 0; t < 50 && s.networks.red.counters['tap-tx-frames'] < 2; t++) {
        await sleep(100);
        s = await stats(lab);
      }
      const want: Record<string, number> = {};
      for (const [reason] of cases) want[reason] = (want[reason] ?? 0) + 1;
      for (const [reason, n] of Object.entries(want)) expect(s.drops[reason], reason).toBe(n);
      const frames = (await tap.stop()).filter((r) => r.data.subarray(6, 12).toString('hex') === '02bb00000003');
      expect(frames.length).toBe(2);
      // What was delivered learned its sender, as any frame does.
      expect(await fdb(lab)).toContainEqual(
        expect.objectContaining({ mac: '02:bb:00:00:00:03', remote: lab.underlay(3) }),
      );
    }));
});

describe('vtepd Geneve between vtepd hosts', () => {
  const GROUP = '239.1.1.1';
  const config = (lab: Lab, i: number, options: string) => `
local: ${lab.underlay(i)}
socket: ${lab.socket(i)}
networks:
  red:
    tap: tap-red
    address: ${overlay(i)}/24
    geneve: { vni: ${VNI}, options: [ ${options} ] }
    group: { address: ${GROUP}, dev: ${lab.dev(i)} }
`;

  it('floods to a multicast group with the options on, traces with them, and applies a reload that changes them', () =>
    withLab(3, async (lab) => {
      const files = [1, 2, 3].map((i) =>
        lab.writeConfig(i, config(lab, i, '{ class: 0x0102, type: 0x80, data: "00010002" }')),
      );
      const daemons = [];
      for (const i of [1, 2, 3]) daemons.push(await lab.startDaemonArgs(i, ['--config', files[i - 1]]));
      expect(daemons[0].log).toMatch(/MTU 1442/);
      const cap = await lab.capture(1, lab.dev(1), ['udp', 'port', '6081']);
      expectOk(await arping(lab, 1, 'tap-red', overlay(2)), 'arping h1 -> h2 through the group');
      for (const [from, to] of [
        [1, 2],
        [2, 3],
        [3, 1],
      ])
        expectOk(await ping(lab, from, overlay(to), 2), `ping h${from} -> h${to}`);
      const packets = genevePackets(await cap.stop());
      const requests = packets.filter((p) => p.src === lab.underlay(1) && p.arp?.op === 1);
      expect(requests.length).toBeGreaterThanOrEqual(1);
      for (const p of requests) expect(p.dst).toBe(GROUP); // once each, to the group, never per remote
      for (const p of packets) expect([p.vni, p.options, p.critical]).toEqual([VNI, [OVN_OPTION], true]);
      const trace = await vtepctl(
        '--socket',
        lab.socket(1),
        'trace',
        '--network',
        'red',
        '--in',
        lab.underlay(2),
        '--src',
        '02:00:00:00:cc:02',
        '--dst',
        'ff:ff:ff:ff:ff:ff',
      );
      expectOk(trace, 'trace');
      expect(trace.stdout).toMatch(
        /from the remote VTEP 10\.0\.0\.2, Geneve VNI 5001 port 6081 option class 0x0102 type 0x80 data 00010002/,
      );
      // A new option value on h1 alone: the peers accept it (they know the option, whatever its value), the MTU
      // follows the longer option, and the wire shows the new bytes.
      writeFileSync(files[0], config(lab, 1, '{ class: 0x0102, type: 0x80, data: "0001000200030004" }'));
      expectOk(await vtepctl('--socket', lab.socket(1), 'reload'), 'reload');
      expect(await lab.exec(1, 'cat', ['/sys/class/net/tap-red/mtu']).then((r) => r.stdout.trim())).toBe('1438');
      const after = await lab.capture(1, lab.dev(1), ['udp', 'port', '6081']);
      expectOk(await ping(lab, 1, overlay(3), 2), 'ping h1 -> h3 after the reload');
      const sent = genevePackets(await after.stop()).filter((p) => p.src === lab.underlay(1));
      expect(sent.length).toBeGreaterThanOrEqual(2);
      for (const p of sent) expect(p.options[0].data.toString('hex')).toBe('0001000200030004');
      // An unknown critical option from h1 is what h2 must refuse: h2 drops h1's packets once h1 sends one.
      writeFileSync(files[0], config(lab, 1, '{ class: 0x0103, type: 0x80, data: "00010002" }'));
      expectOk(await vtepctl('--socket', lab.socket(1), 'reload'), 'reload to an option h2 does not know');
      expect((await ping(lab, 1, overlay(2), 2)).code).not.toBe(0);
      expect((await stats(lab, 2)).drops['geneve-critical-option']).toBeGreaterThanOrEqual(2);
    }));
});

describe('Geneve path MTU', () => {
  it('answers a frame too big for the path with "fragmentation needed", the MTU leaving room for the options', () =>
    withLab(2, async (lab) => {
      for (const [i, peer] of [
        [1, 2],
        [2, 1],
      ]) {
        await lab.startDaemon(
          i,
          `
local: ${lab.underlay(i)}
socket: ${lab.socket(i)}
networks:
  red:
    tap: tap-red
    address: ${overlay(i)}/24
    mtu: 9000
    geneve: ${WITH_OPTION}
    remotes: [${lab.underlay(peer)}]
`,
        );
      }
      const fit = 1500 - 20 - 8 - 8 - 8 - 14; // IPv4, UDP, Geneve, OVN's option, Ethernet: 1442
      const big = await lab.exec(1, 'ping', ['-M', 'do', '-s', '2000', '-c', '1', '-W', '2', overlay(2)]);
      expect(big.stdout).toContain(`Frag needed and DF set (mtu = ${fit})`);
      expectOk(
        await lab.exec(1, 'ping', ['-M', 'do', '-s', String(fit - 28), '-c', '2', '-W', '2', overlay(2)]),
        'a ping that fits',
      );
      expect((await stats(lab)).networks.red.counters['pmtu-icmp-sent']).toBe(1);
    }));
});
