// The classic libpcap file format (microsecond timestamps, little-endian), the
// one tcpdump -w writes and every tool reads. No maintained npm package writes it.
import { ParseError } from './parse-error.ts';

export const PCAP_GLOBAL_HEADER_LEN = 24;
export const PCAP_RECORD_HEADER_LEN = 16;
export const LINKTYPE_ETHERNET = 1;
const MAGIC_US = 0xa1b2c3d4;
const MAGIC_NS = 0xa1b23c4d;
const DEFAULT_SNAPLEN = 262144;

export interface PcapRecord {
  /** Seconds since the epoch, with sub-second precision. */
  time: number;
  /** Length on the wire; data may be shorter if the capture cut it. */
  origLen: number;
  data: Buffer;
}

export interface PcapFile {
  linktype: number;
  records: PcapRecord[];
}

export function emitPcapHeader(linktype: number, snaplen = DEFAULT_SNAPLEN): Buffer {
  const h = Buffer.alloc(PCAP_GLOBAL_HEADER_LEN);
  h.writeUInt32LE(MAGIC_US, 0);
  h.writeUInt16LE(2, 4);
  h.writeUInt16LE(4, 6);
  h.writeInt32LE(0, 8); // thiszone
  h.writeUInt32LE(0, 12); // sigfigs
  h.writeUInt32LE(snaplen, 16);
  h.writeUInt32LE(linktype, 20);
  return h;
}

export function emitPcapRecord(timeMs: number, data: Uint8Array, off: number, len: number): Buffer {
  const r = Buffer.alloc(PCAP_RECORD_HEADER_LEN + len);
  const sec = Math.floor(timeMs / 1000);
  r.writeUInt32LE(sec, 0);
  r.writeUInt32LE(Math.floor((timeMs - sec * 1000) * 1000), 4);
  r.writeUInt32LE(len, 8);
  r.writeUInt32LE(len, 12);
  r.set(data.subarray(off, off + len), PCAP_RECORD_HEADER_LEN);
  return r;
}

/** Reads a whole pcap file (either byte order, micro- or nanosecond stamps). */
export function parsePcap(buf: Buffer): PcapFile | ParseError {
  if (buf.length < PCAP_GLOBAL_HEADER_LEN) return ParseError.Truncated;
  let le: boolean;
  let nano: boolean;
  const magicLe = buf.readUInt32LE(0);
  const magicBe = buf.readUInt32BE(0);
  if (magicLe === MAGIC_US || magicLe === MAGIC_NS) {
    le = true;
    nano = magicLe === MAGIC_NS;
  } else if (magicBe === MAGIC_US || magicBe === MAGIC_NS) {
    le = false;
    nano = magicBe === MAGIC_NS;
  } else {
    return ParseError.Malformed;
  }
  const u32 = (o: number) => (le ? buf.readUInt32LE(o) : buf.readUInt32BE(o));
  const linktype = u32(20);
  const records: PcapRecord[] = [];
  let off = PCAP_GLOBAL_HEADER_LEN;
  // A capture cut short by the writer's exit ends in a partial record: keep what is whole.
  while (off + PCAP_RECORD_HEADER_LEN <= buf.length) {
    const sec = u32(off);
    const frac = u32(off + 4);
    const inclLen = u32(off + 8);
    const origLen = u32(off + 12);
    const start = off + PCAP_RECORD_HEADER_LEN;
    if (start + inclLen > buf.length) break;
    records.push({ time: sec + frac / (nano ? 1e9 : 1e6), origLen, data: buf.subarray(start, start + inclLen) });
    off = start + inclLen;
  }
  return { linktype, records };
}
