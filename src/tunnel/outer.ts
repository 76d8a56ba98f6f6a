// The outer IP header of a tunnel packet, rebuilt for captures: the kernel
// writes it on send, and a UDP socket (or an IPv6 raw socket) never shows it on receive.
import { ipv4Of, isV4Mapped } from '../wire/ip-address.ts';
import { emitIpv4, IPV4_MIN_HEADER_LEN, newIpv4Repr } from '../wire/ipv4.ts';
import { emitIpv6, IPV6_HEADER_LEN } from '../wire/ipv6.ts';

const ip = newIpv4Repr();

/** The outer IP header's length for an underlay address (16 bytes): IPv4 or IPv6, no options. */
export function outerIpLen(addr: Uint8Array): number {
  return isV4Mapped(addr) ? IPV4_MIN_HEADER_LEN : IPV6_HEADER_LEN;
}

/**
 * Writes an outer IPv4 or IPv6 header (the family of `src`) from `src` to
 * `dst` (16-byte addresses) for `payload` bytes; returns its length. IPv6
 * takes `ttl` as hop limit, `tos` as traffic class and `flowLabel`; IPv4 `df`.
 */
export function writeOuterHeader(buf: Buffer, at: number, src: Uint8Array, srcOff: number, dst: Uint8Array, dstOff: number,
  protocol: number, ttl: number, tos: number, df: boolean, payload: number, flowLabel = 0): number {
  if (!isV4Mapped(src, srcOff)) return emitIpv6(payload, protocol, ttl, src, srcOff, dst, dstOff, buf, at, tos, flowLabel);
  ip.totalLen = IPV4_MIN_HEADER_LEN + payload;
  ip.protocol = protocol;
  ip.ttl = ttl;
  ip.tos = tos;
  ip.df = df;
  ip.src = ipv4Of(src, srcOff);
  ip.dst = ipv4Of(dst, dstOff);
  return emitIpv4(ip, buf, at);
}
