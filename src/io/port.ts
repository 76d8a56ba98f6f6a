// Descriptors the data path reads or writes in batches: sockets here, the TAP
// in tap.ts. The data path sees them through the interfaces below, so that
// tests can hand it in-memory fakes (test/fakes).
import type { Batch, SendQueue } from '../batch.ts';
import { native, type Watcher } from './native.ts';

/** Something with a descriptor that says when it is readable. */
export interface Watchable {
  /** The descriptor, for busy polling; -1 for a fake. */
  readonly fd: number;
  /** Calls `onReadable` (level-triggered) whenever there is something to read. */
  watch(onReadable: () => void): void;
  /** Stops the read callbacks (the descriptor stays open). */
  unwatch(): void;
  close(): void;
}

/** Where tunnel packets come from: fills a Batch with datagrams and their senders. */
export interface DatagramReceiver extends Watchable {
  recv(b: Batch): number;
}

/** DF on every outer IPv4 header, on none, or copied from the inner IPv4 packet (per packet, from SendQueue.outer). */
export type DfMode = boolean | 'inherit';

/** Path MTU reports read from senders' error queues (a few per ICMP error; reused). */
export class PathMtuReports {
  readonly dst = new Uint8Array(64 * 16);
  readonly mtu = new Uint32Array(64);
  count = 0;
}

/** Whatever sends a network's tunnel packets. */
export interface TunnelSender {
  /** The source port of each lane (UDP sockets), or none (one raw socket). */
  readonly lanePorts: readonly number[];
  /** Sends every queued packet to the address its entry names in `table` (16 bytes each); returns how many the kernel took. */
  send(q: SendQueue, table: Uint8Array): number;
  /** Sends multicast out of `ifindex` with `ttl`, not looped back to this host. */
  multicast(ifindex: number, ttl: number): void;
  /** Sets the outer TTL and DF again (a reload changed them). */
  configure(ttl: number, df: DfMode): void;
  /** Fills `out` with the ICMP "too big" errors about sent packets since the last call. */
  readPathMtu(out: PathMtuReports): void;
  /** What sends the packets, for `vtepctl stats` (raw and packet sockets only). */
  socketStats?(): SocketStats;
  close(): void;
}

/** A network's raw-socket sends, or packet-socket ones with the raw socket beside (packet-sender.ts). */
export interface SocketStats {
  mode: 'packet' | 'raw';
  /** Packets sent by each socket (packet mode). */
  'packet-tx'?: number;
  'raw-tx'?: number;
  /** Remotes the packet socket reaches now, and remotes sent to by the raw socket (no usable next hop). */
  'remotes-packet'?: number;
  'remotes-raw'?: number;
}

/** Before any packet goes, the socket DF for inherit is set per run; until then, none. */
function socketDf(df: DfMode): boolean {
  return df === true;
}

export abstract class Port implements Watchable {
  private watcher: Watcher | undefined;

  constructor(readonly fd: number) {}

  watch(onReadable: () => void): void {
    this.watcher?.close();
    this.watcher = new native.Watcher(this.fd, onReadable);
    this.watcher.start();
  }

  unwatch(): void {
    this.watcher?.stop();
  }

  close(): void {
    this.watcher?.close();
    this.watcher = undefined;
    native.close(this.fd);
  }
}

/** Socket buffers big enough to ride out a burst of a few thousand packets. */
const SOCKET_BUFFER = 4 * 1024 * 1024;

/** A raw socket the data path sends tunnel packets on (the kernel adds the IP header). */
export class RawSender extends Port implements TunnelSender {
  readonly lanePorts: readonly number[] = [];
  private dfInherit: boolean;

  private constructor(fd: number, df: DfMode) {
    super(fd);
    this.dfInherit = df === 'inherit';
  }

  static open(protocol: number, local: Uint8Array, ttl: number, df: DfMode): RawSender {
    return new RawSender(native.rawOpen(protocol, local, ttl, socketDf(df), false, SOCKET_BUFFER), df);
  }

  send(q: SendQueue, table: Uint8Array): number {
    return q.count === 0 ? 0 : native.sendDatagrams(this.fd, q.arena, q.off, q.len, q.count, q.dst, table, 0, q.tos, q.outer, this.dfInherit);
  }

  multicast(ifindex: number, ttl: number): void {
    native.setMulticast(this.fd, ifindex, ttl, false);
  }

  configure(ttl: number, df: DfMode): void {
    native.setSenderOptions(this.fd, ttl, socketDf(df));
    this.dfInherit = df === 'inherit';
  }

  readPathMtu(out: PathMtuReports): void {
    out.count = native.readPathMtu(this.fd, out.dst, out.mtu);
  }

  socketStats(): SocketStats {
    return { mode: 'raw' };
  }
}

/**
 * UDP sockets bound to ports of a VXLAN network's source range, one per lane:
 * runs of equal-size datagrams of one flow go out as one UDP GSO send.
 */
export class LaneSender implements TunnelSender {
  private dfInherit: boolean;

  private constructor(private readonly fds: Int32Array, readonly lanePorts: readonly number[], private readonly dstPort: number, df: DfMode) {
    this.dfInherit = df === 'inherit';
  }

  /**
   * Binds `lanes` sockets to local ports spread over [min, max], skipping
   * `dstPort` and ports in use. Fewer lanes if the range is short.
   */
  static open(local: Uint8Array, lanes: number, min: number, max: number, dstPort: number, ttl: number, df: DfMode): LaneSender {
    const fds: number[] = [];
    const ports: number[] = [];
    const span = max - min + 1;
    for (let k = 0; k < lanes && k < span; k++) {
      for (let tries = 0, port = min + Math.floor((k * span) / lanes); tries < 32 && port <= max; tries++, port++) {
        if (port === dstPort || ports.includes(port)) continue;
        try {
          fds.push(native.udpSenderOpen(local, port, ttl, socketDf(df), SOCKET_BUFFER));
          ports.push(port);
          break;
        } catch (e) {
          if ((e as { code?: string }).code !== 'EADDRINUSE') {
            for (const fd of fds) native.close(fd);
            throw e;
          }
        }
      }
    }
    if (fds.length === 0) {
      throw Object.assign(new Error(`no free UDP port in ${min}-${max}`), { code: 'EADDRINUSE' });
    }
    return new LaneSender(Int32Array.from(fds), ports, dstPort, df);
  }

  send(q: SendQueue, table: Uint8Array): number {
    return q.count === 0 ? 0
      : native.sendLanes(this.fds, q.arena, q.off, q.len, q.count, q.dst, table, this.dstPort, q.tos, q.lane, q.outer, this.dfInherit);
  }

  multicast(ifindex: number, ttl: number): void {
    for (const fd of this.fds) native.setMulticast(fd, ifindex, ttl, false);
  }

  configure(ttl: number, df: DfMode): void {
    for (const fd of this.fds) native.setSenderOptions(fd, ttl, socketDf(df));
    this.dfInherit = df === 'inherit';
  }

  /** Every lane's errors, one after the other into `out`. */
  readPathMtu(out: PathMtuReports): void {
    let n = 0;
    for (const fd of this.fds) {
      if (n === out.mtu.length) break;
      n += native.readPathMtu(fd, out.dst.subarray(n * 16), out.mtu.subarray(n));
    }
    out.count = n;
  }

  close(): void {
    for (const fd of this.fds) native.close(fd);
  }
}

/** A socket the data path receives tunnel packets on. */
export class Receiver extends Port implements DatagramReceiver {
  /** A socket a predecessor opened and passed on (`vtepctl upgrade`). */
  static adopt(fd: number): Receiver {
    return new Receiver(fd);
  }

  /** Whether the kernel merges datagrams of a flow (UDP GRO); recv() cuts them apart again. */
  private gro = false;

  /** Fills `b` with datagrams, their senders and (from a UDP socket) their outer TTL and TOS. */
  recv(b: Batch): number {
    const n = native.recvDatagrams(this.fd, b.arena, b.slotSize, b.headroom, b.len, b.capacity, b.peer, b.port, b.ttl, b.tos, this.gro);
    b.count = n > 0 ? n : 0;
    return n;
  }

  /** Asks for UDP GRO (with offloads): fewer, larger reads; the batch must hold 64 datagrams per merged one. Returns what was granted. */
  enableGro(): boolean {
    this.gro = native.udpGroEnable(this.fd);
    return this.gro;
  }

  /** A UDP/IPv6 receiver: whether datagrams with a zero checksum are taken (udp6zerocsumrx). */
  acceptZeroChecksum6(on: boolean): void {
    native.acceptZeroChecksum6(this.fd, on);
  }

  static udp(local: Uint8Array, port: number): Receiver {
    return new Receiver(native.udpOpen(local, port, SOCKET_BUFFER));
  }

  /**
   * A raw socket receiving `protocol` (GRE) sent to `local`, IP header
   * included. The kernel hands it every such packet: the demux drops what is not ours.
   */
  static raw(protocol: number, local: Uint8Array): Receiver {
    return new Receiver(native.rawOpen(protocol, local, 64, false, true, SOCKET_BUFFER));
  }

  /** Joins `group` on interface `ifindex` and receives what is sent to group:port. */
  static group(group: Uint8Array, port: number, ifindex: number): Receiver {
    return new Receiver(native.groupOpen(group, port, ifindex, SOCKET_BUFFER));
  }
}
