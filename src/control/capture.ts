// `vtepctl capture`: copies of what the daemon reads and writes, streamed to
// control clients while they ask for them. Costs nothing on the data path
// without a client (one check per batch), and copies only then.
//
// Every copy is an Ethernet frame, so one pcap can hold both sides of an
// event: a TAP frame as it is; a tunnel packet behind a synthesized Ethernet
// and IPv4 header (the kernel writes the real outer header, and a UDP socket
// never shows it to us; for received VXLAN the UDP header is synthesized too),
// with the addresses, protocol, TTL and DF the packet had or was sent with.
// Checksums there are computed, the IP ID is 0.
import type { Batch, SendQueue } from '../batch.ts';
import type { Network } from '../switch/network.ts';
import { EtherType, ETH_HEADER_LEN, emitEthernet } from '../wire/ethernet.ts';
import { emitIpv4, IPV4_MIN_HEADER_LEN, IpProto, newIpv4Repr } from '../wire/ipv4.ts';
import { emitUdp, UDP_HEADER_LEN } from '../wire/udp.ts';

export type Side = 'tap' | 'tunnel';

export interface CapturedPacket {
  /** Milliseconds since the epoch, with fractions. */
  time: number;
  network: string;
  side: Side;
  dir: 'rx' | 'tx';
  /** The frame, base64. */
  data: string;
}

export interface CaptureRequest {
  network?: string;
  side: Side | 'both';
  count?: number;
}

/** How a network's tunnel packets look on the wire, to rebuild their outer header. */
export interface TunnelLook {
  protocol: number;
  ttl: number;
  df: boolean;
  /** VXLAN sent on UDP sockets: the source port of each lane (the kernel writes the UDP header). */
  lanePorts?: readonly number[];
}

interface Session {
  req: CaptureRequest;
  left: number;
  emit: (p: CapturedPacket) => void;
  end: () => void;
}

const ETHER = { dst: 0, src: 0, ethertype: EtherType.IPv4 };
const scratch = Buffer.alloc(65536 + 64);
const ip = newIpv4Repr();

export class Mirror {
  private readonly sessions = new Set<Session>();
  private readonly looks = new Map<Network, TunnelLook>();
  /** Checked once per batch on the data path. */
  active = false;

  constructor(private readonly local: number) {}

  register(net: Network, look: TunnelLook): void {
    this.looks.set(net, look);
  }

  /** Starts a session; returns the function that stops it. */
  start(req: CaptureRequest, emit: (p: CapturedPacket) => void, end: () => void): () => void {
    const s: Session = { req, left: req.count ?? Infinity, emit, end };
    this.sessions.add(s);
    this.active = true;
    return () => this.stop(s);
  }

  tapRx(net: Network, b: Batch): void {
    for (let i = 0; i < b.count; i++) this.offer(net, 'tap', 'rx', b.arena, b.start(i), Math.min(b.len[i], b.room));
  }

  /** Frames written to the TAP; called after the write, which sets len to 0 for each frame not written. */
  tapTx(net: Network, q: SendQueue): void {
    for (let i = 0; i < q.count; i++) if (q.len[i] !== 0) this.offer(net, 'tap', 'tx', q.arena, q.off[i], q.len[i]);
  }

  /** Packets queued for the tunnel: UDP or GRE header onwards; the IPv4 header is rebuilt. */
  tunnelTx(net: Network, q: SendQueue): void {
    const look = this.looks.get(net);
    if (look === undefined || !this.wants(net, 'tunnel')) return;
    const udp = look.lanePorts !== undefined ? UDP_HEADER_LEN : 0;
    for (let i = 0; i < q.count; i++) {
      let at = this.outer(look.protocol, look.ttl, q.tos[i], look.df, this.local, q.addr[i], udp + q.len[i]);
      if (look.lanePorts !== undefined) at += emitUdp(look.lanePorts[q.lane[i]], q.port[i], q.len[i], scratch, at);
      q.arena.copy(scratch, at, q.off[i], q.off[i] + q.len[i]);
      this.offer(net, 'tunnel', 'tx', scratch, 0, at + q.len[i]);
    }
  }

  /** A VXLAN datagram as a UDP socket gave it (VXLAN header onwards), from peer:port to dst:dstPort. */
  tunnelRxVxlan(net: Network, b: Batch, i: number, dst: number, dstPort: number): void {
    if (!this.wants(net, 'tunnel')) return;
    const len = Math.min(b.len[i], b.room);
    const head = this.outer(IpProto.UDP, b.ttl[i], b.tos[i], false, b.addr[i], dst, UDP_HEADER_LEN + len);
    emitUdp(b.port[i], dstPort, len, scratch, head);
    b.arena.copy(scratch, head + UDP_HEADER_LEN, b.start(i), b.start(i) + len);
    this.offer(net, 'tunnel', 'rx', scratch, 0, head + UDP_HEADER_LEN + len);
  }

  /** A GRE packet as a raw socket gave it, IPv4 header included. */
  tunnelRxGre(net: Network, b: Batch, i: number): void {
    if (!this.wants(net, 'tunnel')) return;
    const len = Math.min(b.len[i], b.room);
    emitEthernet(ETHER, scratch, 0);
    b.arena.copy(scratch, ETH_HEADER_LEN, b.start(i), b.start(i) + len);
    this.offer(net, 'tunnel', 'rx', scratch, 0, ETH_HEADER_LEN + len);
  }

  /** Writes Ethernet + IPv4 headers into scratch for `payload` bytes; returns where the payload goes. */
  private outer(protocol: number, ttl: number, tos: number, df: boolean, src: number, dst: number, payload: number): number {
    emitEthernet(ETHER, scratch, 0);
    ip.totalLen = IPV4_MIN_HEADER_LEN + payload;
    ip.protocol = protocol;
    ip.ttl = ttl;
    ip.tos = tos;
    ip.df = df;
    ip.src = src;
    ip.dst = dst;
    emitIpv4(ip, scratch, ETH_HEADER_LEN);
    return ETH_HEADER_LEN + IPV4_MIN_HEADER_LEN;
  }

  private wants(net: Network, side: Side): boolean {
    for (const s of this.sessions) if (matches(s, net, side)) return true;
    return false;
  }

  private offer(net: Network, side: Side, dir: 'rx' | 'tx', buf: Buffer, off: number, len: number): void {
    let data: string | undefined;
    for (const s of this.sessions) {
      if (!matches(s, net, side)) continue;
      data ??= buf.toString('base64', off, off + len);
      s.emit({ time: performance.timeOrigin + performance.now(), network: net.name, side, dir, data });
      if (--s.left <= 0) this.stop(s);
    }
  }

  private stop(s: Session): void {
    if (!this.sessions.delete(s)) return;
    this.active = this.sessions.size > 0;
    s.end();
  }
}

function matches(s: Session, net: Network, side: Side): boolean {
  return (s.req.network === undefined || s.req.network === net.name) && (s.req.side === 'both' || s.req.side === side);
}
