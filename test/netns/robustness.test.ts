// Bad input from the underlay: every malformed, unexpected or unauthorised
// packet is dropped and counted by reason, and the daemon keeps forwarding.
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT, sh, type Lab } from '../../scripts/lab/lab.ts';
import { blueConfig, expectOk, kernelPeers, overlay, ping, stats, withLab } from './helpers.ts';

const SEND = join(ROOT, 'scripts/lab/udp-send.mjs');
const FRAME = 'ffffffffffff' + '02bb00000001' + '0800' + '00'.repeat(46);

function send(lab: Lab, from: number, hex: string) {
  return lab.exec(from, 'node', [SEND, lab.underlay(from), lab.underlay(1), '4789', hex]);
}

describe('bad input from the underlay', () => {
  it('drops malformed packets and counts each by reason', () =>
    withLab(3, async (lab) => {
      await kernelPeers(lab, [2]);
      await lab.startDaemon(1, blueConfig(lab, '', [2]));
      const cases: [number, string][] = [
        [2, '0c000000' + '00002a00' + FRAME], // bad flags (I plus a reserved flag)
        [2, '0800'], // truncated VXLAN header
        [2, '08000000' + '0003e700' + FRAME], // VNI 999: no such network
        [2, '08000000' + '00002a00' + 'ffffffffffff'], // VNI 42, inner frame truncated
        [2, '08000000' + '00002a00' + 'ffffffffffff' + '01bb00000001' + '0800' + '00'.repeat(46)], // group source MAC
        [3, '08000000' + '00002a00' + FRAME], // VNI 42 from 10.0.0.3, not a remote of blue
        [2, ''], // a datagram of no bytes at all
        [2, '08000000' + '00002a00' + 'ffffffffffff' + '000000000000' + '0800' + '00'.repeat(46)], // all-zero source MAC
        // An inner frame of 1469 bytes: one more than a 1450-MTU TAP takes with a VLAN tag (the sender's kernel fragments it)
        [2, '08000000' + '00002a00' + 'ffffffffffff' + '02bb00000001' + '0800' + '00'.repeat(1469 - 14)],
      ];
      for (const [from, hex] of cases) expectOk(await send(lab, from, hex), `send ${hex.slice(0, 16)}`);
      expectOk(await ping(lab, 1, overlay(2)), 'ping after the bad packets');
      const s = await stats(lab);
      expect(s.drops).toMatchObject({ 'bad-flags': 1, truncated: 2, 'unknown-vni': 1 });
      expect(s.networks.blue.drops).toMatchObject({ truncated: 1, 'bad-src-mac': 2, 'unknown-remote': 1, oversize: 1 });
      expect(s.networks.blue.counters['tap-tx-frames'], "only the pings' frames reached the TAP").toBeLessThanOrEqual(
        6,
      );
    }));

  it('takes GRE whose outer header has a Record Route option the receiving kernel wrote into', () =>
    withLab(2, async (lab) => {
      await lab.startDaemonArgs(1, [
        '--local',
        lab.underlay(1),
        '--tap',
        'tap-gre',
        '--gre-key',
        '77',
        '--remote',
        lab.underlay(2),
        '--socket',
        lab.socket(1),
      ]);
      // Room for two addresses: the sender records its own, h1's kernel the second, without computing the checksum again.
      const rr = '07 0b 04 00 00 00 00 00 00 00 00 00'.replace(/ /g, '');
      const greFrame = '20006558' + '0000004d' + 'ffffffffffff' + '02bb00000001' + '0800' + '00'.repeat(46);
      const py =
        `import socket,binascii;s=socket.socket(socket.AF_INET,socket.SOCK_RAW,47);s.bind(('${lab.underlay(2)}',0));` +
        `s.setsockopt(socket.IPPROTO_IP,socket.IP_OPTIONS,binascii.unhexlify('${rr}'));s.sendto(binascii.unhexlify('${greFrame}'),('${lab.underlay(1)}',0))`;
      expectOk(await lab.exec(2, 'python3', ['-c', py]), 'send GRE with Record Route');
      expectOk(await lab.exec(2, 'ping', ['-c', '1', '-W', '1', lab.underlay(1)]), 'an underlay ping behind it');
      const s = await stats(lab);
      expect(s.drops['bad-checksum']).toBe(0);
      expect(s.networks['tap-gre'].counters['tunnel-rx-packets']).toBe(1);
      expect(s.networks['tap-gre'].counters['tap-tx-frames']).toBe(1);
    }));

  it('survives a burst of random datagrams and still forwards', () =>
    withLab(2, async (lab) => {
      await kernelPeers(lab, [2]);
      const d = await lab.startDaemon(1, blueConfig(lab, '', [2]));
      for (let i = 0; i < 40; i++) {
        const junk = randomBytes(1 + ((i * 37) % 300));
        if (i % 2 === 0 && junk.length >= 4) junk.writeUInt32BE(0x08000000, 0); // half of them get past the flag check
        if (i % 4 === 0 && junk.length >= 8) junk.writeUInt32BE(0x00002a00, 4);
        expectOk(await send(lab, 2, junk.toString('hex')), 'send junk');
      }
      expectOk(await ping(lab, 1, overlay(2)), 'ping after the junk');
      expect(d.proc.exitCode).toBeNull();
    }));

  it('drops inner packets with partial checksums and names the VTEP that sent them', () =>
    withLab(2, async (lab) => {
      await kernelPeers(lab, [2]);
      const d = await lab.startDaemon(1, blueConfig(lab, '', [2]));
      expectOk(await ping(lab, 1, overlay(2)), 'ping: ICMP checksums are never left partial');
      const udp = () => lab.exec(2, 'node', [SEND, overlay(2), overlay(1), '9999', 'c0ffee']);
      // The lab's veths run `tx off`: h2's kernel VTEP completes its checksums, nothing is refused.
      expectOk(await udp(), 'UDP from h2 with complete checksums');
      expectOk(await ping(lab, 2, overlay(1), 1), 'ping behind it: the datagram has been handled');
      expect((await stats(lab)).networks.blue.drops['partial-checksum']).toBe(0);
      // The trap: TX checksum offload on h2's veth and on the switch port to h1, so that h2's kernel
      // VTEP leaves inner checksums to a NIC and nothing on the way fills them in.
      expectOk(await lab.exec(2, 'ethtool', ['-K', lab.dev(2), 'tx', 'on']), 'ethtool tx on (h2)');
      expectOk(
        await sh('ip', ['netns', 'exec', lab.switchNs, 'ethtool', '-K', 'p1', 'tx', 'on']),
        'ethtool tx on (switch)',
      );
      expectOk(await udp(), 'UDP from h2 with a partial checksum');
      expectOk(await ping(lab, 2, overlay(1), 1), 'ping behind it: the datagram has been handled');
      const s = await stats(lab);
      expect(s.networks.blue.drops['partial-checksum']).toBe(1);
      expect(s.networks.blue.drops['tx-failed']).toBe(0);
      expect(d.log).toMatch(
        new RegExp(
          `network blue: dropped inner TCP/UDP packets from VTEP ${lab.underlay(2).replace(/\./g, '\\.')} .*ethtool -K DEV tx off`,
        ),
      );
    }));

  it('learns a VTEP that is not listed only with accept-any-remote', () =>
    withLab(3, async (lab) => {
      await kernelPeers(lab, [2, 3]);
      await lab.startDaemon(1, blueConfig(lab, '    accept-any-remote: true\n', [2]));
      expectOk(await ping(lab, 3, overlay(1)), 'ping from the unlisted VTEP h3');
      const s = await stats(lab);
      expect(s.networks.blue.remotes[lab.underlay(3)]).toMatchObject({ kind: 'learned' });
      expect(s.networks.blue.remotes[lab.underlay(3)]['rx-packets']).toBeGreaterThan(0);
    }));

  it('refuses an unlisted VTEP by default', () =>
    withLab(3, async (lab) => {
      await kernelPeers(lab, [2, 3]);
      await lab.startDaemon(1, blueConfig(lab, '', [2]));
      expect((await ping(lab, 3, overlay(1), 2)).code).not.toBe(0);
      expect((await stats(lab)).networks.blue.drops['unknown-remote']).toBeGreaterThan(0);
    }));
});
