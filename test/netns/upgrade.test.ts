// `vtepctl upgrade` and SIGUSR2: a new vtepd takes over the running one's TAP,
// sockets and tables, and a ping at 100/s across the change loses nothing.
import { readFileSync, writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { RemoteRow, UpgradeReport } from '../../src/control/protocol.ts';
import { sleep, type Lab } from '../../scripts/lab/lab.ts';
import {
  blueConfig,
  expectOk,
  fdb,
  kernelMac,
  kernelPeers,
  overlay,
  ping,
  stats,
  vtepctl,
  withLab,
} from './helpers.ts';

/**
 * `count` pings 10 ms apart from host i: [sent, received]. A count, not a
 * deadline: ping then waits for every reply (up to `-W`), so a reply in flight
 * when a deadline would strike is not counted as lost.
 */
function pingRun(lab: Lab, i: number, to: string, count: number): Promise<[number, number]> {
  return lab
    .exec(i, 'ping', ['-q', '-i', '0.01', '-W', '2', '-c', String(count), to], count * 100 + 10_000)
    .then((r) => {
      const m = /(\d+) packets transmitted, (\d+) received/.exec(r.stdout);
      if (m === null) throw new Error(`ping said: ${r.stdout}${r.stderr}`);
      return [Number(m[1]), Number(m[2])];
    });
}

const ifindex = async (lab: Lab) => (await lab.exec(1, 'cat', ['/sys/class/net/tap-blue/ifindex'])).stdout.trim();

/** Running (a zombie that no one reaped yet, its parent gone, has ended). */
function alive(pid: number): boolean {
  try {
    return !/^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'));
  } catch {
    return false;
  }
}

describe('upgrade without loss', () => {
  it('vtepctl upgrade: the new vtepd takes the TAP, sockets and tables, and 100 pings/s lose none', () =>
    withLab(3, async (lab) => {
      await kernelPeers(lab, [2, 3]);
      const old = await lab.startDaemon(1, blueConfig(lab, '', [2]));
      expectOk(
        await vtepctl('--socket', lab.socket(1), 'remote', 'add', lab.underlay(3), '--network', 'blue'),
        'remote add at run time',
      );
      expectOk(
        await vtepctl(
          '--socket',
          lab.socket(1),
          'fdb',
          'add',
          '02:00:00:00:aa:01',
          'dst',
          lab.underlay(3),
          '--network',
          'blue',
        ),
        'fdb add',
      );
      expectOk(await ping(lab, 2, overlay(1), 1), 'warm-up: h2 is learned');
      const before = await stats(lab);
      const tap = await ifindex(lab);
      const run = pingRun(lab, 2, overlay(1), 500);
      await sleep(2000);
      const r = await vtepctl('--socket', lab.socket(1), 'upgrade', '--json');
      expect(r.code, r.stderr).toBe(0);
      const report = JSON.parse(r.stdout) as UpgradeReport;
      lab.adopt(report.pid);
      expect(report.previous).toBe(old.pid);
      expect(report.pid).not.toBe(old.pid);
      const [sent, received] = await run;
      expect(received, `${sent - received} of ${sent} pings lost across the upgrade`).toBe(sent);
      expect(await old.stop(), 'the old vtepd exited by itself, cleanly').toBe(0);
      expect(alive(report.pid)).toBe(true);
      expect(old.log).toMatch(new RegExp(`took over from vtepd ${old.pid}: 1 network`));
      // The same TAP (not a new one), the same socket, the tables and counters carried on.
      expect(await ifindex(lab)).toBe(tap);
      const after = await stats(lab);
      expect(after.networks.blue.counters['tunnel-rx-packets']).toBeGreaterThanOrEqual(
        before.networks.blue.counters['tunnel-rx-packets'] + sent,
      );
      const rows = await fdb(lab);
      expect(rows).toContainEqual(
        expect.objectContaining({ mac: kernelMac(2), remote: lab.underlay(2), origin: 'learned' }),
      );
      expect(rows).toContainEqual(
        expect.objectContaining({ mac: '02:00:00:00:aa:01', remote: lab.underlay(3), origin: 'vtepctl' }),
      );
      const remotes = JSON.parse(
        (await vtepctl('--socket', lab.socket(1), 'remote', 'show', '--json')).stdout,
      ) as RemoteRow[];
      expect(remotes.find((x) => x.remote === lab.underlay(3))?.origins).toContain('vtepctl');
      expectOk(await ping(lab, 1, overlay(3), 1), 'the new vtepd forwards to the remote added at run time');
      // And it stops as any vtepd does: the TAP goes with it.
      process.kill(report.pid, 'SIGTERM');
      for (let t = 0; t < 50 && alive(report.pid); t++) await sleep(100);
      expect(alive(report.pid)).toBe(false);
      expect((await lab.exec(1, 'ip', ['link', 'show', 'tap-blue'])).code).not.toBe(0);
    }));

  it('upgrades on SIGUSR2 too, and twice in a row', () =>
    withLab(2, async (lab) => {
      await kernelPeers(lab, [2]);
      const old = await lab.startDaemon(1, blueConfig(lab, '', [2]));
      const run = pingRun(lab, 2, overlay(1), 400);
      await sleep(1000);
      old.proc.kill('SIGUSR2');
      for (let t = 0; t < 200 && old.proc.exitCode === null; t++) await sleep(100);
      expect(old.proc.exitCode, old.log).toBe(0);
      const first = Number(/vtepd (\d+) took over; this one/.exec(old.log)![1]);
      lab.adopt(first);
      await sleep(1000);
      const again = await vtepctl('--socket', lab.socket(1), 'upgrade', '--json');
      expect(again.code, again.stderr).toBe(0);
      const second = (JSON.parse(again.stdout) as UpgradeReport).pid;
      lab.adopt(second);
      const [sent, received] = await run;
      expect(received, `${sent - received} of ${sent} pings lost across two upgrades`).toBe(sent);
      for (let t = 0; t < 50 && alive(first); t++) await sleep(100); // it exits once its reply is out
      expect(alive(first)).toBe(false);
      expect((await stats(lab)).networks.blue.state).toBe('up');
    }));

  it('carries on, and says why, when the new vtepd cannot take over', () =>
    withLab(2, async (lab) => {
      await kernelPeers(lab, [2]);
      const config = lab.writeConfig(1, blueConfig(lab, '', [2]));
      const d = await lab.startDaemonArgs(1, ['--config', config]);
      writeFileSync(config, 'local: [not, an, address]\n'); // the new vtepd reads its command line's config first
      const r = await vtepctl('--socket', lab.socket(1), 'upgrade');
      expect(r.code).not.toBe(0);
      expect(r.stderr).toMatch(/the new vtepd exited with 2 before taking over/);
      expect(d.log).toMatch(/upgrade failed, this vtepd carries on/);
      expectOk(await ping(lab, 2, overlay(1), 2), 'the old vtepd still forwards');
      expect(d.proc.exitCode).toBeNull();
      expect((await fdb(lab)).length).toBeGreaterThan(0);
    }));
});
