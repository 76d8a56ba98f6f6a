// A TAP device: the local side of a network. Frames are read at the batch's
// headroom so that the tunnel header can be written in front of them in place.
//
// With offloads, the TAP speaks virtio_net_hdr: it hands over TCP frames of up
// to 64 KB (TSO) and partial checksums, which toFrames() turns into frames the
// wire can carry, and takes frames behind a header (zeroed: plain frames).
import type { Batch, SendQueue } from '../datapath/batch.ts';
import { native, NATIVE_LAYOUT } from './native.ts';
import { readFrames, tapFrames, writeFrames } from './batch-io.ts';
import { Port, type Watchable } from './port.ts';

/** Bytes of virtio_net_hdr in front of every frame of an offloading TAP. */
export const VNET_HDR_LEN: number = NATIVE_LAYOUT.vnetHdrLen;

/** What toFrames() dropped since the last clear(), by cause. */
export class SegmentDrops {
  /** Filled by the native call: [malformed, overflow]. */
  readonly raw = new Uint32Array(2);
  /** Unknown GSO type, or headers that do not hold together. */
  get malformed(): number {
    return this.raw[0];
  }
  /** Output that did not fit the batch. */
  get overflow(): number {
    return this.raw[1];
  }
  clear(): void {
    this.raw.fill(0);
  }
}

/** Frames write() refused since the last clear() because a peer left their inner checksum partial. */
export class PartialChecksums {
  /** Filled by the native call: [refused, one more than the index of the last]. */
  readonly raw = new Uint32Array(2);
  get refused(): number {
    return this.raw[0];
  }
  /** Index in the written queue of the last refused frame. */
  get last(): number {
    return this.raw[1] - 1;
  }
  clear(): void {
    this.raw.fill(0);
  }
}

/** What the data path needs of a network's local side (a TAP; a fake in tests). */
export interface FrameDevice extends Watchable {
  readonly name: string;
  /** Frames carry a virtio_net_hdr: read() gives raw frames for toFrames(), write() may merge segments. */
  readonly vnetHdr: boolean;
  /** TSO and checksum offload, as the kernel granted them (with vnetHdr only). */
  readonly offload: boolean;
  readonly segmentDrops: SegmentDrops;
  readonly partialChecksums: PartialChecksums;
  /**
   * Reads frames into `b`; with vnetHdr, `segmentBudget` bounds what they will segment into (and more small
   * frames come per read).
   */
  read(b: Batch, segmentBudget?: number): number;
  toFrames(raw: Batch, out: Batch): number;
  write(q: SendQueue): number;
}

export class Tap extends Port implements FrameDevice {
  readonly segmentDrops = new SegmentDrops();
  readonly partialChecksums = new PartialChecksums();

  /** `vnetHdr`: the device carries a virtio_net_hdr (asked for offloads, granted or not). */
  private constructor(
    fd: number,
    readonly name: string,
    readonly offload: boolean,
    readonly vnetHdr: boolean,
  ) {
    super(fd);
  }

  /** Attaches to TAP `name`, creating it (non-persistent) if there is none. */
  static open(name: string, offload: boolean): Tap {
    const t = native.tapOpen(name, offload);
    return new Tap(t.fd, t.name, t.offload, offload);
  }

  /** A TAP a predecessor opened and passed on (`vtepctl upgrade`), with the offloads it was granted. */
  static adopt(fd: number, name: string, offload: boolean, vnetHdr: boolean): Tap {
    return new Tap(fd, name, offload, vnetHdr);
  }

  read(b: Batch, segmentBudget?: number): number {
    const n = readFrames(this.fd, b, segmentBudget);
    b.count = n > 0 ? n : 0;
    return n;
  }

  /**
   * Segments TSO frames and completes partial checksums of `raw` (as read) into `out`; what could not be done is
   * in segmentDrops.
   */
  toFrames(raw: Batch, out: Batch): number {
    out.count = tapFrames(raw, out, this.segmentDrops.raw);
    return out.count;
  }

  /**
   * Writes every queued frame; returns how many the kernel took. An offloading
   * TAP gets runs of TCP segments of one flow merged into one large frame.
   * Frames with a partial inner checksum are not written (partialChecksums).
   */
  write(q: SendQueue): number {
    return q.count === 0
      ? 0
      : writeFrames(this.fd, q, {
          vnetHdrLen: this.vnetHdr ? VNET_HDR_LEN : 0,
          coalesce: this.vnetHdr,
          partial: this.partialChecksums.raw,
        });
  }
}
