// Ethernet over GRE with key (RFC 2784/2890), protocol 0x6558, as Linux
// gretap and Open vSwitch gre ports send it; the key names the network.
//
// Sent and received on raw IP sockets of protocol 47 (no GRE module needed).
// The receiving socket sees every GRE packet reaching the host, IP header
// included, so anything that is not Ethernet over GRE with one of our keys,
// sent to our address, is dropped and counted. One sequence number per
// network, counted per frame: a flooded frame carries the same number to
// every remote, which sees gaps (unicast to others) but never a step back.
import { z } from 'zod';
import type { Batch } from '../datapath/batch.ts';
import { Drop } from '../switch/drop.ts';
import { ETH_HEADER_LEN } from '../wire/ethernet.ts';
import {
  emitGre,
  fillGreChecksum,
  greHeaderLen,
  GRE_BASE_LEN,
  GRE_FLAG_C,
  GRE_FLAG_K,
  GRE_FLAG_S,
  GRE_PROTO_TEB,
  newGreRepr,
  parseGre,
  type GreRepr,
} from '../wire/gre.ts';
import { IpProto, newIpv4Repr, parseIpv4, readU32 } from '../wire/ipv4.ts';
import type { OuterIpRepr } from '../wire/outer-ip.ts';
import { isV4Mapped } from '../wire/ip-address.ts';
import { bool, int } from './fields.ts';
import { writeOuterHeader } from './outer.ts';
import type { Decoded, Demux, Encap, ReceiveSocket, Resolved, SendSocket, Tunnel } from './tunnel.ts';
import { IdDemux, NO_SEQ } from './tunnel.ts';

export const greSchema = z.strictObject({
  key: int(0, 0xffff_ffff, 'a GRE key').describe('0–4294967295, instead of `vxlan`; unique among GRE networks'),
  csum: bool()
    .default(false)
    .describe('GRE checksum (C bit): computed on send; a received checksum is always verified'),
  seq: bool()
    .default(false)
    .describe(
      'GRE sequence numbers (S bit); received ones that step back are counted (`gre-seq-out-of-order`) and delivered',
    ),
});

/** With checksum, key and sequence number. */
export const GRE_MAX_HEADER_LEN = greHeaderLen(GRE_FLAG_C | GRE_FLAG_K | GRE_FLAG_S);

export interface GreSettings {
  kind: 'gre';
  key: number;
  csum: boolean;
  seq: boolean;
}

export function greSettings(raw: z.output<typeof greSchema>): GreSettings {
  return { kind: 'gre', key: raw.key, csum: raw.csum, seq: raw.seq };
}

function flagsOf(s: GreSettings): number {
  return GRE_FLAG_K | (s.csum ? GRE_FLAG_C : 0) | (s.seq ? GRE_FLAG_S : 0);
}

export class GreTunnel implements Tunnel {
  readonly kind = 'gre';
  readonly defaultDf = true; // as Open vSwitch sends it
  readonly supportsGroup = false;
  readonly groupPort = 0;
  readonly outerProtocol = IpProto.GRE;
  readonly identityPath = ['gre', 'key'];
  readonly receiveSocket: ReceiveSocket = { kind: 'raw', protocol: IpProto.GRE };
  readonly overhead: number;

  constructor(readonly settings: GreSettings) {
    this.overhead = greHeaderLen(flagsOf(settings)) + ETH_HEADER_LEN;
  }

  get id(): number {
    return this.settings.key;
  }

  get identity(): string {
    return `gre ${this.settings.key}`;
  }

  conflict(other: string): string {
    return `GRE key ${this.settings.key} is already used by network "${other}"`;
  }

  describe(): string {
    const s = this.settings;
    return `GRE key ${s.key}${s.csum ? ' csum' : ''}${s.seq ? ' seq' : ''}`;
  }

  newDemux<T>(ipv6 = false): Demux<T> {
    return ipv6 ? new Gre6Demux<T>() : new GreDemux<T>();
  }

  sendSocket(): SendSocket {
    return { kind: 'raw', protocol: IpProto.GRE };
  }

  encap(): Encap {
    return new GreEncap(this.settings);
  }

  /** An IPv4 raw socket hands over the IP header: nothing was stripped; an IPv6 one strips it. */
  writeStrippedHeaders(b: Batch, i: number, dst: Uint8Array, _dstPort: number, buf: Buffer, at: number): number {
    if (isV4Mapped(dst)) return 0;
    return writeOuterHeader(
      buf,
      at,
      b.peer,
      i * 16,
      dst,
      0,
      IpProto.GRE,
      b.ttl[i],
      b.tos[i],
      false,
      Math.min(b.len[i], b.room),
    );
  }

  wrapReceived(frame: Buffer, from: Uint8Array, to: Uint8Array, buf: Buffer, at: number): number {
    const flags = flagsOf(this.settings);
    const greLen = greHeaderLen(flags);
    // As the socket hands it over: an IPv6 raw socket without the IP header.
    const ip = isV4Mapped(from)
      ? writeOuterHeader(buf, at, from, 0, to, 0, IpProto.GRE, 64, 0, true, greLen + frame.length)
      : 0;
    emitGre({ flags, protocol: GRE_PROTO_TEB, key: this.settings.key, seq: 0, headerLen: greLen }, buf, at + ip);
    frame.copy(buf, at + ip + greLen);
    if (this.settings.csum) fillGreChecksum(buf, at + ip, greLen + frame.length);
    return ip + greLen + frame.length;
  }
}

export class GreEncap implements Encap {
  readonly headerLen: number;
  readonly kernelHeaderLen = 0;
  /** The header every packet gets, its sequence number advancing (with seq). */
  private readonly header: GreRepr;

  constructor(private readonly s: GreSettings) {
    const flags = flagsOf(s);
    this.headerLen = greHeaderLen(flags);
    this.header = { flags, protocol: GRE_PROTO_TEB, key: s.key, seq: 0, headerLen: this.headerLen };
  }

  write(buf: Buffer, off: number, len: number): number {
    const start = off - this.headerLen;
    emitGre(this.header, buf, start);
    if (this.s.seq) this.header.seq = (this.header.seq + 1) >>> 0;
    if (this.s.csum) fillGreChecksum(buf, start, this.headerLen + len);
    return 0;
  }

  writeKernelHeader(): void {}

  clone(): Encap {
    const e = new GreEncap(this.s);
    e.header.seq = this.header.seq;
    return e;
  }

  /** Our flags and protocol, and our key (the 8 bytes RFC 792 quotes at least hold it, but for a checksum in front). */
  sentThis(buf: Uint8Array, off: number, end: number): boolean {
    const keyAt = off + GRE_BASE_LEN + (this.header.flags & GRE_FLAG_C ? 4 : 0);
    if (end - keyAt < 4) return false;
    if (
      ((buf[off] << 8) | buf[off + 1]) !== this.header.flags ||
      ((buf[off + 2] << 8) | buf[off + 3]) !== GRE_PROTO_TEB
    )
      return false;
    return readU32(buf, keyAt) === this.s.key;
  }
}

const outer = newIpv4Repr();
const gre = newGreRepr();

/** Packets of the raw GRE socket, outer IPv4 header included, by key. */
export class GreDemux<T> extends IdDemux<T> {
  resolve(b: Batch, i: number, out: Resolved<T>): number {
    const buf = b.arena;
    const off = b.start(i);
    const len = b.len[i];
    // The kernel checked the header, and delivers to a raw socket bound to `local` only what is addressed to it.
    const d = parseIpv4(buf, off, off + len, outer, false);
    if (d !== Drop.None) return d;
    return resolveGre(this.byId, buf, off + outer.headerLen, off + outer.totalLen, outer.tos & 3, i, out);
  }
}

/**
 * Packets of the raw GRE socket over IPv6, which starts at the GRE header:
 * an IPv6 raw socket never hands over the IPv6 header. The kernel delivers to
 * a socket bound to `local` only what is addressed to it; the traffic class
 * comes beside each packet.
 */
export class Gre6Demux<T> extends IdDemux<T> {
  resolve(b: Batch, i: number, out: Resolved<T>): number {
    const off = b.start(i);
    return resolveGre(this.byId, b.arena, off, off + b.len[i], b.tos[i] & 3, i, out);
  }
}

/** The GRE header at buf[g, end), by key, into slot i of `out`; 0 (Drop.None) or why it is not ours. */
function resolveGre<T>(
  byId: Map<number, T>,
  buf: Buffer,
  g: number,
  end: number,
  ecn: number,
  i: number,
  out: Resolved<T>,
): number {
  const e = parseGre(buf, g, end, gre);
  if (e !== Drop.None) return e;
  if (gre.protocol !== GRE_PROTO_TEB) return Drop.BadProtocol;
  const target = gre.flags & GRE_FLAG_K ? byId.get(gre.key) : undefined;
  if (target === undefined) return Drop.UnknownKey;
  const payload = g + gre.headerLen;
  out.target[i] = target;
  out.off[i] = payload;
  out.len[i] = end - payload;
  out.wireLen[i] = end - g;
  out.seq[i] = gre.flags & GRE_FLAG_S ? gre.seq : NO_SEQ;
  out.ecn[i] = ecn;
  return Drop.None;
}

// ------------------------------------------------------------------ captures

/** The GRE part of a tunnel packet seen on an underlay link. */
export interface GreView {
  kind: 'gre';
  gre: GreRepr;
  key: number;
}

/** Decodes the GRE header at frame[l4, end) of an IPv4 packet; the inner frame's offset (its end in `out`), or -1. */
export function decodeGre(frame: Buffer, ip: OuterIpRepr, l4: number, end: number, out: Decoded<GreView>): number {
  if (ip.protocol !== IpProto.GRE) return -1;
  const g = newGreRepr();
  if (parseGre(frame, l4, end, g) !== Drop.None) return -1;
  out.view = { kind: 'gre', gre: g, key: g.key };
  out.innerEnd = end;
  return l4 + g.headerLen;
}

export function describeGre(v: GreView, src: string, dst: string, ip: OuterIpRepr): string {
  return (
    `${src} > ${dst} ${ip.version === 6 ? 'hlim' : 'ttl'} ${ip.ttl}${ip.df ? ' DF' : ''} GRE flags ` +
    `0x${v.gre.flags.toString(16)} proto 0x${v.gre.protocol.toString(16)} key ${v.key}`
  );
}
