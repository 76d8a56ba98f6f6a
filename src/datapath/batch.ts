// The packet containers that cross the layers: io fills a Batch, the switch
// reads it and fills SendQueues, io drains those. Allocated at start-up (and
// again only when a change of configuration needs more room, between
// batches); per packet only numbers are written.
import { NATIVE_LAYOUT } from '../io/native.ts';
import { ADDR_WORDS } from '../wire/ip-address.ts';

/** Frames or datagrams read in one native call, each in its own slot of one arena. */
export class Batch {
  readonly arena: Buffer;
  readonly len: Uint32Array;
  /** Underlay address of each datagram's sender, 16 bytes each (IPv4 as ::ffff:a.b.c.d); unused for TAP reads. */
  readonly peer: Uint8Array;
  /** The same bytes as 32-bit words, ADDR_WORDS per datagram: what the remote tables compare. */
  readonly peerWords: Uint32Array;
  readonly port: Uint16Array;
  /** Outer TTL and TOS of each datagram from a UDP socket (0 from a raw socket: the header is in the data). */
  readonly ttl: Uint8Array;
  readonly tos: Uint8Array;
  count = 0;

  constructor(
    readonly capacity: number,
    readonly slotSize: number,
    /** Bytes left free in front of each packet, so a tunnel header can be written in place. */
    readonly headroom: number,
  ) {
    this.arena = Buffer.alloc(capacity * slotSize);
    this.len = new Uint32Array(capacity);
    this.peerWords = new Uint32Array(capacity * ADDR_WORDS);
    this.peer = new Uint8Array(this.peerWords.buffer);
    this.port = new Uint16Array(capacity);
    this.ttl = new Uint8Array(capacity);
    this.tos = new Uint8Array(capacity);
  }

  /** Offset in the arena where packet i begins. */
  start(i: number): number {
    return i * this.slotSize + this.headroom;
  }

  /** The most a slot can hold; a longer packet was cut and must be dropped. */
  get room(): number {
    return this.slotSize - this.headroom;
  }
}

/** SendQueue.outer: the outer IPv4 header gets DF (with df inherit). */
export const OUTER_DF: number = NATIVE_LAYOUT.outerDf;
/** SendQueue.outer: the IPv6 flow label's bits. */
export const OUTER_LABEL: number = NATIVE_LAYOUT.outerLabelMask;
/**
 * SendQueue.outer: whatever the network's DF, this packet may be fragmented:
 * sent without DF (IPv4), or for the kernel to fragment to its path MTU (IPv6).
 * For a frame over a path MTU too small for ICMP to help its sender.
 */
export const OUTER_FRAGMENTABLE: number = NATIVE_LAYOUT.outerFragmentable;

/**
 * Packets to send or write: (offset, length, destination) into one arena. Several
 * entries may point at the same bytes (head-end replication of one frame). A
 * destination is an index into the sender's address table (a network's
 * remotes); for frames to a TAP, the remote they came from.
 */
export class SendQueue {
  off: Uint32Array;
  len: Uint32Array;
  dst: Uint32Array;
  /** Which of the sender's sockets each entry goes out of (its source port, with UDP lanes). */
  lane: Uint8Array;
  /** The outer TOS of each entry: the inner packet's ECN codepoint (RFC 6040). */
  tos: Uint8Array;
  /** The rest of each entry's outer header: IPv6 flow label (low 20 bits), and with df inherit, DF (bit 20). */
  outer: Uint32Array;
  /** After a send that did not take every entry: 1 for each entry the kernel refused or dropped. */
  unsent: Uint8Array;
  count = 0;
  arena: Buffer;

  constructor(
    public capacity: number,
    arena: Buffer,
  ) {
    this.arena = arena;
    this.off = new Uint32Array(capacity);
    this.len = new Uint32Array(capacity);
    this.dst = new Uint32Array(capacity);
    this.lane = new Uint8Array(capacity);
    this.tos = new Uint8Array(capacity);
    this.outer = new Uint32Array(capacity);
    this.unsent = new Uint8Array(capacity);
  }

  /** False when full: the caller counts the packet as dropped. */
  push(off: number, len: number, dst: number, lane = 0, tos = 0, outer = 0): boolean {
    const i = this.count;
    if (i === this.capacity) return false;
    this.off[i] = off;
    this.len[i] = len;
    this.dst[i] = dst;
    this.lane[i] = lane;
    this.tos[i] = tos;
    this.outer[i] = outer;
    this.count = i + 1;
    return true;
  }

  /** Makes room for `n` entries (once per batch: a flood list that grew makes it grow). */
  reserve(n: number): void {
    if (n <= this.capacity) return;
    const grow = <T extends Uint32Array | Uint8Array>(a: T, make: (n: number) => T): T => {
      const b = make(n);
      b.set(a.subarray(0, this.count));
      return b;
    };
    this.off = grow(this.off, (k) => new Uint32Array(k));
    this.len = grow(this.len, (k) => new Uint32Array(k));
    this.dst = grow(this.dst, (k) => new Uint32Array(k));
    this.lane = grow(this.lane, (k) => new Uint8Array(k));
    this.tos = grow(this.tos, (k) => new Uint8Array(k));
    this.outer = grow(this.outer, (k) => new Uint32Array(k));
    this.unsent = new Uint8Array(n);
    this.capacity = n;
  }
}
