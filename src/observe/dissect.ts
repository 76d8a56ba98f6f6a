// Decodes captured frames with our own wire codecs: underlay frames into
// tunnel packets (for tests, the demo and `vtepctl capture`), and one-line
// summaries of any frame. Each encapsulation decodes and describes its own
// header (src/tunnel); what is around it is the same for all.
import { Drop } from '../switch/drop.ts';
import { decodeTunnel, describeTunnel, tunnelPorts, type TunnelPorts, type TunnelView } from '../tunnel/index.ts';
import type { Decoded } from '../tunnel/tunnel.ts';
import type { GeneveView } from '../tunnel/geneve.ts';
import type { GreView } from '../tunnel/gre.ts';
import type { VxlanView } from '../tunnel/vxlan.ts';
import { newArpRepr, parseArp, type ArpRepr } from '../wire/arp.ts';
import { EtherType, ETH_HEADER_LEN, newEthernetRepr, parseEthernet, type EthernetRepr } from '../wire/ethernet.ts';
import { formatIpv4, IpProto, newIpv4Repr, parseIpv4 } from '../wire/ipv4.ts';
import { newOuterIpRepr, parseOuterIp, type OuterIpRepr } from '../wire/outer-ip.ts';
import { formatMac } from '../wire/mac.ts';
import type { PcapRecord } from '../wire/pcap.ts';
import { GENEVE_PORT } from '../wire/geneve.ts';
import { VXLAN_PORT } from '../wire/vxlan.ts';

/** What every tunnel packet seen on an underlay link has, whatever its encapsulation. */
interface Outer {
  src: string;
  dst: string;
  ip: OuterIpRepr;
  inner: Buffer;
  eth: EthernetRepr;
  /** Set when the inner frame is ARP. */
  arp?: ArpRepr;
  /** Inner IPv4 protocol (1 = ICMP), when the inner frame is IPv4. */
  innerProto?: number;
}

export type VxlanPacket = Outer & VxlanView;
export type GenevePacket = Outer & GeneveView;
export type GrePacket = Outer & GreView;
export type TunnelPacket = VxlanPacket | GenevePacket | GrePacket;

/** Every well-formed VXLAN packet in a capture of an underlay link (Ethernet). */
export function vxlanPackets(records: readonly PcapRecord[], port = VXLAN_PORT): VxlanPacket[] {
  const ports = tunnelPorts({ kind: 'vxlan', groupPort: port });
  return records.map((r) => decodeTunnelFrame(r.data, ports)).filter((p): p is VxlanPacket => p?.kind === 'vxlan');
}

/** Every well-formed Geneve packet in a capture of an underlay link (Ethernet). */
export function genevePackets(records: readonly PcapRecord[], port = GENEVE_PORT): GenevePacket[] {
  const ports = tunnelPorts({ kind: 'geneve', groupPort: port });
  return records.map((r) => decodeTunnelFrame(r.data, ports)).filter((p): p is GenevePacket => p?.kind === 'geneve');
}

/** Every well-formed GRE packet in a capture of an underlay link. */
export function grePackets(records: readonly PcapRecord[]): GrePacket[] {
  return records.map((r) => decodeTunnelFrame(r.data)).filter((p): p is GrePacket => p?.kind === 'gre');
}

export function decodeVxlan(frame: Buffer, port = VXLAN_PORT): VxlanPacket | undefined {
  const p = decodeTunnelFrame(frame, tunnelPorts({ kind: 'vxlan', groupPort: port }));
  return p?.kind === 'vxlan' ? p : undefined;
}

/** A tunnel packet of any encapsulation (VXLAN and Geneve on `ports`), or undefined. */
export function decodeTunnelFrame(frame: Buffer, ports: TunnelPorts = tunnelPorts()): TunnelPacket | undefined {
  const outer = newEthernetRepr();
  if (parseEthernet(frame, 0, frame.length, outer) !== Drop.None) return undefined;
  if (outer.ethertype !== EtherType.IPv4 && outer.ethertype !== EtherType.IPv6) return undefined;
  const ip = newOuterIpRepr();
  if (parseOuterIp(frame, ETH_HEADER_LEN, frame.length, outer.ethertype === EtherType.IPv6, ip) !== Drop.None)
    return undefined;
  const found: Decoded<TunnelView> = { innerEnd: 0 };
  const innerAt = decodeTunnel(frame, ip, ETH_HEADER_LEN + ip.headerLen, ETH_HEADER_LEN + ip.totalLen, ports, found);
  if (innerAt < 0 || found.view === undefined) return undefined;
  const inner = frame.subarray(innerAt, found.innerEnd);
  const eth = newEthernetRepr();
  if (parseEthernet(inner, 0, inner.length, eth) !== Drop.None) return undefined;
  const p = { src: ip.src, dst: ip.dst, ip, inner, eth, ...found.view } as TunnelPacket;
  if (eth.ethertype === EtherType.ARP) {
    const arp = newArpRepr();
    if (parseArp(inner, ETH_HEADER_LEN, inner.length, arp) === Drop.None) p.arp = arp;
  } else if (eth.ethertype === EtherType.IPv4 && inner.length > ETH_HEADER_LEN + 9) {
    p.innerProto = inner[ETH_HEADER_LEN + 9];
  }
  return p;
}

/** One line for a tunnel packet: outer addresses and tunnel header, then the inner frame. */
export function describe(p: TunnelPacket): string {
  return `${describeTunnel(p, p.src, p.dst, p.ip)}: ${describeFrame(p.inner)}`;
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
    const ports =
      (ip.protocol === IpProto.TCP || ip.protocol === IpProto.UDP) && !ip.fragment && frame.length >= l4 + 4
        ? [frame.readUInt16BE(l4), frame.readUInt16BE(l4 + 2)]
        : undefined;
    const proto =
      ip.protocol === IpProto.ICMP
        ? 'ICMP'
        : ip.protocol === IpProto.TCP
          ? 'TCP'
          : ip.protocol === IpProto.UDP
            ? 'UDP'
            : ip.protocol === IpProto.GRE
              ? 'GRE'
              : `proto ${ip.protocol}`;
    const from = ports ? `${formatIpv4(ip.src)}.${ports[0]}` : formatIpv4(ip.src);
    const to = ports ? `${formatIpv4(ip.dst)}.${ports[1]}` : formatIpv4(ip.dst);
    return `${macs} IPv4 ${from} > ${to} ${proto} length ${ip.totalLen}`;
  }
  if (eth.ethertype === EtherType.IPv6) return `${macs} IPv6 length ${frame.length - ETH_HEADER_LEN}`;
  return `${macs} ethertype 0x${eth.ethertype.toString(16).padStart(4, '0')} length ${frame.length}`;
}

/** A tunnel packet if it is one (VXLAN and Geneve on `ports`, or GRE), else the frame itself. */
export function summarize(frame: Buffer, ports: TunnelPorts = tunnelPorts()): string {
  const p = decodeTunnelFrame(frame, ports);
  return p !== undefined ? describe(p) : describeFrame(frame);
}
