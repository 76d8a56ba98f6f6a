// The outer IP header of a tunnel packet, rebuilt for captures: the kernel
// writes it on send, and a UDP socket never shows it on receive.
import { ipv4Of } from '../wire/ip-address.ts';
import { emitIpv4, IPV4_MIN_HEADER_LEN, newIpv4Repr } from '../wire/ipv4.ts';

const ip = newIpv4Repr();

/** Writes an outer IPv4 header from `src` to `dst` (16-byte addresses) for `payload` bytes; returns its length. */
export function writeOuterHeader(buf: Buffer, at: number, src: Uint8Array, srcOff: number, dst: Uint8Array, dstOff: number,
  protocol: number, ttl: number, tos: number, df: boolean, payload: number): number {
  ip.totalLen = IPV4_MIN_HEADER_LEN + payload;
  ip.protocol = protocol;
  ip.ttl = ttl;
  ip.tos = tos;
  ip.df = df;
  ip.src = ipv4Of(src, srcOff);
  ip.dst = ipv4Of(dst, dstOff);
  return emitIpv4(ip, buf, at);
}
