// Routing between networks, on real packets: two vtepd hosts A (h1) and B
// (h2), networks blue (VNI 10: 192.168.10.0/24, fd00:10::/64) and red (VNI
// 20: 192.168.20.0/24, fd00:20::/64) on both, in VRF tenant1 with the same
// anycast gateways, static remotes; a tenant host behind each TAP (its own
// namespace, on a bridge with the TAP), whose default route is the gateway
// (scripts/lab/routing-lab.ts).
import { describe, expect, it } from 'vitest';
import { sleep, type Lab } from '../../scripts/lab/lab.ts';
import {
  GW_MAC,
  gw4,
  gw6,
  NETS,
  routedVtepd,
  routingConfig,
  routingTenants,
  tenantMac,
  v4,
  v6,
} from '../../scripts/lab/routing-lab.ts';
import { decodeVxlan, vxlanPackets, type VxlanPacket } from '../../src/observe/dissect.ts';
import { MAX_ENTRIES } from '../../src/route/resolver.ts';
import { ArpOp } from '../../src/wire/arp.ts';
import { parseIpv4Address } from '../../src/wire/ipv4.ts';
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { NeighRow, RouteRow, TraceReport } from '../../src/control/protocol.ts';
import { ROOT } from '../../scripts/lab/lab.ts';
import { BYTES, expectOk, statsNow, streamsConnected, transferIn, vtepctl, withLab } from './helpers.ts';

const GW_MAC_NUM = 0x00005e000101;

function pingFrom(lab: Lab, ns: string, to: string, o: { count?: number; ttl?: number } = {}) {
  const args = ['-c', String(o.count ?? 3), '-i', '0.2', '-W', '2'];
  if (o.ttl !== undefined) args.push('-t', String(o.ttl));
  return lab.execIn(ns, 'ping', [...args, to]);
}

/** The TTLs (hop limits) ping printed for its replies. */
function replyTtls(out: string): number[] {
  return [...out.matchAll(/(?:ttl|hlim)=(\d+)/g)].map((m) => Number(m[1]));
}

/** Whether an inner frame is an ARP request or NS for a gateway address. */
function asksForGateway(p: VxlanPacket): boolean {
  if (p.arp !== undefined)
    return p.arp.op === ArpOp.Request && [gw4('blue'), gw4('red')].map(parseIpv4Address).includes(p.arp.targetIp);
  const f = p.inner;
  if (p.eth.ethertype !== 0x86dd || f.length < 14 + 40 + 24 || f[14 + 6] !== 58 || f[14 + 40] !== 135) return false;
  const target = f.subarray(14 + 48, 14 + 64).toString('hex');
  return target === 'fd000010000000000000000000000001' || target === 'fd000020000000000000000000000001';
}

/** vtepctl against host i, its JSON parsed. */
async function json<T>(lab: Lab, i: number, ...args: string[]): Promise<T> {
  const r = await vtepctl('--socket', lab.socket(i), ...args, '--json');
  expectOk(r, args.join(' '));
  return JSON.parse(r.stdout) as T;
}

/** Frames seen by tcpdump on eth0 of a tenant (ns), as "SRC-MAC > DST-MAC ..." lines. */
async function tenantCapture(ns: string, filter: string[]) {
  const proc = spawn('ip', ['netns', 'exec', ns, 'tcpdump', '-l', '-t', '-e', '-n', '-i', 'eth0', ...filter], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  proc.stdout.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr.on('data', (d: Buffer) => (err += d.toString()));
  for (let t = 0; t < 100 && !err.includes('listening on'); t++) await sleep(50);
  return {
    async stop(): Promise<string> {
      await sleep(200);
      proc.kill('SIGINT');
      await new Promise((r) => proc.once('exit', r));
      return out;
    },
  };
}

/** Whether an inner frame is an ICMP or ICMPv6 echo request or reply. */
function isEcho(p: VxlanPacket): boolean {
  const f = p.inner;
  if (p.eth.ethertype === 0x0800) return p.innerProto === 1 && (f[14 + 20] === 0 || f[14 + 20] === 8);
  return p.eth.ethertype === 0x86dd && f[14 + 6] === 58 && (f[14 + 40] === 128 || f[14 + 40] === 129);
}

describe('routing between networks', () => {
  it('routes blue@A to red@B and back once, over red VNI from the gateway MAC, never asking for the gateway in tunnels (IPv4 and IPv6)', () =>
    withLab(2, async (lab) => {
      const t = await routedVtepd(lab);
      const cap = await lab.capture(1, lab.dev(1), ['udp', 'port', '4789']);
      for (const [from, to] of [
        ['blue@1', v4('red', 2)],
        ['red@2', v4('blue', 1)],
        ['blue@1', v6('red', 2)],
        ['red@2', v6('blue', 1)],
      ]) {
        const r = await pingFrom(lab, t.get(from)!, to);
        expectOk(r, `ping ${from} -> ${to}`);
        // Echo replies routed once, on the host of the replying tenant: TTL 64 - 1.
        expect(replyTtls(r.stdout), r.stdout).toEqual([63, 63, 63]);
      }
      const packets = vxlanPackets(await cap.stop());
      // Echo requests blue@A -> red@B cross once each, on red's VNI, from red's gateway MAC, TTL 63.
      const requests = packets.filter(
        (p) =>
          p.src === lab.underlay(1) &&
          p.innerProto === 1 &&
          p.inner[14 + 20] === 8 &&
          p.inner.subarray(14 + 16, 14 + 20).equals(Buffer.from(v4('red', 2).split('.').map(Number))),
      );
      expect(requests.length).toBe(3);
      for (const p of requests) {
        expect(p.vni).toBe(NETS.red.vni);
        expect(p.eth.src).toBe(GW_MAC_NUM);
        expect(p.inner[14 + 8]).toBe(63);
      }
      expect(packets.filter(asksForGateway)).toEqual([]);
      const a = await statsNow(lab, 1);
      expect(a.vrfs?.tenant1.counters.routed).toBeGreaterThanOrEqual(6);

      // traceroute: the gateway, then the destination.
      for (const [to, gw] of [
        [v4('red', 2), gw4('blue')],
        [v6('red', 2), gw6('blue')],
      ]) {
        const tr = await lab.execIn(t.get('blue@1')!, 'traceroute', ['-n', '-q', '1', '-w', '2', '-m', '4', to]);
        expectOk(tr, `traceroute ${to}`);
        const hops = tr.stdout
          .trim()
          .split('\n')
          .slice(1)
          .map((l) => l.trim().split(/\s+/)[1]);
        expect(hops, tr.stdout).toEqual([gw, to]);
      }

      // 8 MB of TCP each way, byte-exact, IPv4 then IPv6.
      for (const [from, to, address] of [
        ['blue@1', 'red@2', v4('red', 2)],
        ['red@2', 'blue@1', v4('blue', 1)],
        ['red@1', 'blue@2', v6('blue', 2)],
        ['blue@2', 'red@1', v6('red', 1)],
      ]) {
        const [sent, received] = await transferIn(lab, t.get(from)!, t.get(to)!, address);
        expect(received, `${from} -> ${to}`).toBe(sent);
        expect(sent.split(' ')[0]).toBe(String(BYTES));
      }
    }));

  it("follows a routed frame with trace, and shows routes and the router's neighbours", () =>
    withLab(2, async (lab) => {
      const t = await routedVtepd(lab);
      expectOk(await pingFrom(lab, t.get('blue@1')!, v4('red', 2), { count: 1 }), 'ping');
      const routes = await json<RouteRow[]>(lab, 1, 'route', 'show');
      expect(routes.map((r) => `${r.prefix} ${r.network} ${r.origin}`).sort()).toEqual([
        '192.168.10.0/24 blue connected',
        '192.168.20.0/24 red connected',
        'fd00:10::/64 blue connected',
        'fd00:20::/64 red connected',
      ]);
      const text = await vtepctl('--socket', lab.socket(1), 'route', 'show');
      expect(text.stdout).toMatch(/^192\.168\.20\.0\/24 dev red origin connected vrf tenant1$/m);
      const neigh = await json<NeighRow[]>(lab, 1, 'neigh', 'show');
      expect(neigh).toContainEqual(
        expect.objectContaining({ ip: v4('red', 2), mac: tenantMac('red', 2), network: 'red', origin: 'resolved' }),
      );
      const trace = await json<TraceReport>(
        lab,
        1,
        'trace',
        '--network',
        'blue',
        '--in',
        'tap',
        '--src',
        tenantMac('blue', 1),
        '--dst',
        GW_MAC,
        '--ipv4',
        `${v4('blue', 1)},${v4('red', 2)}`,
      );
      expect(trace.result).toBe('routed');
      expect(trace.steps).toContainEqual('route 192.168.20.0/24 dev red (origin connected) in VRF tenant1');
      expect(trace.steps).toContainEqual(`neighbour ${tenantMac('red', 2)} on network red; TTL 64 -> 63`);
      expect(trace.steps).toContainEqual(
        `unicast on network red (VXLAN VNI ${NETS.red.vni} port 4789) to ${lab.underlay(2)}`,
      );
      expect(trace.wire).toHaveLength(1);
      expect(trace.wire[0]).toMatch(new RegExp(`> ${lab.underlay(2)}:4789 .*VXLAN vni ${NETS.red.vni}: `));
    }));

  it('with source-mac dvr, a learning kernel VTEP sees each host behind its DVR MAC and never the gateway MAC; B rewrites it back', () =>
    withLab(3, async (lab) => {
      const dvr = (i: number) => `fa:16:3f:00:00:0${i}`;
      const tenants = new Map<string, string>();
      for (const i of [1, 2]) {
        const mine = { blue: { sourceMac: 'dvr' as const }, red: { sourceMac: 'dvr' as const, remotes: [3 - i, 3] } };
        await lab.startDaemon(i, routingConfig(lab, i, mine, `dvr-mac: "${dvr(i)}"\ndvr-macs: ["${dvr(3 - i)}"]\n`));
      }
      await routingTenants(lab, { blue: {}, red: {} }, [1, 2], tenants);
      // C: a kernel VXLAN bridge on red, learning from the tunnel, with a tenant behind it.
      await lab.kernelVxlan(3, {
        vni: NETS.red.vni,
        dev: 'vx20',
        mac: '02:00:00:00:20:03',
        remotes: [lab.underlay(1), lab.underlay(2)],
      });
      const c = await lab.tenantBehindTap(3, 'vx20', 'red3', {
        mac: tenantMac('red', 3),
        addresses: [`${v4('red', 3)}/24`],
      });
      const atB = await tenantCapture(tenants.get('red@2')!, ['icmp']);
      // Pings to C's tenant: its replies have no router (C routes nothing; A and B drop frames to the gateway MAC
      // from a tunnel), so only the requests are counted, at C's tenant.
      const atC = await tenantCapture(c, ['icmp']);
      await pingFrom(lab, tenants.get('blue@1')!, v4('red', 3), { count: 2 });
      await pingFrom(lab, tenants.get('blue@2')!, v4('red', 3), { count: 2 });
      expectOk(await pingFrom(lab, tenants.get('blue@1')!, v4('red', 2)), 'ping blue@A -> red@B');
      const seenAtC = await atC.stop();
      expect(seenAtC.match(/echo request/g)?.length, seenAtC).toBeGreaterThanOrEqual(3);
      const fdbC = (await lab.exec(3, 'bridge', ['fdb', 'show', 'dev', 'vx20'])).stdout;
      expect(fdbC).toMatch(new RegExp(`^${dvr(1)} dst ${lab.underlay(1)} self`, 'm'));
      expect(fdbC).toMatch(new RegExp(`^${dvr(2)} dst ${lab.underlay(2)} self`, 'm'));
      expect((await lab.exec(3, 'bridge', ['fdb', 'show'])).stdout).not.toContain(GW_MAC);
      // red@B: A's routed frames arrive with the gateway MAC as source, never A's DVR MAC.
      const seenAtB = await atB.stop();
      const requests = seenAtB.split('\n').filter((l) => l.includes('echo request'));
      expect(requests.length, seenAtB).toBe(3);
      for (const l of requests) expect(l.startsWith(`${GW_MAC} > ${tenantMac('red', 2)}`), l).toBe(true);
      expect(seenAtB).not.toContain(dvr(1));
      // A DVR MAC is never learned.
      const fdbB = await json<{ mac: string }[]>(lab, 2, 'fdb', 'show');
      expect(fdbB.map((r) => r.mac)).not.toContain(dvr(1));
      expect(fdbB.map((r) => r.mac)).not.toContain(GW_MAC);
      const dvrRows = await json<{ mac: string; host: string }[]>(lab, 2, 'dvr-mac', 'show');
      expect(dvrRows).toEqual([
        { mac: dvr(2), host: 'this', origin: 'config' },
        { mac: dvr(1), host: 'other', origin: 'config' },
      ]);
    }));

  it('answers TTL 1 with time exceeded and no route with unreachable, from the gateway; answers a ping of the gateway locally; routes nothing without a gateway', () =>
    withLab(2, async (lab) => {
      const t = await routedVtepd(lab, { blue: {}, red: {}, green: { gateway: false } });
      const blue = t.get('blue@1')!;
      const ttl4 = await pingFrom(lab, blue, v4('red', 2), { count: 1, ttl: 1 });
      expect(ttl4.stdout).toMatch(new RegExp(`From ${gw4('blue')} icmp_seq=1 Time to live exceeded`));
      const ttl6 = await pingFrom(lab, blue, v6('red', 2), { count: 1, ttl: 1 });
      expect(ttl6.stdout).toMatch(new RegExp(`From ${gw6('blue')} icmp_seq=1 Time exceeded: Hop limit`));
      const none4 = await pingFrom(lab, blue, '10.99.0.1', { count: 1 });
      expect(none4.stdout).toMatch(new RegExp(`From ${gw4('blue')} icmp_seq=1 Destination Net Unreachable`));
      const none6 = await pingFrom(lab, blue, 'fd00:99::1', { count: 1 });
      expect(none6.stdout).toMatch(new RegExp(`From ${gw6('blue')} icmp_seq=1 Destination unreachable: No route`));

      const cap = await lab.capture(1, lab.dev(1), ['udp', 'port', '4789']);
      for (const gw of [gw4('blue'), gw6('blue'), gw4('red')]) {
        const r = await pingFrom(lab, blue, gw);
        expectOk(r, `ping ${gw}`);
        expect(replyTtls(r.stdout)).toEqual([64, 64, 64]);
      }
      expect(vxlanPackets(await cap.stop()).filter(isEcho)).toEqual([]);

      // green has no gateway: a frame of green to the gateway MAC is bridged (flooded), never routed.
      const green = t.get('green@1')!;
      expectOk(
        await lab.execIn(green, 'ip', ['neigh', 'replace', gw4('green'), 'lladdr', GW_MAC, 'dev', 'eth0']),
        'neigh',
      );
      expectOk(await lab.execIn(green, 'ip', ['route', 'add', 'default', 'via', gw4('green')]), 'route');
      const before = (await statsNow(lab, 1)).vrfs!.tenant1.counters;
      const r = await pingFrom(lab, green, v4('red', 2), { count: 2 });
      expect(r.code).not.toBe(0);
      const after = (await statsNow(lab, 1)).vrfs!.tenant1.counters;
      expect(after.routed).toBe(before.routed);
      expect(after['ttl-exceeded']).toBe(1 + 1);
      expect(after['no-route']).toBe(2);
      expect(after['icmp-sent']).toBe(4);
    }));

  it('resolves an absent neighbour with 3 requests from the gateway, queues 3 packets and counts the rest; a /16 scan stays bounded', () =>
    withLab(2, async (lab) => {
      const t = await routedVtepd(lab, { blue: {}, red: {}, green: { gateway4: '10.30.0.1/16' } });
      const blue = t.get('blue@1')!;
      expectOk(await pingFrom(lab, blue, v4('red', 2), { count: 1 }), 'ping red@B: its address resolved');
      const absent = '192.168.20.99';
      const cap = await lab.capture(1, lab.dev(1), ['udp', 'port', '4789']);
      const r = await lab.execIn(blue, 'ping', ['-c', '10', '-i', '0.05', '-W', '5', absent], 30_000);
      expect(r.stdout).toMatch(new RegExp(`From ${gw4('blue')} icmp_seq=\\d+ Destination Host Unreachable`));
      const asks = (await cap.stop())
        .map((rec) => ({ time: rec.time, p: decodeVxlan(rec.data) }))
        .filter(({ p }) => p?.arp?.op === ArpOp.Request && p.arp.targetIp === parseIpv4Address(absent));
      expect(asks.length).toBe(3);
      for (const { p } of asks) {
        expect(p!.vni).toBe(NETS.red.vni);
        expect(p!.eth.src).toBe(GW_MAC_NUM);
        expect(p!.arp!.senderIp).toBe(parseIpv4Address(gw4('red')));
      }
      // Retried 1 s apart.
      for (let k = 1; k < asks.length; k++) expect(asks[k].time - asks[k - 1].time).toBeGreaterThan(0.7);
      const counters = (await statsNow(lab, 1)).vrfs!.tenant1.counters;
      expect(counters['neigh-unresolved']).toBe(10);
      const neigh = await json<NeighRow[]>(lab, 1, 'neigh', 'show');
      expect(neigh).toContainEqual(expect.objectContaining({ ip: absent, mac: null, state: 'failed' }));

      // A scan of green's /16 from blue@A: every address unknown. The router asks for as many as its table holds,
      // drops and counts the rest, and its memory stays where it was.
      const pid = lab.daemons[0].proc.pid!;
      const rss = () => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]);
      const rssBefore = rss();
      const before = await statsNow(lab, 1);
      const scan = await lab.execIn(
        blue,
        process.execPath,
        [join(ROOT, 'scripts/lab/udp-scan.mjs'), '10.30', '9'],
        60_000,
      );
      expectOk(scan, 'scan');
      await sleep(200);
      const after = await statsNow(lab, 1);
      const report = after.vrfs!.tenant1;
      expect(report.resolving).toBeLessThanOrEqual(MAX_ENTRIES);
      expect(report.resolving).toBeGreaterThan(0);
      // Every datagram the router got (the kernel may drop some on the way to the TAP under such a burst) waits
      // (at most MAX_ENTRIES addresses) or is counted.
      const got = after.networks.blue.counters['tap-rx-frames'] - before.networks.blue.counters['tap-rx-frames'];
      expect(got).toBeGreaterThan(10_000);
      const unresolved = report.counters['neigh-unresolved'] - before.vrfs!.tenant1.counters['neigh-unresolved'];
      expect(unresolved).toBeGreaterThanOrEqual(got - MAX_ENTRIES - 16);
      expect(rss() - rssBefore, 'RSS growth in kB').toBeLessThan(64 * 1024);
      expectOk(await pingFrom(lab, blue, v4('red', 2), { count: 1 }), 'still routing to a known neighbour');
      // The scan's addresses fail: the table stops asking by itself.
      for (let k = 0; k < 100 && (await statsNow(lab, 1)).vrfs!.tenant1.resolving > 0; k++) await sleep(200);
      expect((await statsNow(lab, 1)).vrfs!.tenant1.resolving).toBe(0);
      // The dead addresses are still held as failed for a few seconds; one more fills the table whatever the scan
      // left free. A real neighbour asked for now takes the place of a failed one (it once waited out the hold).
      await lab.execIn(blue, 'ping', ['-c', '1', '-W', '0.2', '10.30.255.254']);
      const held = (await json<NeighRow[]>(lab, 1, 'neigh', 'show')).filter((n) => n.mac === null);
      expect(held.length, 'the table is full').toBe(MAX_ENTRIES);
      expect(held.filter((n) => n.state === 'failed').length).toBeGreaterThanOrEqual(MAX_ENTRIES - 1);
      expect(held.map((n) => n.ip)).not.toContain(v4('red', 1));
      expectOk(await pingFrom(lab, blue, v4('red', 1), { count: 1 }), 'a new neighbour resolved');
    }));

  it('reload adds a network with a gateway to the VRF and removes a route, losing no packet of the flows that use neither', () =>
    withLab(2, async (lab) => {
      const route = ' routes: [{ prefix: 10.99.0.0/16, via: 192.168.20.99 }] ';
      const before = { blue: {}, red: {} };
      const after = { blue: {}, red: {}, green: {} };
      const files = [1, 2].map((i) => lab.writeConfig(i, routingConfig(lab, i, before, '', route)));
      for (const i of [1, 2]) await lab.startDaemonArgs(i, ['--config', files[i - 1]]);
      const t = new Map<string, string>();
      await routingTenants(lab, before, [1, 2], t);
      expect((await json<RouteRow[]>(lab, 1, 'route', 'show')).map((r) => r.prefix)).toContain('10.99.0.0/16');
      expectOk(await pingFrom(lab, t.get('blue@1')!, v4('red', 2), { count: 1 }), 'warm-up routed');
      expectOk(await pingFrom(lab, t.get('blue@1')!, v4('blue', 2), { count: 1 }), 'warm-up bridged');
      const mon = spawn(join(ROOT, 'bin/vtepctl'), ['--socket', lab.socket(1), 'monitor'], {
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let events = '';
      mon.stdout.on('data', (d: Buffer) => (events += d.toString()));
      try {
        await streamsConnected(lab, 1, 1);
        const flows = [
          lab.execIn(t.get('blue@1')!, 'ping', ['-q', '-c', '300', '-i', '0.01', '-W', '1', v4('red', 2)], 60_000),
          lab.execIn(t.get('red@2')!, 'ping', ['-q', '-c', '300', '-i', '0.01', '-W', '1', v6('blue', 1)], 60_000),
          lab.execIn(t.get('blue@1')!, 'ping', ['-q', '-c', '300', '-i', '0.01', '-W', '1', v4('blue', 2)], 60_000),
        ];
        await sleep(1000);
        for (const i of [1, 2]) {
          writeFileSync(files[i - 1], routingConfig(lab, i, after));
          const r = await vtepctl('--socket', lab.socket(i), 'reload');
          expectOk(r, `reload h${i}`);
          expect(r.stdout).toMatch(/network green added/);
          expect(r.stdout).toMatch(/vrf tenant1: route 10\.99\.0\.0\/16 removed/);
          expect(r.stdout).not.toMatch(/network (blue|red)/);
        }
        for (const r of await Promise.all(flows)) {
          expectOk(r, 'a flow');
          expect(r.stdout).toMatch(/300 packets transmitted, 300 received, 0% packet loss/);
        }
        for (let k = 0; k < 20 && !/route added 192\.168\.30\.0\/24 dev green/.test(events); k++) await sleep(100);
        // Each text line starts with the event's time (UTC, milliseconds).
        const TIME = String.raw`\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z`;
        expect(events).toMatch(
          new RegExp(
            `^${TIME} route deleted 10\\.99\\.0\\.0/16 via 192\\.168\\.20\\.99 dev red vrf tenant1 origin config$`,
            'm',
          ),
        );
        expect(events).toMatch(
          new RegExp(`^${TIME} route added 192\\.168\\.30\\.0/24 dev green vrf tenant1 origin connected$`, 'm'),
        );
        for (const l of events.trim().split('\n'))
          expect(l).toMatch(new RegExp(`^${TIME} (fdb|neigh|route|remote|reload|pmtu) `));
      } finally {
        mon.kill('SIGINT');
      }
      const routes = await json<RouteRow[]>(lab, 1, 'route', 'show');
      expect(routes.map((r) => r.prefix)).not.toContain('10.99.0.0/16');
      expect(routes).toContainEqual(expect.objectContaining({ prefix: '192.168.30.0/24', network: 'green' }));
      await routingTenants(lab, { green: {} }, [1], t);
      expectOk(await pingFrom(lab, t.get('green@1')!, v4('red', 2)), 'the new network routes');
    }));

  it('upgrade keeps the routes and DVR MACs vtepctl added and the resolved neighbours, and routed pings lose none', () =>
    withLab(2, async (lab) => {
      const t = await routedVtepd(lab);
      const ctl = (...a: string[]) => vtepctl('--socket', lab.socket(1), ...a);
      expectOk(await ctl('route', 'add', '10.99.0.0/16', 'via', v4('red', 2), '--vrf', 'tenant1'), 'route add');
      expectOk(await ctl('dvr-mac', 'add', 'fa:16:3f:00:00:09'), 'dvr-mac add');
      expectOk(await pingFrom(lab, t.get('blue@1')!, v4('red', 2), { count: 1 }), 'warm-up');
      const run = lab.execIn(
        t.get('blue@1')!,
        'ping',
        ['-q', '-c', '300', '-i', '0.01', '-W', '2', v4('red', 2)],
        60_000,
      );
      await sleep(1000);
      const r = await ctl('upgrade', '--json');
      expectOk(r, 'upgrade');
      lab.adopt((JSON.parse(r.stdout) as { pid: number }).pid);
      const pings = await run;
      expect(pings.stdout).toMatch(/300 packets transmitted, 300 received, 0% packet loss/);
      const routes = await json<RouteRow[]>(lab, 1, 'route', 'show');
      expect(routes).toContainEqual(
        expect.objectContaining({ prefix: '10.99.0.0/16', via: v4('red', 2), network: 'red', origin: 'vtepctl' }),
      );
      const dvr = await json<{ mac: string; origin: string }[]>(lab, 1, 'dvr-mac', 'show');
      expect(dvr).toContainEqual(expect.objectContaining({ mac: 'fa:16:3f:00:00:09', origin: 'vtepctl' }));
      const neigh = await json<NeighRow[]>(lab, 1, 'neigh', 'show');
      expect(neigh).toContainEqual(expect.objectContaining({ ip: v4('red', 2), origin: 'resolved' }));
      expect((await statsNow(lab, 1)).vrfs!.tenant1.counters.routed).toBeGreaterThanOrEqual(301);
    }));
});
