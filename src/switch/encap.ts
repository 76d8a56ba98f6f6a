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
  /** Bytes of tunnel header the kernel adds besides the IPv4 header (a UDP socket's UDP header). */
  readonly kernelHeaderLen: number;
  /** What the TAP's MTU gives up to fit the underlay's: outer IPv4, the tunnel header, inner Ethernet. */
  readonly overhead: number;
  /** Destination port for a UDP socket; 0 for a raw socket. */
  readonly dstPort: number;
  /** The sender socket the packet last written goes out of (0 with one socket). */
  lane: number;
  /** Writes the header before buf[off, off+len); returns the packet's offset. */
  write(buf: Buffer, off: number, len: number): number;
}

/**
 * VXLAN. On a raw UDP socket (lanes = 0) it writes the UDP header too, with
 * a source port from the flow hash, as the kernel does. On `lanes` UDP
 * sockets bound to ports of the source range (for UDP GSO, which raw sockets
 * lack) it writes the VXLAN header only, and the flow hash picks the socket:
 * one flow, one source port, either way.
 */
export class VxlanEncap implements Encap {
  readonly headerLen: number;
  readonly kernelHeaderLen: number;
  readonly overhead = IPV4_MIN_HEADER_LEN + UDP_HEADER_LEN + VXLAN_HEADER_LEN + ETH_HEADER_LEN;
  readonly dstPort: number;
  lane = 0;

  constructor(
    readonly vni: number,
    readonly port: number,
    readonly srcPortMin: number,
    readonly srcPortMax: number,
    readonly lanes = 0,
  ) {
    this.headerLen = lanes > 0 ? VXLAN_HEADER_LEN : UDP_HEADER_LEN + VXLAN_HEADER_LEN;
    this.kernelHeaderLen = lanes > 0 ? UDP_HEADER_LEN : 0;
    this.dstPort = lanes > 0 ? port : 0;
  }

  write(buf: Buffer, off: number, len: number): number {
    const start = off - this.headerLen;
    const hash = flowHash(buf, off, len);
    if (this.lanes > 0) {
      this.lane = sourcePort(hash, 0, this.lanes - 1);
      emitVxlan(this.vni, buf, start);
    } else {
      emitUdp(sourcePort(hash, this.srcPortMin, this.srcPortMax), this.port, VXLAN_HEADER_LEN + len, buf, start);
      emitVxlan(this.vni, buf, start + UDP_HEADER_LEN);
    }
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
  readonly kernelHeaderLen = 0;
  readonly overhead: number;
  readonly dstPort = 0;
  lane = 0;
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
