// The quick-start demo: VTEPs in network namespaces on one underlay switch.
// First, h1 runs vtepd with two networks: blue over VXLAN to the Linux kernel's
// VXLAN device on h2 and h3, red over GRE with key to Open vSwitch's userspace
// datapath on h4. They ping and arping across the overlays, and the demo prints
// what crossed the underlay and what vtepd learned. Then routing between two
// networks: two vtepd hosts, each the anycast gateway of blue and red, with a
// tenant host behind each TAP. Then a BGP EVPN fabric: FRR as route
// reflector, FRR driving a kernel VTEP, two vtepd, no remote configured
// anywhere; and routing between subnets across it (symmetric IRB).
// Everything is removed at the end.
import { join } from 'node:path';
import { describe, grePackets, vxlanPackets } from '../src/observe/dissect.ts';
import {
  kernelIrbConfig,
  kernelIrbVtep,
  kernelVtepConfig,
  routeReflectorConfig,
  vtepdEvpnConfig,
} from './lab/evpn-fabric.ts';
import { kernelPeers, Lab, ROOT, sh, sleep, type Result } from './lab/lab.ts';
import { irbConfig, KERNEL_RMAC, L3VNI, routedVtepd, routingTenants, v4, v6 } from './lab/routing-lab.ts';

const VNI = 42;
const KEY = 77;
const overlay = (i: number) => `192.168.100.${i}`;
const red = (i: number) => `192.168.200.${i}`;

function show(title: string, r: Result): void {
  const ok = r.code === 0 ? 'ok' : `FAILED (exit ${r.code})`;
  console.log(`\n== ${title}: ${ok}`);
  const text = (r.stdout + r.stderr).trim();
  if (text)
    console.log(
      text
        .split('\n')
        .map((l) => `   ${l}`)
        .join('\n'),
    );
}

async function main(): Promise<number> {
  console.log(
    'Building the lab: h1 (vtepd), h2 and h3 (kernel VXLAN), h4 (Open vSwitch GRE), one bridge as underlay...',
  );
  const lab = await Lab.create(4);
  let failures = 0;
  const check = (title: string, r: Result) => {
    show(title, r);
    if (r.code !== 0) failures++;
  };
  try {
    // Kernel VXLAN on h2 and h3, replicating to every other host (h4 ignores VXLAN: it runs OVS GRE).
    await kernelPeers(lab, [2, 3]);
    const ovs = await lab.ovs(4, {
      type: 'gre',
      key: KEY,
      remote: lab.underlay(1),
      address: `${red(4)}/24`,
      mtu: 1458,
    });
    const daemon = await lab.startDaemon(
      1,
      `
local: ${lab.underlay(1)}
socket: ${lab.socket(1)}
networks:
  blue:
    tap: tap-blue
    address: ${overlay(1)}/24
    vxlan: { vni: ${VNI} }
    remotes: [${lab.underlay(2)}, ${lab.underlay(3)}]
  red:
    tap: tap-red
    address: ${red(1)}/24
    gre: { key: ${KEY} }
    remotes: [${lab.underlay(4)}]
`,
    );
    console.log(
      `vtepd is running in ${lab.ns(1)} (pid ${daemon.pid}):\n${daemon.log
        .trim()
        .split('\n')
        .map((l) => `   ${l}`)
        .join('\n')}`,
    );

    const cap = await lab.capture(1, lab.dev(1), ['udp', 'port', '4789', 'or', 'ip', 'proto', 'gre']);
    check(
      "arping from vtepd's side to the kernel VTEP h2 (broadcast request, replicated to h2 and h3)",
      await lab.exec(1, 'arping', ['-c', '2', '-w', '3', '-i', 'tap-blue', overlay(2)]),
    );
    check('ping h1 (vtepd) -> h2 (kernel)', await lab.exec(1, 'ping', ['-c', '3', '-i', '0.2', '-W', '2', overlay(2)]));
    check('ping h1 (vtepd) -> h3 (kernel)', await lab.exec(1, 'ping', ['-c', '3', '-i', '0.2', '-W', '2', overlay(3)]));
    check('ping h2 (kernel) -> h1 (vtepd)', await lab.exec(2, 'ping', ['-c', '3', '-i', '0.2', '-W', '2', overlay(1)]));
    check(
      "arping from the kernel VTEP h3 to vtepd's side",
      await lab.exec(3, 'arping', ['-c', '2', '-w', '3', '-i', 'vx0', overlay(1)]),
    );
    check(
      'ping over GRE: h1 (vtepd) -> h4 (Open vSwitch)',
      await lab.exec(1, 'ping', ['-c', '3', '-i', '0.3', '-W', '2', red(4)]),
    );
    check(
      'ping over GRE: h4 (Open vSwitch) -> h1 (vtepd)',
      await lab.exec(4, 'ping', ['-c', '3', '-i', '0.3', '-W', '2', red(1)]),
    );
    check(
      "arping over GRE from Open vSwitch to vtepd's side",
      await lab.exec(4, 'arping', ['-c', '2', '-w', '3', '-i', 'br-int', red(1)]),
    );
    const records = await cap.stop();
    const packets = vxlanPackets(records);
    const gre = grePackets(records);

    console.log(`\n== what crossed h1's underlay link (${packets.length} VXLAN packets; ARP shown in full)`);
    for (const p of packets.filter((x) => x.arp)) console.log(`   ${describe(p)}`);
    const icmp = packets.filter((x) => x.innerProto === 1);
    console.log(`   ... and ${icmp.length} ICMP packets, each sent to one VTEP only once its MAC was learned`);
    console.log(`\n== GRE packets on h1's underlay link (${gre.length}; ARP shown in full)`);
    for (const p of gre.filter((x) => x.arp)) console.log(`   ${describe(p)}`);
    console.log(
      `   ... and ${gre.filter((x) => x.innerProto === 1).length} ICMP packets, all with key ${KEY} and protocol 0x6558`,
    );

    const ctl = join(ROOT, 'bin/vtepctl');
    show('vtepctl fdb show (what vtepd learned)', await sh(ctl, ['--socket', lab.socket(1), 'fdb', 'show']));
    show('vtepctl stats', await sh(ctl, ['--socket', lab.socket(1), 'stats']));
    show(
      'the kernel VTEP h2 learned (bridge fdb show dev vx0)',
      await lab.exec(2, 'bridge', ['fdb', 'show', 'dev', 'vx0']),
    );
    show('Open vSwitch on h4 learned (ovs-appctl fdb/show br-int)', {
      code: 0,
      stdout: await ovs.appctl('fdb/show', 'br-int'),
      stderr: '',
    });

    const code = await daemon.stop();
    console.log(`\nvtepd stopped with exit code ${code}.`);
    if (code !== 0) failures++;
  } finally {
    await lab.destroy();
  }
  failures += await routing();
  failures += await evpn();
  failures += await evpnRouting();
  console.log(
    failures === 0
      ? '\nDemo passed: every ping and arping was answered.'
      : `\nDemo FAILED: ${failures} step(s) failed.`,
  );
  return failures === 0 ? 0 : 1;
}

/** What each part of the demo checks with: a step shown and counted when it fails, and vtepctl on a host. */
function steps(lab: Lab) {
  const step = {
    failures: 0,
    check(title: string, r: Result): void {
      show(title, r);
      if (r.code !== 0) step.failures++;
    },
    ctl: (i: number, ...args: string[]) => sh(join(ROOT, 'bin/vtepctl'), ['--socket', lab.socket(i), ...args]),
  };
  return step;
}

/** Routing between networks: h1 and h2 run vtepd, each the gateway of blue and red, with a tenant host behind each TAP. */
async function routing(): Promise<number> {
  console.log(
    '\n\nRouting between networks: h1 and h2 run vtepd with networks blue (VNI 10, 192.168.10.0/24) and red ' +
      '(VNI 20, 192.168.20.0/24), both the anycast gateway .1 of each; a tenant host behind each TAP...',
  );
  const lab = await Lab.create(2);
  const step = steps(lab);
  const { check, ctl } = step;
  try {
    const t = await routedVtepd(lab);
    const blue1 = t.get('blue@1')!;
    const cap = await lab.capture(1, lab.dev(1), ['udp', 'port', '4789']);
    check(
      'ping blue@h1 -> red@h2 (routed by h1, bridged by h2: ttl=63)',
      await lab.execIn(blue1, 'ping', ['-c', '3', '-i', '0.2', '-W', '2', v4('red', 2)]),
    );
    check(
      'ping -6 blue@h1 -> red@h2',
      await lab.execIn(blue1, 'ping', ['-c', '3', '-i', '0.2', '-W', '2', v6('red', 2)]),
    );
    check(
      'traceroute blue@h1 -> red@h2: the gateway, then the host',
      await lab.execIn(blue1, 'traceroute', ['-n', '-q', '1', '-w', '2', '-m', '4', v4('red', 2)]),
    );
    const packets = vxlanPackets(await cap.stop()).filter((p) => p.innerProto === 1);
    console.log(`\n== ICMP that crossed h1's underlay link (${packets.length} VXLAN packets)`);
    for (const p of packets.slice(0, 4)) console.log(`   ${describe(p)}`);
    show('vtepctl route show (h1)', await ctl(1, 'route', 'show'));
    show('vtepctl neigh show (h1): what the router resolved', await ctl(1, 'neigh', 'show'));
    show('vtepctl stats (h1)', await ctl(1, 'stats'));
  } finally {
    await lab.destroy();
  }
  return step.failures;
}

/** A BGP EVPN fabric: h1 FRR route reflector, h2 FRR + kernel VTEP with a tenant host, h3 and h4 vtepd. */
async function evpn(): Promise<number> {
  console.log(
    '\n\nBuilding an EVPN fabric: h1 FRR route reflector, h2 FRR and a kernel VTEP, h3 and h4 vtepd; no remotes configured...',
  );
  const lab = await Lab.create(4);
  const step = steps(lab);
  const { check, ctl } = step;
  try {
    const tenant = await lab.kernelEvpnVtep(2, {
      vni: 100,
      address: '192.168.100.2/24',
      mac: '02:00:00:00:00:02',
      bridgeAddress: '192.168.100.254/24',
    });
    await lab.frr(1, routeReflectorConfig(lab, [2, 3, 4]));
    await lab.frr(2, kernelVtepConfig(lab, 2));
    for (const i of [3, 4])
      await lab.startDaemon(i, vtepdEvpnConfig(lab, i, { vni: 100, address: `192.168.100.${i}/24` }));
    for (let t = 0; t < 40 && !(await ctl(3, 'remote', 'show')).stdout.includes('10.0.0.4'); t++) await sleep(250);
    check(
      "ping h3 (vtepd) -> the kernel VTEP's host",
      await lab.exec(3, 'ping', ['-c', '3', '-i', '0.2', '-W', '2', '192.168.100.2']),
    );
    check(
      'ping h3 (vtepd) -> h4 (vtepd)',
      await lab.exec(3, 'ping', ['-c', '3', '-i', '0.2', '-W', '2', '192.168.100.4']),
    );
    check(
      "ping the kernel VTEP's host -> h4 (vtepd)",
      await lab.execIn(tenant, 'ping', ['-c', '3', '-i', '0.2', '-W', '2', '192.168.100.4']),
    );
    show('vtepctl evpn show (h3)', await ctl(3, 'evpn', 'show'));
    show('vtepctl remote show (h3): the flood list, from type-3 routes', await ctl(3, 'remote', 'show'));
    show('vtepctl fdb show (h3): MACs from type-2 routes, origin evpn', await ctl(3, 'fdb', 'show'));
    show('vtepctl neigh show (h3): addresses the ARP responder answers for', await ctl(3, 'neigh', 'show'));
    show(
      "the kernel VTEP h2 (bridge fdb show dev vxlan0): vtepd's MACs, extern_learn",
      await lab.exec(2, 'bridge', ['fdb', 'show', 'dev', 'vxlan0']),
    );
    show('the route reflector (show bgp l2vpn evpn summary)', await lab.vtysh(1, 'show bgp l2vpn evpn summary'));
  } finally {
    await lab.destroy();
  }
  return step.failures;
}

/**
 * Routing between two subnets across the EVPN fabric (symmetric IRB): h1 FRR route reflector, h2 FRR and a
 * kernel VTEP with 192.168.30.0/24, h3 vtepd with 192.168.10.0/24, h4 vtepd with 192.168.20.0/24; VRF tenant1,
 * L3VNI 4001.
 */
async function evpnRouting(): Promise<number> {
  console.log(
    '\n\nRouting across the EVPN fabric (symmetric IRB, L3VNI 4001): h2 FRR and a kernel VTEP with 192.168.30.0/24, ' +
      'h3 vtepd with 192.168.10.0/24, h4 vtepd with 192.168.20.0/24...',
  );
  const lab = await Lab.create(4);
  const step = steps(lab);
  const { check, ctl } = step;
  try {
    const kt = await kernelIrbVtep(lab, 2, {
      l3vni: L3VNI,
      rmac: KERNEL_RMAC,
      subnets: [{ vni: 30, gateway: '192.168.30.1/24', host: '192.168.30.12/24', hostMac: '02:00:00:00:30:0c' }],
    });
    await lab.frr(1, routeReflectorConfig(lab, [2, 3, 4]));
    const k = kernelIrbConfig(lab, 2, L3VNI);
    await lab.frr(2, k.bgpd, k.zebra);
    await lab.startDaemon(3, irbConfig(lab, 3, ['blue']));
    await lab.startDaemon(4, irbConfig(lab, 4, ['red']));
    const t = new Map<string, string>();
    await routingTenants(lab, { blue: {} }, [3], t);
    await routingTenants(lab, { red: {} }, [4], t);
    for (let i = 0; i < 60 && !(await ctl(3, 'route', 'show')).stdout.includes('192.168.30.0/24 via'); i++)
      await sleep(500);
    const cap = await lab.capture(3, lab.dev(3), ['udp', 'port', '4789']);
    check(
      'ping blue@h3 (vtepd) -> 192.168.30.12 behind the kernel VTEP (routed by h3 and h2: ttl=62)',
      await lab.execIn(t.get('blue@3')!, 'ping', ['-c', '3', '-i', '0.3', '-W', '2', '192.168.30.12']),
    );
    check(
      'ping blue@h3 -> red@h4 (vtepd to vtepd)',
      await lab.execIn(t.get('blue@3')!, 'ping', ['-c', '3', '-i', '0.3', '-W', '2', v4('red', 4)]),
    );
    check(
      'ping 192.168.30.12 (kernel) -> red@h4',
      await lab.execIn(kt.get(30)!, 'ping', ['-c', '3', '-i', '0.3', '-W', '2', v4('red', 4)]),
    );
    const packets = vxlanPackets(await cap.stop()).filter((p) => p.innerProto === 1);
    console.log(`\n== routed packets on h3's underlay (VNI ${L3VNI}, router MACs)`);
    for (const p of packets.slice(0, 4)) console.log(`   ${describe(p)}`);
    show('vtepctl route show (h3): type-5 and host routes over the fabric', await ctl(3, 'route', 'show'));
    show('vtepctl evpn show (h3)', await ctl(3, 'evpn', 'show'));
    show(
      "the kernel VTEP's routes (ip route on h2): vtepd's subnets via its VTEP, onlink",
      await lab.exec(2, 'ip', ['route']),
    );
  } finally {
    await lab.destroy();
  }
  return step.failures;
}

process.exitCode = await main();
