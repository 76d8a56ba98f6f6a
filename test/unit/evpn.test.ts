// EVPN without a fabric: the routes vtepd builds and reads (byte for byte as
// GoBGP's API carries them), route distinguishers and targets, and the
// speaker's decisions driven through a fake BGP engine: the flood list from
// type-3, the FDB and neighbours from type-2, MAC mobility, duplicate
// detection, withdrawals.
import { describe, expect, it } from 'vitest';
import type { EvpnConfig } from '../../src/config/config.ts';
import { EventHub } from '../../src/observe/monitor.ts';
import { Logger } from '../../src/observe/log.ts';
import {
  apiType,
  EVPN_FAMILY,
  loadWatchDecoder,
  routeCounts,
  type ApiPath,
  type PeerStatus,
} from '../../src/evpn/gobgp.ts';
import { loadGobgpApi } from '../../src/evpn/gobgp-api.ts';
import { watchEventSample } from '../../src/evpn/warm-decoders.ts';
import {
  droppedUpdateLine,
  droppedUpdateMessage,
  gobgpdConfig,
  peerLogEntry,
  sessionLogLine,
} from '../../src/evpn/gobgp.ts';
import { imetPath, macIpPath, prefixPath, readPath, routeKey } from '../../src/evpn/routes.ts';
import { formatPrefix, parsePrefix } from '../../src/route/prefix.ts';
import { Router } from '../../src/route/router.ts';
import { Vrf } from '../../src/route/vrf.ts';
import { RibFollower } from '../../src/evpn/follow.ts';
import { EvpnSpeaker, MAX_MOVES, type BgpEngine } from '../../src/evpn/speaker.ts';
import {
  defaultRouteDistinguisher,
  defaultRouteTarget,
  GOBGP_API_DIR,
  parseRouteValue,
} from '../../src/evpn/values.ts';
import { LOCAL_PORT } from '../../src/switch/fdb.ts';
import { Network } from '../../src/switch/network.ts';
import { VxlanTunnel } from '../../src/tunnel/vxlan.ts';
import { parseIp } from '../../src/wire/ip-address.ts';
import { parseMac } from '../../src/wire/mac.ts';

const LOCAL = '10.0.0.3';
const M = parseMac('02:00:00:00:99:01')!;
const GATEWAY = '00:00:5e:00:01:01';

describe('route distinguishers and targets', () => {
  it('reads the three forms and refuses what does not fit', () => {
    expect(parseRouteValue('10.0.0.1:42')).toEqual({ kind: 'ip', admin: '10.0.0.1', assigned: 42 });
    expect(parseRouteValue('65000:100000')).toEqual({ kind: 'as2', asn: 65000, assigned: 100000 });
    expect(parseRouteValue('4200000000:7')).toEqual({ kind: 'as4', asn: 4200000000, assigned: 7 });
    for (const bad of ['10.0.0.1:70000', '4200000000:70000', '10.0.0:1', 'x:1', '65000', '1:2:3'])
      expect(parseRouteValue(bad), bad).toBeUndefined();
  });

  it('defaults as FRR: RD router-id:VNI, RT ASN:VNI', () => {
    expect(defaultRouteDistinguisher('10.0.0.1', 100)).toBe('10.0.0.1:100');
    expect(defaultRouteTarget(65000, 100)).toBe('65000:100');
    expect(defaultRouteTarget(4200000000, 0x12345)).toBe('4200000000:9029');
  });
});

describe('EVPN routes as GoBGP carries them', () => {
  it('builds a type-3 route with ingress replication, the VNI as label, the VTEP as tunnel id, VXLAN encapsulation', () => {
    const p = imetPath('10.0.0.3:100', LOCAL, ['65000:100'], 100);
    expect(p.nlri).toMatchObject({
      '@type': 'type.googleapis.com/apipb.EVPNInclusiveMulticastEthernetTagRoute',
      ethernet_tag: 0,
      ip_address: LOCAL,
    });
    expect(p.pattrs).toContainEqual({
      '@type': 'type.googleapis.com/apipb.PmsiTunnelAttribute',
      flags: 0,
      type: 6,
      label: 100,
      id: Buffer.from([10, 0, 0, 3]),
    });
    const ext = p.pattrs.find((a) => a['@type'].endsWith('ExtendedCommunitiesAttribute'))!.communities as object[];
    expect(ext).toContainEqual({
      '@type': 'type.googleapis.com/apipb.TwoOctetAsSpecificExtended',
      is_transitive: true,
      sub_type: 2,
      asn: 65000,
      local_admin: 100,
    });
    expect(ext).toContainEqual({ '@type': 'type.googleapis.com/apipb.EncapExtended', tunnel_type: 8 });
    expect(readPath(p)).toEqual({ kind: 'imet', rd: '10.0.0.3:100', vtep: LOCAL, rts: ['65000:100'], vni: 100 });
  });

  it('builds type-2 routes, MAC only and MAC/IP, with MAC Mobility once moved, and reads them back', () => {
    const plain = macIpPath('10.0.0.3:100', M, undefined, LOCAL, ['65000:100'], 100, 0, false);
    expect(JSON.stringify(plain)).not.toMatch(/MacMobility/);
    expect(readPath(plain)).toMatchObject({ kind: 'macip', mac: M, ip: undefined, vtep: LOCAL, vni: 100, seq: 0 });
    const moved = macIpPath('10.0.0.3:100', M, '192.168.100.99', LOCAL, ['65000:100'], 100, 3, false);
    expect(readPath(moved)).toMatchObject({ ip: '192.168.100.99', seq: 3 });
    expect(routeKey(readPath(moved)!)).toBe('2 10.0.0.3:100 02:00:00:00:99:01 192.168.100.99');
  });

  it('reads what GoBGP hands over from FRR: next hop in MP_REACH, nil address, no mobility community', () => {
    const fromFrr: ApiPath = {
      family: { afi: 'AFI_L2VPN', safi: 'SAFI_EVPN' },
      nlri: {
        '@type': 'type.googleapis.com/apipb.EVPNMACIPAdvertisementRoute',
        rd: { '@type': 'x.RouteDistinguisherIPAddress', admin: '10.0.0.2', assigned: 2 },
        mac_address: '02:00:00:00:00:02',
        ip_address: '<nil>',
        labels: [100],
      },
      pattrs: [
        { '@type': 'x.MpReachNLRIAttribute', next_hops: ['10.0.0.2'] },
        {
          '@type': 'x.ExtendedCommunitiesAttribute',
          communities: [{ '@type': 'x.TwoOctetAsSpecificExtended', sub_type: 2, asn: 65000, local_admin: 100 }],
        },
      ],
    };
    expect(readPath(fromFrr)).toEqual({
      kind: 'macip',
      rd: '10.0.0.2:2',
      mac: 0x020000000002,
      ip: undefined,
      vtep: '10.0.0.2',
      rts: ['65000:100'],
      vni: 100,
      seq: 0,
      sticky: false,
    });
  });
});

class FakeEngine implements BgpEngine {
  readonly address = 'fake';
  readonly managed = false;
  earlyProblem: string | undefined;
  /** Our routes, as GoBGP holds them. */
  readonly rib = new Map<string, ApiPath>();
  /** The fabric's best paths, as GoBGP holds them. */
  readonly fabric = new Map<string, ApiPath>();
  private deliver: ((p: ApiPath) => void) | undefined;
  private ended: ((e: Error | undefined) => void) | undefined;
  addPath(p: ApiPath) {
    this.rib.set(routeKey(readPath(p)!), p);
    return Promise.resolve();
  }
  deletePath(p: ApiPath) {
    this.rib.delete(routeKey(readPath(p)!));
    return Promise.resolve();
  }
  watch(onPath: (p: ApiPath) => void, onEnd: (e: Error | undefined) => void) {
    this.deliver = onPath;
    this.ended = onEnd;
    return { stop: () => (this.deliver = undefined), registered: Promise.resolve(true) };
  }
  bestPaths(): Promise<ApiPath[]> {
    return Promise.resolve([...this.fabric.values(), ...this.rib.values()]);
  }
  waitReady(): Promise<void> {
    return Promise.resolve();
  }
  peers(): Promise<PeerStatus[]> {
    return Promise.resolve([]);
  }
  stop() {}
  /** A route from the fabric (or its withdrawal), streamed if a stream is open. */
  receive(p: ApiPath, withdraw = false) {
    const key = routeKey(readPath(p)!);
    if (withdraw) this.fabric.delete(key);
    else this.fabric.set(key, p);
    this.deliver?.({ ...p, is_withdraw: withdraw });
  }
  /** The stream ends (gobgpd restarted: with `forget`, it lost our routes too). */
  endStream(forget = false) {
    this.deliver = undefined;
    if (forget) this.rib.clear();
    this.ended?.(new Error('UNAVAILABLE'));
  }
  /** Our route for `mac` (MAC only): its sequence number, or undefined if not advertised. */
  advertisedSeq(mac: number): number | undefined {
    const p = [...this.rib.values()]
      .map((x) => readPath(x)!)
      .find((r) => r.kind === 'macip' && r.mac === mac && r.ip === undefined);
    return p?.kind === 'macip' ? p.seq : undefined;
  }
}

async function setup() {
  return setupWith(new FakeEngine());
}

async function setupWith(engine: FakeEngine) {
  const tunnel = new VxlanTunnel({ kind: 'vxlan', vni: 100, port: 4789, srcPortMin: 49152, srcPortMax: 65535 });
  const net = new Network({
    name: 'blue',
    tunnel,
    encap: tunnel.encap([]),
    ttl: 64,
    df: false,
    acceptAnyRemote: false,
    ageing: 300,
    maxMacs: 100,
    arpResponder: true,
    arpSnoop: false,
    learning: false,
    batchSize: 16,
  });
  const hub = new EventHub();
  net.events = hub;
  const logs: string[] = [];
  const cfg: EvpnConfig = {
    asn: 65000,
    routerId: LOCAL,
    neighbors: [{ address: '10.0.0.1', peerAs: 65000, holdTime: 9 }],
    ebgp: false,
    holdTime: 9,
  };
  const checks = () => ({
    local: parseIp(LOCAL)!,
    broadcast: parseIp('10.0.0.255'),
    overlay: (b: Uint8Array) => b[12] === 192 && b[13] === 168,
  });
  const speaker = EvpnSpeaker.over(engine, cfg, LOCAL, hub, new Logger(false, (l) => logs.push(l)), checks);
  speaker.add(net, { rd: `${LOCAL}:100`, importRts: ['65000:100'], exportRts: ['65000:100'] }, 100);
  await speaker.synced();
  const remote = (vtep: string, seq = 0, ip?: string) =>
    macIpPath(`${vtep}:100`, M, ip, vtep, ['65000:100'], 100, seq, false);
  return { net, engine, speaker, logs, remote, hub };
}

describe('the EVPN speaker', () => {
  it("advertises a type-3 route, then a VTEP's type-3 joins the flood list and its withdrawal takes it out", async () => {
    const { net, engine, speaker } = await setup();
    await speaker.settled();
    expect([...engine.rib.keys()]).toEqual([`3 ${LOCAL}:100 ${LOCAL}`]);
    const imet = imetPath('10.0.0.4:100', '10.0.0.4', ['65000:100'], 100);
    engine.receive(imet);
    expect(net.remotes.floods(net.remotes.indexOf(parseIp('10.0.0.4')!))).toBe(true);
    engine.receive(imet, true);
    expect(net.remotes.indexOf(parseIp('10.0.0.4')!)).toBe(-1);
    engine.receive(imetPath('10.0.0.5:100', '10.0.0.5', ['65000:999'], 999));
    expect(net.remotes.indexOf(parseIp('10.0.0.5')!)).toBe(-1); // a route target it does not import
  });

  it('keeps as its last error a session problem the engine logged before the speaker listened (a peer refusing a fresh gobgpd)', async () => {
    const engine = new FakeEngine();
    engine.earlyProblem = 'evpn: BGP session with 10.0.0.1: notification sent: as number mismatch';
    const { speaker } = await setupWith(engine);
    expect((await speaker.status())['last-error']).toBe(engine.earlyProblem);
    const quiet = await setupWith(new FakeEngine());
    expect((await quiet.speaker.status())['last-error']).toBe(null);
  });

  it('tells monitor one fdb event for a MAC whose MAC-only and MAC/IP routes both arrive, not one per route', async () => {
    const { engine, remote, hub } = await setup();
    const events: string[] = [];
    const stop = hub.listen((e) => {
      if (e.event === 'fdb' && 'mac' in e) events.push(`${e.action} ${e.mac}`);
    });
    engine.receive(remote('10.0.0.4'));
    engine.receive(remote('10.0.0.4', 0, '192.168.100.99'));
    engine.receive(remote('10.0.0.4', 0, 'fd00:100::99'));
    stop();
    expect(events).toEqual(['added 02:00:00:00:99:01']);
  });

  it('uninstalls a route updated to route targets the network does not import, and installs it again when they match', async () => {
    const { net, engine } = await setup();
    const vtep = parseIp('10.0.0.4')!;
    engine.receive(imetPath('10.0.0.4:100', '10.0.0.4', ['65000:100'], 100));
    engine.receive(macIpPath('10.0.0.4:100', M, undefined, '10.0.0.4', ['65000:100'], 100, 0, false));
    expect(net.remotes.floods(net.remotes.indexOf(vtep))).toBe(true);
    expect(net.fdb.get(M)).toMatchObject({ origin: 'evpn' });
    // The same routes (same keys) with another route target: an update, not a new route.
    engine.receive(imetPath('10.0.0.4:100', '10.0.0.4', ['65000:999'], 100));
    engine.receive(macIpPath('10.0.0.4:100', M, undefined, '10.0.0.4', ['65000:999'], 100, 0, false));
    expect(net.remotes.indexOf(vtep)).toBe(-1);
    expect(net.fdb.get(M)).toBeUndefined();
    engine.receive(imetPath('10.0.0.4:100', '10.0.0.4', ['65000:100'], 100));
    engine.receive(macIpPath('10.0.0.4:100', M, undefined, '10.0.0.4', ['65000:100'], 100, 0, false));
    expect(net.remotes.floods(net.remotes.indexOf(vtep))).toBe(true);
    expect(net.fdb.get(M)).toMatchObject({ origin: 'evpn' });
  });

  it('imports with *:N the routes whose route target is N under any AS (an eBGP leaf in its own AS)', async () => {
    const { net, engine, speaker } = await setup();
    speaker.remove(net.name);
    speaker.add(net, { rd: `${LOCAL}:100`, importRts: ['*:100'], exportRts: ['65000:100'] }, 100);
    engine.receive(imetPath('10.0.0.6:100', '10.0.0.6', ['65002:100'], 100));
    engine.receive(imetPath('10.0.0.7:100', '10.0.0.7', ['10.9.9.9:100'], 100));
    engine.receive(imetPath('10.0.0.8:100', '10.0.0.8', ['65002:101'], 101));
    expect(net.remotes.floods(net.remotes.indexOf(parseIp('10.0.0.6')!))).toBe(true);
    expect(net.remotes.floods(net.remotes.indexOf(parseIp('10.0.0.7')!))).toBe(true);
    expect(net.remotes.indexOf(parseIp('10.0.0.8')!)).toBe(-1);
  });

  it('installs a type-2 route as an FDB entry and a neighbour of origin evpn, and removes both on withdrawal', async () => {
    const { net, engine, remote } = await setup();
    engine.receive(remote('10.0.0.4', 0, '192.168.100.99'));
    engine.receive(remote('10.0.0.4'));
    expect(net.fdb.get(M)).toMatchObject({ origin: 'evpn' });
    expect(net.remotes.address(net.fdb.lookup(M))).toBe('10.0.0.4');
    expect(net.neigh.get(parseIp('192.168.100.99')!)).toMatchObject({ mac: M, origin: 'evpn' });
    engine.receive(remote('10.0.0.4', 0, '192.168.100.99'), true);
    expect(net.neigh.get(parseIp('192.168.100.99')!)).toBeUndefined();
    engine.receive(remote('10.0.0.4'), true);
    expect(net.fdb.get(M)).toBeUndefined();
  });

  it('advertises a MAC learned behind the TAP with one sequence number above what the fabric had: the host moved here', async () => {
    const { net, engine, speaker, remote } = await setup();
    engine.receive(remote('10.0.0.4', 2));
    net.fdb.learn(0x020000000abc, LOCAL_PORT, 0); // the data path learns behind the TAP, telling the hub
    net.events.fdb(net, 'learned', 0x020000000abc, LOCAL_PORT, 'learned');
    // The mobile MAC is seen behind the TAP: the data path's learn() displaces the EVPN entry.
    const was = net.fdb.lookup(M);
    expect(net.fdb.learn(M, LOCAL_PORT, 1)).toBe(5 /* Learned.Displaced */);
    net.displaced(M, was);
    net.settle(); // as the data path does after the batch
    await speaker.settled();
    expect(engine.advertisedSeq(M)).toBe(3);
    expect(engine.advertisedSeq(0x020000000abc)).toBe(0);
  });

  it('gives a local MAC up to a route with a higher sequence number, and keeps it against a lower one', async () => {
    const { net, engine, speaker, remote } = await setup();
    net.fdb.learn(M, LOCAL_PORT, 0);
    net.events.fdb(net, 'learned', M, LOCAL_PORT, 'learned');
    engine.receive(remote('10.0.0.4', 0)); // equal, from a higher address: ours stays
    expect(net.fdb.get(M)?.port).toBe(LOCAL_PORT);
    engine.receive(remote('10.0.0.2', 0)); // equal, from a lower address: it wins (RFC 7432 section 15.1)
    expect(net.remotes.address(net.fdb.lookup(M))).toBe('10.0.0.2');
    await speaker.settled();
    expect(engine.advertisedSeq(M)).toBeUndefined(); // withdrawn
  });

  it('freezes a MAC that moves more than five times in three minutes, and logs it', async () => {
    const { net, engine, logs, remote } = await setup();
    for (let k = 0; k <= MAX_MOVES + 1; k++) engine.receive(remote(k % 2 === 0 ? '10.0.0.4' : '10.0.0.5', k + 1));
    const frozenAt = net.remotes.address(net.fdb.lookup(M));
    engine.receive(remote(frozenAt === '10.0.0.4' ? '10.0.0.5' : '10.0.0.4', 50));
    expect(net.remotes.address(net.fdb.lookup(M))).toBe(frozenAt);
    expect(logs.join('\n')).toMatch(/02:00:00:00:99:01 moved 6 times in 180 s: a duplicate MAC\? frozen/);
  });

  it('installs what the fabric had before it followed the stream (a snapshot), and what came while it read it', async () => {
    const engine = new FakeEngine();
    engine.receive(macIpPath('10.0.0.4:100', M, undefined, '10.0.0.4', ['65000:100'], 100, 0, false));
    const { net } = await setupWith(engine);
    expect(net.remotes.address(net.fdb.lookup(M))).toBe('10.0.0.4');
  });

  it('resyncs when the stream ends: routes withdrawn meanwhile go, new ones come, its own routes are advertised again', async () => {
    const { net, engine, speaker, remote } = await setup();
    engine.receive(remote('10.0.0.4'));
    expect(net.fdb.get(M)).toMatchObject({ origin: 'evpn' });
    engine.endStream(true); // gobgpd restarted: our routes are gone from it, and the stream with them
    // While it reconnects, the fabric changes: M is withdrawn, a new VTEP joins.
    engine.receive(remote('10.0.0.4'), true);
    engine.receive(imetPath('10.0.0.6:100', '10.0.0.6', ['65000:100'], 100));
    expect(net.fdb.get(M)).toMatchObject({ origin: 'evpn' }); // not heard yet
    await speaker.synced();
    await speaker.settled();
    expect(net.fdb.get(M)).toBeUndefined();
    expect(net.remotes.floods(net.remotes.indexOf(parseIp('10.0.0.6')!))).toBe(true);
    expect([...engine.rib.keys()]).toEqual([`3 ${LOCAL}:100 ${LOCAL}`]);
    expect((await speaker.status()).resyncs).toBe(1);
  });

  it('reads its snapshot only once GoBGP watches for it: a route that arrives before the watch is registered is not lost', async () => {
    // GoBGP registers a watch in its main loop, between UPDATEs: what it installs before that is in no event.
    const rib = new Map<string, ApiPath>();
    let deliver: ((p: ApiPath) => void) | undefined;
    let nowRegistered: (yes: boolean) => void = () => {};
    const source = {
      watch(onPath: (p: ApiPath) => void) {
        return {
          stop: () => (deliver = undefined),
          registered: new Promise<boolean>((r) => (nowRegistered = r)).then((yes) => ((deliver = onPath), yes)),
        };
      },
      bestPaths: () => Promise.resolve([...rib.values()]),
      waitReady: () => Promise.resolve(),
    };
    const install = (p: ApiPath) => {
      rib.set(routeKey(readPath(p)!), p);
      deliver?.(p);
    };
    const received: string[] = [];
    const follower = new RibFollower(source, LOCAL, {
      received: (r) => received.push(routeKey(r)),
      withdrawn: () => {},
      reconnected: () => {},
      error: () => {},
      info: () => {},
    });
    await new Promise((r) => setTimeout(r, 10)); // the follower asked for its watch
    install(imetPath('10.0.0.4:100', '10.0.0.4', ['65000:100'], 100)); // in the RIB, in no event
    nowRegistered(true);
    await follower.whenFollowing();
    install(imetPath('10.0.0.5:100', '10.0.0.5', ['65000:100'], 100)); // an event
    follower.stop();
    expect(received).toEqual(['3 10.0.0.4:100 10.0.0.4', '3 10.0.0.5:100 10.0.0.5']);
  });

  it('ignores routes whose VTEP no VTEP can have, as vtepctl refuses it: counted by reason, logged once per route', async () => {
    const { net, engine, speaker, logs, remote } = await setup();
    const bogus = {
      '224.0.0.1': 'multicast',
      '0.0.0.0': 'unspecified',
      '127.0.0.1': 'loopback',
      '255.255.255.255': 'broadcast',
      '10.0.0.255': 'broadcast', // the underlay subnet's
      '192.168.100.5': 'overlay',
      '169.254.0.1': 'link-local',
    };
    for (const vtep of Object.keys(bogus)) {
      engine.receive(imetPath(`10.0.0.9:${vtep.length}`, vtep, ['65000:100'], 100));
      engine.receive(imetPath(`10.0.0.9:${vtep.length}`, vtep, ['65000:100'], 100)); // again: logged once
      engine.receive(remote(vtep));
      expect(net.remotes.indexOf(parseIp(vtep)!), vtep).toBe(-1);
    }
    expect(net.fdb.get(M)).toBeUndefined();
    const status = await speaker.status();
    expect(status.rejected).toEqual({
      multicast: 3,
      unspecified: 3,
      loopback: 3,
      broadcast: 6,
      overlay: 3,
      'link-local': 3,
    });
    expect(Object.fromEntries(speaker.rejected)).toEqual(status.rejected);
    const lines = logs.filter((l) => l.includes('ignored'));
    expect(lines).toHaveLength(2 * Object.keys(bogus).length);
    expect(lines.join('\n')).toContain(
      'route 3 10.0.0.9:9 224.0.0.1 ignored: its VTEP 224.0.0.1 is a multicast address, not a VTEP',
    );
    // A withdrawal of a route never taken changes nothing; a good VTEP still joins.
    engine.receive(imetPath('10.0.0.9:9', '224.0.0.1', ['65000:100'], 100), true);
    engine.receive(imetPath('10.0.0.4:100', '10.0.0.4', ['65000:100'], 100));
    expect(net.remotes.floods(net.remotes.indexOf(parseIp('10.0.0.4')!))).toBe(true);
  });

  it('never answers sequence number 4294967295 with a lower one: the MAC is frozen where it is, not advertised, logged', async () => {
    const { net, engine, speaker, logs, remote } = await setup();
    net.fdb.learn(M, LOCAL_PORT, 0);
    net.events.fdb(net, 'learned', M, LOCAL_PORT, 'learned');
    await speaker.settled();
    expect(engine.advertisedSeq(M)).toBe(0);
    engine.receive(remote('10.0.0.4', 0xffffffff)); // the hijacker's claim wins: the highest number there is
    expect(net.remotes.address(net.fdb.lookup(M))).toBe('10.0.0.4');
    await speaker.settled();
    expect(engine.advertisedSeq(M)).toBeUndefined();
    // The host speaks again behind the TAP: one above 4294967295 would wrap to 0 on the wire.
    const was = net.fdb.lookup(M);
    net.fdb.learn(M, LOCAL_PORT, 1);
    net.displaced(M, was);
    net.settle();
    await speaker.settled();
    expect(engine.advertisedSeq(M)).toBeUndefined();
    expect(net.fdb.get(M)?.port).toBe(LOCAL_PORT); // frozen where it is
    engine.receive(remote('10.0.0.5', 0xffffffff));
    expect(net.fdb.get(M)?.port).toBe(LOCAL_PORT);
    expect(logs.join('\n')).toMatch(
      /02:00:00:00:99:01 is advertised by 10\.0\.0\.4 with sequence 4294967295, the highest there is: .*frozen where it is for 180 s/,
    );
    expect((await speaker.status()).networks.blue.frozen).toEqual(['02:00:00:00:99:01']);
  });

  it('does not hear its own writes back: an evpn entry it installs triggers no advertisement', async () => {
    const { net, engine, speaker, remote } = await setup();
    engine.receive(remote('10.0.0.4', 0, '192.168.100.99'));
    await speaker.settled();
    expect(net.fdb.get(M)).toMatchObject({ origin: 'evpn' });
    expect([...engine.rib.keys()]).toEqual([`3 ${LOCAL}:100 ${LOCAL}`]);
  });
});

describe('symmetric IRB routes (RFC 9135, RFC 9136) as GoBGP carries them', () => {
  const RMAC = parseMac('02:66:00:00:00:03')!;
  it('builds a type-5 route: the prefix, gateway 0, the L3VNI as label, the VRF RT, the router MAC; and reads it back', () => {
    const p = prefixPath('10.0.0.3:4001', '192.168.20.0', 24, LOCAL, ['65000:4001'], 4001, RMAC);
    expect(p.nlri).toMatchObject({
      '@type': 'type.googleapis.com/apipb.EVPNIPPrefixRoute',
      ip_prefix: '192.168.20.0',
      ip_prefix_len: 24,
      gw_address: '0.0.0.0',
      label: 4001,
    });
    const ext = p.pattrs.find((a) => a['@type'].endsWith('ExtendedCommunitiesAttribute'))!.communities as object[];
    expect(ext).toContainEqual({ '@type': 'type.googleapis.com/apipb.RouterMacExtended', mac: '02:66:00:00:00:03' });
    expect(readPath(p)).toEqual({
      kind: 'prefix',
      rd: '10.0.0.3:4001',
      prefix: '192.168.20.0',
      len: 24,
      vtep: LOCAL,
      rts: ['65000:4001'],
      l3vni: 4001,
      rmac: RMAC,
    });
    expect(routeKey(readPath(p)!)).toBe('5 10.0.0.3:4001 192.168.20.0/24');
    const v6 = prefixPath('10.0.0.3:4001', 'fd00:20::', 64, LOCAL, ['65000:4001'], 4001, RMAC);
    expect(v6.nlri).toMatchObject({ gw_address: '::', ip_prefix_len: 64 });
  });

  it('gives a MAC/IP route two labels, both RTs and the router MAC; a MAC-only route keeps one label', () => {
    const l3 = { l3vni: 4001, rts: ['65000:4001'], rmac: RMAC };
    const withIp = macIpPath('10.0.0.3:20', M, '192.168.20.14', LOCAL, ['65000:20'], 20, 0, false, l3);
    expect(withIp.nlri.labels).toEqual([20, 4001]);
    expect(readPath(withIp)).toMatchObject({
      kind: 'macip',
      vni: 20,
      l3vni: 4001,
      rmac: RMAC,
      rts: ['65000:20', '65000:4001'],
    });
    const macOnly = macIpPath('10.0.0.3:20', M, undefined, LOCAL, ['65000:20'], 20, 0, false, l3);
    expect(macOnly.nlri.labels).toEqual([20]);
    expect(JSON.stringify(macOnly)).not.toMatch(/RouterMac/);
  });
});

describe('the speaker routing a VRF over EVPN', () => {
  function withVrf() {
    const vrf = new Vrf('tenant1');
    const l3net = new Network({
      name: 'l3vni-tenant1',
      tunnel: new VxlanTunnel({ kind: 'vxlan', vni: 4001, port: 4789, srcPortMin: 49152, srcPortMax: 65535 }),
      encap: new VxlanTunnel({ kind: 'vxlan', vni: 4001, port: 4789, srcPortMin: 49152, srcPortMax: 65535 }).encap([]),
      ttl: 64,
      df: false,
      acceptAnyRemote: false,
      ageing: 300,
      maxMacs: 100,
      arpResponder: false,
      arpSnoop: false,
      learning: false,
      batchSize: 16,
    });
    const rmac = parseMac('02:00:00:00:00:33')!;
    vrf.setL3({ vni: 4001, rmac, net: l3net });
    return { vrf, l3net, rmac };
  }
  const settings = (rmac: number) => ({
    vni: 4001,
    rmac,
    rd: `${LOCAL}:4001`,
    importRts: ['65000:4001'],
    exportRts: ['65000:4001'],
    advertise: ['connected' as const],
  });
  const prefix = (vtep: string, p: string, len: number) =>
    prefixPath(`${vtep}:4001`, p, len, vtep, ['65000:4001'], 4001, parseMac(`02:66:00:00:00:0${vtep.split('.')[3]}`)!);

  it('installs a type-5 route over the fabric, the router MAC behind its VTEP, the VTEP a sender; the lowest VTEP of two, then the other', async () => {
    const { speaker, engine } = await setup();
    const { vrf, l3net } = withVrf();
    speaker.addVrf(vrf, settings(0x020000000033));
    engine.receive(prefix('10.0.0.5', '192.168.30.0', 24));
    engine.receive(prefix('10.0.0.2', '192.168.30.0', 24));
    const r = vrf.routes.get(parsePrefix('192.168.30.0/24')!);
    expect(r?.remote?.rmac).toBe(parseMac('02:66:00:00:00:02'));
    expect(r?.origin).toBe('evpn');
    expect(l3net.remotes.address(l3net.fdb.lookup(parseMac('02:66:00:00:00:02')!))).toBe('10.0.0.2');
    expect(l3net.remotes.indexOf(parseIp('10.0.0.5')!)).toBeGreaterThan(0); // may send too
    engine.receive(prefix('10.0.0.2', '192.168.30.0', 24), true);
    expect(vrf.routes.get(parsePrefix('192.168.30.0/24')!)?.remote?.rmac).toBe(parseMac('02:66:00:00:00:05'));
    expect(l3net.fdb.get(parseMac('02:66:00:00:00:02')!)).toBeUndefined();
    engine.receive(prefix('10.0.0.5', '192.168.30.0', 24), true);
    expect(vrf.routes.get(parsePrefix('192.168.30.0/24')!)).toBeUndefined();
    expect(l3net.remotes.indexOf(parseIp('10.0.0.5')!)).toBe(-1);
  });

  it("installs a MAC/IP route's address as a host route; ignores routes of other VRFs, without a router MAC, or link-local", async () => {
    const { speaker, engine } = await setup();
    const { vrf } = withVrf();
    speaker.addVrf(vrf, settings(0x020000000033));
    const l3 = (rmac: string) => ({ l3vni: 4001, rts: ['65000:4001'], rmac: parseMac(rmac)! });
    engine.receive(
      macIpPath('10.0.0.4:20', M, '192.168.20.14', '10.0.0.4', ['65000:20'], 20, 0, false, l3('02:66:00:00:00:04')),
    );
    engine.receive(
      macIpPath('10.0.0.4:20', M, 'fe80::1', '10.0.0.4', ['65000:20'], 20, 0, false, l3('02:66:00:00:00:04')),
    );
    engine.receive(macIpPath('10.0.0.4:20', M, '192.168.20.15', '10.0.0.4', ['65000:20'], 20, 0, false));
    engine.receive(
      prefixPath('10.0.0.6:5', '192.168.60.0', 24, '10.0.0.6', ['65000:5000'], 5000, parseMac('02:66:00:00:00:06')!),
    );
    expect([...vrf.routes.entries()].map(([p]) => formatPrefix(p))).toEqual(['192.168.20.14/32']);
  });

  it('advertises a type-5 route per connected subnet, with the VRF RD, RT, L3VNI and router MAC; withdraws them with the VRF', async () => {
    const { speaker, engine } = await setup();
    const { vrf } = withVrf();
    const net = new Network({
      name: 'red',
      tunnel: new VxlanTunnel({ kind: 'vxlan', vni: 20, port: 4789, srcPortMin: 49152, srcPortMax: 65535 }),
      encap: new VxlanTunnel({ kind: 'vxlan', vni: 20, port: 4789, srcPortMin: 49152, srcPortMax: 65535 }).encap([]),
      ttl: 64,
      df: false,
      acceptAnyRemote: false,
      ageing: 300,
      maxMacs: 100,
      arpResponder: false,
      arpSnoop: false,
      learning: false,
      batchSize: 16,
    });
    const router = new Router();
    router.vrfs.set('tenant1', vrf);
    router.attach(net, 'tenant1', {
      addresses: [{ ip: parseIp('192.168.20.1')!, len: 24 }],
      mac: parseMac(GATEWAY)!,
      sourceMac: 'anycast',
    });
    speaker.addVrf(vrf, settings(0x020000000033));
    await speaker.settled();
    const type5 = [...engine.rib.values()].map((p) => readPath(p)!).filter((r) => r.kind === 'prefix');
    expect(type5).toEqual([
      {
        kind: 'prefix',
        rd: `${LOCAL}:4001`,
        prefix: '192.168.20.0',
        len: 24,
        vtep: LOCAL,
        rts: ['65000:4001'],
        l3vni: 4001,
        rmac: 0x020000000033,
      },
    ]);
    speaker.removeVrf('tenant1');
    await speaker.settled();
    expect([...engine.rib.values()].map((p) => readPath(p)!).filter((r) => r.kind === 'prefix')).toEqual([]);
  });
});

describe("gobgpd's session lines in vtepd's log", () => {
  it('tells a session up, down with its reason, and NOTIFICATIONs in words; leaves the rest to debug', () => {
    expect(
      sessionLogLine('{"Key":"10.0.0.1","State":"BGP_FSM_OPENCONFIRM","Topic":"Peer","level":"info","msg":"Peer Up"}'),
    ).toEqual({ neighbor: '10.0.0.1', up: true, message: 'evpn: BGP session with 10.0.0.1 established' });
    expect(
      sessionLogLine(
        '{"Key":"10.0.0.1","Reason":"hold-timer-expired","State":"BGP_FSM_ESTABLISHED","Topic":"Peer","level":"info","msg":"Peer Down"}',
      ),
    ).toEqual({
      neighbor: '10.0.0.1',
      up: false,
      message: 'evpn: BGP session with 10.0.0.1 down: hold-timer-expired',
      reason: 'down: hold-timer-expired',
    });
    expect(
      sessionLogLine(
        '{"Data":"as number mismatch expected 65003, received 65000","Key":"10.0.0.1","Topic":"Peer","level":"warning","msg":"sent notification"}',
      )?.message,
    ).toBe('evpn: BGP session with 10.0.0.1: notification sent: as number mismatch expected 65003, received 65000');
    expect(
      sessionLogLine(
        '{"Code":2,"Data":"","Key":"10.0.0.1","Subcode":2,"Topic":"Peer","level":"warning","msg":"received notification"}',
      )?.message,
    ).toBe('evpn: BGP session with 10.0.0.1: notification received (OPEN message error: Bad Peer AS)');
    expect(
      sessionLogLine(
        '{"Code":6,"Communicated-Reason":"maintenance","Key":"10.0.0.1","Subcode":2,"Topic":"Peer","level":"warning","msg":"received notification"}',
      )?.message,
    ).toBe('evpn: BGP session with 10.0.0.1: notification received (cease: administrative shutdown): "maintenance"');
    expect(
      sessionLogLine('{"Topic":"Config","level":"info","msg":"Finished reading the config file"}'),
    ).toBeUndefined();
    expect(sessionLogLine('not json')).toBeUndefined();
  });
});

describe("gobgpd's dropped UPDATEs in vtepd's log", () => {
  it("reads GoBGP's treat-as-withdraw line, and names FRR's ND extended community", () => {
    const nd = droppedUpdateLine(
      '{"Error":"unknown evpn subtype: 8","Key":"10.0.0.2","State":"BGP_FSM_ESTABLISHED","Topic":"Peer","level":"warning","msg":"the received Update message was treated as withdraw","time":"2026-12-07T02:30:00Z"}',
    );
    expect(nd).toMatchObject({ neighbor: '10.0.0.2', error: 'unknown evpn subtype: 8' });
    expect(droppedUpdateMessage(nd!)).toBe(
      'evpn: GoBGP dropped an UPDATE from 10.0.0.2 as malformed, its routes treated as withdrawn: unknown evpn ' +
        "subtype: 8 (FRR's ND extended community, sent for an IPv6 host that is a router: this GoBGP cannot read it)",
    );
    expect(
      droppedUpdateLine(
        '{"Error":"bad nexthop","Key":"10.0.0.2","Topic":"Peer","level":"warning","msg":"the received Update message was treated as withdraw"}',
      )?.explained,
    ).toBe('bad nexthop');
    expect(
      droppedUpdateLine(
        '{"Key":"10.0.0.1","State":"BGP_FSM_OPENCONFIRM","Topic":"Peer","level":"info","msg":"Peer Up"}',
      ),
    ).toBeUndefined();
    expect(droppedUpdateLine('not json')).toBeUndefined();
  });

  it("a line that is JSON but not an object is nobody's peer event (and does not throw)", () => {
    for (const line of ['null', '5', '"Peer"', '[]']) {
      expect(peerLogEntry(line)).toBeUndefined();
      expect(sessionLogLine(line)).toBeUndefined();
      expect(droppedUpdateLine(line)).toBeUndefined();
    }
  });
});

describe("GoBGP's decoders, written before the first route needs them", () => {
  it("the sample is a WatchEvent that GoBGP's API decodes into every EVPN route type, attribute and extended community", () => {
    const ev = loadWatchDecoder()(watchEventSample()) as {
      table: {
        paths: { nlri: { '@type': string }; pattrs: { '@type': string; communities?: { '@type': string }[] }[] }[];
      };
    };
    const name = (a: { '@type': string }) => a['@type'].replace('type.googleapis.com/apipb.', '');
    const paths = ev.table.paths;
    expect(paths.map((p) => name(p.nlri))).toEqual([
      'EVPNEthernetAutoDiscoveryRoute',
      'EVPNMACIPAdvertisementRoute',
      'EVPNInclusiveMulticastEthernetTagRoute',
      'EVPNEthernetSegmentRoute',
      'EVPNIPPrefixRoute',
    ]);
    const attrs = paths[1].pattrs.map(name);
    for (const a of ['AsPathAttribute', 'NextHopAttribute', 'PmsiTunnelAttribute', 'MpReachNLRIAttribute'])
      expect(attrs).toContain(a);
    const communities = paths[1].pattrs.find((a) => name(a) === 'ExtendedCommunitiesAttribute')!.communities!;
    for (const c of ['MacMobilityExtended', 'RouterMacExtended', 'EncapExtended', 'TwoOctetAsSpecificExtended'])
      expect(communities.map(name)).toContain(c);
  });
});

describe("GoBGP's routes, decoded lean (the route watch and ListPath)", () => {
  const api = loadGobgpApi(GOBGP_API_DIR);
  const service = api.Client.service;
  const mac = parseMac('02:00:00:00:99:01')!;
  /** A path as gobgpd sends it: the route also inside MP_REACH_NLRI, attributes vtepd does not read beside. */
  const asSent = (path: ApiPath, extra: object = {}) => ({
    ...path,
    pattrs: [
      { '@type': apiType('MpReachNLRIAttribute'), family: EVPN_FAMILY, next_hops: ['10.0.0.5'], nlris: [path.nlri] },
      ...path.pattrs,
      { '@type': apiType('AsPathAttribute'), segments: [{ type: 2, numbers: [65005] }] },
      { '@type': apiType('LocalPrefAttribute'), local_pref: 100 },
    ],
    neighbor_ip: '10.0.0.1',
    ...extra,
  });
  const watched = (paths: object[]) =>
    api.decodeWatchEvent(service.WatchEvent.responseSerialize({ table: { paths } }) as Buffer).table!.paths;

  it('a MAC/IP route reads as it was sent; attributes vtepd does not read stay as their type alone', () => {
    const path = macIpPath('10.0.0.5:100', mac, '192.168.100.250', '10.0.0.5', ['65000:100'], 100, 3, false);
    const [p] = watched([asSent(path)]);
    expect(readPath(p)).toEqual({
      kind: 'macip',
      rd: '10.0.0.5:100',
      mac,
      ip: '192.168.100.250',
      vtep: '10.0.0.5',
      rts: ['65000:100'],
      vni: 100,
      seq: 3,
      sticky: false,
    });
    expect(p.family).toEqual(EVPN_FAMILY);
    expect(p.is_withdraw).toBe(false);
    expect(p.neighbor_ip).toBe('10.0.0.1');
    expect(p.pattrs.map((a) => a['@type'])).toEqual([
      apiType('MpReachNLRIAttribute'),
      apiType('OriginAttribute'),
      apiType('NextHopAttribute'),
      apiType('ExtendedCommunitiesAttribute'),
      apiType('AsPathAttribute'),
      apiType('LocalPrefAttribute'),
    ]);
    expect(p.pattrs[4]).toEqual({ '@type': apiType('AsPathAttribute') });
    // The UPDATE's own copy of the route is not unpacked again.
    expect(p.pattrs[0].nlris).toEqual([{ '@type': apiType('EVPNMACIPAdvertisementRoute') }]);
  });

  it('a withdrawn type-3 route reads with its PMSI tunnel, and says it is withdrawn', () => {
    const [p] = watched([asSent(imetPath('10.0.0.5:100', '10.0.0.5', ['65000:100'], 100), { is_withdraw: true })]);
    expect(p.is_withdraw).toBe(true);
    expect(readPath(p)).toEqual({ kind: 'imet', rd: '10.0.0.5:100', vtep: '10.0.0.5', rts: ['65000:100'], vni: 100 });
  });

  it('a peer event comes whole, its type by name', () => {
    const ev = api.decodeWatchEvent(
      service.WatchEvent.responseSerialize({
        peer: { type: 'END_OF_INIT', peer: { state: { neighbor_address: '10.0.0.1' } } },
      }) as Buffer,
    );
    expect(ev.table).toBeUndefined();
    expect(ev.peer).toMatchObject({ type: 'END_OF_INIT', peer: { state: { neighbor_address: '10.0.0.1' } } });
  });

  it("ListPath's destinations come lean too, each path with whether it is the best", () => {
    const path = macIpPath('10.0.0.5:100', mac, undefined, '10.0.0.5', ['65000:100'], 100, 0, false);
    const reply = api.decodeListPath(
      service.ListPath.responseSerialize({
        destination: { prefix: '[type:macadv]', paths: [asSent(path, { best: true }), asSent(path, { best: false })] },
      }) as Buffer,
    );
    expect(reply.destination!.paths.map((p) => p.best)).toEqual([true, false]);
    expect(readPath(reply.destination!.paths[0])).toMatchObject({
      kind: 'macip',
      mac,
      ip: undefined,
      vtep: '10.0.0.5',
    });
  });
});

describe("gobgpd's config", () => {
  it('one session per neighbor: iBGP in our AS, eBGP with its AS (0 for external: any), MD5 password, multihop only off-link; only own routes exported', () => {
    const text = gobgpdConfig({
      asn: 65003,
      routerId: '10.0.0.3',
      local: '10.0.0.3',
      neighbors: [
        { address: '10.0.0.1', peerAs: 65003, holdTime: 9, multihop: false },
        { address: '10.0.0.2', peerAs: 65000, holdTime: 30, password: 'k3y!', multihop: false },
        { address: '10.9.0.1', peerAs: 'external', holdTime: 9, multihop: true },
      ],
    });
    const blocks = text.split('[[neighbors]]').slice(1);
    expect(blocks).toHaveLength(3);
    expect(blocks[0]).toMatch(/neighbor-address = "10\.0\.0\.1"\n {4}peer-as = 65003\n/);
    expect(blocks[0]).not.toMatch(/auth-password|ebgp-multihop/);
    expect(blocks[1]).toMatch(/peer-as = 65000\n {4}auth-password = "k3y!"\n/);
    expect(blocks[1]).toMatch(/hold-time = 30\n {4}keepalive-interval = 10\n/);
    expect(blocks[1]).not.toContain('ebgp-multihop');
    expect(blocks[2]).toMatch(/peer-as = 0\n/);
    expect(blocks[2]).toMatch(/\[neighbors\.ebgp-multihop\.config\]\n {4}enabled = true\n {4}multihop-ttl = 255\n/);
    for (const b of blocks) expect(b).toContain('afi-safi-name = "l2vpn-evpn"');
    // Only what vtepd originates goes out: a VTEP passes no peer's routes on.
    expect(text).toMatch(
      /\[global\.apply-policy\.config\]\n {2}export-policy-list = \["vtepd-own-routes"\]\n {2}default-export-policy = "reject-route"\n/,
    );
    expect(text).toMatch(/name = "vtepd-own-routes"[^]*route-type = "local"[^]*route-disposition = "accept-route"/);
  });
});

describe("a peer's route counts", () => {
  it("leave our own routes, reflected back, out of received: GoBGP's received minus accepted", () => {
    // FRR as route reflector between two vtepd: GoBGP said 6 received, 3 accepted (its own 3 back as loops).
    expect(routeCounts(6, 3)).toEqual({ received: 3, accepted: 3, 'own-reflected': 3 });
    expect(routeCounts(4, 4)).toEqual({ received: 4, accepted: 4, 'own-reflected': 0 });
    expect(routeCounts(0, 0)).toEqual({ received: 0, accepted: 0, 'own-reflected': 0 });
  });
});
