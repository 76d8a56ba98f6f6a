// The remote VTEPs of one network, behind small stable indices.
//
// A remote's index is its FDB port number and its slot in every per-remote
// array (index 0 is the local TAP and has no address). Its address is 16
// bytes (IPv4 as ::ffff:a.b.c.d) in `bytes`, which is also the destination
// table the native send calls read: a send queue entry names an index, never
// an address, so the hot path copies no address.
//
// Complications, and how they are handled:
// - Why a remote is there. Each reason is a "hold" bit (listed in `remotes`,
//   in `allow`, learned, the multicast group) and static FDB entries count
//   as references. A remote lives while it has a hold or a reference; when
//   the last goes, its index is freed and later reused. The caller must first
//   have removed the FDB entries that point at it (Network does).
// - The flood list is the remotes holding a flood hold, kept as a dense array
//   rebuilt on change, so that replication is a loop over it.
// - Lookups by address on the hot path: an open-addressing hash over the four
//   32-bit words of the address, compared word by word; nothing is allocated.
//   The multicast group is never a sender, so it is not in the hash.
// - Spoofed sources: at most MAX_LEARNED_REMOTES learned remotes per network.
// - Given remotes (config, vtepctl, EVPN, static entries): at most `maxRemotes`
//   per network, since every BUM frame becomes one copy per flood remote.
import { ADDR_LEN, ADDR_WORDS, formatIp, isV4Mapped } from '../wire/ip-address.ts';
import { REMOTE_SLOTS } from './counters.ts';
import { Hold } from './hold.ts';

/** accept-any-remote learns at most this many VTEPs, so spoofed sources cannot grow the table without bound. */
export const MAX_LEARNED_REMOTES = 4096;
/**
 * Given remotes per network: head-end replication sends every broadcast once per remote, and 1024
 * copies of one ARP request is already more than an underlay should carry; fabrics with more VTEPs
 * in one network use a multicast group.
 */
export const DEFAULT_MAX_REMOTES = 1024;
/**
 * A path MTU learned from ICMP is forgotten after this long, as the kernel's (net.ipv4.route.mtu_expires: 10
 * minutes).
 */
export const PMTU_EXPIRES_S = 600;
/** The least path MTU taken from ICMP: the kernel's min_pmtu for IPv4 (552), and IPv6's minimum link MTU (1280). */
const MIN_PMTU_V4 = 552;
const MIN_PMTU_V6 = 1280;

export { Hold };

/** The holds that put a remote on the flood list. */
const FLOOD_HOLDS: number = Hold.Flood | Hold.FloodCtl | Hold.FloodEvpn;

/** Where each hold comes from, for `vtepctl remote show`. */
export const HOLD_ORIGINS: [Hold, string][] = [
  [Hold.Flood, 'config'],
  [Hold.Allow, 'config'],
  [Hold.FloodCtl, 'vtepctl'],
  [Hold.AcceptCtl, 'vtepctl'],
  [Hold.FloodEvpn, 'evpn'],
  [Hold.AcceptEvpn, 'evpn'],
  [Hold.Learned, 'learned'],
];

const INITIAL_CAPACITY = 8;

function hash(w0: number, w1: number, w2: number, w3: number): number {
  let h = Math.imul(w0 ^ 0x9e3779b9, 0x85ebca6b);
  h = Math.imul(h ^ w1 ^ (h >>> 15), 0xc2b2ae35);
  h = Math.imul(h ^ w2 ^ (h >>> 13), 0x85ebca6b);
  h = Math.imul(h ^ w3 ^ (h >>> 16), 0xc2b2ae35);
  return (h ^ (h >>> 15)) >>> 0;
}

export class RemoteTable {
  /** Address of remote i at words [4i, 4i+4); what native sends read as `bytes`. */
  words = new Uint32Array(INITIAL_CAPACITY * ADDR_WORDS);
  bytes = new Uint8Array(this.words.buffer);
  /** Per-remote counter blocks (REMOTE_SLOTS each). */
  counters = new Float64Array(INITIAL_CAPACITY * REMOTE_SLOTS);
  /** Last GRE sequence number received from each remote; -1 before the first. */
  lastSeq = new Float64Array(INITIAL_CAPACITY).fill(-1);
  /** Remotes that receive BUM frames: flood[0..floodCount). */
  flood = new Uint32Array(INITIAL_CAPACITY);
  floodCount = 0;
  /** Index of the multicast group's entry, 0 without a group. */
  group = 0;
  /** The underlay's MTU: every remote's path MTU until ICMP says less. */
  underlayMtu = 1500;
  /** Path MTU toward each remote: the largest outer IP packet that reaches it. */
  pmtu = new Uint32Array(INITIAL_CAPACITY);
  /** When each learned (lowered) path MTU is forgotten, in monotonic seconds; 0 while it is the underlay's. */
  pmtuExpires = new Float64Array(INITIAL_CAPACITY);
  /** The least path MTU of every remote and the group: a packet that fits it fits all, with no look per destination. */
  minPmtu = this.underlayMtu;
  private holds = new Uint8Array(INITIAL_CAPACITY);
  private staticRefs = new Uint32Array(INITIAL_CAPACITY);
  /** One past the highest index in use; indices below it that are free are in `free`. */
  private end = 1;
  private readonly free: number[] = [];
  private learnedCount = 0;
  /** Live remotes (the group's entry included). */
  private liveCount = 0;
  /** Given remotes (not only learned) this network may have; more are refused and counted. */
  maxRemotes = DEFAULT_MAX_REMOTES;
  refusedRemotes = 0;
  /** Open addressing: index + 1 of the remote whose address hashes there, 0 empty. */
  private slots = new Int32Array(INITIAL_CAPACITY * 2);

  /** Index of the remote whose address is words[at, at+4), or -1. */
  find(words: Uint32Array, at: number): number {
    const w0 = words[at],
      w1 = words[at + 1],
      w2 = words[at + 2],
      w3 = words[at + 3];
    const mask = this.slots.length - 1;
    const own = this.words;
    for (let s = hash(w0, w1, w2, w3) & mask; ; s = (s + 1) & mask) {
      const r = this.slots[s] - 1;
      if (r < 0) return -1;
      const b = r * ADDR_WORDS;
      if (own[b] === w0 && own[b + 1] === w1 && own[b + 2] === w2 && own[b + 3] === w3) return r;
    }
  }

  /** Index of the remote at this 16-byte address, or -1 (control plane). */
  indexOf(addr: Uint8Array): number {
    return this.find(new Uint32Array(addr.slice().buffer), 0);
  }

  /**
   * Adds `hold` to the remote at `addr` (16 bytes), adding the remote if it is
   * new. Returns its index, or -1 when it would be one learned remote too many.
   */
  hold(addr: Uint8Array, hold: Hold): number {
    let r = hold === Hold.Group ? this.groupIndex(addr) : this.indexOf(addr);
    if (r < 0) {
      if (hold === Hold.Learned && this.learnedCount >= MAX_LEARNED_REMOTES) return -1;
      if (hold !== Hold.Learned && hold !== Hold.Group && this.refuseGiven()) return -1;
      r = this.allocate(addr, hold);
    } else {
      this.setHolds(r, this.holds[r] | hold);
    }
    if (hold === Hold.Group) this.group = r;
    return r;
  }

  /** A VTEP seen sending (accept-any-remote): added with a Learned hold, unless too many are. */
  learn(words: Uint32Array, at: number): number {
    const r = this.find(words, at);
    if (r >= 0) return r;
    return this.hold(new Uint8Array(words.buffer, words.byteOffset + at * 4, ADDR_LEN).slice(), Hold.Learned);
  }

  /** Takes `hold` away; returns true if that removed the remote (its FDB entries must be gone already or now). */
  release(r: number, hold: Hold): boolean {
    if (!this.live(r) || !(this.holds[r] & hold)) return false;
    this.setHolds(r, this.holds[r] & ~hold);
    if (hold === Hold.Group) this.group = 0;
    return this.removeIfUnused(r);
  }

  /** Remotes not only learned (the group apart). */
  get givenCount(): number {
    return this.liveCount - this.learnedCount - (this.group !== 0 ? 1 : 0);
  }

  /** Whether one more given remote would be one too many; counts the refusal when it would. */
  refuseGiven(): boolean {
    if (this.givenCount < this.maxRemotes) return false;
    this.refusedRemotes++;
    return true;
  }

  /**
   * A static FDB entry now points at the remote at `addr` (16 bytes), which is added if new; returns its index,
   * or -1 when it would be one given remote too many.
   */
  reference(addr: Uint8Array): number {
    let r = this.indexOf(addr);
    if (r < 0 && this.refuseGiven()) return -1;
    if (r < 0) r = this.allocate(addr, 0);
    this.staticRefs[r]++;
    return r;
  }

  /** A static FDB entry no longer points at remote r; returns true if that removed it. */
  unreference(r: number): boolean {
    if (!this.live(r) || this.staticRefs[r] === 0) return false;
    this.staticRefs[r]--;
    return this.removeIfUnused(r);
  }

  /** Whether releasing `hold` would remove r: it is all that keeps r. */
  holdsOnly(r: number, hold: Hold): boolean {
    return this.live(r) && this.holds[r] === hold && this.staticRefs[r] === 0;
  }

  /** Whether dropping one static reference would remove r. */
  referencedOnly(r: number): boolean {
    return this.live(r) && this.holds[r] === 0 && this.staticRefs[r] === 1;
  }

  /** Removes r whatever holds or references it (its FDB entries must be gone). */
  drop(r: number): void {
    if (!this.live(r)) return;
    if (r === this.group) this.group = 0;
    this.setHolds(r, 0);
    this.staticRefs[r] = 0;
    this.removeIfUnused(r);
  }

  /** The holds on r, as a bit set of Hold (0 if it is not live). */
  holdsOf(r: number): number {
    return this.live(r) ? this.holds[r] : 0;
  }

  /** Receives BUM frames. */
  floods(r: number): boolean {
    return this.live(r) && (this.holds[r] & FLOOD_HOLDS) !== 0;
  }

  /** Where r comes from: config, vtepctl, evpn, learned, and "static" when a given FDB entry names it. */
  origins(r: number): string[] {
    const out: string[] = [];
    for (const [h, origin] of HOLD_ORIGINS) if (this.holds[r] & h && !out.includes(origin)) out.push(origin);
    if (this.staticRefs[r] > 0) out.push('static');
    return out;
  }

  live(r: number): boolean {
    return r > 0 && r < this.end && (this.holds[r] !== 0 || this.staticRefs[r] !== 0);
  }

  has(r: number, hold: Hold): boolean {
    return this.live(r) && (this.holds[r] & hold) !== 0;
  }

  /** Named by a configuration (config, vtepctl, EVPN), not only learned. */
  configured(r: number): boolean {
    return this.live(r) && ((this.holds[r] & ~Hold.Learned) !== 0 || this.staticRefs[r] > 0);
  }

  /** Live remote indices, in index order (the group's entry excluded). */
  *indices(): IterableIterator<number> {
    for (let r = 1; r < this.end; r++) if (this.live(r) && this.holds[r] !== Hold.Group) yield r;
  }

  /** How many copies a BUM frame becomes: one per flood remote, one more for a group. */
  get fanout(): number {
    return this.floodCount + (this.group !== 0 ? 1 : 0);
  }

  /** The canonical text of remote r's address. */
  address(r: number): string {
    return formatIp(this.bytes, r * ADDR_LEN);
  }

  get size(): number {
    let n = 0;
    for (const _ of this.indices()) n++;
    return n;
  }

  /** Sets the underlay's MTU, which every remote's path MTU starts from. */
  setUnderlayMtu(mtu: number): void {
    for (let r = 1; r < this.end; r++) if (this.pmtuExpires[r] === 0 || this.pmtu[r] > mtu) this.pmtu[r] = mtu;
    this.underlayMtu = mtu;
    this.updateMinPmtu();
  }

  /**
   * An ICMP error said that packets of more than `mtu` bytes do not reach
   * remote r (a v4-mapped or IPv6 address): its path MTU is lowered, for
   * PMTU_EXPIRES_S. Returns the new path MTU if it changed, else 0.
   */
  lowerPmtu(r: number, mtu: number, now: number): number {
    if (!this.live(r)) return 0;
    const least = isV4Mapped(this.bytes, r * ADDR_LEN) ? MIN_PMTU_V4 : MIN_PMTU_V6;
    const m = Math.max(least, Math.min(mtu, this.underlayMtu));
    if (m >= this.underlayMtu) return 0; // nothing learned: the path takes what the link does
    this.pmtuExpires[r] = now + PMTU_EXPIRES_S; // a repeated error keeps what it said alive
    if (m >= this.pmtu[r]) return 0;
    this.pmtu[r] = m;
    this.updateMinPmtu();
    return m;
  }

  /** Forgets the learned path MTUs that expired; returns the remotes whose path MTU went back up. */
  expirePmtu(now: number): number[] {
    const raised: number[] = [];
    for (let r = 1; r < this.end; r++) {
      if (this.pmtuExpires[r] === 0 || this.pmtuExpires[r] > now) continue;
      this.pmtuExpires[r] = 0;
      if (this.pmtu[r] !== this.underlayMtu) raised.push(r);
      this.pmtu[r] = this.underlayMtu;
    }
    if (raised.length > 0) this.updateMinPmtu();
    return raised;
  }

  private updateMinPmtu(): void {
    let m = this.underlayMtu;
    for (let r = 1; r < this.end; r++) if (this.live(r) && this.pmtu[r] < m) m = this.pmtu[r];
    this.minPmtu = m;
  }

  /** A copy, for `vtepctl trace` to run the data path on without changing this one. */
  clone(): RemoteTable {
    const t = new RemoteTable();
    t.words = this.words.slice();
    t.bytes = new Uint8Array(t.words.buffer);
    t.counters = this.counters.slice();
    t.lastSeq = this.lastSeq.slice();
    t.flood = this.flood.slice();
    t.floodCount = this.floodCount;
    t.group = this.group;
    t.underlayMtu = this.underlayMtu;
    t.pmtu = this.pmtu.slice();
    t.pmtuExpires = this.pmtuExpires.slice();
    t.minPmtu = this.minPmtu;
    t.holds = this.holds.slice();
    t.staticRefs = this.staticRefs.slice();
    t.end = this.end;
    t.free.push(...this.free);
    t.learnedCount = this.learnedCount;
    t.liveCount = this.liveCount;
    t.maxRemotes = this.maxRemotes;
    t.refusedRemotes = this.refusedRemotes;
    t.slots = this.slots.slice();
    return t;
  }

  private groupIndex(addr: Uint8Array): number {
    if (this.group === 0) return -1;
    const b = this.group * ADDR_LEN;
    for (let i = 0; i < ADDR_LEN; i++) if (this.bytes[b + i] !== addr[i]) return -1;
    return this.group;
  }

  private allocate(addr: Uint8Array, hold: Hold | 0): number {
    const r = this.free.pop() ?? this.end++;
    if (r >= this.holds.length) this.grow(this.holds.length * 2);
    this.bytes.set(addr, r * ADDR_LEN);
    this.counters.fill(0, r * REMOTE_SLOTS, (r + 1) * REMOTE_SLOTS);
    this.lastSeq[r] = -1;
    this.pmtu[r] = this.underlayMtu;
    this.pmtuExpires[r] = 0;
    this.staticRefs[r] = 0;
    this.holds[r] = 0;
    this.liveCount++;
    this.setHolds(r, hold);
    if (hold !== Hold.Group) {
      if ((this.end - this.free.length) * 2 > this.slots.length) this.rehash(this.slots.length * 2);
      else this.insert(r);
    }
    return r;
  }

  private setHolds(r: number, holds: number): void {
    const before = this.holds[r];
    if ((before & Hold.Learned) !== (holds & Hold.Learned)) this.learnedCount += holds & Hold.Learned ? 1 : -1;
    this.holds[r] = holds;
    if (((before & FLOOD_HOLDS) !== 0) !== ((holds & FLOOD_HOLDS) !== 0)) this.rebuildFlood();
  }

  /** Frees r if nothing holds or references it any more (r was live). */
  private removeIfUnused(r: number): boolean {
    if (this.holds[r] !== 0 || this.staticRefs[r] !== 0) return false;
    this.liveCount--;
    this.bytes.fill(0, r * ADDR_LEN, (r + 1) * ADDR_LEN);
    this.free.push(r);
    this.rehash(this.slots.length);
    if (this.pmtu[r] < this.underlayMtu) this.updateMinPmtu();
    return true;
  }

  private rebuildFlood(): void {
    if (this.flood.length < this.holds.length) this.flood = new Uint32Array(this.holds.length);
    let n = 0;
    for (let r = 1; r < this.end; r++) if (this.holds[r] & FLOOD_HOLDS) this.flood[n++] = r;
    this.floodCount = n;
  }

  private insert(r: number): void {
    const b = r * ADDR_WORDS;
    const mask = this.slots.length - 1;
    let s = hash(this.words[b], this.words[b + 1], this.words[b + 2], this.words[b + 3]) & mask;
    while (this.slots[s] !== 0) s = (s + 1) & mask;
    this.slots[s] = r + 1;
  }

  private rehash(size: number): void {
    this.slots = new Int32Array(size);
    for (let r = 1; r < this.end; r++) if (this.live(r) && this.holds[r] !== Hold.Group) this.insert(r);
  }

  private grow(capacity: number): void {
    const words = new Uint32Array(capacity * ADDR_WORDS);
    words.set(this.words);
    this.words = words;
    this.bytes = new Uint8Array(words.buffer);
    const counters = new Float64Array(capacity * REMOTE_SLOTS);
    counters.set(this.counters);
    this.counters = counters;
    const lastSeq = new Float64Array(capacity).fill(-1);
    lastSeq.set(this.lastSeq);
    this.lastSeq = lastSeq;
    const pmtu = new Uint32Array(capacity);
    pmtu.set(this.pmtu);
    this.pmtu = pmtu;
    const expires = new Float64Array(capacity);
    expires.set(this.pmtuExpires);
    this.pmtuExpires = expires;
    const holds = new Uint8Array(capacity);
    holds.set(this.holds);
    this.holds = holds;
    const refs = new Uint32Array(capacity);
    refs.set(this.staticRefs);
    this.staticRefs = refs;
  }
}
