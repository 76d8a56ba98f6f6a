// A TAP device: the local side of a network. Frames are read at the batch's
// headroom so that the tunnel header can be written in front of them in place.
import type { Batch, SendQueue } from '../batch.ts';
import { native } from './native.ts';
import { Port } from './port.ts';

export class Tap extends Port {
  constructor(fd: number, readonly name: string) {
    super(fd);
  }

  /** Attaches to TAP `name`, creating it (non-persistent) if there is none. */
  static open(name: string): Tap {
    const t = native.tapOpen(name);
    return new Tap(t.fd, t.name);
  }

  read(b: Batch): number {
    const n = native.readFrames(this.fd, b.arena, b.slotSize, b.headroom, b.capacity, b.len);
    b.count = n > 0 ? n : 0;
    return n;
  }

  /** Writes every queued frame; returns how many the kernel took. */
  write(q: SendQueue): number {
    return q.count === 0 ? 0 : native.writeFrames(this.fd, q.arena, q.off, q.len, q.count);
  }
}
