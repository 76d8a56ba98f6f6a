// What VXLAN and Geneve share: Ethernet in UDP, a header of fixed length per
// network in front of the frame (the VNI's, and Geneve's configured options),
// a source port from the inner flow's hash.
//
// Sent either on a raw UDP socket, writing the UDP header ourselves with a
// source port from the flow hash as the kernel does, or (with offloads) on
// "lanes": UDP sockets bound to ports of the source range, the flow hash
// picking the socket, so that runs of datagrams can go out as one UDP GSO
// send. One flow keeps one source port either way. Received on a UDP socket
// bound to local:port, shared by every network on that port; the VNI picks
// the network. BUM frames may go to a multicast group instead of each remote.
import { z } from 'zod';
import type { Batch } from '../datapath/batch.ts';
import { Drop } from '../switch/drop.ts';
import { ETH_HEADER_LEN } from '../wire/ethernet.ts';
import { flowHash, flowHashCovered, sourcePort } from '../wire/flow-hash.ts';
import { IpProto } from '../wire/ipv4.ts';
import type { OuterIpRepr } from '../wire/outer-ip.ts';
import { emitUdp, newUdpRepr, parseUdp, UDP_HEADER_LEN, type UdpRepr } from '../wire/udp.ts';
import { expected, udpPort } from './fields.ts';
import { writeOuterHeader } from './outer.ts';
import type { Demux, Encap, ReceiveSocket, Resolved, SendSocket, Tunnel } from './tunnel.ts';
import { NO_SEQ } from './tunnel.ts';

/** RFC 7348 section 5 and RFC 8926 section 3.3 recommend the dynamic/private range for the source port. */
export const DEFAULT_SRCPORT: [number, number] = [49152, 65535];

export const srcportSchema = z
  .tuple([udpPort, udpPort], expected('expected [min, max] UDP source ports, such as [49152, 65535]'))
  .refine(([a, b]) => a <= b, { error: 'the first port must not be above the second' })
  .default(DEFAULT_SRCPORT)
  .describe('range of the source port, chosen by a hash of the inner flow (RFC 7348 §5)');

export interface UdpSettings {
  vni: number;
  port: number;
  srcPortMin: number;
  srcPortMax: number;
}

export abstract class UdpTunnel<S extends UdpSettings> implements Tunnel {
  abstract readonly kind: string;
  /** The encapsulation's name in the log: "VXLAN". */
  protected abstract readonly label: string;
  readonly defaultDf = false; // as the kernel's VXLAN and Geneve devices
  readonly supportsGroup = true;
  readonly outerProtocol = IpProto.UDP;
  readonly overhead: number;

  /** `header`: the tunnel header every packet of this network carries in front of its frame. */
  constructor(
    readonly settings: S,
    readonly header: Buffer,
  ) {
    this.overhead = UDP_HEADER_LEN + header.length + ETH_HEADER_LEN;
  }

  get identityPath(): readonly string[] {
    return [this.kind, 'vni'];
  }

  get id(): number {
    return this.settings.vni;
  }

  get identity(): string {
    return `${this.kind} ${this.settings.port}/${this.settings.vni}`;
  }

  get groupPort(): number {
    return this.settings.port;
  }

  get receiveSocket(): ReceiveSocket {
    return { kind: 'udp', port: this.settings.port };
  }

  conflict(other: string): string {
    return `VNI ${this.settings.vni} on port ${this.settings.port} is already used by network "${other}"`;
  }

  describe(): string {
    return `${this.label} VNI ${this.settings.vni} port ${this.settings.port}`;
  }

  abstract newDemux<T>(ipv6?: boolean): Demux<T>;

  sendSocket(offload: boolean): SendSocket {
    const s = this.settings;
    return offload
      ? { kind: 'udp-lanes', dstPort: s.port, srcMin: s.srcPortMin, srcMax: s.srcPortMax }
      : { kind: 'raw', protocol: IpProto.UDP };
  }

  encap(lanePorts: readonly number[]): Encap {
    return new UdpEncap(this.settings, this.header, lanePorts);
  }

  wrapReceived(frame: Buffer, _from: Uint8Array, _to: Uint8Array, buf: Buffer, at: number): number {
    this.header.copy(buf, at); // a UDP socket hands over the UDP payload
    frame.copy(buf, at + this.header.length);
    return this.header.length + frame.length;
  }

  writeStrippedHeaders(b: Batch, i: number, dst: Uint8Array, dstPort: number, buf: Buffer, at: number): number {
    const len = Math.min(b.len[i], b.room);
    const ip = writeOuterHeader(
      buf,
      at,
      b.peer,
      i * 16,
      dst,
      0,
      IpProto.UDP,
      b.ttl[i],
      b.tos[i],
      false,
      UDP_HEADER_LEN + len,
    );
    emitUdp(b.port[i], dstPort, len, buf, at + ip);
    return ip + UDP_HEADER_LEN;
  }
}

/**
 * On a raw UDP socket (no lanes) it writes the UDP header too, with a source
 * port from the flow hash; on lanes it writes the tunnel header only, and the
 * flow hash picks the lane.
 */
export class UdpEncap implements Encap {
  readonly headerLen: number;
  readonly kernelHeaderLen: number;
  private readonly lanes: number;

  constructor(
    private readonly s: UdpSettings,
    private readonly header: Buffer,
    private readonly lanePorts: readonly number[],
  ) {
    this.lanes = lanePorts.length;
    this.headerLen = this.lanes > 0 ? header.length : UDP_HEADER_LEN + header.length;
    this.kernelHeaderLen = this.lanes > 0 ? UDP_HEADER_LEN : 0;
  }

  write(buf: Buffer, off: number, len: number, hash = flowHash(buf, off, len)): number {
    let at = off - this.header.length;
    // A few bytes: a loop, not a copy that would make a view per packet.
    const h = this.header;
    for (let k = 0; k < h.length; k++) buf[at + k] = h[k];
    if (this.lanes > 0) return sourcePort(hash, 0, this.lanes - 1);
    at -= UDP_HEADER_LEN;
    emitUdp(sourcePort(hash, this.s.srcPortMin, this.s.srcPortMax), this.s.port, h.length + len, buf, at);
    return 0;
  }

  writeKernelHeader(buf: Buffer, at: number, lane: number, len: number): void {
    if (this.lanes > 0) emitUdp(this.lanePorts[lane], this.s.port, len, buf, at);
  }

  clone(): Encap {
    return new UdpEncap(this.s, this.header, this.lanePorts);
  }

  /**
   * To our port, from a source port of ours: a lane's (random per start), or
   * one of the range without lanes; as much of the tunnel header as is quoted
   * is the one this network sends. When the quote holds the inner frame's
   * flow fields, the source port must be the one its flow hash (seeded per
   * start) gives: a port in the range is not enough then.
   */
  sentThis(buf: Uint8Array, off: number, end: number): boolean {
    if (end - off < UDP_HEADER_LEN) return false;
    const src = (buf[off] << 8) | buf[off + 1];
    if (((buf[off + 2] << 8) | buf[off + 3]) !== this.s.port) return false;
    if (this.lanes > 0 ? !this.lanePorts.includes(src) : src < this.s.srcPortMin || src > this.s.srcPortMax)
      return false;
    const h = this.header;
    const at = off + UDP_HEADER_LEN;
    for (let k = 0; k < h.length && at + k < end; k++) if (buf[at + k] !== h[k]) return false;
    const inner = at + h.length;
    if (inner >= end || !flowHashCovered(buf, inner, end - inner)) return true; // RFC 792's 8 bytes: ports only
    const hash = flowHash(buf, inner, end - inner);
    return (
      src ===
      (this.lanes > 0
        ? this.lanePorts[sourcePort(hash, 0, this.lanes - 1)]
        : sourcePort(hash, this.s.srcPortMin, this.s.srcPortMax))
    );
  }
}

/** Fills slot i of `out`: a datagram of `len` bytes at `off` whose inner frame follows `headerLen` bytes of header. */
export function resolvedDatagram<T>(
  out: Resolved<T>,
  b: Batch,
  i: number,
  target: T,
  off: number,
  headerLen: number,
  len: number,
): number {
  out.target[i] = target;
  out.off[i] = off + headerLen;
  out.len[i] = len - headerLen;
  out.wireLen[i] = len + UDP_HEADER_LEN; // the socket handed over the UDP payload
  out.seq[i] = NO_SEQ;
  out.ecn[i] = b.tos[i] & 3;
  return Drop.None;
}

/** The UDP header at frame[l4, end) of a captured packet if it is a datagram to `port`. */
export function decodeDatagram(frame: Buffer, ip: OuterIpRepr, l4: number, end: number, port: number) {
  if (ip.protocol !== IpProto.UDP) return undefined;
  const udp = newUdpRepr();
  return parseUdp(frame, l4, end, udp) === Drop.None && udp.dstPort === port ? udp : undefined;
}

/** The outer ends of a captured datagram, for one line: "10.0.0.1:49152 > 10.0.0.2:4789 ttl 64". */
export function describeDatagram(udp: UdpRepr, src: string, dst: string, ip: OuterIpRepr): string {
  return `${bracketed(src)}:${udp.srcPort} > ${bracketed(dst)}:${udp.dstPort} ${ip.version === 6 ? 'hlim' : 'ttl'} ${ip.ttl}`;
}

/** An address beside a port: IPv6 in brackets. */
function bracketed(addr: string): string {
  return addr.includes(':') ? `[${addr}]` : addr;
}
