// A descriptor the data path reads or writes in batches: a TAP or a socket.
import type { Batch, SendQueue } from '../batch.ts';
import { native, type Watcher } from './native.ts';

export abstract class Port {
  private watcher: Watcher | undefined;

  constructor(readonly fd: number) {}

  /** Calls `onReadable` (level-triggered) whenever there is something to read. */
  watch(onReadable: () => void): void {
    this.watcher = new native.Watcher(this.fd, onReadable);
    this.watcher.start();
  }

  /** Stops the read callbacks (the descriptor stays open). */
  unwatch(): void {
    this.watcher?.stop();
  }

  close(): void {
    this.watcher?.close();
    this.watcher = undefined;
    native.close(this.fd);
  }
}

/** Whatever sends a network's tunnel packets. */
export interface TunnelSender {
  /** Sends every queued packet; returns how many the kernel took. */
  send(q: SendQueue): number;
  /** Sends multicast out of `ifindex` with `ttl`, not looped back to this host. */
  multicast(ifindex: number, ttl: number): void;
  close(): void;
}

/** A raw socket the data path sends tunnel packets on (the kernel adds the IPv4 header). */
export class Sender extends Port implements TunnelSender {
  /** Sends every queued packet; returns how many the kernel took. */
  send(q: SendQueue): number {
    return q.count === 0 ? 0 : native.sendDatagrams(this.fd, q.arena, q.off, q.len, q.addr, q.port, q.tos, q.count);
  }

  static raw(protocol: number, local: number, ttl: number, df: boolean): Sender {
    return new Sender(native.rawOpen(protocol, local, ttl, df, false, SOCKET_BUFFER));
  }

  /** Sends this socket's multicast packets out of `ifindex` with `ttl`, not looped back to this host. */
  multicast(ifindex: number, ttl: number): void {
    native.setMulticast(this.fd, ifindex, ttl, false);
  }
}

/**
 * UDP sockets bound to ports of a VXLAN network's source range, one per lane:
 * runs of equal-size datagrams of one flow go out as one UDP GSO send.
 */
export class LaneSender implements TunnelSender {
  private constructor(private readonly fds: Int32Array, readonly ports: number[]) {}

  /**
   * Binds `lanes` sockets to local ports spread over [min, max], skipping
   * `avoid` and ports in use. Fewer lanes if the range is short.
   */
  static open(local: number, lanes: number, min: number, max: number, avoid: number, ttl: number, df: boolean): LaneSender {
    const fds: number[] = [];
    const ports: number[] = [];
    const span = max - min + 1;
    for (let k = 0; k < lanes && k < span; k++) {
      for (let tries = 0, port = min + Math.floor((k * span) / lanes); tries < 32 && port <= max; tries++, port++) {
        if (port === avoid || ports.includes(port)) continue;
        try {
          fds.push(native.udpSenderOpen(local, port, ttl, df, SOCKET_BUFFER));
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
    return new LaneSender(Int32Array.from(fds), ports);
  }

  get lanes(): number {
    return this.fds.length;
  }

  send(q: SendQueue): number {
    return q.count === 0 ? 0 : native.sendLanes(this.fds, q.arena, q.off, q.len, q.addr, q.port, q.lane, q.tos, q.count);
  }

  multicast(ifindex: number, ttl: number): void {
    for (const fd of this.fds) native.setMulticast(fd, ifindex, ttl, false);
  }

  close(): void {
    for (const fd of this.fds) native.close(fd);
  }
}

/** A socket the data path receives tunnel packets on; fills a Batch with datagrams and their senders. */
export class Receiver extends Port {
  /** Whether the kernel merges datagrams of a flow (UDP GRO); recv() cuts them apart again. */
  private gro = false;

  /** Fills `b` with datagrams, their senders and (from a UDP socket) their outer TTL and TOS. */
  recv(b: Batch): number {
    const n = native.recvDatagrams(this.fd, b.arena, b.slotSize, b.headroom, b.capacity, b.len, b.addr, b.port, this.gro, b.ttl, b.tos);
    b.count = n > 0 ? n : 0;
    return n;
  }

  /** Asks for UDP GRO (with offloads): fewer, larger reads; the batch must hold 64 datagrams per merged one. */
  enableGro(): boolean {
    this.gro = native.udpGroEnable(this.fd);
    return this.gro;
  }

  static udp(local: number, port: number): Receiver {
    return new Receiver(native.udpOpen(local, port, SOCKET_BUFFER));
  }

  /**
   * A raw IPv4 socket receiving `protocol` (GRE) sent to `local`, IPv4 header
   * included. The kernel hands it every such packet: the switch drops what is not ours.
   */
  static raw(protocol: number, local: number): Receiver {
    return new Receiver(native.rawOpen(protocol, local, 64, false, true, SOCKET_BUFFER));
  }

  /** Joins `group` on interface `ifindex` and receives what is sent to group:port. */
  static group(group: number, port: number, ifindex: number): Receiver {
    return new Receiver(native.mcastOpen(group, port, ifindex, SOCKET_BUFFER));
  }
}

/** Socket buffers big enough to ride out a burst of a few thousand packets. */
const SOCKET_BUFFER = 4 * 1024 * 1024;
