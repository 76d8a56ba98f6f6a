// Wiring and lifecycle. Start-up first looks (look.ts: privileges, addresses,
// device names, the control socket) and only then changes the system: the
// data path, one NetworkUnit per network (network-unit.ts), the shared
// receive sockets (receivers.ts), the control socket, metrics, path MTU
// discovery (path-mtu.ts), EVPN. Networks come and go while it runs
// (reload.ts), and the whole daemon hands over to its successor (upgrade.ts).
// What the control verbs see of it is DaemonView (control/daemon-view.ts).
// (Over 400 lines: the wiring of every part above in one place, so that the
// order of start and stop can be read; each part's work is in its own file.)
import { randomInt } from 'node:crypto';
import { ConfigError, type Config, type NetworkConfig } from '../config/config.ts';
import { answer } from '../control/commands.ts';
import type { DaemonView, RunningView } from '../control/daemon-view.ts';
import type { ControlStats, TraceReport, TraceRequest } from '../control/protocol.ts';
import { ControlServer, removeStaleSocket } from '../control/server.ts';
import { RefusedError } from '../control/verb.ts';
import { monotonicSeconds } from '../datapath/clock.ts';
import { Datapath, HEADROOM } from '../datapath/datapath.ts';
import type { EvpnSpeaker } from '../evpn/speaker.ts';
import type { L3VniUnit } from './l3vni.ts';
import { dropPrivileges } from '../host/privileges.ts';
import { SocketJanitor } from '../host/socket-janitor.ts';
import { ChangeLog } from '../control/change-log.ts';
import type { Systemd } from '../host/systemd.ts';
import type { Channel } from '../io/channel.ts';
import { NextHops } from '../io/next-hops.ts';
import { Mirror } from '../observe/capture.ts';
import type { Logger } from '../observe/log.ts';
import type { MetricsServer } from '../observe/metrics.ts';
import { EventHub } from '../observe/monitor.ts';
import { infos, statsReport } from '../observe/report.ts';
import { trace } from '../observe/trace.ts';
import type { Network } from '../switch/network.ts';
import { IcmpCounters } from '../switch/pmtu-guard.ts';
import { restoreNetwork } from '../switch/snapshot.ts';
import { setFlowHashSeed } from '../wire/flow-hash.ts';
import { parseIp, type VtepChecks } from '../wire/ip-address.ts';
import { overlaySubnets } from '../config/routing.ts';
import { subnetBroadcast } from '../io/link.ts';
import { contains } from '../route/prefix.ts';
import { lookAtHost, planNetwork, type HostLook } from './look.ts';
import { FRAME_OVERHEAD, NetworkUnit, type Planned, type UnitContext } from './network-unit.ts';
import { PathMtu } from './path-mtu.ts';
import { Receivers } from './receivers.ts';
import { Router } from '../route/router.ts';
import { applyL3, attachNetwork, configureRouter } from './routing.ts';
import { reloadConfig, type ReloadTarget } from './reload.ts';
import { handOver, type Inherited, receiveHandoff } from './upgrade.ts';

import { undoAll } from './undo.ts';
import { StartupError } from './system.ts';

export { StartupError };

const MIN_SLOT = 2048;
const AGEING_TICK_MS = 1000;
/** How often the router looks at its resolutions: retries go a second apart, give or take this. */
const ROUTER_TICK_MS = 250;
/** Least time between two warnings about partial inner checksums from one network's peers. */
const PARTIAL_CHECKSUM_WARNING_INTERVAL_S = 60;

/** The slot size that holds a frame of `mtu` with the room every frame is read with. */
function slotFor(mtu: number): number {
  return Math.max(MIN_SLOT, Math.ceil((mtu + FRAME_OVERHEAD + HEADROOM + 64) / 64) * 64);
}

export class Daemon implements DaemonView, ReloadTarget, UnitContext {
  private readonly undo: (() => void)[] = [];
  readonly networks = new Map<string, NetworkUnit>();
  datapath!: Datapath;
  receivers!: Receivers;
  readonly mirror: Mirror;
  /** Stops the route watch a running capture keeps (so that the next hops it shows stay current). */
  private unwatchLinks: (() => void) | undefined;
  readonly events = new EventHub();
  readonly changes: ChangeLog;
  /** Routing between networks: VRFs, gateways, DVR MACs. */
  readonly router = new Router();
  evpn: EvpnSpeaker | undefined;
  /** The VRFs' L3VNIs (symmetric IRB over EVPN), by VRF. */
  readonly l3units = new Map<string, L3VniUnit>();
  control: ControlServer | undefined;
  private metrics: MetricsServer | undefined;
  private pathMtu: PathMtu | undefined;
  private host!: HostLook;
  /** systemd's notify socket, when it runs as a Type=notify service. */
  systemd: Systemd | undefined;
  /** What a predecessor passed on, while this daemon takes over from it. */
  inherited: Inherited | undefined;
  private upgrading = false;
  /** Removes the control socket after this process (and any successor) exits, with --user. */
  private janitor: SocketJanitor | undefined;
  /** The kernel's next hops for GRE on packet sockets, watched once for every network. */
  private hops: NextHops | undefined;
  /** Called once a successor took over: this process then exits, changing nothing. */
  onHandedOver: () => void = () => {};
  readonly local: Uint8Array;
  private stopped = false;
  /** Monotonic seconds of the last partial-checksum warning, per network. */
  private readonly lastPartialWarning = new Map<string, number>();
  private readonly noIcmp = new IcmpCounters();
  /** vtepChecks, and the config it was made from. */
  private checks: { config: Config; checks: VtepChecks } | undefined;

  private constructor(
    public config: Config,
    readonly log: Logger,
    private readonly reread: (() => Config) | undefined,
  ) {
    this.local = parseIp(config.local)!;
    this.changes = new ChangeLog(log);
    this.mirror = new Mirror(this.local, {
      macs: (dst) => {
        const hop = this.nextHops().lookup(dst);
        return hop.problem === undefined ? hop : undefined;
      },
      watch: (on) => {
        this.unwatchLinks?.();
        this.unwatchLinks = on ? this.nextHops().subscribe(() => {}) : undefined;
      },
    });
    this.router.events = this.events;
  }

  // ---------------------------------------------------------------- DaemonView

  now(): number {
    return monotonicSeconds();
  }

  trace(run: RunningView, t: TraceRequest): TraceReport {
    return trace(run.net, this.router.traceCopy(run.net), t, this.local, run.cfg.tap, run.cfg.address);
  }

  get controlStats(): ControlStats {
    const c = this.control;
    if (c === undefined)
      return { clients: 0, streams: 0, refused: 0, 'idle-closed': 0, 'slow-readers': 0, 'lines-dropped': 0 };
    return { ...c.stats, streams: c.streamCount };
  }

  get localText(): string {
    return this.config.local;
  }

  get icmp(): IcmpCounters {
    return this.pathMtu?.icmp ?? this.noIcmp;
  }

  /** What no remote VTEP's address may be, for vtepctl and EVPN alike. */
  get vtepChecks(): VtepChecks {
    if (this.checks?.config !== this.config) {
      const subnets = overlaySubnets(this.config);
      const broadcast = this.host === undefined ? undefined : subnetBroadcast(this.host.underlay, this.config.local);
      this.checks = {
        config: this.config,
        checks: {
          local: this.local,
          broadcast: broadcast === undefined ? undefined : parseIp(broadcast),
          overlay: (b) => subnets.some((p) => contains(p, b)),
        },
      };
    }
    return this.checks.checks;
  }

  // ---------------------------------------------------------------- UnitContext

  get underlayMtu(): number {
    return this.pathMtu?.mtu ?? this.host.underlayMtu;
  }

  /** A unit's context is the daemon itself. */
  get unitContext(): UnitContext {
    return this;
  }

  nextHops(): NextHops {
    return (this.hops ??= new NextHops(this.local));
  }

  // ---------------------------------------------------------------- lifecycle

  /** `reread`: reads the config file again, for reload (none when the config came from flags). */
  static async start(config: Config, log: Logger, reread?: () => Config): Promise<Daemon> {
    setFlowHashSeed(randomInt(0x1_0000_0000));
    const d = new Daemon(config, log, reread);
    const plans = await d.look();
    try {
      await d.build(plans);
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
      for (const unit of d.networks.values()) {
        const h = state.networks[unit.cfg.name];
        if (h !== undefined) restoreNetwork(unit.net, h.tables, now);
      }
      d.datapath.unattributed.drops.set(state.unattributed.slice(0, d.datapath.unattributed.drops.length));
      if (state.router !== undefined) d.router.restore(state.router);
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
    log.info(
      `took over from vtepd ${state.from}: ${d.networks.size} network${d.networks.size === 1 ? '' : 's'}, ${macs} MACs`,
    );
    return d;
  }

  /** Hands over to the vtepd on disk (upgrade.ts); resolves once it forwards, and this one then exits. */
  async upgrade(): Promise<{ pid: number; previous: number }> {
    if (this.evpn !== undefined) {
      throw new RefusedError(
        'upgrade with BGP EVPN is not supported yet: the BGP sessions would drop; restart vtepd instead',
      );
    }
    if (this.upgrading) throw new RefusedError('an upgrade is under way already');
    this.upgrading = true;
    try {
      const done = await handOver({
        config: this.config,
        networks: this.networks,
        receivers: this.receivers,
        datapath: this.datapath,
        router: this.router,
        log: this.log,
        controlFd: this.control!.descriptor,
        janitor: this.janitor,
        letGo: () => {
          this.control?.stopListening();
          this.metrics?.close();
        },
      });
      // The reply to vtepctl goes out first.
      setTimeout(() => this.onHandedOver(), 100);
      return done;
    } catch (e) {
      this.upgrading = false;
      throw e;
    }
  }

  /** Everything that can be checked without changing the system, and each network against it. */
  private async look(): Promise<Planned[]> {
    this.host = await lookAtHost(this.config, this.inherited, this.log);
    return this.config.networks.map((cfg) => this.plan(cfg, this.inherited?.existing));
  }

  /**
   * Checks one network against the system; `freed`: TAPs of networks about to go, with whether each was there
   * before vtepd.
   */
  plan(cfg: NetworkConfig, freed = new Map<string, boolean>()): Planned {
    return planNetwork(
      cfg,
      { underlay: this.host.underlay, underlayMtu: this.underlayMtu },
      this.local,
      this.log,
      freed,
    );
  }

  private async build(plans: Planned[]): Promise<void> {
    const { config, log } = this;
    const datapath = (this.datapath = new Datapath({
      slotSize: slotFor(Math.max(...plans.map((p) => p.mtu))),
      offload: config.offload,
      busyPollUs: config.busyPoll,
      observer: this.mirror,
    }));
    this.undo.push(() => datapath.stopPolling());
    this.receivers = new Receivers(datapath, this.local, config.local, config.offload, () => this.inherited);
    datapath.onIoError = (what, errno, port) => {
      const unit = [...this.networks.values()].find((r) => r.tap === port);
      if (unit !== undefined) unit.tapLost(errno);
      else log.error(`${what} failed (errno ${errno}); that descriptor is no longer read`);
    };
    datapath.onPartialChecksum = (net, remote) => this.warnPartialChecksum(net, remote);
    this.router.originate = (make) => datapath.originate(make);
    configureRouter(this.router, config);
    // The router ticks (asks again, gives up) only while it waits for a neighbour.
    let routerTimer: ReturnType<typeof setInterval> | undefined;
    this.router.onWaiting = () => {
      routerTimer ??= setInterval(() => {
        this.router.tick(monotonicSeconds());
        if (this.router.waiting) return;
        clearInterval(routerTimer);
        routerTimer = undefined;
      }, ROUTER_TICK_MS);
    };
    this.undo.push(() => clearInterval(routerTimer));
    const pathMtu = (this.pathMtu = new PathMtu(
      { local: this.local, log, running: () => this.networks.values() },
      this.host.underlay,
      this.host.underlayMtu,
    ));
    this.undo.push(() => pathMtu.close());
    for (const p of plans) this.addNetwork(p);
    const inheritedControl = this.inherited?.control();
    if (inheritedControl === undefined) removeStaleSocket(config.socket);
    const access = {
      mode: config.socketAccess.mode,
      gid: this.host.socketGid,
      mutations: config.socketAccess.mutations,
    };
    const server = (this.control = await ControlServer.listen(
      config.socket,
      (verb, req) => answer(this, verb, req),
      config.control,
      inheritedControl,
      access,
    ));
    server.onDrop = (why) => log.warn(`control: ${why}`);
    this.undo.push(() => server.close());
    // With --user the socket's directory is root's: a janitor removes the socket once vtepd is gone.
    const inheritedJanitor = this.inherited?.janitor();
    if (inheritedJanitor !== undefined) this.janitor = SocketJanitor.adopt(inheritedJanitor);
    else if (this.host.account !== undefined && inheritedControl === undefined)
      this.janitor = SocketJanitor.start(config.socket);
    this.undo.push(() => this.janitor?.release());
    // A successor serves metrics once its predecessor let the port go (takeOver).
    if (config.metrics !== undefined && this.inherited === undefined) await this.serveMetrics(config.metrics, false);
    const timer = setInterval(() => {
      const t = monotonicSeconds();
      pathMtu.tick();
      for (const { net } of this.networks.values()) net.tick(t);
    }, AGEING_TICK_MS);
    this.undo.push(() => clearInterval(timer));
    if (config.evpn !== undefined) {
      // Loaded only here: gRPC and GoBGP's API are half of a vtepd's start-up time and memory.
      const { EvpnSpeaker } = await import('../evpn/speaker.ts');
      const speaker = (this.evpn = await EvpnSpeaker.start(
        config.evpn,
        config.local,
        this.events,
        log,
        () => this.vtepChecks,
      ));
      this.undo.push(() => void speaker.stop());
      for (const unit of this.networks.values()) this.joinEvpn(unit);
      applyL3(this, config);
      this.undo.push(() => {
        for (const u of this.l3units.values()) u.stop();
        this.l3units.clear();
      });
    }
    // Everything that needs root is open: from here on, the user and two capabilities (--user).
    const account = this.host.account;
    if (account !== undefined) {
      dropPrivileges(account);
      log.info(`running as ${account.name} (uid ${account.uid}) with CAP_NET_ADMIN and CAP_NET_RAW only`);
    }
    const n = this.networks.size;
    log.info(
      `ready: ${n} network${n > 1 ? 's' : ''}, control socket ${config.socket}, ` +
        `${config.offload ? 'TSO and checksum offload on the TAPs' : 'offloads off'}`,
    );
  }

  /**
   * Serves /metrics. A successor (upgrade) waits for its predecessor to let
   * the port go, which it does once the successor forwards (`waitForPort`).
   */
  private async serveMetrics({ host, port }: { host: string; port: number }, waitForPort: boolean): Promise<void> {
    // Loaded only here: a vtepd without metrics does not load prom-client (nor the status page).
    const { MetricsServer, metricsRegistry } = await import('../observe/metrics.ts');
    const { StatusHistory, statusAssets, statusReport } = await import('../control/status.ts');
    const stats = () =>
      statsReport(infos(this), this.datapath.unattributed, this.controlStats, {
        icmp: this.icmp,
        router: this.router,
        evpnRejected: this.evpn?.rejected,
      });
    // The status page's rates: the counters once a second, five minutes kept, in memory only.
    const history = new StatusHistory();
    const sampler = setInterval(() => history.sample(performance.now() / 1000, stats()), 1000);
    sampler.unref();
    this.undo.push(() => clearInterval(sampler));
    const startedAt = performance.timeOrigin;
    const status = { api: () => statusReport(this, history, startedAt), assets: statusAssets() };
    const registry = metricsRegistry({
      stats,
      mtu: (name) => this.networks.get(name)?.mtu,
      evpn: () => this.evpn?.metrics(),
    });
    const where = host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
    for (let waited = 0; ; waited += 100) {
      try {
        const server = (this.metrics = await MetricsServer.listen(host, port, registry, status));
        this.undo.push(() => server.close());
        this.log.info(`metrics: serving http://${where}/metrics, the status page at http://${where}/`);
        if (host === '0.0.0.0' || host === '::') {
          this.log.warn(
            `metrics: listening on every address of this host (${where}): anyone who reaches it reads the ` +
              'networks, remote VTEPs and MAC counts; prefer 127.0.0.1 or an address of a management network',
          );
        }
        return;
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code === 'EADDRINUSE' && waitForPort && waited < 5000) {
          await new Promise((r) => setTimeout(r, 100));
          continue;
        }
        const why =
          code === 'EADDRINUSE'
            ? 'the port is in use'
            : code === 'EADDRNOTAVAIL'
              ? "that address is not one of this host's"
              : (e as Error).message;
        throw new StartupError(`metrics: cannot listen on ${where}: ${why}; choose another ADDRESS:PORT`);
      }
    }
  }

  // ---------------------------------------------------------------- networks

  /** Starts a planned network; on failure nothing of it is left, and the error is thrown. */
  addNetwork(p: Planned): void {
    this.datapath.ensureSlotSize(slotFor(p.mtu));
    const unit = NetworkUnit.start(p, this);
    this.networks.set(p.cfg.name, unit);
    attachNetwork(this.router, unit.net, p.cfg);
    this.receivers.applyZeroChecksum(this.networks.values());
    this.joinEvpn(unit);
  }

  /** Stops a network's forwarding and undoes every change it made. */
  removeNetwork(name: string): void {
    const unit = this.networks.get(name);
    if (unit === undefined) return;
    this.evpn?.remove(name);
    this.networks.delete(name);
    this.router.detach(unit.net);
    unit.stop();
    this.receivers.applyZeroChecksum(this.networks.values());
  }

  /** An EVPN network is advertised, and programmed from the fabric. */
  joinEvpn(unit: NetworkUnit): void {
    const { cfg, net } = unit;
    if (this.evpn === undefined || cfg.evpn === undefined || cfg.tunnel.kind !== 'vxlan') return;
    this.evpn.add(net, cfg.evpn, cfg.tunnel.vni, cfg.vrf);
  }

  /** Once a minute per network at most: a misconfigured peer sends such frames continuously. */
  private warnPartialChecksum(net: Network, remote: number): void {
    const now = monotonicSeconds();
    if (now - (this.lastPartialWarning.get(net.name) ?? -Infinity) < PARTIAL_CHECKSUM_WARNING_INTERVAL_S) return;
    this.lastPartialWarning.set(net.name, now);
    this.log.warn(
      `network ${net.name}: dropped inner TCP/UDP packets from VTEP ${net.remotes.address(remote)} whose ` +
        `checksums were left partial for a NIC to fill in ` +
        `(counted as partial-checksum in \`vtepctl stats\`). That sender is most likely a kernel VTEP behind ` +
        `a veth with TX checksum offload on: ` +
        `run \`ethtool -K DEV tx off\` on both ends of its veth.`,
      { network: net.name, remote: net.remotes.address(remote), reason: 'partial-checksum' },
    );
  }

  // ---------------------------------------------------------------- reload

  /**
   * Reads the config file again and applies the difference (reload.ts). A
   * config with an error, or a network that cannot start, is refused before
   * anything changes. Returns one line per change, each also logged.
   */
  reload(): string[] {
    if (this.reread === undefined)
      throw new RefusedError('vtepd was started without --config: there is no file to reload');
    this.systemd?.reloading();
    try {
      let next: Config;
      try {
        next = this.reread();
      } catch (e) {
        if (e instanceof ConfigError)
          throw new RefusedError(
            `the config has ${e.problems.length === 1 ? 'an error' : 'errors'}; nothing changed`,
            e.problems,
          );
        throw e;
      }
      return reloadConfig(this, next);
    } finally {
      this.systemd?.ready(this.statusLine());
    }
  }

  /** What systemd's STATUS= shows: what runs, in one line. */
  statusLine(): string {
    let remotes = 0;
    let macs = 0;
    let failed = 0;
    for (const unit of this.networks.values()) {
      remotes += unit.net.remotes.size;
      macs += unit.net.fdb.size;
      if (unit.failure !== undefined) failed++;
    }
    const n = this.networks.size;
    return (
      `${n} network${n === 1 ? '' : 's'}${failed ? ` (${failed} failed)` : ''}, ${remotes} remote ` +
      `VTEP${remotes === 1 ? '' : 's'}, ${macs} MACs`
    );
  }

  /** Withdraws EVPN routes (within 2 s), stops forwarding, undoes every change. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    await this.evpn?.stop();
    this.datapath?.stopPolling();
    for (const name of [...this.networks.keys()].reverse()) this.removeNetwork(name);
    undoAll(this.undo, this.log);
  }
}
