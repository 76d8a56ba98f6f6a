// Routing across an EVPN fabric with symmetric IRB (RFC 9135) and type-5
// routes (RFC 9136), against FRR and the kernel: h1 runs FRR as route
// reflector, h2 FRR driving a kernel VTEP routing with an L3VNI (its namespace
// is the tenant VRF: this kernel has no VRF devices), h3 and h4 run vtepd. In
// VRF tenant1 with L3VNI 4001: 192.168.10.0/24 (blue, VNI 10) behind vtepd A
// (h3) and the kernel VTEP, 192.168.20.0/24 (red, VNI 20) behind vtepd B
// (h4) only, 192.168.30.0/24 (green, VNI 30) behind the kernel VTEP only. A
// tenant host behind each, whose default route is its anycast gateway.
import { describe, expect, it } from 'vitest';
import { kernelIrbConfig, kernelIrbVtep, routeReflectorConfig } from '../../scripts/lab/evpn-fabric.ts';
import { sleep, type Lab } from '../../scripts/lab/lab.ts';
import {
  irbConfig,
  KERNEL_RMAC,
  L3VNI,
  routingTenants,
  tenantMac,
  v4,
  v6,
  type Net,
} from '../../scripts/lab/routing-lab.ts';
import type { RouteRow, StatsReport } from '../../src/control/protocol.ts';
import type { EvpnStatus } from '../../src/evpn/speaker.ts';
import { vxlanPackets } from '../../src/observe/dissect.ts';
import { formatMac } from '../../src/wire/mac.ts';
import { BYTES, expectOk, transferIn, vtepctl, withLab } from './helpers.ts';

/** The kernel VTEP's tenants: blue .12 (VNI 10) and green .12 (VNI 30). */
const KERNEL_BLUE = '192.168.10.12';
const KERNEL_GREEN = '192.168.30.12';

interface Fabric {
  /** Tenant namespaces: "blue@3", "red@4", "blue@2", "green@2". */
  t: Map<string, string>;
  ctl(i: number, ...args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }>;
}

async function json<T>(lab: Lab, i: number, ...args: string[]): Promise<T> {
  const r = await vtepctl('--socket', lab.socket(i), ...args, '--json');
  expectOk(r, args.join(' '));
  return JSON.parse(r.stdout) as T;
}

/** Polls until `check` holds, for up to `ms`; returns how long it took, or -1. */
async function within(ms: number, check: () => Promise<boolean>): Promise<number> {
  const t0 = Date.now();
  while (Date.now() - t0 < ms) {
    if (await check()) return Date.now() - t0;
    await sleep(100);
  }
  return -1;
}

/** The fabric of the file's header; `b`: vtepd B's networks (red, and blue for the move test). */
async function fabric(lab: Lab, b: Net[] = ['red']): Promise<Fabric> {
  const kt = await kernelIrbVtep(lab, 2, {
    l3vni: L3VNI,
    rmac: KERNEL_RMAC,
    subnets: [
      {
        vni: 10,
        gateway: '192.168.10.1/24',
        host: `${KERNEL_BLUE}/24`,
        hostMac: tenantMac('blue', 2),
        gateway6: 'fd00:10::1/64',
        host6: `${v6('blue', 2)}/64`,
      },
      {
        vni: 30,
        gateway: '192.168.30.1/24',
        host: `${KERNEL_GREEN}/24`,
        hostMac: tenantMac('green', 2),
        gateway6: 'fd00:30::1/64',
        host6: `${v6('green', 2)}/64`,
      },
    ],
  });
  await lab.frr(1, routeReflectorConfig(lab, [2, 3, 4]));
  const k = kernelIrbConfig(lab, 2, L3VNI);
  await lab.frr(2, k.bgpd, k.zebra);
  await lab.startDaemon(3, irbConfig(lab, 3, ['blue']));
  await lab.startDaemon(4, irbConfig(lab, 4, b));
  const t = new Map<string, string>([
    ['blue@2', kt.get(10)!],
    ['green@2', kt.get(30)!],
  ]);
  await routingTenants(lab, { blue: {} }, [3], t);
  await routingTenants(lab, { red: {} }, [4], t);
  const ctl = (i: number, ...args: string[]) => vtepctl('--socket', lab.socket(i), ...args);
  // Converged: each vtepd has the other VTEPs' subnets, the kernel has vtepd's.
  const ok = await within(30_000, async () => {
    const a = (await json<RouteRow[]>(lab, 3, 'route', 'show')).map((r) => r.prefix);
    const bb = (await json<RouteRow[]>(lab, 4, 'route', 'show')).map((r) => r.prefix);
    const kr = (await lab.exec(2, 'ip', ['route'])).stdout;
    return (
      a.includes('192.168.20.0/24') &&
      a.includes('192.168.30.0/24') &&
      bb.includes('192.168.30.0/24') &&
      kr.includes('192.168.20.0/24')
    );
  });
  expect(ok, 'the fabric converged').toBeGreaterThanOrEqual(0);
  // Every host says where it is (a ping of its gateway): each VTEP advertises its hosts' MAC/IP routes, and every
  // other installs them as host routes; until then the first packets toward a host take the subnet's route.
  for (const [name, ns] of t) {
    const gw = `192.168.${name.startsWith('blue') ? 10 : name.startsWith('red') ? 20 : 30}.1`;
    expectOk(await ping(lab, ns, gw, 1), `${name} pings its gateway`);
  }
  const hosts = await within(20_000, async () => {
    const kr = (await lab.exec(2, 'ip', ['route'])).stdout;
    const a = (await json<RouteRow[]>(lab, 3, 'route', 'show')).map((r) => r.prefix);
    return (
      kr.includes(`${v4('blue', 3)} `) &&
      kr.includes(`${v4('red', 4)} `) &&
      a.includes(`${KERNEL_GREEN}/32`) &&
      a.includes(`${KERNEL_BLUE}/32`)
    );
  });
  expect(hosts, 'host routes everywhere').toBeGreaterThanOrEqual(0);
  return { t, ctl };
}

function ping(lab: Lab, ns: string, to: string, count = 3) {
  return lab.execIn(ns, 'ping', ['-c', String(count), '-i', '0.2', '-W', '2', to]);
}

const ttls = (out: string) => [...out.matchAll(/ttl=(\d+)/g)].map((m) => Number(m[1]));

describe('routing across an EVPN fabric (symmetric IRB, type-5) with FRR and the kernel', () => {
  it('every host reaches every other both ways, routed twice (TTL 62) across VTEPs; 8 MB of TCP each way', () =>
    withLab(4, async (lab) => {
      const { t } = await fabric(lab);
      const hosts: [string, string][] = [
        ['blue@3', v4('blue', 3)],
        ['red@4', v4('red', 4)],
        ['blue@2', KERNEL_BLUE],
        ['green@2', KERNEL_GREEN],
      ];
      for (const [from] of hosts)
        for (const [to, address] of hosts) {
          if (from === to) continue;
          const r = await ping(lab, t.get(from)!, address);
          expectOk(r, `ping ${from} -> ${to} (${address})`);
          // blue to blue is bridged (one subnet); between the kernel's own subnets it is routed once; anything
          // else crosses two routers: the ingress and the egress VTEP.
          const bridged = from.startsWith('blue') && to.startsWith('blue');
          const sameVtep = from.endsWith('@2') && to.endsWith('@2');
          const ttl = bridged ? 64 : sameVtep ? 63 : 62;
          expect(ttls(r.stdout), `${from} -> ${to}`).toEqual([ttl, ttl, ttl]);
        }
      for (const [from, to, address] of [
        ['blue@3', 'green@2', KERNEL_GREEN],
        ['green@2', 'blue@3', v4('blue', 3)],
        ['red@4', 'green@2', KERNEL_GREEN],
      ]) {
        const [sent, received] = await transferIn(lab, t.get(from)!, t.get(to)!, address);
        expect(received, `${from} -> ${to}`).toBe(sent);
        expect(sent.split(' ')[0]).toBe(String(BYTES));
      }
    }));

  it('carries routed packets on VNI 4001 between the two router MACs; each side has the routes, neighbours and FDB of the other', () =>
    withLab(4, async (lab) => {
      const { t } = await fabric(lab);
      const a = await json<EvpnStatus>(lab, 3, 'evpn', 'show');
      const rmacA = a.vrfs.tenant1['router-mac'];
      expect(a.vrfs.tenant1).toMatchObject({
        l3vni: L3VNI,
        rd: `${lab.underlay(3)}:${L3VNI}`,
        'import-rt': ['65000:4001'],
      });
      const cap = await lab.capture(3, lab.dev(3), ['udp', 'port', '4789']);
      expectOk(await ping(lab, t.get('blue@3')!, KERNEL_GREEN), 'ping A -> kernel green');
      const packets = vxlanPackets(await cap.stop()).filter((p) => p.innerProto === 1);
      const out = packets.filter((p) => p.src === lab.underlay(3));
      const back = packets.filter((p) => p.src === lab.underlay(2));
      expect(out.length).toBe(3);
      expect(back.length).toBe(3);
      for (const p of out) {
        expect(p.vni).toBe(L3VNI);
        expect([formatMac(p.eth.src), formatMac(p.eth.dst)]).toEqual([rmacA, KERNEL_RMAC]);
        expect(p.inner[14 + 8]).toBe(63); // routed once, by A
      }
      for (const p of back) {
        expect(p.vni).toBe(L3VNI);
        expect([formatMac(p.eth.src), formatMac(p.eth.dst)]).toEqual([KERNEL_RMAC, rmacA]);
      }
      // The kernel: vtepd's prefixes and hosts via vtepd's VTEP onlink on the L3 SVI, its router MAC a neighbour.
      expectOk(await ping(lab, t.get('green@2')!, v4('red', 4)), 'ping kernel green -> B');
      const kroutes = (await lab.exec(2, 'ip', ['route'])).stdout;
      expect(kroutes).toMatch(new RegExp(`192\\.168\\.20\\.0/24 .*via ${lab.underlay(4)} dev br${L3VNI} .*onlink`));
      expect(kroutes).toMatch(new RegExp(`192\\.168\\.20\\.14 .*via ${lab.underlay(4)} dev br${L3VNI} .*onlink`));
      const rmacB = (await json<EvpnStatus>(lab, 4, 'evpn', 'show')).vrfs.tenant1['router-mac'];
      expect((await lab.exec(2, 'ip', ['neigh', 'show', 'dev', `br${L3VNI}`])).stdout).toContain(
        `${lab.underlay(4)} lladdr ${rmacB}`,
      );
      // FRR has vtepd's type-5 and two-label type-2 routes with the router MAC.
      const prefixes = (await lab.vtysh(2, 'show bgp l2vpn evpn route type prefix')).stdout;
      expect(prefixes).toContain('[5]:[0]:[24]:[192.168.20.0]');
      expect(prefixes).toContain(`Rmac:${rmacB}`);
      const detail = (
        await lab.vtysh(
          2,
          `show bgp l2vpn evpn route rd ${lab.underlay(4)}:20 mac ${tenantMac('red', 4)} ip ${v4('red', 4)}`,
        )
      ).stdout;
      expect(detail).toMatch(/VNI 20\/4001/);
      expect(detail).toContain(`Rmac:${rmacB}`);
      // vtepd has the kernel's prefixes and hosts, over the fabric.
      const routes = await json<RouteRow[]>(lab, 4, 'route', 'show');
      expect(routes).toContainEqual(
        expect.objectContaining({
          prefix: '192.168.30.0/24',
          via: lab.underlay(2),
          rmac: KERNEL_RMAC,
          vni: L3VNI,
          origin: 'evpn',
        }),
      );
      expect(routes).toContainEqual(
        expect.objectContaining({
          prefix: `${KERNEL_GREEN}/32`,
          via: lab.underlay(2),
          rmac: KERNEL_RMAC,
          origin: 'evpn',
        }),
      );
      const text = await vtepctl('--socket', lab.socket(4), 'route', 'show');
      expect(text.stdout).toMatch(
        new RegExp(
          `^192\\.168\\.30\\.0/24 via ${lab.underlay(2)} rmac ${KERNEL_RMAC} vni ${L3VNI} origin evpn vrf tenant1$`,
          'm',
        ),
      );
      const stats = await json<StatsReport>(lab, 4, 'stats');
      expect(stats.vrfs?.tenant1.l3vni?.['rx-packets']).toBeGreaterThan(0);
      expect(Object.entries(stats.vrfs?.tenant1.l3vni?.drops ?? {}).filter(([, v]) => v > 0)).toEqual([]);
    }));

  it('follows a host that moves from vtepd A to vtepd B within a second, routed from the kernel', () =>
    withLab(4, async (lab) => {
      const { t } = await fabric(lab, ['blue', 'red']);
      const mover = t.get('blue@3')!;
      const address = v4('blue', 3);
      expectOk(await ping(lab, t.get('green@2')!, address), 'before the move');
      // Pings every 50 ms from the kernel's green host while the host moves.
      const run = lab.execIn(t.get('green@2')!, 'ping', ['-D', '-c', '80', '-i', '0.05', '-W', '1', address], 30_000);
      await sleep(1000);
      const moved = Date.now() / 1000;
      await lab.tenantBehindTap(4, 'tap-blue', 'blue3b', {
        mac: tenantMac('blue', 3),
        addresses: [`${address}/24`],
        via: ['192.168.10.1'],
        move: { from: 3, name: 'blue3' },
      });
      // The host says where it is now (arping -U expects no answer: its exit code says nothing).
      await lab.execIn(mover, 'arping', ['-U', '-c', '1', '-I', 'eth0', address]);
      const r = await run;
      const replies = [...r.stdout.matchAll(/^\[(\d+\.\d+)\].*icmp_seq=\d+ ttl=62/gm)].map((m) => Number(m[1]));
      const after = replies.filter((x) => x > moved);
      expect(after.length, r.stdout).toBeGreaterThan(0);
      // Measured 0.26-0.39 s, the re-attachment of the host's link included.
      expect(after[0] - moved, 'routed traffic reaches the host behind B within a second').toBeLessThanOrEqual(1.0);
      const fromB = await json<RouteRow[]>(lab, 3, 'route', 'show');
      expect(fromB).toContainEqual(expect.objectContaining({ prefix: `${address}/32`, via: lab.underlay(4) }));
    }));

  it('withdraws a stopped VTEP: its subnets and hosts leave the others, and their senders get ICMP unreachable', () =>
    withLab(4, async (lab) => {
      const { t } = await fabric(lab);
      expectOk(await ping(lab, t.get('blue@3')!, v4('red', 4)), 'before');
      expect(await lab.daemons.at(-1)!.stop()).toBe(0);
      const gone = await within(5000, async () =>
        (await json<RouteRow[]>(lab, 3, 'route', 'show')).every((r) => !r.prefix.startsWith('192.168.20.')),
      );
      expect(gone, "B's routes withdrawn at A").toBeGreaterThanOrEqual(0);
      expect(
        await within(5000, async () => !(await lab.exec(2, 'ip', ['route'])).stdout.includes('192.168.20.')),
        "and at the kernel's",
      ).toBeGreaterThanOrEqual(0);
      const r = await ping(lab, t.get('blue@3')!, v4('red', 4), 1);
      expect(r.stdout).toMatch(/From 192\.168\.10\.1 icmp_seq=1 Destination Net Unreachable/);
      expectOk(await ping(lab, t.get('blue@3')!, KERNEL_GREEN), 'the rest still routed');
    }));

  it('routes IPv6 the same way (hop limit 62); what FRR advertises of IPv6 hosts arrives, unless the host is a router', () =>
    withLab(4, async (lab) => {
      const { t } = await fabric(lab);
      for (const [from, to] of [
        ['blue@3', v6('green', 2)],
        ['red@4', v6('blue', 2)],
        ['green@2', v6('red', 4)],
        ['blue@3', v6('red', 4)],
      ]) {
        const r = await ping(lab, t.get(from)!, to);
        expectOk(r, `ping ${from} -> ${to}`);
        expect(ttls(r.stdout.replace(/hlim/g, 'ttl')), `${from} -> ${to}`).toContain(62);
      }
      // The kernel's IPv6 hosts as /128 host routes at vtepd: FRR's MAC/IP routes of a host that is no router.
      expect(
        await within(10_000, async () =>
          (await json<RouteRow[]>(lab, 3, 'route', 'show')).some((r) => r.prefix === `${v6('green', 2)}/128`),
        ),
        "the kernel's IPv6 host route at A",
      ).toBeGreaterThanOrEqual(0);
      // A host that routes (its NA carries the router flag) gets FRR's ND extended community (0x06/0x08), which
      // GoBGP 3.10 cannot read: it drops the whole route. Its subnet's type-5 route still reaches it.
      await lab.execIn(t.get('green@2')!, 'sysctl', ['-qw', 'net.ipv6.conf.all.forwarding=1']);
      await lab.exec(2, 'ip', ['-6', 'neigh', 'flush', 'dev', 'br30']);
      expectOk(await ping(lab, t.get('green@2')!, 'fd00:30::1', 1), 'the router host announces itself');
      expect(
        await within(10_000, async () =>
          (await lab.vtysh(2, 'show bgp l2vpn evpn route detail')).stdout.includes('ND:Router Flag'),
        ),
        'FRR advertises the host with the ND router flag',
      ).toBeGreaterThanOrEqual(0);
      expect(
        await within(10_000, async () =>
          (await json<RouteRow[]>(lab, 3, 'route', 'show')).every((r) => r.prefix !== `${v6('green', 2)}/128`),
        ),
        "GoBGP dropped the router host's route",
      ).toBeGreaterThanOrEqual(0);
      // vtepd says so: counted per neighbor in `evpn show`, with what the community is.
      const dropped = (await json<EvpnStatus>(lab, 3, 'evpn', 'show')).sessions.filter(
        (p) => (p['dropped-updates'] ?? 0) > 0,
      );
      expect(dropped.length, 'a neighbor with dropped UPDATEs in evpn show').toBe(1);
      expect(dropped[0]['last-dropped']).toContain("unknown evpn subtype: 8 (FRR's ND extended community");
      const shown = await vtepctl('--socket', lab.socket(3), 'evpn', 'show');
      expect(shown.stdout).toMatch(/UPDATEs? dropped as malformed \(last: unknown evpn subtype: 8 /);
      expectOk(await ping(lab, t.get('blue@3')!, v6('green', 2)), 'still reached over its subnet route');
    }));
});
