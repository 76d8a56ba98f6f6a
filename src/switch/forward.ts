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
import { OUTER_DF, OUTER_FRAGMENTABLE, type Batch } from '../datapath/batch.ts';
import { NO_SEQ, type Demux, type Resolved } from '../tunnel/tunnel.ts';
import { decapsulateEcn, encapsulationEcn } from '../wire/ecn.ts';
import { EtherType, ETH_HEADER_LEN } from '../wire/ethernet.ts';
import { flowHash, flowLabel } from '../wire/flow-hash.ts';
import { ADDR_WORDS } from '../wire/ip-address.ts';
import { readMac, type Mac } from '../wire/mac.ts';
import { tooBigFloor, writeTooBig } from '../wire/icmp-out.ts';
import { NetworkCounter as N, RemoteCounter as R, REMOTE_SLOTS, type Counters } from './counters.ts';
import { Drop } from './drop.ts';
import { Learned, LOCAL_PORT, UNKNOWN_PORT } from './fdb.ts';
import type { Network } from './network.ts';
import type { RemoteTable } from './remotes.ts';
import { snoop } from './responder.ts';
import { FRAGMENTABLE, Verdict, type Forwarding } from './verdict.ts';

const MAC_SRC = 6;

/** Frames read from `net`'s TAP: learn, run the network's hooks, bridge; each frame's verdict in `f`. */
export function forwardFromTap(net: Network, rx: Batch, f: Forwarding): void {
  const buf = rx.arena;
  const c = net.counters.v;
  const room = rx.room;
  const hooks = net.tapHooks;
  const q = net.toTunnel;
  if (q.count === 0) q.arena = buf;
  q.reserve(q.count + rx.count * Math.max(1, net.remotes.fanout));
  for (let i = 0; i < rx.count; i++) {
    f.i = i;
    const off = rx.start(i);
    const len = rx.len[i];
    c[N.TapRxFrames]++;
    c[N.TapRxBytes] += len;
    if (len < ETH_HEADER_LEN) {
      dropFrame(net, Drop.Truncated, f);
      continue;
    }
    if (len >= room) {
      dropFrame(net, Drop.Oversize, f);
      continue;
    }
    const src = readMac(buf, off + MAC_SRC);
    if (!validSource(buf, off, src)) {
      dropFrame(net, Drop.BadSourceMac, f);
      continue;
    }
    learn(net, src, LOCAL_PORT, f);
    let consumed = false;
    for (let h = 0; h < hooks.length && !consumed; h++) consumed = hooks[h].fromTap(net, buf, off, len, f);
    if (consumed) continue;
    if (!bridgeOut(net, buf, off, len, true, f)) tooBig(net, buf, off, len, f.innerMtu, f);
  }
}

/**
 * Bridges the frame at buf[off, off+len) on `net`: to the remote VTEP its
 * destination is behind, to every remote of the flood list (and the group)
 * for a group or unknown destination, or, for a frame the switch made (a
 * routed one: `fromTap` false), to the TAP when the destination is behind it.
 * The tunnel header goes in front of the frame, in place. Returns false, and
 * leaves the usable inner MTU in f.innerMtu, when the frame does not fit the
 * path and its sender can be told so: the caller answers it.
 */
export function bridgeOut(
  net: Network,
  buf: Buffer,
  off: number,
  len: number,
  fromTap: boolean,
  f: Forwarding,
): boolean {
  const remotes = net.remotes;
  const port = buf[off] & 1 ? UNKNOWN_PORT : net.fdb.lookup(readMac(buf, off));
  if (port === LOCAL_PORT) {
    if (fromTap) {
      dropFrame(net, Drop.LocalDestination, f);
    } else {
      f.decide(Verdict.Delivered, 0);
      net.writeToTap(buf, off, len, 0, f);
    }
    return true;
  }
  const flooding = port === UNKNOWN_PORT;
  if (flooding && remotes.fanout === 0) {
    if (fromTap) {
      dropFrame(net, Drop.NoRemote, f);
    } else {
      // A frame the switch made or routed, for a network with no remote: its hosts are behind the TAP alone.
      f.decide(Verdict.Delivered, 0);
      net.writeToTap(buf, off, len, 0, f);
    }
    return true;
  }
  // A tunnel packet larger than the path takes is not sent (RFC 7348 section 4.3: a VTEP does not fragment):
  // its sender is told, unless the path MTU is too small for that to help (then it goes fragmentable).
  let fragmentable = 0;
  if (len + net.outerLen > remotes.minPmtu) {
    const mtu = pathMtu(remotes, port);
    if (len + net.outerLen > mtu) {
      const innerMtu = mtu - net.outerLen - ETH_HEADER_LEN;
      if (innerMtu >= tooBigFloor(buf, off, len)) {
        f.innerMtu = innerMtu;
        return false;
      }
      fragmentable = OUTER_FRAGMENTABLE;
      net.counters.v[N.PmtuFragmentable]++;
    }
  }
  const mark = fragmentable !== 0 ? FRAGMENTABLE : 0;
  if (!flooding) {
    if (sendInto(net, buf, off, len, port, fragmentable) === 1) f.decide(Verdict.Unicast | mark, port);
    else f.decide(Verdict.Dropped, Drop.TxFailed);
    f.queued(net);
    return true;
  }
  // A broadcast the switch made (a router's request) goes to the hosts behind this TAP too.
  if (!fromTap) net.writeToTap(buf, off, len, 0, f);
  f.decide(Verdict.Flooded | mark, sendInto(net, buf, off, len, UNKNOWN_PORT, fragmentable));
  f.queued(net);
  return true;
}

/**
 * Encapsulates the frame at buf[off, off+len) in place with the network's
 * tunnel header and queues it: to remote `port`, or to every remote of the
 * flood list and the group (UNKNOWN_PORT); counted. Returns how many packets
 * were queued (0: none, counted as tx-failed).
 */
function sendInto(net: Network, buf: Buffer, off: number, len: number, port: number, fragmentable: number): number {
  const remotes = net.remotes;
  const encap = net.encap;
  const tos = encapsulationEcn(buf, off, len); // before the tunnel header goes in front
  // Over IPv6 the flow hash makes the label too: computed once, here, for both.
  const hash = net.ipv6 ? flowHash(buf, off, len) : undefined;
  const outer = (hash !== undefined || net.df === 'inherit' ? outerFields(net, buf, off, len, hash) : 0) | fragmentable;
  const lane = encap.write(buf, off, len, hash);
  const start = off - encap.headerLen;
  const plen = len + encap.headerLen;
  const wire = plen + encap.kernelHeaderLen;
  const q = net.toTunnel;
  if (q.count === 0) q.arena = buf;
  if (port !== UNKNOWN_PORT) {
    if (q.count === q.capacity) q.reserve(q.capacity * 2);
    return queue(net, start, plen, port, lane, tos, outer, wire) ? 1 : 0;
  }
  const c = net.counters.v;
  if (q.capacity - q.count < remotes.fanout) q.reserve(q.count + remotes.fanout);
  c[N.FloodedFrames]++;
  c[N.FloodCopies] += remotes.floodCount;
  let copies = 0;
  if (remotes.group !== 0) {
    // Once to the group instead of (or besides) once per remote.
    if (q.push(start, plen, remotes.group, lane, tos, outer)) {
      copies++;
      c[N.FloodCopies]++;
      c[N.GroupTxPackets]++;
      c[N.GroupTxBytes] += wire;
      c[N.TunnelTxPackets]++;
      c[N.TunnelTxBytes] += wire;
    } else {
      net.counters.drop(Drop.TxFailed);
    }
  }
  const flood = remotes.flood;
  for (let k = 0; k < remotes.floodCount; k++) if (queue(net, start, plen, flood[k], lane, tos, outer, wire)) copies++;
  return copies;
}

/**
 * Sends the frame at buf[off, off+len) into `net`'s tunnel to remote `port`
 * alone, whatever its destination MAC (an answer the router passes on to the
 * VTEP that asked); returns whether it was queued. Not the verdict's business.
 */
export function tunnelTo(net: Network, buf: Buffer, off: number, len: number, port: number, f: Forwarding): boolean {
  if (!net.remotes.live(port)) return false;
  const sent = sendInto(net, buf, off, len, port, 0) === 1;
  if (sent) f.queued(net);
  return sent;
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
function tooBig(net: Network, buf: Buffer, off: number, len: number, innerMtu: number, f: Forwarding): void {
  const n = writeTooBig(buf, off, len, innerMtu);
  if (n === 0) {
    dropFrame(net, Drop.Oversize, f);
    return;
  }
  net.counters.v[N.PmtuIcmpSent]++;
  f.decide(Verdict.TooBig, innerMtu);
  net.writeToTap(buf, off, n, LOCAL_PORT, f);
}

/** Counts a drop and makes it the frame's verdict. */
function dropFrame(net: Network, reason: Drop, f: Forwarding): void {
  net.counters.drop(reason);
  f.decide(Verdict.Dropped, reason);
}

/** The outer header's flow label (IPv6 underlay) and, with df inherit, the inner IPv4 packet's DF. */
function outerFields(net: Network, buf: Buffer, off: number, len: number, hash: number | undefined): number {
  let v = hash !== undefined ? flowLabel(hash) : 0;
  if (
    net.df === 'inherit' &&
    len >= ETH_HEADER_LEN + 20 &&
    buf[off + 12] === 0x08 &&
    buf[off + 13] === 0 &&
    (buf[off + ETH_HEADER_LEN + 6] & 0x40) !== 0
  ) {
    v |= OUTER_DF;
  }
  return v;
}

/** Learns `mac` behind `port`; a new or moved MAC is reported when someone listens. */
function learn(net: Network, mac: number, port: number, f: Forwarding): void {
  const l = net.fdb.learn(mac, port, f.now);
  if (l === Learned.Displaced) {
    net.displaced(mac, net.fdb.movedFrom);
    f.queued(net); // so that it is settled after the batch
  } else if ((l === Learned.New || l === Learned.Moved) && net.events.active) {
    net.events.fdb(
      net,
      l === Learned.New ? 'learned' : 'moved',
      mac,
      port,
      'learned',
      l === Learned.Moved ? net.fdb.movedFrom : undefined,
    );
  }
}

/** A source MAC a host may have: not a group address (I/G bit), not all zeros (IEEE 802: no station has it). */
function validSource(buf: Buffer, off: number, mac: Mac): boolean {
  return (buf[off + MAC_SRC] & 1) === 0 && mac !== 0;
}

/** ARP or IPv6 (an NS or NA may be in it): the only frames snooping looks into. */
function isResolution(buf: Buffer, off: number): boolean {
  const type = (buf[off + 12] << 8) | buf[off + 13];
  return type === EtherType.ARP || type === EtherType.IPv6;
}

/** Queues one tunnel packet on the network's sender queue, counted; false (counted as tx-failed) when full. */
function queue(
  net: Network,
  start: number,
  plen: number,
  r: number,
  lane: number,
  tos: number,
  outer: number,
  wire: number,
): boolean {
  if (!net.toTunnel.push(start, plen, r, lane, tos, outer)) {
    net.counters.drop(Drop.TxFailed);
    return false;
  }
  const c = net.counters.v;
  const rc = net.remotes.counters;
  c[N.TunnelTxPackets]++;
  c[N.TunnelTxBytes] += wire;
  rc[r * REMOTE_SLOTS + R.TxPackets]++;
  rc[r * REMOTE_SLOTS + R.TxBytes] += wire;
  return true;
}

/**
 * What a send of `net`'s queue left over: `sent` of its entries went out. The rest are counted as
 * tx-failed and taken off the tx counters (the network's, and the remote's or the group's) that
 * queue() counted them to, so that `remote show` counts what the kernel took, not what it refused.
 */
export function settleSend(net: Network, sent: number): void {
  const q = net.toTunnel;
  if (sent >= q.count) return;
  net.counters.drop(Drop.TxFailed, q.count - sent);
  const c = net.counters.v;
  const rc = net.remotes.counters;
  const group = net.remotes.group;
  const header = net.encap.kernelHeaderLen;
  for (let i = 0; i < q.count; i++) {
    if (q.unsent[i] === 0) continue;
    const r = q.dst[i];
    const wire = q.len[i] + header;
    c[N.TunnelTxPackets]--;
    c[N.TunnelTxBytes] -= wire;
    if (group !== 0 && r === group) {
      c[N.GroupTxPackets]--;
      c[N.GroupTxBytes] -= wire;
    } else {
      rc[r * REMOTE_SLOTS + R.TxPackets]--;
      rc[r * REMOTE_SLOTS + R.TxBytes] -= wire;
    }
  }
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
      out.drop[i] = Drop.Oversize;
      continue;
    }
    const d = demux.resolve(rx, i, out);
    out.drop[i] = d;
    if (d !== Drop.None) dropped.drop(d as Drop);
  }
}

/** Delivers every resolved packet of `rx` to its network's TAP queue: accepted from a known remote, learned. */
export function deliverBatch(rx: Batch, r: Resolved<Network>, f: Forwarding): void {
  for (let i = 0; i < rx.count; i++) {
    f.i = i;
    const net = r.target[i];
    if (net !== undefined) deliver(net, rx, i, r, f);
    else f.decide(Verdict.Dropped, r.drop[i]);
  }
}

function deliver(net: Network, rx: Batch, i: number, r: Resolved<Network>, f: Forwarding): void {
  const remotes = net.remotes;
  const at = i * ADDR_WORDS;
  let port = remotes.find(rx.peerWords, at);
  if (port < 0) {
    if (!net.acceptAnyRemote || (port = remotes.learn(rx.peerWords, at)) < 0) {
      dropFrame(net, Drop.UnknownRemote, f);
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
    dropFrame(net, Drop.Truncated, f);
    return;
  }
  if (len > net.maxFrame) {
    dropFrame(net, Drop.Oversize, f);
    return;
  }
  const src = readMac(buf, off + MAC_SRC);
  if (!validSource(buf, off, src)) {
    dropFrame(net, Drop.BadSourceMac, f);
    return;
  }
  const hook = net.tunnelHook;
  if (net.learning && (hook === undefined || hook.learns(src))) learn(net, src, port, f);
  if (net.arpSnoop && isResolution(buf, off)) {
    const e = snoop(net.neigh, buf, off, len, f.now);
    if (e !== undefined && net.events.active) net.events.neigh(net, 'snooped', e);
  }
  if (hook !== undefined && hook.fromTunnel(net, buf, off, len, port, f)) return;
  const ecn = r.ecn[i];
  if (ecn !== 0 && !decapsulateEcn(buf, off, len, ecn)) {
    dropFrame(net, Drop.CeNotEct, f);
    return;
  }
  f.decide(Verdict.Delivered, port);
  net.writeToTap(buf, off, len, port, f); // the remote, to name a sender that misbehaves
}
