// The remote VTEPs of one network. A remote's index is its FDB port number
// (index 0 is the local TAP and has no address). The configured `remotes` come
// first, at 1..floodCount, and are the flood list; then the remotes named only
// by static entries or `allow`; then, with accept-any-remote (or a multicast
// group), VTEPs seen sending to us.
import { REMOTE_SLOTS } from './counters.ts';

/** accept-any-remote learns at most this many VTEPs, so spoofed sources cannot grow the table without bound. */
export const MAX_REMOTES = 4096;

export class RemoteTable {
  private readonly index = new Map<number, number>();
  /** Address (host order) of remote i; addr[0] is unused. */
  readonly addr: number[] = [0];
  /** Remotes 1..floodCount receive BUM frames. */
  readonly floodCount: number;
  /** Remotes 1..fixedCount come from the configuration; later ones were learned. */
  readonly fixedCount: number;
  counters = new Float64Array(REMOTE_SLOTS * 8);
  /** Last GRE sequence number received from each remote; -1 before the first. */
  lastSeq = new Float64Array(8).fill(-1);

  constructor(flood: readonly number[], others: readonly number[] = []) {
    for (const a of flood) this.add(a);
    this.floodCount = this.addr.length - 1;
    for (const a of others) this.add(a);
    this.fixedCount = this.addr.length - 1;
  }

  /** Port number of the VTEP at `addr`, or -1. */
  find(addr: number): number {
    return this.index.get(addr) ?? -1;
  }

  /** Adds a VTEP (idempotent); -1 when the table is full. */
  add(addr: number): number {
    const known = this.index.get(addr);
    if (known !== undefined) return known;
    if (this.addr.length > MAX_REMOTES) return -1;
    const i = this.addr.length;
    this.addr.push(addr);
    this.index.set(addr, i);
    if (i >= this.lastSeq.length) {
      const counters = new Float64Array(this.counters.length * 2);
      counters.set(this.counters);
      this.counters = counters;
      const lastSeq = new Float64Array(this.lastSeq.length * 2).fill(-1);
      lastSeq.set(this.lastSeq);
      this.lastSeq = lastSeq;
    }
    return i;
  }

  get size(): number {
    return this.addr.length - 1;
  }
}
