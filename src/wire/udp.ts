// UDP header (RFC 768).
import { ParseError } from './parse-error.ts';
import { writeU16 } from './ipv4.ts';

export const UDP_HEADER_LEN = 8;

const SRC_PORT = 0;
const DST_PORT = 2;
const LENGTH = 4;
const CHECKSUM = 6;

export interface UdpRepr {
  srcPort: number;
  dstPort: number;
  length: number;
  checksum: number;
}

export function newUdpRepr(): UdpRepr {
  return { srcPort: 0, dstPort: 0, length: 0, checksum: 0 };
}

export function parseUdp(buf: Uint8Array, off: number, end: number, out: UdpRepr): ParseError {
  if (end - off < UDP_HEADER_LEN) return ParseError.Truncated;
  const length = (buf[off + LENGTH] << 8) | buf[off + LENGTH + 1];
  if (length < UDP_HEADER_LEN) return ParseError.Malformed;
  if (length > end - off) return ParseError.Truncated;
  out.srcPort = (buf[off + SRC_PORT] << 8) | buf[off + SRC_PORT + 1];
  out.dstPort = (buf[off + DST_PORT] << 8) | buf[off + DST_PORT + 1];
  out.length = length;
  out.checksum = (buf[off + CHECKSUM] << 8) | buf[off + CHECKSUM + 1];
  return ParseError.None;
}

/**
 * Writes a UDP header for `payloadLen` bytes that follow it. The checksum is
 * left zero, which IPv4 allows and which is what the Linux VXLAN device and
 * Open vSwitch send by default.
 */
export function emitUdp(srcPort: number, dstPort: number, payloadLen: number, buf: Uint8Array, off: number): number {
  writeU16(srcPort, buf, off + SRC_PORT);
  writeU16(dstPort, buf, off + DST_PORT);
  writeU16(UDP_HEADER_LEN + payloadLen, buf, off + LENGTH);
  writeU16(0, buf, off + CHECKSUM);
  return UDP_HEADER_LEN;
}
