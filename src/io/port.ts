// Descriptors the data path reads or writes in batches: sockets here, the TAP
// in tap.ts. The data path sees them through the interfaces below, so that
// tests can hand it in-memory fakes (test/fakes).
import { randomInt as randomIntBelow } from 'node:crypto';
import type { Batch, SendQueue } from '../datapath/batch.ts';
import { recvDatagrams, sendDatagrams, sendLanes, type Destinations } from './batch-io.ts';
import { native, type DfCode, type Watcher } from './native.ts';

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

/** Whatever sends a network's tunnel packets. */
export interface TunnelSender {
  /** The source port of each lane (UDP sockets), or none (one raw socket). */
  readonly lanePorts: readonly number[];
  /**
   * Sends every queued packet to the address its entry names in `table` (16 bytes each); returns how many the
   * kernel took.
   */
  send(q: SendQueue, table: Uint8Array): number;
  /** Sends multicast out of `ifindex` with `ttl`, not looped back to this host. */
  multicast(ifindex: number, ttl: number): void;
  /** Sets the outer TTL and DF again (a reload changed them). */
  configure(ttl: number, df: DfMode): void;
  /**
   * Empties the sockets' error queues (ICMP errors the kernel matched to
   * them): what they say is not believed from there, since a queued error
   * keeps no quoted IP header to check (path MTU comes from IcmpErrors).
   */
  drainErrors(): void;
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

export function dfCode(df: DfMode): DfCode {
  return df === 'inherit' ? 2 : df ? 1 : 0;
}

/** A reused place for the error-queue drains: nothing they read is kept. */
const NO_REPORTS = { dst: new Uint8Array(0), mtu: new Uint32Array(0) };

function drain(fd: number): void {
  native.readPathMtu(fd, NO_REPORTS.dst, NO_REPORTS.mtu);
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
/** ICMP errors are few; a flood of forged ones waits in no more than this. */
const ICMP_BUFFER = 256 * 1024;

function randomInt(n: number): number {
  return randomIntBelow(n);
}

/** A raw socket the data path sends tunnel packets on (the kernel adds the IP header). */
export class RawSender extends Port implements TunnelSender {
  readonly lanePorts: readonly number[] = [];
  /** The raw socket writes the UDP header itself (VXLAN): no port here. */
  private readonly to: Destinations;

  private constructor(fd: number, df: DfMode) {
    super(fd);
    this.to = { table: new Uint8Array(0), port: 0, df: dfCode(df) };
  }

  static open(protocol: number, local: Uint8Array, ttl: number, df: DfMode): RawSender {
    return new RawSender(native.rawOpen(protocol, local, ttl, socketDf(df), false, SOCKET_BUFFER), df);
  }

  send(q: SendQueue, table: Uint8Array): number {
    if (q.count === 0) return 0;
    this.to.table = table;
    return sendDatagrams(this.fd, q, this.to);
  }

  multicast(ifindex: number, ttl: number): void {
    native.setMulticast(this.fd, ifindex, ttl, false);
  }

  configure(ttl: number, df: DfMode): void {
    native.setSenderOptions(this.fd, ttl, socketDf(df));
    this.to.df = dfCode(df);
  }

  drainErrors(): void {
    drain(this.fd);
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
  private readonly to: Destinations;

  private constructor(
    private readonly fds: Int32Array,
    readonly lanePorts: readonly number[],
    dstPort: number,
    df: DfMode,
  ) {
    this.to = { table: new Uint8Array(0), port: dstPort, df: dfCode(df) };
  }

  /**
   * Binds `lanes` sockets to ports of [min, max], one at random in each of
   * `lanes` equal slices (flows still spread; nobody outside can tell the
   * ports, and so forge an ICMP error about our packets), skipping `dstPort`
   * and ports in use. Fewer lanes if the range is short.
   */
  static open(
    local: Uint8Array,
    lanes: number,
    min: number,
    max: number,
    dstPort: number,
    ttl: number,
    df: DfMode,
    random: (n: number) => number = randomInt,
  ): LaneSender {
    const fds: number[] = [];
    const ports: number[] = [];
    const span = max - min + 1;
    const slices = Math.min(lanes, span);
    for (let k = 0; k < slices; k++) {
      const first = min + Math.floor((k * span) / slices);
      const width = min + Math.floor(((k + 1) * span) / slices) - first;
      const start = random(width);
      for (let tries = 0; tries < Math.min(32, width); tries++) {
        const port = first + ((start + tries) % width);
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
    if (q.count === 0) return 0;
    this.to.table = table;
    return sendLanes(this.fds, q, this.to);
  }

  multicast(ifindex: number, ttl: number): void {
    for (const fd of this.fds) native.setMulticast(fd, ifindex, ttl, false);
  }

  configure(ttl: number, df: DfMode): void {
    for (const fd of this.fds) native.setSenderOptions(fd, ttl, socketDf(df));
    this.to.df = dfCode(df);
  }

  drainErrors(): void {
    for (const fd of this.fds) drain(fd);
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
    const n = recvDatagrams(this.fd, b, this.gro);
    b.count = n > 0 ? n : 0;
    return n;
  }

  /**
   * Asks for UDP GRO (with offloads): fewer, larger reads; the batch must hold 64 datagrams per merged one.
   * Returns what was granted.
   */
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

  /**
   * ICMP "fragmentation needed" (ICMPv6 "packet too big") errors sent to
   * `local`, whole (the IPv4 ones with their IP header): path MTU discovery
   * checks what they quote before it believes them.
   */
  static icmpErrors(local: Uint8Array): Receiver {
    return new Receiver(native.icmpErrorsOpen(local, ICMP_BUFFER));
  }

  /** Joins `group` on interface `ifindex` and receives what is sent to group:port. */
  static group(group: Uint8Array, port: number, ifindex: number): Receiver {
    return new Receiver(native.groupOpen(group, port, ifindex, SOCKET_BUFFER));
  }
}
