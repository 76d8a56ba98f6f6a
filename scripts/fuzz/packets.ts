// The packets a fuzz sender sends: structure-aware mutations of valid ones for
// each ingress, or a MAC flood, with what the oracle says of each (tunnels).
import { ipv4Header, mutate, type Rng, validFrame, type Hosts } from './generate.ts';
import { geneveDelivered, greDelivered, vxlanDelivered, type FuzzNetworks } from './oracle.ts';

export type Mode = 'vxlan' | 'geneve' | 'gre' | 'tap' | 'flood-vxlan' | 'flood-tap';

export interface SenderNetworks extends FuzzNetworks {
  tapMtu: number;
  maxMacs: number;
}

export interface Packet {
  data: Buffer;
  /** The outer TOS to send it with (VXLAN: the socket writes the outer header). */
  tos: number;
  /** Tunnels: 1 if it must reach the network's TAP, else 0. */
  expect: number;
}

/**
 * Source MACs the frames use: made up, and several bytes away from the real
 * hosts' (02:00:00:00:00:0N, and the TAP's), so that no single mutation turns
 * one into a real host's MAC: seen from elsewhere, it would move there, and the
 * probe (rightly) stop.
 */
const SOURCES = Array.from({ length: 16 }, (_, i) =>
  Buffer.from(`0ef5a55a${i.toString(16).padStart(2, '0')}a5`, 'hex'),
);
const GROUPS = [
  Buffer.from('ffffffffffff', 'hex'),
  Buffer.from('01005e000001', 'hex'),
  Buffer.from('333300000001', 'hex'),
];

export class PacketSource {
  private readonly hosts: Hosts;
  private readonly flood: boolean;
  private readonly kind: 'vxlan' | 'geneve' | 'gre' | 'tap';

  /** `from`, `to`: the outer IPv4 addresses (4 bytes) of GRE; `realMacs`: the lab's hosts, as destinations only. */
  constructor(
    mode: Mode,
    private readonly nets: SenderNetworks,
    private readonly from: Buffer,
    private readonly to: Buffer,
    realMacs: Buffer[],
  ) {
    this.flood = mode.startsWith('flood-');
    this.kind = mode.replace('flood-', '') as 'vxlan' | 'geneve' | 'gre' | 'tap';
    this.hosts = {
      macs: [...SOURCES, ...realMacs],
      // Not the overlay's own addresses: no host answers these, so the fuzz makes no traffic of its own.
      ipv4: Array.from({ length: 8 }, (_, i) => Buffer.from([192, 168, 200, i + 1])),
    };
  }

  /** A broadcast ARP request from a random unicast MAC: what a MAC flood is made of. */
  private floodPacket(rng: Rng): Packet {
    const src = rng.bytes(6);
    src[0] = (src[0] & 0xfc) | 0x02;
    const f = Buffer.concat([
      Buffer.from('ffffffffffff', 'hex'),
      src,
      Buffer.from('08060001080006040001', 'hex'),
      src,
      this.hosts.ipv4[0],
      Buffer.alloc(6),
      this.hosts.ipv4[1],
      Buffer.alloc(18),
    ]);
    const data =
      this.kind === 'vxlan'
        ? Buffer.concat([
            Buffer.from([
              0x08,
              0,
              0,
              0,
              (this.nets.vni >> 16) & 255,
              (this.nets.vni >> 8) & 255,
              this.nets.vni & 255,
              0,
            ]),
            f,
          ])
        : f;
    return { data, tos: 0, expect: 0 };
  }

  /**
   * A Geneve datagram: up to three options among the network's own critical
   * one, critical and non-critical ones it does not know and random ones, an
   * option length that is right or not, the O and C bits, another version or
   * protocol now and then, and mutations anywhere, in the header or inside.
   */
  private genevePacket(rng: Rng, inner: Buffer, maxFrame: number): Buffer {
    const pool = [
      () => Buffer.from(this.nets.geneveKnown[0] + '01' + '00010002', 'hex'),
      () => Buffer.from('00ff8100deadbeef', 'hex').subarray(0, 4 + 4 * rng.int(2)),
      () => Buffer.concat([Buffer.from([0x01, 0x02, rng.int(0x80), 1]), rng.bytes(4)]),
      () => {
        const o = rng.bytes(4 + 4 * rng.int(3));
        o[3] = (o[3] & 0xe0) | ((o.length - 4) / 4);
        return o;
      },
    ];
    const opts = Buffer.concat(Array.from({ length: rng.int(4) }, () => rng.pick(pool)()));
    const critical = opts.length > 0 && rng.chance(0.5);
    const header = Buffer.from([
      (rng.chance(0.02) ? rng.int(4) << 6 : 0) | ((rng.chance(0.05) ? rng.int(64) * 4 : opts.length) / 4),
      (rng.chance(0.03) ? 0x80 : 0) | (critical ? 0x40 : 0),
      0x65,
      0x58,
      (this.nets.geneveVni >> 16) & 255,
      (this.nets.geneveVni >> 8) & 255,
      this.nets.geneveVni & 255,
      0,
    ]);
    if (rng.chance(0.03)) header.writeUInt16BE(rng.pick([0x0800, 0x86dd, rng.int(65536)]), 2);
    if (rng.chance(0.05)) header.writeUIntBE(rng.int(1 << 24), 4, 3);
    const head = Buffer.concat([header, opts]);
    const r = rng.int(10);
    if (r < 3) return mutate(rng, Buffer.concat([head, inner]), maxFrame + head.length); // anywhere
    if (r < 5) return Buffer.concat([head, mutate(rng, inner, maxFrame)]); // the inner frame only
    if (r < 6) return Buffer.concat([mutate(rng, head, head.length + 8), inner]); // the header only
    return Buffer.concat([head, inner]);
  }

  /** One packet of this kind and whether it must arrive (tunnels), or the tunnel packets it makes (TAP). */
  next(rng: Rng): Packet {
    if (this.flood) return this.floodPacket(rng);
    const src = rng.chance(0.03) ? rng.pick([Buffer.alloc(6), Buffer.from('0300000000aa', 'hex')]) : rng.pick(SOURCES);
    const dst = rng.chance(0.3) ? rng.pick(GROUPS) : rng.pick(this.hosts.macs);
    if (this.kind === 'tap') {
      // AF_PACKET takes 14 to MTU + 18 bytes on a TAP: what a host can send.
      let f = validFrame(rng, this.hosts, src, dst, this.nets.tapMtu + 14);
      if (rng.chance(0.5)) f = mutate(rng, f, this.nets.tapMtu + 14);
      f = f.subarray(0, this.nets.tapMtu + 14);
      if (f.length < 14) f = Buffer.concat([f, Buffer.alloc(14 - f.length)]);
      return { data: f, tos: 0, expect: -1 };
    }
    const maxFrame =
      this.kind === 'vxlan'
        ? this.nets.vxlanMaxFrame
        : this.kind === 'geneve'
          ? this.nets.geneveMaxFrame
          : this.nets.greMaxFrame;
    const inner = validFrame(rng, this.hosts, src, dst, maxFrame + (rng.chance(0.05) ? 60 : 0));
    const outerTos = rng.chance(0.2) ? rng.int(256) : 0;
    if (this.kind === 'vxlan') {
      const header = Buffer.from([
        0x08,
        0,
        0,
        0,
        (this.nets.vni >> 16) & 255,
        (this.nets.vni >> 8) & 255,
        this.nets.vni & 255,
        0,
      ]);
      if (rng.chance(0.05)) header.writeUIntBE(rng.int(1 << 24), 4, 3);
      let p: Buffer = Buffer.concat([header, inner]);
      const r = rng.int(10);
      if (r < 3)
        p = mutate(rng, p, maxFrame + 8); // anywhere
      else if (r < 5)
        p = Buffer.concat([header, mutate(rng, inner, maxFrame)]); // the inner frame only
      else if (r < 6) p = Buffer.concat([mutate(rng, header, 8), inner]); // the header only
      return { data: p, tos: outerTos, expect: vxlanDelivered(p, outerTos, this.nets) ? 1 : 0 };
    }
    if (this.kind === 'geneve') {
      const p = this.genevePacket(rng, inner, maxFrame);
      return { data: p, tos: outerTos, expect: geneveDelivered(p, outerTos, this.nets) ? 1 : 0 };
    }
    // GRE: flags C, K, S in every mix (or none), the key right or not, a payload mutated or not,
    // behind an outer header the receiving kernel takes (options it accepts, any TOS and TTL).
    const flags =
      rng.pick([0x2000, 0x2000, 0x3000, 0xa000, 0xb000, 0x0000, 0x8000]) |
      (rng.chance(0.03) ? rng.pick([1, 0x4000, 0x0080, 0x0800]) : 0);
    const hl = 4 + (flags & 0x8000 ? 4 : 0) + (flags & 0x2000 ? 4 : 0) + (flags & 0x1000 ? 4 : 0);
    const g = Buffer.alloc(hl);
    g.writeUInt16BE(flags, 0);
    g.writeUInt16BE(rng.chance(0.05) ? 0x0800 : 0x6558, 2);
    let at = 4 + (flags & 0x8000 ? 4 : 0);
    if (flags & 0x2000) {
      g.writeUInt32BE(rng.chance(0.1) ? rng.u32() : this.nets.greKey, at);
      at += 4;
    }
    if (flags & 0x1000) g.writeUInt32BE(rng.u32(), at);
    let payload: Buffer = Buffer.concat([g, rng.chance(0.3) ? mutate(rng, inner, maxFrame) : inner]);
    if (flags & 0x8000) {
      let c = 0;
      for (let i = 0; i < payload.length; i += 2) c += (payload[i] << 8) | (payload[i + 1] ?? 0);
      while (c > 0xffff) c = (c & 0xffff) + (c >>> 16);
      if (!rng.chance(0.1)) payload.writeUInt16BE(~c & 0xffff, 4);
    }
    if (rng.chance(0.1)) payload = mutate(rng, payload, maxFrame + hl);
    const options = rng.chance(0.2)
      ? rng.pick([
          Buffer.from('07' + '0b' + '04' + '00'.repeat(8) + '00', 'hex'),
          Buffer.from('01010100', 'hex'),
          Buffer.from('44' + '0c' + '05' + '00' + '00'.repeat(8), 'hex'),
        ])
      : undefined;
    const ip = ipv4Header(47, this.from, this.to, 0, {
      options,
      tos: outerTos,
      ttl: 1 + rng.int(255),
      id: rng.int(65536),
    });
    payload = payload.subarray(0, 1500 - ip.length);
    const p = Buffer.concat([ip, payload]);
    p.writeUInt16BE(p.length, 2);
    return { data: p, tos: 0, expect: greDelivered(p, this.nets) ? 1 : 0 };
  }
}
