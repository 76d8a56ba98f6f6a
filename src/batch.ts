// The packet containers that cross the layers: io fills a Batch, the switch
// reads it and fills SendQueues, io drains those. Everything is allocated once
// at start-up; per packet only numbers are written.

/** Frames or datagrams read in one native call, each in its own slot of one arena. */
export class Batch {
  readonly arena: Buffer;
  readonly len: Uint32Array;
  /** Underlay peer address (host order) of each datagram; unused for TAP reads. */
  readonly addr: Uint32Array;
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
    this.addr = new Uint32Array(capacity);
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

/**
 * Packets to send or write: (offset, length, destination) into one arena. Several
 * entries may point at the same bytes (head-end replication of one frame).
 */
export class SendQueue {
  readonly off: Uint32Array;
  readonly len: Uint32Array;
  readonly addr: Uint32Array;
  readonly port: Uint16Array;
  /** Which of the sender's sockets each entry goes out of (its source port, with UDP lanes). */
  readonly lane: Uint8Array;
  /** The outer TOS of each entry: the inner packet's ECN codepoint (RFC 6040). */
  readonly tos: Uint8Array;
  count = 0;
  arena: Buffer;

  constructor(readonly capacity: number, arena: Buffer) {
    this.arena = arena;
    this.off = new Uint32Array(capacity);
    this.len = new Uint32Array(capacity);
    this.addr = new Uint32Array(capacity);
    this.port = new Uint16Array(capacity);
    this.lane = new Uint8Array(capacity);
    this.tos = new Uint8Array(capacity);
  }

  /** False when full: the caller counts the packet as dropped. */
  push(off: number, len: number, addr: number, port: number, lane = 0, tos = 0): boolean {
    const i = this.count;
    if (i === this.capacity) return false;
    this.off[i] = off;
    this.len[i] = len;
    this.addr[i] = addr;
    this.port[i] = port;
    this.lane[i] = lane;
    this.tos[i] = tos;
    this.count = i + 1;
    return true;
  }
}
