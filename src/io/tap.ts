// A TAP device: the local side of a network. Frames are read at the batch's
// headroom so that the tunnel header can be written in front of them in place.
//
// With offloads, the TAP speaks virtio_net_hdr: it hands over TCP frames of up
// to 64 KB (TSO) and partial checksums, which toFrames() turns into frames the
// wire can carry, and takes frames behind a header (zeroed: plain frames).
import type { Batch, SendQueue } from '../batch.ts';
import { native } from './native.ts';
import { Port } from './port.ts';

/** Bytes of virtio_net_hdr in front of every frame of an offloading TAP. */
export const VNET_HDR_LEN: number = native.vnetHdrLen;

export class Tap extends Port {
  /** Frames dropped by toFrames(): unknown GSO type or inconsistent headers, and output that did not fit. */
  readonly offloadStats = new Uint32Array(2);
  /** Frames write() refused for a partial checksum, and one more than the index of the last. */
  readonly partialChecksums = new Uint32Array(2);

  constructor(fd: number, readonly name: string, readonly offload: boolean) {
    super(fd);
  }

  /** Attaches to TAP `name`, creating it (non-persistent) if there is none. */
  static open(name: string, offload: boolean): Tap {
    const t = native.tapOpen(name, offload);
    return new Tap(t.fd, t.name, offload);
  }

  read(b: Batch): number {
    const n = native.readFrames(this.fd, b.arena, b.slotSize, b.headroom, b.capacity, b.len);
    b.count = n > 0 ? n : 0;
    return n;
  }

  /** Segments TSO frames and completes partial checksums of `raw` (as read) into `out`. */
  toFrames(raw: Batch, out: Batch): number {
    out.count = native.tapFrames(raw.arena, raw.slotSize, raw.headroom, raw.count, raw.len,
      out.arena, out.slotSize, out.headroom, out.capacity, out.len, this.offloadStats);
    return out.count;
  }

  /**
   * Writes every queued frame; returns how many the kernel took. An offloading
   * TAP gets runs of TCP segments of one flow merged into one large frame.
   * Frames with a partial inner checksum are not written (partialChecksums).
   */
  write(q: SendQueue): number {
    return q.count === 0 ? 0 : native.writeFrames(this.fd, q.arena, q.off, q.len, q.count, this.offload ? VNET_HDR_LEN : 0, this.offload,
      this.partialChecksums);
  }
}
