// The wire codecs: each parses a known byte array and emits the same bytes back.
import { describe, expect, it } from 'vitest';
import { ArpOp, emitArp, newArpRepr, parseArp } from '../../src/wire/arp.ts';
import { checksum } from '../../src/wire/checksum.ts';
import { ParseError } from '../../src/wire/parse-error.ts';
import { emitEthernet, EtherType, l3Offset, l3Type, newEthernetRepr, parseEthernet } from '../../src/wire/ethernet.ts';
import { flowHash, sourcePort } from '../../src/wire/flow-hash.ts';
import { decapsulateEcn, ECN_CE, ECN_ECT_0, ECN_ECT_1, ECN_NOT_ECT, encapsulationEcn } from '../../src/wire/ecn.ts';
import {
  emitGre,
  fillGreChecksum,
  GRE_FLAG_C,
  GRE_FLAG_K,
  GRE_FLAG_S,
  GRE_PROTO_TEB,
  newGreRepr,
  parseGre,
} from '../../src/wire/gre.ts';
import { canonicalIp, formatIp, isMulticastIp, isUnicastIp, parseIp, vtepProblem } from '../../src/wire/ip-address.ts';
import { emitIpv4, formatIpv4, newIpv4Repr, parseIpv4, parseIpv4Address } from '../../src/wire/ipv4.ts';
import { BROADCAST_MAC, formatMac, isGroupMac, parseMac, readMac, writeMac } from '../../src/wire/mac.ts';
import { emitPcapHeader, emitPcapRecord, LINKTYPE_ETHERNET, parsePcap } from '../../src/wire/pcap.ts';
import { emitUdp, newUdpRepr, parseUdp } from '../../src/wire/udp.ts';
import { emitVxlan, newVxlanRepr, parseVxlan } from '../../src/wire/vxlan.ts';

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const filled = (n: number) => Buffer.alloc(n, 0xa5);

describe('mac', () => {
  it('reads, writes and formats 48-bit addresses as exact numbers', () => {
    const b = hex('525400123456');
    const m = readMac(b, 0);
    expect(m).toBe(0x525400123456);
    expect(formatMac(m)).toBe('52:54:00:12:34:56');
    const out = filled(6);
    writeMac(m, out, 0);
    expect(out).toEqual(b);
    expect(readMac(hex('ffffffffffff'), 0)).toBe(BROADCAST_MAC);
    expect(formatMac(0x0000000000ab)).toBe('00:00:00:00:00:ab');
  });

  it('tells group addresses by the I/G bit of the first octet', () => {
    expect(isGroupMac(parseMac('01:00:5e:00:00:01')!)).toBe(true);
    expect(isGroupMac(BROADCAST_MAC)).toBe(true);
    expect(isGroupMac(parseMac('02:00:00:00:00:01')!)).toBe(false);
    expect(isGroupMac(parseMac('fe:ff:ff:ff:ff:ff')!)).toBe(false);
  });

  it('parses only well-formed text', () => {
    expect(parseMac('52-54-00-12-34-56')).toBe(0x525400123456);
    expect(parseMac('52:54:00:12:34')).toBeUndefined();
    expect(parseMac('52:54:00:12:34:5g')).toBeUndefined();
  });
});

// An ARP request 192.168.100.1 -> 192.168.100.2 from 42:ca:b1:b3:6d:86, broadcast.
const ARP_FRAME = hex(`ffffffffffff 42cab1b36d86 0806
  0001 0800 06 04 0001 42cab1b36d86 c0a86401 000000000000 c0a86402`);

describe('ethernet and arp', () => {
  it('parses and emits the header', () => {
    const e = newEthernetRepr();
    expect(parseEthernet(ARP_FRAME, 0, ARP_FRAME.length, e)).toBe(ParseError.None);
    expect(e).toEqual({ dst: BROADCAST_MAC, src: 0x42cab1b36d86, ethertype: EtherType.ARP });
    const out = filled(14);
    emitEthernet(e, out, 0);
    expect(out).toEqual(ARP_FRAME.subarray(0, 14));
    expect(parseEthernet(ARP_FRAME, 0, 13, e)).toBe(ParseError.Truncated);
  });

  it('parses and emits an ARP request', () => {
    const a = newArpRepr();
    expect(parseArp(ARP_FRAME, 14, ARP_FRAME.length, a)).toBe(ParseError.None);
    expect(a.op).toBe(ArpOp.Request);
    expect(formatIpv4(a.senderIp)).toBe('192.168.100.1');
    expect(formatIpv4(a.targetIp)).toBe('192.168.100.2');
    const out = filled(28);
    emitArp(a, out, 0);
    expect(out).toEqual(ARP_FRAME.subarray(14));
    expect(parseArp(ARP_FRAME, 14, ARP_FRAME.length - 1, a)).toBe(ParseError.Truncated);
  });
});

// An outer header as the kernel sends it: 10.0.0.1 -> 10.0.0.2, UDP, TTL 64, DF clear.
const IPV4_HEADER = hex('4500 004e 1c46 0000 4011 4a57 0a000001 0a000002');

describe('ipv4', () => {
  it('parses a real header and verifies its checksum', () => {
    const ip = newIpv4Repr();
    const pkt = Buffer.concat([IPV4_HEADER, Buffer.alloc(0x4e - 20)]);
    expect(checksum(IPV4_HEADER, 0, 20)).toBe(0);
    expect(parseIpv4(pkt, 0, pkt.length, ip)).toBe(ParseError.None);
    expect(ip).toMatchObject({ headerLen: 20, totalLen: 0x4e, ttl: 64, protocol: 17, df: false, fragment: false });
    expect(formatIpv4(ip.src)).toBe('10.0.0.1');
    const out = filled(20);
    emitIpv4(ip, out, 0);
    expect(out).toEqual(IPV4_HEADER);
  });

  it('refuses bad versions, lengths and checksums', () => {
    const ip = newIpv4Repr();
    const pkt = Buffer.concat([IPV4_HEADER, Buffer.alloc(0x4e - 20)]);
    expect(parseIpv4(pkt, 0, 50, ip)).toBe(ParseError.Truncated);
    const v6 = Buffer.from(pkt);
    v6[0] = 0x65;
    expect(parseIpv4(v6, 0, v6.length, ip)).toBe(ParseError.Malformed);
    const bad = Buffer.from(pkt);
    bad[8] = 63; // TTL changed, checksum not
    expect(parseIpv4(bad, 0, bad.length, ip)).toBe(ParseError.BadChecksum);
  });

  it('parses dotted quads strictly', () => {
    expect(parseIpv4Address('10.0.0.1')).toBe(0x0a000001);
    expect(parseIpv4Address('256.0.0.1')).toBeUndefined();
    expect(parseIpv4Address('10.0.0')).toBeUndefined();
  });
});

// UDP + VXLAN header for VNI 0x123456 (1193046), port 4789, 20 bytes of inner frame.
const UDP_VXLAN = hex('d431 12b5 0024 0000 08000000 12345600');

describe('udp and vxlan', () => {
  it('emits the header bytes the RFC specifies: I flag, VNI big-endian, reserved zero', () => {
    const out = filled(16);
    emitUdp(0xd431, 4789, 8 + 20, out, 0);
    emitVxlan(0x123456, out, 8);
    expect(out).toEqual(UDP_VXLAN);
  });

  it('parses the header back', () => {
    const pkt = Buffer.concat([UDP_VXLAN, Buffer.alloc(20)]);
    const u = newUdpRepr();
    expect(parseUdp(pkt, 0, pkt.length, u)).toBe(ParseError.None);
    expect(u).toEqual({ srcPort: 0xd431, dstPort: 4789, length: 36, checksum: 0 });
    const v = newVxlanRepr();
    expect(parseVxlan(pkt, 8, pkt.length, v)).toBe(ParseError.None);
    expect(v.vni).toBe(0x123456);
  });

  it('drops a VXLAN header with a flag byte other than 0x08, and a short one', () => {
    const v = newVxlanRepr();
    for (const flags of [0x00, 0x0c, 0x88, 0x09]) {
      const b = hex('0800000000002a00');
      b[0] = flags;
      expect(parseVxlan(b, 0, 8, v)).toBe(ParseError.BadFlags);
    }
    expect(parseVxlan(hex('08000000002a'), 0, 6, v)).toBe(ParseError.Truncated);
  });

  it('ignores the reserved fields on receipt (RFC 7348 section 5)', () => {
    const v = newVxlanRepr();
    expect(parseVxlan(hex('08ffffff00002aff'), 0, 8, v)).toBe(ParseError.None);
    expect(v.vni).toBe(42);
  });

  it('refuses a UDP length beyond the datagram', () => {
    const u = newUdpRepr();
    expect(parseUdp(UDP_VXLAN, 0, 16, u)).toBe(ParseError.Truncated);
  });
});

describe('flow hash', () => {
  const tcp = (sport: number) => {
    const f = hex(
      `020000000002 020000000001 0800 4500 0028 0000 4000 4006 0000 c0a86401 c0a86402 ${sport.toString(16).padStart(4, '0')} 0050 00000000`,
    );
    return f;
  };

  it('gives every packet of a flow the same source port, in range', () => {
    const a = sourcePort(flowHash(tcp(40000), 0, 58), 49152, 65535);
    expect(sourcePort(flowHash(tcp(40000), 0, 58), 49152, 65535)).toBe(a);
    expect(a).toBeGreaterThanOrEqual(49152);
    expect(a).toBeLessThanOrEqual(65535);
  });

  it('spreads different flows over the range', () => {
    const ports = new Set<number>();
    for (let p = 40000; p < 40064; p++) ports.add(sourcePort(flowHash(tcp(p), 0, 58), 49152, 65535));
    expect(ports.size).toBeGreaterThan(56);
  });

  it('looks through one 802.1Q tag to the flow, as the kernel does', () => {
    const tagged = (sport: number) => {
      const f = tcp(sport);
      return Buffer.concat([f.subarray(0, 12), hex('8100 0064'), f.subarray(12)]);
    };
    const ports = new Set<number>();
    for (let p = 40000; p < 40064; p++) ports.add(sourcePort(flowHash(tagged(p), 0, 62), 49152, 65535));
    expect(ports.size).toBeGreaterThan(56);
    expect(flowHash(tagged(40000), 0, 62)).toBe(flowHash(tagged(40000), 0, 62));
    expect(l3Offset(tagged(1), 0, 62)).toBe(18);
    expect(l3Type(tagged(1), 18)).toBe(EtherType.IPv4);
    expect(l3Offset(tcp(1), 0, 58)).toBe(14);
    expect(l3Offset(tagged(1), 0, 17)).toBe(-1);
  });

  it('maps hashes onto [min, max] inclusive', () => {
    expect(sourcePort(0, 100, 200)).toBe(100);
    expect(sourcePort(0xffffffff, 100, 200)).toBe(200);
  });
});

describe('pcap', () => {
  it('writes a file that reads back record for record', () => {
    const file = Buffer.concat([
      emitPcapHeader(LINKTYPE_ETHERNET),
      emitPcapRecord(1_700_000_000_250, ARP_FRAME, 0, ARP_FRAME.length),
      emitPcapRecord(1_700_000_001_000, ARP_FRAME, 0, 14),
    ]);
    const p = parsePcap(file);
    if (typeof p === 'number') throw new Error('unreadable');
    expect(p.linktype).toBe(LINKTYPE_ETHERNET);
    expect(p.records).toHaveLength(2);
    expect(p.records[0].data).toEqual(ARP_FRAME);
    expect(p.records[0].time).toBeCloseTo(1_700_000_000.25, 5);
    expect(p.records[1].data).toEqual(ARP_FRAME.subarray(0, 14));
  });

  it('keeps the whole records of a file cut short', () => {
    const file = Buffer.concat([
      emitPcapHeader(LINKTYPE_ETHERNET),
      emitPcapRecord(0, ARP_FRAME, 0, 42),
      emitPcapRecord(1, ARP_FRAME, 0, 42),
    ]);
    // The second record's data cut by one byte, then its header cut: the first record stays, whole.
    for (const cut of [1, ARP_FRAME.length + 1]) {
      const p = parsePcap(file.subarray(0, file.length - cut));
      if (typeof p === 'number') throw new Error(`parse error ${p}`);
      expect(p.records.map((r) => r.data)).toEqual([ARP_FRAME]);
    }
    expect(parsePcap(Buffer.alloc(24))).toBe(ParseError.Malformed);
  });
});

// GRE with key 77 carrying Ethernet, as Open vSwitch sends it (flags 0x2000, protocol 0x6558).
const GRE_KEY_77 = hex('2000 6558 0000004d');

describe('gre', () => {
  it('emits key-only GRE as Open vSwitch does', () => {
    const out = filled(8);
    expect(emitGre({ flags: GRE_FLAG_K, protocol: GRE_PROTO_TEB, key: 77, seq: 0, headerLen: 0 }, out, 0)).toBe(8);
    expect(out).toEqual(GRE_KEY_77);
  });

  it('parses the key and the payload offset', () => {
    const pkt = Buffer.concat([GRE_KEY_77, ARP_FRAME]);
    const g = newGreRepr();
    expect(parseGre(pkt, 0, pkt.length, g)).toBe(ParseError.None);
    expect(g).toMatchObject({ flags: GRE_FLAG_K, protocol: 0x6558, key: 77, headerLen: 8 });
  });

  it('writes checksum, key and sequence in RFC 2890 order, and verifies the checksum', () => {
    const flags = GRE_FLAG_C | GRE_FLAG_K | GRE_FLAG_S;
    const pkt = filled(16 + ARP_FRAME.length);
    expect(
      emitGre({ flags: flags, protocol: GRE_PROTO_TEB, key: 0x01020304, seq: 0x0a0b0c0d, headerLen: 0 }, pkt, 0),
    ).toBe(16);
    ARP_FRAME.copy(pkt, 16);
    fillGreChecksum(pkt, 0, pkt.length);
    expect(pkt.subarray(0, 4)).toEqual(hex('b000 6558'));
    expect(pkt.readUInt16BE(6)).toBe(0); // reserved1
    expect(pkt.subarray(8, 16)).toEqual(hex('01020304 0a0b0c0d'));
    expect(checksum(pkt, 0, pkt.length)).toBe(0);
    const g = newGreRepr();
    expect(parseGre(pkt, 0, pkt.length, g)).toBe(ParseError.None);
    expect(g).toMatchObject({ key: 0x01020304, seq: 0x0a0b0c0d, headerLen: 16 });
    pkt[30] ^= 0xff;
    expect(parseGre(pkt, 0, pkt.length, g)).toBe(ParseError.BadChecksum);
  });

  it('refuses versions, routing and flags it does not speak, and short headers', () => {
    const g = newGreRepr();
    expect(parseGre(hex('2001 6558 0000004d'), 0, 8, g)).toBe(ParseError.BadVersion);
    expect(parseGre(hex('6000 6558 0000004d'), 0, 8, g)).toBe(ParseError.RoutingBit);
    expect(parseGre(hex('2800 6558 0000004d'), 0, 8, g)).toBe(ParseError.BadFlags);
    expect(parseGre(hex('2000 6558 0000'), 0, 6, g)).toBe(ParseError.Truncated);
    expect(parseGre(hex('20'), 0, 1, g)).toBe(ParseError.Truncated);
  });
});

describe('ecn (RFC 6040, as Linux tunnels)', () => {
  /** Ethernet + IPv4 (checksum valid) with the given ECN codepoint, optionally behind a VLAN tag. */
  function v4(ecn: number, vlan = false): Buffer {
    const ip = hex('4500 0020 0001 0000 4011 0000 c0a86402 c0a86401');
    ip[1] = 0xb8 | ecn; // DSCP EF, which must survive
    ip.writeUInt16BE(checksum(ip, 0, 20), 10);
    const eth = hex(vlan ? '020000000001 020000000002 8100 0064 0800' : '020000000001 020000000002 0800');
    return Buffer.concat([eth, ip, Buffer.alloc(12)]);
  }
  function v6(ecn: number): Buffer {
    const ip = Buffer.alloc(40);
    ip.writeUInt32BE((6 << 28) | ((0xb8 | ecn) << 20) | 0x12345, 0); // traffic class EF + ECN, a flow label
    return Buffer.concat([hex('020000000001 020000000002 86dd'), ip]);
  }
  const ecn4 = (f: Buffer, at = 14) => f[at + 1] & 3;
  const ecn6 = (f: Buffer) => (f[15] >> 4) & 3;

  it('copies the inner codepoint to the outer header, CE as ECT(0); nothing for non-IP frames', () => {
    for (const e of [ECN_NOT_ECT, ECN_ECT_1, ECN_ECT_0]) {
      expect(encapsulationEcn(v4(e), 0, 46)).toBe(e);
      expect(encapsulationEcn(v6(e), 0, 54)).toBe(e);
    }
    expect(encapsulationEcn(v4(ECN_CE), 0, 46)).toBe(ECN_ECT_0);
    expect(encapsulationEcn(v6(ECN_CE), 0, 54)).toBe(ECN_ECT_0);
    expect(encapsulationEcn(v4(ECN_ECT_1, true), 0, 50)).toBe(ECN_ECT_1);
    expect(encapsulationEcn(Buffer.concat([hex('ffffffffffff 020000000002 0806'), Buffer.alloc(28, 3)]), 0, 42)).toBe(
      ECN_NOT_ECT,
    );
  });

  it('marks CE on an ECN-capable inner packet, keeping its IPv4 checksum valid and its DSCP', () => {
    const f = v4(ECN_ECT_0);
    expect(decapsulateEcn(f, 0, f.length, ECN_CE)).toBe(true);
    expect(ecn4(f)).toBe(ECN_CE);
    expect(f[15] >> 2).toBe(0xb8 >> 2);
    expect(checksum(f, 14, 20)).toBe(0);
    const t = v4(ECN_ECT_1, true);
    expect(decapsulateEcn(t, 0, t.length, ECN_CE)).toBe(true);
    expect(ecn4(t, 18)).toBe(ECN_CE);
    expect(checksum(t, 18, 20)).toBe(0);
    const g = v6(ECN_ECT_1);
    expect(decapsulateEcn(g, 0, g.length, ECN_CE)).toBe(true);
    expect(ecn6(g)).toBe(ECN_CE);
    expect(g.readUInt32BE(14) & 0xfffff).toBe(0x12345);
  });

  it('drops CE on a Not-ECT inner packet, and leaves the rest as they are (ECT(1) outside turns ECT(0) inside to ECT(1))', () => {
    expect(decapsulateEcn(v4(ECN_NOT_ECT), 0, 46, ECN_CE)).toBe(false);
    expect(decapsulateEcn(v6(ECN_NOT_ECT), 0, 54, ECN_CE)).toBe(false);
    for (const [inner, outer, after] of [
      [ECN_NOT_ECT, ECN_ECT_0, ECN_NOT_ECT],
      [ECN_NOT_ECT, ECN_ECT_1, ECN_NOT_ECT],
      [ECN_ECT_0, ECN_NOT_ECT, ECN_ECT_0],
      [ECN_ECT_0, ECN_ECT_1, ECN_ECT_1],
      [ECN_ECT_1, ECN_ECT_0, ECN_ECT_1],
      [ECN_CE, ECN_ECT_0, ECN_CE],
      [ECN_CE, ECN_CE, ECN_CE],
    ]) {
      const f = v4(inner);
      expect(decapsulateEcn(f, 0, f.length, outer), `inner ${inner} outer ${outer}`).toBe(true);
      expect(ecn4(f), `inner ${inner} outer ${outer}`).toBe(after);
      expect(checksum(f, 14, 20)).toBe(0);
    }
    const arp = Buffer.concat([hex('ffffffffffff 020000000002 0806'), Buffer.alloc(28, 3)]);
    expect(decapsulateEcn(arp, 0, arp.length, ECN_CE)).toBe(true);
  });
});

describe('16-byte underlay addresses', () => {
  it('holds IPv4 as ::ffff:a.b.c.d and prints it as a dotted quad', () => {
    const b = parseIp('10.0.0.2')!;
    expect(Buffer.from(b).toString('hex')).toBe('00000000000000000000ffff0a000002');
    expect(formatIp(b)).toBe('10.0.0.2');
  });

  it('parses IPv6 in every written form and prints the RFC 5952 one', () => {
    for (const [text, canonical] of [
      ['fd00::2', 'fd00::2'],
      ['FD00:0:0:0:0:0:0:2', 'fd00::2'],
      ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'],
      ['2001:db8::0:1', '2001:db8::1'],
      ['::', '::'],
      ['::1', '::1'],
      ['1::', '1::'],
      ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1'],
      ['64:ff9b::192.0.2.33', '64:ff9b::c000:221'],
    ])
      expect(canonicalIp(text), text).toBe(canonical);
  });

  it('refuses what is not an address', () => {
    for (const bad of [
      '',
      '1.2.3',
      '1.2.3.256',
      'fd00:::1',
      '1:2:3:4:5:6:7:8:9',
      'fd00::1::2',
      'g::1',
      ':1',
      '1:2:3:4:5:6:7',
      '10.0.0.1/24',
      '010.077.000.002', // inet_aton reads octal here, inet_pton refuses it: so do we
      '10.0.0.01',
    ]) {
      expect(parseIp(bad), bad).toBeUndefined();
    }
  });

  it('tells unicast from multicast and unspecified', () => {
    expect(isUnicastIp(parseIp('10.0.0.1')!)).toBe(true);
    expect(isUnicastIp(parseIp('0.0.0.0')!)).toBe(false);
    expect(isUnicastIp(parseIp('255.255.255.255')!)).toBe(false);
    expect(isMulticastIp(parseIp('239.1.1.1')!)).toBe(true);
    expect(isMulticastIp(parseIp('ff02::1')!)).toBe(true);
    expect(isUnicastIp(parseIp('::')!)).toBe(false);
    expect(isUnicastIp(parseIp('fd00::1')!)).toBe(true);
  });

  it("tells why an address cannot be a remote VTEP's", () => {
    const checks = {
      local: parseIp('10.0.0.1')!,
      broadcast: parseIp('10.0.0.255')!,
      overlay: (b: Uint8Array) => b[12] === 192 && b[13] === 168,
    };
    for (const [ip, why] of [
      ['10.0.0.2', undefined],
      ['fd00::2', 'family'],
      ['0.0.0.0', 'unspecified'],
      ['127.0.0.5', 'loopback'],
      ['169.254.0.9', 'link-local'],
      ['224.0.0.1', 'multicast'],
      ['255.255.255.255', 'broadcast'],
      ['10.0.0.255', 'broadcast'],
      ['240.1.2.3', 'reserved'],
      ['10.0.0.1', 'ours'],
      ['192.168.1.1', 'overlay'],
    ] as const)
      expect(vtepProblem(parseIp(ip)!, checks), ip).toBe(why);
    const v6 = { local: parseIp('fd00::1')! };
    for (const [ip, why] of [
      ['fd00::2', undefined],
      ['10.0.0.2', 'family'],
      ['::', 'unspecified'],
      ['::1', 'loopback'],
      ['fe80::1', 'link-local'],
      ['ff05::42', 'multicast'],
      ['fd00::1', 'ours'],
    ] as const)
      expect(vtepProblem(parseIp(ip)!, v6), ip).toBe(why);
  });
});
