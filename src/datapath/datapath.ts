// The packet loop: io reads a batch, the switch decides and writes headers,
// io sends. One Batch per direction and one SendQueue are shared by every
// network: handling a batch is synchronous, so they are never in use twice,
// and networks and receive sockets may come and go between batches.
//
// Control never reaches in here: a capture is a PacketObserver the data path
// offers its packets to while `active` is set, and the errors it meets are
// callbacks.
//
// One file of about 400 lines on purpose: the loop's steps (read, segment,
// forward, send, poll) share its batches and must be read together.
import { Batch, type SendQueue } from './batch.ts';
import { monotonicSeconds } from './clock.ts';
import { BusyPollGovernor } from '../io/busy-poll.ts';
import { MAX_BATCH, spinPoll } from '../io/poll.ts';
import { NATIVE_LAYOUT } from '../io/native.ts';
import type { DatagramReceiver, TunnelSender, Watchable } from '../io/port.ts';
import type { FrameDevice } from '../io/tap.ts';
import { NetworkCounter as N, Counters } from '../switch/counters.ts';
import { Drop } from '../switch/drop.ts';
import { deliverBatch, demuxBatch, forwardFromTap, settleSend } from '../switch/forward.ts';
import { Forwarding } from '../switch/verdict.ts';
import type { Network } from '../switch/network.ts';
import { MAX_HEADER_LEN } from '../tunnel/index.ts';
import { Resolved, type Demux } from '../tunnel/tunnel.ts';

/** Frames per native call: 64 is enough (256 adds little, measured). */
const BATCH_SIZE = 64;
/**
 * Frames per read from an offloading TAP: as many small frames as a plain
 * batch, and TSO frames (~47 segments each) only while their segments fit
 * FRAMES_PER_OFFLOAD_BATCH (the read counts them: readFrames' segment budget).
 */
const OFFLOAD_READ_BATCH = 64;
/** Frames of one batch with offloads: TSO frames cut up, or UDP GRO reads cut apart (16 reads of up to 64). */
const FRAMES_PER_OFFLOAD_BATCH = 1024;
/** What the native read keeps free of the budget for the next TSO frame. */
const SEGMENT_RESERVE = NATIVE_LAYOUT.segmentReserve;
/** A TSO frame: up to 64 KB of IP packet, an Ethernet header and the virtio_net_hdr. */
const OFFLOAD_SLOT = 65536 + 128;
/** Room in front of a received datagram, for the virtio_net_hdr written before the inner frame. */
const TUNNEL_HEADROOM = 16;
/** Longest busy-polling stretch before the event loop gets its turn (timers, control socket). */
const MAX_SPIN_US = 2000;
/** Batches handled per wakeup before yielding to the event loop (the watcher is level-triggered). */
const ROUNDS_PER_WAKEUP = 16;
/** Room in front of each frame read from a TAP, for the largest tunnel header, rounded to 8 bytes. */
export const HEADROOM = Math.ceil(MAX_HEADER_LEN / 8) * 8;

/** What the data path offers its packets to (a capture); called only while `active`. */
export interface PacketObserver {
  readonly active: boolean;
  /** Frames read from a network's TAP (after segmentation). */
  tapRx(net: Network, b: Batch): void;
  /** Frames written to a network's TAP; len is 0 for each the TAP did not take. */
  tapTx(net: Network, q: SendQueue): void;
  /** Tunnel packets queued for the network's sender (tunnel header onwards). */
  tunnelTx(net: Network, q: SendQueue): void;
  /** Packets of `b` as they arrived at `at`, each resolved to its network (or to none: not offered). */
  tunnelRx(b: Batch, resolved: Resolved<Network>, at: ReceivePoint): void;
}

/** A network's two sides. */
export interface Attachment {
  net: Network;
  /** Its TAP; replaced if the TAP was deleted and has been created again. */
  device: FrameDevice;
  /** Raw socket of the network's protocol, or VXLAN's UDP lanes: the kernel adds the IP header. */
  sender: TunnelSender;
}

/** A receive socket and the demux that finds each packet's network. */
export interface ReceivePoint {
  rx: DatagramReceiver;
  demux: Demux<Network>;
  /** The address (16 bytes) and port the socket is bound to: the packets' destination. */
  local: Uint8Array;
  port: number;
  /** For messages: "the VXLAN socket on port 4789". */
  name: string;
}

export interface DatapathOptions {
  slotSize: number;
  offload: boolean;
  /** How long to keep polling after traffic before sleeping in the event loop; 0 never. */
  busyPollUs: number;
  observer: PacketObserver;
}

export { monotonicSeconds };

interface Watched {
  port: Watchable;
  handle: () => void;
  /** What the port's watcher calls: handle(), then busy polling. */
  onReadable: () => void;
}

export class Datapath {
  private fromTapBatch!: Batch;
  /** What an offloading TAP gives, before toFrames() (only with offloads). */
  private readonly fromTapRaw: Batch | undefined;
  private fromTunnelBatch!: Batch;
  private readonly attachments: Attachment[] = [];
  /** Each network's attachment, to send what a batch queued for it. */
  private readonly byNet = new Map<Network, Attachment>();
  /** One batch's decisions: verdicts, and the networks whose queues got frames. */
  private readonly forwarding: Forwarding;
  /** Where frames the switch makes itself are written (originate). */
  private originBatch: Batch | undefined;
  private readonly receivePoints: ReceivePoint[] = [];
  private readonly resolved: Resolved<Network>;
  private readonly observer: PacketObserver;
  /** How long to keep polling after traffic before sleeping; 0 never (a reload may change it). */
  busyPollUs: number;
  private readonly batchCapacity: number;
  /** Drops that happen before a packet's network is known (bad header, unknown VNI). */
  readonly unattributed = new Counters();
  /** Called when a descriptor fails to read; it is then no longer watched (a dead TAP must not spin the loop). */
  onIoError: (what: string, errno: number, port: Watchable) => void = () => {};
  /** Called when frames from remote `remote` of `net` were dropped for a partial inner checksum. */
  onPartialChecksum: (net: Network, remote: number) => void = () => {};

  private readonly watched: Watched[] = [];
  /** Every data-path descriptor, for busy polling; parallel to `watched`. */
  private spinFds = new Int32Array(0);
  private spinning = false;
  /** Whether spinning pays now: it pauses polling while the core is wanted elsewhere or nothing is caught. */
  readonly governor = new BusyPollGovernor();
  /** performance.now() after which, with no traffic, busy polling stops. */
  private quietUntil = 0;

  constructor(o: DatapathOptions) {
    this.observer = o.observer;
    this.busyPollUs = o.busyPollUs;
    this.batchCapacity = o.offload ? FRAMES_PER_OFFLOAD_BATCH : BATCH_SIZE;
    if (this.batchCapacity > MAX_BATCH)
      throw new Error(`a batch of ${this.batchCapacity} is more than the addon's ${MAX_BATCH}`);
    this.fromTapRaw = o.offload ? new Batch(OFFLOAD_READ_BATCH, OFFLOAD_SLOT, 0) : undefined;
    this.resolved = new Resolved(this.batchCapacity);
    this.forwarding = new Forwarding(this.batchCapacity);
    this.allocate(o.slotSize);
  }

  /** Frames a network's TAP queue must hold: a whole batch from a tunnel. */
  get framesPerBatch(): number {
    return this.batchCapacity;
  }

  get slotSize(): number {
    return this.fromTapBatch.slotSize;
  }

  /** Makes every slot hold at least `slotSize` bytes (a network with a larger MTU came); between batches only. */
  ensureSlotSize(slotSize: number): void {
    if (slotSize > this.fromTapBatch.slotSize) this.allocate(slotSize);
  }

  private allocate(slotSize: number): void {
    this.fromTapBatch = new Batch(this.batchCapacity, slotSize, HEADROOM);
    this.fromTunnelBatch = new Batch(this.batchCapacity, slotSize, TUNNEL_HEADROOM);
  }

  attach(a: Attachment): void {
    this.attachments.push(a);
    this.byNet.set(a.net, a);
    this.watch(a.device, () => this.fromTap(a));
  }

  /**
   * Gives a network a new TAP (its old one was deleted under it); until then
   * what is written to the old one fails and is counted as tx-failed.
   */
  replaceDevice(net: Network, device: FrameDevice): void {
    const a = this.attachments.find((x) => x.net === net);
    if (a === undefined) return;
    if (this.watched.some((w) => w.port === a.device)) this.unwatch(a.device);
    a.device = device;
    this.watch(device, () => this.fromTap(a));
  }

  /** Stops reading the network's TAP; its descriptors stay open for the caller to close. */
  detach(net: Network): void {
    const i = this.attachments.findIndex((a) => a.net === net);
    if (i < 0) return;
    this.unwatch(this.attachments[i].device);
    this.attachments.splice(i, 1);
    this.byNet.delete(net);
  }

  attachReceiver(p: ReceivePoint): void {
    this.receivePoints.push(p);
    this.watch(p.rx, () => this.fromTunnel(p));
  }

  detachReceiver(rx: DatagramReceiver): void {
    const i = this.receivePoints.findIndex((p) => p.rx === rx);
    if (i < 0) return;
    this.unwatch(rx);
    this.receivePoints.splice(i, 1);
  }

  /** Writes what the switch queued for a network's TAP (decapsulated frames, the responder's answers). */
  private flushToTap(a: Attachment): void {
    const q = a.net.toTap;
    if (q.count === 0) return;
    const written = a.device.write(q);
    if (this.observer.active) this.observer.tapTx(a.net, q);
    const c = a.net.counters;
    let bytes = 0;
    for (let i = 0; i < q.count; i++) bytes += q.len[i]; // 0 for each frame not written
    c.v[N.TapTxFrames] += written;
    c.v[N.TapTxBytes] += bytes;
    const partial = a.device.partialChecksums;
    const refused = partial.refused;
    if (refused !== 0) {
      c.drop(Drop.PartialChecksum, refused);
      this.onPartialChecksum(a.net, q.dst[partial.last]);
      partial.clear();
    }
    if (written + refused < q.count) c.drop(Drop.TxFailed, q.count - written - refused);
    q.count = 0;
  }

  private fromTap(a: Attachment): void {
    const b = this.fromTapBatch;
    const raw = a.device.vnetHdr ? this.fromTapRaw! : b;
    for (let round = 0; round < ROUNDS_PER_WAKEUP; round++) {
      const n = raw === b ? a.device.read(b) : a.device.read(raw, FRAMES_PER_OFFLOAD_BATCH);
      if (n < 0) this.ioError(`read from TAP ${a.device.name}`, -n, a.device);
      if (n <= 0) return;
      if (raw !== b) this.toFrames(a, raw, b);
      // A read that stopped short found the TAP empty, unless the segment budget stopped it.
      const full = n === raw.capacity || (raw !== b && b.count + SEGMENT_RESERVE > FRAMES_PER_OFFLOAD_BATCH);
      this.forwardFrames(a, b);
      if (!full) return;
    }
  }

  /**
   * Frames the switch makes itself, decided and sent as a batch of their own:
   * `make` writes up to b.capacity frames into `b`'s slots and decides each
   * (a router's requests, the packets that waited for them), then what it
   * queued is sent. Between batches only (from a timer, or setImmediate).
   */
  originate(make: (f: Forwarding, b: Batch) => void): void {
    let b = this.originBatch;
    if (b === undefined || b.slotSize < this.fromTapBatch.slotSize)
      b = this.originBatch = new Batch(BATCH_SIZE, this.fromTapBatch.slotSize, HEADROOM);
    b.count = 0;
    const f = this.forwarding;
    f.begin(monotonicSeconds(), b.capacity);
    make(f, b);
    this.sendPending();
  }

  /**
   * Frames as if the network's TAP had given them: what the daemon says for
   * the host behind it (announcements of its addresses). Between batches only.
   */
  injectFromTap(net: Network, frames: readonly Buffer[]): void {
    const a = this.attachments.find((x) => x.net === net);
    if (a === undefined) return;
    const b = this.fromTapBatch;
    b.count = 0;
    for (const f of frames) {
      if (b.count === b.capacity || f.length >= b.room) break;
      f.copy(b.arena, b.start(b.count));
      b.len[b.count++] = f.length;
    }
    this.forwardFrames(a, b);
  }

  private forwardFrames(a: Attachment, b: Batch): void {
    const f = this.forwarding;
    f.begin(monotonicSeconds(), b.count);
    if (this.observer.active) this.observer.tapRx(a.net, b);
    forwardFromTap(a.net, b, f);
    this.sendPending();
  }

  /**
   * Sends what the batch queued, network by network: its tunnel packets on
   * its sender, its frames to its TAP; then the table changes the batch asked
   * for (Network.settle).
   */
  private sendPending(): void {
    const f = this.forwarding;
    for (const net of f.pending) {
      const a = this.byNet.get(net);
      const q = net.toTunnel;
      if (q.count > 0) {
        if (this.observer.active) this.observer.tunnelTx(net, q);
        if (a === undefined) q.unsent.fill(1, 0, q.count);
        settleSend(net, a === undefined ? 0 : a.sender.send(q, net.remotes.bytes));
        q.count = 0;
      }
      if (a !== undefined) this.flushToTap(a);
      else net.toTap.count = 0;
      net.settle();
    }
    f.end();
  }

  private fromTunnel(p: ReceivePoint): void {
    const b = this.fromTunnelBatch;
    const r = this.resolved;
    for (let round = 0; round < ROUNDS_PER_WAKEUP; round++) {
      const n = p.rx.recv(b);
      if (n < 0) this.ioError(`receive on ${p.name}`, -n, p.rx);
      if (n <= 0) return;
      const f = this.forwarding;
      f.begin(monotonicSeconds(), b.count);
      demuxBatch(b, p.demux, r, this.unattributed);
      if (this.observer.active) this.observer.tunnelRx(b, r, p);
      deliverBatch(b, r, f);
      this.sendPending();
      if (n < b.capacity) return;
    }
  }

  /** TSO frames into segments, partial checksums completed; what could not be done is counted. */
  private toFrames(a: Attachment, raw: Batch, b: Batch): void {
    a.device.toFrames(raw, b);
    const s = a.device.segmentDrops;
    if (s.malformed !== 0) a.net.counters.drop(Drop.Malformed, s.malformed);
    if (s.overflow !== 0) a.net.counters.drop(Drop.Oversize, s.overflow);
    s.clear();
  }

  /** Watches a descriptor; with busy polling, also spins on every descriptor after handling it. */
  private watch(port: Watchable, handle: () => void): void {
    const onReadable = (): void => {
      handle();
      if (this.busyPollUs === 0) return;
      const now = performance.now();
      this.quietUntil = now + this.busyPollUs / 1000;
      if (this.spinning || !this.governor.allowed(now)) return;
      this.governor.begin(now);
      this.spin();
    };
    this.watched.push({ port, handle, onReadable });
    if (!this.paused) {
      this.spinFds = Int32Array.from(this.watched, (w) => w.port.fd);
      port.watch(onReadable);
    }
  }

  private paused = false;

  /**
   * Stops reading every descriptor, which keep what arrives queued (a
   * successor takes them over); resume() reads them again.
   */
  pause(): void {
    this.paused = true;
    for (const w of this.watched) w.port.unwatch();
    this.spinFds = new Int32Array(0);
    this.quietUntil = 0;
  }

  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    for (const w of this.watched) w.port.watch(w.onReadable);
    this.spinFds = Int32Array.from(this.watched, (w) => w.port.fd);
  }

  private unwatch(port: Watchable): void {
    port.unwatch();
    const i = this.watched.findIndex((w) => w.port === port);
    if (i >= 0) this.watched.splice(i, 1);
    if (!this.paused) this.spinFds = Int32Array.from(this.watched, (w) => w.port.fd);
  }

  /**
   * Polls every descriptor until none has been readable for `busyPollUs`. A
   * sleeping daemon pays a wake-up per packet (an idle vCPU is slow to wake);
   * spinning trades a core for that, while the governor says it pays (no one
   * else waits for the core, packets are caught). Stretches last at most
   * MAX_SPIN_US and resume from setImmediate, so timers and the control socket still run.
   */
  private spin(): void {
    this.spinning = true;
    const stretchEnd = performance.now() + MAX_SPIN_US / 1000;
    for (;;) {
      const now = performance.now();
      const budgetMs = Math.min(this.quietUntil, stretchEnd) - now;
      if (budgetMs <= 0) break;
      const i = spinPoll(this.spinFds, Math.ceil(budgetMs * 1000));
      if (i < 0) continue;
      this.governor.caughtOne();
      this.watched[i].handle();
      this.quietUntil = performance.now() + this.busyPollUs / 1000;
    }
    const now = performance.now();
    if (now < this.quietUntil) {
      setImmediate(this.resumeSpin);
      return;
    }
    this.spinning = false;
    this.governor.end(now);
  }

  private readonly resumeSpin = (): void => this.spin();

  /** Before the descriptors close: a pending stretch must not poll them. */
  stopPolling(): void {
    this.spinFds = new Int32Array(0);
    this.watched.length = 0;
    this.quietUntil = 0;
    this.governor.close();
  }

  private ioError(what: string, errno: number, port: Watchable): void {
    this.unwatch(port);
    this.onIoError(what, errno, port);
  }
}
