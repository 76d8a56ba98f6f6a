// In-memory stand-ins for a TAP and the tunnel sockets, so that the data
// path can be driven and observed without a kernel (as wireguard-go's
// tun/tuntest and conn/bindtest do). inject() queues packets and, like a
// level-triggered watcher, calls the data path until they are read.
import type { Batch, SendQueue } from '../../src/datapath/batch.ts';
import type { DatagramReceiver, TunnelSender } from '../../src/io/port.ts';
import { PartialChecksums, SegmentDrops, type FrameDevice } from '../../src/io/tap.ts';
import { ADDR_LEN, formatIp, parseIp } from '../../src/wire/ip-address.ts';

abstract class FakeWatchable {
  readonly fd = -1;
  private onReadable: (() => void) | undefined;
  watched = false;

  watch(onReadable: () => void): void {
    this.onReadable = onReadable;
    this.watched = true;
  }

  unwatch(): void {
    this.watched = false;
  }

  close(): void {
    this.watched = false;
  }

  protected abstract pending(): number;

  /** Calls the data path while something is pending and it still watches (level-triggered). */
  protected wake(): void {
    for (let guard = 0; this.watched && this.pending() > 0 && guard < 1000; guard++) this.onReadable?.();
  }
}

/** A TAP: inject() frames as the host would send them; `written` holds what the data path wrote to it. */
export class FakeTap extends FakeWatchable implements FrameDevice {
  readonly vnetHdr = false;
  readonly offload = false;
  readonly segmentDrops = new SegmentDrops();
  readonly partialChecksums = new PartialChecksums();
  readonly written: Buffer[] = [];
  private readonly queue: Buffer[] = [];

  constructor(readonly name = 'tap-fake') {
    super();
  }

  inject(...frames: Buffer[]): void {
    this.queue.push(...frames);
    this.wake();
  }

  protected pending(): number {
    return this.queue.length;
  }

  read(b: Batch): number {
    let n = 0;
    for (; n < b.capacity && this.queue.length > 0; n++) {
      const f = this.queue.shift()!;
      f.copy(b.arena, b.start(n));
      b.len[n] = f.length;
    }
    b.count = n;
    return n;
  }

  toFrames(): number {
    throw new Error('a fake TAP has no virtio_net_hdr');
  }

  write(q: SendQueue): number {
    for (let i = 0; i < q.count; i++) this.written.push(Buffer.from(q.arena.subarray(q.off[i], q.off[i] + q.len[i])));
    return q.count;
  }
}

export interface Datagram {
  from: string;
  data: Buffer;
  port?: number;
  tos?: number;
}

/** A receive socket: inject() datagrams as peers would send them. */
export class FakeSocket extends FakeWatchable implements DatagramReceiver {
  private readonly queue: Datagram[] = [];

  inject(...datagrams: Datagram[]): void {
    this.queue.push(...datagrams);
    this.wake();
  }

  protected pending(): number {
    return this.queue.length;
  }

  recv(b: Batch): number {
    let n = 0;
    for (; n < b.capacity && this.queue.length > 0; n++) {
      const d = this.queue.shift()!;
      d.data.copy(b.arena, b.start(n));
      b.len[n] = d.data.length;
      b.peer.set(parseIp(d.from)!, n * ADDR_LEN);
      b.port[n] = d.port ?? 40000;
      b.ttl[n] = 64;
      b.tos[n] = d.tos ?? 0;
    }
    b.count = n;
    return n;
  }
}

export interface Sent {
  to: string;
  lane: number;
  tos: number;
  data: Buffer;
}

/** A network's sender: records every packet; `accept` limits how many of a batch it takes (the rest "fail"). */
export class FakeSender implements TunnelSender {
  readonly sent: Sent[] = [];
  accept = Infinity;

  constructor(readonly lanePorts: readonly number[] = []) {}

  send(q: SendQueue, table: Uint8Array): number {
    const n = Math.min(q.count, this.accept);
    for (let i = 0; i < n; i++) {
      this.sent.push({
        to: formatIp(table, q.dst[i] * ADDR_LEN),
        lane: q.lane[i],
        tos: q.tos[i],
        data: Buffer.from(q.arena.subarray(q.off[i], q.off[i] + q.len[i])),
      });
    }
    return n;
  }

  multicast(): void {}
  configure(): void {}
  drainErrors(): void {}

  close(): void {}

  take(): Sent[] {
    return this.sent.splice(0);
  }
}
