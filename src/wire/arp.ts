// ARP for IPv4 over Ethernet (RFC 826), the only kind a VTEP meets.
import { ParseError } from './parse-error.ts';
import { readU32, writeU16, writeU32 } from './ipv4.ts';
import { readMac, writeMac, type Mac } from './mac.ts';

export const ARP_LEN = 28;
export const ArpOp = { Request: 1, Reply: 2 } as const;

const HTYPE = 0;
const PTYPE = 2;
const HLEN = 4;
const PLEN = 5;
const OPER = 6;
const SHA = 8;
const SPA = 14;
const THA = 18;
const TPA = 24;
const HTYPE_ETHERNET = 1;
const PTYPE_IPV4 = 0x0800;

export interface ArpRepr {
  op: number;
  senderMac: Mac;
  senderIp: number;
  targetMac: Mac;
  targetIp: number;
}

export function newArpRepr(): ArpRepr {
  return { op: 0, senderMac: 0, senderIp: 0, targetMac: 0, targetIp: 0 };
}

export function parseArp(buf: Uint8Array, off: number, end: number, out: ArpRepr): ParseError {
  if (end - off < ARP_LEN) return ParseError.Truncated;
  if (
    ((buf[off + HTYPE] << 8) | buf[off + HTYPE + 1]) !== HTYPE_ETHERNET ||
    ((buf[off + PTYPE] << 8) | buf[off + PTYPE + 1]) !== PTYPE_IPV4 ||
    buf[off + HLEN] !== 6 ||
    buf[off + PLEN] !== 4
  )
    return ParseError.Malformed;
  out.op = (buf[off + OPER] << 8) | buf[off + OPER + 1];
  out.senderMac = readMac(buf, off + SHA);
  out.senderIp = readU32(buf, off + SPA);
  out.targetMac = readMac(buf, off + THA);
  out.targetIp = readU32(buf, off + TPA);
  return ParseError.None;
}

export function emitArp(r: ArpRepr, buf: Uint8Array, off: number): number {
  writeU16(HTYPE_ETHERNET, buf, off + HTYPE);
  writeU16(PTYPE_IPV4, buf, off + PTYPE);
  buf[off + HLEN] = 6;
  buf[off + PLEN] = 4;
  writeU16(r.op, buf, off + OPER);
  writeMac(r.senderMac, buf, off + SHA);
  writeU32(r.senderIp, buf, off + SPA);
  writeMac(r.targetMac, buf, off + THA);
  writeU32(r.targetIp, buf, off + TPA);
  return ARP_LEN;
}
