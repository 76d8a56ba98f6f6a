// GRE on a packet socket (`gre-socket: packet`): vtepd writes the Ethernet
// and IP headers itself, and each packet goes straight to the interface, past
// the kernel's IP output. The raw socket stays, for what the packet socket
// cannot carry: a destination whose next hop is not known yet (the raw send
// makes the kernel resolve it, and the route watch then tells us), one behind
// a non-Ethernet interface, a packet without DF larger than the link (only
// the kernel fragments). ICMP errors about either kind of packet reach the
// raw socket's error queue, so path MTU discovery works the same.
import type { SendQueue } from '../datapath/batch.ts';
import { native, type DfCode } from './native.ts';
import type { NextHops } from './next-hops.ts';
import { dfCode, RawSender, type DfMode, type SocketStats, type TunnelSender } from './port.ts';

// The layout src/native/packet_io.h reads: per destination index, a hop record and a state.
const HOP_LEN = 36;
const HOP_IFINDEX = 12;
const HOP_MTU = 16;
const HOP_ADDRESS = 20;
const enum Hop {
  Unknown = 0,
  Ready = 1,
  Nudge = 2,
  Wanted = 3,
  Raw = 4,
}
const enum Stat {
  Packet = 0,
  Raw = 1,
  Wanted = 2,
}
const NUD_STALE = 0x04;
/** Native counts in 32 bits: folded into numbers well before they wrap. */
const FOLD_AT = 2 ** 31;

const SOCKET_BUFFER = 4 * 1024 * 1024;

export class PacketSender implements TunnelSender {
  readonly lanePorts: readonly number[] = [];
  private hop = new Uint8Array(16 * HOP_LEN);
  private hopView = new DataView(this.hop.buffer);
  private state = new Uint8Array(16);
  private readonly stats = new Uint32Array(3);
  /** Totals of earlier stats words (they are 32-bit in native code). */
  private packetTx = 0;
  private rawTx = 0;
  private table: Uint8Array = new Uint8Array(0);
  private lookupQueued = false;
  private dfCode: DfCode;
  private readonly unsubscribe: () => void;

  private constructor(
    private readonly raw: RawSender,
    private readonly packetFd: number,
    private readonly protocol: number,
    private readonly local: Uint8Array,
    private ttl: number,
    df: DfMode,
    private readonly hops: NextHops,
  ) {
    this.dfCode = dfCode(df);
    this.unsubscribe = hops.subscribe(() => this.lookUp(true));
  }

  static open(protocol: number, local: Uint8Array, ttl: number, df: DfMode, hops: NextHops): PacketSender {
    const raw = RawSender.open(protocol, local, ttl, df);
    let fd = -1;
    try {
      fd = native.packetSocketOpen(SOCKET_BUFFER);
      return new PacketSender(raw, fd, protocol, local, ttl, df, hops);
    } catch (e) {
      if (fd >= 0) native.close(fd);
      raw.close();
      throw e;
    }
  }

  send(q: SendQueue, table: Uint8Array): number {
    if (q.count === 0) return 0;
    this.table = table;
    if (table.length / 16 > this.state.length) this.grow(table.length / 16);
    const sent = native.sendTunnelPackets(
      this.packetFd,
      this.raw.fd,
      this.protocol,
      q.arena,
      q.off,
      q.len,
      q.count,
      q.dst,
      table,
      0,
      q.tos,
      q.outer,
      this.dfCode,
      this.hop,
      this.state,
      this.stats,
      this.local,
      this.ttl,
    );
    if (this.stats[Stat.Packet] > FOLD_AT || this.stats[Stat.Raw] > FOLD_AT) this.foldStats();
    if (this.stats[Stat.Wanted] !== 0 && !this.lookupQueued) {
      this.lookupQueued = true;
      setImmediate(() => this.lookUp(false));
    }
    return sent;
  }

  /**
   * Looks up the next hops of destinations that asked (or of all known ones,
   * after the kernel's tables changed). A stale neighbour entry is used, as
   * the kernel uses it, but its next packet goes by the raw socket: the
   * kernel then confirms the entry (or finds the new MAC), and says so.
   */
  private lookUp(all: boolean): void {
    this.lookupQueued = false;
    this.stats[Stat.Wanted] = 0;
    const count = Math.min(this.state.length, this.table.length / 16);
    for (let d = 0; d < count; d++) {
      const s = this.state[d];
      if (s === Hop.Unknown || (!all && s !== Hop.Wanted)) continue;
      const address = this.table.subarray(d * 16, d * 16 + 16);
      if (address.every((b) => b === 0)) {
        this.state[d] = Hop.Unknown; // a free index
        continue;
      }
      const h = this.hops.lookup(address);
      if (h.problem !== undefined) {
        this.state[d] = Hop.Raw;
        continue;
      }
      const at = d * HOP_LEN;
      this.hop.set(h.dstMac, at);
      this.hop.set(h.srcMac, at + 6);
      this.hopView.setUint32(at + HOP_IFINDEX, h.ifindex, true);
      this.hopView.setUint32(at + HOP_MTU, h.mtu, true);
      this.hop.set(address, at + HOP_ADDRESS);
      this.state[d] = h.neighState & NUD_STALE ? Hop.Nudge : Hop.Ready;
    }
  }

  private grow(n: number): void {
    const cap = Math.max(n, this.state.length * 2);
    const hop = new Uint8Array(cap * HOP_LEN);
    hop.set(this.hop);
    const state = new Uint8Array(cap);
    state.set(this.state);
    this.hop = hop;
    this.hopView = new DataView(hop.buffer);
    this.state = state;
  }

  private foldStats(): void {
    this.packetTx += this.stats[Stat.Packet];
    this.rawTx += this.stats[Stat.Raw];
    this.stats[Stat.Packet] = this.stats[Stat.Raw] = 0;
  }

  socketStats(): SocketStats {
    this.foldStats();
    let ready = 0;
    let raw = 0;
    for (const s of this.state) {
      if (s === Hop.Ready || s === Hop.Nudge) ready++;
      else if (s !== Hop.Unknown) raw++;
    }
    return {
      mode: 'packet',
      'packet-tx': this.packetTx,
      'raw-tx': this.rawTx,
      'remotes-packet': ready,
      'remotes-raw': raw,
    };
  }

  multicast(ifindex: number, ttl: number): void {
    this.raw.multicast(ifindex, ttl);
  }

  configure(ttl: number, df: DfMode): void {
    this.raw.configure(ttl, df);
    this.ttl = ttl;
    this.dfCode = dfCode(df);
  }

  drainErrors(): void {
    this.raw.drainErrors();
  }

  close(): void {
    this.unsubscribe();
    native.close(this.packetFd);
    this.raw.close();
  }
}
