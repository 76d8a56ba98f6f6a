// Regenerates the reference captures in pcaps/ from the lab, so anyone can
// check where they came from:  npx tsx scripts/make-pcaps.ts  (as root)
//
// Each is made by two trusted implementations talking to each other over one
// bridge, h1 (10.0.0.1, or fd00::1 for the IPv6 underlay) and h2 (10.0.0.2,
// fd00::2), captured by tcpdump on h2's
// underlay link. The same traffic every time: an ARP request broadcast from h1
// and one from h2 (so h1 also sends a reply), two pings from h1, and a TCP
// connection from h1 opened and closed. The conformance tests replay h1's inner
// frames through vtepd and compare what it sends with what h1 sent here.
import { copyFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { genevePackets, grePackets, vxlanPackets } from '../src/observe/dissect.ts';
import { parsePcap } from '../src/wire/pcap.ts';
import { readFileSync } from 'node:fs';
import { Lab, must, ROOT, sh, sleep } from './lab/lab.ts';

export const REFERENCE_VNI = 42;
export const REFERENCE_KEY = 77;
const A1 = '192.168.100.1';
const A2 = '192.168.100.2';

interface Scenario {
  name: string;
  what: string;
  /** Over the IPv6 underlay. */
  ipv6?: boolean;
  /** Sets up h1 and h2; returns the overlay device of each. */
  build(lab: Lab): Promise<[string, string]>;
}

async function kernel(lab: Lab, i: number, peer: number, ipv6 = false): Promise<string> {
  await lab.kernelVxlan(i, {
    vni: REFERENCE_VNI,
    address: `192.168.100.${i}/24`,
    mac: `02:00:00:00:00:0${i}`,
    ipv6,
    remotes: [ipv6 ? lab.underlay6(peer) : lab.underlay(peer)],
    mtu: ipv6 ? 1430 : 1450,
  });
  return 'vx0';
}

async function ovs(
  lab: Lab,
  i: number,
  peer: number,
  type: 'vxlan' | 'gre' | 'ip6gre' | 'geneve',
  options: Record<string, string> = {},
  ipv6 = type === 'ip6gre',
): Promise<string> {
  const udp = type === 'vxlan' || type === 'geneve';
  await lab.ovs(i, {
    type,
    key: udp ? REFERENCE_VNI : REFERENCE_KEY,
    remote: ipv6 ? lab.underlay6(peer) : lab.underlay(peer),
    address: `192.168.100.${i}/24`,
    mtu: (ipv6 ? 1480 : 1500) - (udp ? 50 : type === 'gre' ? 46 : 42),
    options,
  });
  return 'br-int';
}

/** Open vSwitch as OVN uses Geneve: OVN's option (class 0x0102, type 0x80) set from tun_metadata0 on every packet. */
async function ovsWithOption(lab: Lab, i: number, peer: number): Promise<string> {
  await ovs(lab, i, peer, 'geneve');
  const ofctl = (...args: string[]) =>
    must('ovs-ofctl', [args[0], `unix:${join(lab.dir, `ovs-h${i}`)}/br-int.mgmt`, ...args.slice(1)]);
  await ofctl('add-tlv-map', '{class=0x0102,type=0x80,len=4}->tun_metadata0');
  await ofctl('del-flows');
  await ofctl('add-flow', 'priority=10,in_port=LOCAL,actions=set_field:0x00010002->tun_metadata0,output:t0');
  await ofctl('add-flow', 'priority=10,in_port=t0,actions=output:LOCAL');
  return 'br-int';
}

export const SCENARIOS: Scenario[] = [
  {
    name: 'kernel-vxlan',
    what: 'Linux kernel VXLAN device on both hosts (VNI 42, dstport 4789)',
    build: async (lab) => [await kernel(lab, 1, 2), await kernel(lab, 2, 1)],
  },
  {
    name: 'ovs-vxlan',
    what: 'Open vSwitch userspace datapath on h1 (type=vxlan key=42), kernel VXLAN device on h2',
    build: async (lab) => [await ovs(lab, 1, 2, 'vxlan'), await kernel(lab, 2, 1)],
  },
  {
    name: 'ovs-gre',
    what: 'Open vSwitch userspace datapath on both hosts (type=gre key=77)',
    build: async (lab) => [await ovs(lab, 1, 2, 'gre'), await ovs(lab, 2, 1, 'gre')],
  },
  {
    name: 'ovs-gre-csum',
    what: 'Open vSwitch userspace datapath on both hosts (type=gre key=77 csum=true)',
    build: async (lab) => [
      await ovs(lab, 1, 2, 'gre', { csum: 'true' }),
      await ovs(lab, 2, 1, 'gre', { csum: 'true' }),
    ],
  },
  {
    name: 'kernel-vxlan6',
    what: 'Linux kernel VXLAN device on both hosts over IPv6 (local fd00::1 remote fd00::2, VNI 42)',
    ipv6: true,
    build: async (lab) => [await kernel(lab, 1, 2, true), await kernel(lab, 2, 1, true)],
  },
  {
    name: 'ovs-gre6',
    what: 'Open vSwitch userspace datapath on both hosts over IPv6 (type=ip6gre key=77)',
    ipv6: true,
    build: async (lab) => [await ovs(lab, 1, 2, 'ip6gre'), await ovs(lab, 2, 1, 'ip6gre')],
  },
  {
    name: 'ovs-geneve',
    what: 'Open vSwitch userspace datapath on both hosts (type=geneve key=42, port 6081)',
    build: async (lab) => [await ovs(lab, 1, 2, 'geneve'), await ovs(lab, 2, 1, 'geneve')],
  },
  {
    name: 'ovs-geneve-opt',
    what: "Open vSwitch on both hosts (type=geneve key=42) with OVN's option: class 0x0102 type 0x80 data 00010002",
    build: async (lab) => [await ovsWithOption(lab, 1, 2), await ovsWithOption(lab, 2, 1)],
  },
  {
    name: 'ovs-geneve6',
    what: 'Open vSwitch userspace datapath on both hosts over IPv6 (type=geneve key=42, remote_ip fd00::2)',
    ipv6: true,
    build: async (lab) => [await ovs(lab, 1, 2, 'geneve', {}, true), await ovs(lab, 2, 1, 'geneve', {}, true)],
  },
];

async function record(s: Scenario, out: string): Promise<number> {
  const lab = await Lab.create(2);
  try {
    if (s.ipv6) await lab.ipv6Underlay();
    const [dev1, dev2] = await s.build(lab);
    // Warm up: Open vSwitch drops the first packet to a new peer while it resolves the underlay.
    await lab.exec(1, 'ping', ['-c', '2', '-W', '2', A2]);
    await lab.exec(2, 'ping', ['-c', '2', '-W', '2', A1]);
    const server = lab.exec(
      2,
      process.execPath,
      ['-e', `const s = require('net').createServer((c) => { c.end(); s.close(); }).listen(5001, '${A2}');`],
      20_000,
    );
    await sleep(500);
    const cap = await lab.capture(2, lab.dev(2), [
      'udp',
      'port',
      '4789',
      'or',
      'udp',
      'port',
      '6081',
      'or',
      'ip',
      'proto',
      'gre',
      'or',
      'ip6',
      'proto',
      '47',
    ]);
    await must('ip', ['netns', 'exec', lab.ns(1), 'arping', '-c', '1', '-w', '2', '-i', dev1, A2]);
    await must('ip', ['netns', 'exec', lab.ns(2), 'arping', '-c', '1', '-w', '2', '-i', dev2, A1]);
    await must('ip', ['netns', 'exec', lab.ns(1), 'ping', '-c', '2', '-i', '0.2', '-W', '2', A2]);
    await must('ip', [
      'netns',
      'exec',
      lab.ns(1),
      process.execPath,
      '-e',
      `const c = require('net').connect(5001, '${A2}', () => {}); c.on('end', () => c.end()); c.on('error', (e) => { console.error(e.message); process.exit(1); });`,
    ]);
    await sleep(300);
    await cap.stop();
    await server;
    copyFileSync(cap.file, out);
    const file = parsePcap(readFileSync(out));
    return typeof file === 'number' ? 0 : file.records.length;
  } finally {
    await lab.destroy();
  }
}

async function main(): Promise<void> {
  const only = process.argv.slice(2);
  mkdirSync(join(ROOT, 'pcaps'), { recursive: true });
  for (const s of SCENARIOS.filter((x) => only.length === 0 || only.includes(x.name))) {
    const out = join(ROOT, 'pcaps', `${s.name}.pcap`);
    const n = await record(s, out);
    const file = parsePcap(readFileSync(out));
    const tunnels =
      typeof file === 'number'
        ? 0
        : vxlanPackets(file.records).length + genevePackets(file.records).length + grePackets(file.records).length;
    console.log(`pcaps/${s.name}.pcap: ${n} packets (${tunnels} tunnel packets) — ${s.what}`);
    const check = await sh('tshark', ['-r', out, '-Y', '_ws.malformed || _ws.expert.severity == error']);
    if (check.stdout.trim()) console.log(`  tshark flags:\n${check.stdout}`);
  }
}

if (process.argv[1]?.endsWith('make-pcaps.ts')) await main();
