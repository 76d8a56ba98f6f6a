// The outer IP header of a captured tunnel packet, IPv4 or IPv6, as one view:
// what decoding and describing an encapsulation needs of it, whatever the
// underlay's family. Pure parsing over a Buffer.
import { formatIp } from './ip-address.ts';
import { newIpv4Repr, parseIpv4 } from './ipv4.ts';
import { IPV6_DST, IPV6_HEADER_LEN, IPV6_SRC } from './ipv6.ts';
import { ParseError } from './parse-error.ts';

export interface OuterIpRepr {
  version: 4 | 6;
  headerLen: number;
  /** The whole IP packet: IPv4 total length, or the IPv6 header plus payload length. */
  totalLen: number;
  /** IPv4 TOS or IPv6 traffic class. */
  tos: number;
  /** IPv4 TTL or IPv6 hop limit. */
  ttl: number;
  /** IPv4 Don't Fragment (false for IPv6, which has no such bit). */
  df: boolean;
  /** IPv4: a fragment. */
  fragment: boolean;
  /** IPv6 flow label (0 for IPv4). */
  flowLabel: number;
  /** IPv4 protocol or IPv6 next header (no extension headers are walked). */
  protocol: number;
  /** Canonical text of the addresses. */
  src: string;
  dst: string;
}

export function newOuterIpRepr(): OuterIpRepr {
  return {
    version: 4,
    headerLen: 20,
    totalLen: 20,
    tos: 0,
    ttl: 0,
    df: false,
    fragment: false,
    flowLabel: 0,
    protocol: 0,
    src: '',
    dst: '',
  };
}

const v4 = newIpv4Repr();
const addr = new Uint8Array(16);

/** Parses the IPv4 or IPv6 header at buf[off, end), its version given by `ethertypeV6`. */
export function parseOuterIp(
  buf: Uint8Array,
  off: number,
  end: number,
  ethertypeV6: boolean,
  out: OuterIpRepr,
): ParseError {
  if (!ethertypeV6) {
    const e = parseIpv4(buf, off, end, v4);
    if (e !== ParseError.None) return e;
    Object.assign(out, {
      version: 4,
      headerLen: v4.headerLen,
      totalLen: v4.totalLen,
      tos: v4.tos,
      ttl: v4.ttl,
      df: v4.df,
      fragment: v4.fragment,
      flowLabel: 0,
      protocol: v4.protocol,
      src: dotted(v4.src),
      dst: dotted(v4.dst),
    });
    return ParseError.None;
  }
  if (end - off < IPV6_HEADER_LEN) return ParseError.Truncated;
  if (buf[off] >>> 4 !== 6) return ParseError.Malformed;
  const payload = (buf[off + 4] << 8) | buf[off + 5];
  if (end - off - IPV6_HEADER_LEN < payload) return ParseError.Truncated;
  out.version = 6;
  out.headerLen = IPV6_HEADER_LEN;
  out.totalLen = IPV6_HEADER_LEN + payload;
  out.tos = ((buf[off] & 0x0f) << 4) | (buf[off + 1] >>> 4);
  out.flowLabel = ((buf[off + 1] & 0x0f) << 16) | (buf[off + 2] << 8) | buf[off + 3];
  out.protocol = buf[off + 6];
  out.ttl = buf[off + 7];
  out.df = false;
  out.fragment = out.protocol === 44;
  addr.set(buf.subarray(off + IPV6_SRC, off + IPV6_SRC + 16));
  out.src = formatIp(addr);
  addr.set(buf.subarray(off + IPV6_DST, off + IPV6_DST + 16));
  out.dst = formatIp(addr);
  return ParseError.None;
}

function dotted(a: number): string {
  return `${a >>> 24}.${(a >>> 16) & 0xff}.${(a >>> 8) & 0xff}.${a & 0xff}`;
}
