// Ethernet II header (IEEE 802.3 with EtherType): dst, src, type.
import { ParseError } from './parse-error.ts';
import { readMac, writeMac, type Mac } from './mac.ts';

export const ETH_HEADER_LEN = 14;
export const EtherType = { IPv4: 0x0800, ARP: 0x0806, VLAN: 0x8100, IPv6: 0x86dd } as const;

const DST = 0;
const SRC = 6;
const TYPE = 12;

export interface EthernetRepr {
  dst: Mac;
  src: Mac;
  ethertype: number;
}

export function newEthernetRepr(): EthernetRepr {
  return { dst: 0, src: 0, ethertype: 0 };
}

export function parseEthernet(buf: Uint8Array, off: number, end: number, out: EthernetRepr): ParseError {
  if (end - off < ETH_HEADER_LEN) return ParseError.Truncated;
  out.dst = readMac(buf, off + DST);
  out.src = readMac(buf, off + SRC);
  out.ethertype = (buf[off + TYPE] << 8) | buf[off + TYPE + 1];
  return ParseError.None;
}

export function emitEthernet(r: EthernetRepr, buf: Uint8Array, off: number): number {
  writeMac(r.dst, buf, off + DST);
  writeMac(r.src, buf, off + SRC);
  buf[off + TYPE] = r.ethertype >>> 8;
  buf[off + TYPE + 1] = r.ethertype & 0xff;
  return ETH_HEADER_LEN;
}

/** An 802.1Q tag: its TPID (EtherType.VLAN), the tag control field, then the frame's own EtherType. */
export const VLAN_TAG_LEN = 4;

/**
 * Where the layer-3 header of the frame at buf[off, off+len) starts, past at
 * most one 802.1Q tag (as the kernel's flow dissector looks through one); -1
 * when the frame is shorter than its Ethernet header and tag. Its EtherType
 * is the two bytes before it (l3Type).
 */
export function l3Offset(buf: Uint8Array, off: number, len: number): number {
  if (len < ETH_HEADER_LEN) return -1;
  if (((buf[off + TYPE] << 8) | buf[off + TYPE + 1]) !== EtherType.VLAN) return off + ETH_HEADER_LEN;
  return len < ETH_HEADER_LEN + VLAN_TAG_LEN ? -1 : off + ETH_HEADER_LEN + VLAN_TAG_LEN;
}

/** The EtherType of the layer-3 header at `l3` (an l3Offset), or 0 for none. */
export function l3Type(buf: Uint8Array, l3: number): number {
  return l3 < 0 ? 0 : (buf[l3 - 2] << 8) | buf[l3 - 1];
}
