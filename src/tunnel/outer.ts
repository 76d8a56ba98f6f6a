// The outer IP header of a tunnel packet, rebuilt for captures: the kernel
// writes it on send, and a UDP socket (or an IPv6 raw socket) never shows it on receive.
import { ipv4Of, isV4Mapped } from '../wire/ip-address.ts';
import { checksum } from '../wire/checksum.ts';
import { emitIpv4, IPV4_MIN_HEADER_LEN, IpProto, newIpv4Repr } from '../wire/ipv4.ts';
import { emitIpv6, IPV6_DST, IPV6_HEADER_LEN, IPV6_SRC, newIpv6Header, pseudoHeaderSum6 } from '../wire/ipv6.ts';

const ip = newIpv4Repr();
const ip6 = newIpv6Header();

/** The outer IP header's length for an underlay address (16 bytes): IPv4 or IPv6, no options. */
export function outerIpLen(addr: Uint8Array): number {
  return isV4Mapped(addr) ? IPV4_MIN_HEADER_LEN : IPV6_HEADER_LEN;
}

/**
 * Fills in the UDP checksum of the UDP/IPv6 packet whose IPv6 header is at
 * buf[at] (IPv6 requires one; the kernel computes it on the way out, so a
 * rebuilt packet must too). Anything else is left as it is.
 */
export function fillUdp6Checksum(buf: Buffer, at: number): void {
  if (buf[at] >>> 4 !== 6 || buf[at + 6] !== IpProto.UDP) return;
  const len = buf.readUInt16BE(at + 4);
  const udp = at + IPV6_HEADER_LEN;
  buf.writeUInt16BE(0, udp + 6);
  const sum = checksum(buf, udp, len, pseudoHeaderSum6(buf, at + IPV6_SRC, at + IPV6_DST, IpProto.UDP, len));
  buf.writeUInt16BE(sum === 0 ? 0xffff : sum, udp + 6);
}

/**
 * Writes an outer IPv4 or IPv6 header (the family of `src`) from `src` to
 * `dst` (16-byte addresses) for `payload` bytes; returns its length. IPv6
 * takes `ttl` as hop limit, `tos` as traffic class and `flowLabel`; IPv4 `df`.
 */
export function writeOuterHeader(
  buf: Buffer,
  at: number,
  src: Uint8Array,
  srcOff: number,
  dst: Uint8Array,
  dstOff: number,
  protocol: number,
  ttl: number,
  tos: number,
  df: boolean,
  payload: number,
  flowLabel = 0,
): number {
  if (!isV4Mapped(src, srcOff)) {
    ip6.payloadLen = payload;
    ip6.nextHeader = protocol;
    ip6.hopLimit = ttl;
    ip6.trafficClass = tos;
    ip6.flowLabel = flowLabel;
    ip6.src = src.subarray(srcOff, srcOff + 16);
    ip6.dst = dst.subarray(dstOff, dstOff + 16);
    return emitIpv6(ip6, buf, at);
  }
  ip.totalLen = IPV4_MIN_HEADER_LEN + payload;
  ip.protocol = protocol;
  ip.ttl = ttl;
  ip.tos = tos;
  ip.df = df;
  ip.src = ipv4Of(src, srcOff);
  ip.dst = ipv4Of(dst, dstOff);
  return emitIpv4(ip, buf, at);
}
