// GRE on a packet socket (gre-socket: packet, the default): vtepd writes the
// Ethernet and IP headers itself from the kernel's next hops, and falls back
// to the raw socket for what the packet socket cannot carry. These tests show
// what a packet on the wire looks like, that the next hop follows the
// kernel's tables (a neighbour that changes its MAC, a router in between),
// and that gre-socket: raw keeps the raw socket alone.
import { writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { grePackets } from '../../src/observe/dissect.ts';
import type { RemoteRow } from '../../src/control/protocol.ts';
import type { PcapRecord } from '../../src/wire/pcap.ts';
import { formatMac, readMac } from '../../src/wire/mac.ts';
import { sleep, type Lab } from '../../scripts/lab/lab.ts';
import { expectOk, overlay, ping, stats, transfer, vtepctl, withLab } from './helpers.ts';

const KEY = 77;

function redConfig(lab: Lab, i: number, peer: number, extra = ''): string {
  return `
local: ${lab.underlay(i)}
socket: ${lab.socket(i)}
networks:
  red:
    tap: tap-red
    address: ${overlay(i)}/24
    gre: { key: ${KEY} }
    remotes: [${lab.underlay(peer)}]
${extra}`;
}

async function macOf(lab: Lab, ns: string, dev: string): Promise<string> {
  const r = await lab.execIn(ns, 'cat', [`/sys/class/net/${dev}/address`]);
  expectOk(r, `MAC of ${dev}`);
  return r.stdout.trim();
}

/** The outer Ethernet destination and source of a captured frame. */
const macs = (r: PcapRecord) => [formatMac(readMac(r.data, 0)), formatMac(readMac(r.data, 6))];

/** Captured GRE packets that vtepd on host i sent. */
function sentBy(lab: Lab, i: number, records: PcapRecord[]): PcapRecord[] {
  const from = grePackets(records).map((p) => p.src);
  return records.filter((_, k) => from[k] === lab.underlay(i));
}

describe('GRE on a packet socket', () => {
  it('sends through the packet socket once the kernel knows the neighbour, the headers those of the kernel; 8 MB of TCP each way', () =>
    withLab(2, async (lab) => {
      await lab.ovs(2, { type: 'gre', key: KEY, remote: lab.underlay(1), address: `${overlay(2)}/24`, mtu: 1458 });
      await lab.startDaemon(1, redConfig(lab, 1, 2));
      // The kernel forgets the peer: the first packet must go by the raw socket, which resolves it.
      expectOk(await lab.exec(1, 'ip', ['neigh', 'flush', 'dev', lab.dev(1)]), 'neigh flush');
      const cap = await lab.capture(1, lab.dev(1), ['ip', 'proto', 'gre']);
      expectOk(await ping(lab, 1, overlay(2), 4), 'ping vtepd -> OVS');
      expectOk(await ping(lab, 2, overlay(1), 4), 'ping OVS -> vtepd');
      const [out, outGot] = await transfer(lab, 1, 2);
      expect(outGot).toBe(out);
      const [back, backGot] = await transfer(lab, 2, 1);
      expect(backGot).toBe(back);
      const records = await cap.stop();
      // Every packet is well formed (the outer IPv4 checksum verified), with the kernel's TTL and OVS's DF.
      expect(grePackets(records).length).toBe(records.length);
      const sent = grePackets(records).filter((p) => p.src === lab.underlay(1));
      expect(sent.length).toBeGreaterThan(1000);
      for (const p of sent) expect([p.ip.ttl, p.ip.df, p.key, p.dst]).toEqual([64, true, KEY, lab.underlay(2)]);
      // From our veth's MAC to the peer's, as the kernel's neighbour entry says (OVS answers ARP with u2's MAC).
      const expected = [await macOf(lab, lab.ns(2), lab.dev(2)), await macOf(lab, lab.ns(1), lab.dev(1))];
      const wrong = sentBy(lab, 1, records).filter((r) => macs(r).join() !== expected.join());
      expect(wrong.map(macs)).toEqual([]);
      const g = (await stats(lab)).networks.red['gre-socket']!;
      expect(g).toMatchObject({ mode: 'packet', 'remotes-packet': 1, 'remotes-raw': 0 });
      // The first packet went by the raw socket (the kernel resolved the neighbour for it); the bulk by the packet socket.
      expect(g['raw-tx']).toBeGreaterThanOrEqual(1);
      expect(g['packet-tx']).toBeGreaterThan(sent.length - 100);
      const text = await vtepctl('--socket', lab.socket(1), 'stats');
      expect(text.stdout).toMatch(
        /socket {2}packet: \d+ packets by the packet socket, \d+ by the raw socket; remotes 1 by packet, 0 by raw/,
      );
    }));

  it('follows a neighbour whose MAC changes: its gratuitous ARP updates the kernel, and vtepd sends to the new MAC', () =>
    withLab(2, async (lab) => {
      await lab.startDaemon(2, redConfig(lab, 2, 1));
      await lab.startDaemon(1, redConfig(lab, 1, 2));
      expectOk(await ping(lab, 1, overlay(2), 2), 'ping before');
      // The kernel takes a new MAC for an entry only after its locktime (1 s) has passed.
      await sleep(1500);
      const fresh = '02:00:00:00:99:02';
      expectOk(await lab.exec(2, 'sysctl', ['-qw', `net.ipv4.conf.${lab.dev(2)}.arp_notify=1`]), 'arp_notify');
      expectOk(await lab.exec(2, 'ip', ['link', 'set', 'dev', lab.dev(2), 'address', fresh]), 'new MAC on h2');
      await sleep(500);
      expect((await lab.exec(1, 'ip', ['neigh', 'show', lab.underlay(2)])).stdout).toContain(fresh);
      const cap = await lab.capture(1, lab.dev(1), ['ip', 'proto', 'gre']);
      expectOk(await ping(lab, 1, overlay(2), 3), 'ping after the MAC changed');
      const sent = sentBy(lab, 1, await cap.stop());
      expect(sent.length).toBeGreaterThanOrEqual(3);
      for (const r of sent) expect(macs(r)[0]).toBe(fresh);
      expect((await stats(lab)).networks.red['gre-socket']).toMatchObject({ mode: 'packet', 'remotes-packet': 1 });
    }));

  it('finds a neighbour that changed its MAC silently: the stale entry is checked again by a raw send, and the kernel finds the new MAC', () =>
    withLab(2, async (lab) => {
      // Short neighbour timers on h1, so that the kernel's checks happen within seconds.
      for (const [k, v] of [
        ['base_reachable_time_ms', '1000'],
        ['delay_first_probe_time', '1'],
        ['retrans_time_ms', '200'],
      ]) {
        expectOk(await lab.exec(1, 'sysctl', ['-qw', `net.ipv4.neigh.${lab.dev(1)}.${k}=${v}`]), k);
      }
      await lab.startDaemon(2, redConfig(lab, 2, 1));
      await lab.startDaemon(1, redConfig(lab, 1, 2));
      expectOk(await ping(lab, 1, overlay(2), 2), 'ping before');
      // h2 never ARPs for h1 (which would tell h1's kernel the new MAC): only h1's own checks can find it.
      const h1Mac = await macOf(lab, lab.ns(1), lab.dev(1));
      expectOk(
        await lab.exec(2, 'ip', [
          'neigh',
          'replace',
          lab.underlay(1),
          'lladdr',
          h1Mac,
          'nud',
          'permanent',
          'dev',
          lab.dev(2),
        ]),
        'permanent entry on h2',
      );
      const fresh = '02:00:00:00:99:02';
      expectOk(
        await lab.exec(2, 'ip', ['link', 'set', 'dev', lab.dev(2), 'address', fresh]),
        'new MAC on h2, no gratuitous ARP',
      );
      let recovered = -1;
      for (let t = 0; t < 20 && recovered < 0; t++) {
        if ((await lab.exec(1, 'ping', ['-c', '1', '-W', '1', overlay(2)])).code === 0) recovered = t;
      }
      expect(recovered, 'pings answered again within 20 tries').toBeGreaterThanOrEqual(0);
      const cap = await lab.capture(1, lab.dev(1), ['ip', 'proto', 'gre']);
      expectOk(await ping(lab, 1, overlay(2), 3), 'ping after');
      const sent = sentBy(lab, 1, await cap.stop());
      expect(sent.length).toBeGreaterThanOrEqual(3);
      for (const r of sent) expect(macs(r)[0]).toBe(fresh);
      const g = (await stats(lab)).networks.red['gre-socket']!;
      expect(g['remotes-packet']).toBe(1);
      expect(g['raw-tx']).toBeGreaterThanOrEqual(2); // the first packet, and at least one check of a stale entry
    }));

  it("sends to a router's MAC when the route goes through it, and learns the path MTU from the router's ICMP", () =>
    withLab(2, async (lab) => {
      await lab.routeThrough(2, 1400);
      await lab.startDaemon(2, redConfig(lab, 2, 1));
      await lab.startDaemon(1, redConfig(lab, 1, 2));
      expectOk(await ping(lab, 1, overlay(2), 2), 'ping through the router');
      const cap = await lab.capture(1, lab.dev(1), ['ip', 'proto', 'gre']);
      // 1400 + 28 inner, + 14 + 8 + 20 outer = 1470: too big for the router's 1400 hop.
      await lab.exec(1, 'ping', ['-M', 'do', '-s', '1400', '-c', '2', '-W', '1', overlay(2)]);
      const sent = sentBy(lab, 1, await cap.stop());
      const routerMac = await macOf(lab, `${lab.prefix}-rt`, 'ra');
      expect(sent.length).toBeGreaterThanOrEqual(1);
      for (const r of sent) expect(macs(r)[0]).toBe(routerMac);
      const rows = JSON.parse(
        (await vtepctl('--socket', lab.socket(1), 'remote', 'show', '--json')).stdout,
      ) as RemoteRow[];
      expect([rows[0].pmtu, rows[0]['pmtu-learned']]).toEqual([1400, true]);
      const [out, got] = await transfer(lab, 1, 2);
      expect(got).toBe(out);
      expect((await stats(lab)).networks.red['gre-socket']!['packet-tx']).toBeGreaterThan(1000);
    }));

  it('gre-socket: raw sends by the raw socket alone; a reload to packet restarts the network on the packet socket', () =>
    withLab(2, async (lab) => {
      await lab.ovs(2, { type: 'gre', key: KEY, remote: lab.underlay(1), address: `${overlay(2)}/24`, mtu: 1458 });
      const file = lab.writeConfig(1, redConfig(lab, 1, 2, '    gre-socket: raw\n'));
      await lab.startDaemonArgs(1, ['--config', file]);
      expectOk(await ping(lab, 1, overlay(2), 3), 'ping with gre-socket raw');
      expect((await stats(lab)).networks.red['gre-socket']).toEqual({ mode: 'raw' });
      expect((await vtepctl('--socket', lab.socket(1), 'stats')).stdout).toContain('socket  raw (gre-socket raw)');
      writeFileSync(file, redConfig(lab, 1, 2, '    gre-socket: packet\n'));
      const r = await vtepctl('--socket', lab.socket(1), 'reload');
      expectOk(r, 'reload');
      expect(r.stdout).toMatch(/network red restarted \(gre-socket changed\)/);
      expectOk(await ping(lab, 1, overlay(2), 3), 'ping with gre-socket packet');
      expect((await stats(lab)).networks.red['gre-socket']!['packet-tx']).toBeGreaterThan(0);
    }));
});
