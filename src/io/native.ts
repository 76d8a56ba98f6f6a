// The TypeScript face of src/native (built by `npm install`). Addresses are
// 16-byte Uint8Arrays (IPv4 as ::ffff:a.b.c.d); arenas and their per-slot
// arrays are those of src/datapath/batch.ts.
import { createRequire } from 'node:module';

export interface Watcher {
  start(): void;
  stop(): void;
  close(): void;
}

export interface NativeAddon {
  tapOpen(name: string, offload: boolean): { fd: number; name: string; offload: boolean };
  udpOpen(local: Uint8Array, port: number, rcvbuf: number): number;
  groupOpen(group: Uint8Array, port: number, ifindex: number, rcvbuf: number): number;
  rawOpen(protocol: number, local: Uint8Array, ttl: number, df: boolean, receive: boolean, sndbuf: number): number;
  /** A raw ICMP (ICMPv6) socket bound to `local` that receives "too big" errors only, whole. */
  icmpErrorsOpen(local: Uint8Array, rcvbuf: number): number;
  udpSenderOpen(local: Uint8Array, port: number, ttl: number, df: boolean, sndbuf: number): number;
  setMulticast(fd: number, ifindex: number, ttl: number, loop: boolean): void;
  setSenderOptions(fd: number, ttl: number, df: boolean): void;
  udpGroEnable(fd: number): boolean;
  close(fd: number): number;
  ethtoolInfo(ifname: string): { driver: string | null; txChecksum: boolean | null };
  lockOpen(name: string): number;
  channelOpen(): [number, number];
  unixListen(path: string): number;
  packetOpen(ifname: string): number;
  rawHdrinclOpen(protocol: number, sndbuf: number): number;
  dropPrivileges(uid: number, gid: number, groups: number[]): void;
  sdNotify(path: string, state: string): void;
  peerCredentials(fd: number): { pid: number; uid: number; gid: number };
  sendMessage(fd: number, data: Buffer, fds: Int32Array | undefined, timeoutMs: number): number;
  recvMessage(fd: number, cap: number, timeoutMs: number): { data: Buffer; fds: number[] } | number;
  readFrames(
    fd: number,
    arena: Buffer,
    slotSize: number,
    headroom: number,
    len: Uint32Array,
    max: number,
    segmentBudget?: number,
  ): number;
  writeFrames(
    fd: number,
    arena: Buffer,
    off: Uint32Array,
    len: Uint32Array,
    n: number,
    vnetHdrLen: number,
    coalesce: boolean,
    partial: Uint32Array | undefined,
  ): number;
  tapFrames(
    input: Buffer,
    inSlot: number,
    inHeadroom: number,
    inLen: Uint32Array,
    n: number,
    out: Buffer,
    outSlot: number,
    outHeadroom: number,
    outLen: Uint32Array,
    outMax: number,
    stats: Uint32Array,
  ): number;
  recvDatagrams(
    fd: number,
    arena: Buffer,
    slotSize: number,
    headroom: number,
    len: Uint32Array,
    max: number,
    peer: Uint8Array,
    port: Uint16Array,
    ttl: Uint8Array,
    tos: Uint8Array,
    gro: boolean,
  ): number;
  /**
   * `df`: 0 none, 1 DF, 2 per packet from `outer` (DfCode); an entry with OUTER_FRAGMENTABLE goes fragmentable
   * whatever it says.
   */
  sendDatagrams(
    fd: number,
    arena: Buffer,
    off: Uint32Array,
    len: Uint32Array,
    n: number,
    dst: Uint32Array,
    table: Uint8Array,
    port: number,
    tos: Uint8Array,
    outer: Uint32Array,
    df: DfCode,
    unsent?: Uint8Array,
  ): number;
  sendLanes(
    fds: Int32Array,
    arena: Buffer,
    off: Uint32Array,
    len: Uint32Array,
    n: number,
    dst: Uint32Array,
    table: Uint8Array,
    port: number,
    tos: Uint8Array,
    lane: Uint8Array,
    outer: Uint32Array,
    df: DfCode,
    unsent?: Uint8Array,
  ): number;
  /** Path MTU reports from a sender's error queue: destination i at dst[16i], its MTU in mtu[i]; returns how many. */
  readPathMtu(fd: number, dst: Uint8Array, mtu: Uint32Array): number;
  acceptZeroChecksum6(fd: number, on: boolean): void;
  /**
   * Sends on `packetFd` with Ethernet and IP headers written from `hop` where state says so, on `rawFd`
   * otherwise (src/native/packet_io.h).
   */
  sendTunnelPackets(
    packetFd: number,
    rawFd: number,
    protocol: number,
    arena: Buffer,
    off: Uint32Array,
    len: Uint32Array,
    n: number,
    dst: Uint32Array,
    table: Uint8Array,
    port: number,
    tos: Uint8Array,
    outer: Uint32Array,
    df: DfCode,
    hop: Uint8Array,
    state: Uint8Array,
    stats: Uint32Array,
    local: Uint8Array,
    ttl: number,
    unsent?: Uint8Array,
  ): number;
  packetSocketOpen(sndbuf: number): number;
  routeWatchOpen(): number;
  routeWatchDrain(fd: number): number;
  nextHop(dst: Uint8Array, local: Uint8Array): NativeNextHop;
  spinPoll(fds: Int32Array, usec: number): number;
  vnetHdrLen: number;
  maxBatch: number;
  layout: NativeLayout;
  Watcher: new (fd: number, onReadable: () => void) => Watcher;
}

/** The layouts and constants shared with the addon, as it defines them (binding.cc, Layout()). */
export interface NativeLayout {
  /** The virtio_net_hdr before each frame of an offloading TAP. */
  vnetHdrLen: number;
  /** Messages per sendmmsg/recvmmsg at most. */
  maxBatch: number;
  /** Segments a TAP read keeps free of its budget for the next TSO frame. */
  segmentReserve: number;
  /** SendQueue.outer: the IPv6 flow label's bits; DF with df inherit; fragmentable whatever the network's DF. */
  outerLabelMask: number;
  outerDf: number;
  outerFragmentable: number;
  /** A destination's next hop record for the packet socket: its length and field offsets (packet_io.h). */
  hopLen: number;
  hopIfindex: number;
  hopMtu: number;
  hopAddress: number;
  /** HopState values: what to do with a destination's packets. */
  hopUnknown: number;
  hopReady: number;
  hopNudge: number;
  hopWanted: number;
  hopRaw: number;
  /** HopStat slots of the sender's counters. */
  statPacket: number;
  statRaw: number;
  statWanted: number;
  statCount: number;
}

/** A network's DF as the send calls take it: 0 none, 1 on every packet, 2 per packet (df inherit). */
export type DfCode = 0 | 1 | 2;

/**
 * What the kernel's tables say of a destination (`ip route get` and `ip neigh get`); `problem` when a packet
 * socket cannot reach it.
 */
export interface NativeNextHop {
  problem?: string;
  ifindex: number;
  mtu: number;
  srcMac: Buffer;
  dstMac: Buffer;
  /** NUD_* of the neighbour entry. */
  neighState: number;
  /** The neighbour's address (16 bytes): the gateway, or the destination. */
  via: Buffer;
}

/**
 * The addon `npm ci` built, or the one VTEPD_NATIVE names (`npm run fuzz --
 * --asan` runs the daemon on one built with AddressSanitizer).
 */
function load(): NativeAddon {
  const require = createRequire(import.meta.url);
  try {
    return require(process.env.VTEPD_NATIVE ?? '../../build/Release/vtep_native.node') as NativeAddon;
  } catch (e) {
    throw new Error(
      `the native addon is not built (${(e as Error).message.split('\n')[0]}): run \`npm ci\` or \`npm run ` +
        `build:native\``,
    );
  }
}

export const native: NativeAddon = load();
export const NATIVE_LAYOUT: Readonly<NativeLayout> = native.layout;

/** An Error from the addon carries the errno name in `code`. */
export function errnoCode(e: unknown): string | undefined {
  return (e as { code?: string } | null)?.code;
}
