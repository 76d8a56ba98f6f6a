// Geneve (RFC 8926): the codec byte for byte, what a receiver refuses (section
// 3.5), the demux's critical-option rule, the sender's header, the RFC 5927
// check of quoted packets, captures, and the config and flags that set it up.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfigFile } from '../../src/config/config.ts';
import { configFromFlags } from '../../src/config/flags.ts';
import { problems } from './problems.ts';
import { Batch } from '../../src/datapath/batch.ts';
import { decodeTunnelFrame, describe as describePacket, summarize } from '../../src/observe/dissect.ts';
import { Drop } from '../../src/switch/drop.ts';
import { geneveSettings, geneveSchema, GeneveTunnel } from '../../src/tunnel/geneve.ts';
import { tunnelFor } from '../../src/tunnel/index.ts';
import { Resolved } from '../../src/tunnel/tunnel.ts';
import { emitEthernet, EtherType } from '../../src/wire/ethernet.ts';
import {
  emitGeneve,
  emitOptions,
  GENEVE_PORT,
  newGeneveRepr,
  parseGeneve,
  readOptions,
  unknownCriticalOption,
} from '../../src/wire/geneve.ts';
import { emitIpv4, IpProto, newIpv4Repr, parseIpv4Address } from '../../src/wire/ipv4.ts';
import { ParseError } from '../../src/wire/parse-error.ts';
import { emitUdp } from '../../src/wire/udp.ts';

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const OVN = { class: 0x0102, type: 0x80, data: hex('00010002') };
/** Geneve, VNI 5001, OVN's option (class 0x0102, type 0x80, 4 bytes): what OVS sends with tun_metadata0 set. */
const OVN_HEADER = hex('02 40 6558 001389 00   0102 80 01 00010002');

function geneve(vni: number, options: { class: number; type: number; data: string }[] = []): GeneveTunnel {
  return new GeneveTunnel(geneveSettings(geneveSchema.parse({ vni, options })));
}

/** A received batch of one datagram (UDP payload) from 10.0.0.2. */
function received(payload: Buffer): Batch {
  const b = new Batch(1, 2048, 16);
  payload.copy(b.arena, b.start(0));
  b.len[0] = payload.length;
  b.count = 1;
  return b;
}

const FRAME = Buffer.concat([hex('020000000002 020000000001 0800'), Buffer.alloc(46, 7)]);

describe('the Geneve codec', () => {
  it('writes the header and OVN option byte for byte, with C set for a critical option', () => {
    const buf = Buffer.alloc(OVN_HEADER.length);
    expect(emitGeneve(5001, emitOptions([OVN]), true, buf, 0)).toBe(16);
    expect(buf).toEqual(OVN_HEADER);
    const g = newGeneveRepr();
    expect(parseGeneve(buf, 0, buf.length, g)).toBe(ParseError.None);
    expect(g).toEqual({ vni: 5001, optionsLen: 8, oam: false, critical: true, protocol: 0x6558 });
    expect(readOptions(buf, 8, 8)).toEqual([OVN]);
  });

  it('ignores the reserved bits and reads several options of different lengths', () => {
    const opts = emitOptions([
      OVN,
      { class: 0xffff, type: 0x01, data: Buffer.alloc(0) },
      { class: 1, type: 2, data: Buffer.alloc(8, 9) },
    ]);
    const buf = Buffer.alloc(8 + opts.length);
    emitGeneve(0xffffff, opts, false, buf, 0);
    buf[1] |= 0x3f; // reserved
    buf[7] = 0xff; // reserved
    const g = newGeneveRepr();
    expect(parseGeneve(buf, 0, buf.length, g)).toBe(ParseError.None);
    expect(g.vni).toBe(0xffffff);
    expect(readOptions(buf, 8, g.optionsLen).map((o) => [o.class, o.type, o.data.length])).toEqual([
      [0x0102, 0x80, 4],
      [0xffff, 0x01, 0],
      [1, 2, 8],
    ]);
  });

  it.each([
    ['shorter than the fixed header', '00006558 001389', ParseError.Truncated],
    ['version 1', '40006558 00138900', ParseError.GeneveVersion],
    ['a control packet (O bit)', '00806558 00138900', ParseError.GeneveOam],
    ['IPv4 instead of Ethernet', '00000800 00138900', ParseError.GeneveProtocol],
    ['options longer than the packet', '02006558 00138900 01028001', ParseError.GeneveBadOptions],
    ['an option longer than the options', '01006558 00138900 01028001 00010002', ParseError.GeneveBadOptions],
    ['an option header cut by the option length', '01006558 00138900 0102', ParseError.GeneveBadOptions],
  ])('refuses %s', (_what, bytes, error) => {
    const buf = hex(bytes);
    expect(parseGeneve(buf, 0, buf.length, newGeneveRepr())).toBe(error);
  });

  it('finds a critical option the receiver does not know, and only a critical one', () => {
    const opts = emitOptions([{ class: 7, type: 0x01, data: Buffer.alloc(4) }, OVN]);
    expect(unknownCriticalOption(opts, 0, opts.length, [])).toBe(8);
    expect(unknownCriticalOption(opts, 0, opts.length, [0x010280])).toBe(-1);
    expect(unknownCriticalOption(opts, 0, 8, [])).toBe(-1); // the non-critical one alone
  });
});

describe('a Geneve network receiving', () => {
  const datagram = (header: string) => Buffer.concat([hex(header), FRAME]);
  function resolve(t: GeneveTunnel, payload: Buffer) {
    const demux = t.newDemux<string>();
    demux.set(t.id, 'red', t);
    const out = new Resolved<string>(1);
    const b = received(payload);
    const d = demux.resolve(b, 0, out);
    return { d, target: out.target[0], inner: b.arena.subarray(out.off[0], out.off[0] + out.len[0]), out };
  }

  it('delivers a frame behind a known critical option, and counts the UDP header in its size', () => {
    const r = resolve(
      geneve(5001, [{ class: 0x0102, type: 0x80, data: '00010002' }]),
      datagram(OVN_HEADER.toString('hex')),
    );
    expect(r.d).toBe(Drop.None);
    expect(r.target).toBe('red');
    expect(r.inner).toEqual(FRAME);
    expect(r.out.wireLen[0]).toBe(8 + 16 + FRAME.length);
  });

  it('drops a frame behind a critical option it was not configured with (geneve-critical-option)', () => {
    const r = resolve(geneve(5001), datagram(OVN_HEADER.toString('hex')));
    expect(r.d).toBe(Drop.GeneveCriticalOption);
    expect(r.target).toBeUndefined();
  });

  it('skips a non-critical option it does not know and delivers the frame', () => {
    const r = resolve(geneve(5001), datagram('02006558 00138900 01020101 00010002'));
    expect(r.d).toBe(Drop.None);
    expect(r.inner).toEqual(FRAME);
  });

  it('drops another VNI as unknown-vni', () => {
    expect(resolve(geneve(5002), datagram('00006558 00138900')).d).toBe(Drop.UnknownVni);
  });
});

describe('a Geneve network sending', () => {
  const t = geneve(5001, [{ class: 0x0102, type: 0x80, data: '00010002' }]);

  it('leaves 50 + options bytes of the underlay MTU over IPv4: overhead 30 + options besides the IP header', () => {
    expect(t.overhead).toBe(8 + 8 + 8 + 14);
    expect(geneve(1).overhead).toBe(30);
    expect(t.describe()).toBe('Geneve VNI 5001 port 6081 option class 0x0102 type 0x80 data 00010002');
  });

  it('writes its header in front of the frame, and the UDP header with a flow-hash source port without lanes', () => {
    const encap = t.encap([]);
    expect(encap.headerLen).toBe(24);
    const buf = Buffer.alloc(128 + FRAME.length);
    FRAME.copy(buf, 128);
    expect(encap.write(buf, 128, FRAME.length)).toBe(0);
    const at = 128 - 24;
    expect(buf.readUInt16BE(at)).toBeGreaterThanOrEqual(49152);
    expect(buf.readUInt16BE(at + 2)).toBe(GENEVE_PORT);
    expect(buf.readUInt16BE(at + 4)).toBe(8 + 16 + FRAME.length);
    expect(buf.subarray(at + 8, 128)).toEqual(OVN_HEADER);
    // RFC 5927: an ICMP error quoting this packet is believed; with another VNI or option value, not.
    expect(encap.sentThis(buf, at, buf.length)).toBe(true);
    expect(encap.sentThis(buf, at, at + 8)).toBe(true); // RFC 792's 8 bytes: the ports
    buf[at + 8 + 6] ^= 1;
    expect(encap.sentThis(buf, at, buf.length)).toBe(false);
    buf[at + 8 + 6] ^= 1;
    buf[at + 8 + 15] ^= 1;
    expect(encap.sentThis(buf, at, buf.length)).toBe(false);
  });

  it('on lanes writes the Geneve header alone and names the lane', () => {
    const encap = t.encap([50000, 50001]);
    expect(encap.headerLen).toBe(16);
    expect(encap.kernelHeaderLen).toBe(8);
    const buf = Buffer.alloc(64 + FRAME.length);
    FRAME.copy(buf, 64);
    expect([0, 1]).toContain(encap.write(buf, 64, FRAME.length));
    expect(buf.subarray(48, 64)).toEqual(OVN_HEADER);
  });
});

describe('a captured Geneve packet', () => {
  it('decodes with its options and describes them, as vtepctl capture prints it', () => {
    const payload = Buffer.concat([OVN_HEADER, FRAME]);
    const frame = Buffer.alloc(14 + 20 + 8 + payload.length);
    emitEthernet({ dst: 0x020000000002, src: 0x020000000001, ethertype: EtherType.IPv4 }, frame, 0);
    const ip = newIpv4Repr();
    Object.assign(ip, { totalLen: 20 + 8 + payload.length, protocol: IpProto.UDP, ttl: 64, tos: 0, df: false });
    ip.src = parseIpv4Address('10.0.0.1')!;
    ip.dst = parseIpv4Address('10.0.0.2')!;
    emitIpv4(ip, frame, 14);
    emitUdp(50000, GENEVE_PORT, payload.length, frame, 34);
    payload.copy(frame, 42);
    const p = decodeTunnelFrame(frame);
    expect(p?.kind).toBe('geneve');
    if (p?.kind !== 'geneve') return;
    expect(p.vni).toBe(5001);
    expect(p.options).toEqual([OVN]);
    expect(p.inner).toEqual(FRAME);
    expect(describePacket(p)).toMatch(
      /^10\.0\.0\.1:50000 > 10\.0\.0\.2:6081 ttl 64 Geneve vni 5001 C \[class 0x0102 type 0x80 data 00010002\]: /,
    );
    expect(summarize(frame)).toBe(describePacket(p));
  });
});

describe('Geneve in the config', () => {
  const dir = mkdtempSync(join(tmpdir(), 'vtepd-geneve-'));
  const load = (networks: string) => {
    const file = join(dir, 'c.yaml');
    writeFileSync(file, `local: 10.0.0.1\nnetworks:\n${networks}`);
    return loadConfigFile(file);
  };

  it('takes the issue example: options by class and type in hex, the TAP MTU leaving room for them', () => {
    const c = load(
      '  red: { tap: tap-red, geneve: { vni: 5001, port: 6081, options: [ { class: 0x0102, type: 0x80, data: "00010002" } ] }, remotes: [10.0.0.2] }\n',
    );
    const t = tunnelFor(c.networks[0].tunnel);
    expect(t.kind).toBe('geneve');
    expect(t.overhead).toBe(38);
    expect(c.networks[0].tunnel).toMatchObject({ vni: 5001, port: 6081, options: [OVN] });
    expect(tunnelFor(load('  red: { tap: t, geneve: { vni: 1 } }\n').networks[0].tunnel).describe()).toBe(
      'Geneve VNI 1 port 6081',
    );
  });

  it('refuses options that do not fit, data not in 4-byte words, EVPN, and a port VXLAN already reads', () => {
    const long = '00'.repeat(124);
    expect(
      problems(() =>
        load('  red: { tap: t, geneve: { vni: 1, options: [ { class: 1, type: 1, data: "000102" } ] } }\n'),
      )[0],
    ).toMatch(/networks\.red\.geneve\.options\.0\.data: expected hex digits, a multiple of 4 bytes/);
    const three = `[${[1, 2, 3].map((i) => `{ class: ${i}, type: 1, data: "${long}" }`).join(', ')}]`;
    expect(problems(() => load(`  red: { tap: t, geneve: { vni: 1, options: ${three} } }\n`))[0]).toMatch(
      /networks\.red\.geneve\.options: more than 252 bytes of options/,
    );
    expect(
      problems(() => load('  red: { tap: t, geneve: { vni: 1, options: [ { class: 0x10000, type: 1 } ] } }\n'))[0],
    ).toMatch(/options\.0\.class: expected an option class from 0 to 65535/);
    expect(
      problems(() =>
        load('  blue: { tap: a, vxlan: { vni: 1, port: 6081 } }\n  red: { tap: b, geneve: { vni: 2 } }\n'),
      ),
    ).toEqual([
      expect.stringMatching(
        /networks\.red\.geneve\.port: port 6081 carries VXLAN for network "blue": give this network another port$/,
      ),
    ]);
    const file = join(dir, 'evpn.yaml');
    writeFileSync(
      file,
      'local: 10.0.0.1\nevpn: { asn: 65000, neighbors: [10.0.0.9] }\nnetworks:\n  red: { tap: t, geneve: { vni: 1 }, evpn: true }\n',
    );
    expect(problems(() => loadConfigFile(file))[0]).toMatch(
      /networks\.red\.evpn: BGP EVPN carries VXLAN networks \(RFC 8365\); a Geneve network lists its remotes/,
    );
    expect(problems(() => load('  red: { tap: t, geneve: { vni: 1 }, vxlan: { vni: 1 } }\n'))[0]).toMatch(
      /give exactly one encapsulation: vxlan: \{\.\.\.\} or geneve: \{\.\.\.\} or gre: \{\.\.\.\}/,
    );
  });

  it('comes from --geneve-vni, --port and --geneve-option, and names the flag when wrong', () => {
    const c = configFromFlags({
      local: '10.0.0.1',
      tap: 'tap0',
      'geneve-vni': '5001',
      port: '6082',
      'geneve-option': ['0x0102,0x80,00010002'],
      remote: ['10.0.0.2'],
    });
    expect(c.networks[0].tunnel).toMatchObject({ kind: 'geneve', vni: 5001, port: 6082, options: [OVN] });
    expect(problems(() => configFromFlags({ local: '10.0.0.1', tap: 't', 'geneve-vni': 'x' }))[0]).toMatch(
      /^--geneve-vni: expected a VNI/,
    );
    expect(problems(() => configFromFlags({ local: '10.0.0.1', tap: 't', vni: '1', 'geneve-vni': '1' }))).toEqual([
      '--vni and --geneve-vni do not go together: a network is VXLAN, Geneve or GRE',
    ]);
    expect(
      problems(() =>
        configFromFlags({ local: '10.0.0.1', tap: 't', 'geneve-vni': '1', 'geneve-option': ['1,2,0a'] }),
      )[0],
    ).toMatch(/^--geneve-option: expected hex digits/);
  });

  it('cleans up', () => rmSync(dir, { recursive: true }));
});
