// Conformance with the reference captures in pcaps/ (see pcaps/README.md): the
// inner frames h1 sent there are handed to vtepd's TAP, vtepd's underlay
// packets are captured with libpcap (the `cap` package), and every header
// field is compared with what the Linux kernel or Open vSwitch put on the wire.
//
// Fields that legitimately differ are listed in LEGITIMATE_DIFFERENCES, with
// the reason, and checked for validity instead of equality.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  describeFrame,
  genevePackets,
  grePackets,
  vxlanPackets,
  type GenevePacket,
  type GrePacket,
  type TunnelPacket,
  type VxlanPacket,
} from '../../src/observe/dissect.ts';
import { checksum } from '../../src/wire/checksum.ts';
import { GRE_FLAG_C, GRE_FLAG_K, GRE_FLAG_S } from '../../src/wire/gre.ts';
import { IpProto, parseIpv4Address, pseudoHeaderSum } from '../../src/wire/ipv4.ts';
import { IPV6_DST, IPV6_SRC, pseudoHeaderSum6 } from '../../src/wire/ipv6.ts';
import { emitPcapHeader, emitPcapRecord, LINKTYPE_ETHERNET, parsePcap, type PcapRecord } from '../../src/wire/pcap.ts';
import { Lab, ROOT, sh } from '../../scripts/lab/lab.ts';

/** Where vtepd may differ from the reference, and why. Each is checked for validity instead. */
export const LEGITIMATE_DIFFERENCES = {
  'outer IPv4 identification': 'each IP stack numbers its own packets',
  'outer IPv4 header checksum': 'covers the identification; must verify',
  'UDP source port':
    "flow entropy (RFC 7348 section 5): each implementation hashes and scales differently; must be in vtepd's range and the same for every packet of a flow",
  'UDP checksum':
    'the Linux kernel computes one; Open vSwitch, and vtepd without offloads, leave it zero as IPv4 allows (RFC 768); vtepd with UDP GSO computes one; a non-zero one must verify (over IPv6 every one, RFC 8200 section 8.1)',
  'outer IPv6 flow label':
    "the kernel's VXLAN device (flowlabel 0 by default) and Open vSwitch send 0; vtepd sets one per inner flow (RFC 6438); must be non-zero and the same for every packet of a flow",
} as const;

interface Reference {
  name: string;
  kind: 'vxlan' | 'geneve' | 'gre';
  /** The network vtepd runs to reproduce it. */
  network: string;
  /** Over the IPv6 underlay (h1 fd00::1, h2 fd00::2). */
  ipv6?: boolean;
}

const REFERENCES: Reference[] = [
  { name: 'kernel-vxlan', kind: 'vxlan', network: 'vxlan: { vni: 42 }' },
  { name: 'ovs-vxlan', kind: 'vxlan', network: 'vxlan: { vni: 42 }\n    df: true' },
  { name: 'ovs-gre', kind: 'gre', network: 'gre: { key: 77 }' },
  { name: 'ovs-gre-csum', kind: 'gre', network: 'gre: { key: 77, csum: true }' },
  { name: 'kernel-vxlan6', kind: 'vxlan', network: 'vxlan: { vni: 42 }', ipv6: true },
  { name: 'ovs-gre6', kind: 'gre', network: 'gre: { key: 77 }', ipv6: true },
  { name: 'ovs-geneve', kind: 'geneve', network: 'geneve: { vni: 42 }\n    df: true' },
  {
    name: 'ovs-geneve-opt',
    kind: 'geneve',
    network: 'geneve: { vni: 42, options: [ { class: 0x0102, type: 0x80, data: "00010002" } ] }\n    df: true',
  },
  { name: 'ovs-geneve6', kind: 'geneve', network: 'geneve: { vni: 42 }', ipv6: true },
];

const SRCPORT_MIN = 49152;
const SRCPORT_MAX = 65535;

function tunnelPackets(kind: Reference['kind'], records: PcapRecord[]): TunnelPacket[] {
  return kind === 'vxlan' ? vxlanPackets(records) : kind === 'geneve' ? genevePackets(records) : grePackets(records);
}

/** The packet as the view of its kind (each reference holds one kind only): VXLAN's and Geneve's UDP alike. */
const vx = (p: TunnelPacket) => p as VxlanPacket | GenevePacket;
const gr = (p: TunnelPacket) => p as GrePacket;

async function tsharkProblems(records: PcapRecord[], file: string): Promise<string> {
  writeFileSync(
    file,
    Buffer.concat([
      emitPcapHeader(LINKTYPE_ETHERNET),
      ...records.map((r) => emitPcapRecord(r.time * 1000, r.data, 0, r.data.length)),
    ]),
  );
  const r = await sh('tshark', ['-r', file, '-Y', '_ws.malformed || _ws.expert.severity == error']);
  expect(r.code, r.stderr).toBe(0);
  return r.stdout.trim();
}

for (const ref of REFERENCES) {
  describe(`vtepd against pcaps/${ref.name}.pcap`, () => {
    let lab: Lab;
    let reference: TunnelPacket[] = [];
    let ours: TunnelPacket[] = [];
    let oursRecords: PcapRecord[] = [];
    let pairs: { ref: TunnelPacket; ours: TunnelPacket }[] = [];

    beforeAll(async () => {
      const file = parsePcap(readFileSync(join(ROOT, 'pcaps', `${ref.name}.pcap`)));
      if (typeof file === 'number') throw new Error(`pcaps/${ref.name}.pcap is unreadable`);
      lab = await Lab.create(2);
      if (ref.ipv6) await lab.ipv6Underlay();
      const under = (i: number) => (ref.ipv6 ? lab.underlay6(i) : lab.underlay(i));
      reference = tunnelPackets(ref.kind, file.records).filter((p) => p.src === under(1));
      await lab.startDaemon(
        1,
        `
local: ${under(1)}
socket: ${lab.socket(1)}
networks:
  net:
    tap: tap0
    ${ref.network}
    remotes: [${under(2)}]
`,
      );
      await lab.exec(1, 'ping', ['-c', '1', '-W', '2', under(2)]); // underlay ARP (or neighbour discovery) out of the way
      const cap = await lab.libpcap(
        1,
        lab.dev(1),
        `src host ${under(1)} and (udp dst port 4789 or udp dst port 6081 or ip proto 47 or ip6 proto 47)`,
      );
      await lab.inject(
        1,
        'tap0',
        reference.map((p) => p.inner),
      );
      oursRecords = await cap.stop();
      ours = tunnelPackets(ref.kind, oursRecords);
      const unmatched = [...ours];
      pairs = reference.flatMap((r) => {
        const i = unmatched.findIndex((o) => o.inner.equals(r.inner));
        return i < 0 ? [] : [{ ref: r, ours: unmatched.splice(i, 1)[0] }];
      });
    }, 60_000);

    afterAll(async () => lab?.destroy());

    /** One named comparison: the field of every vtepd packet equals the reference's. */
    const same = (name: string, get: (p: TunnelPacket) => unknown) =>
      it(name, () => {
        expect(pairs.length).toBeGreaterThan(0);
        for (const { ref: r, ours: o } of pairs) expect(get(o), `${name} of ${describeFrame(r.inner)}`).toEqual(get(r));
      });

    it('sends each reference frame exactly once, and nothing else', () => {
      expect(reference.length).toBeGreaterThanOrEqual(6);
      expect(pairs.length).toBe(reference.length);
      expect(ours.length).toBe(reference.length);
    });
    same('inner frame, byte for byte', (p) => p.inner.toString('hex'));
    const v = ref.ipv6 ? 'IPv6' : 'IPv4';
    same(`outer ${v} version and header length`, (p) => [p.ip.version, p.ip.headerLen]);
    same(`outer ${v} ${ref.ipv6 ? 'traffic class' : 'DSCP/ECN'}`, (p) => p.ip.tos);
    same(`outer ${v} ${ref.ipv6 ? 'hop limit' : 'TTL'}`, (p) => p.ip.ttl);
    same(`outer ${v} ${ref.ipv6 ? 'next header' : 'protocol'}`, (p) => p.ip.protocol);
    same(`outer ${v} ${ref.ipv6 ? 'payload length' : 'total length'}`, (p) => p.ip.totalLen);
    same(`outer ${v} addresses`, (p) => [p.src, p.dst]);
    same(`outer ${v} not fragmented`, (p) => p.ip.fragment);
    if (ref.ipv6) {
      it('outer IPv6 flow label: non-zero, one per inner flow (legitimately different: the references send 0)', () => {
        const byFlow = new Map<string, number>();
        for (const { ours: o } of pairs) {
          expect(o.ip.flowLabel).not.toBe(0);
          const flow = flowOf(o);
          if (byFlow.has(flow)) expect(o.ip.flowLabel, flow).toBe(byFlow.get(flow));
          byFlow.set(flow, o.ip.flowLabel);
        }
      });
    } else {
      same('outer IPv4 DF', (p) => p.ip.df);
      it('outer IPv4 header checksum verifies on every packet (the identification legitimately differs)', () => {
        expect(oursRecords.length).toBe(reference.length);
        for (const r of oursRecords)
          expect(checksum(r.data, 14, (r.data[14] & 0x0f) * 4), r.data.toString('hex', 0, 34)).toBe(0);
      });
    }

    if (ref.kind !== 'gre') {
      same('UDP destination port', (p) => vx(p).udp.dstPort);
      same('UDP length', (p) => vx(p).udp.length);
      it(`UDP checksum: ${ref.ipv6 ? 'present and valid' : 'zero or valid'} on both sides (legitimately different)`, () => {
        for (const { ref: r, ours: o } of pairs) {
          for (const p of [r, o]) {
            if (ref.ipv6) expect(vx(p).udp.checksum, `UDP checksum of ${describeFrame(p.inner)}`).not.toBe(0);
            if (vx(p).udp.checksum !== 0)
              expect(udpChecksumOk(vx(p)), `UDP checksum of ${describeFrame(p.inner)}`).toBe(true);
          }
        }
      });
      if (ref.kind === 'vxlan') {
        same('VXLAN flags, reserved bits and VNI (the 8 header bytes)', (p) => tunnelHeader(p, 8).toString('hex'));
      } else {
        same('Geneve version, option length, O and C bits, protocol type, VNI, options (every header byte)', (p) =>
          tunnelHeader(p, vx(p).udp.length - 8 - p.inner.length).toString('hex'),
        );
        same('Geneve options', (p) => (p as GenevePacket).options);
      }
      same(`${ref.kind === 'vxlan' ? 'VXLAN' : 'Geneve'} VNI`, (p) => vx(p).vni);
      it('UDP source port: in range and stable per flow (legitimately different)', () => {
        const byFlow = new Map<string, number>();
        let repeated = 0;
        expect(pairs.length).toBeGreaterThan(0);
        for (const { ours: o } of pairs) {
          expect(vx(o).udp.srcPort).toBeGreaterThanOrEqual(SRCPORT_MIN);
          expect(vx(o).udp.srcPort).toBeLessThanOrEqual(SRCPORT_MAX);
          const flow = flowOf(o);
          if (byFlow.has(flow)) {
            expect(vx(o).udp.srcPort, flow).toBe(byFlow.get(flow));
            repeated++;
          }
          byFlow.set(flow, vx(o).udp.srcPort);
        }
        // Stability is only shown by a flow seen more than once.
        expect(repeated, 'packets of a flow seen before').toBeGreaterThan(0);
      });
    } else {
      same('GRE flags (C, K, S) and version', (p) => gr(p).gre.flags);
      same('GRE protocol type', (p) => gr(p).gre.protocol);
      same('GRE key', (p) => gr(p).key);
      same('GRE header length', (p) => gr(p).gre.headerLen);
      it('GRE checksum present and valid exactly where the reference has one', () => {
        for (const { ref: r, ours: o } of pairs) {
          expect(gr(o).gre.flags & GRE_FLAG_C).toBe(gr(r).gre.flags & GRE_FLAG_C);
          expect(gr(r).gre.flags & (GRE_FLAG_K | GRE_FLAG_S)).toBe(GRE_FLAG_K);
          if (gr(o).gre.flags & GRE_FLAG_C) expect(checksum(greBytes(o), 0, greBytes(o).length)).toBe(0);
        }
      });
    }

    it('tshark dissects every vtepd packet without a malformed-packet warning (and the reference too)', async () => {
      expect(oursRecords.length).toBeGreaterThan(0);
      expect(await tsharkProblems(oursRecords, join(lab.dir, 'ours.pcap'))).toBe('');
      const file = parsePcap(readFileSync(join(ROOT, 'pcaps', `${ref.name}.pcap`)));
      expect(await tsharkProblems(typeof file === 'number' ? [] : file.records, join(lab.dir, 'reference.pcap'))).toBe(
        '',
      );
    });
  });
}

/** The `len` tunnel header bytes (VXLAN's or Geneve's), just before the inner frame in the captured packet. */
function tunnelHeader(p: TunnelPacket, len: number): Buffer {
  return Buffer.from(p.inner.buffer, p.inner.byteOffset - len, len);
}

/** Whether a non-zero UDP checksum verifies over the pseudo-header, UDP header and payload. */
function udpChecksumOk(p: VxlanPacket | GenevePacket): boolean {
  const at = p.udp.length - p.inner.length; // UDP and tunnel headers in front of the inner frame
  const udp = Buffer.from(p.inner.buffer, p.inner.byteOffset - at, p.udp.length);
  const ip = Buffer.from(p.inner.buffer, p.inner.byteOffset - at - p.ip.headerLen, p.ip.headerLen);
  const pseudo =
    p.ip.version === 4
      ? pseudoHeaderSum(parseIpv4Address(p.src)!, parseIpv4Address(p.dst)!, IpProto.UDP, p.udp.length)
      : pseudoHeaderSum6(ip, IPV6_SRC, IPV6_DST, IpProto.UDP, p.udp.length);
  return checksum(udp, 0, udp.length, pseudo) === 0;
}

/** The GRE header and payload: the outer IPv4 payload. */
function greBytes(p: TunnelPacket): Buffer {
  const h = gr(p).gre.headerLen;
  return Buffer.from(p.inner.buffer, p.inner.byteOffset - h, h + p.inner.length);
}

/** What the flow hash covers, to tell whether two packets are of one flow. */
function flowOf(p: TunnelPacket): string {
  const f = p.inner;
  const ethertype = f.readUInt16BE(12);
  if (ethertype !== 0x0800) return f.subarray(0, 14).toString('hex');
  const ihl = (f[14] & 0x0f) * 4;
  const proto = f[23];
  const ports =
    proto === IpProto.TCP || proto === IpProto.UDP ? f.subarray(14 + ihl, 14 + ihl + 4).toString('hex') : '';
  return `${f.subarray(0, 14).toString('hex')} ${proto} ${f.subarray(26, 34).toString('hex')} ${ports}`;
}
