// The packet loop: io reads a batch, the switch decides and writes headers,
// io sends. One Batch per direction and one SendQueue are shared by every
// network: handling a batch is synchronous, so they are never in use twice.
import { Batch, SendQueue } from './batch.ts';
import type { Mirror } from './control/capture.ts';
import { native } from './io/native.ts';
import type { Port, Receiver, TunnelSender } from './io/port.ts';
import type { Tap } from './io/tap.ts';
import { C, Counters } from './switch/counters.ts';
import { forwardFromTap, receiveGre, receiveVxlan } from './switch/forward.ts';
import type { Network } from './switch/network.ts';
import { Drop } from './wire/drop.ts';
import { GRE_FLAG_K, newGreRepr, parseGre } from './wire/gre.ts';
import { newIpv4Repr, parseIpv4 } from './wire/ipv4.ts';
import { newVxlanRepr, parseVxlan } from './wire/vxlan.ts';

/** Frames per native call (shared/notes/fast-path.md: 64 is enough). */
export const BATCH_SIZE = 64;
/** TSO frames per read from an offloading TAP: each may become ~47 segments, all of which must fit FRAMES_PER_OFFLOAD_BATCH. */
const OFFLOAD_READ_BATCH = 16;
/** Frames of one batch with offloads: TSO frames cut up, or UDP GRO reads cut apart (16 reads of up to 64). */
export const FRAMES_PER_OFFLOAD_BATCH = 1024;
/** A TSO frame: up to 64 KB of IP packet, an Ethernet header and the virtio_net_hdr. */
const OFFLOAD_SLOT = 65536 + 128;
/** Room in front of a received datagram, for the virtio_net_hdr written before the inner frame. */
const TUNNEL_HEADROOM = 16;
/** Longest busy-polling stretch before the event loop gets its turn (timers, control socket). */
const MAX_SPIN_US = 2000;
/** Batches handled per wakeup before yielding to the event loop (the watcher is level-triggered). */
const ROUNDS_PER_WAKEUP = 16;
/** Room for any tunnel header we write in front of a frame (UDP+VXLAN 16, GRE up to 16). */
export const HEADROOM = 32;

export interface Attachment {
  net: Network;
  tap: Tap;
  /** Raw socket of the network's protocol (UDP for VXLAN, GRE), or VXLAN's UDP lanes: the kernel adds the IPv4 header. */
  sender: TunnelSender;
}

const vxlanScratch = newVxlanRepr();
const ipScratch = newIpv4Repr();
const greScratch = newGreRepr();

export function monotonicSeconds(): number {
  return performance.now() / 1000;
}

export class Datapath {
  private readonly fromTapBatch: Batch;
  /** What an offloading TAP gives, before toFrames() (only with offloads). */
  private readonly fromTapRaw: Batch | undefined;
  private readonly fromTunnelBatch: Batch;
  private readonly toTunnel: SendQueue;
  private readonly attachments: Attachment[] = [];
  /** Drops that happen before a packet's network is known (bad header, unknown VNI). */
  readonly unattributed = new Counters();
  /** Called when a descriptor fails to read; it is then no longer watched (a dead TAP must not spin the loop). */
  onIoError: (what: string, errno: number) => void = () => {};
  /** Called when frames from the VTEP at `peer` (host order) were dropped for a partial inner checksum. */
  onPartialChecksum: (net: Network, peer: number) => void = () => {};

  /** Every data-path descriptor and what to do when it is readable, for busy polling. */
  private spinFds = new Int32Array(0);
  private readonly spinHandlers: (() => void)[] = [];
  private spinning = false;
  /** performance.now() after which, with no traffic, busy polling stops. */
  private quietUntil = 0;

  /** `busyPollUs`: how long to keep polling after traffic before sleeping in the event loop; 0 never. */
  constructor(slotSize: number, maxFlood: number, private readonly mirror: Mirror, offload: boolean, private readonly busyPollUs = 0) {
    this.fromTapRaw = offload ? new Batch(OFFLOAD_READ_BATCH, OFFLOAD_SLOT, 0) : undefined;
    this.fromTapBatch = new Batch(offload ? FRAMES_PER_OFFLOAD_BATCH : BATCH_SIZE, slotSize, HEADROOM);
    this.fromTunnelBatch = new Batch(offload ? FRAMES_PER_OFFLOAD_BATCH : BATCH_SIZE, slotSize, TUNNEL_HEADROOM);
    this.toTunnel = new SendQueue(this.fromTapBatch.capacity * Math.max(1, maxFlood), this.fromTapBatch.arena);
  }

  attach(a: Attachment): void {
    this.attachments.push(a);
    this.watch(a.tap, () => this.fromTap(a));
  }

  /** `dst` and `port`: the address and port `rx` is bound to (for captures). */
  attachVxlan(rx: Receiver, byVni: ReadonlyMap<number, Network>, dst: number, port: number): void {
    this.watch(rx, () => this.fromTunnel(rx, 'the VXLAN socket', (b, now) => {
      if (this.mirror.active) this.mirrorVxlan(b, byVni, dst, port);
      receiveVxlan(byVni, b, this.unattributed, now);
    }));
  }

  attachGre(rx: Receiver, byKey: ReadonlyMap<number, Network>, local: number): void {
    this.watch(rx, () => this.fromTunnel(rx, 'the GRE socket', (b, now) => {
      if (this.mirror.active) this.mirrorGre(b, byKey);
      receiveGre(byKey, b, this.unattributed, local, now);
    }));
  }

  private fromTap(a: Attachment): void {
    const b = this.fromTapBatch;
    const raw = a.tap.offload ? this.fromTapRaw! : b;
    const q = this.toTunnel;
    for (let round = 0; round < ROUNDS_PER_WAKEUP; round++) {
      const n = a.tap.read(raw);
      if (n < 0) this.ioError(`read from TAP ${a.tap.name}`, -n, a.tap);
      if (n <= 0) return;
      if (raw !== b) this.toFrames(a, raw, b);
      q.count = 0;
      if (this.mirror.active) this.mirror.tapRx(a.net, b);
      forwardFromTap(a.net, b, q, monotonicSeconds());
      if (this.mirror.active) this.mirror.tunnelTx(a.net, q);
      const sent = a.sender.send(q);
      if (sent < q.count) a.net.counters.drop(Drop.TxFailed, q.count - sent);
      if (n < raw.capacity) return;
    }
  }

  private fromTunnel(rx: Receiver, what: string, receive: (b: Batch, now: number) => void): void {
    const b = this.fromTunnelBatch;
    for (let round = 0; round < ROUNDS_PER_WAKEUP; round++) {
      const n = rx.recv(b);
      if (n < 0) this.ioError(`receive on ${what}`, -n, rx);
      if (n <= 0) return;
      receive(b, monotonicSeconds());
      this.flushToTaps();
      if (n < b.capacity) return;
    }
  }

  private flushToTaps(): void {
    for (const a of this.attachments) {
      const q = a.net.toTap;
      if (q.count === 0) continue;
      const written = a.tap.write(q);
      if (this.mirror.active) this.mirror.tapTx(a.net, q);
      const c = a.net.counters;
      let bytes = 0;
      for (let i = 0; i < q.count; i++) bytes += q.len[i]; // 0 for each frame not written
      c.v[C.TapTxFrames] += written;
      c.v[C.TapTxBytes] += bytes;
      const partial = a.tap.partialChecksums;
      const refused = partial[0];
      if (refused !== 0) {
        c.drop(Drop.PartialChecksum, refused);
        this.onPartialChecksum(a.net, q.addr[partial[1] - 1]);
        partial[0] = partial[1] = 0;
      }
      if (written + refused < q.count) c.drop(Drop.TxFailed, q.count - written - refused);
      q.count = 0;
    }
  }

  /** Watches a descriptor; with busy polling, also spins on every descriptor after handling it. */
  private watch(port: Port, handle: () => void): void {
    this.spinFds = Int32Array.from([...this.spinFds, port.fd]);
    this.spinHandlers.push(handle);
    port.watch(() => {
      handle();
      if (this.busyPollUs === 0) return;
      this.quietUntil = performance.now() + this.busyPollUs / 1000;
      if (!this.spinning) this.spin();
    });
  }

  /**
   * Polls every descriptor until none has been readable for `busyPollUs`. A
   * sleeping daemon pays a wake-up per packet (an idle vCPU is slow to wake);
   * spinning trades a core for that. Stretches last at most MAX_SPIN_US and
   * resume from setImmediate, so timers and the control socket still run.
   */
  private spin(): void {
    this.spinning = true;
    const stretchEnd = performance.now() + MAX_SPIN_US / 1000;
    for (;;) {
      const now = performance.now();
      const budgetMs = Math.min(this.quietUntil, stretchEnd) - now;
      if (budgetMs <= 0) break;
      const i = native.spinPoll(this.spinFds, Math.ceil(budgetMs * 1000));
      if (i < 0) continue;
      this.spinHandlers[i]();
      this.quietUntil = performance.now() + this.busyPollUs / 1000;
    }
    if (performance.now() < this.quietUntil) setImmediate(this.resumeSpin);
    else this.spinning = false;
  }

  private readonly resumeSpin = (): void => this.spin();

  /** Before the descriptors close: a pending stretch must not poll them. */
  stopPolling(): void {
    this.spinFds = new Int32Array(0);
    this.quietUntil = 0;
  }

  /** TSO frames into segments, partial checksums completed; what could not be done is counted. */
  private toFrames(a: Attachment, raw: Batch, b: Batch): void {
    a.tap.toFrames(raw, b);
    const s = a.tap.offloadStats;
    if (s[0] !== 0) a.net.counters.drop(Drop.Malformed, s[0]);
    if (s[1] !== 0) a.net.counters.drop(Drop.Oversize, s[1]);
    s[0] = s[1] = 0;
  }

  /** Captures need each packet's network before the switch has found it; only while one runs. */
  private mirrorVxlan(b: Batch, byVni: ReadonlyMap<number, Network>, dst: number, port: number): void {
    for (let i = 0; i < b.count; i++) {
      const off = b.start(i);
      if (parseVxlan(b.arena, off, off + Math.min(b.len[i], b.room), vxlanScratch) !== Drop.None) continue;
      const net = byVni.get(vxlanScratch.vni);
      if (net !== undefined) this.mirror.tunnelRxVxlan(net, b, i, dst, port);
    }
  }

  private mirrorGre(b: Batch, byKey: ReadonlyMap<number, Network>): void {
    for (let i = 0; i < b.count; i++) {
      const off = b.start(i);
      const end = off + Math.min(b.len[i], b.room);
      if (parseIpv4(b.arena, off, end, ipScratch) !== Drop.None) continue;
      if (parseGre(b.arena, off + ipScratch.headerLen, off + ipScratch.totalLen, greScratch) !== Drop.None) continue;
      const net = greScratch.flags & GRE_FLAG_K ? byKey.get(greScratch.key) : undefined;
      if (net !== undefined) this.mirror.tunnelRxGre(net, b, i);
    }
  }

  private ioError(what: string, errno: number, port: Port): void {
    port.unwatch();
    this.onIoError(what, errno);
  }
}
