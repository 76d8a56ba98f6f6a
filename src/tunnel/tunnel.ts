// What an encapsulation is to the rest of the daemon. Each one (vxlan.ts,
// geneve.ts, gre.ts) is a single module: its config block's schema and settings, how it
// wraps a frame (Encap), how received packets find their network (Demux),
// which sockets carry it, how much room its headers take, how captures show
// its packets, and how it describes itself. index.ts registers them; a new
// encapsulation is one such file plus its registration there.
//
// Tunnels know nothing of networks: a Demux maps a tunnel id (VNI, key) to
// whatever the caller registered, so this layer depends on wire/ alone.
import type { Batch } from '../datapath/batch.ts';

/** Wraps a network's frames for the underlay, writing the header in place in front of the frame. */
export interface Encap {
  /** Bytes written in front of the frame: the packet starts at off - headerLen. */
  readonly headerLen: number;
  /** Bytes of tunnel header the kernel adds besides the IP header (a UDP socket's UDP header). */
  readonly kernelHeaderLen: number;
  /**
   * Writes the header before buf[off, off+len); returns the lane: the sender
   * socket it goes out of (0 with one socket). `hash`: the frame's flow hash,
   * when the caller has it already (the IPv6 flow label is made of it too).
   */
  write(buf: Buffer, off: number, len: number, hash?: number): number;
  /**
   * For captures: writes the header the kernel adds (kernelHeaderLen bytes) for a packet of `len` bytes sent on
   * `lane`.
   */
  writeKernelHeader(buf: Buffer, at: number, lane: number, len: number): void;
  /** A copy in the same state (a GRE sequence number), for `vtepctl trace`. */
  clone(): Encap;
  /**
   * Whether the transport header an ICMP error quotes, buf[off, end) (UDP or
   * GRE header onwards, as far as quoted), is one of this network's packets:
   * its port or key, and what only we know (our source ports, the flow hash's
   * seed). RFC 5927 section 4: an error about a packet we could not have sent
   * is not believed.
   */
  sentThis(buf: Uint8Array, off: number, end: number): boolean;
}

/** A packet's `seq` when it carries no sequence number. */
export const NO_SEQ = -1;

/**
 * What each packet of a received batch resolved to, slot by slot: its
 * network (undefined if it was dropped before one was known), where its
 * inner frame is, its size as counted, its sequence number and outer ECN.
 * Made once per batch size; filled by a Demux, read by captures and delivery.
 */
export class Resolved<T> {
  readonly target: (T | undefined)[];
  /** The inner frame of packet i is arena[off[i], off[i] + len[i]). */
  readonly off: Uint32Array;
  readonly len: Uint32Array;
  /** The tunnel packet's size as counted: its IP payload (UDP or GRE header onwards). */
  readonly wireLen: Uint32Array;
  /** GRE sequence number, or NO_SEQ. */
  readonly seq: Float64Array;
  /** The outer header's ECN codepoint. */
  readonly ecn: Uint8Array;
  /** Why packet i is for no network (a Drop), where target[i] is undefined. */
  readonly drop: Uint8Array;

  constructor(readonly capacity: number) {
    this.target = new Array<T | undefined>(capacity).fill(undefined);
    this.off = new Uint32Array(capacity);
    this.len = new Uint32Array(capacity);
    this.wireLen = new Uint32Array(capacity);
    this.seq = new Float64Array(capacity);
    this.ecn = new Uint8Array(capacity);
    this.drop = new Uint8Array(capacity);
  }
}

/** Finds the network of each packet read from one socket, by tunnel id. */
export interface Demux<T> {
  /** Resolves packet i of `b` into slot i of `out`; returns 0 (Drop.None) or the reason it is not ours. */
  resolve(b: Batch, i: number, out: Resolved<T>): number;
  /** Packets with tunnel id `id` go to `target`; `tunnel` is its network's (what it accepts besides the id). */
  set(id: number, target: T, tunnel?: Tunnel): void;
  delete(id: number): void;
  readonly size: number;
}

/** A demux whose tunnel ids map to targets: the encapsulation adds how to read the id. */
export abstract class IdDemux<T> implements Demux<T> {
  protected readonly byId = new Map<number, T>();

  abstract resolve(b: Batch, i: number, out: Resolved<T>): number;

  set(id: number, target: T, _tunnel?: Tunnel): void {
    this.byId.set(id, target);
  }

  delete(id: number): void {
    this.byId.delete(id);
  }

  get size(): number {
    return this.byId.size;
  }
}

/** A receive socket, shared by every network whose packets it brings. */
export type ReceiveSocket = { kind: 'udp'; port: number } | { kind: 'raw'; protocol: number };

/** What a network sends on. */
export type SendSocket =
  { kind: 'udp-lanes'; dstPort: number; srcMin: number; srcMax: number } | { kind: 'raw'; protocol: number };

export interface Tunnel {
  readonly kind: string;
  /** VNI or GRE key. */
  readonly id: number;
  /** Unique per daemon: two networks with the same identity would take each other's packets. */
  readonly identity: string;
  /** The config path of what makes the identity, and what to say when two networks share it. */
  readonly identityPath: readonly string[];
  conflict(otherNetwork: string): string;
  /** One line for the log: "VXLAN VNI 42 port 4789". */
  describe(): string;
  /** DF on the outer header when `df` is not given. */
  readonly defaultDf: boolean;
  /** Whether BUM frames may go to a multicast group. */
  readonly supportsGroup: boolean;
  /** The UDP port a group socket listens on (group mode only). */
  readonly groupPort: number;
  /**
   * What the TAP's MTU gives up to fit the underlay's besides the outer IP header: the tunnel header, inner
   * Ethernet.
   */
  readonly overhead: number;
  /** IP protocol of the outer header. */
  readonly outerProtocol: number;
  readonly receiveSocket: ReceiveSocket;
  /** A demux for the receive socket (of IPv6 or IPv4): finds each packet's network by tunnel id. */
  newDemux<T>(ipv6?: boolean): Demux<T>;
  sendSocket(offload: boolean): SendSocket;
  /** `lanePorts`: the source port of each lane (UDP lanes), or none (one raw socket). */
  encap(lanePorts: readonly number[]): Encap;
  /**
   * For captures of received packets: writes the outer headers the receive
   * socket stripped (none from a raw socket) in front of packet i of `b`, to
   * `dst` (16 bytes) and `dstPort`; returns their length.
   */
  writeStrippedHeaders(b: Batch, i: number, dst: Uint8Array, dstPort: number, buf: Buffer, at: number): number;
  /**
   * For `vtepctl trace`: writes `frame` at buf[at] as this network's receive
   * socket would hand it over coming from `from` to `to` (16 bytes each);
   * returns its length.
   */
  wrapReceived(frame: Buffer, from: Uint8Array, to: Uint8Array, buf: Buffer, at: number): number;
}

/**
 * What decoding a captured tunnel packet found: the encapsulation's view of its header, and where the inner
 * frame ends.
 */
export interface Decoded<V> {
  view?: V;
  innerEnd: number;
}
