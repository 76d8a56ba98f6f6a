// How a network's frames are wrapped for the underlay. An Encap writes its
// header in place, in the headroom in front of the frame, and says where the
// packet now begins; the kernel adds the outer IPv4 header when it is sent.
import { ETH_HEADER_LEN } from '../wire/ethernet.ts';
import { flowHash, sourcePort } from '../wire/flow-hash.ts';
import { emitGre, fillGreChecksum, greHeaderLen, GRE_FLAG_C, GRE_FLAG_K, GRE_FLAG_S, GRE_PROTO_TEB } from '../wire/gre.ts';
import { IPV4_MIN_HEADER_LEN } from '../wire/ipv4.ts';
import { emitUdp, UDP_HEADER_LEN } from '../wire/udp.ts';
import { emitVxlan, VXLAN_HEADER_LEN } from '../wire/vxlan.ts';

export interface Encap {
  /** Bytes written in front of the frame. */
  readonly headerLen: number;
  /** What the TAP's MTU gives up to fit the underlay's: outer IPv4, this header, inner Ethernet. */
  readonly overhead: number;
  /** Writes the header before buf[off, off+len); returns the packet's offset. */
  write(buf: Buffer, off: number, len: number): number;
}

/** UDP + VXLAN, sent on a raw UDP socket so the source port can carry the flow hash. */
export class VxlanEncap implements Encap {
  readonly headerLen = UDP_HEADER_LEN + VXLAN_HEADER_LEN;
  readonly overhead = IPV4_MIN_HEADER_LEN + this.headerLen + ETH_HEADER_LEN;

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

/**
 * GRE with key, protocol 0x6558, as Linux gretap and Open vSwitch send it; sent
 * on a raw IPv4 socket of protocol 47. One sequence number per network,
 * counted per frame: a flooded frame carries the same number to every remote,
 * which sees gaps (unicast to others) but never a step back.
 */
export class GreEncap implements Encap {
  readonly headerLen: number;
  readonly overhead: number;
  private readonly flags: number;
  private seq = 0;

  constructor(readonly key: number, readonly csum: boolean, readonly sequence: boolean) {
    this.flags = GRE_FLAG_K | (csum ? GRE_FLAG_C : 0) | (sequence ? GRE_FLAG_S : 0);
    this.headerLen = greHeaderLen(this.flags);
    this.overhead = IPV4_MIN_HEADER_LEN + this.headerLen + ETH_HEADER_LEN;
  }

  write(buf: Buffer, off: number, len: number): number {
    const start = off - this.headerLen;
    emitGre(this.flags, GRE_PROTO_TEB, this.key, this.seq, buf, start);
    if (this.sequence) this.seq = (this.seq + 1) >>> 0;
    if (this.csum) fillGreChecksum(buf, start, this.headerLen + len);
    return start;
  }
}
