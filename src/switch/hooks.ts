// Hooks on frames read from a network's TAP, run in order after the frame is
// accepted and its source learned, before it is bridged. A hook looks at the
// frame and passes it on, or consumes it: it answered it on the TAP (the
// ARP/ND responder), or took it elsewhere (the router), and recorded the
// frame's verdict. Only what a network uses is in its list: a network without
// a responder or a gateway runs no hook at all (as tailscale's tstun filters,
// and Open vSwitch's tables, each one step of a pipeline).
import type { Mac } from '../wire/mac.ts';
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

/**
 * What a network with a gateway does with frames from its tunnels besides
 * delivering them: another host's gateway MAC and DVR MAC are never learned,
 * and its frames may be rewritten (DVR); frames to the gateway MAC are the
 * answers to this host's resolution, or dropped.
 */
export interface TunnelHook {
  /** Whether the source MAC `src` of a frame from a tunnel is learned. */
  learns(src: Mac): boolean;
  /**
   * The frame at buf[off, off+len) came from remote `port` of `net`: false
   * delivers it to the TAP (it may have been rewritten in place), true
   * consumes it (its verdict recorded).
   */
  fromTunnel(net: Network, buf: Buffer, off: number, len: number, port: number, f: Forwarding): boolean;
}
