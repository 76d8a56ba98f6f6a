// VXLAN (RFC 7348): Ethernet in UDP to port 4789, a 24-bit VNI naming the
// network. How it is sent and received is what it shares with Geneve (udp.ts);
// what is its own is the 8-byte header, and which flag byte it accepts.
import { z } from 'zod';
import type { Batch } from '../datapath/batch.ts';
import { Drop } from '../switch/drop.ts';
import type { OuterIpRepr } from '../wire/outer-ip.ts';
import { UDP_HEADER_LEN, type UdpRepr } from '../wire/udp.ts';
import { emitVxlan, MAX_VNI, newVxlanRepr, parseVxlan, VXLAN_HEADER_LEN, VXLAN_PORT } from '../wire/vxlan.ts';
import { int, udpPort } from './fields.ts';
import type { Decoded, Demux, Resolved } from './tunnel.ts';
import { IdDemux } from './tunnel.ts';
import { decodeDatagram, describeDatagram, resolvedDatagram, srcportSchema, UdpTunnel } from './udp.ts';

export { DEFAULT_SRCPORT } from './udp.ts';

export const vxlanSchema = z.strictObject({
  vni: int(0, MAX_VNI, 'a VNI').describe('0–16777215; unique per UDP port'),
  port: udpPort.default(VXLAN_PORT).describe("UDP destination port (the kernel's default without `dstport` is 8472)"),
  srcport: srcportSchema,
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

export class VxlanTunnel extends UdpTunnel<VxlanSettings> {
  readonly kind = 'vxlan';
  protected readonly label = 'VXLAN';

  constructor(settings: VxlanSettings) {
    const header = Buffer.alloc(VXLAN_HEADER_LEN);
    emitVxlan(settings.vni, header, 0);
    super(settings, header);
  }

  newDemux<T>(): Demux<T> {
    return new VxlanDemux<T>();
  }
}

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
    return resolvedDatagram(out, b, i, target, off, VXLAN_HEADER_LEN, len);
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
  const udp = decodeDatagram(frame, ip, l4, end, port);
  if (udp === undefined) return -1;
  const vx = newVxlanRepr();
  if (parseVxlan(frame, l4 + UDP_HEADER_LEN, l4 + udp.length, vx) !== Drop.None) return -1;
  out.view = { kind: 'vxlan', udp, vni: vx.vni };
  out.innerEnd = l4 + udp.length;
  return l4 + UDP_HEADER_LEN + VXLAN_HEADER_LEN;
}

export function describeVxlan(v: VxlanView, src: string, dst: string, ip: OuterIpRepr): string {
  return `${describeDatagram(v.udp, src, dst, ip)} VXLAN vni ${v.vni}`;
}
