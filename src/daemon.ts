// Wiring and lifecycle. Start-up first looks (privileges, addresses, device
// names, the control socket) and only then changes the system. Each network
// is a unit that can be added and removed while the daemon runs: adding one
// records every change it makes with its undo, so a failure half-way leaves
// nothing behind, and removing it undoes the same list (TAPs we created
// vanish with their descriptor, addresses we added to TAPs we found are
// removed). Receive sockets are shared by the networks they serve and close
// with the last of them.
import { existsSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Config, NetworkConfig } from './control/config.ts';
import type { Logger } from './control/log.ts';
import type { FdbRow, Reply, StatsReport, Streaming, ValidRequest } from './control/protocol.ts';
import { Mirror } from './control/capture.ts';
import { fdbRows, statsReport, type NetworkInfo } from './control/report.ts';
import { ControlServer, removeStaleSocket, socketInUse } from './control/server.ts';
import { Datapath, HEADROOM, monotonicSeconds, type ReceivePoint } from './datapath.ts';
import {
  CAP_NET_ADMIN, CAP_NET_RAW, hasAddress, hasCapability, interfaceWithAddress, ip, linkIndex, linkKind, linkMtu, setUp, vethWithTxChecksum,
} from './io/link.ts';
import { errnoCode } from './io/native.ts';
import { LaneSender, RawSender, Receiver, type TunnelSender } from './io/port.ts';
import { Tap } from './io/tap.ts';
import { Hold } from './switch/remotes.ts';
import { Network } from './switch/network.ts';
import { tunnelFor } from './tunnel/index.ts';
import type { ReceiveSocket, SendSocket, Tunnel } from './tunnel/tunnel.ts';
import { parseIp } from './wire/ip-address.ts';
import { IpProto } from './wire/ipv4.ts';

/** A reason not to start that the user can fix; vtepd exits 2 and nothing was changed. */
export class StartupError extends Error {}

const DEFAULT_UNDERLAY_MTU = 1500;
/** Ethernet header plus one VLAN tag: the most a TAP adds to its MTU. */
const FRAME_OVERHEAD = 18;
const MIN_SLOT = 2048;
const AGEING_TICK_MS = 1000;
/** Least time between two warnings about partial inner checksums from one network's peers. */
const PARTIAL_CHECKSUM_WARNING_INTERVAL_S = 60;
/** UDP sockets (source ports) a VXLAN network sends on with offloads: each flow keeps one. */
const VXLAN_LANES = 16;
const PROTOCOL_NAMES: Record<number, string> = { [IpProto.UDP]: 'UDP', [IpProto.GRE]: 'GRE' };

/** What checking a network against the system found, before anything changes. */
interface Planned {
  cfg: NetworkConfig;
  tunnel: Tunnel;
  mtu: number;
  existed: boolean;
  /** Interface index of the multicast group's `dev`, 0 without a group. */
  groupIfindex: number;
}

interface RunningNetwork {
  cfg: NetworkConfig;
  net: Network;
  /** Keys of the shared receive sockets it holds. */
  receivers: string[];
  /** Its changes to the system, undone in reverse order when it goes. */
  undo: (() => void)[];
}

interface SharedReceiver {
  point: ReceivePoint;
  refs: number;
}

/** The slot size that holds a frame of `mtu` with the room every frame is read with. */
function slotFor(mtu: number): number {
  return Math.max(MIN_SLOT, Math.ceil((mtu + FRAME_OVERHEAD + HEADROOM + 64) / 64) * 64);
}

export class Daemon {
  private readonly undo: (() => void)[] = [];
  private readonly networks = new Map<string, RunningNetwork>();
  private readonly receivers = new Map<string, SharedReceiver>();
  private datapath!: Datapath;
  private readonly mirror: Mirror;
  private readonly local: Uint8Array;
  private underlay = '';
  private underlayMtu = DEFAULT_UNDERLAY_MTU;
  private stopped = false;
  /** Monotonic seconds of the last partial-checksum warning, per network. */
  private readonly lastPartialWarning = new Map<string, number>();

  private constructor(readonly config: Config, private readonly log: Logger) {
    this.local = parseIp(config.local)!;
    this.mirror = new Mirror(this.local);
  }

  static async start(config: Config, log: Logger): Promise<Daemon> {
    const d = new Daemon(config, log);
    const plan = await d.look();
    try {
      await d.build(plan);
    } catch (e) {
      d.stop();
      throw e;
    }
    return d;
  }

  /** Everything that can be checked without changing the system. */
  private async look(): Promise<Planned[]> {
    const { config, log } = this;
    if (!hasCapability(CAP_NET_ADMIN) || !hasCapability(CAP_NET_RAW)) {
      throw new StartupError('needs CAP_NET_ADMIN and CAP_NET_RAW to create TAPs and raw sockets: run it as root');
    }
    const underlay = interfaceWithAddress(config.local);
    if (underlay === undefined) {
      throw new StartupError(`local: ${config.local} is not an address of this host (see \`ip -4 addr\`); give the underlay address of this VTEP`);
    }
    this.underlay = underlay;
    this.underlayMtu = linkMtu(underlay) ?? DEFAULT_UNDERLAY_MTU;
    const plan = config.networks.map((cfg) => this.plan(cfg));
    if (!existsSync(dirname(config.socket))) {
      throw new StartupError(`socket: the directory of ${config.socket} does not exist; create it or choose another path`);
    }
    if (await socketInUse(config.socket)) {
      throw new StartupError(`socket: another vtepd answers on ${config.socket}; stop it or give this one another socket (--socket PATH)`);
    }
    if (vethWithTxChecksum(underlay)) {
      log.warn(`underlay ${underlay} is a veth with TX checksum offload on: a kernel VTEP behind such a veth sends inner TCP/UDP packets with partial checksums that the receiving host drops (ping works, TCP does not). Run \`ethtool -K DEV tx off\` on both ends of the veth.`);
    }
    log.debug(`underlay ${underlay} (MTU ${this.underlayMtu}), local ${config.local}`);
    return plan;
  }

  /** Checks one network against the system: its TAP name, MTU and group interface. */
  private plan(cfg: NetworkConfig): Planned {
    const kind = linkKind(cfg.tap);
    if (kind === 'other') {
      throw new StartupError(`networks.${cfg.name}.tap: "${cfg.tap}" is taken by a device that is not a TAP; choose another name or delete that device`);
    }
    if (kind === 'tun') {
      throw new StartupError(`networks.${cfg.name}.tap: "${cfg.tap}" is a TUN (layer 3) device, not a TAP; choose another name or delete it`);
    }
    const tunnel = tunnelFor(cfg.tunnel);
    const fit = this.underlayMtu - tunnel.overhead;
    const mtu = cfg.mtu ?? fit;
    if (mtu < 68) throw new StartupError(`networks.${cfg.name}.mtu: the underlay ${this.underlay} has MTU ${this.underlayMtu}, too small to carry a network; set mtu`);
    if (mtu > fit) {
      this.log.warn(`network ${cfg.name}: MTU ${mtu} is above the ${fit} that fits the underlay ${this.underlay} (MTU ${this.underlayMtu}): larger packets will be fragmented${cfg.df ? ' or dropped (df is set)' : ''}`);
    }
    let groupIfindex = 0;
    if (cfg.group !== undefined) {
      const index = linkIndex(cfg.group.dev);
      if (index === undefined) throw new StartupError(`networks.${cfg.name}.group.dev: no interface "${cfg.group.dev}" on this host (see \`ip link\`); name the underlay interface to join ${cfg.group.address} on`);
      groupIfindex = index;
    }
    return { cfg, tunnel, mtu, existed: kind === 'tap', groupIfindex };
  }

  private async build(plan: Planned[]): Promise<void> {
    const { config, log } = this;
    const datapath = (this.datapath = new Datapath({
      slotSize: slotFor(Math.max(...plan.map((p) => p.mtu))), offload: config.offload, busyPollUs: config.busyPoll, observer: this.mirror,
    }));
    this.undo.push(() => datapath.stopPolling());
    datapath.onIoError = (what, errno) => log.error(`${what} failed (errno ${errno}); that descriptor is no longer read`);
    datapath.onPartialChecksum = (net, remote) => this.warnPartialChecksum(net, remote);
    for (const p of plan) this.addNetwork(p);
    removeStaleSocket(config.socket);
    const server = await ControlServer.listen(config.socket, (req) => this.answer(req));
    this.undo.push(() => server.close());
    const timer = setInterval(() => {
      const t = monotonicSeconds();
      for (const { net } of this.networks.values()) net.fdb.run(t);
    }, AGEING_TICK_MS);
    this.undo.push(() => clearInterval(timer));
    const n = this.networks.size;
    log.info(`ready: ${n} network${n > 1 ? 's' : ''}, control socket ${config.socket}, ${config.offload ? 'TSO and checksum offload on the TAPs' : 'offloads off'}`);
  }

  /** Opens a planned network's sockets and TAP and starts forwarding; on failure, undoes what it did and throws. */
  private addNetwork(p: Planned): void {
    const { cfg, tunnel } = p;
    const run: RunningNetwork = { cfg, net: undefined!, receivers: [], undo: [] };
    try {
      this.datapath.ensureSlotSize(slotFor(p.mtu));
      // Sockets first: a port already in use must fail before any TAP appears.
      const primary = this.holdReceiver(run, tunnel.receiveSocket, tunnel);
      if (cfg.group !== undefined) this.holdGroupReceiver(run, cfg, tunnel, primary, p.groupIfindex);
      const sender = this.openSender(tunnel.sendSocket(this.config.offload), cfg);
      run.undo.push(() => sender.close());
      const net = (run.net = new Network({
        name: cfg.name, tunnel, encap: tunnel.encap(sender.lanePorts), ttl: cfg.ttl, df: cfg.df, acceptAnyRemote: cfg.acceptAnyRemote,
        ageing: cfg.ageing, maxMacs: cfg.maxMacs, batchSize: this.datapath.framesPerBatch,
      }));
      const now = monotonicSeconds();
      for (const a of cfg.remotes) net.holdRemote(parseIp(a)!, Hold.Flood);
      for (const a of cfg.allow) net.holdRemote(parseIp(a)!, Hold.Allow);
      for (const s of cfg.statics) net.addStatic(s.mac, parseIp(s.remote)!, now);
      if (cfg.group !== undefined) {
        net.holdRemote(parseIp(cfg.group.address)!, Hold.Group);
        sender.multicast(p.groupIfindex, cfg.group.ttl);
      }
      const tap = this.open(() => Tap.open(cfg.tap, this.config.offload), `TAP ${cfg.tap}`);
      run.undo.push(() => tap.close());
      if (this.config.offload && !tap.offload) this.log.warn(`network ${cfg.name}: the kernel refused TSO and checksum offload on TAP ${cfg.tap}; frames come whole`);
      this.configureTap(run, p);
      primary.demux.set(tunnel.id, net);
      run.undo.push(() => primary.demux.delete(tunnel.id));
      this.datapath.attach({ net, device: tap, sender });
      run.undo.push(() => this.datapath.detach(net));
      this.networks.set(cfg.name, run);
    } catch (e) {
      this.undoNetwork(run);
      throw e;
    }
    this.log.info(`network ${cfg.name}: TAP ${cfg.tap} (${p.existed ? 'attached' : 'created'}, MTU ${p.mtu}${cfg.address ? `, ${cfg.address}` : ''}) <-> ${tunnel.describe()}${cfg.group ? `, group ${cfg.group.address} on ${cfg.group.dev} ttl ${cfg.group.ttl}` : ''}, remotes ${cfg.remotes.join(', ') || 'none'}${cfg.statics.length ? `, ${cfg.statics.length} static` : ''}`);
  }

  /** Stops a network's forwarding and undoes every change it made; its shared sockets close if no other network holds them. */
  private removeNetwork(name: string): void {
    const run = this.networks.get(name);
    if (run === undefined) return;
    this.networks.delete(name);
    this.undoNetwork(run);
  }

  private undoNetwork(run: RunningNetwork): void {
    while (run.undo.length > 0) this.attempt(run.undo.pop()!);
    for (const key of run.receivers) this.releaseReceiver(key);
    run.receivers.length = 0;
  }

  /** The shared socket that receives a tunnel's packets, opened by its first network. */
  private holdReceiver(run: RunningNetwork, spec: ReceiveSocket, tunnel: Tunnel): ReceivePoint {
    const key = spec.kind === 'udp' ? `udp ${spec.port}` : `raw ${spec.protocol}`;
    let shared = this.receivers.get(key);
    if (shared === undefined) {
      const { local, config } = this;
      const [rx, name, port] = spec.kind === 'udp'
        ? [this.open(() => Receiver.udp(local, spec.port), `UDP port ${spec.port} on ${config.local}`), `the VXLAN socket on port ${spec.port}`, spec.port]
        : [this.open(() => Receiver.raw(spec.protocol, local), `a raw ${PROTOCOL_NAMES[spec.protocol]} socket`), `the raw ${PROTOCOL_NAMES[spec.protocol]} socket`, 0];
      if (spec.kind === 'udp' && config.offload) rx.enableGro();
      shared = { point: { rx, demux: tunnel.newDemux(local), local, port, name }, refs: 0 };
      this.receivers.set(key, shared);
      this.datapath.attachReceiver(shared.point);
    }
    shared.refs++;
    run.receivers.push(key);
    return shared.point;
  }

  /** One joined socket per group, port and interface, whatever number of networks share it: the VNI picks the network. */
  private holdGroupReceiver(run: RunningNetwork, cfg: NetworkConfig, tunnel: Tunnel, primary: ReceivePoint, ifindex: number): void {
    const group = cfg.group!;
    const port = tunnel.groupPort;
    const key = `group ${group.address}/${port}/${ifindex}`;
    let shared = this.receivers.get(key);
    if (shared === undefined) {
      const address = parseIp(group.address)!;
      const rx = this.open(() => Receiver.group(address, port, ifindex), `group ${group.address} port ${port} on ${group.dev}`);
      shared = { point: { rx, demux: primary.demux, local: address, port, name: `the socket of group ${group.address}` }, refs: 0 };
      this.receivers.set(key, shared);
      this.datapath.attachReceiver(shared.point);
    }
    shared.refs++;
    run.receivers.push(key);
  }

  private releaseReceiver(key: string): void {
    const shared = this.receivers.get(key);
    if (shared === undefined || --shared.refs > 0) return;
    this.receivers.delete(key);
    this.datapath.detachReceiver(shared.point.rx);
    shared.point.rx.close();
  }

  private openSender(spec: SendSocket, cfg: NetworkConfig): TunnelSender {
    const { local, config } = this;
    switch (spec.kind) {
      case 'udp-lanes':
        return this.open(() => LaneSender.open(local, VXLAN_LANES, spec.srcMin, spec.srcMax, spec.dstPort, cfg.ttl, cfg.df),
          `UDP source ports ${spec.srcMin}-${spec.srcMax} on ${config.local} for network ${cfg.name}`);
      case 'raw':
        return this.open(() => RawSender.open(spec.protocol, local, cfg.ttl, cfg.df),
          `a raw ${PROTOCOL_NAMES[spec.protocol]} socket for network ${cfg.name}`);
    }
  }

  private configureTap(run: RunningNetwork, p: Planned): void {
    const { cfg } = p;
    setUp(cfg.tap, p.mtu);
    if (cfg.address !== undefined && !hasAddress(cfg.tap, cfg.address)) {
      ip('addr', 'add', cfg.address, 'dev', cfg.tap);
      // A TAP we created vanishes with its descriptor; on one we found, we remove only what we added.
      if (p.existed) run.undo.push(() => ip('addr', 'del', cfg.address!, 'dev', cfg.tap));
    }
  }

  /** Opens a descriptor, turning the errno users can fix into a StartupError. */
  private open<T>(fn: () => T, what: string): T {
    try {
      return fn();
    } catch (e) {
      const code = errnoCode(e);
      if (code === 'EADDRINUSE') throw new StartupError(`${what} is in use by another program (a kernel VXLAN device or another vtepd?)`);
      if (code === 'EBUSY') throw new StartupError(`${what} is busy: another program has it open`);
      if (code === 'EPERM' || code === 'EACCES') throw new StartupError(`${what}: permission denied; run it as root`);
      if (code === 'EINVAL' && what.startsWith('TAP')) throw new StartupError(`${what}: the existing device has other flags (multi-queue or vnet header?); delete it or choose another name`);
      throw e;
    }
  }

  /** Once a minute per network at most: a misconfigured peer sends such frames continuously. */
  private warnPartialChecksum(net: Network, remote: number): void {
    const now = monotonicSeconds();
    if (now - (this.lastPartialWarning.get(net.name) ?? -Infinity) < PARTIAL_CHECKSUM_WARNING_INTERVAL_S) return;
    this.lastPartialWarning.set(net.name, now);
    this.log.warn(`network ${net.name}: dropped inner TCP/UDP packets from VTEP ${net.remotes.address(remote)} whose checksums were left partial for a NIC to fill in ` +
      `(counted as partial-checksum in \`vtepctl stats\`). That sender is most likely a kernel VTEP behind a veth with TX checksum offload on: ` +
      `run \`ethtool -K DEV tx off\` on both ends of its veth.`);
  }

  private infos(): NetworkInfo[] {
    return [...this.networks.values()].map(({ net, cfg }) => ({ net, tap: cfg.tap }));
  }

  private answer(req: ValidRequest): Reply<FdbRow[] | StatsReport> | Streaming {
    if ('network' in req && req.network !== undefined && !this.networks.has(req.network)) {
      return { ok: false, error: `no network named "${req.network}" (networks: ${[...this.networks.keys()].join(', ')})` };
    }
    switch (req.cmd) {
      case 'fdb':
        return { ok: true, data: fdbRows(this.infos(), monotonicSeconds(), req.network) };
      case 'stats':
        return { ok: true, data: statsReport(this.infos(), this.datapath.unattributed) };
      case 'capture':
        return {
          stream: (send, end) => {
            send({ ok: true, data: { capturing: true } });
            return this.mirror.start({ network: req.network, side: req.side, count: req.count }, (packet) => send({ packet }), () => end({ end: true }));
          },
        };
    }
  }

  private attempt(fn: () => void): void {
    try {
      fn();
    } catch (e) {
      this.log.warn(`while cleaning up: ${(e as Error).message}`);
    }
  }

  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.datapath?.stopPolling();
    for (const name of [...this.networks.keys()].reverse()) this.removeNetwork(name);
    while (this.undo.length > 0) this.attempt(this.undo.pop()!);
  }
}
