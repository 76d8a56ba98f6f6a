// Hooks on frames read from a network's TAP, run in order after the frame is
// accepted and its source learned, before it is bridged. A hook looks at the
// frame and passes it on, or consumes it: it answered it on the TAP (the
// ARP/ND responder), or took it elsewhere (the router), and recorded the
// frame's verdict. Only what a network uses is in its list: a network without
// a responder or a gateway runs no hook at all (as tailscale's tstun filters,
// and Open vSwitch's tables, each one step of a pipeline).
import type { Network } from './network.ts';
import type { Forwarding } from './verdict.ts';

export interface TapHook {
  /** What `trace` calls it. */
  readonly name: string;
  /**
   * The frame at buf[off, off+len) came from `net`'s TAP. Returns true when
   * the hook consumed it (having recorded its verdict with f.decide), false
   * to pass it on.
   */
  fromTap(net: Network, buf: Buffer, off: number, len: number, f: Forwarding): boolean;
}
