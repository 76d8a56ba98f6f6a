// How a network's frames are wrapped for the underlay. An Encap writes its
// header in place, in the headroom in front of the frame, and says where the
// packet now begins; the kernel adds the outer IPv4 header when it is sent.
import { flowHash, sourcePort } from '../wire/flow-hash.ts';
import { emitUdp, UDP_HEADER_LEN } from '../wire/udp.ts';
import { emitVxlan, VXLAN_HEADER_LEN } from '../wire/vxlan.ts';

export interface Encap {
  /** Bytes written in front of the frame. */
  readonly headerLen: number;
  /** Writes the header before buf[off, off+len); returns the packet's offset. */
  write(buf: Buffer, off: number, len: number): number;
}

/** UDP + VXLAN, sent on a raw UDP socket so the source port can carry the flow hash. */
export class VxlanEncap implements Encap {
  readonly headerLen = UDP_HEADER_LEN + VXLAN_HEADER_LEN;

  constructor(
    readonly vni: number,
    readonly dstPort: number,
    readonly srcPortMin: number,
    readonly srcPortMax: number,
  ) {}

  write(buf: Buffer, off: number, len: number): number {
    const start = off - this.headerLen;
    const src = sourcePort(flowHash(buf, off, len), this.srcPortMin, this.srcPortMax);
    emitUdp(src, this.dstPort, VXLAN_HEADER_LEN + len, buf, start);
    emitVxlan(this.vni, buf, start + UDP_HEADER_LEN);
    return start;
  }
}
