// What the switch decided for each frame of a batch, recorded where it is
// decided. Counters say how often something happened; a verdict says what
// became of this frame: `vtepctl trace` reads them, tests assert on them. Two
// stores per frame, into arrays made once.
//
// A batch's decisions also say where frames go: each network has its own
// tunnel and TAP queues, and a frame from one network may leave on another's
// (a routed frame). Forwarding collects the networks a batch queued frames
// for, so that the data path sends exactly those, once, after the batch.
import type { Network } from './network.ts';

export const Verdict = {
  None: 0,
  /** Sent to one remote VTEP; detail: its index. */
  Unicast: 1,
  /** Sent to every remote of the flood list (and the group); detail: the copies. */
  Flooded: 2,
  /** Written to a network's TAP; detail: the remote it came from (0: from this host). */
  Delivered: 3,
  /** A hook answered it on the TAP instead (the ARP/ND responder); detail: the hook's index. */
  Answered: 4,
  /** Too big for the path: its sender got ICMP on the TAP; detail: the MTU it was told. */
  TooBig: 5,
  /** Routed into another network of its VRF; detail: the egress network's index in the VRF. */
  Routed: 6,
  /** Dropped; detail: the Drop reason. */
  Dropped: 7,
  /**
   * Routed, but its next hop's MAC is not known yet: it waits while the
   * gateway asks; detail: the egress network's index.
   */
  Queued: 8,
  /**
   * A host's announcement of itself kept off the tunnels: a control plane (EVPN) tells the other VTEPs;
   * detail: the hook's index.
   */
  Suppressed: 9,
} as const;
export type Verdict = (typeof Verdict)[keyof typeof Verdict];

/** ORed into a Unicast or Flooded verdict: sent fragmentable (a path MTU too small for ICMP to help the sender). */
export const FRAGMENTABLE = 0x80;
/** ORed into the verdict of the egress network's bridging: the frame was routed into it. */
export const ROUTED = 0x40;
/** The verdict without its flags. */
export const VERDICT_MASK = 0x3f;

export const VERDICT_NAMES: Record<Verdict, string> = {
  [Verdict.None]: 'none',
  [Verdict.Unicast]: 'unicast',
  [Verdict.Flooded]: 'flooded',
  [Verdict.Delivered]: 'delivered',
  [Verdict.Answered]: 'answered',
  [Verdict.TooBig]: 'too-big',
  [Verdict.Routed]: 'routed',
  [Verdict.Dropped]: 'dropped',
  [Verdict.Queued]: 'queued',
  [Verdict.Suppressed]: 'suppressed',
};

export class Verdicts {
  kind: Uint8Array;
  detail: Int32Array;

  constructor(capacity: number) {
    this.kind = new Uint8Array(capacity);
    this.detail = new Int32Array(capacity);
  }

  /** Room for `n` frames (a batch larger than any before, between batches). */
  ensure(n: number): void {
    if (n <= this.kind.length) return;
    this.kind = new Uint8Array(n);
    this.detail = new Int32Array(n);
  }
}

/**
 * One batch's decisions in progress: the clock, the frame being decided and
 * its verdict slot, and the networks whose queues got frames. Made once per
 * data path and begun again for every batch.
 */
export class Forwarding {
  now = 0;
  /** The slot of the frame being decided. */
  i = 0;
  readonly verdicts: Verdicts;
  /** Networks with frames queued in this batch, each once. */
  readonly pending: Network[] = [];
  /** Set by bridgeOut for a frame too big for the path: the inner MTU its sender can be told. */
  innerMtu = 0;
  /** What the router did, step by step, when someone traces (vtepctl trace); undefined on the data path. */
  notes: string[] | undefined = undefined;

  constructor(capacity: number) {
    this.verdicts = new Verdicts(capacity);
  }

  begin(now: number, frames: number): void {
    this.now = now;
    this.i = 0;
    this.pending.length = 0;
    this.verdicts.ensure(frames);
  }

  /** Records the verdict of the frame being decided. */
  decide(kind: number, detail: number): void {
    this.verdicts.kind[this.i] = kind;
    this.verdicts.detail[this.i] = detail;
  }

  /** `net` has frames queued (tunnel or TAP): it is sent after the batch. */
  queued(net: Network): void {
    if (net.pendingIn === this) return;
    net.pendingIn = this;
    this.pending.push(net);
  }

  /** After the batch was sent: the networks are free to be queued for again. */
  end(): void {
    for (const net of this.pending) net.pendingIn = undefined;
    this.pending.length = 0;
  }
}
