// Busy polling over data-path descriptors (see Datapath.spin).
import { native } from './native.ts';

/** Index of a readable descriptor among `fds`, or -1 after `usec` microseconds with none. */
export function spinPoll(fds: Int32Array, usec: number): number {
  return native.spinPoll(fds, usec);
}
