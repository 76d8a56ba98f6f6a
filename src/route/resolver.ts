// Neighbour resolution for routed packets, as a router does it: a packet for
// a neighbour whose MAC the network's table does not have waits (copied, at
// most MAX_QUEUED per address, like the kernel's unres_qlen) while the
// gateway asks (an ARP request or NS from its own address and MAC, sent as
// the network sends broadcast), up to TRIES times RETRY_S apart. An answer
// fills the table and sends what waited; no answer drops it, tells the
// senders "host unreachable", and holds the address as failed for a while, so
// that a dead host costs three requests, not one per packet. The table is
// bounded (a scan of a /16 cannot grow it), and what it drops is counted. A
// failed entry is only a memory of a dead host: when the table is full, a new
// address takes the place of one (as the kernel's forced GC evicts FAILED
// neighbours first), so that a scan's dead addresses do not keep real
// neighbours unresolved for FAILED_HOLD_S after the scan.
import type { Network } from '../switch/network.ts';
import type { Gateway, Ingress, Vrf } from './vrf.ts';
import { VrfCounter } from './vrf.ts';

/** Packets that wait for one address at most. */
export const MAX_QUEUED = 3;
/** Addresses being resolved, or held as failed, per VRF at most. */
export const MAX_ENTRIES = 512;
/** Requests per address, and the time between two. */
export const TRIES = 3;
export const RETRY_S = 1;
/** How long an address nobody answered for is held as failed: its packets are dropped at once meanwhile. */
export const FAILED_HOLD_S = 5;

/** A packet that waits: a copy of its frame, and the gateway it came in through (which answers its sender). */
export interface Queued {
  readonly data: Buffer;
  readonly ingress: Ingress;
}

export interface Pending {
  /** The network the neighbour is on, through its gateway. */
  readonly gateway: Gateway;
  /** Its address, 16 bytes. */
  readonly ip: Uint8Array;
  /** Requests sent. */
  tries: number;
  /** When the next request goes (resolving), or when the failed entry goes (failed). */
  next: number;
  failed: boolean;
  /** When it began. */
  readonly since: number;
  readonly packets: Queued[];
}

/** What queue() did with a packet. */
export const Queue = {
  /** It waits, and the address is new: send the first request now. */
  Requested: 0,
  /** It waits behind a request already sent. */
  Queued: 1,
  /** Dropped (counted): the address failed, its queue is full, or the table is. */
  Dropped: 2,
} as const;
export type Queue = (typeof Queue)[keyof typeof Queue];

function key(net: Network, ip: Uint8Array): string {
  return `${net.name} ${Buffer.from(ip.buffer, ip.byteOffset, 16).toString('hex')}`;
}

export class Resolver {
  private readonly entries = new Map<string, Pending>();
  /** How many of the entries are failed ones. */
  private failedCount = 0;
  /** Packets whose neighbour answered, for the router to send after the batch. */
  readonly ready: Queued[] = [];
  /** Called when packets became ready. */
  onReady: () => void = () => {};
  /** Called when the first neighbour is asked for: from now on, someone must call due() (the router's tick). */
  onWaiting: () => void = () => {};

  constructor(private readonly vrf: Vrf) {}

  get size(): number {
    return this.entries.size;
  }

  /** The packet at buf[off, off+len), for neighbour `ip` (16 bytes, copied) of `egress`'s network, waits. */
  queue(egress: Gateway, ip: Uint8Array, buf: Buffer, off: number, len: number, ingress: Ingress, now: number): Queue {
    const k = key(egress.net, ip);
    const e = this.entries.get(k);
    const drop = (): Queue => {
      this.vrf.counters[VrfCounter.NeighUnresolved]++;
      return Queue.Dropped;
    };
    if (e !== undefined) {
      if (e.failed || e.packets.length >= MAX_QUEUED) return drop();
      e.packets.push({ data: Buffer.from(buf.subarray(off, off + len)), ingress });
      return Queue.Queued;
    }
    if (this.entries.size >= MAX_ENTRIES && !this.evictFailed()) return drop();
    this.entries.set(k, {
      gateway: egress,
      ip: ip.slice(0, 16),
      tries: 1,
      next: now + RETRY_S,
      failed: false,
      since: now,
      packets: [{ data: Buffer.from(buf.subarray(off, off + len)), ingress }],
    });
    if (this.entries.size === 1) this.onWaiting();
    return Queue.Requested;
  }

  /** Whether this host asked for `ip` (16 bytes at b[at]) on `net` and waits for the answer. */
  waitsFor(net: Network, b: Uint8Array, at: number): boolean {
    const e = this.entries.get(key(net, b.subarray(at, at + 16)));
    return e !== undefined && !e.failed;
  }

  /** `ip` of `net` answered: what waited for it becomes ready. Returns whether anything waited. */
  resolved(net: Network, ip: Uint8Array): boolean {
    const k = key(net, ip);
    const e = this.entries.get(k);
    if (e === undefined) return false;
    this.remove(k, e);
    if (e.packets.length === 0) return true;
    this.ready.push(...e.packets);
    this.onReady();
    return true;
  }

  /**
   * Entries whose time came: those to ask again (`retry`, tries counted), and
   * those that failed now (`failed`, with their packets to answer). Failed
   * entries held long enough go.
   */
  due(now: number, retry: Pending[], failed: Pending[]): void {
    for (const [k, e] of this.entries) {
      if (e.next > now) continue;
      if (e.failed) {
        this.remove(k, e);
      } else if (e.tries < TRIES) {
        e.tries++;
        e.next = now + RETRY_S;
        retry.push(e);
      } else {
        e.failed = true;
        this.failedCount++;
        e.next = now + FAILED_HOLD_S;
        this.vrf.counters[VrfCounter.NeighUnresolved] += e.packets.length;
        failed.push({ ...e, packets: e.packets.splice(0) });
      }
    }
  }

  /** A network left the VRF: what waited for its neighbours goes. */
  forget(net: Network): void {
    for (const [k, e] of this.entries) if (e.gateway.net === net) this.remove(k, e);
  }

  private remove(k: string, e: Pending): void {
    this.entries.delete(k);
    if (e.failed) this.failedCount--;
  }

  /** Makes room by forgetting the oldest failed entry; false when there is none (every entry still resolving). */
  private evictFailed(): boolean {
    if (this.failedCount === 0) return false;
    // Entries are in the order they began, and fail in about that order: the first failed one is near the front.
    for (const [k, e] of this.entries) {
      if (!e.failed) continue;
      this.remove(k, e);
      return true;
    }
    return false;
  }

  *pending(): IterableIterator<Pending> {
    yield* this.entries.values();
  }
}
