// The data path's native calls, each taking the batch or queue it works on
// (src/datapath/batch.ts) and an options object: the one place that spells
// out how a Batch's or SendQueue's arrays map to the addon's arguments, in
// the order src/native/binding.cc reads them. The addon takes positional
// arguments because reading named properties of an object costs about 400 ns
// a call there (measured: 350 ns positional, 760 ns from an object), paid per
// batch; here the spelling-out is free (inlined).
import type { Batch, SendQueue } from '../datapath/batch.ts';
import { native, type DfCode } from './native.ts';

/** Where a queue's packets go: its `dst` indices name addresses (16 bytes each) of `table`. */
export interface Destinations {
  table: Uint8Array;
  /** UDP destination port; 0 when the socket writes none (a raw socket writes the UDP header itself). */
  port: number;
  df: DfCode;
}

/** Reads frames from a TAP into `b` (up to `max`); with a virtio_net_hdr, `segmentBudget` bounds their segments. */
export function readFrames(fd: number, b: Batch, segmentBudget?: number, max = b.capacity): number {
  return native.readFrames(fd, b.arena, b.slotSize, b.headroom, b.len, max, segmentBudget);
}

/** Writes every queued frame to a TAP; `vnetHdrLen` > 0: each carries a virtio_net_hdr (and may be coalesced). */
export function writeFrames(
  fd: number,
  q: SendQueue,
  o: { vnetHdrLen: number; coalesce: boolean; partial?: Uint32Array },
): number {
  return native.writeFrames(fd, q.arena, q.off, q.len, q.count, o.vnetHdrLen, o.coalesce, o.partial);
}

/** Segments the TSO frames of `raw` and completes partial checksums into `out`; `stats` adds [malformed, overflow]. */
export function tapFrames(raw: Batch, out: Batch, stats: Uint32Array, outMax = out.capacity): number {
  return native.tapFrames(
    raw.arena,
    raw.slotSize,
    raw.headroom,
    raw.len,
    raw.count,
    out.arena,
    out.slotSize,
    out.headroom,
    out.len,
    outMax,
    stats,
  );
}

/** Receives datagrams into `b` with their senders, ports, TTL and TOS; `gro`: cut merged ones apart. */
export function recvDatagrams(fd: number, b: Batch, gro: boolean): number {
  return native.recvDatagrams(
    fd,
    b.arena,
    b.slotSize,
    b.headroom,
    b.len,
    b.capacity,
    b.peer,
    b.port,
    b.ttl,
    b.tos,
    gro,
  );
}

/** Sends the queue's packets on one UDP or raw socket. */
export function sendDatagrams(fd: number, q: SendQueue, to: Destinations): number {
  const { arena, off, len, count, dst, tos, outer, unsent } = q;
  return native.sendDatagrams(fd, arena, off, len, count, dst, to.table, to.port, tos, outer, to.df, unsent);
}

/** Sends the queue's packets on the lane sockets `fds`, each out of the one its `lane` names. */
export function sendLanes(fds: Int32Array, q: SendQueue, to: Destinations): number {
  return native.sendLanes(
    fds,
    q.arena,
    q.off,
    q.len,
    q.count,
    q.dst,
    to.table,
    to.port,
    q.tos,
    q.lane,
    q.outer,
    to.df,
    q.unsent,
  );
}

/** A packet socket's sender state (src/native/packet_io.h): the raw socket beside it and the hop table. */
export interface PacketPath {
  packetFd: number;
  rawFd: number;
  /** The IP protocol of the packets (47 for GRE). */
  protocol: number;
  /** HOP_LEN bytes per destination index (NATIVE_LAYOUT.hop*). */
  hop: Uint8Array;
  /** A HopState per destination index. */
  state: Uint8Array;
  /** HopStat counters. */
  stats: Uint32Array;
  /** The outer source address, 16 bytes. */
  local: Uint8Array;
  ttl: number;
}

/** Sends the queue's tunnel packets with Ethernet and IP headers written from the hop table, or by the raw socket. */
export function sendTunnelPackets(q: SendQueue, to: Destinations, via: PacketPath): number {
  return native.sendTunnelPackets(
    via.packetFd,
    via.rawFd,
    via.protocol,
    q.arena,
    q.off,
    q.len,
    q.count,
    q.dst,
    to.table,
    to.port,
    q.tos,
    q.outer,
    to.df,
    via.hop,
    via.state,
    via.stats,
    via.local,
    via.ttl,
    q.unsent,
  );
}
