// vtepd in a BGP EVPN fabric with FRR and the Linux kernel, everything in
// namespaces: h1 runs FRR as route reflector, h2 FRR driving a kernel VXLAN
// VTEP (advertise-all-vni, nolearning, ARP suppression) with a tenant host
// behind its bridge, h3 and h4 run vtepd. No remote is configured anywhere:
// BGP builds every flood list and FDB.
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { vxlanPackets } from '../../src/observe/dissect.ts';
import { gobgpdConfig } from '../../src/evpn/gobgp.ts';
import type { EvpnRouteRow, EvpnStatus } from '../../src/evpn/speaker.ts';
import type { FdbRow, NeighRow, RemoteRow } from '../../src/control/protocol.ts';
import {
  EVPN_ASN,
  kernelVtepConfig,
  routeReflectorConfig,
  spineConfig,
  vtepdEvpnConfig,
} from '../../scripts/lab/evpn-fabric.ts';
import { ROOT, sh, sleep, type DaemonProcess, type Lab } from '../../scripts/lab/lab.ts';
import { expectOk, streamsConnected, vtepctl, withLab } from './helpers.ts';

const VNI = 100;
const ip = (i: number) => `192.168.100.${i}`;
const MOBILE_MAC = '02:00:00:00:99:01';
const MOBILE_IP = '192.168.100.99';

interface Fabric {
  tenant: string;
  start(i: number): Promise<DaemonProcess>;
}

async function fabric(lab: Lab): Promise<Fabric> {
  const tenant = await lab.kernelEvpnVtep(2, {
    vni: VNI,
    address: `${ip(2)}/24`,
    mac: '02:00:00:00:00:02',
    bridgeAddress: `${ip(254)}/24`,
  });
  await lab.frr(1, routeReflectorConfig(lab, [2, 3, 4]));
  await lab.frr(2, kernelVtepConfig(lab, 2));
  const start = (i: number) =>
    lab.startDaemonArgs(i, [
      '--config',
      lab.writeConfig(i, vtepdEvpnConfig(lab, i, { vni: VNI, address: `${ip(i)}/24` })),
    ]);
  await start(3);
  await start(4);
  return { tenant, start };
}

async function ctlJson<T>(lab: Lab, i: number, ...args: string[]): Promise<T> {
  const r = await vtepctl('--socket', lab.socket(i), ...args, '--json');
  expectOk(r, `vtepctl ${args.join(' ')} on h${i}`);
  return JSON.parse(r.stdout) as T;
}

/** Polls until `check` holds, for up to `ms`; returns how long it took, or -1. */
async function within(ms: number, check: () => Promise<boolean>): Promise<number> {
  const t0 = Date.now();
  while (Date.now() - t0 < ms) {
    if (await check()) return Date.now() - t0;
    await sleep(50);
  }
  return -1;
}

/** Starts a command in a namespace; `seen` resolves with the time (Date.now()) of the first output line matching `pattern`. */
function firstLine(ns: string, cmd: string[], pattern: RegExp): { seen: Promise<number>; stop: () => void } {
  const p = spawn('ip', ['netns', 'exec', ns, ...cmd], { stdio: ['ignore', 'pipe', 'ignore'] });
  let out = '';
  const seen = new Promise<number>((resolve) => {
    p.stdout.on('data', (d: Buffer) => {
      const t = Date.now();
      out += d.toString();
      if (pattern.test(out)) resolve(t);
    });
  });
  return { seen, stop: () => p.kill('SIGKILL') };
}

async function kernelFdb(lab: Lab): Promise<string> {
  return (await lab.exec(2, 'bridge', ['fdb', 'show', 'dev', 'vxlan0'])).stdout;
}

async function floodsTo(lab: Lab, i: number): Promise<boolean> {
  return (await kernelFdb(lab)).includes(`00:00:00:00:00:00 dst ${lab.underlay(i)} self permanent`);
}

/** Every VTEP has every other in its flood list. */
async function converged(lab: Lab): Promise<void> {
  const t = await within(20_000, async () => {
    if (!(await floodsTo(lab, 3)) || !(await floodsTo(lab, 4))) return false;
    for (const i of [3, 4])
      if ((await ctlJson<RemoteRow[]>(lab, i, 'remote', 'show')).filter((r) => r.flood).length < 2) return false;
    return true;
  });
  expect(t, 'the fabric converged').toBeGreaterThanOrEqual(0);
}

/** h3 and h4 ping each other and h2, and the kernel VTEP's tenant pings h3 and h4. */
async function everyHostPingsEveryOther(lab: Lab, tenant: string): Promise<void> {
  for (const [from, to] of [
    [3, 2],
    [3, 4],
    [4, 2],
    [4, 3],
  ])
    expectOk(await lab.exec(from, 'ping', ['-c', '2', '-i', '0.2', '-W', '2', ip(to)]), `ping h${from} -> ${ip(to)}`);
  for (const to of [3, 4])
    expectOk(
      await lab.execIn(tenant, 'ping', ['-c', '2', '-i', '0.2', '-W', '2', ip(to)]),
      `ping kernel tenant -> ${ip(to)}`,
    );
}

async function tapMac(lab: Lab, i: number): Promise<string> {
  return (await lab.exec(i, 'cat', ['/sys/class/net/tap-blue/address'])).stdout.trim();
}

describe('vtepd in a BGP EVPN fabric with FRR and the kernel', () => {
  it('builds every flood list and FDB from routes: all hosts ping each other, each side shows what EVPN put there', () =>
    withLab(4, async (lab) => {
      const f = await fabric(lab);
      await converged(lab);
      for (const i of [3, 4]) {
        const remotes = await ctlJson<RemoteRow[]>(lab, i, 'remote', 'show');
        // Held by EVPN's inclusive multicast routes (and, once a MAC route for a host behind it came, by that entry too).
        expect(remotes.map((r) => [r.remote, r.flood, r.origins.filter((o) => o !== 'static')]).sort()).toEqual(
          [2, 3, 4]
            .filter((j) => j !== i)
            .map((j) => [lab.underlay(j), true, ['evpn']])
            .sort(),
        );
      }
      await everyHostPingsEveryOther(lab, f.tenant);
      // The kernel VTEP's FDB: each vtepd host's MAC, learned from EVPN.
      await sleep(500);
      const kfdb = await kernelFdb(lab);
      for (const i of [3, 4])
        expect(kfdb).toContain(`${await tapMac(lab, i)} dst ${lab.underlay(i)} self extern_learn`);
      // vtepd's FDB: the kernel tenant's MAC, origin evpn; the evpn show counts the routes.
      expect(await ctlJson<FdbRow[]>(lab, 3, 'fdb', 'show')).toContainEqual(
        expect.objectContaining({ mac: '02:00:00:00:00:02', remote: lab.underlay(2), origin: 'evpn', static: true }),
      );
      const status = await ctlJson<EvpnStatus>(lab, 3, 'evpn', 'show');
      expect(status.sessions).toEqual([
        expect.objectContaining({
          neighbor: lab.underlay(1),
          state: 'ESTABLISHED',
          'peer-as': 65000,
          flaps: 0,
          'hold-time': 9,
          since: expect.any(Number),
        }),
      ]);
      expect(Math.abs(Date.now() / 1000 - status.sessions[0].since!)).toBeLessThan(120);
      // FRR, the route reflector, sends vtepd its own routes back: counted apart, not as received
      // (read again while a route just advertised is still on its way back).
      const reflected = async () => {
        const s = await ctlJson<EvpnStatus>(lab, 3, 'evpn', 'show');
        const adv = s.networks.blue.advertised;
        return [
          s.sessions[0]['own-reflected'],
          adv['type-2'] + adv['type-3'],
          s.sessions[0].received - s.sessions[0].accepted,
        ];
      };
      let counts = await reflected();
      for (let k = 0; k < 20 && counts[0] !== counts[1]; k++) counts = await sleep(250).then(reflected);
      expect(counts).toEqual([counts[1], counts[1], 0]);
      expect(counts[1]).toBeGreaterThanOrEqual(2);
      expect(status.networks.blue).toMatchObject({
        vni: VNI,
        rd: `${lab.underlay(3)}:${VNI}`,
        'import-rt': ['65000:100'],
        advertised: { 'type-3': 1 },
        received: { 'type-3': 2 },
      });
      expect(status.networks.blue.advertised['type-2']).toBeGreaterThanOrEqual(1);
      const text = await vtepctl('--socket', lab.socket(3), 'evpn', 'show');
      expect(text.stdout).toMatch(
        /neighbor 10\.0\.0\.1: established, \d+ routes received, \d+ accepted \(and \d+ of our own reflected back\); AS 65000, up \d+s, 0 flaps, hold time 9 s$/m,
      );
      // evpn routes: its own type-3 advertised, the other two VTEPs' received and installed, and the
      // kernel tenant's MAC route installed with its next hop and route target.
      const routes = await ctlJson<EvpnRouteRow[]>(lab, 3, 'evpn', 'routes', '--type', '3');
      expect(routes.map((r) => [r.direction, r.vtep, r.installed]).sort()).toEqual(
        [
          ['advertised', lab.underlay(3), true],
          ['received', lab.underlay(2), true],
          ['received', lab.underlay(4), true],
        ].sort(),
      );
      const macs = await ctlJson<EvpnRouteRow[]>(lab, 3, 'evpn', 'routes', '--network', 'blue', '--type', '2');
      expect(macs).toContainEqual(
        expect.objectContaining({
          direction: 'received',
          type: 2,
          mac: '02:00:00:00:00:02',
          vtep: lab.underlay(2),
          vni: VNI,
          rts: ['65000:100'],
          installed: true,
        }),
      );
      expect(macs.every((r) => r.type === 2 && r.network === 'blue')).toBe(true);
      expect(macs.some((r) => r.direction === 'advertised' && r.vtep === lab.underlay(3))).toBe(true);
      const lines = (await vtepctl('--socket', lab.socket(3), 'evpn', 'routes')).stdout;
      expect(lines).toMatch(
        /^installed +blue type-2 rd \S+ mac 02:00:00:00:00:02 .*vtep 10\.0\.0\.2 vni 100 seq \d+ rt 65000:100$/m,
      );
      expect((await vtepctl('--socket', lab.socket(3), 'evpn', 'routes', '--type', '5')).code).toBe(2);
    }));

  it('answers ARP from EVPN MAC/IP routes on both sides: arping across VTEPs with no ARP in any tunnel', () =>
    withLab(4, async (lab) => {
      const f = await fabric(lab);
      await converged(lab);
      // Every host says who it is once: the kernel side's SVI resolves its tenant (FRR advertises MAC/IP), the vtepd hosts ARP (vtepd snoops it).
      expectOk(await lab.exec(2, 'ping', ['-c', '1', '-W', '2', ip(2)]), 'the kernel VTEP resolves its tenant');
      for (const [from, to] of [
        [3, 4],
        [4, 3],
        [3, 2],
        [4, 2],
      ])
        expectOk(
          await lab.exec(from, 'ping', ['-c', '2', '-i', '0.2', '-W', '2', ip(to)]),
          `warm-up ping h${from} -> ${ip(to)}`,
        );
      expect(
        await within(5000, async () => {
          const n = await ctlJson<NeighRow[]>(lab, 3, 'neigh', 'show');
          return [ip(2), ip(4)].every((a) => n.some((r) => r.ip === a && r.origin === 'evpn'));
        }),
      ).toBeGreaterThanOrEqual(0);
      expect(
        await within(5000, async () =>
          (await lab.exec(2, 'ip', ['neigh', 'show', 'dev', 'br0'])).stdout.includes(`${ip(3)} lladdr`),
        ),
      ).toBeGreaterThanOrEqual(0);
      // Forget what the hosts resolved, so that they ask again.
      for (const i of [3, 4]) await lab.exec(i, 'ip', ['neigh', 'flush', 'dev', 'tap-blue']);
      await lab.execIn(f.tenant, 'ip', ['neigh', 'flush', 'dev', 'eth0']);
      const caps = await Promise.all([2, 3, 4].map((i) => lab.capture(i, lab.dev(i), ['udp', 'port', '4789'])));
      expectOk(
        await lab.exec(3, 'arping', ['-c', '2', '-w', '3', '-i', 'tap-blue', ip(2)]),
        'arping vtepd -> kernel tenant',
      );
      expectOk(await lab.exec(3, 'arping', ['-c', '2', '-w', '3', '-i', 'tap-blue', ip(4)]), 'arping vtepd -> vtepd');
      expectOk(
        await lab.execIn(f.tenant, 'arping', ['-c', '2', '-w', '3', '-i', 'eth0', ip(3)]),
        'arping kernel tenant -> vtepd',
      );
      const tunneled = (await Promise.all(caps.map((c) => c.stop()))).flatMap((r) => vxlanPackets(r));
      expect(tunneled.filter((p) => p.arp !== undefined).map((p) => `${p.src} > ${p.dst}`)).toEqual([]);
      const s = await ctlJson<{ networks: { blue: { counters: Record<string, number> } } }>(lab, 3, 'stats');
      expect(s.networks.blue.counters['arp-suppressed']).toBeGreaterThanOrEqual(4);
    }));

  it("keeps a host's gratuitous ARP out of the tunnels, as the kernel's neigh_suppress does: its MAC/IP route tells the other VTEPs", () =>
    withLab(4, async (lab) => {
      await fabric(lab);
      await converged(lab);
      const NEW_IP = ip(33);
      await lab.exec(3, 'ip', ['addr', 'add', `${NEW_IP}/24`, 'dev', 'tap-blue']);
      const caps = await Promise.all([2, 3, 4].map((i) => lab.capture(i, lab.dev(i), ['udp', 'port', '4789'])));
      await lab.exec(3, 'arping', ['-U', '-S', NEW_IP, '-c', '2', '-w', '1', '-i', 'tap-blue', NEW_IP]); // sender = target: gratuitous
      expect(
        await within(5000, async () =>
          (await ctlJson<NeighRow[]>(lab, 4, 'neigh', 'show')).some((r) => r.ip === NEW_IP && r.origin === 'evpn'),
        ),
        'vtepd on h4 has the address from its MAC/IP route',
      ).toBeGreaterThanOrEqual(0);
      expect(
        await within(5000, async () =>
          (await lab.exec(2, 'ip', ['neigh', 'show', 'dev', 'br0'])).stdout.includes(`${NEW_IP} lladdr`),
        ),
        'the kernel VTEP (FRR) has it from the route',
      ).toBeGreaterThanOrEqual(0);
      const tunneled = (await Promise.all(caps.map((c) => c.stop()))).flatMap((r) => vxlanPackets(r));
      expect(tunneled.filter((p) => p.arp !== undefined).map((p) => `${p.src} > ${p.dst}`)).toEqual([]);
      const s = await ctlJson<{ networks: { blue: { counters: Record<string, number> } } }>(lab, 3, 'stats');
      expect(s.networks.blue.counters['arp-suppressed']).toBeGreaterThanOrEqual(2);
    }));

  it('follows a host that moves to another VTEP within a second everywhere, with a higher sequence number', () =>
    withLab(4, async (lab) => {
      await fabric(lab);
      await converged(lab);
      // The mobile host: a macvlan on h4's TAP, then the same MAC and address on h3's.
      const host = async (i: number) => {
        expectOk(
          await lab.exec(i, 'ip', [
            'link',
            'add',
            'mv0',
            'link',
            'tap-blue',
            'address',
            MOBILE_MAC,
            'type',
            'macvlan',
            'mode',
            'bridge',
          ]),
          `macvlan on h${i}`,
        );
        expectOk(await lab.exec(i, 'ip', ['addr', 'add', `${MOBILE_IP}/32`, 'dev', 'mv0']), 'its address');
        expectOk(await lab.exec(i, 'ip', ['link', 'set', 'mv0', 'up']), 'up');
        await lab.exec(i, 'arping', ['-U', '-c', '1', '-w', '1', '-I', 'mv0', MOBILE_IP]); // the host announces itself (nobody answers that)
      };
      const at = async (i: number) =>
        (await ctlJson<FdbRow[]>(lab, i, 'fdb', 'show')).find((r) => r.mac === MOBILE_MAC);
      await host(4);
      expect(
        await within(
          5000,
          async () =>
            (await at(3))?.remote === lab.underlay(4) &&
            (await kernelFdb(lab)).includes(`${MOBILE_MAC} dst ${lab.underlay(4)}`),
        ),
      ).toBeGreaterThanOrEqual(0);
      expectOk(await lab.exec(4, 'ip', ['link', 'del', 'mv0']), 'the host leaves h4');
      // Watch every VTEP for the MAC pointing at h3, with the time each one sees it.
      const mac = MOBILE_MAC.replace(/:/g, '\\:');
      const watchers = [
        firstLine(
          lab.ns(3),
          [join(ROOT, 'bin/vtepctl'), '--socket', lab.socket(3), 'monitor'],
          new RegExp(`fdb moved ${mac} network blue local`),
        ),
        firstLine(
          lab.ns(4),
          [join(ROOT, 'bin/vtepctl'), '--socket', lab.socket(4), 'monitor'],
          new RegExp(`fdb added ${mac} network blue dst 10\\.0\\.0\\.3 origin evpn`),
        ),
        firstLine(lab.ns(2), ['bridge', 'monitor', 'fdb'], new RegExp(`${mac} dev vxlan0 dst 10\\.0\\.0\\.3`)),
      ];
      try {
        await streamsConnected(lab, 3, 1);
        await streamsConnected(lab, 4, 1);
        await sleep(500); // bridge monitor too
        const t0 = Date.now();
        await host(3);
        const seen = await Promise.race([Promise.all(watchers.map((w) => w.seen)), sleep(5000).then(() => undefined)]);
        expect(seen, 'every VTEP points at h3').toBeDefined();
        const took = Math.max(...seen!) - t0;
        expect(took, "within a second of the host's first frame on h3").toBeLessThanOrEqual(1000);
      } finally {
        for (const w of watchers) w.stop();
      }
      expect((await at(3))?.remote).toBe(null);
      expect((await at(4))?.remote).toBe(lab.underlay(3));
      // In GoBGP's RIB on h3: the MAC advertised with MAC Mobility sequence number 1.
      const gobgp = (await ctlJson<EvpnStatus>(lab, 3, 'evpn', 'show')).gobgp;
      const rib = await lab.exec(3, 'gobgp', [
        '-u',
        gobgp.split(':')[0],
        '-p',
        gobgp.split(':')[1],
        'global',
        'rib',
        '-a',
        'evpn',
        '-j',
      ]);
      expectOk(rib, 'gobgp global rib');
      type RibPath = {
        nlri: { value: { mac: string; ip: string } };
        attrs: { type: number; value?: { type: number; subtype: number; sequence?: number }[] }[];
      };
      const mine = Object.values(JSON.parse(rib.stdout) as Record<string, RibPath[]>)
        .flat()
        .filter((p) => p.nlri.value.mac === MOBILE_MAC);
      expect(mine.map((p) => p.nlri.value.ip).sort()).toEqual(['<nil>', MOBILE_IP].sort()); // MAC only, and MAC/IP
      for (const p of mine) {
        const communities = p.attrs.find((a) => a.type === 16)?.value ?? [];
        expect(communities.find((c) => c.type === 6 && c.subtype === 0)?.sequence, 'MAC Mobility sequence number').toBe(
          1,
        );
      }
    }));

  it('withdraws its routes when stopped, is back when restarted, and its routes go after the hold time when killed', () =>
    withLab(4, async (lab) => {
      await fabric(lab);
      await converged(lab);
      const d4 = lab.daemons.at(-1)!;
      expect(await d4.stop()).toBe(0);
      expect(
        await within(3000, async () => !(await floodsTo(lab, 4))),
        'SIGTERM: the kernel VTEP drops h4 from its flood list',
      ).toBeGreaterThanOrEqual(0);
      expect((await ctlJson<RemoteRow[]>(lab, 3, 'remote', 'show')).map((r) => r.remote)).not.toContain(
        lab.underlay(4),
      );
      // Back, this time from the command line alone.
      const again = await lab.startDaemonArgs(4, [
        '--local',
        lab.underlay(4),
        '--tap',
        'tap-blue',
        '--vni',
        String(VNI),
        '--address',
        `${ip(4)}/24`,
        '--evpn-asn',
        '65000',
        '--evpn-neighbor',
        lab.underlay(1),
        '--no-learning',
        '--arp-responder',
        '--socket',
        lab.socket(4),
      ]);
      expect(
        await within(15_000, async () => floodsTo(lab, 4)),
        'restarted: back in the flood list',
      ).toBeGreaterThanOrEqual(0);
      again.proc.kill('SIGKILL');
      expect(
        await within(12_000, async () => !(await floodsTo(lab, 4))),
        'SIGKILL: gone within the hold time (9 s)',
      ).toBeGreaterThanOrEqual(0);
      const gobgpds = async () =>
        (await sh('ip', ['netns', 'pids', lab.ns(4)])).stdout.split('\n').filter(Boolean).length;
      expect(
        await within(3000, async () => (await gobgpds()) === 0),
        "the killed daemon's gobgpd went with it",
      ).toBeGreaterThanOrEqual(0);
    }));

  it('starts its gobgpd again when it dies, reconnects, advertises again and resyncs: the fabric converges back', () =>
    withLab(4, async (lab) => {
      // What a vtepd killed between writing its gobgpd's config and gobgpd reading it leaves: removed at start.
      const dead = (await sh('sh', ['-c', 'sh -c "echo \\$\\$"'])).stdout.trim();
      const stale = join(tmpdir(), `vtepd-gobgp-${dead}-0badc0de.toml`);
      writeFileSync(stale, '# left by a vtepd that is gone\n');
      const f = await fabric(lab);
      await converged(lab);
      expect(existsSync(stale), "a dead vtepd's gobgpd config, removed at start").toBe(false);
      const d4 = lab.daemons.at(-1)!;
      const gobgpd = async () => {
        for (const pid of (await sh('ip', ['netns', 'pids', lab.ns(4)])).stdout.split('\n').filter(Boolean)) {
          const comm = await sh('cat', [`/proc/${pid}/comm`]);
          if (comm.stdout.trim() === 'gobgpd') return Number(pid);
        }
        return undefined;
      };
      const first = await gobgpd();
      expect(first, "h4's gobgpd").toBeDefined();
      // Its config file is gone once gobgpd read it: nothing a SIGKILL of vtepd could leave behind.
      const args = readFileSync(`/proc/${first}/cmdline`, 'utf8').split('\0');
      const config = args[args.indexOf('-f') + 1];
      expect(config).toMatch(/\/vtepd-gobgp-\d+-[0-9a-f]+\.toml$/);
      expect(existsSync(config), `${config} left after gobgpd read it`).toBe(false);
      // One thread runs its Go code: a leaf's BGP has no parallel work to spread over the cores.
      expect(readFileSync(`/proc/${first}/environ`, 'utf8').split('\0')).toContain('GOMAXPROCS=1');
      process.kill(first!, 'SIGKILL');
      // The route reflector drops h4's routes at once (its session reset), then has them again.
      expect(
        await within(5000, async () => !(await floodsTo(lab, 4))),
        'the fabric lost h4 with its gobgpd',
      ).toBeGreaterThanOrEqual(0);
      expect(
        await within(
          30_000,
          async () => (await floodsTo(lab, 4)) && (await ctlJson<EvpnStatus>(lab, 4, 'evpn', 'show')).following,
        ),
        'h4 advertises again and follows the routes again',
      ).toBeGreaterThanOrEqual(0);
      const second = await gobgpd();
      expect(second).toBeDefined();
      expect(second).not.toBe(first);
      expect(d4.log).toMatch(/gobgpd \d+ exited \(SIGKILL\); starting it again/);
      expect(d4.log).toMatch(/following GoBGP's routes again: \d+ received, resynced/);
      const status = await ctlJson<EvpnStatus>(lab, 4, 'evpn', 'show');
      expect(status.resyncs).toBeGreaterThanOrEqual(1);
      expect(status.networks.blue.received['type-3']).toBe(2);
      expect(
        await within(10_000, async () => {
          const r = await lab.execIn(f.tenant, 'ping', ['-c', '1', '-W', '1', ip(4)]);
          return r.code === 0;
        }),
        'the kernel tenant reaches h4 again',
      ).toBeGreaterThanOrEqual(0);
      expectOk(await lab.exec(4, 'ping', ['-c', '2', '-i', '0.2', '-W', '2', ip(3)]), 'ping h4 -> h3');
    }));
});

describe('vtepd as an eBGP leaf (RFC 7938)', () => {
  it('an FRR spine in AS 65000 (remote-as external), an FRR + kernel leaf in 65002, vtepd leaves in 65003 and 65004 (one with TCP MD5), no import-rt anywhere: every host pings every other', () =>
    withLab(4, async (lab) => {
      const tenant = await lab.kernelEvpnVtep(2, {
        vni: VNI,
        address: `${ip(2)}/24`,
        mac: '02:00:00:00:00:02',
        bridgeAddress: `${ip(254)}/24`,
      });
      // The session to h4 is signed (TCP MD5): it comes up only if vtepd's gobgpd signs with the same key.
      await lab.frr(1, spineConfig(lab, [2, 3, 4], { 4: 'leaf4-key' }));
      await lab.frr(2, kernelVtepConfig(lab, 2, 65002));
      const leaf = (i: number, evpn: string) =>
        lab.writeConfig(
          i,
          vtepdEvpnConfig(lab, i, { vni: VNI, address: `${ip(i)}/24` }).replace(
            `evpn: { asn: ${EVPN_ASN}, neighbors: [${lab.underlay(1)}], hold-time: 9 }`,
            `evpn: ${evpn}`,
          ),
        );
      // One with peer-as for all its neighbors, one with a neighbor object taking any AS but its own; and a
      // session between the two leaves, over which neither may pass on what the spine sent it.
      await lab.startDaemonArgs(3, [
        '--config',
        leaf(
          3,
          `{ asn: 65003, peer-as: 65000, neighbors: [${lab.underlay(1)}, { address: ${lab.underlay(4)}, peer-as: 65004 }] }`,
        ),
      ]);
      const d4 = await lab.startDaemonArgs(4, [
        '--config',
        leaf(
          4,
          `{ asn: 65004, neighbors: [{ address: ${lab.underlay(1)}, peer-as: external, hold-time: 9, password: leaf4-key }, ` +
            `{ address: ${lab.underlay(3)}, peer-as: 65003 }] }`,
        ),
      ]);
      // The kernel floods to both vtepd leaves: their routes crossed the spine with their own next hops.
      await converged(lab);
      await everyHostPingsEveryOther(lab, tenant);
      expect(await ctlJson<FdbRow[]>(lab, 3, 'fdb', 'show')).toContainEqual(
        expect.objectContaining({ mac: '02:00:00:00:00:02', remote: lab.underlay(2), origin: 'evpn' }),
      );
      for (const [i, asn] of [
        [3, 65003],
        [4, 65004],
      ]) {
        const other = i === 3 ? 4 : 3;
        // Two gobgpds each wait 5 to 10 s before they first dial (FRR's spine dials at once): the fabric
        // converges through the spine before the leaves' own session is up.
        const leafSession = await within(30_000, async () =>
          (await ctlJson<EvpnStatus>(lab, i, 'evpn', 'show')).sessions.some(
            (p) => p.neighbor === lab.underlay(other) && p.state === 'ESTABLISHED',
          ),
        );
        expect(leafSession, `h${i}'s session to h${other}`).toBeGreaterThanOrEqual(0);
        const status = await ctlJson<EvpnStatus>(lab, i, 'evpn', 'show');
        expect(status.asn).toBe(asn);
        expect(status.sessions).toEqual(
          expect.arrayContaining([
            expect.objectContaining({ neighbor: lab.underlay(1), state: 'ESTABLISHED', 'peer-as': 65000 }),
            expect.objectContaining({ neighbor: lab.underlay(other), state: 'ESTABLISHED', 'peer-as': 65000 + other }),
          ]),
        );
        // A VTEP is no transit: to the other leaf it sends its own routes alone (route distinguisher
        // router-id:VNI), not the kernel leaf's it got from the spine, which GoBGP would send with itself as
        // next hop.
        const [host, port] = status.gobgp.split(':');
        const adjOut = () =>
          lab.exec(i, 'gobgp', ['-u', host, '-p', port, 'neighbor', lab.underlay(other), 'adj-out', '-a', 'evpn']);
        let out = await adjOut();
        // Just established: the first updates may still be on their way.
        for (let k = 0; k < 50 && (out.stdout.match(/\[rd:/g)?.length ?? 0) < 3; k++) {
          await sleep(100);
          out = await adjOut();
        }
        expectOk(out, 'gobgp adj-out');
        const rds = [...out.stdout.matchAll(/\[rd:([\d.]+):\d+\]/g)].map((m) => m[1]);
        expect(rds.length, out.stdout).toBeGreaterThanOrEqual(2); // its type 3, and the MAC of its TAP
        expect(new Set(rds), out.stdout).toEqual(new Set([lab.underlay(i)]));
        // FRR's auto-derived targets carry each leaf's own AS: vtepd imports any AS, and exports its own.
        expect(status.networks.blue['import-rt']).toEqual([`*:${VNI}`]);
        expect(status.networks.blue['export-rt']).toEqual([`${asn}:${VNI}`]);
        expect(status.networks.blue.received['type-3']).toBeGreaterThanOrEqual(2);
      }
      expect(d4.log).toMatch(/evpn: AS 65004, router-id \S+, neighbors 10\.0\.0\.1 \(AS external\)/);
    }));
});

describe('vtepd as an eBGP leaf over a routed underlay', () => {
  it('an eBGP peer behind a router gets a multihop session (TTL 255: it arrives with 254 after one hop), the routes cross and so do pings', () =>
    withLab(2, async (lab) => {
      const tenant = await lab.kernelEvpnVtep(1, {
        vni: VNI,
        address: `${ip(1)}/24`,
        mac: '02:00:00:00:00:01',
        bridgeAddress: `${ip(254)}/24`,
      });
      // h2 behind a router, and each host's route to the other through it: the peer is no connected subnet.
      await lab.routeThrough(2, 1500);
      await lab.exec(1, 'ip', ['route', 'add', `${lab.underlay(2)}/32`, 'via', '10.0.0.254']);
      await lab.exec(2, 'ip', ['route', 'add', `${lab.underlay(1)}/32`, 'via', '10.0.0.254']);
      expectOk(await lab.exec(2, 'ping', ['-c', '1', '-W', '2', lab.underlay(1)]), 'the underlay through the router');
      await lab.frr(
        1,
        `frr defaults datacenter
hostname leaf1
router bgp 65002
 bgp router-id ${lab.underlay(1)}
 no bgp default ipv4-unicast
 neighbor ${lab.underlay(2)} remote-as external
 neighbor ${lab.underlay(2)} ebgp-multihop 255
 neighbor ${lab.underlay(2)} timers 3 9
 address-family l2vpn evpn
  neighbor ${lab.underlay(2)} activate
  advertise-all-vni
 exit-address-family
`,
      );
      // BGP messages (PSH), not the handshake: a SYN-ACK leaves with the listening socket's TTL.
      const bgp = await lab.capture(1, lab.dev(1), [
        '-c',
        '5',
        `tcp port 179 and src ${lab.underlay(2)} and tcp[tcpflags] & tcp-push != 0`,
      ]);
      const d = await lab.startDaemonArgs(2, [
        '--config',
        lab.writeConfig(
          2,
          vtepdEvpnConfig(lab, 2, { vni: VNI, address: `${ip(2)}/24` }).replace(
            `evpn: { asn: ${EVPN_ASN}, neighbors: [${lab.underlay(1)}], hold-time: 9 }`,
            // A numeric peer AS: with `external` (peer AS 0) GoBGP 3.10 leaves the TTL at the system's 64.
            `evpn: { asn: 65003, peer-as: 65002, neighbors: [${lab.underlay(1)}], hold-time: 9 }`,
          ),
        ),
      ]);
      expect(d.log).toContain(`neighbors ${lab.underlay(1)} (AS 65002, multihop)`);
      const up = await within(30_000, async () =>
        (await ctlJson<EvpnStatus>(lab, 2, 'evpn', 'show')).sessions.some((p) => p.state === 'ESTABLISHED'),
      );
      expect(up, 'the multihop session').toBeGreaterThanOrEqual(0);
      const packets = await bgp.stop();
      expect(packets.length).toBeGreaterThan(0);
      for (const p of packets) expect(p.data[14 + 8], "TTL of vtepd's BGP packets after one router").toBe(254);
      expect(
        await within(10_000, async () =>
          (await lab.exec(1, 'bridge', ['fdb', 'show', 'dev', 'vxlan0'])).stdout.includes(
            `00:00:00:00:00:00 dst ${lab.underlay(2)} self permanent`,
          ),
        ),
        'the kernel floods to vtepd: its type-3 route crossed',
      ).toBeGreaterThanOrEqual(0);
      expectOk(await lab.exec(2, 'ping', ['-c', '2', '-i', '0.2', '-W', '2', ip(1)]), 'vtepd -> the kernel VTEP');
      expectOk(
        await lab.execIn(tenant, 'ping', ['-c', '2', '-i', '0.2', '-W', '2', ip(2)]),
        "the kernel VTEP's tenant -> vtepd",
      );
    }));
});

describe('BGP sessions in vtepd log', () => {
  it('says why a session cannot come up (a wrong AS), in the log at its default level and in evpn show', () =>
    withLab(2, async (lab) => {
      await lab.frr(1, routeReflectorConfig(lab, [2]));
      // FRR is AS 65000; vtepd, AS 65003, expects its peer in its own AS (iBGP): its gobgpd refuses FRR's OPEN.
      const config = vtepdEvpnConfig(lab, 2, { vni: VNI, address: `${ip(2)}/24` }).replace(
        `asn: ${EVPN_ASN}`,
        'asn: 65003',
      );
      const d = await lab.startDaemonArgs(2, ['--config', lab.writeConfig(2, config)]);
      expect(
        await within(20_000, async () =>
          /notification sent: as number mismatch expected 65003, received 65000/.test(d.log),
        ),
        `the reason in vtepd's log at its default level:\n${d.log}`,
      ).toBeGreaterThanOrEqual(0);
      const status = await ctlJson<EvpnStatus>(lab, 2, 'evpn', 'show');
      expect(status['last-error']).toMatch(/BGP session with 10\.0\.0\.1: notification sent: as number mismatch/);
      // gobgpd retries every 2 s; the same reason is told once a minute, not at each retry.
      await sleep(5000);
      expect(d.log.match(/notification sent: as number mismatch/g)).toHaveLength(1);
      expect(d.log).not.toMatch(/BGP session with 10\.0\.0\.1 established/);
    }));

  it('names an eBGP peer in another AS than peer-as in evpn show within a hold time (RFC 4271 "Bad Peer AS")', () =>
    withLab(2, async (lab) => {
      await lab.frr(1, spineConfig(lab, [2]));
      // The spine is AS 65000; the leaf (AS 65003) was told 65009.
      const config = vtepdEvpnConfig(lab, 2, { vni: VNI, address: `${ip(2)}/24` }).replace(
        `asn: ${EVPN_ASN}`,
        'asn: 65003, peer-as: 65009',
      );
      const d = await lab.startDaemonArgs(2, ['--config', lab.writeConfig(2, config)]);
      const t0 = Date.now();
      let status: EvpnStatus | undefined;
      while (Date.now() - t0 < 9_000 + 10_000) {
        status = await ctlJson<EvpnStatus>(lab, 2, 'evpn', 'show');
        if (/as number mismatch expected 65009, received 65000/.test(status['last-error'] ?? '')) break;
        await sleep(250);
      }
      // GoBGP dials 5-10 s after it starts: within a hold time of that.
      expect(status?.['last-error'], d.log).toMatch(
        /BGP session with 10\.0\.0\.1: notification sent: as number mismatch expected 65009, received 65000/,
      );
      expect(status?.sessions[0]).toMatchObject({ neighbor: lab.underlay(1), 'peer-as': 65009 });
      expect(status?.sessions[0].state).not.toBe('established');
    }));

  it("with a gobgpd it did not start (evpn.gobgp), logs the session up and down from GoBGP's peer events, and tells monitor", () =>
    withLab(2, async (lab) => {
      await lab.frr(1, routeReflectorConfig(lab, [2]));
      const toml = lab.writeConfig(
        2,
        gobgpdConfig({
          asn: EVPN_ASN,
          routerId: lab.underlay(2),
          local: lab.underlay(2),
          neighbors: [{ address: lab.underlay(1), peerAs: EVPN_ASN, holdTime: 9, multihop: false }],
        }),
        'gobgpd.toml',
      );
      lab.spawnCommand(2, 'gobgpd', ['-f', toml, '-t', 'toml', '--api-hosts', '127.0.0.1:50077', '--pprof-disable']);
      const config = vtepdEvpnConfig(lab, 2, { vni: VNI, address: `${ip(2)}/24` }).replace(
        'hold-time: 9 }',
        'hold-time: 9, gobgp: "127.0.0.1:50077" }',
      );
      const d = await lab.startDaemonArgs(2, ['--config', lab.writeConfig(2, config)]);
      expect(
        await within(25_000, async () => /evpn: BGP session with 10\.0\.0\.1 established/.test(d.log)),
        d.log,
      ).toBeGreaterThanOrEqual(0);
      const monitor = spawn(join(ROOT, 'bin/vtepctl'), ['--socket', lab.socket(2), 'monitor', '--json']);
      let events = '';
      monitor.stdout.on('data', (b: Buffer) => (events += b.toString()));
      lab.adopt(monitor.pid!);
      await streamsConnected(lab, 2, 1);
      process.kill(Number(readFileSync(`/var/run/frr/${lab.ns(1)}/bgpd.pid`, 'utf8').trim()), 'SIGKILL');
      expect(
        await within(15_000, async () =>
          /evpn: BGP session with 10\.0\.0\.1 down \(now (idle|active|connect)\)/.test(d.log),
        ),
        d.log,
      ).toBeGreaterThanOrEqual(0);
      expect(
        await within(5000, async () =>
          /"event":"bgp","neighbor":"10\.0\.0\.1","state":"down","reason":"down \(now /.test(events),
        ),
        events,
      ).toBeGreaterThanOrEqual(0);
      monitor.kill();
    }));

  it('logs the session established at info level, serves it and the routes as Prometheus metrics, and tells monitor when it goes down', () =>
    withLab(2, async (lab) => {
      await lab.frr(1, routeReflectorConfig(lab, [2]));
      const d = await lab.startDaemonArgs(2, [
        '--config',
        lab.writeConfig(
          2,
          vtepdEvpnConfig(lab, 2, { vni: VNI, address: `${ip(2)}/24`, extra: 'metrics: 127.0.0.1:9465\n' }),
        ),
      ]);
      expect(
        await within(20_000, async () => /evpn: BGP session with 10\.0\.0\.1 established/.test(d.log)),
        d.log,
      ).toBeGreaterThanOrEqual(0);
      const scrape = async () => {
        const script = "const r = await fetch('http://127.0.0.1:9465/metrics'); process.stdout.write(await r.text());";
        const r = await lab.exec(2, process.execPath, ['--input-type=module', '-e', script]);
        expectOk(r, 'GET /metrics');
        return r.stdout;
      };
      let page = '';
      expect(
        await within(10_000, async () =>
          /vtepd_evpn_routes\{network="blue",type="3",direction="advertised"\} 1/.test((page = await scrape())),
        ),
        page,
      ).toBeGreaterThanOrEqual(0);
      expect(page).toMatch(/^vtepd_evpn_session_up\{neighbor="10\.0\.0\.1"\} 1$/m);
      expect(page).toMatch(/^vtepd_evpn_session_flaps_total\{neighbor="10\.0\.0\.1"\} 0$/m);
      expect(page).toMatch(/^vtepd_evpn_withdraw_failures_total 0$/m);
      // The route reflector gone: the session is down within the hold time (9 s), and the gauge says so,
      // and so does monitor.
      const monitor = spawn(join(ROOT, 'bin/vtepctl'), ['--socket', lab.socket(2), 'monitor', '--json']);
      let events = '';
      monitor.stdout.on('data', (b: Buffer) => (events += b.toString()));
      lab.adopt(monitor.pid!);
      await streamsConnected(lab, 2, 1);
      // (by its own pid file: a pkill would reach other labs' bgpd, namespaces share the PID space)
      process.kill(Number(readFileSync(`/var/run/frr/${lab.ns(1)}/bgpd.pid`, 'utf8').trim()), 'SIGKILL');
      expect(
        await within(15_000, async () =>
          /^vtepd_evpn_session_up\{neighbor="10\.0\.0\.1"\} 0$/m.test((page = await scrape())),
        ),
        page,
      ).toBeGreaterThanOrEqual(0);
      expect(
        await within(5000, async () => /"event":"bgp","neighbor":"10\.0\.0\.1","state":"down","reason":"/.test(events)),
        events,
      ).toBeGreaterThanOrEqual(0);
      monitor.kill();
    }));
});
