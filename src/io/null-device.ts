// The device of a network that has no TAP: a VRF's L3VNI, whose frames are
// all routed (src/route/l3vni-hook.ts). It gives nothing to read, and takes
// nothing: a frame written to it is counted as tx-failed by the data path.
import type { Batch, SendQueue } from '../datapath/batch.ts';
import { PartialChecksums, SegmentDrops, type FrameDevice } from './tap.ts';

export class NullDevice implements FrameDevice {
  readonly fd = -1;
  readonly vnetHdr = false;
  readonly offload = false;
  readonly segmentDrops = new SegmentDrops();
  readonly partialChecksums = new PartialChecksums();

  constructor(readonly name: string) {}

  watch(): void {}
  unwatch(): void {}
  close(): void {}

  read(b: Batch): number {
    b.count = 0;
    return 0;
  }

  toFrames(_raw: Batch, out: Batch): number {
    out.count = 0;
    return 0;
  }

  write(_q: SendQueue): number {
    return 0;
  }
}
