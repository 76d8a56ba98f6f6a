// `vtepctl capture`: what the daemon read and sent, as a pcap that tshark
// reads, with the inner frame and the tunnel packet of one event side by side.
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { sh, type Lab } from '../../scripts/lab/lab.ts';
import { decodeVxlan } from '../../src/observe/dissect.ts';
import { parsePcap } from '../../src/wire/pcap.ts';
import { blueConfig, expectOk, kernelPeers, overlay, ping, streamsConnected, vtepctl, withLab } from './helpers.ts';

/** Both hosts know each other's overlay MAC for good: no ARP or neighbour probe joins the captured pings. */
async function quietNeighbours(lab: Lab): Promise<void> {
  expectOk(await ping(lab, 1, overlay(2), 1), 'warm-up ping');
  const mac = (i: number, dev: string) =>
    lab.exec(i, 'cat', [`/sys/class/net/${dev}/address`]).then((r) => r.stdout.trim());
  expectOk(
    await lab.exec(1, 'ip', [
      'neigh',
      'replace',
      overlay(2),
      'lladdr',
      await mac(2, 'vx0'),
      'dev',
      'tap-blue',
      'nud',
      'permanent',
    ]),
    'neigh h1',
  );
  expectOk(
    await lab.exec(2, 'ip', [
      'neigh',
      'replace',
      overlay(1),
      'lladdr',
      await mac(1, 'tap-blue'),
      'dev',
      'vx0',
      'nud',
      'permanent',
    ]),
    'neigh h2',
  );
}

describe('vtepctl capture', () => {
  it('writes a pcap of both sides that tshark reads: each ping as TAP frame and VXLAN packet', () =>
    withLab(2, async (lab) => {
      await kernelPeers(lab, [2], { ttl: 33 }); // an outer TTL of its own, to tell the received one from a default
      await lab.startDaemon(1, blueConfig(lab, '', [2]));
      await quietNeighbours(lab);
      const file = join(lab.dir, 'capture.pcap');
      const cap = vtepctl('--socket', lab.socket(1), 'capture', '--network', 'blue', '--count', '8', '-w', file);
      await streamsConnected(lab, 1, 1);
      expectOk(await ping(lab, 1, overlay(2), 2), 'ping');
      const r = await cap;
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr).toMatch(/8 packets captured/);
      const pcap = parsePcap(readFileSync(file));
      if (typeof pcap === 'number') throw new Error('unreadable pcap');
      expect(pcap.records).toHaveLength(8);
      // Per echo: tap rx (request), tunnel tx (request), tunnel rx (reply), tap tx (reply).
      const [tapRx, tunnelTx, tunnelRx, tapTx] = pcap.records.map((x) => x.data);
      const sent = decodeVxlan(tunnelTx);
      const received = decodeVxlan(tunnelRx);
      expect(sent?.inner.equals(tapRx)).toBe(true);
      expect(received?.inner.equals(tapTx)).toBe(true);
      expect([sent?.src, sent?.dst, sent?.vni, sent?.ip.ttl]).toEqual([lab.underlay(1), lab.underlay(2), 42, 64]);
      expect([received?.src, received?.dst, received?.ip.ttl]).toEqual([lab.underlay(2), lab.underlay(1), 33]);
      // A sent packet's MACs are its next hop's, as on the wire: h1's underlay interface to h2's.
      const underlayMac = async (i: number) =>
        (await lab.exec(i, 'cat', [`/sys/class/net/${lab.dev(i)}/address`])).stdout.trim().replace(/:/g, '');
      expect(tunnelTx.subarray(0, 12).toString('hex')).toBe((await underlayMac(2)) + (await underlayMac(1)));
      const t = await sh('tshark', ['-r', file, '-T', 'fields', '-e', 'frame.protocols']);
      expect(t.code, t.stderr).toBe(0);
      const protocols = t.stdout.trim().split('\n');
      expect(protocols).toHaveLength(8);
      expect(protocols.filter((p) => p.includes('vxlan'))).toHaveLength(4);
      expect(
        protocols.every((p) => /:icmp(:data)?$/.test(p)),
        protocols.join('\n'),
      ).toBe(true);
      expect((await sh('tshark', ['-r', file, '-Y', '_ws.malformed'])).stdout.trim()).toBe('');
    }));

  it('prints one line a packet without -w, and captures one side only with --side', () =>
    withLab(2, async (lab) => {
      await kernelPeers(lab, [2]);
      await lab.startDaemon(1, blueConfig(lab, '', [2]));
      await quietNeighbours(lab);
      const cap = vtepctl('--socket', lab.socket(1), 'capture', '--side', 'tunnel', '--count', '4');
      await streamsConnected(lab, 1, 1);
      expectOk(await ping(lab, 1, overlay(2), 2), 'ping');
      const r = await cap;
      expect(r.code, r.stderr).toBe(0);
      const lines = r.stdout.trim().split('\n');
      expect(lines).toHaveLength(4);
      for (const l of lines)
        expect(l).toMatch(
          /^\d\d:\d\d:\d\d\.\d{6} blue tunnel (rx|tx) \d+ 10\.0\.0\.\d:\d+ > 10\.0\.0\.\d:4789 ttl \d+ VXLAN vni 42: .* ICMP/,
        );
    }));

  it('refuses a bad side or count, and an unknown network, with exit 2', () =>
    withLab(1, async (lab) => {
      await lab.startDaemon(1, blueConfig(lab, '', []));
      expect((await vtepctl('--socket', lab.socket(1), 'capture', '--side', 'up')).code).toBe(2);
      expect((await vtepctl('--socket', lab.socket(1), 'capture', '--count', '0')).code).toBe(2);
      const r = await vtepctl('--socket', lab.socket(1), 'capture', '--network', 'nope', '-c', '1');
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/no network named "nope"/);
    }));
});
