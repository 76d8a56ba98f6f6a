// The forwarding decision, one batch at a time. Pure logic: it reads frames
// from a Batch, learns, decides, has the network's Encap write headers in
// place, and records what to send in SendQueues. It never does I/O.
//
//   TAP -> tunnel: learn the source as local; a known remote destination gets
//   one packet; a known local one is not sent; broadcast, multicast and
//   unknown unicast go to every remote of the flood list (head-end replication).
//
//   tunnel -> TAP: accept only from a known remote (or any, if the network says
//   so), learn the source behind that remote, and deliver to the TAP only:
//   never back into a tunnel (split horizon).
import type { Batch, SendQueue } from '../batch.ts';
import { Drop } from '../wire/drop.ts';
import { ETH_HEADER_LEN } from '../wire/ethernet.ts';
import { GRE_FLAG_K, GRE_FLAG_S, GRE_PROTO_TEB, newGreRepr, parseGre } from '../wire/gre.ts';
import { decapsulateEcn, encapsulationEcn } from '../wire/ecn.ts';
import { newIpv4Repr, parseIpv4 } from '../wire/ipv4.ts';
import { readMac } from '../wire/mac.ts';
import { newVxlanRepr, parseVxlan, VXLAN_HEADER_LEN } from '../wire/vxlan.ts';
import { C, R, REMOTE_SLOTS, type Counters } from './counters.ts';
import { LOCAL_PORT, UNKNOWN_PORT } from './fdb.ts';
import type { Network } from './network.ts';

const MAC_SRC = 6;
/** deliverFromTunnel's `seq` when the packet carries no sequence number. */
const NO_SEQ = -1;
/** Tunnel byte counters count the IPv4 payload; a UDP socket hands us only the UDP payload. */
const UDP_HEADER = 8;

/** Frames read from `net`'s TAP: learn, decide, encapsulate, queue on `out`. */
export function forwardFromTap(net: Network, rx: Batch, out: SendQueue, now: number): void {
  const buf = rx.arena;
  const c = net.counters.v;
  const remotes = net.remotes;
  const rc = remotes.counters;
  const room = rx.room;
  for (let i = 0; i < rx.count; i++) {
    const off = rx.start(i);
    const len = rx.len[i];
    c[C.TapRxFrames]++;
    c[C.TapRxBytes] += len;
    if (len < ETH_HEADER_LEN) {
      net.counters.drop(Drop.Truncated);
      continue;
    }
    if (len >= room) {
      net.counters.drop(Drop.Oversize);
      continue;
    }
    if (buf[off + MAC_SRC] & 1) {
      net.counters.drop(Drop.BadSourceMac);
      continue;
    }
    net.fdb.learn(readMac(buf, off + MAC_SRC), LOCAL_PORT, now);
    const port = buf[off] & 1 ? UNKNOWN_PORT : net.fdb.lookup(readMac(buf, off));
    if (port === LOCAL_PORT) {
      net.counters.drop(Drop.LocalDestination);
      continue;
    }
    const flood = port === UNKNOWN_PORT;
    if (flood && remotes.floodCount === 0 && net.floodGroup === 0) {
      net.counters.drop(Drop.NoRemote);
      continue;
    }
    const encap = net.encap;
    const tos = encapsulationEcn(buf, off, len); // before the tunnel header goes in front
    const start = encap.write(buf, off, len);
    const plen = len + encap.headerLen;
    const wire = plen + encap.kernelHeaderLen;
    const first = flood ? 1 : port;
    const last = flood ? remotes.floodCount : port;
    if (flood) {
      c[C.FloodedFrames]++;
      c[C.FloodCopies] += last;
      if (net.floodGroup !== 0) {
        // Once to the group instead of (or besides) once per remote.
        if (out.push(start, plen, net.floodGroup, encap.dstPort, encap.lane, tos)) {
          c[C.FloodCopies]++;
          c[C.GroupTxPackets]++;
          c[C.GroupTxBytes] += wire;
          c[C.TunnelTxPackets]++;
          c[C.TunnelTxBytes] += wire;
        } else {
          net.counters.drop(Drop.TxFailed);
        }
      }
    }
    for (let r = first; r <= last; r++) {
      if (!out.push(start, plen, remotes.addr[r], encap.dstPort, encap.lane, tos)) {
        net.counters.drop(Drop.TxFailed);
        continue;
      }
      c[C.TunnelTxPackets]++;
      c[C.TunnelTxBytes] += wire;
      rc[r * REMOTE_SLOTS + R.TxPackets]++;
      rc[r * REMOTE_SLOTS + R.TxBytes] += wire;
    }
  }
}

const vxlan = newVxlanRepr();

/** VXLAN datagrams from one socket: find each one's network by VNI, then deliver. */
export function receiveVxlan(byVni: ReadonlyMap<number, Network>, rx: Batch, dropped: Counters, now: number): void {
  const buf = rx.arena;
  const room = rx.room;
  for (let i = 0; i < rx.count; i++) {
    const off = rx.start(i);
    const len = rx.len[i];
    if (len > room) {
      dropped.drop(Drop.Oversize);
      continue;
    }
    const d = parseVxlan(buf, off, off + len, vxlan);
    if (d !== Drop.None) {
      dropped.drop(d);
      continue;
    }
    const net = byVni.get(vxlan.vni);
    if (net === undefined) {
      dropped.drop(Drop.UnknownVni);
      continue;
    }
    deliverFromTunnel(net, buf, off + VXLAN_HEADER_LEN, len - VXLAN_HEADER_LEN, rx.addr[i], len + UDP_HEADER, now, NO_SEQ, rx.tos[i] & 3);
  }
}

const outer = newIpv4Repr();
const gre = newGreRepr();

/**
 * Packets from a raw GRE socket, outer IPv4 header included. A raw socket sees
 * every GRE packet reaching the host, so anything that is not Ethernet over
 * GRE with one of our keys, sent to our address, is dropped and counted.
 */
export function receiveGre(byKey: ReadonlyMap<number, Network>, rx: Batch, dropped: Counters, local: number, now: number): void {
  const buf = rx.arena;
  const room = rx.room;
  for (let i = 0; i < rx.count; i++) {
    const off = rx.start(i);
    const len = rx.len[i];
    if (len > room) {
      dropped.drop(Drop.Oversize);
      continue;
    }
    let d = parseIpv4(buf, off, off + len, outer);
    if (d === Drop.None && outer.dst !== local) d = Drop.WrongDestination;
    const g = off + outer.headerLen;
    const end = off + outer.totalLen;
    if (d === Drop.None) d = parseGre(buf, g, end, gre);
    if (d === Drop.None && gre.protocol !== GRE_PROTO_TEB) d = Drop.BadProtocol;
    const net = d === Drop.None && gre.flags & GRE_FLAG_K ? byKey.get(gre.key) : undefined;
    if (d === Drop.None && net === undefined) d = Drop.UnknownKey;
    if (d !== Drop.None) {
      dropped.drop(d);
      continue;
    }
    const payload = g + gre.headerLen;
    deliverFromTunnel(net!, buf, payload, end - payload, outer.src, end - g, now, gre.flags & GRE_FLAG_S ? gre.seq : NO_SEQ, outer.tos & 3);
  }
}

/**
 * A decapsulated frame of `net` from the VTEP at `peer`; `wireLen` is the
 * tunnel packet's size (IPv4 payload), for the counters; `seq` its GRE
 * sequence number or NO_SEQ; `ecn` the outer header's ECN codepoint. Shared by
 * every encapsulation: what happens after the tunnel header is the same.
 */
function deliverFromTunnel(net: Network, buf: Buffer, off: number, len: number, peer: number, wireLen: number, now: number, seq: number,
  ecn: number): void {
  const remotes = net.remotes;
  let port = remotes.find(peer);
  if (port < 0) {
    if (!net.acceptAnyRemote || (port = remotes.add(peer)) < 0) {
      net.counters.drop(Drop.UnknownRemote);
      return;
    }
  }
  const c = net.counters.v;
  const rc = remotes.counters;
  c[C.TunnelRxPackets]++;
  c[C.TunnelRxBytes] += wireLen;
  rc[port * REMOTE_SLOTS + R.RxPackets]++;
  rc[port * REMOTE_SLOTS + R.RxBytes] += wireLen;
  if (seq !== NO_SEQ) {
    // RFC 2890 section 2.2, in serial number arithmetic: not after the last one is out of order.
    const last = remotes.lastSeq[port];
    if (last >= 0 && ((seq - last) | 0) <= 0) c[C.SeqOutOfOrder]++;
    else remotes.lastSeq[port] = seq;
  }
  if (len < ETH_HEADER_LEN) {
    net.counters.drop(Drop.Truncated);
    return;
  }
  if (buf[off + MAC_SRC] & 1) {
    net.counters.drop(Drop.BadSourceMac);
    return;
  }
  net.fdb.learn(readMac(buf, off + MAC_SRC), port, now);
  if (ecn !== 0 && !decapsulateEcn(buf, off, len, ecn)) {
    net.counters.drop(Drop.CeNotEct);
    return;
  }
  const q = net.toTap;
  if (q.count === 0) q.arena = buf;
  if (!q.push(off, len, peer, 0)) net.counters.drop(Drop.TxFailed); // the peer, to name a sender that misbehaves
}
