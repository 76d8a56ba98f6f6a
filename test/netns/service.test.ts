// vtepd as a service: --version, Prometheus metrics that agree with `vtepctl
// stats`, logs as JSON or filtered by level, least privilege (--user, and a
// start by setpriv with two ambient capabilities), a control socket a group
// may read, the systemd unit and the sd_notify protocol.
import { spawn } from 'node:child_process';
import {
  chownSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { StatsReport, UpgradeReport } from '../../src/control/protocol.ts';
import { ROOT, sh, sleep, type Lab } from '../../scripts/lab/lab.ts';
import { blueConfig, expectOk, kernelPeers, overlay, ping, stats, vtepctl, withLab } from './helpers.ts';

const METRICS = '127.0.0.1:9465';

/** GET http://ADDR/PATH from inside host i (the lab's addresses are only reachable there). */
async function get(
  lab: Lab,
  i: number,
  path: string,
  method = 'GET',
): Promise<{ status: number; body: string; type: string | null }> {
  const script = `const r = await fetch(${JSON.stringify(`http://${METRICS}${path}`)}, { method: '${method}' }); process.stdout.write(JSON.stringify({ status: r.status, body: await r.text(), type: r.headers.get('content-type') }));`;
  const r = await lab.exec(i, process.execPath, ['--input-type=module', '-e', script]);
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as { status: number; body: string; type: string | null };
}

/** Samples of a Prometheus text exposition: `name{labels}` -> value. */
function samples(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const at = line.lastIndexOf(' ');
    out.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  return out;
}

/** Stats and a scrape with nothing between them: stats, scrape, stats again, until both stats agree. */
async function quietScrape(lab: Lab): Promise<[StatsReport, Map<string, number>, string]> {
  for (let tries = 0; ; tries++) {
    const a = await stats(lab);
    const page = await get(lab, 1, '/metrics');
    const b = await stats(lab);
    const same = JSON.stringify({ ...a, control: null }) === JSON.stringify({ ...b, control: null });
    if (same || tries === 10) return [a, samples(page.body), page.body];
    await sleep(200);
  }
}

/** vtepctl on host 1's socket, run as nobody (group nogroup, no other group). */
function vtepctlAsNobody(lab: Lab, ...args: string[]) {
  const [cmd, ...rest] = lab.asAnyUser([
    'setpriv',
    '--reuid',
    'nobody',
    '--regid',
    'nogroup',
    '--clear-groups',
    join(ROOT, 'bin/vtepctl'),
    '--socket',
    lab.socket(1),
    ...args,
  ]);
  return sh(cmd, rest, 20_000);
}

describe('vtepd as a service', () => {
  it('prints its version', async () => {
    for (const cmd of ['vtepd', 'vtepctl']) {
      const r = await sh(`${ROOT}/bin/${cmd}`, ['--version']);
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(new RegExp(`^${cmd} \\d+\\.\\d+\\.\\d+ \\(node v\\d+`));
    }
  });

  it('serves /metrics with prom-client: every counter as vtepctl stats says, per network, remote and drop reason', () =>
    withLab(3, async (lab) => {
      await kernelPeers(lab, [2, 3]);
      await lab.startDaemonArgs(1, ['--config', lab.writeConfig(1, blueConfig(lab, '', [2, 3])), '--metrics', METRICS]);
      expectOk(await ping(lab, 2, overlay(1), 3), 'ping h2 -> h1');
      expectOk(await ping(lab, 1, overlay(3), 2), 'ping h1 -> h3');
      const [s, m, text] = await quietScrape(lab);
      const blue = s.networks.blue;
      expect(blue.counters['tunnel-rx-packets']).toBeGreaterThan(0);
      for (const [key, v] of Object.entries(blue.counters))
        expect(m.get(`vtepd_network_${key.replace(/-/g, '_')}_total{network="blue"}`), key).toBe(v);
      for (const [remote, r] of Object.entries(blue.remotes)) {
        expect(m.get(`vtepd_tunnel_rx_packets_total{network="blue",remote="${remote}"}`), remote).toBe(r['rx-packets']);
        expect(m.get(`vtepd_tunnel_tx_packets_total{network="blue",remote="${remote}"}`), remote).toBe(r['tx-packets']);
        expect(m.get(`vtepd_tunnel_rx_bytes_total{network="blue",remote="${remote}"}`), remote).toBe(r['rx-bytes']);
        expect(m.get(`vtepd_tunnel_tx_bytes_total{network="blue",remote="${remote}"}`), remote).toBe(r['tx-bytes']);
        expect(m.get(`vtepd_remote_info{network="blue",remote="${remote}",kind="${r.kind}"}`)).toBe(1);
      }
      expect(m.get(`vtepd_tunnel_rx_packets_total{network="blue",remote="${lab.underlay(2)}"}`)).toBeGreaterThanOrEqual(
        3,
      );
      for (const [reason, v] of Object.entries(blue.drops))
        expect(m.get(`vtepd_drops_total{network="blue",reason="${reason}"}`), reason).toBe(v);
      for (const [reason, v] of Object.entries(s.drops))
        expect(m.get(`vtepd_drops_total{reason="${reason}"}`), reason).toBe(v);
      expect(m.get('vtepd_fdb_entries{network="blue"}')).toBe(blue.macs.entries);
      expect(m.get('vtepd_fdb_learned_total{network="blue"}')).toBe(blue.macs.learned);
      expect(m.get('vtepd_neigh_entries{network="blue"}')).toBe(blue.neigh.entries);
      expect(m.get('vtepd_neigh_learned_total{network="blue"}')).toBe(blue.neigh.learned);
      expect(m.get('vtepd_network_up{network="blue",encap="vxlan",id="42",tap="tap-blue"}')).toBe(1);
      expect(m.get('vtepd_network_mtu_bytes{network="blue"}')).toBe(1450);
      expect([...m.keys()].some((k) => k.startsWith('vtepd_build_info{version='))).toBe(true);
      expect(m.get('process_resident_memory_bytes')).toBeGreaterThan(0);
      expect(text).toMatch(/^# TYPE vtepd_tunnel_rx_packets_total counter$/m);
      expect(text).toMatch(/^# TYPE vtepd_fdb_entries gauge$/m);
      expect((await get(lab, 1, '/nothing-here')).status).toBe(404);
      // Every vtepd metric the Grafana dashboard queries is one vtepd serves.
      const dashboard = readFileSync(join(ROOT, 'packaging/grafana/vtepd-dashboard.json'), 'utf8');
      const used = new Set(dashboard.match(/vtepd_[a-z_]+/g));
      expect(used.size).toBeGreaterThan(10);
      for (const name of used) expect(text, `the dashboard's ${name}`).toMatch(new RegExp(`^# TYPE ${name} `, 'm'));
    }));

  it('answers HEAD /metrics as GET without a body, closes idle connections after 10 s, and warns when it listens on 0.0.0.0', () =>
    withLab(2, async (lab) => {
      await kernelPeers(lab, [2]);
      const port = METRICS.split(':')[1];
      const d = await lab.startDaemonArgs(1, [
        '--config',
        lab.writeConfig(1, blueConfig(lab, '', [2])),
        '--metrics',
        `0.0.0.0:${port}`,
      ]);
      expect(d.log).toMatch(/warning: metrics: listening on every address of this host \(0\.0\.0\.0:\d+\)/);
      const head = await get(lab, 1, '/metrics', 'HEAD');
      expect(head).toMatchObject({ status: 200, body: '' });
      expect(head.type).toMatch(/^text\/plain; version=0\.0\.4/);
      // Twenty connections that never send a request: each closed by vtepd, not held for a minute.
      const idle = `
        const net = require('node:net');
        const t0 = Date.now(); let closed = 0, last = 0;
        for (let i = 0; i < 20; i++) {
          const s = net.createConnection(${port}, '127.0.0.1');
          s.on('error', () => {});
          s.on('close', () => { last = Date.now() - t0; if (++closed === 20) { console.log(last); process.exit(0); } });
        }
        setTimeout(() => { console.log('held ' + (20 - closed)); process.exit(0); }, 20000);`;
      const r = await lab.exec(1, process.execPath, ['-e', idle], 40_000);
      expect(Number(r.stdout.split('\n')[0]), r.stdout).toBeLessThan(15_000);
      expect((await get(lab, 1, '/metrics')).status).toBe(200);
    }));

  it('refuses a --metrics it cannot serve: a bad address, or a port in use, exit 2', () =>
    withLab(2, async (lab) => {
      const bad = await lab.runDaemon(1, [
        '--config',
        lab.writeConfig(1, blueConfig(lab, '', [2])),
        '--metrics',
        'localhost',
      ]);
      expect(bad.code).toBe(2);
      expect(bad.stderr).toMatch(/--metrics: expected ADDRESS:PORT/);
      await lab.startDaemonArgs(1, ['--config', lab.writeConfig(1, blueConfig(lab, '', [2])), '--metrics', METRICS]);
      const taken = await lab.runDaemon(1, [
        '--local',
        lab.underlay(1),
        '--tap',
        'tap-x',
        '--gre-key',
        '7',
        '--socket',
        `${lab.socket(1)}.2`,
        '--metrics',
        METRICS,
      ]);
      expect(taken.code).toBe(2);
      expect(taken.stderr).toMatch(/metrics: cannot listen on 127\.0\.0\.1:9465: the port is in use/);
      expect((await lab.exec(1, 'ip', ['link', 'show', 'tap-x'])).code).not.toBe(0);
    }));

  it('logs one JSON object a line with --log-format json, with the network as a field', () =>
    withLab(2, async (lab) => {
      await kernelPeers(lab, [2]);
      const d = await lab.startDaemonArgs(1, [
        '--config',
        lab.writeConfig(1, blueConfig(lab, '', [2])),
        '--log-format',
        'json',
      ]);
      expectOk(
        await vtepctl(
          '--socket',
          lab.socket(1),
          'fdb',
          'add',
          '02:00:00:00:aa:01',
          'dst',
          lab.underlay(2),
          '--network',
          'blue',
        ),
        'fdb add',
      );
      await sleep(200);
      const lines = d.log
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as Record<string, unknown>);
      for (const l of lines) {
        expect(['debug', 'info', 'warning', 'error']).toContain(l.level);
        expect(typeof l.msg).toBe('string');
        expect(typeof l.time).toBe('string');
      }
      expect(lines).toContainEqual(
        expect.objectContaining({
          level: 'info',
          network: 'blue',
          msg: expect.stringMatching(/^network blue: TAP tap-blue/),
        }),
      );
      expect(lines).toContainEqual(
        expect.objectContaining({
          level: 'info',
          network: 'blue',
          request: 'fdb-add',
          msg: expect.stringMatching(/^control: fdb add 02:00:00:00:aa:01/),
        }),
      );
    }));

  it('writes only warnings and errors with --log-level warning', () =>
    withLab(2, async (lab) => {
      const config = lab.writeConfig(1, blueConfig(lab, '', [2]));
      const proc = lab.spawnDaemon(1, ['--config', config, '--log-level', 'warning']);
      for (let t = 0; t < 100 && (await vtepctl('--socket', lab.socket(1), 'stats')).code !== 0; t++) await sleep(100);
      expectOk(await vtepctl('--socket', lab.socket(1), 'stats'), 'the daemon answers');
      await lab.exec(1, 'ip', ['link', 'del', 'tap-blue']);
      for (let t = 0; t < 50 && !/warning/.test(proc.log); t++) await sleep(100);
      expect(proc.log).not.toMatch(/vtepd: ready|vtepd: network blue: TAP tap-blue \(created/);
      expect(proc.log).toMatch(/^vtepd: (warning|error): network blue: /m);
    }));
});

/** /proc/PID/status fields of a process. */
function status(pid: number): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of readFileSync(`/proc/${pid}/status`, 'utf8').split('\n')) {
    const at = line.indexOf(':');
    if (at > 0) out[line.slice(0, at)] = line.slice(at + 1).trim();
  }
  return out;
}

/** CAP_NET_ADMIN (12) and CAP_NET_RAW (13), as /proc shows a capability set. */
const TWO_CAPS = (1n << 12n) | (1n << 13n);
const caps = (hex: string) => BigInt(`0x${hex}`);

/** The PID of the vtepd node process (not `ip netns exec`): the one whose socket answers. */
async function vtepdPid(lab: Lab): Promise<number> {
  const r = await vtepctl('--socket', lab.socket(1), 'stats', '--json');
  expect(r.code, r.stderr).toBe(0);
  const pids = (await sh('pgrep', ['-f', `bin/vtepd .*${lab.dir}`])).stdout
    .trim()
    .split('\n')
    .map(Number)
    .filter((p) => p > 0);
  const node = pids.find((p) => readFileSync(`/proc/${p}/cmdline`, 'utf8').startsWith('node'));
  if (node === undefined) throw new Error(`no vtepd process among ${pids.join(', ')}`);
  return node;
}

/** A Unix datagram socket standing in for systemd's NOTIFY_SOCKET: every message it gets. */
function notifyListener(path: string): { messages: string[]; stop: () => void } {
  const py =
    'import json, socket, sys\ns = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)\ns.bind(sys.argv[1])\nprint("ready", flush=True)\n' +
    'while True:\n    print(json.dumps(s.recv(65536).decode()), flush=True)\n';
  const proc = spawn('python3', ['-u', '-c', py, path], { stdio: ['ignore', 'pipe', 'inherit'] });
  const messages: string[] = [];
  let rest = '';
  proc.stdout.on('data', (d: Buffer) => {
    const lines = (rest + d.toString()).split('\n');
    rest = lines.pop()!;
    for (const l of lines) if (l !== 'ready') messages.push(JSON.parse(l) as string);
  });
  return { messages, stop: () => proc.kill('SIGKILL') };
}

async function until(what: string, ok: () => boolean, ms = 10_000, log?: () => string): Promise<void> {
  for (const t0 = Date.now(); !ok(); await sleep(50))
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}${log ? `:\n${log()}` : ''}`);
}

/** Whether a process ended (gone, or a zombie nobody reaped yet). */
function exited(pid: number): boolean {
  try {
    return / Z /.test(readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\)/, ')'));
  } catch {
    return true;
  }
}

describe('least privilege', () => {
  it('with --user, runs as that user with CAP_NET_ADMIN and CAP_NET_RAW only, no_new_privs, and still creates TAPs', () =>
    withLab(2, async (lab) => {
      await kernelPeers(lab, [2]);
      const config = lab.writeConfig(1, blueConfig(lab, '', [2]));
      const d = await lab.startDaemonArgs(1, ['--config', config, '--user', 'nobody'], { openTun: true });
      expect(d.log).toMatch(/running as nobody \(uid 65534\) with CAP_NET_ADMIN and CAP_NET_RAW only/);
      const st = status(await vtepdPid(lab));
      expect(st.Uid.split(/\s+/)).toEqual(['65534', '65534', '65534', '65534']);
      expect(caps(st.CapEff)).toBe(TWO_CAPS);
      expect(caps(st.CapPrm)).toBe(TWO_CAPS);
      expect(caps(st.CapBnd)).toBe(TWO_CAPS);
      expect(caps(st.CapAmb)).toBe(TWO_CAPS);
      expect(st.NoNewPrivs).toBe('1');
      expectOk(await ping(lab, 2, overlay(1), 2), 'ping across, unprivileged');
      // A TAP created after the drop: one deleted under it, and a network added by a reload.
      await lab.exec(1, 'ip', ['link', 'del', 'tap-blue']);
      await until(
        'tap-blue created again',
        () => /created again/.test(d.log),
        10_000,
        () => d.log,
      );
      expectOk(await ping(lab, 2, overlay(1), 2), 'ping across the TAP vtepd created again as nobody');
      writeFileSync(
        config,
        blueConfig(lab, '  green:\n    tap: tap-green\n    vxlan: { vni: 77 }\n    remotes: []\n', [2]) +
          'user: nobody\n',
      );
      expectOk(await vtepctl('--socket', lab.socket(1), 'reload'), 'reload adding a network');
      expect((await lab.exec(1, 'ip', ['-d', 'link', 'show', 'tap-green'])).stdout).toMatch(/tun type tap/);
      // An upgrade from the unprivileged vtepd: the successor inherits the user and the two capabilities.
      const up = await vtepctl('--socket', lab.socket(1), 'upgrade', '--json');
      expect(up.code, up.stderr).toBe(0);
      const next = (JSON.parse(up.stdout) as UpgradeReport).pid;
      lab.adopt(next);
      const after = status(next);
      expect(after.Uid.split(/\s+/)[0]).toBe('65534');
      expect(caps(after.CapEff)).toBe(TWO_CAPS);
      expect(caps(after.CapBnd)).toBe(TWO_CAPS);
      expectOk(await ping(lab, 2, overlay(1), 2), 'ping across the upgraded, unprivileged vtepd');
      // The socket outlived the old vtepd (its successor answers on it), and goes with the successor
      // although nobody may not write the root-owned directory it is in.
      expect((await vtepctl('--socket', lab.socket(1), 'stats')).code).toBe(0);
      expect(statSync(lab.dir).uid).toBe(0);
      process.kill(next, 'SIGTERM');
      await until('the successor gone', () => exited(next), 10_000);
      await until('the control socket removed', () => !existsSync(lab.socket(1)), 5_000);
    }));

  it('runs started unprivileged by setpriv with the two ambient capabilities, and says which it lacks without them', () =>
    withLab(2, async (lab) => {
      await kernelPeers(lab, [2]);
      const dir = join(lab.dir, 'nobody');
      mkdirSync(dir);
      chownSync(dir, 65534, 65534);
      const socket = join(dir, 'vtepd.sock');
      const config = lab.writeConfig(
        1,
        blueConfig(lab, '', [2]).replace(`socket: ${lab.socket(1)}`, `socket: ${socket}`),
      );
      const setpriv = ['--reuid', 'nobody', '--regid', 'nogroup', '--clear-groups', '--no-new-privs'];
      const [cmd, ...args] = lab.asAnyUser([
        'ip',
        'netns',
        'exec',
        lab.ns(1),
        'setpriv',
        ...setpriv,
        join(ROOT, 'bin/vtepd'),
        '--config',
        config,
      ]);
      const bare = await sh(cmd, args, 20_000);
      expect(bare.code).toBe(2);
      expect(bare.stderr).toMatch(/needs CAP_NET_ADMIN and CAP_NET_RAW/);
      const withCaps = [
        ...setpriv,
        '--inh-caps',
        '-all,+net_admin,+net_raw',
        '--ambient-caps',
        '+net_admin,+net_raw',
        '--bounding-set',
        '-all,+net_admin,+net_raw',
      ];
      const proc = lab.spawnCommand(1, 'setpriv', [...withCaps, join(ROOT, 'bin/vtepd'), '--config', config], {
        openTun: true,
      });
      await until(
        'vtepd answers as nobody',
        () => /vtepd: ready/.test(proc.log),
        20_000,
        () => proc.log,
      );
      expectOk(await ping(lab, 2, overlay(1), 2), 'ping across a vtepd that never was root');
      expectOk(await vtepctl('--socket', socket, 'stats'), 'root reads stats');
    }));
});

describe('least privilege, refused', () => {
  it('refuses --user with a gobgpd it would start as root and could not stop, and a user that does not exist, exit 2', () =>
    withLab(1, async (lab) => {
      const flags = ['--local', lab.underlay(1), '--tap', 'tap-x', '--vni', '7', '--socket', lab.socket(1)];
      const evpn = await lab.runDaemon(1, [
        ...flags,
        '--user',
        'nobody',
        '--evpn-asn',
        '65000',
        '--evpn-neighbor',
        '10.0.0.9',
      ]);
      expect(evpn.code).toBe(2);
      expect(evpn.stderr).toMatch(/user: the gobgpd vtepd starts for evpn runs as root .* name it with evpn.gobgp/);
      const nobodyThere = await lab.runDaemon(1, [...flags, '--user', 'no-such-user-here']);
      expect(nobodyThere.code).toBe(2);
      expect(nobodyThere.stderr).toMatch(/user: there is no user "no-such-user-here" on this host/);
      expect((await lab.exec(1, 'ip', ['link', 'show', 'tap-x'])).code).not.toBe(0);
    }));
});

describe('the control socket for a group', () => {
  it('lets socket-group read with socket-mode 0660, and keeps changes for root unless socket-mutations is group', () =>
    withLab(2, async (lab) => {
      await kernelPeers(lab, [2]);
      const config = (mutations: string) =>
        lab.writeConfig(
          1,
          blueConfig(lab, '', [2], `socket-group: nogroup\nsocket-mode: 0660\nsocket-mutations: ${mutations}\n`),
        );
      const d = await lab.startDaemon(1, readFileSync(config('owner'), 'utf8'));
      const st = lstatSync(lab.socket(1));
      expect(st.mode & 0o777).toBe(0o660);
      expect(st.gid).toBe(65534);
      const asNobody = (...args: string[]) => vtepctlAsNobody(lab, ...args);
      expectOk(await asNobody('stats'), 'a member of the group reads stats');
      expectOk(await asNobody('fdb', 'show'), 'and the FDB');
      const add = await asNobody('fdb', 'add', '02:00:00:00:aa:01', 'dst', lab.underlay(2), '--network', 'blue');
      expect(add.code).toBe(1);
      expect(add.stderr).toMatch(
        /fdb add: only root and vtepd's own user may do this on this socket \(socket-mutations: owner\)/,
      );
      expect((await asNobody('capture', '--count', '1')).code).toBe(1);
      expectOk(
        await vtepctl(
          '--socket',
          lab.socket(1),
          'fdb',
          'add',
          '02:00:00:00:aa:01',
          'dst',
          lab.underlay(2),
          '--network',
          'blue',
        ),
        'root may',
      );
      await d.stop();
      await lab.startDaemon(1, readFileSync(config('group'), 'utf8'));
      expectOk(
        await asNobody('fdb', 'add', '02:00:00:00:aa:02', 'dst', lab.underlay(2), '--network', 'blue'),
        'with socket-mutations: group, the group may',
      );
    }));
  it('tells a user the socket is not theirs (EACCES), not that the daemon may not run', () =>
    withLab(2, async (lab) => {
      await kernelPeers(lab, [2]);
      await lab.startDaemon(1, blueConfig(lab, '', [2]));
      const r = await vtepctlAsNobody(lab, 'stats');
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(
        /^vtepctl: permission denied on \S+: the control socket is root's and vtepd's own user's/,
      );
      expect(r.stderr).not.toMatch(/is the daemon running/);
    }));

  it('keeps the last control slots for root: a socket-group member holding 64 monitor streams gets 56, root is still served', () =>
    withLab(2, async (lab) => {
      await kernelPeers(lab, [2]);
      await lab.startDaemon(1, blueConfig(lab, '', [2], 'socket-group: nogroup\nsocket-mode: 0660\n'));
      // As nobody (a member of the socket's group): 64 connections, each asking for a monitor stream.
      const hold = `
        const net = require('node:net');
        let streams = 0, refused = 0, last = '';
        for (let i = 0; i < 64; i++) {
          const s = net.createConnection(process.argv[1]);
          s.on('error', () => {});
          s.on('connect', () => s.write('{"cmd":"monitor"}\\n'));
          s.once('data', (d) => {
            if (String(d).includes('"monitoring":true')) streams++;
            else { refused++; last = String(d).trim(); }
            if (streams + refused === 64) console.log(JSON.stringify({ streams, refused, last }));
          });
        }
        setInterval(() => {}, 1 << 30);`;
      const holder = lab.spawnCommand(
        1,
        'setpriv',
        ['--reuid', 'nobody', '--regid', 'nogroup', '--clear-groups', process.execPath, '-e', hold, lab.socket(1)],
        { openTun: true },
      );
      const t0 = Date.now();
      while (!holder.log.includes('streams') && Date.now() - t0 < 20_000) await sleep(100);
      const held = JSON.parse(holder.log.trim().split('\n').pop()!) as {
        streams: number;
        refused: number;
        last: string;
      };
      expect(held.streams).toBe(56);
      expect(held.refused).toBe(8);
      expect(JSON.parse(held.last)).toEqual({
        ok: false,
        error:
          "too many control clients of users other than root and vtepd's own (56; 8 of max-clients 64 are kept for those two); try again later",
      });
      // Root reads, changes and reloads while the member holds its streams.
      const root = (...args: string[]) => vtepctl('--socket', lab.socket(1), ...args);
      const s = await root('stats', '--json');
      expectOk(s, 'root reads stats');
      expect((JSON.parse(s.stdout) as StatsReport).control).toMatchObject({ clients: 57, refused: 8 });
      expectOk(await root('fdb', 'add', '02:00:00:00:aa:01', 'dst', lab.underlay(2), '--network', 'blue'), 'fdb add');
      expectOk(await root('reload'), 'reload');
      expectOk(await ping(lab, 1, overlay(2), 2), 'forwarding goes on');
    }));
});

describe('systemd', () => {
  it('the unit passes systemd-analyze verify', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'vtepd-unit-'));
    try {
      // The unit names the installed vtepd; verify checks that ExecStart exists, so it names this tree's.
      const unit = readFileSync(join(ROOT, 'packaging/systemd/vtepd.service'), 'utf8').replace(
        '/usr/local/bin/vtepd',
        join(ROOT, 'bin/vtepd'),
      );
      writeFileSync(join(dir, 'vtepd.service'), unit);
      const r = await sh('systemd-analyze', ['verify', join(dir, 'vtepd.service')]);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr).toBe('');
      for (const line of [
        'Type=notify',
        'NotifyAccess=all',
        'RuntimeDirectory=vtepd',
        'CapabilityBoundingSet=CAP_NET_ADMIN CAP_NET_RAW',
        'AmbientCapabilities=CAP_NET_ADMIN CAP_NET_RAW',
        'NoNewPrivileges=yes',
        'ProtectSystem=strict',
        'ProtectHome=yes',
        'PrivateTmp=yes',
        'RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6 AF_NETLINK AF_PACKET',
        'SystemCallFilter=@system-service',
        'ExecReload=/bin/kill -HUP $MAINPID',
      ])
        expect(unit.split('\n')).toContain(line);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('tells NOTIFY_SOCKET: READY with a status, WATCHDOG, RELOADING around a reload, MAINPID after an upgrade, STOPPING', () =>
    withLab(2, async (lab) => {
      await kernelPeers(lab, [2]);
      const path = join(lab.dir, 'notify.sock');
      const sd = notifyListener(path);
      try {
        await until('the notify socket', () => existsSync(path));
        process.env.NOTIFY_SOCKET = path;
        process.env.WATCHDOG_USEC = '400000';
        let d;
        try {
          d = await lab.startDaemonArgs(1, ['--config', lab.writeConfig(1, blueConfig(lab, '', [2]))]);
        } finally {
          delete process.env.NOTIFY_SOCKET;
          delete process.env.WATCHDOG_USEC;
        }
        await until('READY=1', () => sd.messages.some((m) => m.includes('READY=1')));
        expect(sd.messages[0]).toMatch(/^READY=1\nSTATUS=1 network, 1 remote VTEP, \d+ MACs$/);
        await until('two watchdog pings', () => sd.messages.filter((m) => m.startsWith('WATCHDOG=1')).length >= 2);
        const n = sd.messages.length;
        expectOk(await vtepctl('--socket', lab.socket(1), 'reload'), 'reload');
        await until('READY=1 after the reload', () => sd.messages.slice(n).some((m) => m.startsWith('READY=1')));
        const around = sd.messages.slice(n).filter((m) => !m.startsWith('WATCHDOG'));
        expect(around[0]).toMatch(/^RELOADING=1\nMONOTONIC_USEC=\d+$/);
        expect(around[1]).toMatch(/^READY=1\nSTATUS=/);
        const up = await vtepctl('--socket', lab.socket(1), 'upgrade', '--json');
        expect(up.code, up.stderr).toBe(0);
        const next = (JSON.parse(up.stdout) as UpgradeReport).pid;
        lab.adopt(next);
        await until('MAINPID from the new vtepd', () =>
          sd.messages.some((m) => m.startsWith(`MAINPID=${next}\nREADY=1`)),
        );
        // The new main process keeps the watchdog fed (the old one stopped at the hand-over).
        const m = sd.messages.length;
        await until(
          'the new vtepd feeding the watchdog',
          () => sd.messages.slice(m).filter((x) => x.startsWith('WATCHDOG=1')).length >= 2,
        );
        process.kill(next, 'SIGTERM');
        await until('STOPPING=1', () => sd.messages.some((m) => m === 'STOPPING=1'));
        expect(d.log).not.toMatch(/systemd: could not notify/);
      } finally {
        sd.stop();
      }
    }));
});
