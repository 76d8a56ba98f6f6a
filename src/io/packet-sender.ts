// GRE on a packet socket (`gre-socket: packet`): vtepd writes the Ethernet
// and IP headers itself, and each packet goes straight to the interface, past
// the kernel's IP output. The raw socket stays, for what the packet socket
// cannot carry: a destination whose next hop is not known yet (the raw send
// makes the kernel resolve it, and the route watch then tells us), one behind
// a non-Ethernet interface, a packet without DF larger than the link (only
// the kernel fragments). ICMP errors about either kind of packet reach the
// raw socket's error queue, so path MTU discovery works the same.
import type { SendQueue } from '../datapath/batch.ts';
import { sendTunnelPackets, type Destinations, type PacketPath } from './batch-io.ts';
import { native, NATIVE_LAYOUT as L } from './native.ts';
import type { NextHops } from './next-hops.ts';
import { dfCode, RawSender, type DfMode, type SocketStats, type TunnelSender } from './port.ts';

// The layout src/native/packet_io.h reads (per destination index, a hop record and a state), as the addon says.
const NUD_STALE = 0x04;
/** Native counts in 32 bits: folded into numbers well before they wrap. */
const FOLD_AT = 2 ** 31;

const SOCKET_BUFFER = 4 * 1024 * 1024;

export class PacketSender implements TunnelSender {
  readonly lanePorts: readonly number[] = [];
  /** What the native send reads: the sockets, the hop records and states, the counters. */
  private readonly path: PacketPath;
  private hopView: DataView;
  private readonly to: Destinations;
  /** Totals of earlier stats words (they are 32-bit in native code). */
  private packetTx = 0;
  private rawTx = 0;
  private table: Uint8Array = new Uint8Array(0);
  private lookupQueued = false;
  private readonly unsubscribe: () => void;

  private constructor(
    private readonly raw: RawSender,
    packetFd: number,
    protocol: number,
    local: Uint8Array,
    ttl: number,
    df: DfMode,
    private readonly hops: NextHops,
  ) {
    const hop = new Uint8Array(16 * L.hopLen);
    this.path = {
      packetFd,
      rawFd: raw.fd,
      protocol,
      hop,
      state: new Uint8Array(16),
      stats: new Uint32Array(L.statCount),
      local,
      ttl,
    };
    this.hopView = new DataView(hop.buffer);
    this.to = { table: this.table, port: 0, df: dfCode(df) };
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
    this.table = this.to.table = table;
    if (table.length / 16 > this.path.state.length) this.grow(table.length / 16);
    const sent = sendTunnelPackets(q, this.to, this.path);
    const stats = this.path.stats;
    if (stats[L.statPacket] > FOLD_AT || stats[L.statRaw] > FOLD_AT) this.foldStats();
    if (stats[L.statWanted] !== 0 && !this.lookupQueued) {
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
    const { hop, state, stats } = this.path;
    stats[L.statWanted] = 0;
    const count = Math.min(state.length, this.table.length / 16);
    for (let d = 0; d < count; d++) {
      const s = state[d];
      if (s === L.hopUnknown || (!all && s !== L.hopWanted)) continue;
      const address = this.table.subarray(d * 16, d * 16 + 16);
      if (address.every((b) => b === 0)) {
        state[d] = L.hopUnknown; // a free index
        continue;
      }
      const h = this.hops.lookup(address);
      if (h.problem !== undefined) {
        state[d] = L.hopRaw;
        continue;
      }
      const at = d * L.hopLen;
      hop.set(h.dstMac, at);
      hop.set(h.srcMac, at + 6);
      this.hopView.setUint32(at + L.hopIfindex, h.ifindex, true);
      this.hopView.setUint32(at + L.hopMtu, h.mtu, true);
      hop.set(address, at + L.hopAddress);
      state[d] = h.neighState & NUD_STALE ? L.hopNudge : L.hopReady;
    }
  }

  private grow(n: number): void {
    const cap = Math.max(n, this.path.state.length * 2);
    const hop = new Uint8Array(cap * L.hopLen);
    hop.set(this.path.hop);
    const state = new Uint8Array(cap);
    state.set(this.path.state);
    this.path.hop = hop;
    this.hopView = new DataView(hop.buffer);
    this.path.state = state;
  }

  private foldStats(): void {
    const stats = this.path.stats;
    this.packetTx += stats[L.statPacket];
    this.rawTx += stats[L.statRaw];
    stats[L.statPacket] = stats[L.statRaw] = 0;
  }

  socketStats(): SocketStats {
    this.foldStats();
    let ready = 0;
    let raw = 0;
    for (const s of this.path.state) {
      if (s === L.hopReady || s === L.hopNudge) ready++;
      else if (s !== L.hopUnknown) raw++;
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
    this.path.ttl = ttl;
    this.to.df = dfCode(df);
  }

  drainErrors(): void {
    this.raw.drainErrors();
  }

  close(): void {
    this.unsubscribe();
    native.close(this.path.packetFd);
    this.raw.close();
  }
}
