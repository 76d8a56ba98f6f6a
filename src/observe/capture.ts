// `vtepctl capture`: copies of what the daemon reads and writes, streamed to
// control clients while they ask for them. The data path offers its packets
// to this PacketObserver only while a session runs (one check per batch), and
// copies are made only then.
//
// Every copy is an Ethernet frame, so one pcap can hold both sides of an
// event: a TAP frame as it is; a tunnel packet behind an Ethernet header and
// the outer headers the kernel writes on send or a socket strips on receive,
// rebuilt by the network's tunnel with the addresses, protocol, TTL, TOS,
// flow label and DF the packet had or was sent with (a fragmentable one
// without DF). A sent packet's MACs are its next hop's, as the kernel's
// tables (or the packet socket's hop table, which comes from them) give
// them; a received one's are unknown (the socket strips them) and zero.
// Checksums are computed; the IP ID is 0, as the kernel and the packet
// socket send a packet with DF (without DF, the kernel picks one).
import { OUTER_DF, OUTER_FRAGMENTABLE, OUTER_LABEL, type Batch, type SendQueue } from '../datapath/batch.ts';
import type { PacketObserver, ReceivePoint } from '../datapath/datapath.ts';
import type { Network } from '../switch/network.ts';
import { fillUdp6Checksum, writeOuterHeader } from '../tunnel/outer.ts';
import type { Resolved } from '../tunnel/tunnel.ts';
import { EtherType, ETH_HEADER_LEN, emitEthernet } from '../wire/ethernet.ts';
import { readMac } from '../wire/mac.ts';
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

/** The next hop's MACs toward an underlay address, as the kernel's tables say. */
export interface LinkMacs {
  srcMac: Uint8Array;
  dstMac: Uint8Array;
}

/** Where the MACs of sent packets come from; watched (kept current) while a capture runs. */
export interface LinkLookup {
  macs(dst: Uint8Array): LinkMacs | undefined;
  watch(on: boolean): void;
}

const ether = { dst: 0, src: 0, ethertype: 0 };

/** The Ethernet header in front of a rebuilt underlay packet: the underlay's family, the next hop's MACs if known. */
function etherFor(local: Uint8Array, link?: LinkMacs) {
  ether.ethertype = isV4Mapped(local) ? EtherType.IPv4 : EtherType.IPv6;
  ether.dst = link === undefined ? 0 : readMac(link.dstMac, 0);
  ether.src = link === undefined ? 0 : readMac(link.srcMac, 0);
  return ether;
}
const scratch = Buffer.alloc(65536 + 128);

export class Mirror implements PacketObserver {
  private readonly sessions = new Set<Session>();
  active = false;

  /** `local`: this VTEP's underlay address (16 bytes), the source of what it sends; `links`: its next hops. */
  constructor(
    private readonly local: Uint8Array,
    private readonly links?: LinkLookup,
  ) {}

  /** Starts a session; returns the function that stops it. */
  start(req: CaptureRequest, sink: PacketSink): () => void {
    const s: Session = { req, left: req.count ?? Infinity, sink };
    if (this.sessions.size === 0) this.links?.watch(true);
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
    for (let i = 0; i < q.count; i++) {
      const link = this.links?.macs(net.remotes.bytes.subarray(q.dst[i] * ADDR_LEN, q.dst[i] * ADDR_LEN + ADDR_LEN));
      this.offer(net, 'tunnel', 'tx', scratch, 0, renderSent(net, q, i, this.local, scratch, link));
    }
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
    if (!this.active) this.links?.watch(false);
    s.sink.end();
  }
}

/**
 * Entry i of a network's send queue as the underlay carries it, into `buf`:
 * Ethernet (from `link`'s MACs, or zeros), the outer IP header the kernel
 * writes, the header a UDP socket adds, then the packet. Returns the frame's
 * length.
 */
export function renderSent(
  net: Network,
  q: SendQueue,
  i: number,
  local: Uint8Array,
  buf: Buffer,
  link?: LinkMacs,
): number {
  const encap = net.encap;
  const len = q.len[i];
  let at = emitEthernet(etherFor(local, link), buf, 0);
  const df = (q.outer[i] & OUTER_FRAGMENTABLE) === 0 && (net.df === 'inherit' ? (q.outer[i] & OUTER_DF) !== 0 : net.df);
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
