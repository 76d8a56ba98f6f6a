// The verb registry: every verb runs its own example against a daemon of the
// test's (real networks and tables, the daemon's own operations recorded),
// and what it does must match who may run it. A verb that changes the tables
// or the daemon but is open to read-only clients fails here; so does one
// whose example is not a valid request, or a vtepctl word that names two.
import { describe, expect, it } from 'vitest';
import { ownerSlots } from '../../src/control/server.ts';
import { answer } from '../../src/control/commands.ts';
import type { DaemonView, RunningView } from '../../src/control/daemon-view.ts';
import { fdbRows, neighRows, remoteRows, routeRows, infos } from '../../src/observe/report.ts';
import { contains, parsePrefix } from '../../src/route/prefix.ts';
import { Router } from '../../src/route/router.ts';
import { COMMANDS, usage, VERBS, verbOfWords } from '../../src/control/registry.ts';
import { parseRequest } from '../../src/control/requests.ts';
import { UPGRADE_START_MS, UPGRADE_TAKEOVER_MS, type Streaming } from '../../src/control/protocol.ts';
import { Counters } from '../../src/switch/counters.ts';
import { Network } from '../../src/switch/network.ts';
import { IcmpCounters } from '../../src/switch/pmtu-guard.ts';
import { Hold } from '../../src/switch/hold.ts';
import { VxlanTunnel } from '../../src/tunnel/vxlan.ts';
import { parseIp } from '../../src/wire/ip-address.ts';

/** A daemon with network blue (remote 10.0.0.2, a static MAC, a neighbour), counting what verbs do to it besides the tables. */
function daemon(): { d: DaemonView; did: string[]; tables: () => string } {
  const tunnel = new VxlanTunnel({ kind: 'vxlan', vni: 42, port: 4789, srcPortMin: 49152, srcPortMax: 65535 });
  const net = new Network({
    name: 'blue',
    tunnel,
    encap: tunnel.encap([]),
    ttl: 64,
    df: false,
    acceptAnyRemote: false,
    ageing: 300,
    maxMacs: 100,
    arpResponder: false,
    arpSnoop: false,
    learning: true,
    batchSize: 16,
  });
  net.holdRemote(parseIp('10.0.0.2')!, Hold.Flood);
  net.setStatic(0x525400123456, parseIp('10.0.0.2')!, 'config', 0);
  net.setNeigh(parseIp('192.168.100.2')!, 0x020000000002, 'config', 0);
  net.fdb.learn(0x020000000009, 0, 0);
  // VRF tenant1 routes blue through gateway 192.168.10.1/24, with a default
  // route and another host's DVR MAC for the del examples to remove.
  const router = new Router();
  router.configure(
    [
      {
        name: 'tenant1',
        routes: [{ prefix: parsePrefix('0.0.0.0/0')!, via: parseIp('192.168.10.254')! }],
        icmpRatelimit: 1000,
      },
    ],
    undefined,
    [0xfa163f000009],
  );
  router.attach(net, 'tenant1', {
    addresses: [{ ip: parseIp('192.168.10.1')!, len: 24 }],
    mac: 0x00005e000101,
    sourceMac: 'anycast',
  });
  const cfg = {
    name: 'blue',
    tap: 'tap-blue',
    address: '192.168.100.1/24',
    remotes: ['10.0.0.2'],
    group: undefined,
  } as unknown as RunningView['cfg'];
  const did: string[] = [];
  const networks = new Map<string, RunningView>([['blue', { net, cfg, failure: undefined }]]);
  const d = {
    localText: '10.0.0.1',
    local: parseIp('10.0.0.1')!,
    vtepChecks: {
      local: parseIp('10.0.0.1')!,
      broadcast: parseIp('10.0.0.255'),
      overlay: (b: Uint8Array) => contains(parsePrefix('192.168.10.0/24')!, b),
    },
    networks,
    datapath: { unattributed: new Counters(), governor: { pauses: { contended: 0, idle: 0 } } },
    mirror: { start: () => (did.push('capture'), () => undefined) },
    events: { listen: () => (did.push('listen'), () => undefined) },
    log: { info: () => undefined, debug: () => undefined, warn: () => undefined, error: () => undefined },
    changes: { note: () => undefined },
    controlStats: { clients: 0, refused: 0, 'idle-closed': 0, 'slow-readers': 0, 'lines-dropped': 0 },
    icmp: new IcmpCounters(),
    evpn: { status: () => (did.push('evpn-status'), Promise.resolve({})), routes: () => (did.push('evpn-routes'), []) },
    now: () => 1,
    router,
    reload: () => (did.push('reload'), []),
    upgrade: () => (did.push('upgrade'), Promise.resolve({ pid: 2, previous: 1 })),
    trace: () => (did.push('trace'), { network: 'blue', in: 'tap', frame: '', steps: [], result: 'flooded', wire: [] }),
  } as unknown as DaemonView;
  const tables = () =>
    JSON.stringify([
      fdbRows(infos(d), 1),
      remoteRows(infos(d)),
      neighRows(infos(d), 1, undefined, router),
      routeRows(router),
      [router.dvr.own, ...router.dvr.others],
    ]);
  return { d, did, tables };
}

describe('the verb registry', () => {
  it('has one verb per cmd and per vtepctl words, each with a summary and a usage line', () => {
    expect(new Set(COMMANDS).size).toBe(COMMANDS.length);
    for (const v of VERBS) {
      expect(verbOfWords(v.words)?.verb, v.cmd).toBe(v);
      expect(v.summary.length, v.cmd).toBeGreaterThan(0);
      expect(usage()).toContain(`  ${v.words.join(' ')}`);
    }
  });

  it.each(VERBS.map((v) => [v.cmd, v] as const))(
    '%s: its example is a valid request, and what it does matches its access',
    async (_cmd, verb) => {
      const parsed = parseRequest({ cmd: verb.cmd, ...verb.example });
      expect(parsed.ok, JSON.stringify(parsed)).toBe(true);
      if (!parsed.ok) return;
      const { d, did, tables } = daemon();
      const before = tables();
      let reply = answer(d, verb, parsed.request);
      if ('stream' in reply)
        (reply as Streaming).stream({
          room: true,
          send: () => undefined,
          skipped: () => undefined,
          end: () => undefined,
        });
      else reply = await reply;
      if (!('stream' in reply)) expect(reply, verb.cmd).toMatchObject({ ok: true });
      const changed = tables() !== before || did.includes('reload') || did.includes('upgrade');
      const traffic = did.includes('capture');
      expect({ changed, traffic, privileged: verb.privileged }, `${verb.cmd} (access ${verb.access})`).toEqual({
        changed: verb.access === 'change',
        traffic: verb.access === 'traffic',
        privileged: verb.access !== 'read',
      });
    },
  );
});

describe('remote VTEP addresses in requests', () => {
  it.each([
    ['127.0.0.1', 'loopback'],
    ['0.0.0.0', 'unspecified'],
    ['255.255.255.255', 'broadcast'],
    ['10.0.0.255', 'broadcast'],
    ['224.0.0.1', 'multicast'],
    ['169.254.1.1', 'link-local'],
    ['240.0.0.1', 'reserved'],
    ['10.0.0.1', 'own address'],
    ['192.168.10.7', 'overlay'],
    ['fd00::2', 'IPv6'],
  ])('fdb add and remote add refuse %s (%s), changing nothing', async (ip, says) => {
    const { d, tables } = daemon();
    const before = tables();
    for (const req of [
      { cmd: 'fdb-add', network: 'blue', mac: '52:54:00:00:00:99', dst: ip },
      { cmd: 'remote-add', network: 'blue', ip },
    ]) {
      const parsed = parseRequest(req);
      // The request's own schema refuses what is not unicast at all; the daemon, what no VTEP can have.
      const reply = parsed.ok ? await answer(d, parsed.verb, parsed.request) : parsed;
      expect(reply, req.cmd).toMatchObject({ ok: false });
      if (parsed.ok) expect(JSON.stringify(reply)).toContain(says);
    }
    expect(tables()).toBe(before);
  });

  it('accepts a unicast address of the underlay', async () => {
    const { d, tables } = daemon();
    const before = tables();
    const parsed = parseRequest({ cmd: 'remote-add', network: 'blue', ip: '10.0.0.9' });
    expect(parsed.ok).toBe(true);
    if (!parsed.ok) return;
    expect(await answer(d, parsed.verb, parsed.request)).toMatchObject({ ok: true });
    expect(tables()).not.toBe(before);
  });
});

describe('neighbour entries and MACs in requests', () => {
  it.each([
    ['127.0.0.1', 'loopback'],
    ['::1', 'loopback'],
    ['169.254.1.1', 'link-local'],
    ['10.0.0.1', 'underlay address'],
    ['192.168.100.1', 'TAP tap-blue itself'],
  ])('neigh add refuses %s (%s), changing nothing', async (ip, says) => {
    const { d, tables } = daemon();
    const before = tables();
    const parsed = parseRequest({ cmd: 'neigh-add', network: 'blue', ip, mac: '52:54:00:00:00:99' });
    expect(parsed.ok).toBe(true);
    if (!parsed.ok) return;
    const reply = await answer(d, parsed.verb, parsed.request);
    expect(reply).toMatchObject({ ok: false });
    expect(JSON.stringify(reply)).toContain(says);
    expect(tables()).toBe(before);
  });

  it('neigh add takes a host of the subnet, and an IPv6 link-local address (hosts resolve fe80:: by ND)', async () => {
    for (const ip of ['192.168.100.7', 'fe80::7']) {
      const { d, tables } = daemon();
      const before = tables();
      const parsed = parseRequest({ cmd: 'neigh-add', network: 'blue', ip, mac: '52:54:00:00:00:99' });
      if (!parsed.ok) throw new Error(parsed.error);
      expect(await answer(d, parsed.verb, parsed.request), ip).toMatchObject({ ok: true });
      expect(tables()).not.toBe(before);
    }
  });

  it('fdb add and neigh add refuse MAC 00:00:00:00:00:00, which no host has', () => {
    for (const req of [
      { cmd: 'fdb-add', network: 'blue', mac: '00:00:00:00:00:00', dst: '10.0.0.2' },
      { cmd: 'neigh-add', network: 'blue', mac: '00:00:00:00:00:00', ip: '192.168.100.7' },
    ]) {
      const parsed = parseRequest(req);
      expect(parsed, req.cmd).toMatchObject({ ok: false });
      expect(JSON.stringify(parsed)).toContain('not 00:00:00:00:00:00');
    }
  });
});

describe('bounds on given state', () => {
  it('fdb add past max-static-macs and remote add past max-remotes are refused, saying which bound, changing nothing', async () => {
    const { d, tables } = daemon();
    const net = d.networks.get('blue')!.net;
    net.fdb.maxStaticMacs = 1; // the config's entry is there
    net.remotes.maxRemotes = 1; // and its remote
    const before = tables();
    for (const [req, says] of [
      [{ cmd: 'fdb-add', network: 'blue', mac: '52:54:00:00:00:99', dst: '10.0.0.2' }, 'its max-static-macs'],
      [{ cmd: 'remote-add', network: 'blue', ip: '10.0.0.9' }, 'its max-remotes (1)'],
    ] as const) {
      const parsed = parseRequest(req);
      if (!parsed.ok) throw new Error(parsed.error);
      const reply = await answer(d, parsed.verb, parsed.request);
      expect(reply, req.cmd).toMatchObject({ ok: false });
      expect(JSON.stringify(reply)).toContain(says);
    }
    expect(tables()).toBe(before);
    expect([net.fdb.refusedStatic, net.remotes.refusedRemotes]).toEqual([1, 1]);
  });
});

describe('vtepctl upgrade', () => {
  it('waits for the reply as long as the daemon may take: the start and takeover of its successor', () => {
    const v = verbOfWords(['upgrade'])!.verb;
    expect(v.replyTimeoutMs).toBeGreaterThan(UPGRADE_START_MS + UPGRADE_TAKEOVER_MS);
  });
});

describe('control slots kept for root and vtepd’s own user', () => {
  it('keeps an eighth of max-clients, at least 1 and at most 8, and none when there is only one', () => {
    expect([1, 2, 3, 8, 9, 16, 64, 10_000].map(ownerSlots)).toEqual([0, 1, 1, 1, 2, 2, 8, 8]);
  });
});
