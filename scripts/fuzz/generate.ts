// Packets for the fuzzer: valid ones of every kind a VTEP meets, and
// structure-aware mutations of them (each header field, every length, options,
// flags, truncation, VLAN stacks, IPv4 options, IPv6 extension headers, TCP
// options, bad and partial checksums, fragments), plus random bytes. All from
// one seeded generator, so that a failing batch can be replayed.
import { checksum } from '../../src/wire/checksum.ts';

/** sfc32: fast on 32-bit integers, seedable, good enough to pick mutations. */
export class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d = 1;

  constructor(seed: number) {
    this.a = 0x9e3779b9;
    this.b = seed >>> 0;
    this.c = Math.floor(seed / 0x1_0000_0000) >>> 0;
    for (let i = 0; i < 15; i++) this.u32();
  }

  u32(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }

  /** An integer in [0, n). */
  int(n: number): number {
    return this.u32() % n;
  }

  chance(p: number): boolean {
    return this.u32() / 0x1_0000_0000 < p;
  }

  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)];
  }

  bytes(n: number): Buffer {
    const b = Buffer.alloc(n);
    for (let i = 0; i < n; i++) b[i] = this.u32() & 0xff;
    return b;
  }
}

export interface Hosts {
  /** MACs a frame may come from or go to (unicast, locally administered). */
  macs: Buffer[];
  /** IPv4 addresses of the overlay, as 4 bytes. */
  ipv4: Buffer[];
}

const ETH_IPV4 = 0x0800;
const ETH_ARP = 0x0806;
const ETH_VLAN = 0x8100;
const ETH_QINQ = 0x88a8;
const ETH_IPV6 = 0x86dd;

function u16(v: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(v & 0xffff);
  return b;
}

function ones(sum: number): number {
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return sum;
}

/** The IPv4 header (with `options`) for `payload` of `proto`, checksum filled in. */
export function ipv4Header(
  proto: number,
  src: Buffer,
  dst: Buffer,
  payloadLen: number,
  o: { options?: Buffer; tos?: number; ttl?: number; frag?: number; id?: number } = {},
): Buffer {
  const options = o.options ?? Buffer.alloc(0);
  const h = Buffer.alloc(20 + options.length);
  h[0] = 0x40 | (h.length / 4);
  h[1] = o.tos ?? 0;
  h.writeUInt16BE(h.length + payloadLen, 2);
  h.writeUInt16BE(o.id ?? 0, 4);
  h.writeUInt16BE(o.frag ?? 0x4000, 6);
  h[8] = o.ttl ?? 64;
  h[9] = proto;
  src.copy(h, 12);
  dst.copy(h, 16);
  options.copy(h, 20);
  h.writeUInt16BE(checksum(h, 0, h.length), 10);
  return h;
}

/** A TCP or UDP segment with a correct checksum over the IPv4 pseudo-header (or partial / wrong when asked). */
function l4(
  proto: 6 | 17,
  src: Buffer,
  dst: Buffer,
  payload: Buffer,
  rng: Rng,
  csum: 'good' | 'partial' | 'bad',
): Buffer {
  let seg: Buffer;
  let field: number;
  if (proto === 17) {
    seg = Buffer.concat([u16(rng.int(65536)), u16(rng.int(65536)), u16(8 + payload.length), u16(0), payload]);
    field = 6;
  } else {
    // Options, sometimes: MSS, window scale, SACK permitted, timestamps, NOPs, or junk.
    const opts = rng.chance(0.5)
      ? Buffer.alloc(0)
      : rng.pick([
          Buffer.from('020405b4', 'hex'),
          Buffer.from('01030307', 'hex'),
          Buffer.from('0402' + '0101', 'hex'),
          Buffer.from('080a0000000100000000' + '0101', 'hex'),
          rng.bytes(4 * (1 + rng.int(10))),
        ]);
    const hl = 20 + opts.length;
    seg = Buffer.concat([
      u16(rng.int(65536)),
      u16(rng.int(65536)),
      rng.bytes(8),
      Buffer.from([(hl / 4) << 4, rng.int(256)]),
      u16(rng.int(65536)),
      u16(0),
      u16(0),
      opts,
      payload,
    ]);
    field = 16;
  }
  const pseudo =
    src.readUInt16BE(0) + src.readUInt16BE(2) + dst.readUInt16BE(0) + dst.readUInt16BE(2) + proto + seg.length;
  // What a stack leaves for a NIC: the pseudo-header's folded sum, not complemented (Linux: ~tcp_v4_check(len, s, d, 0)).
  if (csum === 'partial') seg.writeUInt16BE(ones(pseudo), field);
  else {
    let c = checksum(seg, 0, seg.length, pseudo);
    if (proto === 17 && c === 0) c = 0xffff;
    seg.writeUInt16BE(csum === 'bad' ? c ^ 0x5a5a : c, field);
  }
  return seg;
}

/** A valid frame of one of the kinds a VTEP carries, from `src` to `dst`. */
export function validFrame(rng: Rng, h: Hosts, src: Buffer, dst: Buffer, maxLen: number): Buffer {
  const kind = rng.int(8);
  const sip = rng.pick(h.ipv4);
  const dip = rng.pick(h.ipv4);
  const eth = (type: number) => Buffer.concat([dst, src, u16(type)]);
  let payload: Buffer;
  let type = ETH_IPV4;
  switch (kind) {
    case 0: {
      // ARP request or reply, gratuitous sometimes
      type = ETH_ARP;
      const op = rng.int(2) + 1;
      payload = Buffer.concat([
        Buffer.from('0001080006040000', 'hex'),
        src,
        sip,
        op === 1 ? Buffer.alloc(6) : dst,
        rng.chance(0.2) ? sip : dip,
      ]);
      payload.writeUInt16BE(op, 6);
      break;
    }
    case 1: {
      // ICMP echo
      const body = Buffer.concat([Buffer.from([8, 0, 0, 0]), rng.bytes(4 + rng.int(64))]);
      body.writeUInt16BE(checksum(body, 0, body.length), 2);
      payload = Buffer.concat([ipv4Header(1, sip, dip, body.length, { tos: rng.int(4) }), body]);
      break;
    }
    case 2:
    case 3: {
      // TCP or UDP, sometimes with IPv4 options, sometimes partial or bad checksums, sometimes fragments
      const proto = kind === 2 ? 6 : 17;
      const csum = rng.chance(0.1) ? 'partial' : rng.chance(0.1) ? 'bad' : 'good';
      const seg = l4(proto, sip, dip, rng.bytes(rng.int(Math.max(1, maxLen - 120))), rng, csum);
      const options = rng.chance(0.2)
        ? rng.pick([
            Buffer.from('07070400000000' + '00', 'hex'),
            Buffer.from('01010100', 'hex'),
            Buffer.from('44' + '0c' + '05' + '00' + '00000000' + '00000000', 'hex'),
          ])
        : undefined;
      const frag = rng.chance(0.1) ? rng.pick([0x2000, 0x2010, 0x0010]) : 0x4000;
      payload = Buffer.concat([ipv4Header(proto, sip, dip, seg.length, { options, tos: rng.int(4), frag }), seg]);
      break;
    }
    case 4: {
      // IPv6 with extension headers, or an ND message
      type = ETH_IPV6;
      const ext = rng.chance(0.5)
        ? Buffer.concat([Buffer.from([58, 0]), Buffer.from('010400000000', 'hex')])
        : Buffer.alloc(0); // hop-by-hop, PadN
      const icmp = Buffer.concat([Buffer.from([rng.pick([128, 135, 136]), 0, 0, 0]), rng.bytes(20 + rng.int(40))]);
      const hdr = Buffer.alloc(40);
      hdr[0] = 0x60 | rng.int(4);
      hdr.writeUInt16BE(ext.length + icmp.length, 4);
      hdr[6] = ext.length > 0 ? 0 : 58;
      hdr[7] = rng.pick([1, 64, 255]);
      Buffer.from('fd000100000000000000000000000001', 'hex').copy(hdr, 8);
      Buffer.from('ff020000000000000000000000000001', 'hex').copy(hdr, 24);
      payload = Buffer.concat([hdr, ext, icmp]);
      break;
    }
    case 5: {
      // VLAN-tagged IPv4, or a stack of tags
      const tags = 1 + rng.int(3);
      const inner = Buffer.concat([ipv4Header(17, sip, dip, 8), u16(1), u16(2), u16(8), u16(0)]);
      let body = Buffer.concat([u16(ETH_IPV4), inner]);
      for (let t = 0; t < tags; t++)
        body = Buffer.concat([u16(t === tags - 1 ? ETH_QINQ : ETH_VLAN), u16(rng.int(4096)), body]);
      return pad(Buffer.concat([dst, src, body]));
    }
    case 6: // an unknown ethertype with random payload
      type = 0x88b5;
      payload = rng.bytes(rng.int(maxLen - 14));
      break;
    default: // a large frame, up to the limit
      payload = Buffer.concat([ipv4Header(17, sip, dip, maxLen - 34), rng.bytes(maxLen - 34)]);
  }
  return pad(Buffer.concat([eth(type), payload]).subarray(0, maxLen));
}

/** Ethernet's minimum of 60 bytes before the FCS. */
function pad(f: Buffer): Buffer {
  return f.length >= 60 ? f : Buffer.concat([f, Buffer.alloc(60 - f.length)]);
}

/** One mutation of `b` (a copy): a bit flip, a byte set, a truncation, growth, a field of 2 or 4 bytes set to an edge value. */
export function mutate(rng: Rng, b: Buffer, maxLen: number): Buffer {
  const out = Buffer.from(b);
  switch (rng.int(7)) {
    case 0:
      if (out.length > 0) out[rng.int(out.length)] ^= 1 << rng.int(8);
      return out;
    case 1:
      if (out.length > 0) out[rng.int(out.length)] = rng.pick([0, 0xff, 0x7f, 0x80, 1, rng.int(256)]);
      return out;
    case 2:
      return out.subarray(0, rng.int(out.length + 1));
    case 3:
      return Buffer.concat([out, rng.bytes(rng.int(Math.max(1, maxLen + 100 - out.length)))]);
    case 4:
      if (out.length >= 2)
        out.writeUInt16BE(
          rng.pick([0, 1, 0xffff, 0x7fff, 0x8000, out.length, out.length + 1, rng.int(65536)]),
          rng.int(out.length - 1),
        );
      return out;
    case 5:
      if (out.length >= 4) out.writeUInt32BE(rng.pick([0, 0xffffffff, 0x80000000, rng.u32()]), rng.int(out.length - 3));
      return out;
    default:
      return rng.bytes(rng.int(maxLen + 100));
  }
}
