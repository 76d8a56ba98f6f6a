// Runtime control against kernel VXLAN peers: remotes and FDB entries added
// and removed while traffic flows, reload, monitor and trace.
import { writeFileSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { MonitorEvent } from '../../src/observe/monitor.ts';
import type { RemoteRow } from '../../src/control/protocol.ts';
import type { TraceReport } from '../../src/control/protocol.ts';
import { vxlanPackets } from '../../src/observe/dissect.ts';
import { ROOT, sleep, type Lab } from '../../scripts/lab/lab.ts';
import { ArpOp } from '../../src/wire/arp.ts';
import {
  arping,
  blueConfig,
  expectOk,
  fdb,
  kernelMac,
  kernelPeers,
  overlay,
  ping,
  stats,
  streamsConnected,
  vtepctl,
  withLab,
} from './helpers.ts';

const ICMP = 1;

function ctl(lab: Lab, ...args: string[]) {
  return vtepctl('--socket', lab.socket(1), ...args);
}

async function json<T>(lab: Lab, ...args: string[]): Promise<T> {
  const r = await ctl(lab, ...args, '--json');
  expectOk(r, `vtepctl ${args.join(' ')}`);
  return JSON.parse(r.stdout) as T;
}

/** Who the ARP request for `target` from h1 was sent to, on h1's underlay. */
async function floodTargets(lab: Lab, target: string): Promise<string[]> {
  const cap = await lab.capture(1, lab.dev(1), ['udp', 'port', '4789']);
  await arping(lab, 1, 'tap-blue', target);
  return vxlanPackets(await cap.stop())
    .filter((p) => p.src === lab.underlay(1) && p.arp?.op === ArpOp.Request)
    .map((p) => p.dst)
    .filter((d, i, all) => all.indexOf(d) === i)
    .sort();
}

describe('runtime control of remotes and the FDB', () => {
  it('a remote added at run time gets floods and may send; once deleted it gets nothing, its packets are dropped and its MACs are gone', () =>
    withLab(3, async (lab) => {
      await kernelPeers(lab, [2, 3]);
      await lab.startDaemon(1, blueConfig(lab, '', [2]));
      expect((await ping(lab, 3, overlay(1), 2)).code).not.toBe(0);
      expect(await floodTargets(lab, overlay(3))).toEqual([lab.underlay(2)]);
      expectOk(await ctl(lab, 'remote', 'add', lab.underlay(3), '--network', 'blue'), 'remote add');
      expect(await floodTargets(lab, overlay(3))).toEqual([lab.underlay(2), lab.underlay(3)]);
      expectOk(await ping(lab, 3, overlay(1)), 'ping from the new remote');
      expect(await fdb(lab)).toContainEqual(
        expect.objectContaining({ mac: kernelMac(3), remote: lab.underlay(3), origin: 'learned' }),
      );
      const remotes = await json<RemoteRow[]>(lab, 'remote', 'show');
      expect(remotes).toContainEqual(
        expect.objectContaining({ remote: lab.underlay(3), network: 'blue', flood: true, origins: ['vtepctl'] }),
      );
      expect(remotes).toContainEqual(
        expect.objectContaining({ remote: lab.underlay(2), flood: true, origins: ['config'] }),
      );

      expectOk(await ctl(lab, 'remote', 'del', lab.underlay(3), '--network', 'blue'), 'remote del');
      expect((await fdb(lab)).map((r) => r.mac)).not.toContain(kernelMac(3));
      expect(await floodTargets(lab, overlay(3))).toEqual([lab.underlay(2)]);
      const before = (await stats(lab)).networks.blue.drops['unknown-remote'];
      expect((await ping(lab, 3, overlay(1), 2)).code).not.toBe(0);
      expect((await stats(lab)).networks.blue.drops['unknown-remote']).toBeGreaterThan(before);
      expect((await json<RemoteRow[]>(lab, 'remote', 'show')).map((r) => r.remote)).toEqual([lab.underlay(2)]);
    }));

  it('a --no-flood remote may send but gets no floods', () =>
    withLab(3, async (lab) => {
      await kernelPeers(lab, [2, 3]);
      await lab.startDaemon(1, blueConfig(lab, '', [2]));
      expectOk(
        await ctl(lab, 'remote', 'add', lab.underlay(3), '--network', 'blue', '--no-flood'),
        'remote add --no-flood',
      );
      expectOk(await ping(lab, 3, overlay(1)), 'ping from the sender-only remote');
      expect(await floodTargets(lab, '192.168.100.99')).toEqual([lab.underlay(2)]);
      expect(await json<RemoteRow[]>(lab, 'remote', 'show', '--network', 'blue')).toContainEqual(
        expect.objectContaining({ remote: lab.underlay(3), flood: false }),
      );
    }));

  it('remote show counts what the kernel took: a remote it refuses (no route) gets no tx, the network counts tx-failed', () =>
    withLab(2, async (lab) => {
      await kernelPeers(lab, [2]);
      await lab.startDaemon(1, blueConfig(lab, '', [2]));
      // No route to 10.99.0.0/16 in the lab: the kernel refuses each datagram (ENETUNREACH).
      expectOk(await ctl(lab, 'remote', 'add', '10.99.0.1', '--network', 'blue'), 'remote add');
      const before = (await stats(lab)).networks.blue;
      expectOk(await arping(lab, 1, 'tap-blue', overlay(2), 3), 'arping across');
      const after = (await stats(lab)).networks.blue;
      const rows = await json<RemoteRow[]>(lab, 'remote', 'show', '--network', 'blue');
      const refused = rows.find((r) => r.remote === '10.99.0.1')!;
      const taken = rows.find((r) => r.remote === lab.underlay(2))!;
      expect(refused).toMatchObject({ 'tx-packets': 0, 'tx-bytes': 0 });
      expect(taken['tx-packets']).toBeGreaterThanOrEqual(3);
      expect(after.drops['tx-failed'] - (before.drops['tx-failed'] ?? 0)).toBeGreaterThanOrEqual(3);
      // The network's tx is what its remotes got, not what was queued for the refused one too.
      expect(after.counters['tunnel-tx-packets']).toBe(taken['tx-packets']);
    }));

  it("fdb add sends to the named VTEP without flooding; fdb del floods again; flush --remote takes exactly that VTEP's entries", () =>
    withLab(3, async (lab) => {
      await kernelPeers(lab, [2, 3]);
      await lab.startDaemon(1, blueConfig(lab));
      // h1 knows h2's MAC for good, so that every frame it sends is unicast to that MAC.
      expectOk(
        await lab.exec(1, 'ip', [
          'neigh',
          'replace',
          overlay(2),
          'lladdr',
          kernelMac(2),
          'dev',
          'tap-blue',
          'nud',
          'permanent',
        ]),
        'ip neigh',
      );
      expectOk(await ctl(lab, 'fdb', 'add', kernelMac(2), 'dst', lab.underlay(2), '--network', 'blue'), 'fdb add');
      expect(await fdb(lab)).toContainEqual(
        expect.objectContaining({ mac: kernelMac(2), remote: lab.underlay(2), static: true, origin: 'vtepctl' }),
      );
      const floodedBefore = (await stats(lab)).networks.blue.counters['flooded-frames']; // the TAP's own announcement at start
      let cap = await lab.capture(1, lab.dev(1), ['udp', 'port', '4789']);
      expectOk(await ping(lab, 1, overlay(2), 1), 'ping with the entry');
      let requests = vxlanPackets(await cap.stop()).filter((p) => p.src === lab.underlay(1) && p.innerProto === ICMP);
      expect(requests.map((p) => p.dst)).toEqual([lab.underlay(2)]);
      expect((await stats(lab)).networks.blue.counters['flooded-frames']).toBe(floodedBefore);

      expectOk(await ctl(lab, 'fdb', 'del', kernelMac(2), '--network', 'blue'), 'fdb del');
      cap = await lab.capture(1, lab.dev(1), ['udp', 'port', '4789']);
      expectOk(await ping(lab, 1, overlay(2), 1), 'ping without it');
      requests = vxlanPackets(await cap.stop()).filter((p) => p.src === lab.underlay(1) && p.innerProto === ICMP);
      expect(requests.map((p) => p.dst).sort()).toEqual([lab.underlay(2), lab.underlay(3)]); // unknown unicast: flooded

      expectOk(await ping(lab, 1, overlay(3), 1), 'h3 is learned too');
      for (const [mac, i] of [
        ['02:00:00:00:aa:01', 2],
        ['02:00:00:00:aa:02', 2],
        ['02:00:00:00:aa:03', 3],
      ] as const) {
        expectOk(await ctl(lab, 'fdb', 'add', mac, 'dst', lab.underlay(i), '--network', 'blue'), `fdb add ${mac}`);
      }
      expectOk(await ctl(lab, 'fdb', 'flush', '--remote', lab.underlay(2)), 'fdb flush --remote');
      const rows = await fdb(lab);
      expect(rows.filter((r) => r.remote === lab.underlay(2))).toEqual([]);
      expect(
        rows
          .filter((r) => r.remote === lab.underlay(3))
          .map((r) => r.mac)
          .sort(),
      ).toEqual([kernelMac(3), '02:00:00:00:aa:03'].sort());
      expect(rows.some((r) => r.remote === null)).toBe(true); // local MACs stay
    }));

  it('refuses with exit 2 what cannot be done, and says why in one line', () =>
    withLab(2, async (lab) => {
      await kernelPeers(lab, [2]);
      await lab.startDaemon(1, blueConfig(lab, '', [2]));
      expectOk(await ping(lab, 1, overlay(2), 1), "ping: the TAP's own MAC is learned as local");
      const tapMac = (await lab.exec(1, 'cat', ['/sys/class/net/tap-blue/address'])).stdout.trim();
      const refusals: [string[], RegExp][] = [
        [['fdb', 'add', '02:00:00:00:00:55', 'dst', lab.underlay(2), '--network', 'nope'], /no network named "nope"/],
        [['fdb', 'add', 'zz:00', 'dst', lab.underlay(2), '--network', 'blue'], /MAC: expected a unicast MAC/],
        [
          ['fdb', 'add', '01:00:5e:00:00:01', 'dst', lab.underlay(2), '--network', 'blue'],
          /MAC: expected a unicast MAC/,
        ],
        [
          ['fdb', 'add', '02:00:00:00:00:55', 'dst', '10.0.0.300', '--network', 'blue'],
          /IP: expected a unicast IPv4 or IPv6 address/,
        ],
        [['fdb', 'add', tapMac, 'dst', lab.underlay(2), '--network', 'blue'], /is behind the local TAP/],
        [['fdb', 'add', '02:00:00:00:00:55', 'dst', lab.underlay(1), '--network', 'blue'], /this VTEP's own address/],
        [['fdb', 'del', '02:00:00:00:00:56', '--network', 'blue'], /has no entry/],
        [['remote', 'add', '239.1.1.1', '--network', 'blue'], /IP: expected a unicast/],
        [['remote', 'del', '10.0.0.99', '--network', 'blue'], /not a remote of network blue/],
        [['neigh', 'add', '192.168.100.9', 'nope', '--network', 'blue'], /MAC: expected/],
        [['fdb', 'add', '02:00:00:00:00:55', 'dst', lab.underlay(2)], /needs --network/],
      ];
      for (const [args, message] of refusals) {
        const r = await ctl(lab, ...args);
        expect(r.code, `vtepctl ${args.join(' ')}: ${r.stderr}`).toBe(2);
        expect(r.stderr.trim().split('\n')[0], args.join(' ')).toMatch(message);
      }
      const r = await vtepctl(
        '--socket',
        join(lab.dir, 'none.sock'),
        'fdb',
        'add',
        '02:00:00:00:00:55',
        'dst',
        lab.underlay(2),
        '--network',
        'blue',
      );
      expect(r.code).toBe(1);
      // A mistake is named as typed when no daemon answers too (vtepctl checks it itself then).
      const typo = await vtepctl(
        '--socket',
        join(lab.dir, 'none.sock'),
        'fdb',
        'add',
        'zz:00',
        'dst',
        lab.underlay(2),
        '--network',
        'blue',
      );
      expect(typo.code).toBe(2);
      expect(typo.stderr).toMatch(/MAC: expected a unicast MAC/);
    }));
});

describe('reload', () => {
  const config = (lab: Lab, remotes: number[], red: boolean, extra = '') =>
    blueConfig(lab, extra, remotes) +
    (red
      ? `  red:
    tap: tap-red
    address: ${overlay(1, 101)}/24
    vxlan: { vni: 43 }
    remotes: [${lab.underlay(2)}]
`
      : '');

  it('applies ten reloads that add and remove a network and change remotes, while 1000 pings on the other lose none', () =>
    withLab(3, async (lab) => {
      await kernelPeers(lab, [2, 3]);
      await kernelPeers(lab, [2], { vni: 43, net: 101, dev: 'vx43' });
      const file = lab.writeConfig(1, config(lab, [2, 3], false));
      const d = await lab.startDaemonArgs(1, ['--config', file]);
      expectOk(await ping(lab, 1, overlay(2), 1), 'warm-up ping');
      const pings = lab.exec(1, 'ping', ['-q', '-c', '1000', '-i', '0.01', '-W', '1', overlay(2)], 60_000);
      for (let k = 0; k < 10; k++) {
        await sleep(500);
        writeFileSync(file, config(lab, k % 2 === 0 ? [2] : [2, 3], k % 2 === 0));
        const r = await ctl(lab, 'reload');
        expectOk(r, `reload ${k}`);
        expect(r.stdout).toMatch(k % 2 === 0 ? /network red added/ : /network red removed/);
        expect(r.stdout).toMatch(
          k % 2 === 0 ? /network blue: remote 10\.0\.0\.3 removed/ : /network blue: remote 10\.0\.0\.3 added/,
        );
        if (k % 2 === 0) expectOk(await ping(lab, 1, overlay(2, 101), 1), `ping on red after reload ${k}`);
      }
      const r = await pings;
      expectOk(r, 'the 1000 pings');
      expect(r.stdout).toMatch(/1000 packets transmitted, 1000 received, 0% packet loss/);
      expect(d.log).toMatch(/reload: network red added/);
      expect(d.log).toMatch(/reload: network blue: remote 10\.0\.0\.3 added/);
    }));

  it('refuses a file with an error, with the same messages as at start, and changes nothing', () =>
    withLab(2, async (lab) => {
      await kernelPeers(lab, [2]);
      const file = lab.writeConfig(1, config(lab, [2], false));
      await lab.startDaemonArgs(1, ['--config', file]);
      writeFileSync(
        file,
        config(lab, [2], true)
          .replace('vni: 43', 'vni: 99999999')
          .replace('remotes: [10.0.0.2]\n', 'remotes: [10.0.0.2]\n    max_macs: 1\n'),
      );
      const r = await ctl(lab, 'reload');
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/networks\.red\.vxlan\.vni: expected a VNI from 0 to 16777215/);
      expect(r.stderr).toMatch(/nothing changed/);
      expect(Object.keys((await stats(lab)).networks)).toEqual(['blue']);
      expect((await lab.exec(1, 'ip', ['link', 'show', 'tap-red'])).code).not.toBe(0);
      expectOk(await ping(lab, 1, overlay(2), 1), 'still forwarding');
    }));

  it('is all or nothing: a network that fails while it starts (its port taken) undoes the reload, tables kept', () =>
    withLab(2, async (lab) => {
      await kernelPeers(lab, [2]);
      await kernelPeers(lab, [2], { vni: 43, net: 101, dev: 'vx43' });
      const file = lab.writeConfig(1, config(lab, [2], true));
      const d = await lab.startDaemonArgs(1, ['--config', file]);
      const redEntry = ['fdb', 'add', '02:00:00:00:cc:01', 'dst', lab.underlay(2), '--network', 'red'];
      expectOk(await ctl(lab, ...redEntry), 'an entry given to red');
      // Another program takes UDP port 4790 on the underlay address: nothing vtepd can see in the config.
      const holder = lab.spawnCommand(1, process.execPath, [
        '-e',
        `require('node:dgram').createSocket('udp4').bind(4790, '${lab.underlay(1)}', () => console.log('bound'))`,
      ]);
      while (!holder.log.includes('bound')) await sleep(50);
      const next =
        config(lab, [2], true, '    ageing: 120\n').replace('vxlan: { vni: 43 }', 'vxlan: { vni: 43 }\n    mtu: 1400') +
        `  green:\n    tap: tap-green\n    vxlan: { vni: 44, port: 4790 }\n    remotes: [${lab.underlay(2)}]\n`;
      writeFileSync(file, next);
      const r = await ctl(lab, 'reload');
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr).toMatch(
        /network green could not start: .*UDP port 4790.*; nothing changed \(network red started again as it was, with its tables\)/,
      );
      expect(Object.keys((await stats(lab)).networks).sort()).toEqual(['blue', 'red']);
      expect((await lab.exec(1, 'cat', ['/sys/class/net/tap-red/mtu'])).stdout.trim()).toBe('1450'); // not 1400
      expect((await lab.exec(1, 'ip', ['link', 'show', 'tap-green'])).code).not.toBe(0);
      expect(await fdb(lab)).toContainEqual(
        expect.objectContaining({ mac: '02:00:00:00:cc:01', network: 'red', origin: 'vtepctl' }),
      );
      expect(d.log).not.toMatch(/reload: network blue: ageing 120/);
      expectOk(await ping(lab, 1, overlay(2), 1), 'blue forwards');
      expectOk(await ping(lab, 1, overlay(2, 101), 1), 'red forwards');
      // The port free again, the same file applies whole.
      holder.proc.kill('SIGKILL');
      await sleep(200);
      const again = await ctl(lab, 'reload');
      expectOk(again, 'reload once the port is free');
      expect(again.stdout).toMatch(/network red restarted \(mtu changed\)/);
      expect(again.stdout).toMatch(/network green added/);
      expect(again.stdout).toMatch(/network blue: ageing 120/);
    }));

  it('reloads on SIGHUP, keeping learned MACs and counters when a network changes in place', () =>
    withLab(3, async (lab) => {
      await kernelPeers(lab, [2, 3]);
      const file = lab.writeConfig(1, config(lab, [2], false));
      const d = await lab.startDaemonArgs(1, ['--config', file]);
      expectOk(await ping(lab, 1, overlay(2), 2), 'ping');
      const before = await stats(lab);
      writeFileSync(
        file,
        config(lab, [2, 3], false, '    ageing: 120\n    static: [{ mac: "02:00:00:00:bb:01", remote: 10.0.0.3 }]\n'),
      );
      d.proc.kill('SIGHUP');
      // The reload's log lines, as soon as it is done (a loaded machine takes longer than 500 ms).
      for (const t0 = Date.now(); !/reload: network blue: ageing 120/.test(d.log) && Date.now() - t0 < 10_000;)
        await sleep(50);
      expect(d.log).toMatch(/reload: network blue: remote 10\.0\.0\.3 added/);
      expect(d.log).toMatch(/reload: network blue: ageing 120/);
      const rows = await fdb(lab);
      expect(rows).toContainEqual(expect.objectContaining({ mac: kernelMac(2), origin: 'learned' }));
      expect(rows).toContainEqual(
        expect.objectContaining({ mac: '02:00:00:00:bb:01', remote: lab.underlay(3), origin: 'config' }),
      );
      expect((await stats(lab)).networks.blue.counters['tap-rx-frames']).toBeGreaterThanOrEqual(
        before.networks.blue.counters['tap-rx-frames'],
      );
    }));
});

describe('monitor and trace', () => {
  it("monitor --json streams a MAC's learn and age events", () =>
    withLab(2, async (lab) => {
      await kernelPeers(lab, [2]);
      await lab.startDaemon(1, blueConfig(lab, '    ageing: 2\n', [2]));
      const mon = spawn(join(ROOT, 'bin/vtepctl'), ['--socket', lab.socket(1), 'monitor', '--json'], {
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      mon.stdout.on('data', (d: Buffer) => (out += d.toString()));
      try {
        await streamsConnected(lab, 1, 1);
        const quiet = '02:aa:00:00:00:02';
        expectOk(
          await lab.exec(2, 'arping', ['-c', '1', '-w', '3', '-s', quiet, '-i', 'vx0', overlay(1)]),
          'arping from a one-off MAC',
        );
        for (let t = 0; t < 60 && !/"action":"aged","network":"blue","mac":"02:aa:00:00:00:02"/.test(out); t++)
          await sleep(100);
        const events = out
          .trim()
          .split('\n')
          .map((l) => JSON.parse(l) as MonitorEvent)
          .filter((e) => e.event === 'fdb' && 'mac' in e && e.mac === quiet);
        expect(events.map((e) => (e.event === 'fdb' ? e.action : ''))).toEqual(['learned', 'aged']);
        expect(events[0]).toMatchObject({ event: 'fdb', network: 'blue', remote: lab.underlay(2), origin: 'learned' });
      } finally {
        mon.kill('SIGINT');
      }
    }));

  it("trace follows the data path's own decisions, and changes nothing", () =>
    withLab(3, async (lab) => {
      await kernelPeers(lab, [2, 3]);
      await lab.startDaemon(
        1,
        blueConfig(lab, `    arp-responder: true\n    neigh: [{ ip: ${overlay(3)}, mac: "${kernelMac(3)}" }]\n`),
      );
      expectOk(await ping(lab, 1, overlay(2), 1), 'ping: h2 learned');
      const tapMac = (await lab.exec(1, 'cat', ['/sys/class/net/tap-blue/address'])).stdout.trim();
      // No neighbour probes from either host while the counters are compared.
      expectOk(
        await lab.exec(1, 'ip', [
          'neigh',
          'replace',
          overlay(2),
          'lladdr',
          kernelMac(2),
          'dev',
          'tap-blue',
          'nud',
          'permanent',
        ]),
        'neigh h1',
      );
      expectOk(
        await lab.exec(2, 'ip', ['neigh', 'replace', overlay(1), 'lladdr', tapMac, 'dev', 'vx0', 'nud', 'permanent']),
        'neigh h2',
      );
      await sleep(200);
      const fdbBefore = (await fdb(lab)).map(({ age: _age, ...r }) => r);
      const statsBefore = await stats(lab);
      const trace = (...args: string[]) => json<TraceReport>(lab, 'trace', '--network', 'blue', ...args);

      const known = await trace(
        '--in',
        'tap',
        '--src',
        tapMac,
        '--dst',
        kernelMac(2),
        '--ipv4',
        `${overlay(1)},${overlay(2)}`,
      );
      expect(known.result).toBe('unicast');
      expect(known.steps).toContainEqual(`lookup ${kernelMac(2)}: dst ${lab.underlay(2)} (origin learned)`);
      expect(known.wire).toHaveLength(1);
      expect(known.wire[0]).toMatch(
        new RegExp(`^${lab.underlay(1)}:\\d+ > ${lab.underlay(2)}:4789 ttl 64 VXLAN vni 42: .* ICMP`),
      );

      const unknown = await trace(
        '--in',
        'tap',
        '--src',
        tapMac,
        '--dst',
        '02:00:00:00:99:99',
        '--ipv4',
        `${overlay(1)},192.168.100.99`,
      );
      expect(unknown.result).toBe('flooded');
      expect(unknown.steps).toContainEqual(`flooded to ${lab.underlay(2)}, ${lab.underlay(3)} (2 copies)`);

      const answered = await trace(
        '--in',
        'tap',
        '--src',
        tapMac,
        '--dst',
        'ff:ff:ff:ff:ff:ff',
        '--arp-request',
        overlay(3),
      );
      expect(answered.result).toBe('answered');
      expect(answered.steps.join('\n')).toMatch(
        new RegExp(`ARP reply ${overlay(3).replace(/\./g, '\\.')} is-at ${kernelMac(3)}`),
      );
      expect(answered.wire).toEqual([]);

      const stranger = await trace('--in', '10.0.0.9', '--src', '02:00:00:00:00:09', '--dst', tapMac);
      expect(stranger).toMatchObject({ result: 'dropped', drop: 'unknown-remote' });

      const fromRemote = await trace('--in', lab.underlay(3), '--src', '02:00:00:00:cc:03', '--dst', tapMac);
      expect(fromRemote.result).toBe('delivered');
      expect(fromRemote.steps).toContainEqual('learn 02:00:00:00:cc:03: new, dst 10.0.0.3');

      const text = await ctl(lab, 'trace', '--network', 'blue', '--in', 'tap', '--src', tapMac, '--dst', kernelMac(2));
      expectOk(text, 'trace as text');
      expect(text.stdout).toMatch(/^trace network blue: .*\n {2}1\. from the TAP tap-blue\n/);
      expect(text.stdout).toMatch(/ {2}result: unicast\n$/);

      expect((await fdb(lab)).map(({ age: _age, ...r }) => r)).toEqual(fdbBefore);
      expect((await stats(lab)).networks.blue.counters).toEqual(statsBefore.networks.blue.counters);
    }));
});
