// "Too big" ICMP errors as they arrive: ICMP destination unreachable,
// fragmentation needed (RFC 792, with RFC 1191's next-hop MTU) from a raw
// IPv4 socket, IP header first; ICMPv6 packet too big (RFC 4443 section 3.2)
// from a raw ICMPv6 socket, which hands over the message alone (its checksum
// verified by the kernel). What is read: the MTU the error names and what it
// quotes of the packet it answers, so that the switch can tell whether that
// packet was one of ours before believing the error (RFC 5927 section 4).
//
// An error holds only the start of the packet it answers (8 bytes past the IP
// header at least, RFC 792; as much as fits 576 bytes from routers, RFC 1812;
// 1280 for ICMPv6): the quoted transport header is read as far as it goes.
import { checksum } from './checksum.ts';
import { IpProto, IPV4_MIN_HEADER_LEN, newIpv4Repr, parseIpv4, readU32 } from './ipv4.ts';
import { IPV6_DST, IPV6_HEADER_LEN, IPV6_SRC } from './ipv6.ts';
import { ADDR_LEN, writeV4Mapped } from './ip-address.ts';
import { ParseError } from './parse-error.ts';

const ICMP_HEADER_LEN = 8;
const ICMP_UNREACH = 3;
const ICMP_FRAG_NEEDED = 4;
const ICMPV6_PACKET_TOO_BIG = 2;

export interface TooBigRepr {
  /** The largest packet the next hop takes, as the error says (0 from routers older than RFC 1191). */
  mtu: number;
  /** The quoted packet's source and destination, 16 bytes each (IPv4 as ::ffff:a.b.c.d). */
  readonly src: Uint8Array;
  readonly dst: Uint8Array;
  /** Its protocol (IPv4) or next header (IPv6). */
  protocol: number;
  /** DF in the quoted IPv4 header; true over IPv6, which routers never fragment. */
  df: boolean;
  /** A fragment other than the first (IPv4): not a packet anyone sent whole. */
  fragment: boolean;
  /** Its length as its IP header says. */
  length: number;
  /** The quoted transport header onwards, as far as quoted: buf[l4, end). */
  l4: number;
  end: number;
}

export function newTooBigRepr(): TooBigRepr {
  return {
    mtu: 0,
    src: new Uint8Array(ADDR_LEN),
    dst: new Uint8Array(ADDR_LEN),
    protocol: 0,
    df: false,
    fragment: false,
    length: 0,
    l4: 0,
    end: 0,
  };
}

/** Why an arriving ICMP message is not a readable "too big" error. */
export type TooBigParse = 'ok' | 'not-too-big' | 'truncated' | 'malformed' | 'bad-checksum';

const PARSE_ERRORS: Partial<Record<ParseError, TooBigParse>> = {
  [ParseError.Truncated]: 'truncated',
  [ParseError.Malformed]: 'malformed',
  [ParseError.BadChecksum]: 'bad-checksum',
};

const outerIp = newIpv4Repr();

/** An IPv4 packet from a raw ICMP socket at buf[off, end): its IP header, then the ICMP message. */
export function parseTooBig4(buf: Uint8Array, off: number, end: number, out: TooBigRepr): TooBigParse {
  const e = parseIpv4(buf, off, end, outerIp);
  if (e !== ParseError.None) return PARSE_ERRORS[e] ?? 'malformed';
  if (outerIp.protocol !== IpProto.ICMP || outerIp.fragment) return 'malformed';
  const icmp = off + outerIp.headerLen;
  const icmpEnd = off + outerIp.totalLen;
  if (icmpEnd - icmp < ICMP_HEADER_LEN) return 'truncated';
  if (buf[icmp] !== ICMP_UNREACH || buf[icmp + 1] !== ICMP_FRAG_NEEDED) return 'not-too-big';
  if (checksum(buf, icmp, icmpEnd - icmp) !== 0) return 'bad-checksum';
  out.mtu = (buf[icmp + 6] << 8) | buf[icmp + 7];
  const q = icmp + ICMP_HEADER_LEN;
  if (icmpEnd - q < IPV4_MIN_HEADER_LEN) return 'truncated';
  const ihl = (buf[q] & 0x0f) * 4;
  if (buf[q] >>> 4 !== 4 || ihl < IPV4_MIN_HEADER_LEN) return 'malformed';
  if (icmpEnd - q < ihl) return 'truncated';
  const flags = (buf[q + 6] << 8) | buf[q + 7];
  out.protocol = buf[q + 9];
  out.df = (flags & 0x4000) !== 0;
  out.fragment = (flags & 0x1fff) !== 0;
  out.length = (buf[q + 2] << 8) | buf[q + 3];
  writeV4Mapped(readU32(buf, q + 12), out.src);
  writeV4Mapped(readU32(buf, q + 16), out.dst);
  out.l4 = q + ihl;
  out.end = icmpEnd;
  return 'ok';
}

/** An ICMPv6 message from a raw ICMPv6 socket at buf[off, end) (no IPv6 header: the socket strips it). */
export function parseTooBig6(buf: Uint8Array, off: number, end: number, out: TooBigRepr): TooBigParse {
  if (end - off < ICMP_HEADER_LEN) return 'truncated';
  if (buf[off] !== ICMPV6_PACKET_TOO_BIG || buf[off + 1] !== 0) return 'not-too-big';
  out.mtu = readU32(buf, off + 4);
  const q = off + ICMP_HEADER_LEN;
  if (end - q < IPV6_HEADER_LEN) return 'truncated';
  if (buf[q] >>> 4 !== 6) return 'malformed';
  out.protocol = buf[q + 6];
  out.df = true;
  out.fragment = false;
  out.length = IPV6_HEADER_LEN + ((buf[q + 4] << 8) | buf[q + 5]);
  out.src.set(buf.subarray(q + IPV6_SRC, q + IPV6_SRC + ADDR_LEN));
  out.dst.set(buf.subarray(q + IPV6_DST, q + IPV6_DST + ADDR_LEN));
  out.l4 = q + IPV6_HEADER_LEN;
  out.end = end;
  return 'ok';
}
