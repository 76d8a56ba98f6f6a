// vtepd against a malicious BGP EVPN peer: h1 runs a gobgpd of the test's own
// (scripts/lab/rogue-peer.ts) that advertises routes no honest VTEP sends,
// h2 runs vtepd peering with it. What vtepd takes from BGP must pass the
// checks `vtepctl remote add` makes: nothing it refuses from an operator may
// arrive by a route instead.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { EvpnStatus } from '../../src/evpn/speaker.ts';
import type { RemoteRow } from '../../src/control/protocol.ts';
import type { RogueRoute } from '../../scripts/lab/rogue-peer.ts';
import { vtepdEvpnConfig } from '../../scripts/lab/evpn-fabric.ts';
import { ROOT, sleep, type DaemonProcess, type Lab } from '../../scripts/lab/lab.ts';
import { vxlanPackets } from '../../src/observe/dissect.ts';
import { expectOk, vtepctl, withLab } from './helpers.ts';

const VNI = 100;
const RT = `65000:${VNI}`;

async function ctlJson<T>(lab: Lab, i: number, ...args: string[]): Promise<T> {
  const r = await vtepctl('--socket', lab.socket(i), ...args, '--json');
  expectOk(r, `vtepctl ${args.join(' ')} on h${i}`);
  return JSON.parse(r.stdout) as T;
}

async function until(ms: number, what: () => string, check: () => Promise<boolean>): Promise<void> {
  const t0 = Date.now();
  while (!(await check())) {
    if (Date.now() - t0 > ms) throw new Error(`not within ${ms} ms: ${what()}`);
    await sleep(100);
  }
}

/** Starts the rogue peer in h1, peering with h2; resolves with its API address once GoBGP took every route. */
async function rogue(lab: Lab, routes: RogueRoute[]): Promise<{ proc: DaemonProcess; api: string }> {
  const file = lab.writeConfig(1, JSON.stringify(routes), 'rogue-routes.json');
  const proc = lab.spawnCommand(1, join(ROOT, 'scripts/lab/rogue-peer.ts'), [lab.underlay(1), lab.underlay(2), file]);
  await until(
    30_000,
    () => `the rogue peer announces:\n${proc.log}`,
    async () => /announced \d+/.test(proc.log),
  );
  return { proc, api: /api (\S+)/.exec(proc.log)![1] };
}

/** What the rogue's gobgpd has in its RIB, as `gobgp global rib -a evpn` prints it. */
async function rogueRib(lab: Lab, api: string): Promise<string> {
  const [host, port] = api.split(':');
  const r = await lab.exec(1, 'gobgp', ['-u', host, '-p', port, 'global', 'rib', '-a', 'evpn']);
  expectOk(r, 'gobgp global rib');
  return r.stdout;
}

describe('EVPN routes from a hostile peer', () => {
  it('ignores next hops no VTEP can have (multicast, unspecified, loopback, broadcast, its own, the overlay), counts them by reason, floods only to the real VTEP, and freezes a MAC hijacked with sequence 4294967295', () =>
    withLab(2, async (lab) => {
      const d = await lab.startDaemonArgs(2, [
        '--config',
        lab.writeConfig(2, vtepdEvpnConfig(lab, 2, { vni: VNI, address: '192.168.100.2/24' })),
      ]);
      const tapMac = (await lab.exec(2, 'cat', ['/sys/class/net/tap-blue/address'])).stdout.trim();
      const bogus: [string, string][] = [
        ['224.0.0.1', 'multicast'],
        ['0.0.0.0', 'unspecified'],
        ['127.0.0.1', 'loopback'],
        ['255.255.255.255', 'broadcast'],
        ['10.0.0.255', 'broadcast'], // the underlay subnet's
        ['192.168.100.5', 'overlay'], // inside the TAP's subnet
        ['169.254.0.9', 'link-local'],
      ];
      const routes: RogueRoute[] = [
        ...bogus.map(([vtep], k): RogueRoute => ({
          kind: 'imet',
          rd: `10.9.9.${k + 1}:${VNI}`,
          vtep,
          rt: RT,
          vni: VNI,
        })),
        // vtepd's own address under another RD: taken for one of its own routes, never a remote.
        { kind: 'imet', rd: `10.9.9.50:${VNI}`, vtep: lab.underlay(2), rt: RT, vni: VNI },
        { kind: 'imet', rd: `${lab.underlay(1)}:${VNI}`, vtep: lab.underlay(1), rt: RT, vni: VNI },
        // A MAC pointed at loopback: no FDB entry may send frames there.
        {
          kind: 'macip',
          rd: `10.9.9.99:${VNI}`,
          mac: '02:00:00:00:aa:01',
          vtep: '127.0.0.1',
          rt: RT,
          vni: VNI,
          seq: 0,
        },
        // The TAP's own MAC claimed with the highest sequence number there is.
        {
          kind: 'macip',
          rd: `${lab.underlay(1)}:${VNI}`,
          mac: tapMac,
          vtep: lab.underlay(1),
          rt: RT,
          vni: VNI,
          seq: 0xffffffff,
        },
      ];
      const { api } = await rogue(lab, routes);

      let status: EvpnStatus | undefined;
      await until(
        30_000,
        () => `the bogus routes are rejected: ${JSON.stringify(status)}\n${d.log}`,
        async () => {
          status = await ctlJson<EvpnStatus>(lab, 2, 'evpn', 'show');
          return Object.values(status.rejected).reduce((a, b) => a + b, 0) >= bogus.length + 1;
        },
      );
      // Every reason counted; 0.0.0.0 as next hop becomes the peer itself in GoBGP (next-hop-self), so its PMSI id is what is refused.
      for (const [, why] of bogus)
        expect(status!.rejected[why], `${why} in ${JSON.stringify(status!.rejected)}`).toBeGreaterThan(0);
      expect(status!.rejected.loopback).toBeGreaterThanOrEqual(2); // the imet and the MAC route
      const remotes = await ctlJson<RemoteRow[]>(lab, 2, 'remote', 'show');
      expect(remotes.map((r) => r.remote)).toEqual([lab.underlay(1)]);
      expect(d.log).toMatch(/route 2 \S+ 02:00:00:00:aa:01 +ignored: its VTEP 127\.0\.0\.1 is a loopback address/);
      expect(d.log.match(/224\.0\.0\.1 is a multicast address/g)?.length).toBe(1); // logged once, not per update

      // Broadcast from the TAP: replicated to the one real VTEP, nowhere else.
      const cap = await lab.capture(2, lab.dev(2), ['udp', 'port', '4789']);
      await lab.exec(2, 'arping', ['-c', '2', '-w', '2', '-i', 'tap-blue', '192.168.100.77']);
      const sent = vxlanPackets(await cap.stop()).filter((p) => p.src === lab.underlay(2));
      expect(sent.length).toBeGreaterThan(0);
      expect(new Set(sent.map((p) => p.dst))).toEqual(new Set([lab.underlay(1)]));

      // The TAP's host spoke, so its MAC is local; the hijacker's 4294967295 cannot be beaten without wrapping to 0.
      await until(
        10_000,
        () => `the TAP MAC is frozen: ${JSON.stringify(status)}\n${d.log}`,
        async () => {
          status = await ctlJson<EvpnStatus>(lab, 2, 'evpn', 'show');
          return status.networks.blue.frozen.includes(tapMac);
        },
      );
      expect(d.log).toMatch(
        new RegExp(`${tapMac} is advertised by ${lab.underlay(1)} with sequence 4294967295, the highest there is`),
      );
      const rib = await rogueRib(lab, api);
      expect(rib).toContain(`[rd:${lab.underlay(2)}:${VNI}]`); // vtepd's own routes reach the rogue (the RIB is read)
      const fromVtepd = rib.split('\n').filter((l) => l.includes(tapMac) && l.includes(`[rd:${lab.underlay(2)}:`));
      expect(fromVtepd, rib).toEqual([]);
    }));

  it('withdraws its own route for real when a MAC moves away with a higher sequence number, back and forth', () =>
    withLab(2, async (lab) => {
      const d = await lab.startDaemonArgs(2, [
        '--config',
        lab.writeConfig(2, vtepdEvpnConfig(lab, 2, { vni: VNI, address: '192.168.100.2/24' })),
      ]);
      const M = '02:00:00:00:77:01';
      const peer = lab.underlay(1);
      const claim = (seq: number): RogueRoute => ({
        kind: 'macip',
        rd: `${peer}:${VNI}`,
        mac: M,
        vtep: peer,
        rt: RT,
        vni: VNI,
        seq,
      });
      const step = (k: number) => join(lab.dir, `rogue-step-${k}`);
      // The peer has M (sequence 0); M then speaks behind vtepd's TAP (vtepd: 1), moves back to the peer (2),
      // behind the TAP again (3), and back to the peer (4).
      const { api } = await rogue(lab, [
        { kind: 'imet', rd: `${peer}:${VNI}`, vtep: peer, rt: RT, vni: VNI },
        claim(0),
        { kind: 'wait', file: step(1) },
        claim(2),
        { kind: 'wait', file: step(2) },
        claim(4),
      ]);
      const ours = async () =>
        (await rogueRib(lab, api)).split('\n').filter((l) => l.includes(M) && l.includes(`[rd:${lab.underlay(2)}:`));
      for (const [k, seq] of [
        [1, 1],
        [2, 3],
      ] as const) {
        await until(
          10_000,
          () => `M is the peer's again (step ${k})`,
          async () =>
            (await ctlJson<{ mac: string; remote: string | null }[]>(lab, 2, 'fdb', 'show')).some(
              (r) => r.mac === M && r.remote === peer,
            ),
        );
        // M speaks behind the TAP: vtepd advertises it with the next sequence number.
        // Nobody answers 192.168.100.77: arping exits 1, but M's broadcast went into the TAP.
        await lab.exec(2, 'arping', ['-c', '1', '-w', '1', '-s', M, '-i', 'tap-blue', '192.168.100.77']);
        await until(
          10_000,
          () => `vtepd's route for M reaches the peer (step ${k})`,
          async () => (await ours()).length > 0,
        );
        expect((await ours()).join('\n')).toMatch(new RegExp(`\\[mac-mobility: ${seq}\\]`));
        // The peer claims M with a higher number: vtepd's route must leave the peer's RIB.
        writeFileSync(step(k), '');
        let left: string[] = [];
        await until(
          10_000,
          () => `vtepd still advertises M (step ${k}): ${left.join('; ')}\n${d.log}`,
          async () => (left = await ours()).length === 0,
        );
      }
      await until(
        10_000,
        () => "M is the peer's in the end",
        async () =>
          (await ctlJson<{ mac: string; remote: string | null }[]>(lab, 2, 'fdb', 'show')).some(
            (r) => r.mac === M && r.remote === peer,
          ),
      );
      expect(d.log).not.toMatch(/could not withdraw|invalid MAC mobility sequence number/i);
    }));
});
