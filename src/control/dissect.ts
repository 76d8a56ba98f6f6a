// Decodes captured frames with our own wire codecs: underlay frames into
// tunnel packets (for tests, the demo and `vtepctl capture`), and one-line
// summaries of any frame.
import { newArpRepr, parseArp, type ArpRepr } from '../wire/arp.ts';
import { Drop } from '../wire/drop.ts';
import { EtherType, ETH_HEADER_LEN, newEthernetRepr, parseEthernet, type EthernetRepr } from '../wire/ethernet.ts';
import { newGreRepr, parseGre, type GreRepr } from '../wire/gre.ts';
import { formatIpv4, IpProto, newIpv4Repr, parseIpv4, type Ipv4Repr } from '../wire/ipv4.ts';
import { formatMac } from '../wire/mac.ts';
import type { PcapRecord } from '../wire/pcap.ts';
import { newUdpRepr, parseUdp, UDP_HEADER_LEN, type UdpRepr } from '../wire/udp.ts';
import { newVxlanRepr, parseVxlan, VXLAN_HEADER_LEN } from '../wire/vxlan.ts';

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

/** One line for a tunnel packet: outer addresses and tunnel header, then the inner frame. */
export function describe(p: TunnelPacket): string {
  const tunnel = p.gre
    ? `${p.src} > ${p.dst} ttl ${p.ip.ttl}${p.ip.df ? ' DF' : ''} GRE flags 0x${p.gre.flags.toString(16)} proto 0x${p.gre.protocol.toString(16)} key ${p.vni}`
    : `${p.src}:${p.udp.srcPort} > ${p.dst}:${p.udp.dstPort} ttl ${p.ip.ttl} VXLAN vni ${p.vni}`;
  return `${tunnel}: ${describeFrame(p.inner)}`;
}

/** One line for an Ethernet frame: MACs, then ARP or IPv4 (with TCP/UDP ports) or the EtherType. */
export function describeFrame(frame: Buffer): string {
  const eth = newEthernetRepr();
  if (parseEthernet(frame, 0, frame.length, eth) !== Drop.None) return `${frame.length} bytes, too short for Ethernet`;
  const macs = `${formatMac(eth.src)} > ${formatMac(eth.dst)}`;
  if (eth.ethertype === EtherType.ARP) {
    const arp = newArpRepr();
    if (parseArp(frame, ETH_HEADER_LEN, frame.length, arp) !== Drop.None) return `${macs} ARP, malformed`;
    return arp.op === 1
      ? `${macs} ARP who-has ${formatIpv4(arp.targetIp)} tell ${formatIpv4(arp.senderIp)}`
      : `${macs} ARP reply ${formatIpv4(arp.senderIp)} is-at ${formatMac(arp.senderMac)}`;
  }
  if (eth.ethertype === EtherType.IPv4) {
    const ip = newIpv4Repr();
    if (parseIpv4(frame, ETH_HEADER_LEN, frame.length, ip) !== Drop.None) return `${macs} IPv4, malformed`;
    const l4 = ETH_HEADER_LEN + ip.headerLen;
    const ports = (ip.protocol === IpProto.TCP || ip.protocol === IpProto.UDP) && !ip.fragment && frame.length >= l4 + 4
      ? [frame.readUInt16BE(l4), frame.readUInt16BE(l4 + 2)] : undefined;
    const proto = ip.protocol === IpProto.ICMP ? 'ICMP' : ip.protocol === IpProto.TCP ? 'TCP' : ip.protocol === IpProto.UDP ? 'UDP'
      : ip.protocol === IpProto.GRE ? 'GRE' : `proto ${ip.protocol}`;
    const from = ports ? `${formatIpv4(ip.src)}.${ports[0]}` : formatIpv4(ip.src);
    const to = ports ? `${formatIpv4(ip.dst)}.${ports[1]}` : formatIpv4(ip.dst);
    return `${macs} IPv4 ${from} > ${to} ${proto} length ${ip.totalLen}`;
  }
  if (eth.ethertype === EtherType.IPv6) return `${macs} IPv6 length ${frame.length - ETH_HEADER_LEN}`;
  return `${macs} ethertype 0x${eth.ethertype.toString(16).padStart(4, '0')} length ${frame.length}`;
}

/** A tunnel packet if it is one (VXLAN on `port`, or GRE), else the frame itself. */
export function summarize(frame: Buffer, port = 4789): string {
  const p = decodeVxlan(frame, port) ?? decodeGre(frame);
  return p !== undefined ? describe(p) : describeFrame(frame);
}
