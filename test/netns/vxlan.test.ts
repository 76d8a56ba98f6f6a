// vtepd against the Linux kernel's VXLAN device, in a lab of namespaces:
// h1 runs vtepd, h2 and h3 the kernel (head-end replication to each other).
import { describe, expect, it } from 'vitest';
import { vxlanPackets } from '../../src/control/dissect.ts';
import { sleep } from '../../scripts/lab/lab.ts';
import { ArpOp } from '../../src/wire/arp.ts';
import { parseIpv4Address } from '../../src/wire/ipv4.ts';
import {
  arping, blueConfig, expectOk, fdb, kernelMac, kernelPeers, overlay, ping, stats, VNI, withLab,
} from './helpers.ts';

const ICMP = 1;

describe('vtepd with kernel VXLAN peers', () => {
  it('answers ping and arping both ways', () => withLab(3, async (lab) => {
    await kernelPeers(lab, [2, 3]);
    const d = await lab.startDaemon(1, blueConfig(lab));
    expectOk(await ping(lab, 1, overlay(2)), 'ping h1 -> h2');
    expectOk(await ping(lab, 1, overlay(3)), 'ping h1 -> h3');
    expectOk(await ping(lab, 2, overlay(1)), 'ping h2 -> h1');
    expectOk(await ping(lab, 3, overlay(1)), 'ping h3 -> h1');
    expectOk(await arping(lab, 1, 'tap-blue', overlay(2)), 'arping h1 -> h2');
    expectOk(await arping(lab, 3, 'vx0', overlay(1)), 'arping h3 -> h1');
    const rows = await fdb(lab);
    expect(rows).toEqual(expect.arrayContaining([
      expect.objectContaining({ mac: kernelMac(2), network: 'blue', remote: lab.underlay(2), static: false }),
      expect.objectContaining({ mac: kernelMac(3), network: 'blue', remote: lab.underlay(3), static: false }),
      expect.objectContaining({ network: 'blue', remote: null, static: false }),
    ]));
    expect(await d.stop()).toBe(0);
  }));

  it('sends a broadcast from its side as exactly one unicast VXLAN packet per remote', () => withLab(3, async (lab) => {
    await kernelPeers(lab, [2, 3]);
    await lab.startDaemon(1, blueConfig(lab));
    const cap = await lab.capture(1, lab.dev(1), ['udp', 'port', '4789']);
    expectOk(await arping(lab, 1, 'tap-blue', overlay(2)), 'arping h1 -> h2');
    const requests = vxlanPackets(await cap.stop())
      .filter((p) => p.src === lab.underlay(1) && p.arp?.op === ArpOp.Request && p.arp.targetIp === parseIpv4Address(overlay(2)));
    expect(requests.map((p) => p.dst).sort()).toEqual([lab.underlay(2), lab.underlay(3)]);
    for (const p of requests) {
      expect(p.vni).toBe(VNI);
      expect(p.udp.dstPort).toBe(4789);
      expect(p.ip.ttl).toBe(64);
      expect(p.eth.dst).toBe(0xffffffffffff);
    }
  }));

  it('after learning, sends unicast to the one VTEP behind the destination', () => withLab(3, async (lab) => {
    await kernelPeers(lab, [2, 3]);
    await lab.startDaemon(1, blueConfig(lab));
    expectOk(await ping(lab, 1, overlay(2), 1), 'first ping h1 -> h2 (learning)');
    const cap = await lab.capture(1, lab.dev(1), ['udp', 'port', '4789']);
    expectOk(await ping(lab, 1, overlay(2), 5), 'ping h1 -> h2');
    const out = vxlanPackets(await cap.stop()).filter((p) => p.src === lab.underlay(1) && p.innerProto === ICMP);
    expect(out.length).toBeGreaterThanOrEqual(5);
    expect(new Set(out.map((p) => p.dst))).toEqual(new Set([lab.underlay(2)]));
  }));

  it('uses a static entry without flooding', () => withLab(3, async (lab) => {
    await kernelPeers(lab, [2, 3]);
    await lab.startDaemon(1, blueConfig(lab, `    static:\n      - { mac: "${kernelMac(2)}", remote: ${lab.underlay(2)} }\n`));
    // With the neighbour known, h1 sends no ARP: every frame it sends is unicast to the static MAC.
    expectOk(await lab.exec(1, 'ip', ['neigh', 'replace', overlay(2), 'lladdr', kernelMac(2), 'dev', 'tap-blue', 'nud', 'permanent']), 'ip neigh');
    const cap = await lab.capture(1, lab.dev(1), ['udp', 'port', '4789']);
    expectOk(await ping(lab, 1, overlay(2)), 'ping h1 -> h2');
    const sent = vxlanPackets(await cap.stop()).filter((p) => p.src === lab.underlay(1));
    expect(sent.length).toBeGreaterThanOrEqual(3);
    expect(new Set(sent.map((p) => p.dst))).toEqual(new Set([lab.underlay(2)]));
    const s = await stats(lab);
    expect(s.networks.blue.counters['flooded-frames']).toBe(0);
    expect(await fdb(lab)).toContainEqual(expect.objectContaining({ mac: kernelMac(2), remote: lab.underlay(2), static: true }));
  }));

  it('ages out an idle entry after `ageing` seconds', () => withLab(3, async (lab) => {
    await kernelPeers(lab, [2, 3]);
    await lab.startDaemon(1, blueConfig(lab, '    ageing: 2\n'));
    // A source MAC that speaks once and then is silent (the hosts' own MACs are kept alive by neighbour probes).
    const quiet = '02:aa:00:00:00:02';
    expectOk(await lab.exec(2, 'arping', ['-c', '1', '-w', '3', '-s', quiet, '-i', 'vx0', overlay(1)]), 'arping from a one-off MAC');
    expect(await fdb(lab)).toContainEqual(expect.objectContaining({ mac: quiet, remote: lab.underlay(2) }));
    await sleep(4500);
    expect((await fdb(lab)).map((r) => r.mac)).not.toContain(quiet);
    expect((await stats(lab)).networks.blue.macs.aged).toBeGreaterThanOrEqual(1);
  }));

  it('keeps two networks apart', () => withLab(3, async (lab) => {
    // blue = VNI 42 on 192.168.100.0/24, red = VNI 43 on 192.168.101.0/24; h2 and h3 carry both.
    for (const [vni, net, dev] of [[42, 100, 'vx42'], [43, 101, 'vx43']] as const) {
      await kernelPeers(lab, [2, 3], { vni, net, dev });
    }
    await lab.startDaemon(1, `
local: ${lab.underlay(1)}
socket: ${lab.socket(1)}
networks:
  blue: { tap: tap-blue, address: ${overlay(1, 100)}/24, vxlan: { vni: 42 }, remotes: [${lab.underlay(2)}, ${lab.underlay(3)}] }
  red:  { tap: tap-red,  address: ${overlay(1, 101)}/24, vxlan: { vni: 43 }, remotes: [${lab.underlay(2)}, ${lab.underlay(3)}] }
`);
    expectOk(await ping(lab, 1, overlay(2, 100)), 'ping blue');
    expectOk(await ping(lab, 1, overlay(3, 101)), 'ping red');
    const blueTap = await lab.capture(1, 'tap-blue');
    const redTap = await lab.capture(1, 'tap-red');
    const redKernel = await lab.capture(2, 'vx43');
    expectOk(await arping(lab, 1, 'tap-blue', overlay(2, 100), 2), 'arping on blue from h1');
    expectOk(await arping(lab, 3, 'vx42', overlay(1, 100), 2), 'arping on blue from h3');
    expectOk(await ping(lab, 2, overlay(1, 100)), 'ping on blue from h2');
    expect((await blueTap.stop()).length).toBeGreaterThanOrEqual(6); // the captures do see this traffic where it belongs
    // Red carries its own traffic (neighbour probes); no frame of it may carry a blue MAC or a blue address.
    const blueTapMac = (await lab.exec(1, 'cat', ['/sys/class/net/tap-blue/address'])).stdout.trim();
    const blueMacs = [kernelMac(2), kernelMac(3), blueTapMac].map((m) => m.replace(/:/g, ''));
    const blueSubnet = Buffer.from([192, 168, 100]);
    for (const r of [...await redTap.stop(), ...await redKernel.stop()]) {
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
