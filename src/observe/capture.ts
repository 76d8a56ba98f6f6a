// `vtepctl capture`: copies of what the daemon reads and writes, streamed to
// control clients while they ask for them. The data path offers its packets
// to this PacketObserver only while a session runs (one check per batch), and
// copies are made only then.
//
// Every copy is an Ethernet frame, so one pcap can hold both sides of an
// event: a TAP frame as it is; a tunnel packet behind a synthesized Ethernet
// header and the outer headers the kernel writes on send or a socket strips
// on receive, rebuilt by the network's tunnel with the addresses, protocol,
// TTL, TOS and DF the packet had or was sent with. Checksums there are
// computed, the IP ID is 0.
import { OUTER_DF, OUTER_LABEL, type Batch, type SendQueue } from '../datapath/batch.ts';
import type { PacketObserver, ReceivePoint } from '../datapath/datapath.ts';
import type { Network } from '../switch/network.ts';
import { fillUdp6Checksum, writeOuterHeader } from '../tunnel/outer.ts';
import type { Resolved } from '../tunnel/tunnel.ts';
import { EtherType, ETH_HEADER_LEN, emitEthernet } from '../wire/ethernet.ts';
import { ADDR_LEN, isV4Mapped } from '../wire/ip-address.ts';

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

/** Where a session's packets go. */
export interface PacketSink {
  /** Whether a packet would be taken now: when not, it is counted as skipped and not even copied. */
  readonly room: boolean;
  packet(p: CapturedPacket): void;
  /** Counts `n` packets (default 1) not taken for want of room. */
  skipped(n?: number): void;
  end(): void;
}

interface Session {
  req: CaptureRequest;
  left: number;
  sink: PacketSink;
}

const ETHER4 = { dst: 0, src: 0, ethertype: EtherType.IPv4 };
const ETHER6 = { dst: 0, src: 0, ethertype: EtherType.IPv6 };

/** The Ethernet header in front of a rebuilt underlay packet: its EtherType is the underlay's family. */
function etherFor(local: Uint8Array) {
  return isV4Mapped(local) ? ETHER4 : ETHER6;
}
const scratch = Buffer.alloc(65536 + 128);

export class Mirror implements PacketObserver {
  private readonly sessions = new Set<Session>();
  active = false;

  /** `local`: this VTEP's underlay address (16 bytes), the source of what it sends. */
  constructor(private readonly local: Uint8Array) {}

  /** Starts a session; returns the function that stops it. */
  start(req: CaptureRequest, sink: PacketSink): () => void {
    const s: Session = { req, left: req.count ?? Infinity, sink };
    this.sessions.add(s);
    this.active = true;
    return () => this.stop(s);
  }

  tapRx(net: Network, b: Batch): void {
    if (!this.wants(net, 'tap', b.count)) return;
    for (let i = 0; i < b.count; i++) this.offer(net, 'tap', 'rx', b.arena, b.start(i), Math.min(b.len[i], b.room));
  }

  tapTx(net: Network, q: SendQueue): void {
    if (!this.wants(net, 'tap', q.count)) return;
    for (let i = 0; i < q.count; i++) if (q.len[i] !== 0) this.offer(net, 'tap', 'tx', q.arena, q.off[i], q.len[i]);
  }

  tunnelTx(net: Network, q: SendQueue): void {
    if (!this.wants(net, 'tunnel', q.count)) return;
    for (let i = 0; i < q.count; i++)
      this.offer(net, 'tunnel', 'tx', scratch, 0, renderSent(net, q, i, this.local, scratch));
  }

  tunnelRx(b: Batch, resolved: Resolved<Network>, p: ReceivePoint): void {
    if (!this.anyRoom()) {
      // Every client is behind: count what each would have been offered, in one pass per session.
      for (const s of this.sessions) {
        if (s.req.side === 'tap') continue;
        let n = 0;
        for (let i = 0; i < b.count; i++) {
          const net = resolved.target[i];
          if (net !== undefined && matches(s, net, 'tunnel')) n++;
        }
        if (n > 0) s.sink.skipped(n);
      }
      return;
    }
    for (let i = 0; i < b.count; i++) {
      const net = resolved.target[i];
      if (net === undefined || !this.wants(net, 'tunnel', 1)) continue;
      const len = Math.min(b.len[i], b.room);
      let at = emitEthernet(etherFor(p.local), scratch, 0);
      at += net.tunnel.writeStrippedHeaders(b, i, p.local, p.port, scratch, at);
      b.arena.copy(scratch, at, b.start(i), b.start(i) + len);
      fillUdp6Checksum(scratch, ETH_HEADER_LEN);
      this.offer(net, 'tunnel', 'rx', scratch, 0, at + len);
    }
  }

  /**
   * Whether a session wants `net`'s `side` and has room for it, before any
   * of `n` packets is copied or rebuilt for it. If none has room, those that
   * match count the `n` as skipped at once: clients that do not read cost
   * the data path a check per batch, not work per packet.
   */
  private wants(net: Network, side: Side, n: number): boolean {
    for (const s of this.sessions) if (matches(s, net, side) && s.sink.room) return true;
    for (const s of this.sessions) if (matches(s, net, side)) s.sink.skipped(n);
    return false;
  }

  private anyRoom(): boolean {
    for (const s of this.sessions) if (s.sink.room) return true;
    return false;
  }

  private offer(net: Network, side: Side, dir: 'rx' | 'tx', buf: Buffer, off: number, len: number): void {
    let data: string | undefined;
    for (const s of this.sessions) {
      if (!matches(s, net, side)) continue;
      // A client behind on reading costs a count, not a copy: the data path's cost stays flat.
      if (!s.sink.room) {
        s.sink.skipped();
        continue;
      }
      data ??= buf.toString('base64', off, off + len);
      s.sink.packet({ time: performance.timeOrigin + performance.now(), network: net.name, side, dir, data });
      if (--s.left <= 0) this.stop(s);
    }
  }

  private stop(s: Session): void {
    if (!this.sessions.delete(s)) return;
    this.active = this.sessions.size > 0;
    s.sink.end();
  }
}

/**
 * Entry i of a network's send queue as the underlay carries it, into `buf`:
 * Ethernet, the outer IP header the kernel writes, the header a UDP socket
 * adds, then the packet. Returns the frame's length.
 */
export function renderSent(net: Network, q: SendQueue, i: number, local: Uint8Array, buf: Buffer): number {
  const encap = net.encap;
  const len = q.len[i];
  let at = emitEthernet(etherFor(local), buf, 0);
  const df = net.df === 'inherit' ? (q.outer[i] & OUTER_DF) !== 0 : net.df;
  at += writeOuterHeader(
    buf,
    at,
    local,
    0,
    net.remotes.bytes,
    q.dst[i] * ADDR_LEN,
    net.tunnel.outerProtocol,
    net.ttl,
    q.tos[i],
    df,
    encap.kernelHeaderLen + len,
    q.outer[i] & OUTER_LABEL,
  );
  encap.writeKernelHeader(buf, at, q.lane[i], len);
  at += encap.kernelHeaderLen;
  q.arena.copy(buf, at, q.off[i], q.off[i] + len);
  fillUdp6Checksum(buf, ETH_HEADER_LEN);
  return at + len;
}

function matches(s: Session, net: Network, side: Side): boolean {
  return (s.req.network === undefined || s.req.network === net.name) && (s.req.side === 'both' || s.req.side === side);
}
