// Busy polling over data-path descriptors (see Datapath.spin), and the
// addon's limits the data path sizes itself by.
import { native, NATIVE_LAYOUT } from './native.ts';

/** The most packets one native batch call handles. */
export const MAX_BATCH: number = NATIVE_LAYOUT.maxBatch;

/** Index of a readable descriptor among `fds`, or -1 after `usec` microseconds with none. */
export function spinPoll(fds: Int32Array, usec: number): number {
  return native.spinPoll(fds, usec);
}
