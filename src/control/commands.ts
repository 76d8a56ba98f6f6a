// What the daemon does for each control request. Queries read the tables;
// changes go through the network's own operations (src/switch/network.ts),
// between batches, so they take effect at once and no other network or MAC
// is touched. Every change is logged. A request that cannot be done as asked
// is refused with `invalid` (vtepctl exits 2), with one line saying why.
import type { Datapath } from '../datapath/datapath.ts';
import { monotonicSeconds } from '../datapath/datapath.ts';
import type { NetworkConfig } from '../config/config.ts';
import type { Logger } from '../observe/log.ts';
import { TableError, type Network } from '../switch/network.ts';
import type { TunnelSender } from '../io/port.ts';
import { Hold } from '../switch/remotes.ts';
import type { IcmpCounters } from '../switch/pmtu-guard.ts';
import { formatIp, isMulticastIp, isV4Mapped, parseIp } from '../wire/ip-address.ts';
import { parseMac } from '../wire/mac.ts';
import type { Mirror } from '../observe/capture.ts';
import type { EventHub } from '../observe/monitor.ts';
import type { ControlStats, Reply, Streaming, UpgradeReport, ValidRequest } from './protocol.ts';
import { fdbRows, neighRows, remoteRows, statsReport, type NetworkInfo } from '../observe/report.ts';
import { trace } from '../observe/trace.ts';
import type { EvpnSpeaker } from '../evpn/speaker.ts';

/** A running network as the commands see it. */
export interface RunningView {
  net: Network;
  cfg: NetworkConfig;
  /** Why it cannot forward now (its TAP is gone), if it cannot. */
  failure: string | undefined;
  sender?: TunnelSender;
}

/** What the commands need of the daemon. */
export interface DaemonView {
  /** This VTEP's underlay address: text and 16 bytes. */
  readonly localText: string;
  readonly local: Uint8Array;
  readonly networks: ReadonlyMap<string, RunningView>;
  readonly datapath: Datapath;
  readonly mirror: Mirror;
  readonly events: EventHub;
  readonly log: Logger;
  /** The control socket's clients, refused and dropped. */
  readonly controlStats: ControlStats;
  /** ICMP "too big" errors sent to this VTEP: believed or ignored. */
  readonly icmp: IcmpCounters;
  /** Re-reads the config file and applies the difference; throws a RefusedError (with problems) if it cannot. */
  reload(): string[];
  /** Hands over to the vtepd on disk; resolves once it forwards (this process then exits). */
  upgrade(): Promise<UpgradeReport>;
  /** The BGP EVPN control plane, when the config has one. */
  readonly evpn: EvpnSpeaker | undefined;
}

/** A refusal of the request as asked: vtepctl exits 2. */
export class RefusedError extends Error {
  constructor(message: string, readonly problems?: string[]) {
    super(message);
  }
}

export function answer(d: DaemonView, req: ValidRequest): Reply | Streaming | Promise<Reply> {
  try {
    return run(d, req);
  } catch (e) {
    if (e instanceof RefusedError) return { ok: false, error: e.message, invalid: true, ...(e.problems && { problems: e.problems }) };
    if (e instanceof TableError) return { ok: false, error: e.message, invalid: true };
    throw e;
  }
}

function infos(d: DaemonView): NetworkInfo[] {
  return [...d.networks.values()].map(({ net, cfg, failure, sender }) => ({ net, tap: cfg.tap, failure, sender }));
}

function network(d: DaemonView, name: string | undefined): RunningView | undefined {
  if (name === undefined) return undefined;
  const n = d.networks.get(name);
  if (n === undefined) throw new RefusedError(`no network named "${name}" (networks: ${[...d.networks.keys()].join(', ')})`);
  return n;
}

/** The 16-byte address of a remote VTEP given in a request: not this VTEP, not a group. */
function remoteAddress(d: DaemonView, text: string): Uint8Array {
  const b = parseIp(text)!;
  if (isMulticastIp(b)) throw new RefusedError(`${text} is a multicast address, not a VTEP`);
  if (Buffer.compare(Buffer.from(b), Buffer.from(d.local)) === 0) throw new RefusedError(`${text} is this VTEP's own address (local)`);
  if (isV4Mapped(b) !== isV4Mapped(d.local)) {
    throw new RefusedError(`${text} is ${isV4Mapped(b) ? 'IPv4' : 'IPv6'}, but this VTEP's underlay (local ${formatIp(d.local)}) is ${isV4Mapped(d.local) ? 'IPv4' : 'IPv6'}`);
  }
  return b;
}

function run(d: DaemonView, req: ValidRequest): Reply | Streaming | Promise<Reply> {
  const now = monotonicSeconds();
  switch (req.cmd) {
    case 'fdb':
    case 'fdb-show':
      network(d, req.network);
      return { ok: true, data: fdbRows(infos(d), now, req.network) };
    case 'fdb-add':
    case 'fdb-replace': {
      const { net } = network(d, req.network)!;
      const mac = parseMac(req.mac)!;
      try {
        net.setStatic(mac, remoteAddress(d, req.dst), 'vtepctl', now, req.cmd === 'fdb-replace');
      } catch (e) {
        if (e instanceof TableError) throw new RefusedError(`${req.mac} ${e.message}`);
        throw e;
      }
      d.log.info(`control: ${req.cmd.replace('-', ' ')} ${req.mac} dst ${req.dst} network ${net.name}`, { network: net.name, request: req.cmd });
      return { ok: true, data: {} };
    }
    case 'fdb-del': {
      const { net } = network(d, req.network)!;
      if (net.deleteMac(parseMac(req.mac)!) === undefined) throw new RefusedError(`${req.mac} has no entry in network ${net.name}`);
      d.log.info(`control: fdb del ${req.mac} network ${net.name}`, { network: net.name, request: req.cmd });
      return { ok: true, data: {} };
    }
    case 'fdb-flush': {
      const only = network(d, req.network);
      let flushed = 0;
      for (const { net } of only ? [only] : d.networks.values()) {
        if (req.remote === undefined) {
          flushed += net.flushFdb(req.which);
          continue;
        }
        const r = net.remotes.indexOf(parseIp(req.remote)!);
        if (r > 0) flushed += net.flushFdb(req.which, r);
      }
      d.log.info(`control: fdb flush${req.network ? ` network ${req.network}` : ''}${req.which !== 'all' ? ` ${req.which}` : ''}${req.remote ? ` remote ${req.remote}` : ''}: ${flushed} entries`, { network: req.network, remote: req.remote, request: req.cmd });
      return { ok: true, data: { flushed } };
    }
    case 'remote-add': {
      const { net, cfg } = network(d, req.network)!;
      const addr = remoteAddress(d, req.ip);
      if (req.flood && cfg.group !== undefined && cfg.remotes.length === 0) {
        throw new RefusedError(`network ${net.name} sends its BUM frames to group ${cfg.group.address} only; to accept ${req.ip} as a sender, add it with --no-flood; to flood to it as well, list remotes in the config`);
      }
      if (net.holdRemote(addr, req.flood ? Hold.FloodCtl : Hold.AcceptCtl) < 0) throw new RefusedError(`network ${net.name} cannot take more remotes`);
      d.log.info(`control: remote add ${req.ip}${req.flood ? '' : ' no-flood'} network ${net.name}`, { network: net.name, request: req.cmd });
      return { ok: true, data: {} };
    }
    case 'remote-del': {
      const { net } = network(d, req.network)!;
      const r = net.remotes.indexOf(parseIp(req.ip)!);
      if (r < 0) throw new RefusedError(`${req.ip} is not a remote of network ${net.name}`);
      net.forgetRemote(r);
      d.log.info(`control: remote del ${req.ip} network ${net.name}`, { network: net.name, request: req.cmd });
      return { ok: true, data: {} };
    }
    case 'remote-show':
      network(d, req.network);
      return { ok: true, data: remoteRows(infos(d), req.network) };
    case 'neigh-add': {
      const { net } = network(d, req.network)!;
      net.setNeigh(parseIp(req.ip)!, parseMac(req.mac)!, 'vtepctl', now);
      d.log.info(`control: neigh add ${req.ip} lladdr ${req.mac} network ${net.name}`, { network: net.name, request: req.cmd });
      return { ok: true, data: {} };
    }
    case 'neigh-del': {
      const { net } = network(d, req.network)!;
      if (net.deleteNeigh(parseIp(req.ip)!) === undefined) throw new RefusedError(`${req.ip} has no neighbour entry in network ${net.name}`);
      d.log.info(`control: neigh del ${req.ip} network ${net.name}`, { network: net.name, request: req.cmd });
      return { ok: true, data: {} };
    }
    case 'neigh-show':
      network(d, req.network);
      return { ok: true, data: neighRows(infos(d), now, req.network) };
    case 'stats':
      return { ok: true, data: statsReport(infos(d), d.datapath.unattributed, d.controlStats, d.datapath.governor.pauses, d.icmp) };
    case 'capture': {
      network(d, req.network);
      return {
        stream: (sink) => {
          sink.send({ ok: true, data: { capturing: true } });
          return d.mirror.start({ network: req.network, side: req.side, count: req.count }, {
            get room() {
              return sink.room;
            },
            packet: (packet) => sink.send({ packet }),
            skipped: (n) => sink.skipped(n),
            end: () => sink.end({ end: true }),
          });
        },
      };
    }
    case 'reload':
      return { ok: true, data: { changes: d.reload() } };
    case 'upgrade':
      return d.upgrade().then((data) => ({ ok: true, data }), (e: Error) => ({ ok: false, error: e.message, ...(e instanceof RefusedError && { invalid: true }) }));
    case 'monitor':
      network(d, req.network);
      return {
        stream: (sink) => {
          sink.send({ ok: true, data: { monitoring: true } });
          return d.events.listen((e) => sink.send(e), req.network);
        },
      };
    case 'evpn-show': {
      if (d.evpn === undefined) throw new RefusedError('vtepd runs without BGP EVPN: its config has no evpn section');
      return d.evpn.status().then((data) => ({ ok: true, data }));
    }
    case 'trace': {
      const { net, cfg } = network(d, req.network)!;
      if (req.in !== 'tap') remoteAddress(d, req.in);
      return { ok: true, data: trace(net, req, d.local, cfg.tap, cfg.address) };
    }
  }
}
