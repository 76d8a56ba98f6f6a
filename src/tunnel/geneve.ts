// Geneve (RFC 8926): Ethernet in UDP to port 6081, a 24-bit VNI naming the
// network and options (TLVs) such as OVN's, as Open vSwitch sends it. Sent and
// received as VXLAN is (udp.ts); what is its own is the header of variable
// length, and what a receiver must refuse (section 3.5): another version, a
// control packet, a payload that is not Ethernet, and an option marked
// critical that the network was not configured with. Options it knows or that
// are not critical are skipped; captures show them all.
import { z } from 'zod';
import type { Batch } from '../datapath/batch.ts';
import { Drop } from '../switch/drop.ts';
import {
  emitGeneve,
  emitOptions,
  GENEVE_HEADER_LEN,
  GENEVE_MAX_OPTION_DATA,
  GENEVE_MAX_OPTIONS_LEN,
  GENEVE_OPTION_HEADER_LEN,
  GENEVE_PORT,
  GENEVE_TYPE_CRITICAL,
  newGeneveRepr,
  parseGeneve,
  readOptions,
  unknownCriticalOption,
  type GeneveOption,
} from '../wire/geneve.ts';
import type { OuterIpRepr } from '../wire/outer-ip.ts';
import { UDP_HEADER_LEN, type UdpRepr } from '../wire/udp.ts';
import { MAX_VNI } from '../wire/vxlan.ts';
import { expected, int, udpPort } from './fields.ts';
import type { Decoded, Demux, Resolved, Tunnel } from './tunnel.ts';
import { IdDemux } from './tunnel.ts';
import { decodeDatagram, describeDatagram, resolvedDatagram, srcportSchema, UdpTunnel } from './udp.ts';

/** A number, or its hex text ("0x0102"): how option classes are written. */
const hexInt = (min: number, max: number, what: string) =>
  z.preprocess((v) => (typeof v === 'string' && /^0x[0-9a-f]+$/i.test(v) ? Number(v) : v), int(min, max, what));

const optionSchema = z.strictObject({
  class: hexInt(0, 0xffff, 'an option class').describe('option class, 0–0xffff (OVN: 0x0102)'),
  type: hexInt(0, 0xff, 'an option type').describe(
    'option type, 0–0xff; 0x80 and above are critical: a receiver that does not know them drops the packet',
  ),
  data: z
    .string(expected('expected the option data in hex, a multiple of 4 bytes, such as "00010002"'))
    .regex(/^(0x)?([0-9a-fA-F]{8})*$/, {
      error: 'expected hex digits, a multiple of 4 bytes (8 digits), such as "00010002"',
    })
    .refine((d) => d.replace(/^0x/, '').length / 2 <= GENEVE_MAX_OPTION_DATA, {
      error: `at most ${GENEVE_MAX_OPTION_DATA} bytes (an option's length is 5 bits of 4-byte words)`,
    })
    .default('')
    .describe('option data in hex, a multiple of 4 bytes'),
});

export const geneveSchema = z.strictObject({
  vni: int(0, MAX_VNI, 'a VNI').describe('0–16777215; unique per UDP port'),
  port: udpPort.default(GENEVE_PORT).describe('UDP destination port'),
  srcport: srcportSchema,
  options: z
    .array(optionSchema, expected('expected a list of { class, type, data }'))
    .refine((opts) => optionsLen(opts) <= GENEVE_MAX_OPTIONS_LEN, {
      error: `more than ${GENEVE_MAX_OPTIONS_LEN} bytes of options with their headers (the header's limit)`,
    })
    .default([])
    .describe('options sent in every packet; received critical options other than these drop the packet'),
});

function optionsLen(opts: readonly { data: string }[]): number {
  return opts.reduce((n, o) => n + GENEVE_OPTION_HEADER_LEN + o.data.replace(/^0x/, '').length / 2, 0);
}

/** With the most options a packet can carry, and the UDP header when it is ours to write. */
export const GENEVE_MAX_HEADER_LEN = UDP_HEADER_LEN + GENEVE_HEADER_LEN + GENEVE_MAX_OPTIONS_LEN;

export interface GeneveSettings {
  kind: 'geneve';
  vni: number;
  port: number;
  srcPortMin: number;
  srcPortMax: number;
  options: GeneveOption[];
}

export function geneveSettings(raw: z.output<typeof geneveSchema>): GeneveSettings {
  return {
    kind: 'geneve',
    vni: raw.vni,
    port: raw.port,
    srcPortMin: raw.srcport[0],
    srcPortMax: raw.srcport[1],
    options: raw.options.map((o) => ({
      class: o.class,
      type: o.type,
      data: Buffer.from(o.data.replace(/^0x/, ''), 'hex'),
    })),
  };
}

/** An option as `ovs-ofctl` and the log write it: class 0x0102 type 0x80 data 00010002. */
export function formatOption(o: GeneveOption): string {
  const data = o.data.length > 0 ? ` data ${o.data.toString('hex')}` : '';
  return `class 0x${o.class.toString(16).padStart(4, '0')} type 0x${o.type.toString(16).padStart(2, '0')}${data}`;
}

export class GeneveTunnel extends UdpTunnel<GeneveSettings> {
  readonly kind = 'geneve';
  protected readonly label = 'Geneve';
  /** The options this network knows, by (class << 8) | type: the critical ones among them are accepted. */
  readonly known: readonly number[];

  constructor(settings: GeneveSettings) {
    const options = emitOptions(settings.options);
    const header = Buffer.alloc(GENEVE_HEADER_LEN + options.length);
    emitGeneve(
      settings.vni,
      options,
      settings.options.some((o) => (o.type & GENEVE_TYPE_CRITICAL) !== 0),
      header,
      0,
    );
    super(settings, header);
    this.known = settings.options.map((o) => ((o.class << 8) | o.type) >>> 0);
  }

  override describe(): string {
    const opts = this.settings.options;
    return opts.length === 0 ? super.describe() : `${super.describe()} option ${opts.map(formatOption).join(', ')}`;
  }

  newDemux<T>(): Demux<T> {
    return new GeneveDemux<T>();
  }
}

const geneve = newGeneveRepr();
const NONE_KNOWN: readonly number[] = [];

/** Datagrams of one UDP port (and the groups on it), by VNI; each VNI's network knows its own options. */
export class GeneveDemux<T> extends IdDemux<T> {
  private readonly known = new Map<number, readonly number[]>();

  override set(id: number, target: T, tunnel?: Tunnel): void {
    super.set(id, target);
    this.known.set(id, tunnel instanceof GeneveTunnel ? tunnel.known : NONE_KNOWN);
  }

  override delete(id: number): void {
    super.delete(id);
    this.known.delete(id);
  }

  resolve(b: Batch, i: number, out: Resolved<T>): number {
    const off = b.start(i);
    const len = b.len[i];
    const d = parseGeneve(b.arena, off, off + len, geneve);
    if (d !== Drop.None) return d;
    const target = this.byId.get(geneve.vni);
    if (target === undefined) return Drop.UnknownVni;
    const opts = geneve.optionsLen;
    if (opts > 0 && unknownCriticalOption(b.arena, off + GENEVE_HEADER_LEN, opts, this.known.get(geneve.vni)!) >= 0)
      return Drop.GeneveCriticalOption;
    return resolvedDatagram(out, b, i, target, off, GENEVE_HEADER_LEN + opts, len);
  }
}

// ------------------------------------------------------------------ captures

/** The Geneve part of a tunnel packet seen on an underlay link. */
export interface GeneveView {
  kind: 'geneve';
  udp: UdpRepr;
  vni: number;
  /** The C bit: critical options present. */
  critical: boolean;
  options: GeneveOption[];
}

/** Decodes the UDP + Geneve headers at frame[l4, end); the inner frame's offset (its end in `out`), or -1. */
export function decodeGeneve(
  frame: Buffer,
  ip: OuterIpRepr,
  l4: number,
  end: number,
  port: number,
  out: Decoded<GeneveView>,
): number {
  const udp = decodeDatagram(frame, ip, l4, end, port);
  if (udp === undefined) return -1;
  const g = newGeneveRepr();
  const at = l4 + UDP_HEADER_LEN;
  if (parseGeneve(frame, at, l4 + udp.length, g) !== Drop.None) return -1;
  const options = readOptions(frame, at + GENEVE_HEADER_LEN, g.optionsLen);
  out.view = { kind: 'geneve', udp, vni: g.vni, critical: g.critical, options };
  out.innerEnd = l4 + udp.length;
  return at + GENEVE_HEADER_LEN + g.optionsLen;
}

export function describeGeneve(v: GeneveView, src: string, dst: string, ip: OuterIpRepr): string {
  const opts = v.options.map((o) => ` [${formatOption(o)}]`).join('');
  return `${describeDatagram(v.udp, src, dst, ip)} Geneve vni ${v.vni}${v.critical ? ' C' : ''}${opts}`;
}
