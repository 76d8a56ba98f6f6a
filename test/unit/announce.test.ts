// What vtepd says for its TAP when a network comes up: a gratuitous ARP and
// an unsolicited NA that peers (and vtepd's own snooping) take as announcements.
import { describe, expect, it } from 'vitest';
import { announcement } from '../../src/switch/announce.ts';
import { NeighTable } from '../../src/switch/neigh.ts';
import { snoop } from '../../src/switch/responder.ts';
import { ArpOp, newArpRepr, parseArp } from '../../src/wire/arp.ts';
import { Icmpv6Type, NA_OVERRIDE, NA_SOLICITED, newNdRepr, parseNd } from '../../src/wire/icmpv6.ts';
import { formatIp, parseIp } from '../../src/wire/ip-address.ts';
import { newIpv6Repr, parseIpv6 } from '../../src/wire/ipv6.ts';
import { ParseError } from '../../src/wire/parse-error.ts';

const MAC = 0x024200000001;

describe('announcements', () => {
  it('announces an IPv4 address with a broadcast gratuitous ARP request, padded to 60 bytes', () => {
    const f = announcement(MAC, parseIp('192.168.100.1')!);
    expect(f.length).toBe(60);
    expect(f.subarray(0, 14).toString('hex')).toBe('ffffffffffff' + '024200000001' + '0806');
    const arp = newArpRepr();
    expect(parseArp(f, 14, f.length, arp)).toBe(ParseError.None);
    expect(arp).toEqual({
      op: ArpOp.Request,
      senderMac: MAC,
      senderIp: 0xc0a86401,
      targetMac: 0,
      targetIp: 0xc0a86401,
    });
  });

  it('announces an IPv6 address with an unsolicited NA (override) to all nodes, hop limit 255, a valid checksum', () => {
    const f = announcement(MAC, parseIp('fd00:100::1')!);
    expect(f.subarray(0, 14).toString('hex')).toBe('333300000001' + '024200000001' + '86dd');
    const ip6 = newIpv6Repr();
    expect(parseIpv6(f, 14, f.length, ip6)).toBe(ParseError.None);
    expect(ip6.hopLimit).toBe(255);
    expect(formatIp(f, ip6.src)).toBe('fd00:100::1');
    expect(formatIp(f, ip6.dst)).toBe('ff02::1');
    const nd = newNdRepr();
    expect(parseNd(f, 54, 54 + ip6.payloadLen, ip6.src, ip6.dst, nd)).toBe(ParseError.None);
    expect(nd.type).toBe(Icmpv6Type.NeighborAdvertisement);
    expect(nd.flags & (NA_OVERRIDE | NA_SOLICITED)).toBe(NA_OVERRIDE);
    expect(formatIp(f, nd.target)).toBe('fd00:100::1');
    expect(nd.lla).toBe(MAC);
  });

  it("is what snooping from a tunnel records as the address's MAC", () => {
    const neigh = new NeighTable(10);
    for (const ip of ['192.168.100.1', 'fd00:100::1']) {
      const f = announcement(MAC, parseIp(ip)!);
      expect(snoop(neigh, f, 0, f.length, 1)?.mac).toBe(MAC);
    }
    expect([...neigh.entries()].map((e) => e.ip).sort()).toEqual(['192.168.100.1', 'fd00:100::1']);
  });
});
