// The network's table operations: given entries hold their remotes, a remote
// that goes takes its MACs along, every change is reported; the responder's
// answers byte by byte; snooping; and control requests checked at the boundary.
import { describe, expect, it } from 'vitest';
import { Batch } from '../../src/datapath/batch.ts';
import { parseRequest } from '../../src/control/requests.ts';
import { NetworkCounter as N } from '../../src/switch/counters.ts';
import type { SwitchEvents } from '../../src/switch/events.ts';
import { LOCAL_PORT } from '../../src/switch/fdb.ts';
import { forwardFromTap } from '../../src/switch/forward.ts';
import { Forwarding } from '../../src/switch/verdict.ts';
import { Network, TableError } from '../../src/switch/network.ts';
import { Hold } from '../../src/switch/remotes.ts';
import { snoop } from '../../src/switch/responder.ts';
import { VxlanTunnel } from '../../src/tunnel/vxlan.ts';
import { checksum } from '../../src/wire/checksum.ts';
import { Icmpv6Type, NA_OVERRIDE, NA_SOLICITED, newNdRepr, parseNd } from '../../src/wire/icmpv6.ts';
import { parseIp } from '../../src/wire/ip-address.ts';
import { newIpv6Repr, parseIpv6, pseudoHeaderSum6 } from '../../src/wire/ipv6.ts';
import { ParseError } from '../../src/wire/parse-error.ts';

const ip = (s: string) => parseIp(s)!;
const A = 0x020000000001;
const B = 0x020000000002;
const NEIGH_MAC = 0x02000000aa02;

function network(): { net: Network; events: string[] } {
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
    arpResponder: true,
    arpSnoop: true,
    learning: true,
    batchSize: 16,
  });
  const events: string[] = [];
  const sink: SwitchEvents = {
    active: true,
    fdb: (n, action, mac, port) =>
      events.push(`fdb ${action} ${mac.toString(16)} ${port === LOCAL_PORT ? 'local' : n.remotes.address(port)}`),
    refused: (_, count) => events.push(`refused ${count}`),
    pmtu: (n, r) => events.push(`pmtu ${n.remotes.address(r)} ${n.remotes.pmtu[r]}`),
    neigh: (_, action, e) => events.push(`neigh ${action} ${e.ip}`),
    remote: (n, action, r) => events.push(`remote ${action} ${n.remotes.address(r)}`),
  };
  net.events = sink;
  return { net, events };
}

describe('table operations', () => {
  it('a given neighbour set again as it is tells nobody; a new MAC or origin for it is told', () => {
    const { net, events } = network();
    net.setNeigh(ip('192.168.100.7'), A, 'evpn', 0);
    net.setNeigh(ip('192.168.100.7'), A, 'evpn', 5);
    expect(events).toEqual(['neigh added 192.168.100.7']);
    expect(net.neigh.get(ip('192.168.100.7'))?.seen).toBe(5);
    net.setNeigh(ip('192.168.100.7'), B, 'evpn', 6);
    net.setNeigh(ip('192.168.100.7'), B, 'vtepctl', 7);
    expect(events).toEqual(['neigh added 192.168.100.7', 'neigh added 192.168.100.7', 'neigh added 192.168.100.7']);
    expect(net.neigh.get(ip('192.168.100.7'))).toMatchObject({ mac: B, origin: 'vtepctl' });
  });

  it('a given entry brings its remote and holds it; the remote goes with the last entry, and the MACs learned behind it too', () => {
    const { net, events } = network();
    net.setStatic(A, ip('10.0.0.5'), 'vtepctl', 0);
    const r = net.remotes.indexOf(ip('10.0.0.5'));
    net.fdb.learn(B, r, 0);
    expect(net.deleteMac(A)?.origin).toBe('vtepctl');
    expect(net.remotes.live(r)).toBe(false);
    expect(net.fdb.lookup(B)).toBe(-1);
    expect(events).toEqual([
      'remote added 10.0.0.5',
      `fdb added ${A.toString(16)} 10.0.0.5`,
      `fdb deleted ${A.toString(16)} 10.0.0.5`,
      `fdb deleted ${B.toString(16)} 10.0.0.5`,
      'remote deleted 10.0.0.5',
    ]);
  });

  it('a listed remote outlives its entries; forgetting it takes every entry behind it, given or learned', () => {
    const { net } = network();
    const r = net.holdRemote(ip('10.0.0.2'), Hold.Flood);
    net.setStatic(A, ip('10.0.0.2'), 'config', 0);
    net.fdb.learn(B, r, 0);
    net.deleteMac(A);
    expect(net.remotes.live(r)).toBe(true);
    net.setStatic(A, ip('10.0.0.2'), 'config', 0);
    net.forgetRemote(r);
    expect([net.fdb.lookup(A), net.fdb.lookup(B), net.remotes.live(r), net.remotes.floodCount]).toEqual([
      -1,
      -1,
      false,
      0,
    ]);
  });

  it('refuses a MAC behind the local TAP, and a second given entry without replace; replace moves it', () => {
    const { net } = network();
    net.fdb.learn(A, LOCAL_PORT, 0);
    expect(() => net.setStatic(A, ip('10.0.0.2'), 'vtepctl', 0)).toThrow(TableError);
    net.setStatic(B, ip('10.0.0.2'), 'vtepctl', 0, false);
    expect(() => net.setStatic(B, ip('10.0.0.3'), 'vtepctl', 0, false)).toThrow(/use fdb replace/);
    net.setStatic(B, ip('10.0.0.3'), 'vtepctl', 0, true);
    expect(net.remotes.address(net.fdb.lookup(B))).toBe('10.0.0.3');
    expect(net.remotes.indexOf(ip('10.0.0.2'))).toBe(-1); // it held nothing else
  });

  it('flushes by kind and by remote', () => {
    const { net } = network();
    const r2 = net.holdRemote(ip('10.0.0.2'), Hold.Flood);
    const r3 = net.holdRemote(ip('10.0.0.3'), Hold.Flood);
    net.setStatic(A, ip('10.0.0.2'), 'config', 0);
    net.fdb.learn(B, r2, 0);
    net.fdb.learn(0x020000000003, r3, 0);
    net.fdb.learn(0x020000000004, LOCAL_PORT, 0);
    expect(net.flushFdb('dynamic', r2)).toBe(1);
    expect(net.fdb.lookup(A)).toBe(r2);
    expect(net.flushFdb('static')).toBe(1);
    expect(net.flushFdb('all')).toBe(2);
    expect(net.fdb.size).toBe(0);
  });

  it('reports refusals at most once per tick, with how many', () => {
    const { net, events } = network();
    net.fdb.maxMacs = 1;
    net.fdb.learn(A, LOCAL_PORT, 0);
    for (let k = 0; k < 5; k++) net.fdb.learn(0x020000001000 + k, LOCAL_PORT, 0);
    net.tick(0.5);
    net.tick(0.6);
    expect(events.filter((e) => e.startsWith('refused'))).toEqual(['refused 5']);
  });
});

describe('the responder, on frames from the TAP', () => {
  function fromTap(net: Network, frame: Buffer): { sent: number; answer?: Buffer } {
    const b = new Batch(1, 2048, 32);
    frame.copy(b.arena, b.start(0));
    b.len[0] = frame.length;
    b.count = 1;
    net.toTap.count = 0;
    net.toTunnel.count = 0;
    const f = new Forwarding(1);
    f.begin(0, 1);
    forwardFromTap(net, b, f);
    f.end();
    const t = net.toTap;
    return {
      sent: net.toTunnel.count,
      answer: t.count ? Buffer.from(t.arena.subarray(t.off[0], t.off[0] + t.len[0])) : undefined,
    };
  }

  const ASKER = '02000000aa01';
  const arpRequest = (sender: string, target: string) =>
    Buffer.from(
      'ffffffffffff' +
        ASKER +
        '0806' +
        '000108000604' +
        '0001' +
        ASKER +
        sender +
        '000000000000' +
        target +
        '00'.repeat(18),
      'hex',
    );

  it("answers an ARP request with the reply the kernel's proxy sends", () => {
    const { net } = network();
    net.holdRemote(ip('10.0.0.2'), Hold.Flood);
    net.setNeigh(ip('192.168.100.2'), NEIGH_MAC, 'config', 0);
    const { sent, answer } = fromTap(net, arpRequest('c0a86401', 'c0a86402'));
    expect(sent).toBe(0);
    expect(answer!.toString('hex')).toBe(
      ASKER + '02000000aa02' + '0806' + '000108000604' + '0002' + '02000000aa02' + 'c0a86402' + ASKER + 'c0a86401',
    );
    expect(net.counters.v[N.ArpSuppressed]).toBe(1);
  });

  it('floods a gratuitous ARP, a probe from 0.0.0.0 and a request for an unknown address', () => {
    const { net } = network();
    net.holdRemote(ip('10.0.0.2'), Hold.Flood);
    net.setNeigh(ip('192.168.100.2'), NEIGH_MAC, 'config', 0);
    for (const [s, t] of [
      ['c0a86402', 'c0a86402'],
      ['00000000', 'c0a86402'],
      ['c0a86401', 'c0a86409'],
    ]) {
      expect(fromTap(net, arpRequest(s, t))).toEqual({ sent: 1, answer: undefined });
    }
    net.arpResponder = false;
    expect(fromTap(net, arpRequest('c0a86401', 'c0a86402')).sent).toBe(1);
  });

  /**
   * An NS (with its target) or NA (with flags) from `src` to `dst`, to the MAC `dst` maps to, hop limit
   * 255, checksummed; `lla`: a source link-layer address option with that MAC.
   */
  const ndFrame = (type: number, src: string, dst: string, target: string, flags = 0, lla?: string) => {
    const icmpLen = 24 + (lla === undefined ? 0 : 8);
    const f = Buffer.alloc(14 + 40 + icmpLen);
    const to = ip(dst);
    const dstMac = to[0] === 0xff ? '3333' + Buffer.from(to.subarray(12)).toString('hex') : '02000000aa02';
    Buffer.from(dstMac + ASKER + '86dd', 'hex').copy(f, 0);
    f[14] = 0x60;
    f.writeUInt16BE(icmpLen, 18);
    f[20] = 58;
    f[21] = 255;
    ip(src).forEach((x, i) => (f[22 + i] = x));
    to.forEach((x, i) => (f[38 + i] = x));
    f[54] = type;
    f[58] = flags;
    ip(target).forEach((x, i) => (f[62 + i] = x));
    if (lla !== undefined) {
      f[78] = 1;
      f[79] = 1;
      Buffer.from(lla, 'hex').copy(f, 80);
    }
    f.writeUInt16BE(checksum(f, 54, icmpLen, pseudoHeaderSum6(f, 22, 38, 58, icmpLen)), 56);
    return f;
  };

  it("in an EVPN network keeps a host's announcements of itself off the tunnels, as neigh_suppress does, and floods the rest", () => {
    const { net } = network();
    net.holdRemote(ip('10.0.0.2'), Hold.Flood);
    const NA = Icmpv6Type.NeighborAdvertisement;
    const NS = Icmpv6Type.NeighborSolicitation;
    const announcements = {
      'gratuitous ARP': arpRequest('c0a86402', 'c0a86402'),
      'ARP probe from 0.0.0.0': arpRequest('00000000', 'c0a86402'),
      'unsolicited NA': ndFrame(NA, 'fd00::2', 'ff02::1', 'fd00::2', NA_OVERRIDE),
      'DAD NS from ::': ndFrame(NS, '::', 'ff02::1:ff00:2', 'fd00::2'),
    };
    // Not an EVPN network: they flood as before.
    for (const [what, frame] of Object.entries(announcements)) expect(fromTap(net, frame).sent, what).toBe(1);
    net.snoopLocal = true;
    for (const [what, frame] of Object.entries(announcements))
      expect(fromTap(net, frame), what).toEqual({ sent: 0, answer: undefined });
    expect([net.counters.v[N.ArpSuppressed], net.counters.v[N.NdSuppressed]]).toEqual([2, 2]);
    // What asks someone still floods: a request for an unknown address, an NS for one, a solicited NA.
    for (const [what, frame] of Object.entries({
      'ARP request': arpRequest('c0a86401', 'c0a86409'),
      NS: ndFrame(NS, 'fd00::1', 'ff02::1:ff00:9', 'fd00::9'),
      'solicited NA': ndFrame(NA, 'fd00::2', 'fd00::1', 'fd00::2', NA_SOLICITED),
    }))
      expect(fromTap(net, frame).sent, what).toBe(1);
    // Without the responder (ARP suppression off), nothing is kept back.
    net.arpResponder = false;
    expect(fromTap(net, announcements['gratuitous ARP']).sent).toBe(1);
  });

  it('answers a neighbour solicitation with a solicited, override advertisement whose checksum verifies', () => {
    const { net } = network();
    net.setNeigh(ip('fd00::2'), NEIGH_MAC, 'vtepctl', 0);
    const ns = ndFrame(Icmpv6Type.NeighborSolicitation, 'fd00::1', 'ff02::1:ff00:2', 'fd00::2', 0, ASKER);
    const { sent, answer } = fromTap(net, ns);
    expect(sent).toBe(0);
    const a = answer!;
    expect(a.subarray(0, 12).toString('hex')).toBe(ASKER + '02000000aa02');
    const v6 = newIpv6Repr();
    expect(parseIpv6(a, 14, a.length, v6)).toBe(ParseError.None);
    expect(Buffer.from(a.subarray(v6.src, v6.src + 16))).toEqual(Buffer.from(ip('fd00::2')));
    expect(Buffer.from(a.subarray(v6.dst, v6.dst + 16))).toEqual(Buffer.from(ip('fd00::1')));
    const nd = newNdRepr();
    expect(parseNd(a, 54, 54 + v6.payloadLen, v6.src, v6.dst, nd)).toBe(ParseError.None);
    expect([nd.type, nd.flags, nd.lla]).toEqual([
      Icmpv6Type.NeighborAdvertisement,
      NA_SOLICITED | NA_OVERRIDE,
      NEIGH_MAC,
    ]);
    expect(net.counters.v[N.NdSuppressed]).toBe(1);
  });
});

describe('snooping', () => {
  it('learns from replies and gratuitous ARP, never over a given entry, and ages what it learned', () => {
    const { net } = network();
    const arp = (op: number, mac: string, ipHex: string, target: string) =>
      Buffer.from(
        'ffffffffffff' + mac + '0806' + '000108000604' + `000${op}` + mac + ipHex + '000000000000' + target,
        'hex',
      );
    expect(snoop(net.neigh, arp(2, '02000000bb02', 'c0a86402', 'c0a86401'), 0, 42, 0)?.ip).toBe('192.168.100.2');
    expect(snoop(net.neigh, arp(1, '02000000bb03', 'c0a86403', 'c0a86403'), 0, 42, 0)?.ip).toBe('192.168.100.3');
    expect(snoop(net.neigh, arp(1, '02000000bb04', 'c0a86404', 'c0a86401'), 0, 42, 0)).toBeUndefined(); // a plain request says nothing
    net.setNeigh(ip('192.168.100.5'), NEIGH_MAC, 'config', 0);
    expect(snoop(net.neigh, arp(2, '02000000bb05', 'c0a86405', 'c0a86401'), 0, 42, 0)).toBeUndefined();
    expect(net.neigh.get(ip('192.168.100.5'))?.mac).toBe(NEIGH_MAC);
    expect(snoop(net.neigh, arp(2, '02000000bb06', 'c0a86402', 'c0a86401'), 0, 42, 0)?.ip).toBe('192.168.100.2'); // .2 moved
    net.tick(400);
    expect([...net.neigh.entries()].map((e) => e.ip)).toEqual(['192.168.100.5']);
    // What `vtepctl stats` and the metrics report: two learned, one moved, both aged, none refused.
    expect(net.neigh.events).toEqual({ learned: 2, moved: 1, aged: 2, refused: 0 });
  });
});

describe('control requests, checked at the boundary', () => {
  it('takes well-formed requests, with defaults', () => {
    expect(parseRequest({ cmd: 'fdb-flush' })).toMatchObject({ ok: true, request: { cmd: 'fdb-flush', which: 'all' } });
    expect(parseRequest({ cmd: 'remote-add', network: 'blue', ip: 'fd00::2' })).toMatchObject({
      ok: true,
      request: { flood: true },
    });
    // The handler gets values, not text: a MAC as a number, an address as 16 bytes.
    const r = parseRequest({ cmd: 'fdb-add', network: 'blue', mac: '52:54:00:12:34:56', dst: '10.0.0.2' });
    expect(r.ok && r.request.mac).toBe(0x525400123456);
    expect(r.ok && Buffer.from(r.request.dst as Uint8Array).toString('hex')).toBe('00000000000000000000ffff0a000002');
  });

  it('refuses the rest with one line naming the field', () => {
    expect(parseRequest({ cmd: 'frobnicate' })).toMatchObject({
      ok: false,
      error: expect.stringMatching(/unknown command; the commands are: fdb-show, .*trace/),
    });
    expect(parseRequest({ cmd: 'fdb-add', network: 'blue', mac: '01:00:5e:00:00:01', dst: '10.0.0.2' })).toMatchObject({
      ok: false,
      error: expect.stringMatching(/^mac: /),
    });
    expect(parseRequest({ cmd: 'fdb-add', network: 'blue', mac: '02:00:00:00:00:01', dst: '224.0.0.1' })).toMatchObject(
      { ok: false, error: expect.stringMatching(/^dst: /) },
    );
    expect(parseRequest({ cmd: 'stats', extra: 1 })).toMatchObject({ ok: false });
    expect(
      parseRequest({
        cmd: 'trace',
        network: 'b',
        in: 'tap',
        src: '02:00:00:00:00:01',
        dst: 'ff:ff:ff:ff:ff:ff',
        ipv4: ['1.1.1.1', '2.2.2.2'],
        ipv6: ['::1', '::2'],
      }),
    ).toMatchObject({ ok: false, error: expect.stringMatching(/at most one of/) });
    expect(parseRequest('stats')).toMatchObject({ ok: false });
  });
});
