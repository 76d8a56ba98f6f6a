// A hash of an Ethernet frame's flow, for the VXLAN UDP source port (RFC 7348
// section 5: "a hash of fields from the inner packet"), so that the underlay's
// ECMP and RSS spread flows while every packet of one flow takes one path.
// Fields: both MACs and the EtherType; for IPv4 and IPv6 also both addresses
// and the protocol (next header); for unfragmented TCP/UDP also both ports.
// The same hash gives the outer IPv6 flow label (RFC 6438). No allocation.
import { EtherType, ETH_HEADER_LEN, l3Offset, l3Type } from './ethernet.ts';
import { IpProto } from './ipv4.ts';

const FNV_OFFSET = 0x811c9dc5;
const FNV_PRIME = 0x01000193;

/**
 * Mixed into every hash: random per daemon (setFlowHashSeed), so that no one
 * outside can tell which source port a flow goes out of, and so forge an ICMP
 * error that quotes one of our packets. 0 until set (tests, captures).
 */
let seed = 0;

/** The seed of this process's flow hashes; a successor (upgrade) keeps its predecessor's, so flows keep their ports. */
export function setFlowHashSeed(s: number): void {
  seed = s >>> 0;
}

export function flowHashSeed(): number {
  return seed;
}

function mix(h: number, buf: Uint8Array, off: number, len: number): number {
  for (let i = off; i < off + len; i++) h = Math.imul(h ^ buf[i], FNV_PRIME);
  return h;
}

export function flowHash(buf: Uint8Array, off: number, len: number): number {
  let h = mix(FNV_OFFSET ^ seed, buf, off, Math.min(len, ETH_HEADER_LEN));
  const ip = l3Offset(buf, off, len);
  const type = l3Type(buf, ip);
  const have = off + len - ip; // bytes from the layer-3 header on
  if (type === EtherType.IPv6 && have >= 40 && buf[ip] >>> 4 === 6) {
    const next = buf[ip + 6];
    h = mix(h, buf, ip + 6, 1); // next header
    h = mix(h, buf, ip + 8, 32); // source and destination address
    if ((next === IpProto.TCP || next === IpProto.UDP) && have >= 44) h = mix(h, buf, ip + 40, 4);
    return avalanche(h);
  }
  if (type !== EtherType.IPv4 || have < 20 || buf[ip] >>> 4 !== 4) return avalanche(h);
  h = mix(h, buf, ip + 9, 1); // protocol
  h = mix(h, buf, ip + 12, 8); // source and destination address
  const ihl = (buf[ip] & 0x0f) * 4;
  const proto = buf[ip + 9];
  const fragmented = ((buf[ip + 6] & 0x3f) | buf[ip + 7]) !== 0;
  if ((proto === IpProto.TCP || proto === IpProto.UDP) && !fragmented && have >= ihl + 4) {
    h = mix(h, buf, ip + ihl, 4); // source and destination port
  }
  return avalanche(h);
}

/**
 * Whether the first `len` bytes of a frame hold every field flowHash reads of
 * the whole frame: then the hash of those bytes is the frame's (an ICMP error
 * quotes only the start of a packet).
 */
export function flowHashCovered(buf: Uint8Array, off: number, len: number): boolean {
  const ip = l3Offset(buf, off, len);
  if (ip < 0) return false;
  const type = l3Type(buf, ip);
  const have = off + len - ip;
  if (type === EtherType.IPv6) {
    if (have < 40) return false;
    const next = buf[ip + 6];
    return buf[ip] >>> 4 !== 6 || (next !== IpProto.TCP && next !== IpProto.UDP) || have >= 44;
  }
  if (type !== EtherType.IPv4) return true;
  if (have < 20) return false;
  const ihl = (buf[ip] & 0x0f) * 4;
  const proto = buf[ip + 9];
  const fragmented = ((buf[ip + 6] & 0x3f) | buf[ip + 7]) !== 0;
  return buf[ip] >>> 4 !== 4 || (proto !== IpProto.TCP && proto !== IpProto.UDP) || fragmented || have >= ihl + 4;
}

// So that the high bits, which pick the port, depend on every input byte.
function avalanche(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  return h >>> 0;
}

/** The outer IPv6 flow label of a flow (RFC 6438): 20 bits of its hash, never 0 (no label). */
export function flowLabel(hash: number): number {
  return hash >>> 12 || 1;
}

/** Scales a 32-bit hash into [min, max], as the Linux kernel's udp_flow_src_port() does. */
export function sourcePort(hash: number, min: number, max: number): number {
  return min + Math.floor((hash * (max - min + 1)) / 0x1_0000_0000);
}
