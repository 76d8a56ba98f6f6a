// Decodes captured underlay frames into tunnel packets, with our own wire
// codecs, for tests and the demo to assert on and print.
import { newArpRepr, parseArp, type ArpRepr } from '../../src/wire/arp.ts';
import { Drop } from '../../src/wire/drop.ts';
import { EtherType, ETH_HEADER_LEN, newEthernetRepr, parseEthernet, type EthernetRepr } from '../../src/wire/ethernet.ts';
import { newGreRepr, parseGre, type GreRepr } from '../../src/wire/gre.ts';
import { formatIpv4, IpProto, newIpv4Repr, parseIpv4, type Ipv4Repr } from '../../src/wire/ipv4.ts';
import { formatMac } from '../../src/wire/mac.ts';
import type { PcapRecord } from '../../src/wire/pcap.ts';
import { newUdpRepr, parseUdp, UDP_HEADER_LEN, type UdpRepr } from '../../src/wire/udp.ts';
import { newVxlanRepr, parseVxlan, VXLAN_HEADER_LEN } from '../../src/wire/vxlan.ts';

export interface TunnelPacket {
  src: string;
  dst: string;
  ip: Ipv4Repr;
  /** VXLAN packets only. */
  udp: UdpRepr;
  /** The VNI, or the GRE key. */
  vni: number;
  /** GRE packets only. */
  gre?: GreRepr;
  inner: Buffer;
  eth: EthernetRepr;
  /** Set when the inner frame is ARP. */
  arp?: ArpRepr;
  /** Inner IPv4 protocol (1 = ICMP), when the inner frame is IPv4. */
  innerProto?: number;
}

/** Every well-formed VXLAN packet in a capture of an underlay link (Ethernet). */
export function vxlanPackets(records: readonly PcapRecord[], port = 4789): TunnelPacket[] {
  const out: TunnelPacket[] = [];
  for (const r of records) {
    const p = decodeVxlan(r.data, port);
    if (p !== undefined) out.push(p);
  }
  return out;
}

export function decodeVxlan(frame: Buffer, port = 4789): TunnelPacket | undefined {
  const ip = outerIpv4(frame, IpProto.UDP);
  if (ip === undefined) return undefined;
  const u = ETH_HEADER_LEN + ip.headerLen;
  const end = ETH_HEADER_LEN + ip.totalLen;
  const udp = newUdpRepr();
  if (parseUdp(frame, u, end, udp) !== Drop.None || udp.dstPort !== port) return undefined;
  const vx = newVxlanRepr();
  if (parseVxlan(frame, u + UDP_HEADER_LEN, end, vx) !== Drop.None) return undefined;
  return withInner({ src: formatIpv4(ip.src), dst: formatIpv4(ip.dst), ip, udp, vni: vx.vni }, frame.subarray(u + UDP_HEADER_LEN + VXLAN_HEADER_LEN, u + udp.length));
}

/** Every well-formed GRE packet in a capture of an underlay link; `vni` holds the key. */
export function grePackets(records: readonly PcapRecord[]): TunnelPacket[] {
  const out: TunnelPacket[] = [];
  for (const r of records) {
    const p = decodeGre(r.data);
    if (p !== undefined) out.push(p);
  }
  return out;
}

export function decodeGre(frame: Buffer): TunnelPacket | undefined {
  const ip = outerIpv4(frame, IpProto.GRE);
  if (ip === undefined) return undefined;
  const g = ETH_HEADER_LEN + ip.headerLen;
  const end = ETH_HEADER_LEN + ip.totalLen;
  const gre = newGreRepr();
  if (parseGre(frame, g, end, gre) !== Drop.None) return undefined;
  return withInner({ src: formatIpv4(ip.src), dst: formatIpv4(ip.dst), ip, udp: newUdpRepr(), vni: gre.key, gre }, frame.subarray(g + gre.headerLen, end));
}

function outerIpv4(frame: Buffer, protocol: number): Ipv4Repr | undefined {
  const outer = newEthernetRepr();
  if (parseEthernet(frame, 0, frame.length, outer) !== Drop.None || outer.ethertype !== EtherType.IPv4) return undefined;
  const ip = newIpv4Repr();
  if (parseIpv4(frame, ETH_HEADER_LEN, frame.length, ip) !== Drop.None || ip.protocol !== protocol) return undefined;
  return ip;
}

function withInner(p: Omit<TunnelPacket, 'inner' | 'eth'>, inner: Buffer): TunnelPacket | undefined {
  const eth = newEthernetRepr();
  if (parseEthernet(inner, 0, inner.length, eth) !== Drop.None) return undefined;
  const t: TunnelPacket = { ...p, inner, eth };
  if (eth.ethertype === EtherType.ARP) {
    const arp = newArpRepr();
    if (parseArp(inner, ETH_HEADER_LEN, inner.length, arp) === Drop.None) t.arp = arp;
  } else if (eth.ethertype === EtherType.IPv4 && inner.length > ETH_HEADER_LEN + 9) {
    t.innerProto = inner[ETH_HEADER_LEN + 9];
  }
  return t;
}

/** One line a packet, for logs and the demo. */
export function describe(p: TunnelPacket): string {
  const what = p.arp
    ? `ARP ${p.arp.op === 1 ? 'request' : 'reply'} ${formatIpv4(p.arp.senderIp)} -> ${formatIpv4(p.arp.targetIp)}`
    : p.innerProto === IpProto.ICMP ? 'ICMP' : `ethertype 0x${p.eth.ethertype.toString(16)}`;
  const tunnel = p.gre
    ? `${p.src} > ${p.dst} ttl ${p.ip.ttl}${p.ip.df ? ' DF' : ''} GRE flags 0x${p.gre.flags.toString(16)} proto 0x${p.gre.protocol.toString(16)} key ${p.vni}`
    : `${p.src}:${p.udp.srcPort} > ${p.dst}:${p.udp.dstPort} ttl ${p.ip.ttl} VXLAN vni ${p.vni}`;
  return `${tunnel}: ${formatMac(p.eth.src)} > ${formatMac(p.eth.dst)} ${what}`;
}
