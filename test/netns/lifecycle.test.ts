// Starting and stopping: flags, attaching to an existing TAP, cleaning up,
// and start-up errors that change nothing on the host.
import { mkdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { sleep } from '../../scripts/lab/lab.ts';
import { blueConfig, expectOk, kernelPeers, overlay, ping, stats, vtepctl, withLab } from './helpers.ts';

async function links(lab: {
  exec: (i: number, c: string, a: string[]) => Promise<{ stdout: string }>;
}): Promise<string> {
  return (await lab.exec(1, 'ip', ['-o', 'link', 'show'])).stdout
    .replace(/^\d+: /gm, '')
    .split('\n')
    .map((l) => l.split(':')[0])
    .sort()
    .join(' ');
}

describe('vtepd lifecycle', () => {
  it('runs one network from flags, and removes the TAP it created on SIGTERM', () =>
    withLab(2, async (lab) => {
      await kernelPeers(lab, [2]);
      const d = await lab.startDaemonArgs(1, [
        '--local',
        lab.underlay(1),
        '--tap',
        'tap0',
        '--vni',
        '42',
        '--remote',
        lab.underlay(2),
        '--address',
        `${overlay(1)}/24`,
        '--socket',
        lab.socket(1),
      ]);
      expectOk(await ping(lab, 1, overlay(2)), 'ping over a network given by flags');
      expect((await lab.exec(1, 'cat', ['/sys/class/net/tap0/mtu'])).stdout.trim()).toBe('1450');
      const reload = await vtepctl('--socket', lab.socket(1), 'reload');
      expect(reload.code).toBe(2);
      expect(reload.stderr).toMatch(/started without --config: there is no file to reload/);
      expect(await d.stop()).toBe(0);
      expect((await lab.exec(1, 'ip', ['link', 'show', 'tap0'])).code).not.toBe(0);
    }));

  it('sleeps when idle: its event loop wakes about once a second (the ageing tick), not ten times a second', () =>
    withLab(2, async (lab) => {
      await kernelPeers(lab, [2]);
      const d = await lab.startDaemon(1, blueConfig(lab, '', [2]));
      expectOk(await ping(lab, 1, overlay(2)), 'ping: the data path, its senders and their error queues in use');
      await sleep(1000);
      // The main thread's voluntary context switches: each is a wakeup of the event loop (timers, sockets).
      const wakeups = () =>
        Number(
          /voluntary_ctxt_switches:\s+(\d+)/.exec(readFileSync(`/proc/${d.pid}/task/${d.pid}/status`, 'utf8'))![1],
        );
      const before = wakeups();
      await sleep(5000);
      const idle = wakeups() - before;
      // Once a second, and some slack for a GC; a 100 ms timer would make it 50 or more.
      expect(idle, 'wakeups in 5 idle seconds').toBeLessThanOrEqual(15);
      expect(await d.stop()).toBe(0);
    }));

  it('attaches to an existing TAP and leaves it as it found it', () =>
    withLab(2, async (lab) => {
      await kernelPeers(lab, [2]);
      expectOk(await lab.exec(1, 'ip', ['tuntap', 'add', 'dev', 'tap-blue', 'mode', 'tap']), 'ip tuntap add');
      const d = await lab.startDaemon(1, blueConfig(lab, '', [2]));
      expect(d.log).toMatch(/TAP tap-blue \(attached/);
      expectOk(await ping(lab, 1, overlay(2)), 'ping through the attached TAP');
      expect(await d.stop()).toBe(0);
      const after = await lab.exec(1, 'ip', ['-o', '-4', 'addr', 'show', 'dev', 'tap-blue']);
      expect(after.code).toBe(0);
      expect(after.stdout).not.toContain(overlay(1));
    }));

  it('refuses a TAP name taken by another kind of device, exit 2, nothing changed', () =>
    withLab(1, async (lab) => {
      const before = await links(lab);
      const r = await lab.runDaemon(1, [
        '--local',
        lab.underlay(1),
        '--tap',
        lab.dev(1),
        '--vni',
        '42',
        '--socket',
        lab.socket(1),
      ]);
      expect(r.code).toBe(2);
      expect(r.stderr.trim().split('\n')).toEqual([
        expect.stringMatching(/"u1" is taken by a device that is not a TAP/),
      ]);
      expect(await links(lab)).toBe(before);
    }));

  it('refuses a local address that is not on the host, exit 2, nothing changed', () =>
    withLab(1, async (lab) => {
      const before = await links(lab);
      const r = await lab.runDaemon(1, [
        '--local',
        '10.0.0.77',
        '--tap',
        'tap0',
        '--vni',
        '42',
        '--socket',
        lab.socket(1),
      ]);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/local: 10\.0\.0\.77 is not an address of this host/);
      expect(await links(lab)).toBe(before);
    }));

  it('refuses a second daemon on the same socket or the same UDP port, exit 2, nothing changed', () =>
    withLab(2, async (lab) => {
      await lab.startDaemon(1, blueConfig(lab, '', [2]));
      const before = await links(lab);
      const sameSocket = await lab.runDaemon(1, [
        '--local',
        lab.underlay(1),
        '--tap',
        'tap-x',
        '--vni',
        '7',
        '--socket',
        lab.socket(1),
      ]);
      expect(sameSocket.code).toBe(2);
      expect(sameSocket.stderr).toMatch(/another vtepd answers on/);
      const samePort = await lab.runDaemon(1, [
        '--local',
        lab.underlay(1),
        '--tap',
        'tap-x',
        '--vni',
        '7',
        '--socket',
        `${lab.dir}/other.sock`,
      ]);
      expect(samePort.code).toBe(2);
      expect(samePort.stderr).toMatch(/UDP port 4789 on 10\.0\.0\.1 is in use/);
      expect(await links(lab)).toBe(before);
    }));

  it('never removes what is not a stale socket at the socket path: its own config, a directory', () =>
    withLab(1, async (lab) => {
      const config = lab.writeConfig(1, blueConfig(lab, '', []));
      const before = readFileSync(config, 'utf8');
      const onConfig = await lab.runDaemon(1, ['--config', config, '--socket', config]);
      expect(onConfig.code).toBe(2);
      expect(onConfig.stderr.trim().split('\n')).toEqual([
        expect.stringMatching(/socket: .* exists and is not a socket; vtepd removes only a stale socket there/),
      ]);
      expect(readFileSync(config, 'utf8'), 'the config is still there, unchanged').toBe(before);
      const dir = join(lab.dir, 'sockdir');
      mkdirSync(dir);
      const onDir = await lab.runDaemon(1, ['--config', config, '--socket', dir]);
      expect(onDir.code).toBe(2);
      expect(onDir.stderr).toMatch(/is a directory; give the path of the socket file, such as .*sockdir\/vtepd\.sock/);
      expect(statSync(dir).isDirectory()).toBe(true);
      const tooLong = await lab.runDaemon(1, ['--config', config, '--socket', join(lab.dir, 's'.repeat(110))]);
      expect(tooLong.code).toBe(2);
      expect(tooLong.stderr).toMatch(/--socket: expected a path of at most 107 bytes/);
    }));

  it('removes a stale socket left by a killed daemon, and creates its own with mode 0600 from the start', () =>
    withLab(1, async (lab) => {
      const d = await lab.startDaemon(1, blueConfig(lab, '', []));
      expect(statSync(lab.socket(1)).mode & 0o777).toBe(0o600);
      d.proc.kill('SIGKILL');
      await d.stop();
      expect(statSync(lab.socket(1)).isSocket(), 'the killed daemon left its socket').toBe(true);
      await lab.startDaemon(1, blueConfig(lab, '', []));
      expect(statSync(lab.socket(1)).mode & 0o777).toBe(0o600);
      expect((await stats(lab)).networks.blue.state).toBe('up');
    }));

  it('answers vtepctl while traffic keeps the longest busy polling going', () =>
    withLab(2, async (lab) => {
      await kernelPeers(lab, [2]);
      await lab.startDaemon(1, blueConfig(lab, 'busy-poll: 100000\n', [2]));
      expectOk(await ping(lab, 1, overlay(2), 1), 'warm-up ping');
      // A ping every millisecond for 8 s: never 100 ms without traffic, so the daemon never stops polling.
      let trafficDone = false;
      const traffic = lab.exec(1, 'ping', ['-q', '-i', '0.001', '-w', '8', overlay(2)], 20_000).then((r) => {
        trafficDone = true;
        return r;
      });
      await sleep(500);
      const first = await stats(lab);
      const second = await stats(lab);
      expect(trafficDone, 'both answers came while the pings were still running').toBe(false);
      expect(second.networks.blue.counters['tap-rx-frames']).toBeGreaterThan(
        first.networks.blue.counters['tap-rx-frames'],
      );
      expectOk(await traffic, 'the pings');
    }));

  it('vtepctl says so and exits 1 when no daemon answers', async () => {
    const r = await vtepctl('--socket', '/tmp/vtepd-no-such.sock', 'stats');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/no vtepd answers on \/tmp\/vtepd-no-such\.sock/);
  });

  it('vtepctl rejects a bad command line with exit 2', async () => {
    expect((await vtepctl('fdb', 'frobnicate')).code).toBe(2);
  });
});
