// The forwarding decision, one batch at a time. Pure logic: it reads frames
// from a Batch, learns, decides, has the network's Encap write headers in
// place, and records what to send in SendQueues. It never does I/O.
//
//   TAP -> tunnel: learn the source as local; an ARP request or NS the
//   neighbour table can answer is answered on the TAP (with arp-responder);
//   a known remote destination gets one packet; a known local one is not
//   sent; broadcast, multicast and unknown unicast go to every remote of the
//   flood list (head-end replication), and to the multicast group if there is one.
//   A frame whose tunnel packet would not fit the path MTU toward where it
//   goes is not sent: its sender gets ICMP "too big" on the TAP, as from a
//   router, or it is dropped (RFC 7348 section 4.3: a VTEP does not fragment).
//   Only when the path MTU is too small for ICMP to help the sender (an inner
//   MTU below 576 or 1280) does the frame go anyway, fragmentable: a path MTU,
//   learned or forged, never silences a flow.
//
//   tunnel -> TAP: accept only from a known remote (or any, if the network says
//   so), learn the source behind that remote (and addresses from ARP and NA,
//   with arp-snoop), and deliver to the TAP only:
//   never back into a tunnel (split horizon). Which network a tunnel packet
//   belongs to is the tunnel's Demux's business; what happens after is the
//   same for every encapsulation.
import { OUTER_DF, OUTER_FRAGMENTABLE, type Batch, type SendQueue } from '../datapath/batch.ts';
import { NO_SEQ, type Demux, type Resolved } from '../tunnel/tunnel.ts';
import { decapsulateEcn, encapsulationEcn } from '../wire/ecn.ts';
import { EtherType, ETH_HEADER_LEN } from '../wire/ethernet.ts';
import { flowHash, flowLabel } from '../wire/flow-hash.ts';
import { ADDR_WORDS } from '../wire/ip-address.ts';
import { readMac, type Mac } from '../wire/mac.ts';
import { tooBigFloor, writeTooBig } from '../wire/too-big.ts';
import { NetworkCounter as N, RemoteCounter as R, REMOTE_SLOTS, type Counters } from './counters.ts';
import { Drop } from './drop.ts';
import { Learned, LOCAL_PORT, UNKNOWN_PORT } from './fdb.ts';
import type { Network } from './network.ts';
import type { RemoteTable } from './remotes.ts';
import { answer, answerLength, Answered, snoop, snoopLocal } from './responder.ts';

const MAC_SRC = 6;

/** Frames read from `net`'s TAP: learn, decide, encapsulate, queue on `out`. */
export function forwardFromTap(net: Network, rx: Batch, out: SendQueue, now: number): void {
  const buf = rx.arena;
  const c = net.counters.v;
  const remotes = net.remotes;
  const rc = remotes.counters;
  const flood = remotes.flood;
  const room = rx.room;
  out.reserve(out.count + rx.count * Math.max(1, remotes.fanout));
  for (let i = 0; i < rx.count; i++) {
    const off = rx.start(i);
    const len = rx.len[i];
    c[N.TapRxFrames]++;
    c[N.TapRxBytes] += len;
    if (len < ETH_HEADER_LEN) {
      net.counters.drop(Drop.Truncated);
      continue;
    }
    if (len >= room) {
      net.counters.drop(Drop.Oversize);
      continue;
    }
    const src = readMac(buf, off + MAC_SRC);
    if (!validSource(buf, off, src)) {
      net.counters.drop(Drop.BadSourceMac);
      continue;
    }
    learn(net, src, LOCAL_PORT, now);
    if (net.snoopLocal && isResolution(buf, off)) {
      const e = snoopLocal(net.neigh, buf, off, len, now);
      if (e !== undefined && net.events.active) net.events.neigh(net, 'snooped', e);
    }
    if (net.arpResponder && isResolution(buf, off)) {
      const a = answer(net.neigh, buf, off, len);
      if (a !== Answered.No) {
        c[a === Answered.Arp ? N.ArpSuppressed : N.NdSuppressed]++;
        const q = net.toTap;
        if (q.count === 0) q.arena = buf;
        if (!q.push(off, answerLength(a), LOCAL_PORT)) net.counters.drop(Drop.TxFailed);
        continue;
      }
    }
    const port = buf[off] & 1 ? UNKNOWN_PORT : net.fdb.lookup(readMac(buf, off));
    if (port === LOCAL_PORT) {
      net.counters.drop(Drop.LocalDestination);
      continue;
    }
    const flooding = port === UNKNOWN_PORT;
    if (flooding && remotes.fanout === 0) {
      net.counters.drop(Drop.NoRemote);
      continue;
    }
    // A tunnel packet larger than the path takes is not sent (RFC 7348 section 4.3: a VTEP does not fragment):
    // its sender is told, unless the path MTU is too small for that to help (then it goes fragmentable).
    let fragmentable = 0;
    if (len + net.outerLen > remotes.minPmtu) {
      const mtu = pathMtu(remotes, port);
      if (len + net.outerLen > mtu) {
        const innerMtu = mtu - net.outerLen - ETH_HEADER_LEN;
        if (innerMtu >= tooBigFloor(buf, off, len)) {
          tooBig(net, buf, off, len, innerMtu);
          continue;
        }
        fragmentable = OUTER_FRAGMENTABLE;
        c[N.PmtuFragmentable]++;
      }
    }
    const encap = net.encap;
    const tos = encapsulationEcn(buf, off, len); // before the tunnel header goes in front
    // Over IPv6 the flow hash makes the label too: computed once, here, for both.
    const hash = net.ipv6 ? flowHash(buf, off, len) : undefined;
    const outer = (hash !== undefined || net.df === 'inherit' ? outerFields(net, buf, off, len, hash) : 0) | fragmentable;
    const lane = encap.write(buf, off, len, hash);
    const start = off - encap.headerLen;
    const plen = len + encap.headerLen;
    const wire = plen + encap.kernelHeaderLen;
    if (!flooding) {
      queue(net, out, start, plen, port, lane, tos, outer, wire, rc);
      continue;
    }
    c[N.FloodedFrames]++;
    c[N.FloodCopies] += remotes.floodCount;
    if (remotes.group !== 0) {
      // Once to the group instead of (or besides) once per remote.
      if (out.push(start, plen, remotes.group, lane, tos, outer)) {
        c[N.FloodCopies]++;
        c[N.GroupTxPackets]++;
        c[N.GroupTxBytes] += wire;
        c[N.TunnelTxPackets]++;
        c[N.TunnelTxBytes] += wire;
      } else {
        net.counters.drop(Drop.TxFailed);
      }
    }
    for (let k = 0; k < remotes.floodCount; k++) queue(net, out, start, plen, flood[k], lane, tos, outer, wire, rc);
  }
}

/** The least path MTU toward where a frame goes: one remote, or (flooding) each of the flood list and the group. */
function pathMtu(remotes: RemoteTable, port: number): number {
  if (port !== UNKNOWN_PORT) return remotes.pmtu[port];
  let m = remotes.group !== 0 ? remotes.pmtu[remotes.group] : Infinity;
  for (let k = 0; k < remotes.floodCount; k++) m = Math.min(m, remotes.pmtu[remotes.flood[k]]);
  return m;
}

/**
 * A frame too big for the path: its sender is told, as a router would (ICMP
 * "fragmentation needed" for IPv4 with DF, ICMPv6 "packet too big"), written
 * back to the TAP in the frame's place; anything else is dropped as oversize.
 */
function tooBig(net: Network, buf: Buffer, off: number, len: number, innerMtu: number): void {
  const n = writeTooBig(buf, off, len, innerMtu);
  if (n === 0) {
    net.counters.drop(Drop.Oversize);
    return;
  }
  net.counters.v[N.PmtuIcmpSent]++;
  const q = net.toTap;
  if (q.count === 0) q.arena = buf;
  if (!q.push(off, n, LOCAL_PORT)) net.counters.drop(Drop.TxFailed);
}

/** The outer header's flow label (IPv6 underlay) and, with df inherit, the inner IPv4 packet's DF. */
function outerFields(net: Network, buf: Buffer, off: number, len: number, hash: number | undefined): number {
  let v = hash !== undefined ? flowLabel(hash) : 0;
  if (net.df === 'inherit' && len >= ETH_HEADER_LEN + 20 && buf[off + 12] === 0x08 && buf[off + 13] === 0 && (buf[off + ETH_HEADER_LEN + 6] & 0x40) !== 0) {
    v |= OUTER_DF;
  }
  return v;
}

/** Learns `mac` behind `port`; a new or moved MAC is reported when someone listens. */
function learn(net: Network, mac: number, port: number, now: number): void {
  const l = net.fdb.learn(mac, port, now);
  if (l === Learned.Displaced) net.displaced(mac, net.fdb.movedFrom);
  else if ((l === Learned.New || l === Learned.Moved) && net.events.active) {
    net.events.fdb(net, l === Learned.New ? 'learned' : 'moved', mac, port, 'learned', l === Learned.Moved ? net.fdb.movedFrom : undefined);
  }
}

/** A source MAC a host may have: not a group address (I/G bit), not all zeros (IEEE 802: no station has it). */
function validSource(buf: Buffer, off: number, mac: Mac): boolean {
  return (buf[off + MAC_SRC] & 1) === 0 && mac !== 0;
}

/** ARP or IPv6 (an NS or NA may be in it): the only frames the responder and snooping look into. */
function isResolution(buf: Buffer, off: number): boolean {
  const type = (buf[off + 12] << 8) | buf[off + 13];
  return type === EtherType.ARP || type === EtherType.IPv6;
}

function queue(net: Network, out: SendQueue, start: number, plen: number, r: number, lane: number, tos: number, outer: number, wire: number,
  rc: Float64Array): void {
  if (!out.push(start, plen, r, lane, tos, outer)) {
    net.counters.drop(Drop.TxFailed);
    return;
  }
  const c = net.counters.v;
  c[N.TunnelTxPackets]++;
  c[N.TunnelTxBytes] += wire;
  rc[r * REMOTE_SLOTS + R.TxPackets]++;
  rc[r * REMOTE_SLOTS + R.TxBytes] += wire;
}

/**
 * Resolves every packet of `rx` with its socket's demux: slot i of `out`
 * names its network, or nothing if it is for none (counted in `dropped`: bad
 * header, unknown VNI or key, too large for its slot).
 */
export function demuxBatch(rx: Batch, demux: Demux<Network>, out: Resolved<Network>, dropped: Counters): void {
  const room = rx.room;
  for (let i = 0; i < rx.count; i++) {
    out.target[i] = undefined;
    if (rx.len[i] > room) {
      dropped.drop(Drop.Oversize);
      continue;
    }
    const d = demux.resolve(rx, i, out);
    if (d !== Drop.None) dropped.drop(d as Drop);
  }
}

/** Delivers every resolved packet of `rx` to its network's TAP queue: accepted from a known remote, learned. */
export function deliverBatch(rx: Batch, r: Resolved<Network>, now: number): void {
  for (let i = 0; i < rx.count; i++) {
    const net = r.target[i];
    if (net !== undefined) deliver(net, rx, i, r, now);
  }
}

function deliver(net: Network, rx: Batch, i: number, r: Resolved<Network>, now: number): void {
  const remotes = net.remotes;
  const at = i * ADDR_WORDS;
  let port = remotes.find(rx.peerWords, at);
  if (port < 0) {
    if (!net.acceptAnyRemote || (port = remotes.learn(rx.peerWords, at)) < 0) {
      net.counters.drop(Drop.UnknownRemote);
      return;
    }
  }
  const wireLen = r.wireLen[i];
  const c = net.counters.v;
  const rc = remotes.counters;
  c[N.TunnelRxPackets]++;
  c[N.TunnelRxBytes] += wireLen;
  rc[port * REMOTE_SLOTS + R.RxPackets]++;
  rc[port * REMOTE_SLOTS + R.RxBytes] += wireLen;
  const seq = r.seq[i];
  if (seq !== NO_SEQ) {
    // RFC 2890 section 2.2, in serial number arithmetic: not after the last one is out of order.
    const last = remotes.lastSeq[port];
    if (last >= 0 && ((seq - last) | 0) <= 0) c[N.SeqOutOfOrder]++;
    else remotes.lastSeq[port] = seq;
  }
  const buf = rx.arena;
  const off = r.off[i];
  const len = r.len[i];
  if (len < ETH_HEADER_LEN) {
    net.counters.drop(Drop.Truncated);
    return;
  }
  if (len > net.maxFrame) {
    net.counters.drop(Drop.Oversize);
    return;
  }
  const src = readMac(buf, off + MAC_SRC);
  if (!validSource(buf, off, src)) {
    net.counters.drop(Drop.BadSourceMac);
    return;
  }
  if (net.learning) learn(net, src, port, now);
  if (net.arpSnoop && isResolution(buf, off)) {
    const e = snoop(net.neigh, buf, off, len, now);
    if (e !== undefined && net.events.active) net.events.neigh(net, 'snooped', e);
  }
  const ecn = r.ecn[i];
  if (ecn !== 0 && !decapsulateEcn(buf, off, len, ecn)) {
    net.counters.drop(Drop.CeNotEct);
    return;
  }
  const q = net.toTap;
  if (q.count === 0) q.arena = buf;
  if (!q.push(off, len, port)) net.counters.drop(Drop.TxFailed); // the remote, to name a sender that misbehaves
}
