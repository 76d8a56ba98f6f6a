// The encapsulations vtepd speaks. To add one: write its module (see
// tunnel.ts for what it provides) and register it in each of the numbered places
// below; TypeScript then points at every switch that must learn of it.
import { type z } from 'zod';
import { GENEVE_PORT } from '../wire/geneve.ts';
import type { OuterIpRepr } from '../wire/outer-ip.ts';
import { VXLAN_PORT } from '../wire/vxlan.ts';
import {
  decodeGre,
  describeGre,
  GRE_MAX_HEADER_LEN,
  greSchema,
  greSettings,
  GreTunnel,
  type GreSettings,
  type GreView,
} from './gre.ts';
import {
  decodeGeneve,
  describeGeneve,
  GENEVE_MAX_HEADER_LEN,
  geneveSchema,
  geneveSettings,
  GeneveTunnel,
  type GeneveSettings,
  type GeneveView,
} from './geneve.ts';
import type { Decoded, Tunnel } from './tunnel.ts';
import {
  decodeVxlan,
  describeVxlan,
  VXLAN_MAX_HEADER_LEN,
  vxlanSchema,
  vxlanSettings,
  VxlanTunnel,
  type VxlanSettings,
  type VxlanView,
} from './vxlan.ts';

/** 1. A network's settings: exactly one encapsulation. */
export type TunnelSettings = VxlanSettings | GeneveSettings | GreSettings;
export type TunnelKind = TunnelSettings['kind'];

/** 2. The config block of each, under its own key (`vxlan: {...}`, `geneve: {...}`, `gre: {...}`). */
export const tunnelBlocks = {
  vxlan: vxlanSchema.optional().describe('VXLAN (RFC 7348): give exactly one of vxlan, geneve and gre'),
  geneve: geneveSchema.optional().describe('Geneve (RFC 8926), as Open vSwitch and OVN send it'),
  gre: greSchema.optional().describe('Ethernet over GRE with key (RFC 2784/2890), protocol 0x6558'),
};
export const TUNNEL_KINDS = Object.keys(tunnelBlocks) as TunnelKind[];

type Blocks = { [K in keyof typeof tunnelBlocks]?: z.output<(typeof tunnelBlocks)[K]> };

/** The settings of the one block present; undefined if none is (the schema refuses two). */
export function tunnelSettings(blocks: Blocks): TunnelSettings | undefined {
  if (blocks.vxlan !== undefined) return vxlanSettings(blocks.vxlan);
  if (blocks.geneve !== undefined) return geneveSettings(blocks.geneve);
  if (blocks.gre !== undefined) return greSettings(blocks.gre);
  return undefined;
}

/** The most any encapsulation writes in front of a frame: the room every frame is read with. */
export const MAX_HEADER_LEN = Math.max(VXLAN_MAX_HEADER_LEN, GENEVE_MAX_HEADER_LEN, GRE_MAX_HEADER_LEN);

/** 3. The tunnel of a network's settings. */
export function tunnelFor(s: TunnelSettings): Tunnel {
  switch (s.kind) {
    case 'vxlan':
      return new VxlanTunnel(s);
    case 'geneve':
      return new GeneveTunnel(s);
    case 'gre':
      return new GreTunnel(s);
    default:
      return unreachable(s);
  }
}

/** 4. Decoding captured underlay frames: each kind's view of a tunnel packet. */
export type TunnelView = VxlanView | GeneveView | GreView;

/** The UDP ports captures take for VXLAN and Geneve. */
export interface TunnelPorts {
  vxlan: number;
  geneve: number;
}

/**
 * The ports a capture is decoded with: the defaults, or `t`'s port for its
 * kind (then the other kind's default only if it is another port).
 */
export function tunnelPorts(t?: { kind: string; groupPort: number }): TunnelPorts {
  const ports = { vxlan: VXLAN_PORT, geneve: GENEVE_PORT };
  if (t?.kind === 'vxlan') ports.vxlan = t.groupPort;
  if (t?.kind === 'geneve') ports.geneve = t.groupPort;
  if (ports.vxlan === ports.geneve) ports[t?.kind === 'vxlan' ? 'geneve' : 'vxlan'] = 0;
  return ports;
}

/** The inner frame's offset (its end and the view of the tunnel header at frame[l4, end) in `out`), or -1. */
export function decodeTunnel(
  frame: Buffer,
  ip: OuterIpRepr,
  l4: number,
  end: number,
  ports: TunnelPorts,
  out: Decoded<TunnelView>,
): number {
  const v = decodeVxlan(frame, ip, l4, end, ports.vxlan, out as Decoded<VxlanView>);
  if (v >= 0) return v;
  const g = decodeGeneve(frame, ip, l4, end, ports.geneve, out as Decoded<GeneveView>);
  return g >= 0 ? g : decodeGre(frame, ip, l4, end, out as Decoded<GreView>);
}

export function describeTunnel(view: TunnelView, src: string, dst: string, ip: OuterIpRepr): string {
  switch (view.kind) {
    case 'vxlan':
      return describeVxlan(view, src, dst, ip);
    case 'geneve':
      return describeGeneve(view, src, dst, ip);
    case 'gre':
      return describeGre(view, src, dst, ip);
    default:
      return unreachable(view);
  }
}

function unreachable(x: never): never {
  throw new Error(`unknown encapsulation ${JSON.stringify(x)}`);
}
