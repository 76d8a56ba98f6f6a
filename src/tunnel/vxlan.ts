// VXLAN (RFC 7348): Ethernet in UDP to port 4789, a 24-bit VNI naming the network.
//
// Sent either on a raw UDP socket, writing the UDP header ourselves with a
// source port from the flow hash as the kernel does, or (with offloads) on
// "lanes": UDP sockets bound to ports of the source range, the flow hash
// picking the socket, so that runs of datagrams can go out as one UDP GSO
// send. One flow keeps one source port either way. Received on a UDP socket
// bound to local:port, shared by every network on that port; the VNI picks
// the network. Multicast group mode (BUM frames to a group) is VXLAN's alone.
import { z } from 'zod';
import type { Batch } from '../datapath/batch.ts';
import { Drop } from '../switch/drop.ts';
import { ETH_HEADER_LEN } from '../wire/ethernet.ts';
import { flowHash, flowHashCovered, sourcePort } from '../wire/flow-hash.ts';
import { IpProto } from '../wire/ipv4.ts';
import type { OuterIpRepr } from '../wire/outer-ip.ts';
import { emitUdp, newUdpRepr, parseUdp, UDP_HEADER_LEN, type UdpRepr } from '../wire/udp.ts';
import { emitVxlan, MAX_VNI, newVxlanRepr, parseVxlan, VXLAN_HEADER_LEN, VXLAN_PORT } from '../wire/vxlan.ts';
import { writeOuterHeader } from './outer.ts';
import { expected, int, udpPort } from './fields.ts';
import type { Decoded, Demux, Encap, ReceiveSocket, Resolved, SendSocket, Tunnel } from './tunnel.ts';
import { IdDemux, NO_SEQ } from './tunnel.ts';

/** RFC 7348 section 5 recommends the dynamic/private range for the source port. */
export const DEFAULT_SRCPORT: [number, number] = [49152, 65535];

export const vxlanSchema = z.strictObject({
  vni: int(0, MAX_VNI, 'a VNI').describe('0–16777215; unique per UDP port'),
  port: udpPort.default(VXLAN_PORT).describe("UDP destination port (the kernel's default without `dstport` is 8472)"),
  srcport: z
    .tuple([udpPort, udpPort], expected('expected [min, max] UDP source ports, such as [49152, 65535]'))
    .refine(([a, b]) => a <= b, { error: 'the first port must not be above the second' })
    .default(DEFAULT_SRCPORT)
    .describe('range of the source port, chosen by a hash of the inner flow (RFC 7348 §5)'),
});

/** Without lanes the UDP header is ours to write too. */
export const VXLAN_MAX_HEADER_LEN = UDP_HEADER_LEN + VXLAN_HEADER_LEN;

export interface VxlanSettings {
  kind: 'vxlan';
  vni: number;
  port: number;
  srcPortMin: number;
  srcPortMax: number;
}

export function vxlanSettings(raw: z.output<typeof vxlanSchema>): VxlanSettings {
  return { kind: 'vxlan', vni: raw.vni, port: raw.port, srcPortMin: raw.srcport[0], srcPortMax: raw.srcport[1] };
}

export class VxlanTunnel implements Tunnel {
  readonly kind = 'vxlan';
  readonly defaultDf = false; // as the kernel's VXLAN device
  readonly supportsGroup = true;
  readonly overhead = UDP_HEADER_LEN + VXLAN_HEADER_LEN + ETH_HEADER_LEN;
  readonly outerProtocol = IpProto.UDP;
  readonly identityPath = ['vxlan', 'vni'];

  constructor(readonly settings: VxlanSettings) {}

  get id(): number {
    return this.settings.vni;
  }

  get identity(): string {
    return `vxlan ${this.settings.port}/${this.settings.vni}`;
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
    return `VXLAN VNI ${this.settings.vni} port ${this.settings.port}`;
  }

  newDemux<T>(): Demux<T> {
    return new VxlanDemux<T>();
  }

  sendSocket(offload: boolean): SendSocket {
    const s = this.settings;
    return offload
      ? { kind: 'udp-lanes', dstPort: s.port, srcMin: s.srcPortMin, srcMax: s.srcPortMax }
      : { kind: 'raw', protocol: IpProto.UDP };
  }

  encap(lanePorts: readonly number[]): Encap {
    return new VxlanEncap(this.settings, lanePorts);
  }

  wrapReceived(frame: Buffer, _from: Uint8Array, _to: Uint8Array, buf: Buffer, at: number): number {
    emitVxlan(this.settings.vni, buf, at); // a UDP socket hands over the UDP payload
    frame.copy(buf, at + VXLAN_HEADER_LEN);
    return VXLAN_HEADER_LEN + frame.length;
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
 * port from the flow hash; on lanes it writes the VXLAN header only, and the
 * flow hash picks the lane.
 */
export class VxlanEncap implements Encap {
  readonly headerLen: number;
  readonly kernelHeaderLen: number;
  private readonly lanes: number;

  constructor(
    private readonly s: VxlanSettings,
    private readonly lanePorts: readonly number[],
  ) {
    this.lanes = lanePorts.length;
    this.headerLen = this.lanes > 0 ? VXLAN_HEADER_LEN : UDP_HEADER_LEN + VXLAN_HEADER_LEN;
    this.kernelHeaderLen = this.lanes > 0 ? UDP_HEADER_LEN : 0;
  }

  write(buf: Buffer, off: number, len: number, hash = flowHash(buf, off, len)): number {
    const start = off - this.headerLen;
    if (this.lanes > 0) {
      emitVxlan(this.s.vni, buf, start);
      return sourcePort(hash, 0, this.lanes - 1);
    }
    emitUdp(sourcePort(hash, this.s.srcPortMin, this.s.srcPortMax), this.s.port, VXLAN_HEADER_LEN + len, buf, start);
    emitVxlan(this.s.vni, buf, start + UDP_HEADER_LEN);
    return 0;
  }

  writeKernelHeader(buf: Buffer, at: number, lane: number, len: number): void {
    if (this.lanes > 0) emitUdp(this.lanePorts[lane], this.s.port, len, buf, at);
  }

  clone(): Encap {
    return new VxlanEncap(this.s, this.lanePorts);
  }

  /**
   * To our port, from a source port of ours: a lane's (random per start), or
   * one of the range without lanes. When the quote holds the inner frame's
   * flow fields, the source port must be the one its flow hash (seeded per
   * start) gives: a port in the range is not enough then.
   */
  sentThis(buf: Uint8Array, off: number, end: number): boolean {
    if (end - off < UDP_HEADER_LEN) return false;
    const src = (buf[off] << 8) | buf[off + 1];
    if (((buf[off + 2] << 8) | buf[off + 3]) !== this.s.port) return false;
    if (this.lanes > 0 ? !this.lanePorts.includes(src) : src < this.s.srcPortMin || src > this.s.srcPortMax)
      return false;
    const vx = off + UDP_HEADER_LEN;
    if (end - vx < VXLAN_HEADER_LEN) return true; // RFC 792's 8 bytes: the ports are all there is
    if (parseVxlan(buf, vx, end, quoted) !== Drop.None || quoted.vni !== this.s.vni) return false;
    const inner = vx + VXLAN_HEADER_LEN;
    if (!flowHashCovered(buf, inner, end - inner)) return true;
    const hash = flowHash(buf, inner, end - inner);
    return (
      src ===
      (this.lanes > 0
        ? this.lanePorts[sourcePort(hash, 0, this.lanes - 1)]
        : sourcePort(hash, this.s.srcPortMin, this.s.srcPortMax))
    );
  }
}

const quoted = newVxlanRepr();

const vxlan = newVxlanRepr();

/** Datagrams of one UDP port (and the groups on it), by VNI. */
export class VxlanDemux<T> extends IdDemux<T> {
  resolve(b: Batch, i: number, out: Resolved<T>): number {
    const off = b.start(i);
    const len = b.len[i];
    const d = parseVxlan(b.arena, off, off + len, vxlan);
    if (d !== Drop.None) return d;
    const target = this.byId.get(vxlan.vni);
    if (target === undefined) return Drop.UnknownVni;
    out.target[i] = target;
    out.off[i] = off + VXLAN_HEADER_LEN;
    out.len[i] = len - VXLAN_HEADER_LEN;
    out.wireLen[i] = len + UDP_HEADER_LEN; // the socket handed over the UDP payload
    out.seq[i] = NO_SEQ;
    out.ecn[i] = b.tos[i] & 3;
    return Drop.None;
  }
}

// ------------------------------------------------------------------ captures

/** The VXLAN part of a tunnel packet seen on an underlay link. */
export interface VxlanView {
  kind: 'vxlan';
  udp: UdpRepr;
  vni: number;
}

/**
 * Decodes the UDP + VXLAN headers at frame[l4, end) of an IPv4 packet; the inner frame's offset (its end in
 * `out`), or -1.
 */
export function decodeVxlan(
  frame: Buffer,
  ip: OuterIpRepr,
  l4: number,
  end: number,
  port: number,
  out: Decoded<VxlanView>,
): number {
  if (ip.protocol !== IpProto.UDP) return -1;
  const udp = newUdpRepr();
  if (parseUdp(frame, l4, end, udp) !== Drop.None || udp.dstPort !== port) return -1;
  const vx = newVxlanRepr();
  if (parseVxlan(frame, l4 + UDP_HEADER_LEN, l4 + udp.length, vx) !== Drop.None) return -1;
  out.view = { kind: 'vxlan', udp, vni: vx.vni };
  out.innerEnd = l4 + udp.length;
  return l4 + UDP_HEADER_LEN + VXLAN_HEADER_LEN;
}

export function describeVxlan(v: VxlanView, src: string, dst: string, ip: OuterIpRepr): string {
  return (
    `${bracketed(src)}:${v.udp.srcPort} > ${bracketed(dst)}:${v.udp.dstPort} ` +
    `${ip.version === 6 ? 'hlim' : 'ttl'} ${ip.ttl} VXLAN vni ${v.vni}`
  );
}

/** An address beside a port: IPv6 in brackets. */
function bracketed(addr: string): string {
  return addr.includes(':') ? `[${addr}]` : addr;
}
