// Faults a long-running VTEP meets: its TAP deleted, the underlay link going
// down, a peer or vtepd itself restarted (even killed), a second daemon
// started on what the first one holds. None may crash it, and traffic comes
// back on its own.
import { describe, expect, it } from 'vitest';
import { sleep, type Lab } from '../../scripts/lab/lab.ts';
import { blueConfig, expectOk, kernelPeers, overlay, ping, stats, statsNow, vtepctl, withLab } from './helpers.ts';

/** Waits until `check` holds, polling every 100 ms; false after `ms`. */
async function until(check: () => Promise<boolean> | boolean, ms: number, every = 100): Promise<boolean> {
  const t0 = Date.now();
  while (Date.now() - t0 < ms) {
    if (await check()) return true;
    await sleep(every);
  }
  return false;
}

const tapMac = async (lab: Lab, i = 1) => (await lab.exec(i, 'cat', ['/sys/class/net/tap-blue/address'])).stdout.trim();

/** The MAC host i's kernel has for `ip` on `dev` (empty if none). */
async function neighMac(lab: Lab, i: number, dev: string, ip: string): Promise<string> {
  const r = await lab.exec(i, 'ip', ['-j', 'neigh', 'show', 'dev', dev, 'to', ip]);
  const rows = JSON.parse(r.stdout || '[]') as { lladdr?: string }[];
  return rows[0]?.lladdr ?? '';
}

/** Starts `ping -i 0.01` from host i for `seconds`; resolves to [sent, received]. */
function pingRun(lab: Lab, i: number, to: string, seconds: number): Promise<[number, number]> {
  return lab
    .exec(i, 'ping', ['-q', '-i', '0.01', '-W', '1', '-w', String(seconds), to], (seconds + 10) * 1000)
    .then((r) => {
      const m = /(\d+) packets transmitted, (\d+) received/.exec(r.stdout);
      if (m === null) throw new Error(`ping said: ${r.stdout}${r.stderr}`);
      return [Number(m[1]), Number(m[2])];
    });
}

describe('faults', () => {
  it('reports a network whose TAP was deleted as failed, creates the TAP again and forwards again', () =>
    withLab(2, async (lab) => {
      await kernelPeers(lab, [2]);
      const d = await lab.startDaemon(1, blueConfig(lab, '', [2]));
      expectOk(await ping(lab, 1, overlay(2), 1), 'ping before');
      const mac = await tapMac(lab);
      expectOk(await lab.exec(1, 'ip', ['link', 'del', 'tap-blue']), 'ip link del tap-blue');
      let failure: string | undefined;
      // The failed state lasts the second before the first try: polled over the socket, not by starting vtepctl each time.
      expect(
        await until(async () => (failure = (await statsNow(lab)).networks.blue.failure) !== undefined, 3000, 10),
        'stats says failed',
      ).toBe(true);
      expect(failure).toMatch(/^TAP tap-blue is gone; creating it again \(try 1 in 1 s\)$/);
      expect(await until(async () => (await stats(lab)).networks.blue.state === 'up', 5000), 'back up').toBe(true);
      expect(d.log).toMatch(/network blue: TAP tap-blue created again \(try 1\); forwarding/);
      expect(await tapMac(lab), 'the same MAC as before').toBe(mac);
      expectOk(await ping(lab, 1, overlay(2), 2), 'ping through the TAP created again');
      expectOk(await ping(lab, 2, overlay(1), 2), 'ping from the peer');
      expect(d.proc.exitCode).toBeNull();
    }));

  it('keeps trying, with growing waits, while the TAP name is taken, and takes it when it is free', () =>
    withLab(2, async (lab) => {
      await kernelPeers(lab, [2]);
      const d = await lab.startDaemon(1, blueConfig(lab, '', [2]));
      // Deleted and its name taken at once by a device that is not a TAP: every try fails until it goes.
      expectOk(
        await lab.exec(1, 'sh', ['-c', 'ip link del tap-blue && ip link add tap-blue type veth peer name tap-peer']),
        'replace the TAP with a veth',
      );
      expect(await until(() => /try 3 in 4 s/.test(d.log), 8000), `three tries logged:\n${d.log}`).toBe(true);
      expect(d.log).toMatch(/creating TAP tap-blue again failed/);
      expect((await stats(lab)).networks.blue.state).toBe('failed');
      const text = await vtepctl('--socket', lab.socket(1), 'stats');
      expect(text.stdout).toMatch(
        /^network blue: vxlan vni 42, tap tap-blue, FAILED: TAP tap-blue is gone; creating it again \(try \d in \d+ s\)$/m,
      );
      expectOk(await lab.exec(1, 'ip', ['link', 'del', 'tap-blue']), 'remove the veth');
      expect(await until(async () => (await stats(lab)).networks.blue.state === 'up', 6000), 'back up').toBe(true);
      expectOk(await ping(lab, 1, overlay(2), 2), 'ping after');
    }));

  it('resumes forwarding within a second of the underlay link coming back', () =>
    withLab(2, async (lab) => {
      await kernelPeers(lab, [2]);
      await lab.startDaemon(1, blueConfig(lab, '', [2]));
      expectOk(await ping(lab, 1, overlay(2), 1), 'ping before');
      expectOk(await lab.exec(1, 'ip', ['link', 'set', lab.dev(1), 'down']), 'underlay down');
      expect((await ping(lab, 1, overlay(2), 1)).code).not.toBe(0);
      await sleep(1000);
      expectOk(await lab.exec(1, 'ip', ['link', 'set', lab.dev(1), 'up']), 'underlay up');
      const t0 = Date.now();
      const back = await until(
        async () => (await lab.exec(1, 'ping', ['-c', '1', '-W', '0.2', overlay(2)])).code === 0,
        5000,
      );
      expect(back).toBe(true);
      expect(Date.now() - t0, 'ms from link-up to the first answered ping').toBeLessThan(1000);
    }));

  it('forwards at once when the peer vtepd restarts', () =>
    withLab(2, async (lab) => {
      await lab.startDaemon(1, blueConfig(lab, '', [2]));
      const peerConfig = blueConfig(lab, '', [1])
        .replace(`local: ${lab.underlay(1)}`, `local: ${lab.underlay(2)}`)
        .replace(`socket: ${lab.socket(1)}`, `socket: ${lab.socket(2)}`)
        .replace(`address: ${overlay(1)}/24`, `address: ${overlay(2)}/24`);
      const peer = await lab.startDaemon(2, peerConfig);
      expectOk(await ping(lab, 1, overlay(2), 1), 'ping before');
      expect(await peer.stop()).toBe(0);
      await lab.startDaemon(2, peerConfig);
      expectOk(await lab.exec(1, 'ping', ['-c', '1', '-W', '1', overlay(2)]), 'the first ping after the peer is ready');
    }));

  it('starts afresh after SIGKILL: the leftover socket is removed, the TAP made again with its MAC', () =>
    withLab(2, async (lab) => {
      await kernelPeers(lab, [2]);
      const first = await lab.startDaemon(1, blueConfig(lab, '', [2]));
      expectOk(await ping(lab, 1, overlay(2), 1), 'ping before');
      const mac = await tapMac(lab);
      first.proc.kill('SIGKILL');
      await first.stop();
      const d = await lab.startDaemon(1, blueConfig(lab, '', [2]));
      expect(d.log).toMatch(/TAP tap-blue \(created/);
      expect(await tapMac(lab)).toBe(mac);
      expectOk(await lab.exec(1, 'ping', ['-c', '1', '-W', '1', overlay(2)]), 'the first ping after the fresh start');
    }));

  it('refuses a second daemon on the same TAP or the same GRE key, exit 2, and the first keeps forwarding', () =>
    withLab(2, async (lab) => {
      await kernelPeers(lab, [2]);
      await lab.startDaemon(1, blueConfig(lab, '', [2]));
      const sameTap = await lab.runDaemon(1, [
        '--local',
        lab.underlay(1),
        '--tap',
        'tap-blue',
        '--vni',
        '7',
        '--port',
        '4790',
        '--socket',
        `${lab.dir}/second.sock`,
      ]);
      expect(sameTap.code).toBe(2);
      expect(sameTap.stderr.trim().split('\n')).toEqual([
        expect.stringMatching(/TAP tap-blue is busy: another program has it open/),
      ]);
      const gre = ['--local', lab.underlay(1), '--gre-key', '77', '--remote', lab.underlay(2)];
      await lab.startDaemonArgs(1, [...gre, '--tap', 'tap-gre', '--socket', `${lab.dir}/gre1.sock`]);
      const sameKey = await lab.runDaemon(1, [...gre, '--tap', 'tap-gre2', '--socket', `${lab.dir}/gre2.sock`]);
      expect(sameKey.code).toBe(2);
      expect(sameKey.stderr.trim().split('\n')).toEqual([
        expect.stringMatching(
          /GRE key 77 on 10\.0\.0\.1 is served by another vtepd on this host: stop that one, or give network tap-gre2 another gre\.key/,
        ),
      ]);
      expect((await lab.exec(1, 'ip', ['link', 'show', 'tap-gre2'])).code, 'nothing was left behind').not.toBe(0);
      const otherKey = await lab.startDaemonArgs(1, [
        ...gre.slice(0, 2),
        '--gre-key',
        '78',
        '--remote',
        lab.underlay(2),
        '--tap',
        'tap-gre3',
        '--socket',
        `${lab.dir}/gre3.sock`,
      ]);
      expect(otherKey.proc.exitCode).toBeNull();
      expectOk(await ping(lab, 1, overlay(2), 2), 'the first daemon still forwards');
    }));

  it("keeps the TAP's MAC across a restart, and announces a new one to the peers at once", () =>
    withLab(2, async (lab) => {
      await kernelPeers(lab, [2]);
      const first = await lab.startDaemon(1, blueConfig(lab, '', [2]));
      expectOk(await ping(lab, 2, overlay(1), 1), 'ping from the peer');
      const mac = await tapMac(lab);
      expect(mac).toMatch(/^[0-9a-f][26ae]:/); // locally administered, unicast
      expect(await neighMac(lab, 2, 'vx0', overlay(1))).toBe(mac);
      expect(await first.stop()).toBe(0);
      await lab.startDaemon(1, blueConfig(lab, '', [2]));
      expect(await tapMac(lab), 'derived from local and the TAP name: the same').toBe(mac);
      await vtepctlStop(lab);
      // A MAC from the config: the peer's kernel learns it from the announcement, before any traffic.
      await lab.startDaemon(1, blueConfig(lab, '    mac: 02:42:00:00:00:99\n', [2]));
      expect(await tapMac(lab)).toBe('02:42:00:00:00:99');
      expect(
        await until(async () => (await neighMac(lab, 2, 'vx0', overlay(1))) === '02:42:00:00:00:99', 3000),
        "the peer's neighbour entry follows the gratuitous ARP",
      ).toBe(true);
    }));

  it("loses at most a start-up's worth of pings at 100/s across a restart", () =>
    withLab(2, async (lab) => {
      await kernelPeers(lab, [2]);
      const first = await lab.startDaemon(1, blueConfig(lab, '', [2]));
      expectOk(await ping(lab, 2, overlay(1), 1), 'warm-up');
      const run = pingRun(lab, 2, overlay(1), 8);
      await sleep(1500);
      const t0 = Date.now();
      expect(await first.stop()).toBe(0);
      await lab.startDaemon(1, blueConfig(lab, '', [2]));
      const outageMs = Date.now() - t0;
      const [sent, received] = await run;
      const lostMs = (sent - received) * 10;
      // Before the MAC was kept, the peer's stale neighbour entry cost 6-17 s.
      expect(lostMs, `lost ${sent - received} of ${sent} pings; the daemon was away ${outageMs} ms`).toBeLessThan(
        outageMs + 1000,
      );
    }));
});

/** Stops whatever daemon answers on host 1's socket (the last one started there). */
async function vtepctlStop(lab: Lab): Promise<void> {
  const d = lab.daemons.at(-1)!;
  expect(await d.stop()).toBe(0);
}
