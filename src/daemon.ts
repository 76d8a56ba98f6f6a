// Wiring and lifecycle. Start-up first looks (privileges, addresses, device
// names, the control socket) and only then changes the system; every change is
// recorded with its undo, so a failure half-way leaves nothing behind, and
// stop() undoes the same list: TAPs we created vanish with their descriptor,
// addresses we added to TAPs we found are removed.
import { existsSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Config, NetworkConfig } from './control/config.ts';
import type { Logger } from './control/log.ts';
import type { FdbRow, Reply, Request, StatsReport, Streaming } from './control/protocol.ts';
import { Mirror } from './control/capture.ts';
import { fdbRows, statsReport, type NetworkInfo } from './control/report.ts';
import { ControlServer, removeStaleSocket, socketInUse } from './control/server.ts';
import { BATCH_SIZE, Datapath, FRAMES_PER_OFFLOAD_BATCH, HEADROOM, monotonicSeconds } from './datapath.ts';
import {
  CAP_NET_ADMIN, CAP_NET_RAW, hasAddress, hasCapability, interfaceWithAddress, ip, linkIndex, linkKind, linkMtu, setUp,
  vethWithTxChecksum,
} from './io/link.ts';
import { errnoCode } from './io/native.ts';
import { LaneSender, Receiver, Sender, type TunnelSender } from './io/port.ts';
import { Tap } from './io/tap.ts';
import { GreEncap, VxlanEncap, type Encap } from './switch/encap.ts';
import { Network } from './switch/network.ts';
import { formatIpv4, IpProto } from './wire/ipv4.ts';

/** A reason not to start that the user can fix; vtepd exits 2 and nothing was changed. */
export class StartupError extends Error {}

const DEFAULT_UNDERLAY_MTU = 1500;
/** Ethernet header plus one VLAN tag: the most a TAP adds to its MTU. */
const FRAME_OVERHEAD = 18;
const MIN_SLOT = 2048;
const AGEING_TICK_MS = 1000;
/** Least time between two warnings about partial inner checksums from one network's peers. */
const PARTIAL_CHECKSUM_WARNING_INTERVAL_S = 60;

interface Planned {
  cfg: NetworkConfig;
  mtu: number;
  existed: boolean;
  /** Interface index of the multicast group's `dev`, 0 without a group. */
  groupIfindex: number;
}

/** UDP sockets (source ports) a VXLAN network sends on with offloads: each flow keeps one. */
const VXLAN_LANES = 16;

/** `lanes`: VXLAN on that many UDP sockets; 0 on a raw socket. */
function makeEncap(cfg: NetworkConfig, lanes: number): Encap {
  const e = cfg.encap;
  return e.kind === 'vxlan' ? new VxlanEncap(e.vni, e.port, e.srcPortMin, e.srcPortMax, lanes) : new GreEncap(e.key, e.csum, e.seq);
}

function describeEncap(cfg: NetworkConfig): string {
  const e = cfg.encap;
  return e.kind === 'vxlan' ? `VXLAN VNI ${e.vni} port ${e.port}` : `GRE key ${e.key}${e.csum ? ' csum' : ''}${e.seq ? ' seq' : ''}`;
}

export class Daemon {
  private readonly undo: (() => void)[] = [];
  private readonly infos: NetworkInfo[] = [];
  private datapath!: Datapath;
  private readonly mirror: Mirror;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;

  private constructor(readonly config: Config, private readonly log: Logger) {
    this.mirror = new Mirror(config.local);
  }

  static async start(config: Config, log: Logger): Promise<Daemon> {
    const d = new Daemon(config, log);
    const plan = await d.look();
    try {
      await d.build(plan);
    } catch (e) {
      d.rollback();
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
    const local = formatIpv4(config.local);
    const underlay = interfaceWithAddress(config.local);
    if (underlay === undefined) {
      throw new StartupError(`local: ${local} is not an address of this host (see \`ip -4 addr\`); give the underlay address of this VTEP`);
    }
    const underlayMtu = linkMtu(underlay) ?? DEFAULT_UNDERLAY_MTU;
    const plan: Planned[] = [];
    for (const cfg of config.networks) {
      const kind = linkKind(cfg.tap);
      if (kind === 'other') {
        throw new StartupError(`networks.${cfg.name}.tap: "${cfg.tap}" is taken by a device that is not a TAP; choose another name or delete that device`);
      }
      if (kind === 'tun') {
        throw new StartupError(`networks.${cfg.name}.tap: "${cfg.tap}" is a TUN (layer 3) device, not a TAP; choose another name or delete it`);
      }
      const fit = underlayMtu - makeEncap(cfg, 0).overhead;
      const mtu = cfg.mtu ?? fit;
      if (mtu < 68) throw new StartupError(`networks.${cfg.name}.mtu: the underlay ${underlay} has MTU ${underlayMtu}, too small to carry a network; set mtu`);
      if (mtu > fit) {
        log.warn(`network ${cfg.name}: MTU ${mtu} is above the ${fit} that fits the underlay ${underlay} (MTU ${underlayMtu}): larger packets will be fragmented${cfg.df ? ' or dropped (df is set)' : ''}`);
      }
      let groupIfindex = 0;
      if (cfg.group !== undefined) {
        const index = linkIndex(cfg.group.dev);
        if (index === undefined) throw new StartupError(`networks.${cfg.name}.group.dev: no interface "${cfg.group.dev}" on this host (see \`ip link\`); name the underlay interface to join ${formatIpv4(cfg.group.address)} on`);
        groupIfindex = index;
      }
      plan.push({ cfg, mtu, existed: kind === 'tap', groupIfindex });
    }
    if (!existsSync(dirname(config.socket))) {
      throw new StartupError(`socket: the directory of ${config.socket} does not exist; create it or choose another path`);
    }
    if (await socketInUse(config.socket)) {
      throw new StartupError(`socket: another vtepd answers on ${config.socket}; stop it or give this one another socket (--socket PATH)`);
    }
    if (vethWithTxChecksum(underlay)) {
      log.warn(`underlay ${underlay} is a veth with TX checksum offload on: a kernel VTEP behind such a veth sends inner TCP/UDP packets with partial checksums that the receiving host drops (ping works, TCP does not). Run \`ethtool -K DEV tx off\` on both ends of the veth.`);
    }
    log.debug(`underlay ${underlay} (MTU ${underlayMtu}), local ${local}`);
    return plan;
  }

  private async build(plan: Planned[]): Promise<void> {
    const { config, log } = this;
    const maxMtu = Math.max(...plan.map((p) => p.mtu));
    const slot = Math.max(MIN_SLOT, Math.ceil((maxMtu + FRAME_OVERHEAD + HEADROOM + 64) / 64) * 64);
    const maxFlood = Math.max(...plan.map((p) => p.cfg.remotes.length + (p.cfg.group ? 1 : 0)));
    const datapath = (this.datapath = new Datapath(slot, maxFlood, this.mirror, config.offload, config.busyPoll));
    datapath.onIoError = (what, errno) => log.error(`${what} failed (errno ${errno}); that descriptor is no longer read`);
    // Once a minute per network at most: a misconfigured peer sends such frames continuously.
    const lastPartialWarning = new Map<string, number>();
    datapath.onPartialChecksum = (net, peer) => {
      const now = monotonicSeconds();
      if (now - (lastPartialWarning.get(net.name) ?? -Infinity) < PARTIAL_CHECKSUM_WARNING_INTERVAL_S) return;
      lastPartialWarning.set(net.name, now);
      log.warn(`network ${net.name}: dropped inner TCP/UDP packets from VTEP ${formatIpv4(peer)} whose checksums were left partial for a NIC to fill in ` +
        `(counted as partial-checksum in \`vtepctl stats\`). That sender is most likely a kernel VTEP behind a veth with TX checksum offload on: ` +
        `run \`ethtool -K DEV tx off\` on both ends of its veth.`);
    };
    const now = monotonicSeconds();

    // Sockets first: a port already in use must fail before any TAP appears.
    const byVni = new Map<number, Map<number, Network>>();
    const byKey = new Map<number, Network>();
    for (const { cfg } of plan) {
      if (cfg.encap.kind === 'vxlan' && !byVni.has(cfg.encap.port)) {
        const port = cfg.encap.port;
        const rx = this.open(() => Receiver.udp(config.local, port), `UDP port ${port} on ${formatIpv4(config.local)}`);
        this.undo.push(() => rx.close());
        if (config.offload) rx.enableGro();
        byVni.set(port, new Map());
        datapath.attachVxlan(rx, byVni.get(port)!, config.local, port);
      }
    }
    // One joined socket per group, port and interface, whatever number of networks share it: the VNI picks the network.
    const joined = new Set<string>();
    for (const { cfg, groupIfindex } of plan) {
      if (cfg.group === undefined || cfg.encap.kind !== 'vxlan') continue;
      const { address } = cfg.group;
      const port = cfg.encap.port;
      const key = `${address}/${port}/${groupIfindex}`;
      if (joined.has(key)) continue;
      joined.add(key);
      const rx = this.open(() => Receiver.group(address, port, groupIfindex), `group ${formatIpv4(address)} port ${port} on ${cfg.group.dev}`);
      this.undo.push(() => rx.close());
      datapath.attachVxlan(rx, byVni.get(port)!, address, port);
    }
    if (plan.some((p) => p.cfg.encap.kind === 'gre')) {
      const rx = this.open(() => Receiver.raw(IpProto.GRE, config.local), 'a raw GRE socket');
      this.undo.push(() => rx.close());
      datapath.attachGre(rx, byKey, config.local);
    }

    for (const { cfg, mtu, existed, groupIfindex } of plan) {
      const protocol = cfg.encap.kind === 'vxlan' ? IpProto.UDP : IpProto.GRE;
      const e = cfg.encap;
      const sender: TunnelSender = e.kind === 'vxlan' && config.offload
        ? this.open(() => LaneSender.open(config.local, VXLAN_LANES, e.srcPortMin, e.srcPortMax, e.port, cfg.ttl, cfg.df),
          `UDP source ports ${e.srcPortMin}-${e.srcPortMax} on ${formatIpv4(config.local)} for network ${cfg.name}`)
        : this.open(() => Sender.raw(protocol, config.local, cfg.ttl, cfg.df), `a raw ${e.kind === 'vxlan' ? 'UDP' : 'GRE'} socket for network ${cfg.name}`);
      this.undo.push(() => sender.close());
      const encap = makeEncap(cfg, sender instanceof LaneSender ? sender.lanes : 0);
      const net = new Network({
        name: cfg.name, encap, remotes: cfg.remotes, floodGroup: cfg.group?.address ?? 0, allow: cfg.allow,
        statics: cfg.statics, acceptAnyRemote: cfg.acceptAnyRemote,
        ageing: cfg.ageing, maxMacs: cfg.maxMacs, batchSize: config.offload ? FRAMES_PER_OFFLOAD_BATCH : BATCH_SIZE,
      }, now);
      if (cfg.encap.kind === 'vxlan') {
        if (cfg.group !== undefined) sender.multicast(groupIfindex, cfg.group.ttl);
        byVni.get(cfg.encap.port)!.set(cfg.encap.vni, net);
      } else {
        byKey.set(cfg.encap.key, net);
      }
      const tap = this.open(() => Tap.open(cfg.tap, config.offload), `TAP ${cfg.tap}`);
      this.undo.push(() => tap.close());
      this.configureTap(cfg, mtu, existed);
      const id = cfg.encap.kind === 'vxlan' ? cfg.encap.vni : cfg.encap.key;
      this.infos.push({ net, encap: cfg.encap.kind, id, tap: cfg.tap });
      datapath.attach({ net, tap, sender });
      this.mirror.register(net, { protocol, ttl: cfg.ttl, df: cfg.df, lanePorts: sender instanceof LaneSender ? sender.ports : undefined });
      log.info(`network ${cfg.name}: TAP ${cfg.tap} (${existed ? 'attached' : 'created'}, MTU ${mtu}${cfg.address ? `, ${cfg.address}` : ''}) <-> ${describeEncap(cfg)}${cfg.group ? `, group ${formatIpv4(cfg.group.address)} on ${cfg.group.dev} ttl ${cfg.group.ttl}` : ''}, remotes ${cfg.remotes.map(formatIpv4).join(', ') || 'none'}${cfg.statics.length ? `, ${cfg.statics.length} static` : ''}`);
    }

    removeStaleSocket(config.socket);
    const server = await ControlServer.listen(config.socket, (req) => this.answer(req));
    this.undo.push(() => server.close());

    this.timer = setInterval(() => {
      const t = monotonicSeconds();
      for (const { net } of this.infos) net.fdb.run(t);
    }, AGEING_TICK_MS);
    this.undo.push(() => clearInterval(this.timer));
    log.info(`ready: ${this.infos.length} network${this.infos.length > 1 ? 's' : ''}, control socket ${config.socket}, ${config.offload ? 'TSO and checksum offload on the TAPs' : 'offloads off'}`);
  }

  private configureTap(cfg: NetworkConfig, mtu: number, existed: boolean): void {
    setUp(cfg.tap, mtu);
    if (cfg.address !== undefined && !hasAddress(cfg.tap, cfg.address)) {
      ip('addr', 'add', cfg.address, 'dev', cfg.tap);
      // A TAP we created vanishes with its descriptor; on one we found, we remove only what we added.
      if (existed) this.undo.push(() => ip('addr', 'del', cfg.address!, 'dev', cfg.tap));
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

  private answer(req: Request): Reply<FdbRow[] | StatsReport> | Streaming {
    if ((req.cmd === 'fdb' || req.cmd === 'capture') && req.network !== undefined && !this.infos.some((i) => i.net.name === req.network)) {
      return { ok: false, error: `no network named "${req.network}" (networks: ${this.infos.map((i) => i.net.name).join(', ')})` };
    }
    if (req.cmd === 'fdb') return { ok: true, data: fdbRows(this.infos, monotonicSeconds(), req.network) };
    if (req.cmd === 'capture') {
      const side = req.side ?? 'both';
      if (!['tap', 'tunnel', 'both'].includes(side)) return { ok: false, error: `side must be tap, tunnel or both, not ${JSON.stringify(side)}` };
      if (req.count !== undefined && !(Number.isInteger(req.count) && req.count > 0)) return { ok: false, error: 'count must be a positive integer' };
      return {
        stream: (send, end) => {
          send({ ok: true, data: { capturing: true } });
          return this.mirror.start({ network: req.network, side, count: req.count }, (packet) => send({ packet }), () => end({ end: true }));
        },
      };
    }
    if (req.cmd === 'stats') return { ok: true, data: statsReport(this.infos, this.datapath.unattributed) };
    return { ok: false, error: `unknown command ${JSON.stringify((req as { cmd?: unknown }).cmd)}` };
  }

  private rollback(): void {
    while (this.undo.length > 0) {
      try {
        this.undo.pop()!();
      } catch (e) {
        this.log.warn(`while cleaning up: ${(e as Error).message}`);
      }
    }
  }

  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.datapath?.stopPolling();
    this.rollback();
  }
}
