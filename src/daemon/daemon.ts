// Wiring and lifecycle. Start-up first looks (privileges, addresses, device
// names, the control socket) and only then changes the system. Each network
// is a unit that can be added and removed while the daemon runs: adding one
// records every change it makes with its undo, so a failure half-way leaves
// nothing behind, and removing it undoes the same list (TAPs we created
// vanish with their descriptor, addresses we added to TAPs we found are
// removed). Receive sockets are shared by the networks they serve and close
// with the last of them.
import { existsSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import { answer, RefusedError } from '../control/commands.ts';
import type { DaemonView, RunningView } from '../control/daemon-view.ts';
import type { TraceReport, TraceRequest } from '../control/protocol.ts';
import { trace } from '../observe/trace.ts';
import { ConfigError, type Config, type NetworkConfig } from '../config/config.ts';
import type { ControlStats } from '../control/protocol.ts';
import type { Logger } from '../observe/log.ts';
import { EventHub } from '../observe/monitor.ts';
import { EvpnSpeaker } from '../evpn/speaker.ts';
import { GOBGP_API_DIR } from '../evpn/gobgp.ts';
import { Mirror } from '../observe/capture.ts';
import { ControlServer, removeStaleSocket, socketPathState } from '../control/server.ts';
import { MetricsServer, metricsRegistry } from '../observe/metrics.ts';
import { statsReport } from '../observe/report.ts';
import { dropPrivileges, lookupGroup, lookupUser, type Account } from '../host/privileges.ts';
import type { Systemd } from '../host/systemd.ts';
import { Datapath, HEADROOM, monotonicSeconds, type ReceivePoint } from '../datapath/datapath.ts';
import {
  CAP_NET_ADMIN, CAP_NET_RAW, hasAddress, hasCapability, interfaceWithAddress, ip, linkAddresses, linkIndex, linkKind, linkMtu, setUp, vethWithTxChecksum,
} from '../io/link.ts';
import { Channel, NameLock } from '../io/channel.ts';
import { HANDOFF_VERSION, Inherited, receiveHandoff, startSuccessor, TAKEOVER_TIMEOUT_MS, type HandoffState, type NetworkHandoff } from './upgrade.ts';
import { restoreNetwork, snapshotNetwork } from '../switch/snapshot.ts';
import { errnoCode } from '../io/native.ts';
import { LaneSender, RawSender, Receiver, type TunnelSender } from '../io/port.ts';
import { MIN_TOO_BIG_MTU_V4, MIN_TOO_BIG_MTU_V6 } from '../wire/too-big.ts';
import { NextHops } from '../io/next-hops.ts';
import { PacketSender } from '../io/packet-sender.ts';
import { Tap } from '../io/tap.ts';
import { Hold } from '../switch/remotes.ts';
import { Network } from '../switch/network.ts';
import { announcement } from '../switch/announce.ts';
import { derivedMac, formatMac, parseMac } from '../wire/mac.ts';
import { tunnelFor } from '../tunnel/index.ts';
import type { ReceiveSocket, SendSocket, Tunnel } from '../tunnel/tunnel.ts';
import { formatIp, isV4Mapped, parseIp } from '../wire/ip-address.ts';
import { PMTU_EXPIRES_S } from '../switch/remotes.ts';
import { outerIpLen } from '../tunnel/outer.ts';
import { IpProto } from '../wire/ipv4.ts';
import { Batch } from '../datapath/batch.ts';
import { newTooBigRepr, parseTooBig4, parseTooBig6 } from '../wire/icmp-error.ts';
import { IcmpCounters, judgeTooBig } from '../switch/pmtu-guard.ts';
import { flowHashSeed, setFlowHashSeed } from '../wire/flow-hash.ts';
import { randomInt } from 'node:crypto';

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
/** Longest wait between two tries at creating a deleted TAP again. */
const TAP_RETRY_MAX_S = 30;
/** How often, and how many times, to look again for TAP addresses that were in duplicate address detection. */
const ANNOUNCE_TENTATIVE_MS = 1000;
const ANNOUNCE_TENTATIVE_TRIES = 5;
/** Frames the kernel queues for a TAP vtepd creates, before it drops (tun's default is 500). */
const TAP_QUEUE_LEN = 4096;
/** How often senders' error queues are emptied (what they hold is not believed: see IcmpErrors). */
const ERROR_QUEUE_DRAIN_MS = 100;
/** ICMP errors read per wakeup at most: a flood of forged ones cannot hold the event loop. */
const ICMP_BATCH = 32;
const ICMP_ROUNDS = 4;
/** Least time between two warnings about ICMP errors that were not believed. */
const ICMP_WARNING_INTERVAL_S = 60;
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
  sender: TunnelSender;
  /** Its TAP; undefined while it is gone (deleted under the daemon) and not yet created again. */
  tap: Tap | undefined;
  mtu: number;
  /** Why it cannot forward now, if it cannot (its TAP is gone). */
  failure: string | undefined;
  /** The next try at creating its TAP again. */
  retry: ReturnType<typeof setTimeout> | undefined;
  /** Whether its TAP was there before vtepd attached to it (it then stays when the network goes). */
  existed: boolean;
  /** The address vtepd added to a TAP it found (removed again when the network goes). */
  addedAddress: string | undefined;
  /** The name that keeps other daemons off its tunnel id. */
  lock: NameLock;
  /** Keys of the shared receive sockets it holds. */
  receivers: string[];
  /** Its changes to the system, undone in reverse order when it goes. */
  undo: (() => void)[];
}

/** The settings a network cannot change in place: a change restarts that network alone. */
const RESTART_KEYS = ['tap', 'tunnel', 'group', 'mtu', 'greSocket'] as const;
/** How the reload message names them: as the config file does. */
const CONFIG_NAMES: Partial<Record<keyof NetworkConfig, string>> = { greSocket: 'gre-socket' };

interface SharedReceiver {
  point: ReceivePoint;
  refs: number;
}

/** Whether a command is on the PATH. */
function onPath(command: string): boolean {
  return (process.env.PATH ?? '').split(':').some((dir) => dir !== '' && existsSync(`${dir}/${command}`));
}

/** The slot size that holds a frame of `mtu` with the room every frame is read with. */
function slotFor(mtu: number): number {
  return Math.max(MIN_SLOT, Math.ceil((mtu + FRAME_OVERHEAD + HEADROOM + 64) / 64) * 64);
}

export class Daemon implements DaemonView {
  private readonly undo: (() => void)[] = [];
  readonly networks = new Map<string, RunningNetwork>();
  private readonly receivers = new Map<string, SharedReceiver>();
  datapath!: Datapath;
  readonly mirror: Mirror;
  readonly events = new EventHub();
  evpn: EvpnSpeaker | undefined;
  private control: ControlServer | undefined;
  private metrics: MetricsServer | undefined;
  /** The user to become once everything that needs root is open, and the control socket's group. */
  private account: Account | undefined;
  private socketGid: number | undefined;
  /** systemd's notify socket, when it runs as a Type=notify service. */
  systemd: Systemd | undefined;
  /** What a predecessor passed on, while this daemon takes over from it. */
  private inherited: Inherited | undefined;
  private upgrading = false;
  /** The kernel's next hops for GRE on packet sockets, watched once for every network. */
  private nextHops: NextHops | undefined;
  /** Called once a successor took over: this process then exits, changing nothing. */
  onHandedOver: () => void = () => {};
  readonly local: Uint8Array;
  private underlay = '';
  private underlayMtu = DEFAULT_UNDERLAY_MTU;
  private stopped = false;
  /** Monotonic seconds of the last partial-checksum warning, per network. */
  private readonly lastPartialWarning = new Map<string, number>();
  /** ICMP "too big" errors sent to this VTEP: believed, or ignored and why. */
  readonly icmp = new IcmpCounters();
  /** Ignored ICMP errors since the last warning about them, and when that was. */
  private icmpIgnoredSinceWarning = 0;
  private lastIcmpWarning = -Infinity;

  private constructor(private config: Config, readonly log: Logger, private readonly reread: (() => Config) | undefined) {
    this.local = parseIp(config.local)!;
    this.mirror = new Mirror(this.local);
  }

  now(): number {
    return monotonicSeconds();
  }

  trace(run: RunningView, t: TraceRequest): TraceReport {
    return trace(run.net, t, this.local, run.cfg.tap, run.cfg.address);
  }

  get controlStats(): ControlStats {
    return this.control?.stats ?? { clients: 0, refused: 0, 'idle-closed': 0, 'slow-readers': 0, 'lines-dropped': 0 };
  }

  get localText(): string {
    return this.config.local;
  }

  /** `reread`: reads the config file again, for reload (none when the config came from flags). */
  static async start(config: Config, log: Logger, reread?: () => Config): Promise<Daemon> {
    setFlowHashSeed(randomInt(0x1_0000_0000));
    const d = new Daemon(config, log, reread);
    const plan = await d.look();
    try {
      await d.build(plan);
    } catch (e) {
      await d.stop();
      throw e;
    }
    return d;
  }

  /**
   * Takes over from the running vtepd that started this one (`vtepctl
   * upgrade`), on `channel`: its descriptors, config and tables. A failure
   * changes nothing (the old one carries on) and is thrown.
   */
  static async takeOver(channel: Channel, log: Logger, reread?: () => Config): Promise<Daemon> {
    const inherited = receiveHandoff(channel);
    const { state } = inherited;
    // Flows keep their source ports and labels across the upgrade.
    setFlowHashSeed(state.flowHashSeed ?? randomInt(0x1_0000_0000));
    const d = new Daemon(state.config, log, reread);
    d.inherited = inherited;
    try {
      await d.build(await d.look());
      const now = monotonicSeconds();
      for (const run of d.networks.values()) {
        const h = state.networks[run.cfg.name];
        if (h !== undefined) restoreNetwork(run.net, h.tables, now);
      }
      d.datapath.unattributed.drops.set(state.unattributed.slice(0, d.datapath.unattributed.drops.length));
    } catch (e) {
      // Nothing to undo: what it opened closes with the process, and the system is the old one's.
      channel.send({ ok: false, error: (e as Error).message });
      throw e;
    } finally {
      inherited.closeRest();
      d.inherited = undefined;
    }
    channel.send({ ok: true });
    channel.close();
    if (d.config.metrics !== undefined) {
      // The old vtepd is on its way out: a port that stays taken costs the metrics, not the forwarding.
      await d.serveMetrics(d.config.metrics, true).catch((e: Error) => log.error(e.message));
    }
    const macs = [...d.networks.values()].reduce((n, r) => n + r.net.fdb.size, 0);
    log.info(`took over from vtepd ${state.from}: ${d.networks.size} network${d.networks.size === 1 ? '' : 's'}, ${macs} MACs`);
    return d;
  }

  /**
   * Starts the vtepd on disk as this one's successor and hands everything
   * over; resolves with its PID once it forwards (this one then exits via
   * onHandedOver). On failure this one resumes, and the reason is thrown.
   */
  async upgrade(): Promise<{ pid: number; previous: number }> {
    if (this.evpn !== undefined) {
      throw new RefusedError('upgrade with BGP EVPN is not supported yet: the BGP sessions would drop; restart vtepd instead');
    }
    if (this.upgrading) throw new RefusedError('an upgrade is under way already');
    const controlFd = this.control!.descriptor;
    this.upgrading = true;
    this.log.info('upgrade: starting the vtepd on disk to take over');
    const successor = startSuccessor();
    try {
      await successor.next();
      this.datapath.pause();
      const { state, fds } = this.handoffState(controlFd);
      successor.channel.send(state, fds);
      const answer = (await successor.next(TAKEOVER_TIMEOUT_MS)) as { ok: boolean; error?: string };
      if (!answer.ok) throw new Error(`the new vtepd could not take over: ${answer.error ?? 'no reason given'}`);
    } catch (e) {
      if (successor.child.exitCode === null) successor.child.kill('SIGKILL');
      successor.channel.close();
      this.datapath.resume();
      this.upgrading = false;
      this.log.error(`upgrade failed, this vtepd carries on: ${(e as Error).message}`);
      throw e;
    }
    successor.channel.close();
    this.control?.stopListening();
    this.metrics?.close();
    const pid = successor.child.pid!;
    this.log.info(`upgrade: vtepd ${pid} took over; this one (${process.pid}) exits`);
    // The reply to vtepctl goes out first.
    setTimeout(() => this.onHandedOver(), 100);
    return { pid, previous: process.pid };
  }

  /** What a successor needs: the descriptors the world knows, and the state no config says. */
  private handoffState(controlFd: number): { state: HandoffState; fds: number[] } {
    const roles: string[] = ['control'];
    const fds: number[] = [controlFd];
    const networks: Record<string, NetworkHandoff> = {};
    const now = monotonicSeconds();
    for (const run of this.networks.values()) {
      if (run.tap === undefined) throw new RefusedError(`network ${run.cfg.name} has no TAP now (${run.failure}); upgrade once it is back`);
      const lock = run.lock;
      roles.push(`tap ${run.cfg.name}`, `lock ${run.cfg.name}`);
      fds.push(run.tap.fd, lock.descriptor);
      networks[run.cfg.name] = {
        existed: run.existed, addedAddress: run.addedAddress, offload: run.tap.offload, vnetHdr: run.tap.vnetHdr, tables: snapshotNetwork(run.net, now),
      };
    }
    for (const [key, shared] of this.receivers) {
      roles.push(`rx ${key}`);
      fds.push(shared.point.rx.fd);
    }
    return {
      state: {
        version: HANDOFF_VERSION, from: process.pid, config: this.config, roles, networks, unattributed: Array.from(this.datapath.unattributed.drops),
        flowHashSeed: flowHashSeed(),
      },
      fds,
    };
  }

  /** Everything that can be checked without changing the system. */
  private async look(): Promise<Planned[]> {
    const { config, log } = this;
    if (!hasCapability(CAP_NET_ADMIN) || !hasCapability(CAP_NET_RAW)) {
      throw new StartupError('needs CAP_NET_ADMIN and CAP_NET_RAW to create TAPs and raw sockets: run it as root, or give it these two capabilities (AmbientCapabilities=CAP_NET_ADMIN CAP_NET_RAW in its systemd unit)');
    }
    const underlay = interfaceWithAddress(config.local);
    if (underlay === undefined) {
      throw new StartupError(`local: ${config.local} is not an address of this host (see \`ip addr\`); give the underlay address of this VTEP`);
    }
    this.underlay = underlay;
    this.underlayMtu = linkMtu(underlay) ?? DEFAULT_UNDERLAY_MTU;
    const plan = config.networks.map((cfg) => this.plan(cfg, this.inherited?.existing));
    if (config.evpn !== undefined) {
      if (!existsSync(`${GOBGP_API_DIR}/gobgp.proto`)) throw new StartupError(`evpn: GoBGP's API (${GOBGP_API_DIR}) is not installed: install the Debian package golang-github-osrg-gobgp-dev`);
      if (config.evpn.gobgp === undefined && !onPath('gobgpd')) throw new StartupError('evpn: gobgpd is not installed: install the Debian package gobgpd, or name a running one with evpn.gobgp');
    }
    if (this.inherited !== undefined) {
      // The predecessor's socket: it answers there until this one takes over.
    } else if (!existsSync(dirname(config.socket))) {
      throw new StartupError(`socket: the directory of ${config.socket} does not exist; create it or choose another path`);
    }
    switch (this.inherited !== undefined ? 'absent' : await socketPathState(config.socket)) {
      case 'in-use':
        throw new StartupError(`socket: another vtepd answers on ${config.socket}; stop it or give this one another socket (--socket PATH)`);
      case 'directory':
        throw new StartupError(`socket: ${config.socket} is a directory; give the path of the socket file, such as ${config.socket.replace(/\/$/, '')}/vtepd.sock`);
      case 'not-a-socket':
        throw new StartupError(`socket: ${config.socket} exists and is not a socket; vtepd removes only a stale socket there: move that file away or choose another path`);
      default:
    }
    const { group } = config.socketAccess;
    if (group !== undefined) {
      this.socketGid = lookupGroup(group);
      if (this.socketGid === undefined) throw new StartupError(`socket-group: there is no group "${group}" on this host (see \`getent group\`); create it or name another`);
    }
    if (config.user !== undefined && this.inherited === undefined) {
      const account = lookupUser(config.user);
      if (account === undefined) throw new StartupError(`user: there is no user "${config.user}" on this host (see \`id ${config.user}\`); create it (useradd --system ${config.user}) or name another`);
      // Already that user (a systemd unit with User=, or a successor after an upgrade): nothing to drop.
      if (account.uid !== process.getuid!()) {
        if (process.getuid!() !== 0) throw new StartupError(`user: vtepd runs as uid ${process.getuid!()}, not root: it cannot become ${config.user}; start it as root, or as ${config.user} with the two capabilities`);
        if (config.evpn !== undefined && config.evpn.gobgp === undefined) {
          throw new StartupError(`user: the gobgpd vtepd starts for evpn runs as root (it listens on port 179), and vtepd could not stop it as ${config.user}: run gobgpd yourself and name it with evpn.gobgp, or leave out user`);
        }
        this.account = account;
        if ((statSync('/dev/net/tun').mode & 0o006) !== 0o006) {
          log.warn(`user: /dev/net/tun is not readable and writable by all (mode ${(statSync('/dev/net/tun').mode & 0o777).toString(8)}): as ${config.user}, vtepd could not create a TAP later (one deleted under it, a network added by a reload); chmod 0666 /dev/net/tun, as udev does by default`);
        }
      }
    }
    if (vethWithTxChecksum(underlay)) {
      log.warn(`underlay ${underlay} is a veth with TX checksum offload on: a kernel VTEP behind such a veth sends inner TCP/UDP packets with partial checksums that the receiving host drops (ping works, TCP does not). Run \`ethtool -K DEV tx off\` on both ends of the veth.`);
    }
    log.debug(`underlay ${underlay} (MTU ${this.underlayMtu}), local ${config.local}`);
    return plan;
  }

  /**
   * Checks one network against the system: its TAP name, MTU and group
   * interface. `freed`: TAPs of networks about to go (a reload), with whether
   * each was there before vtepd: their names count as free, or as theirs.
   */
  private plan(cfg: NetworkConfig, freed = new Map<string, boolean>()): Planned {
    const mine = freed.get(cfg.tap);
    const kind = mine === undefined ? linkKind(cfg.tap) : mine ? 'tap' : 'absent';
    if (kind === 'other') {
      throw new StartupError(`networks.${cfg.name}.tap: "${cfg.tap}" is taken by a device that is not a TAP; choose another name or delete that device`);
    }
    if (kind === 'tun') {
      throw new StartupError(`networks.${cfg.name}.tap: "${cfg.tap}" is a TUN (layer 3) device, not a TAP; choose another name or delete it`);
    }
    const tunnel = tunnelFor(cfg.tunnel);
    const fit = this.underlayMtu - outerIpLen(this.local) - tunnel.overhead;
    const mtu = cfg.mtu ?? fit;
    if (mtu < 68) throw new StartupError(`networks.${cfg.name}.mtu: the underlay ${this.underlay} has MTU ${this.underlayMtu}, too small to carry a network; set mtu`);
    if (mtu > fit) {
      this.log.warn(`network ${cfg.name}: MTU ${mtu} is above the ${fit} that fits the underlay ${this.underlay} (MTU ${this.underlayMtu}): larger frames are not sent; their senders get ICMP "fragmentation needed" (IPv4 with DF) or "packet too big" (IPv6) with MTU ${fit}`, { network: cfg.name });
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
    datapath.onIoError = (what, errno, port) => {
      const run = [...this.networks.values()].find((r) => r.tap === port);
      if (run !== undefined) this.tapLost(run, errno);
      else log.error(`${what} failed (errno ${errno}); that descriptor is no longer read`);
    };
    datapath.onPartialChecksum = (net, remote) => this.warnPartialChecksum(net, remote);
    for (const p of plan) this.addNetwork(p);
    const inheritedControl = this.inherited?.control();
    if (inheritedControl === undefined) removeStaleSocket(config.socket);
    const access = { mode: config.socketAccess.mode, gid: this.socketGid, mutations: config.socketAccess.mutations };
    const server = (this.control = await ControlServer.listen(config.socket, (verb, req) => answer(this, verb, req), config.control, inheritedControl, access));
    server.onDrop = (why) => log.warn(`control: ${why}`);
    this.undo.push(() => server.close());
    // A successor serves metrics once its predecessor let the port go (takeOver).
    if (config.metrics !== undefined && this.inherited === undefined) await this.serveMetrics(config.metrics, false);
    const timer = setInterval(() => {
      const t = monotonicSeconds();
      this.followUnderlayMtu();
      for (const { net } of this.networks.values()) net.tick(t);
    }, AGEING_TICK_MS);
    this.undo.push(() => clearInterval(timer));
    const drainTimer = setInterval(() => {
      for (const run of this.networks.values()) run.sender.drainErrors();
    }, ERROR_QUEUE_DRAIN_MS);
    this.undo.push(() => clearInterval(drainTimer));
    const icmp = this.open(() => Receiver.icmpErrors(this.local), 'a raw ICMP socket for path MTU discovery');
    this.undo.push(() => icmp.close());
    const icmpBatch = new Batch(ICMP_BATCH, MIN_SLOT, 0);
    icmp.watch(() => this.readIcmpErrors(icmp, icmpBatch));
    if (config.evpn !== undefined) {
      const speaker = (this.evpn = await EvpnSpeaker.start(config.evpn, config.local, this.events, log));
      this.undo.push(() => void speaker.stop());
      for (const run of this.networks.values()) this.joinEvpn(run);
    }
    // Everything that needs root is open: from here on, the user and two capabilities (--user).
    if (this.account !== undefined) {
      dropPrivileges(this.account);
      log.info(`running as ${this.account.name} (uid ${this.account.uid}) with CAP_NET_ADMIN and CAP_NET_RAW only`);
    }
    const n = this.networks.size;
    log.info(`ready: ${n} network${n > 1 ? 's' : ''}, control socket ${config.socket}, ${config.offload ? 'TSO and checksum offload on the TAPs' : 'offloads off'}`);
  }

  /**
   * Serves /metrics. A successor (upgrade) waits for its predecessor to let
   * the port go, which it does once the successor forwards (`waitForPort`).
   */
  private async serveMetrics({ host, port }: { host: string; port: number }, waitForPort: boolean): Promise<void> {
    const registry = metricsRegistry({
      stats: () => statsReport([...this.networks.values()].map(({ net, cfg, failure, sender }) => ({ net, tap: cfg.tap, failure, sender })), this.datapath.unattributed,
        this.controlStats, undefined, this.icmp),
      mtu: (name) => this.networks.get(name)?.mtu,
    });
    const where = host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
    for (let waited = 0; ; waited += 100) {
      try {
        const server = (this.metrics = await MetricsServer.listen(host, port, registry));
        this.undo.push(() => server.close());
        this.log.info(`metrics: serving http://${where}/metrics`);
        return;
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code === 'EADDRINUSE' && waitForPort && waited < 5000) {
          await new Promise((r) => setTimeout(r, 100));
          continue;
        }
        const why = code === 'EADDRINUSE' ? 'the port is in use' : code === 'EADDRNOTAVAIL' ? 'that address is not one of this host\'s' : (e as Error).message;
        throw new StartupError(`metrics: cannot listen on ${where}: ${why}; choose another ADDRESS:PORT`);
      }
    }
  }

  /** Opens a planned network's sockets and TAP and starts forwarding; on failure, undoes what it did and throws. */
  private addNetwork(p: Planned): void {
    const { cfg, tunnel } = p;
    const run: RunningNetwork = {
      cfg, net: undefined!, sender: undefined!, tap: undefined, mtu: p.mtu, failure: undefined, retry: undefined, existed: p.existed,
      addedAddress: undefined, lock: undefined!, receivers: [], undo: [],
    };
    try {
      this.datapath.ensureSlotSize(slotFor(p.mtu));
      // Sockets first: a port already in use must fail before any TAP appears.
      const primary = this.holdReceiver(run, tunnel.receiveSocket, tunnel);
      if (cfg.group !== undefined) this.holdGroupReceiver(run, cfg, tunnel, primary, p.groupIfindex);
      // One daemon per tunnel id and address: the name stays taken until this network goes (or the process).
      const lock = this.inherited?.lock(cfg.name) ?? this.takeName(`vtepd ${this.config.local} ${tunnel.identity}`,
        `${tunnel.describe()} on ${this.config.local} is served by another vtepd on this host: stop that one, or give network ${cfg.name} another ${tunnel.identityPath.join('.')}`);
      run.lock = lock;
      run.undo.push(() => lock.release());
      const sender = (run.sender = this.openSender(tunnel.sendSocket(this.config.offload), cfg));
      run.undo.push(() => sender.close());
      const net = (run.net = new Network({
        name: cfg.name, tunnel, encap: tunnel.encap(sender.lanePorts), ttl: cfg.ttl, df: cfg.df, ipv6: !isV4Mapped(this.local),
        underlayMtu: this.underlayMtu, acceptAnyRemote: cfg.acceptAnyRemote,
        ageing: cfg.ageing, maxMacs: cfg.maxMacs, arpResponder: cfg.arpResponder, arpSnoop: cfg.arpSnoop, learning: cfg.learning,
        batchSize: this.datapath.framesPerBatch, maxFrame: p.mtu + FRAME_OVERHEAD,
      }));
      this.applyTables(run, undefined, cfg);
      net.events = this.events;
      if (cfg.group !== undefined) {
        net.holdRemote(parseIp(cfg.group.address)!, Hold.Group);
        sender.multicast(p.groupIfindex, cfg.group.ttl);
      }
      const given = this.inherited?.tap(cfg.name);
      const tap = (run.tap = given?.tap ?? this.open(() => Tap.open(cfg.tap, this.config.offload), `TAP ${cfg.tap}`));
      run.undo.push(() => run.tap?.close());
      run.undo.push(() => clearTimeout(run.retry));
      if (this.config.offload && !tap.offload) this.log.warn(`network ${cfg.name}: the kernel refused TSO and checksum offload on TAP ${cfg.tap}; frames come whole`, { network: cfg.name });
      // A TAP taken over is set up already, and its hosts' neighbours know it.
      if (given === undefined) this.configureTap(run);
      else if (given.addedAddress !== undefined) this.removeOnExit(run, given.addedAddress);
      primary.demux.set(tunnel.id, net);
      run.undo.push(() => primary.demux.delete(tunnel.id));
      this.datapath.attach({ net, device: tap, sender });
      run.undo.push(() => this.datapath.detach(net));
      if (given === undefined) this.announceTap(run);
      this.networks.set(cfg.name, run);
      this.applyZeroChecksum();
      this.joinEvpn(run);
    } catch (e) {
      this.undoNetwork(run);
      throw e;
    }
    this.log.info(`network ${cfg.name}: TAP ${cfg.tap} (${p.existed ? 'attached' : 'created'}, MTU ${p.mtu}${cfg.address ? `, ${cfg.address}` : ''}) <-> ${tunnel.describe()}${cfg.group ? `, group ${cfg.group.address} on ${cfg.group.dev} ttl ${cfg.group.ttl}` : ''}, remotes ${cfg.remotes.join(', ') || 'none'}${cfg.statics.length ? `, ${cfg.statics.length} static` : ''}`, { network: cfg.name });
  }

  /** Stops a network's forwarding and undoes every change it made; its shared sockets close if no other network holds them. */
  private removeNetwork(name: string): void {
    const run = this.networks.get(name);
    if (run === undefined) return;
    this.evpn?.remove(name);
    this.networks.delete(name);
    this.undoNetwork(run);
    this.applyZeroChecksum();
  }

  /** UDP/IPv6 sockets take datagrams with a zero checksum while a network on their port asks for it (udp6-zero-csum-rx). */
  private applyZeroChecksum(): void {
    if (isV4Mapped(this.local)) return;
    for (const { point } of this.receivers.values()) {
      if (!(point.rx instanceof Receiver) || point.port === 0) continue;
      const on = [...this.networks.values()].some(({ cfg }) => cfg.udp6ZeroCsumRx && cfg.tunnel.kind === 'vxlan' && cfg.tunnel.port === point.port);
      point.rx.acceptZeroChecksum6(on);
    }
  }

  /** An EVPN network is advertised, and programmed from the fabric. */
  private joinEvpn(run: RunningNetwork): void {
    const { cfg, net } = run;
    if (this.evpn === undefined || cfg.evpn === undefined || cfg.tunnel.kind !== 'vxlan') return;
    this.evpn.add(net, cfg.evpn, cfg.tunnel.vni);
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
      const given = this.inherited?.receiver(key);
      const [rx, name, port]: [Receiver, string, number] = spec.kind === 'udp'
        ? [given ?? this.open(() => Receiver.udp(local, spec.port), `UDP port ${spec.port} on ${config.local}`), `the VXLAN socket on port ${spec.port}`, spec.port]
        : [given ?? this.open(() => Receiver.raw(spec.protocol, local), `a raw ${PROTOCOL_NAMES[spec.protocol]} socket`), `the raw ${PROTOCOL_NAMES[spec.protocol]} socket`, 0];
      if (spec.kind === 'udp' && config.offload) rx.enableGro();
      shared = { point: { rx, demux: tunnel.newDemux(!isV4Mapped(local)), local, port, name }, refs: 0 };
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
      const rx = this.inherited?.receiver(key) ?? this.open(() => Receiver.group(address, port, ifindex), `group ${group.address} port ${port} on ${group.dev}`);
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
        if (spec.protocol === IpProto.GRE && cfg.greSocket === 'packet') {
          const hops = (this.nextHops ??= new NextHops(local));
          return this.open(() => PacketSender.open(spec.protocol, local, cfg.ttl, cfg.df, hops),
            `a packet socket and a raw ${PROTOCOL_NAMES[spec.protocol]} socket for network ${cfg.name}`);
        }
        return this.open(() => RawSender.open(spec.protocol, local, cfg.ttl, cfg.df),
          `a raw ${PROTOCOL_NAMES[spec.protocol]} socket for network ${cfg.name}`);
    }
  }

  private configureTap(run: RunningNetwork): void {
    const { cfg } = run;
    // The same MAC at every start: the hosts behind other VTEPs keep theirs cached for minutes.
    const mac = cfg.mac ?? (run.existed ? undefined : derivedMac(`vtepd ${this.config.local} ${cfg.tap}`));
    if (mac !== undefined) ip('link', 'set', 'dev', cfg.tap, 'address', formatMac(mac));
    // A TAP's queue holds 500 frames (tun's default): 10 ms at 50k frames/s, less than a pause of
    // the event loop. A TAP vtepd creates gets a queue like a NIC's ring; one it finds keeps its own.
    if (!run.existed) ip('link', 'set', 'dev', cfg.tap, 'txqueuelen', String(TAP_QUEUE_LEN));
    setUp(cfg.tap, run.mtu);
    if (cfg.address !== undefined && !hasAddress(cfg.tap, cfg.address)) {
      ip('addr', 'add', cfg.address, 'dev', cfg.tap);
      // A TAP we created vanishes with its descriptor; on one we found, we remove only what we added.
      if (run.existed) this.removeOnExit(run, cfg.address);
    }
  }

  private removeOnExit(run: RunningNetwork, address: string): void {
    run.addedAddress = address;
    run.undo.push(() => ip('addr', 'del', address, 'dev', run.cfg.tap));
  }

  /**
   * A network's TAP failed to read: it was deleted under the daemon. The
   * network is reported failed (what goes to the TAP counts as tx-failed) and
   * its TAP is created again, after 1, 2, 4... up to 30 s, each try logged.
   */
  private tapLost(run: RunningNetwork, errno: number): void {
    this.log.error(`network ${run.cfg.name}: TAP ${run.cfg.tap} failed to read (errno ${errno}): it was deleted or broken`, { network: run.cfg.name });
    run.tap?.close();
    run.tap = undefined;
    // A TAP someone else made is gone for good: the one vtepd makes goes with vtepd.
    run.existed = false;
    this.retryTap(run, 1);
  }

  private retryTap(run: RunningNetwork, attempt: number): void {
    const { cfg } = run;
    const delay = Math.min(TAP_RETRY_MAX_S, 2 ** (attempt - 1));
    run.failure = `TAP ${cfg.tap} is gone; creating it again (try ${attempt} in ${delay} s)`;
    this.log.warn(`network ${cfg.name}: ${run.failure}`, { network: cfg.name });
    run.retry = setTimeout(() => {
      run.retry = undefined;
      let tap: Tap | undefined;
      try {
        tap = this.open(() => Tap.open(cfg.tap, this.config.offload), `TAP ${cfg.tap}`);
        run.tap = tap;
        this.configureTap(run);
      } catch (e) {
        tap?.close();
        run.tap = undefined;
        this.log.error(`network ${cfg.name}: creating TAP ${cfg.tap} again failed: ${(e as Error).message}`, { network: cfg.name });
        this.retryTap(run, attempt + 1);
        return;
      }
      this.datapath.replaceDevice(run.net, tap);
      run.failure = undefined;
      this.log.info(`network ${cfg.name}: TAP ${cfg.tap} created again (try ${attempt}); forwarding`, { network: cfg.name });
      this.announceTap(run);
    }, delay * 1000);
  }

  /**
   * Tells the network's peers where the TAP's addresses are (gratuitous ARP,
   * unsolicited NA), once each: now for those ready, and for an IPv6 address
   * still in duplicate address detection once that is over.
   */
  private announceTap(run: RunningNetwork, done = new Set<string>(), tries = 0): void {
    const link = linkAddresses(run.cfg.tap);
    const mac = link === undefined ? undefined : parseMac(link.mac);
    if (link === undefined || mac === undefined) return;
    const fresh = link.addresses.filter((a) => !done.has(a));
    if (fresh.length > 0) {
      this.datapath.injectFromTap(run.net, fresh.map((a) => announcement(mac, parseIp(a)!)));
      for (const a of fresh) done.add(a);
      this.log.debug(`network ${run.cfg.name}: announced ${fresh.join(', ')} at ${link.mac}`, { network: run.cfg.name });
    }
    if (link.tentative === 0 || tries >= ANNOUNCE_TENTATIVE_TRIES) return;
    const timer = setTimeout(() => this.announceTap(run, done, tries + 1), ANNOUNCE_TENTATIVE_MS);
    run.undo.push(() => clearTimeout(timer));
  }

  private takeName(name: string, taken: string): NameLock {
    try {
      return NameLock.take(name);
    } catch (e) {
      if (errnoCode(e) === 'EADDRINUSE') throw new StartupError(taken);
      throw e;
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
      if (code === 'EACCES' && what.startsWith('TAP') && process.getuid!() !== 0) {
        throw new StartupError(`${what}: permission denied opening /dev/net/tun: a vtepd that is not root needs it readable and writable by all (mode 0666, udev's default: chmod 0666 /dev/net/tun)`);
      }
      if (code === 'EPERM' || code === 'EACCES') throw new StartupError(`${what}: permission denied; run it as root`);
      if (code === 'EINVAL' && what.startsWith('TAP')) throw new StartupError(`${what}: the existing device has other flags (multi-queue or vnet header?); delete it or choose another name`);
      throw e;
    }
  }

  /**
   * The underlay's MTU changed (jumbo frames turned on, a smaller link): every
   * remote's path MTU starts from the new value (a lower one learned from ICMP
   * stays while it is lower). The TAPs keep their MTU: frames that no longer
   * fit get "too big" back. One sysfs read a second.
   */
  private followUnderlayMtu(): void {
    const mtu = linkMtu(this.underlay);
    if (mtu === undefined || mtu === this.underlayMtu) return;
    this.log.info(`underlay ${this.underlay}: MTU ${this.underlayMtu} -> ${mtu}; the path MTU toward each remote VTEP starts from ${mtu}`);
    this.underlayMtu = mtu;
    for (const { net } of this.networks.values()) net.remotes.setUnderlayMtu(mtu);
  }

  private readonly tooBig = newTooBigRepr();
  private readonly about: Network[] = [];

  /**
   * Reads the ICMP "too big" errors sent to this VTEP, believes those about
   * packets it could have sent (switch/pmtu-guard.ts), and lowers the path
   * MTU toward their remote. Off the data path: errors are few, and a flood
   * of forged ones is read a bounded number per wakeup.
   */
  private readIcmpErrors(rx: Receiver, b: Batch): void {
    const e = this.tooBig;
    const v6 = !isV4Mapped(this.local);
    const nets = (): Iterable<Network> => [...this.networks.values()].map((r) => r.net);
    for (let round = 0; round < ICMP_ROUNDS; round++) {
      const n = rx.recv(b);
      if (n <= 0) return;
      const now = monotonicSeconds();
      for (let i = 0; i < n; i++) {
        const off = b.start(i);
        const end = off + Math.min(b.len[i], b.room);
        const parsed = v6 ? parseTooBig6(b.arena, off, end, e) : parseTooBig4(b.arena, off, end, e);
        if (parsed === 'not-too-big') continue; // another unreachable: not about the path MTU
        const verdict = parsed === 'ok' ? judgeTooBig(e, b.arena, this.local, nets(), this.about) : 'malformed';
        this.icmp.count(verdict);
        const from = formatIp(b.peer, i * 16);
        if (verdict !== 'believed') {
          this.icmpIgnored(from, parsed === 'ok' ? formatIp(e.dst) : undefined, verdict, now);
          continue;
        }
        for (const net of this.about) this.lowerPmtu(net, e.dst, e.mtu, from, now);
      }
      if (n < b.capacity) return;
    }
  }

  /** A believed error: the remote's path MTU, and a log line that says what happens to frames now. */
  private lowerPmtu(net: Network, addr: Uint8Array, said: number, from: string, now: number): void {
    const mtu = net.lowerPmtu(addr, said, now);
    if (mtu === 0) return;
    const remote = formatIp(addr);
    const inner = mtu - net.outerLen - 14;
    const fragmentable = net.ipv6 ? 'for the kernel to fragment' : 'without DF, for the path to fragment';
    const what = inner >= MIN_TOO_BIG_MTU_V6 ? `IP packets over ${inner} bytes get "too big" back`
      : inner >= MIN_TOO_BIG_MTU_V4 ? `IPv4 packets with DF over ${inner} bytes get "fragmentation needed" back; larger IPv6 packets, whose senders take no MTU below ${MIN_TOO_BIG_MTU_V6}, go ${fragmentable}`
      : `frames over ${inner} bytes go ${fragmentable}: no host takes an MTU that small from ICMP`;
    this.log.info(`network ${net.name}: path MTU to ${remote} is ${mtu} (ICMP from ${from} said ${said}); ${what}, for ${PMTU_EXPIRES_S / 60} minutes`,
      { network: net.name, remote });
  }

  /** Not believed: counted, at debug one by one, and in a warning at most once a minute. */
  private icmpIgnored(from: string, about: string | undefined, verdict: string, now: number): void {
    this.log.debug(`ignored ICMP "too big" from ${from}${about ? ` about ${about}` : ''}: ${verdict}`);
    this.icmpIgnoredSinceWarning++;
    if (now - this.lastIcmpWarning < ICMP_WARNING_INTERVAL_S) return;
    this.log.warn(`ignored ${this.icmpIgnoredSinceWarning} ICMP "too big" error${this.icmpIgnoredSinceWarning === 1 ? '' : 's'} that quote no packet of this VTEP ` +
      `(the last from ${from}${about ? ` about ${about}` : ''}: ${verdict}); path MTUs unchanged. \`vtepctl stats\` counts them by reason.`, { reason: verdict });
    this.icmpIgnoredSinceWarning = 0;
    this.lastIcmpWarning = now;
  }

  /** Once a minute per network at most: a misconfigured peer sends such frames continuously. */
  private warnPartialChecksum(net: Network, remote: number): void {
    const now = monotonicSeconds();
    if (now - (this.lastPartialWarning.get(net.name) ?? -Infinity) < PARTIAL_CHECKSUM_WARNING_INTERVAL_S) return;
    this.lastPartialWarning.set(net.name, now);
    this.log.warn(`network ${net.name}: dropped inner TCP/UDP packets from VTEP ${net.remotes.address(remote)} whose checksums were left partial for a NIC to fill in ` +
      `(counted as partial-checksum in \`vtepctl stats\`). That sender is most likely a kernel VTEP behind a veth with TX checksum offload on: ` +
      `run \`ethtool -K DEV tx off\` on both ends of its veth.`, { network: net.name, remote: net.remotes.address(remote), reason: 'partial-checksum' });
  }

  /**
   * Brings a network's tables and settings from `old` (undefined: nothing) to
   * `cfg`, keeping learned MACs, entries added at run time and counters;
   * config entries that left the file go. Returns one line per change.
   */
  private applyTables(run: RunningNetwork, old: NetworkConfig | undefined, cfg: NetworkConfig): string[] {
    const { net } = run;
    const now = monotonicSeconds();
    const changes: string[] = [];
    const gone = <T>(a: readonly T[], b: readonly T[]) => a.filter((x) => !b.includes(x));
    for (const [list, hold, what] of [['remotes', Hold.Flood, 'remote'], ['allow', Hold.Allow, 'allowed VTEP']] as const) {
      for (const a of gone(old?.[list] ?? [], cfg[list])) {
        net.releaseRemote(net.remotes.indexOf(parseIp(a)!), hold);
        changes.push(`${what} ${a} removed`);
      }
      for (const a of gone(cfg[list], old?.[list] ?? [])) {
        net.holdRemote(parseIp(a)!, hold);
        changes.push(`${what} ${a} added`);
      }
    }
    const oldStatics = new Map((old?.statics ?? []).map((s) => [s.mac, s.remote]));
    const newStatics = new Map(cfg.statics.map((s) => [s.mac, s.remote]));
    for (const [mac] of oldStatics) {
      if (newStatics.has(mac) || net.fdb.get(mac)?.origin !== 'config') continue;
      net.deleteMac(mac);
      changes.push(`static ${formatMac(mac)} removed`);
    }
    for (const [mac, remote] of newStatics) {
      if (oldStatics.get(mac) === remote && net.fdb.get(mac)?.origin === 'config') continue;
      try {
        net.setStatic(mac, parseIp(remote)!, 'config', now);
        changes.push(`static ${formatMac(mac)} dst ${remote}`);
      } catch (e) {
        changes.push(`static ${formatMac(mac)} not set: ${(e as Error).message}`);
      }
    }
    const oldNeigh = new Map((old?.neigh ?? []).map((n) => [n.ip, n.mac]));
    const newNeigh = new Map(cfg.neigh.map((n) => [n.ip, n.mac]));
    for (const [ip] of oldNeigh) {
      const b = parseIp(ip)!;
      if (newNeigh.has(ip) || net.neigh.get(b)?.origin !== 'config') continue;
      net.deleteNeigh(b);
      changes.push(`neigh ${ip} removed`);
    }
    for (const [ip, mac] of newNeigh) {
      if (oldNeigh.get(ip) === mac && net.neigh.get(parseIp(ip)!)?.origin === 'config') continue;
      net.setNeigh(parseIp(ip)!, mac, 'config', now);
      changes.push(`neigh ${ip} lladdr ${formatMac(mac)}`);
    }
    if (old === undefined) return changes;
    const set = <K extends keyof NetworkConfig>(key: K, apply: (v: NetworkConfig[K]) => void) => {
      if (JSON.stringify(old[key]) === JSON.stringify(cfg[key])) return;
      apply(cfg[key]);
      changes.push(`${key} ${String(cfg[key] ?? 'none')}`);
    };
    set('ageing', (v) => (net.fdb.ageing = v));
    set('maxMacs', (v) => (net.fdb.maxMacs = v));
    set('acceptAnyRemote', (v) => (net.acceptAnyRemote = v));
    set('arpResponder', (v) => (net.arpResponder = v));
    set('arpSnoop', (v) => (net.arpSnoop = v));
    set('learning', (v) => (net.learning = v));
    set('udp6ZeroCsumRx', () => undefined); // applied to the shared sockets once run.cfg is the new one (reloadConfig)
    if (cfg.mac !== undefined && cfg.mac !== old.mac) { // a mac taken out of the config leaves the TAP the one it has
      ip('link', 'set', 'dev', cfg.tap, 'address', formatMac(cfg.mac));
      this.announceTap(run);
      changes.push(`mac ${formatMac(cfg.mac)}`);
    }
    if (old.ttl !== cfg.ttl || old.df !== cfg.df) {
      net.ttl = cfg.ttl;
      net.df = cfg.df;
      run.sender.configure(cfg.ttl, cfg.df);
      changes.push(`ttl ${cfg.ttl} df ${cfg.df}`);
    }
    set('address', (v) => {
      if (old.address !== undefined && hasAddress(cfg.tap, old.address)) ip('addr', 'del', old.address, 'dev', cfg.tap);
      if (v !== undefined && !hasAddress(cfg.tap, v)) ip('addr', 'add', v, 'dev', cfg.tap);
    });
    return changes;
  }

  /**
   * Reads the config file again and applies the difference: new networks
   * start, removed ones stop, a network whose TAP, tunnel, group or MTU
   * changed restarts alone, and the rest changes in place. A config with an
   * error, or a network that cannot start, is refused before anything changes.
   * Returns one line per change, each also logged.
   */
  reload(): string[] {
    if (this.reread === undefined) throw new RefusedError('vtepd was started without --config: there is no file to reload');
    this.systemd?.reloading();
    try {
      return this.reloadConfig(this.reread);
    } finally {
      this.systemd?.ready(this.statusLine());
    }
  }

  /** What systemd's STATUS= shows: what runs, in one line. */
  statusLine(): string {
    let remotes = 0;
    let macs = 0;
    let failed = 0;
    for (const run of this.networks.values()) {
      remotes += run.net.remotes.size;
      macs += run.net.fdb.size;
      if (run.failure !== undefined) failed++;
    }
    const n = this.networks.size;
    return `${n} network${n === 1 ? '' : 's'}${failed ? ` (${failed} failed)` : ''}, ${remotes} remote VTEP${remotes === 1 ? '' : 's'}, ${macs} MACs`;
  }

  private reloadConfig(reread: () => Config): string[] {
    let next: Config;
    try {
      next = reread();
    } catch (e) {
      if (e instanceof ConfigError) throw new RefusedError(`the config has ${e.problems.length === 1 ? 'an error' : 'errors'}; nothing changed`, e.problems);
      throw e;
    }
    for (const key of ['local', 'socket', 'offload'] as const) {
      if (next[key] !== this.config[key]) throw new RefusedError(`${key} cannot change while vtepd runs (${this.config[key]} -> ${next[key]}); restart vtepd to change it; nothing changed`);
    }
    const fixed = { metrics: 'metrics', log: 'log-format and log-level', socketAccess: 'socket-group, socket-mode and socket-mutations', user: 'user' } as const;
    for (const [key, name] of Object.entries(fixed) as [keyof typeof fixed, string][]) {
      if (JSON.stringify(next[key]) !== JSON.stringify(this.config[key])) throw new RefusedError(`${name} cannot change while vtepd runs; restart vtepd for that; nothing changed`);
    }
    if (JSON.stringify(next.evpn) !== JSON.stringify(this.config.evpn)) {
      throw new RefusedError('evpn (the BGP settings) cannot change while vtepd runs; restart vtepd to change them; nothing changed');
    }
    const names = new Set(next.networks.map((c) => c.name));
    const removed = [...this.networks.values()].filter((r) => !names.has(r.cfg.name));
    const added = next.networks.filter((c) => !this.networks.has(c.name));
    const restarted = next.networks.filter((c) => {
      const old = this.networks.get(c.name)?.cfg;
      return old !== undefined && RESTART_KEYS.some((k) => JSON.stringify(old[k]) !== JSON.stringify(c[k]));
    });
    const inPlace = next.networks.filter((c) => this.networks.has(c.name) && !restarted.includes(c));
    // Look before changing: what will start must be able to, with the TAPs of what goes counted as free.
    const freed = new Map([...removed, ...restarted.map((c) => this.networks.get(c.name)!)].map((r) => [r.cfg.tap, r.existed]));
    let plans: Planned[];
    try {
      plans = [...restarted, ...added].map((c) => this.plan(c, freed));
    } catch (e) {
      if (e instanceof StartupError) throw new RefusedError(`${e.message}; nothing changed`);
      throw e;
    }
    const changes: string[] = [];
    const failures: string[] = [];
    for (const r of removed) {
      this.removeNetwork(r.cfg.name);
      changes.push(`network ${r.cfg.name} removed`);
    }
    for (const p of plans) {
      const old = this.networks.get(p.cfg.name)?.cfg;
      if (old !== undefined) this.removeNetwork(p.cfg.name);
      try {
        this.addNetwork(p);
        changes.push(old !== undefined
          ? `network ${p.cfg.name} restarted (${RESTART_KEYS.filter((k) => JSON.stringify(old[k]) !== JSON.stringify(p.cfg[k])).map((k) => CONFIG_NAMES[k] ?? k).join(', ')} changed)`
          : `network ${p.cfg.name} added`);
      } catch (e) {
        failures.push(`network ${p.cfg.name} could not start: ${(e as Error).message}`);
      }
    }
    for (const cfg of inPlace) {
      const run = this.networks.get(cfg.name)!;
      for (const c of this.applyTables(run, run.cfg, cfg)) changes.push(`network ${cfg.name}: ${c}`);
      const evpnChanged = JSON.stringify(run.cfg.evpn) !== JSON.stringify(cfg.evpn);
      run.cfg = cfg;
      this.applyZeroChecksum();
      if (evpnChanged) {
        this.evpn?.remove(cfg.name);
        this.joinEvpn(run);
        changes.push(`network ${cfg.name}: evpn ${cfg.evpn ? `rd ${cfg.evpn.rd}, import ${cfg.evpn.importRts.join(',')}, export ${cfg.evpn.exportRts.join(',')}` : 'off'}`);
      }
    }
    if (JSON.stringify(next.control) !== JSON.stringify(this.config.control) && this.control !== undefined) {
      this.control.limits = next.control;
      changes.push(`control max-clients ${next.control.maxClients} idle-timeout ${next.control.idleTimeoutS}`);
    }
    if (next.busyPoll !== this.config.busyPoll) {
      this.datapath.busyPollUs = next.busyPoll;
      changes.push(`busy-poll ${next.busyPoll}`);
    }
    this.config = next;
    for (const c of changes) this.log.info(`reload: ${c}`);
    for (const f of failures) this.log.error(`reload: ${f}`);
    if (changes.length === 0 && failures.length === 0) this.log.info('reload: no changes');
    this.events.reload([...changes, ...failures]);
    if (failures.length > 0) throw new Error([...failures, ...changes.map((c) => `applied: ${c}`)].join('; '));
    return changes;
  }

  private attempt(fn: () => void): void {
    try {
      fn();
    } catch (e) {
      this.log.warn(`while cleaning up: ${(e as Error).message}`);
    }
  }

  /** Withdraws EVPN routes (within 2 s), stops forwarding, undoes every change. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    await this.evpn?.stop();
    this.datapath?.stopPolling();
    for (const name of [...this.networks.keys()].reverse()) this.removeNetwork(name);
    while (this.undo.length > 0) this.attempt(this.undo.pop()!);
  }
}
