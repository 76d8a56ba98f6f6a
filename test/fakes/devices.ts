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

/** What an offloading fake TAP holds per raw read: a frame, and what toFrames() makes of it. */
interface RawFrame {
  frame: Buffer;
  /** The segments it is cut into (a TSO frame: many; a plain one: 1). */
  segments: number;
  /** toFrames() refuses it, as the native code refuses an unknown GSO type. */
  malformed?: boolean;
}

/**
 * A TAP: inject() frames as the host would send them; `written` holds what
 * the data path wrote to it. With `offload`, it behaves as an offloading TAP
 * to the data path: reads are raw (counted against the segment budget) and
 * toFrames() cuts each TSO frame into its segments, numbered in their last
 * two bytes; failRead() makes the next read fail with an errno.
 */
export class FakeTap extends FakeWatchable implements FrameDevice {
  readonly vnetHdr: boolean;
  readonly offload: boolean;
  readonly segmentDrops = new SegmentDrops();
  readonly partialChecksums = new PartialChecksums();
  readonly written: Buffer[] = [];
  /** Reads the data path made, with how many raw frames each returned. */
  readonly reads: number[] = [];
  private readonly queue: RawFrame[] = [];
  /** What each slot of the last raw read holds. */
  private rawRead: RawFrame[] = [];
  private failWith = 0;

  constructor(
    readonly name = 'tap-fake',
    o: { offload?: boolean } = {},
  ) {
    super();
    this.vnetHdr = this.offload = o.offload ?? false;
  }

  inject(...frames: Buffer[]): void {
    this.queue.push(...frames.map((frame) => ({ frame, segments: 1 })));
    this.wake();
  }

  /** Offload mode: frames as TSO would give them, each to become `segments` frames. */
  injectTso(frames: { frame: Buffer; segments: number; malformed?: boolean }[]): void {
    this.queue.push(...frames);
    this.wake();
  }

  /** The next read fails with `errno` (as a TAP whose device was deleted: EIO or EBADFD). */
  failRead(errno: number): void {
    this.failWith = errno;
    this.wake();
  }

  protected pending(): number {
    return this.queue.length + (this.failWith !== 0 ? 1 : 0);
  }

  read(b: Batch, segmentBudget = Infinity): number {
    if (this.failWith !== 0) {
      const e = this.failWith;
      this.failWith = 0;
      return -e;
    }
    let n = 0;
    let segments = 0;
    this.rawRead = [];
    // As the native read: a TSO frame is taken only while its segments fit what is left of the budget.
    for (; n < b.capacity && this.queue.length > 0; n++) {
      const next = this.queue[0];
      if (n > 0 && segments + next.segments > segmentBudget) break;
      const f = this.queue.shift()!;
      segments += f.segments;
      f.frame.copy(b.arena, b.start(n));
      b.len[n] = f.frame.length;
      this.rawRead.push(f);
    }
    b.count = n;
    this.reads.push(n);
    return n;
  }

  toFrames(raw: Batch, out: Batch): number {
    if (!this.vnetHdr) throw new Error('a fake TAP without offload has no virtio_net_hdr');
    let n = 0;
    for (let i = 0; i < raw.count; i++) {
      const r = this.rawRead[i];
      if (r.malformed) {
        this.segmentDrops.raw[0]++;
        continue;
      }
      for (let k = 0; k < r.segments; k++) {
        if (n === out.capacity) {
          this.segmentDrops.raw[1]++;
          continue;
        }
        const at = out.start(n);
        raw.arena.copy(out.arena, at, raw.start(i), raw.start(i) + raw.len[i]);
        out.arena.writeUInt16BE(k, at + raw.len[i] - 2);
        out.len[n++] = raw.len[i];
      }
    }
    out.count = n;
    return n;
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
    for (let i = 0; i < q.count; i++) q.unsent[i] = i < n ? 0 : 1;
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
