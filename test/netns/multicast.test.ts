// Multicast group mode: BUM frames go once to a group instead of once per
// remote, as the Linux VXLAN device does with `group 239.1.1.1 dev ...`. The
// lab's underlay is one bridge, so the group reaches every host.
import { describe, expect, it } from 'vitest';
import { vxlanPackets } from '../../src/observe/dissect.ts';
import type { Lab } from '../../scripts/lab/lab.ts';
import { ArpOp } from '../../src/wire/arp.ts';
import { parseIpv4Address } from '../../src/wire/ipv4.ts';
import { arping, expectOk, fdb, kernelMac, overlay, ping, stats, VNI, withLab } from './helpers.ts';

const GROUP = '239.1.1.1';

async function groupPeers(
  lab: Lab,
  hosts: number[],
  o: { vni?: number; net?: number; dev?: string } = {},
): Promise<void> {
  for (const i of hosts) {
    await lab.kernelVxlan(i, {
      vni: o.vni ?? VNI,
      dev: o.dev,
      group: GROUP,
      address: `${overlay(i, o.net)}/24`,
      mac: kernelMac(i, o.net === undefined ? 0 : o.net - 100),
    });
  }
}

function groupConfig(lab: Lab, network: string): string {
  return `
local: ${lab.underlay(1)}
socket: ${lab.socket(1)}
networks:
${network}`;
}

const blue = (lab: Lab, extra = '') => `  blue:
    tap: tap-blue
    address: ${overlay(1)}/24
    vxlan: { vni: ${VNI} }
    group: { address: ${GROUP}, dev: ${lab.dev(1)}, ttl: 3 }
${extra}`;

describe('multicast group mode against kernel VXLAN devices in group mode', () => {
  it('resolves and pings both ways, sends the ARP request once to the group with its TTL, and learns both VTEPs', () =>
    withLab(3, async (lab) => {
      await groupPeers(lab, [2, 3]);
      const d = await lab.startDaemon(1, groupConfig(lab, blue(lab)));
      expect(d.log).toMatch(/group 239\.1\.1\.1 on u1 ttl 3/);
      const cap = await lab.capture(1, lab.dev(1), ['udp', 'port', '4789']);
      expectOk(await arping(lab, 1, 'tap-blue', overlay(2)), 'arping h1 -> h2');
      const packets = vxlanPackets(await cap.stop());
      const requests = packets.filter((p) => p.src === lab.underlay(1) && p.arp?.op === ArpOp.Request);
      expect(requests).toHaveLength(1);
      expect(requests[0].dst).toBe(GROUP);
      expect(requests[0].ip.ttl).toBe(3);
      expect(requests[0].vni).toBe(VNI);
      const replies = packets.filter(
        (p) => p.arp?.op === ArpOp.Reply && p.arp.senderIp === parseIpv4Address(overlay(2)),
      );
      expect(replies.length).toBeGreaterThanOrEqual(1);
      for (const r of replies) expect([r.src, r.dst]).toEqual([lab.underlay(2), lab.underlay(1)]); // unicast back

      expectOk(await arping(lab, 3, 'vx0', overlay(1)), 'arping h3 -> h1');
      expectOk(await ping(lab, 1, overlay(2)), 'ping h1 -> h2');
      expectOk(await ping(lab, 1, overlay(3)), 'ping h1 -> h3');
      expectOk(await ping(lab, 2, overlay(1)), 'ping h2 -> h1');
      expectOk(await ping(lab, 3, overlay(1)), 'ping h3 -> h1');
      const rows = await fdb(lab);
      expect(rows).toEqual(
        expect.arrayContaining([
          expect.objectContaining({ mac: kernelMac(2), remote: lab.underlay(2), static: false }),
          expect.objectContaining({ mac: kernelMac(3), remote: lab.underlay(3), static: false }),
        ]),
      );
      // Our own group packets are not looped back to us: nothing is learned behind our own address.
      expect(rows.map((r) => r.remote)).not.toContain(lab.underlay(1));
      const s = await stats(lab);
      expect(Object.keys(s.networks.blue.remotes)).not.toContain(lab.underlay(1));
      expect(s.networks.blue.macs.moved).toBe(0);
      expect(s.networks.blue.group).toBe(GROUP);
      expect(s.networks.blue.counters['group-tx-packets']).toBeGreaterThanOrEqual(1);
    }));

  it('with remotes as well, floods to the group and to each listed remote', () =>
    withLab(4, async (lab) => {
      await groupPeers(lab, [2, 3]);
      // h4 is reachable only by unicast (a kernel VTEP with a unicast remote).
      await lab.kernelVxlan(4, {
        vni: VNI,
        address: `${overlay(4)}/24`,
        mac: kernelMac(4),
        remotes: [lab.underlay(1)],
      });
      await lab.startDaemon(1, groupConfig(lab, blue(lab, `    remotes: [${lab.underlay(4)}]\n`)));
      const cap = await lab.capture(1, lab.dev(1), ['udp', 'port', '4789']);
      expectOk(await arping(lab, 1, 'tap-blue', overlay(4)), 'arping h1 -> h4');
      const requests = vxlanPackets(await cap.stop()).filter(
        (p) => p.src === lab.underlay(1) && p.arp?.op === ArpOp.Request,
      );
      expect(requests.map((p) => p.dst).sort()).toEqual([lab.underlay(4), GROUP].sort());
      expectOk(await ping(lab, 1, overlay(4)), 'ping h1 -> h4 (unicast only)');
      expectOk(await ping(lab, 1, overlay(2)), 'ping h1 -> h2 (group)');
    }));

  it('accepts only the VTEPs an allow list names', () =>
    withLab(3, async (lab) => {
      await groupPeers(lab, [2, 3]);
      await lab.startDaemon(1, groupConfig(lab, blue(lab, `    allow: [${lab.underlay(2)}]\n`)));
      expectOk(await ping(lab, 2, overlay(1)), 'ping from the allowed h2');
      expect((await ping(lab, 3, overlay(1), 2)).code).not.toBe(0);
      const s = await stats(lab);
      expect(s.networks.blue.drops['unknown-remote']).toBeGreaterThan(0);
      expect(Object.keys(s.networks.blue.remotes)).not.toContain(lab.underlay(3));
    }));

  it('lets networks share a group, each accepting only its own VNI', () =>
    withLab(3, async (lab) => {
      await groupPeers(lab, [2, 3], { vni: 42, net: 100, dev: 'vx42' });
      await groupPeers(lab, [2, 3], { vni: 43, net: 101, dev: 'vx43' });
      await lab.startDaemon(
        1,
        groupConfig(
          lab,
          `${blue(lab)}
  green:
    tap: tap-green
    address: ${overlay(1, 101)}/24
    vxlan: { vni: 43 }
    group: { address: ${GROUP}, dev: ${lab.dev(1)} }
`,
        ),
      );
      expectOk(await ping(lab, 2, overlay(1, 100)), 'ping blue');
      expectOk(await ping(lab, 3, overlay(1, 101)), 'ping green');
      const rows = await fdb(lab);
      expect(rows.filter((r) => r.network === 'blue').map((r) => r.mac)).toContain(kernelMac(2, 0));
      expect(rows.filter((r) => r.network === 'blue').map((r) => r.mac)).not.toContain(kernelMac(3, 1));
      expect(rows.filter((r) => r.network === 'green').map((r) => r.mac)).toContain(kernelMac(3, 1));
      expect(rows.filter((r) => r.network === 'green').map((r) => r.mac)).not.toContain(kernelMac(2, 0));
    }));

  it('refuses a group on an interface that does not exist, exit 2', () =>
    withLab(1, async (lab) => {
      const r = await lab.runDaemon(1, [
        '--local',
        lab.underlay(1),
        '--tap',
        'tap0',
        '--vni',
        '42',
        '--group',
        GROUP,
        '--dev',
        'nosuch0',
        '--socket',
        lab.socket(1),
      ]);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/group\.dev: no interface "nosuch0"/);
    }));
});
