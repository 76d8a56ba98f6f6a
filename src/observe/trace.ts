// `vtepctl trace`: what vtepd would do with a frame, step by step, without
// sending anything or changing any state (Open vSwitch's ofproto/trace is the
// model).
//
// It does not describe the decision, it runs it: the frame is handed to the
// data path's own functions (forwardFromTap, or the tunnel's demux then
// demuxBatch and deliverBatch) working on a clone of the network's tables,
// and the steps are read off the frame's verdict (where it went, or why not,
// as the switch recorded it) and off what it did to the clone: FDB and
// neighbour entries, the tunnel and TAP queues. A change to the decision code
// changes the trace with it. (Over 400 lines: a step list per kind of frame,
// and the frames a trace is made of; each part is short.)
import { Batch, type SendQueue } from '../datapath/batch.ts';
import { HEADROOM } from '../datapath/datapath.ts';
import { Drop, DROP_NAMES } from '../switch/drop.ts';
import { LOCAL_PORT, type FdbEntry } from '../switch/fdb.ts';
import { deliverBatch, demuxBatch, forwardFromTap } from '../switch/forward.ts';
import { Counters } from '../switch/counters.ts';
import type { Network } from '../switch/network.ts';
import { FRAGMENTABLE, Forwarding, ROUTED, Verdict, VERDICT_MASK } from '../switch/verdict.ts';
import { tunnelPorts } from '../tunnel/index.ts';
import { Resolved } from '../tunnel/tunnel.ts';
import { ArpOp, emitArp, newArpRepr } from '../wire/arp.ts';
import { checksum } from '../wire/checksum.ts';
import { emitEthernet, EtherType, ETH_HEADER_LEN } from '../wire/ethernet.ts';
import { ADDR_LEN, ipv4Of, isV4Mapped, parseIp } from '../wire/ip-address.ts';
import { emitIpv4, IpProto, newIpv4Repr } from '../wire/ipv4.ts';
import {
  emitIpv6,
  IPV6_DST,
  IPV6_HEADER_LEN,
  IPV6_SRC,
  newIpv6Header,
  NextHeader,
  pseudoHeaderSum6,
} from '../wire/ipv6.ts';
import { formatMac, isGroupMac, parseMac, readMac, writeMac, type Mac } from '../wire/mac.ts';
import { renderSent } from './capture.ts';
import { describeFrame, summarize } from './dissect.ts';
import type { TraceReport, TraceRequest } from '../control/protocol.ts';

/** A sender IPv4 address for ARP requests when the network's TAP has none in the config. */
const DOCUMENTATION_IPV4 = '192.0.2.1';
const SLOT = 2048;

/**
 * Traces `t` through `net`, whose TAP has `tapAddress` (address/prefix from the config, if any); `local` is this
 * VTEP (16 bytes).
 */
export function trace(
  net: Network,
  copy: Network,
  t: TraceRequest,
  local: Uint8Array,
  tapName: string,
  tapAddress: string | undefined,
): TraceReport {
  const frame = buildFrame(t, tapAddress);
  const report: TraceReport = {
    network: net.name,
    in: t.in,
    frame: describeFrame(frame),
    steps: [],
    result: '',
    wire: [],
  };
  const now = performance.now() / 1000;
  if (t.in === 'tap') {
    report.steps.push(`from the TAP ${tapName}`);
    traceFromTap(net, copy, frame, local, now, report);
  } else {
    traceFromTunnel(net, copy, frame, t.in, local, now, report);
  }
  return report;
}

/** Drops that happen before the source is learned. */
const BEFORE_LEARNING: readonly Drop[] = [Drop.Truncated, Drop.Oversize, Drop.BadSourceMac, Drop.UnknownRemote];

function traceFromTap(
  net: Network,
  copy: Network,
  frame: Buffer,
  local: Uint8Array,
  now: number,
  report: TraceReport,
): void {
  const b = new Batch(1, SLOT, HEADROOM);
  frame.copy(b.arena, b.start(0));
  b.len[0] = frame.length;
  b.count = 1;
  const f = new Forwarding(1);
  f.begin(now, 1);
  f.notes = [];
  forwardFromTap(copy, b, f);
  const verdict = f.verdicts.kind[0] & VERDICT_MASK;
  const detail = f.verdicts.detail[0];
  if (verdict === Verdict.Dropped && BEFORE_LEARNING.includes(detail as Drop)) {
    drop(report, detail as Drop, '');
    return;
  }
  report.steps.push('accepted');
  report.steps.push(learnStep(net, copy, frame));
  if (f.notes.length > 0 || (f.verdicts.kind[0] & ROUTED) !== 0 || verdict === Verdict.Queued) {
    traceRouted(copy, f, local, report);
    return;
  }
  if (verdict === Verdict.Answered && detail < 0) {
    answered(report, 'gateway', copy.toTap);
    return;
  }
  if (verdict === Verdict.Answered) {
    const t = copy.toTap;
    const reply = Buffer.from(t.arena.subarray(t.off[0], t.off[0] + t.len[0]));
    const hook = copy.tapHooks[detail].name;
    const what =
      hook === 'arp responder' ? `${reply.readUInt16BE(12) === EtherType.ARP ? 'arp' : 'nd'} responder` : hook;
    report.steps.push(`${what}: answered on the TAP from the neighbour table: ${describeFrame(reply)}`);
    report.steps.push('not sent into any tunnel');
    report.result = 'answered';
    return;
  }
  if (verdict === Verdict.Suppressed) {
    report.steps.push(
      'arp responder: a host announcing itself (a gratuitous ARP, an unsolicited NA or a duplicate address ' +
        'detection probe): EVPN tells the other VTEPs where it is',
    );
    report.steps.push('not sent into any tunnel');
    report.result = 'suppressed';
    return;
  }
  if (net.arpResponder && isAddressResolution(frame))
    report.steps.push(
      'arp responder: not answered (no entry for the address, or a gratuitous or duplicate address detection ' +
        'probe): flooded as before',
    );
  const dst = readMac(frame, 0);
  if (isGroupMac(dst)) {
    report.steps.push(`destination ${formatMac(dst)} is ${dst === 0xffffffffffff ? 'broadcast' : 'multicast'}: flood`);
  } else {
    const e = net.fdb.get(dst);
    report.steps.push(
      `lookup ${formatMac(dst)}: ${e === undefined ? 'unknown: flood' : `${where(net, e)} (origin ${e.origin})`}`,
    );
  }
  if (verdict === Verdict.Dropped) {
    const why =
      detail === Drop.LocalDestination
        ? ': the destination is behind the TAP itself'
        : detail === Drop.NoRemote
          ? ': no remote VTEP and no group to flood to'
          : '';
    drop(report, detail as Drop, why);
    return;
  }
  if (verdict === Verdict.TooBig) {
    report.steps.push(
      `too big for the path MTU: answered on the TAP with ICMP "too big" (MTU ${detail}), as a router would; not sent`,
    );
    report.result = 'too-big';
    return;
  }
  const q = copy.toTunnel;
  const targets = Array.from(q.dst.subarray(0, q.count), (r) =>
    r === copy.remotes.group ? `group ${copy.remotes.address(r)}` : copy.remotes.address(r),
  );
  const flooded = verdict === Verdict.Flooded;
  report.steps.push(
    flooded
      ? `flooded to ${targets.join(', ')} (${q.count} cop${q.count === 1 ? 'y' : 'ies'})`
      : `unicast to ${targets[0]}`,
  );
  if ((f.verdicts.kind[0] & FRAGMENTABLE) !== 0) {
    report.steps.push(
      'over a path MTU too small for ICMP to help the sender: sent fragmentable (without DF over IPv4)',
    );
  }
  const buf = Buffer.alloc(SLOT + 128);
  for (let i = 0; i < q.count; i++)
    report.wire.push(summarize(buf.subarray(0, renderSent(copy, q, i, local, buf)), tunnelPorts(net.tunnel)));
  report.result = flooded ? 'flooded' : 'unicast';
}

/** A frame to the gateway MAC: what the router did (its notes), where the frame went, and what is on the wire. */
function traceRouted(copy: Network, f: Forwarding, local: Uint8Array, report: TraceReport): void {
  const kind = f.verdicts.kind[0];
  const verdict = kind & VERDICT_MASK;
  const detail = f.verdicts.detail[0];
  report.steps.push(`to the gateway MAC: routed by this host's gateway`);
  report.steps.push(...f.notes!);
  if (verdict === Verdict.Answered) {
    answered(report, 'gateway', copy.toTap);
    return;
  }
  if (verdict === Verdict.Dropped || verdict === Verdict.TooBig) {
    report.result = verdict === Verdict.TooBig ? 'too-big' : 'dropped';
    if (verdict === Verdict.Dropped) report.drop = DROP_NAMES[detail as Drop];
    return;
  }
  if (verdict === Verdict.Queued) {
    report.result = 'queued';
    return;
  }
  const egress = f.pending.find((n) => n !== copy || n.toTunnel.count > 0 || n.toTap.count > 0) ?? copy;
  const q = egress.toTunnel;
  if (verdict === Verdict.Delivered)
    report.steps.push(`delivered to the TAP of network ${egress.name}: the destination is behind this host`);
  else if (q.count > 0) {
    const targets = Array.from(q.dst.subarray(0, q.count), (r) => egress.remotes.address(r));
    report.steps.push(
      `${verdict === Verdict.Flooded ? 'flooded' : 'unicast'} on network ${egress.name} (${egress.tunnel.describe()}) to ${targets.join(', ')}`,
    );
  }
  const buf = Buffer.alloc(SLOT + 128);
  for (let i = 0; i < q.count; i++)
    report.wire.push(summarize(buf.subarray(0, renderSent(egress, q, i, local, buf)), tunnelPorts(egress.tunnel)));
  report.result = 'routed';
}

function answered(report: TraceReport, who: string, t: SendQueue): void {
  const reply = Buffer.from(t.arena.subarray(t.off[0], t.off[0] + t.len[0]));
  report.steps.push(`${who}: answered on the TAP: ${describeFrame(reply)}`);
  report.steps.push('not sent into any tunnel');
  report.result = 'answered';
}

function traceFromTunnel(
  net: Network,
  copy: Network,
  frame: Buffer,
  from: string,
  local: Uint8Array,
  now: number,
  report: TraceReport,
): void {
  const peer = parseIp(from)!;
  report.steps.push(`from the remote VTEP ${from}, ${net.tunnel.describe()}`);
  const b = new Batch(1, SLOT, 16);
  b.len[0] = net.tunnel.wrapReceived(frame, peer, local, b.arena, b.start(0));
  b.peer.set(peer, 0);
  b.count = 1;
  const demux = net.tunnel.newDemux<Network>(!isV4Mapped(local));
  demux.set(net.tunnel.id, copy, net.tunnel);
  const resolved = new Resolved<Network>(1);
  demuxBatch(b, demux, resolved, new Counters());
  if (resolved.target[0] === undefined) {
    drop(report, resolved.drop[0] as Drop, '');
    return;
  }
  const known = net.remotes.find(b.peerWords, 0);
  const f = new Forwarding(1);
  f.begin(now, 1);
  deliverBatch(b, resolved, f);
  const verdict = f.verdicts.kind[0];
  const detail = f.verdicts.detail[0] as Drop;
  if (verdict === Verdict.Dropped && detail === Drop.UnknownRemote) {
    drop(
      report,
      detail,
      `: ${from} is not a remote of network ` +
        `${net.name}${net.acceptAnyRemote ? ' and no more remotes can be learned' : ' (accept-any-remote is off)'}`,
    );
    return;
  }
  report.steps.push(
    known >= 0
      ? `accepted from remote ${from} (${net.remotes.floods(known) ? 'flood' : 'no-flood'}, origin ` +
          `${net.remotes.origins(known).join(',')})`
      : `accepted from ${from}, learned as a new remote (accept-any-remote; it receives no floods)`,
  );
  if (verdict === Verdict.Dropped && BEFORE_LEARNING.includes(detail)) {
    drop(report, detail, '');
    return;
  }
  report.steps.push(learnStep(net, copy, frame));
  if (verdict === Verdict.Dropped) {
    drop(report, detail, '');
    return;
  }
  const snooped = [...copy.neigh.entries()].filter((e) => net.neigh.get(parseIp(e.ip)!)?.mac !== e.mac);
  for (const e of snooped) report.steps.push(`snooped: ${e.ip} is-at ${formatMac(e.mac)} (arp-snoop)`);
  report.steps.push(`delivered to the TAP only, never back into a tunnel (split horizon)`);
  report.result = 'delivered';
}

/** What learning the frame's source did: the entry before (in `net`) against the entry after (in `copy`). */
function learnStep(net: Network, copy: Network, frame: Buffer): string {
  const src = readMac(frame, 6);
  const before = net.fdb.get(src);
  const after = copy.fdb.get(src);
  const mac = formatMac(src);
  if (before !== undefined && before.origin !== 'learned')
    return `learn ${mac}: a given entry (origin ${before.origin}, ${where(net, before)}): not moved by learning`;
  if (after === undefined) return `learn ${mac}: refused: the table is full (max-macs ${net.fdb.maxMacs})`;
  if (before === undefined) return `learn ${mac}: new, ${where(copy, after)}`;
  if (before.port !== after.port) return `learn ${mac}: moved from ${where(net, before)} to ${where(copy, after)}`;
  return `learn ${mac}: known, ${where(net, before)}`;
}

function where(net: Network, e: FdbEntry): string {
  return e.port === LOCAL_PORT ? 'local' : `dst ${net.remotes.address(e.port)}`;
}

function drop(report: TraceReport, reason: Drop, why: string): void {
  report.steps.push(`dropped: ${DROP_NAMES[reason]}${why}`);
  report.result = 'dropped';
  report.drop = DROP_NAMES[reason];
}

function isAddressResolution(frame: Buffer): boolean {
  const type = frame.readUInt16BE(12);
  return type === EtherType.ARP || type === EtherType.IPv6;
}

// ------------------------------------------------------------------ frames

/**
 * The frame a trace request describes: Ethernet (maybe tagged), then ARP, NS, an echo request, or nothing in
 * particular.
 */
export function buildFrame(t: TraceRequest, tapAddress: string | undefined): Buffer {
  const src = parseMac(t.src)!;
  const dst = parseMac(t.dst)!;
  let payload: Buffer;
  let type: number;
  if (t['arp-request'] !== undefined) {
    const target = parseIp(t['arp-request'])!;
    if (isV4Mapped(target)) {
      [type, payload] = [EtherType.ARP, arpRequest(src, tapAddress?.split('/')[0] ?? DOCUMENTATION_IPV4, target)];
    } else {
      [type, payload] = [EtherType.IPv6, neighborSolicitation(src, target)];
    }
  } else if (t.ipv4 !== undefined) {
    [type, payload] = [EtherType.IPv4, icmpEcho4(parseIp(t.ipv4[0])!, parseIp(t.ipv4[1])!)];
  } else if (t.ipv6 !== undefined) {
    [type, payload] = [EtherType.IPv6, icmpEcho6(parseIp(t.ipv6[0])!, parseIp(t.ipv6[1])!)];
  } else {
    [type, payload] = [0x88b5, Buffer.alloc(46)]; // IEEE 802 local experimental EtherType
  }
  const tag = t.vlan !== undefined ? 4 : 0;
  const f = Buffer.alloc(Math.max(60, ETH_HEADER_LEN + tag + payload.length));
  emitEthernet({ dst, src, ethertype: tag ? EtherType.VLAN : type }, f, 0);
  if (tag) {
    f.writeUInt16BE(t.vlan!, 14);
    f.writeUInt16BE(type, 16);
  }
  payload.copy(f, ETH_HEADER_LEN + tag);
  return f;
}

function arpRequest(src: Mac, senderIp: string, target: Uint8Array): Buffer {
  const b = Buffer.alloc(28);
  emitArp(
    {
      ...newArpRepr(),
      op: ArpOp.Request,
      senderMac: src,
      senderIp: ipv4Of(parseIp(senderIp)!),
      targetMac: 0,
      targetIp: ipv4Of(target),
    },
    b,
    0,
  );
  return b;
}

/** An NS from the link-local address of `src` (EUI-64) to the target's solicited-node group. */
function neighborSolicitation(src: Mac, target: Uint8Array): Buffer {
  const b = Buffer.alloc(IPV6_HEADER_LEN + 32);
  const from = linkLocal(src);
  const to = Buffer.from('ff0200000000000000000001ff000000', 'hex');
  target.slice(13).forEach((x, i) => (to[13 + i] = x));
  const icmp = b.subarray(IPV6_HEADER_LEN);
  icmp[0] = 135;
  Buffer.from(target).copy(icmp, 8);
  icmp[24] = 1; // source link-layer address option
  icmp[25] = 1;
  writeMac(src, icmp, 26);
  return finish6(b, from, to, 255);
}

function icmpEcho6(from: Uint8Array, to: Uint8Array): Buffer {
  const b = Buffer.alloc(IPV6_HEADER_LEN + 8 + 32);
  b[IPV6_HEADER_LEN] = 128; // echo request
  return finish6(b, from, to, 64);
}

function finish6(b: Buffer, from: Uint8Array, to: Uint8Array, hops: number): Buffer {
  const len = b.length - IPV6_HEADER_LEN;
  emitIpv6(
    { ...newIpv6Header(), payloadLen: len, nextHeader: NextHeader.ICMPv6, hopLimit: hops, src: from, dst: to },
    b,
    0,
  );
  b.writeUInt16BE(
    checksum(b, IPV6_HEADER_LEN, len, pseudoHeaderSum6(b, IPV6_SRC, IPV6_DST, NextHeader.ICMPv6, len)),
    IPV6_HEADER_LEN + 2,
  );
  return b;
}

function icmpEcho4(from: Uint8Array, to: Uint8Array): Buffer {
  const b = Buffer.alloc(20 + 8 + 32);
  emitIpv4(
    { ...newIpv4Repr(), totalLen: b.length, protocol: IpProto.ICMP, df: true, src: ipv4Of(from), dst: ipv4Of(to) },
    b,
    0,
  );
  b[20] = 8; // echo request
  b.writeUInt16BE(checksum(b, 20, b.length - 20), 22);
  return b;
}

function linkLocal(mac: Mac): Uint8Array {
  const m = new Uint8Array(6);
  writeMac(mac, m, 0);
  const a = new Uint8Array(ADDR_LEN);
  a.set([0xfe, 0x80], 0);
  a.set([m[0] ^ 2, m[1], m[2], 0xff, 0xfe, m[3], m[4], m[5]], 8);
  return a;
}
