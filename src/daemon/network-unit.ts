// One network as a unit that starts and stops on its own while the daemon
// runs (wireguard-go's Peer is the model): its TAP, its sender, its share of
// the receive sockets, its lock on the tunnel id, its tables. Starting records
// every change it makes with its undo, so a failure half-way leaves nothing
// behind, and stop() undoes the same list: TAPs it created vanish with their
// descriptor, an address it added to a TAP it found is removed. A TAP deleted
// under it is reported and created again with growing waits.
import type { Config, NetworkConfig } from '../config/config.ts';
import type { RunningView } from '../control/daemon-view.ts';
import type { Datapath } from '../datapath/datapath.ts';
import type { NameLock } from '../io/channel.ts';
import { hasAddress, ip, ipCommands, linkAddresses, linkUp } from '../io/link.ts';
import type { NextHops } from '../io/next-hops.ts';
import { PacketSender } from '../io/packet-sender.ts';
import { LaneSender, RawSender, type TunnelSender } from '../io/port.ts';
import { Tap } from '../io/tap.ts';
import type { Logger } from '../observe/log.ts';
import type { EventHub } from '../observe/monitor.ts';
import { announcement } from '../switch/announce.ts';
import { Hold } from '../switch/hold.ts';
import { Network } from '../switch/network.ts';
import type { SendSocket, Tunnel } from '../tunnel/tunnel.ts';
import { isV4Mapped, parseIp } from '../wire/ip-address.ts';
import { IpProto } from '../wire/ipv4.ts';
import { derivedMac, formatMac, parseMac } from '../wire/mac.ts';
import type { Holds, Receivers } from './receivers.ts';
import { openOrExplain, takeName } from './system.ts';
import { applyNetworkTables } from './tables.ts';
import type { Inherited } from './upgrade.ts';
import { undoAll } from './undo.ts';

/** Ethernet header plus one VLAN tag: the most a TAP adds to its MTU. */
export const FRAME_OVERHEAD = 18;
/** UDP sockets (source ports) a VXLAN network sends on with offloads: each flow keeps one. */
const VXLAN_LANES = 16;
/** Longest wait between two tries at creating a deleted TAP again. */
const TAP_RETRY_MAX_S = 30;
/** How often, and how many times, to look again for TAP addresses that were in duplicate address detection. */
const ANNOUNCE_TENTATIVE_MS = 1000;
const ANNOUNCE_TENTATIVE_TRIES = 5;
/** Frames the kernel queues for a TAP vtepd creates, before it drops (tun's default is 500). */
const TAP_QUEUE_LEN = 4096;

/** What checking a network against the system found, before anything changes. */
export interface Planned {
  cfg: NetworkConfig;
  tunnel: Tunnel;
  mtu: number;
  existed: boolean;
  /** Interface index of the multicast group's `dev`, 0 without a group. */
  groupIfindex: number;
}

/** What a unit needs of the daemon around it. */
export interface UnitContext {
  readonly config: Config;
  readonly local: Uint8Array;
  readonly underlayMtu: number;
  readonly datapath: Datapath;
  readonly receivers: Receivers;
  /** A predecessor's descriptors while this daemon takes over (upgrade). */
  readonly inherited: Inherited | undefined;
  readonly log: Logger;
  readonly events: EventHub;
  /** The kernel's next hops (GRE on packet sockets), made on first use. */
  nextHops(): NextHops;
}

export class NetworkUnit implements RunningView {
  net!: Network;
  sender!: TunnelSender;
  /** Its TAP; undefined while it is gone (deleted under the daemon) and not yet created again. */
  tap: Tap | undefined;
  /** Why it cannot forward now, if it cannot (its TAP is gone). */
  failure: string | undefined;
  /** The address vtepd added to a TAP it found (removed again when the network goes). */
  addedAddress: string | undefined;
  /** The name that keeps other daemons off its tunnel id. */
  lock!: NameLock;
  /** Its share of the receive sockets. */
  readonly holds: Holds = [];
  /** The next try at creating its TAP again. */
  private retry: ReturnType<typeof setTimeout> | undefined;
  /** Its changes to the system, undone in reverse order when it goes. */
  private readonly undo: (() => void)[] = [];
  private stopped = false;

  private constructor(
    public cfg: NetworkConfig,
    readonly mtu: number,
    /** Whether its TAP was there before vtepd attached to it (it then stays when the network goes). */
    public existed: boolean,
    private readonly ctx: UnitContext,
  ) {}

  /** Opens a planned network's sockets and TAP and starts forwarding; on failure, undoes what it did and throws. */
  static start(p: Planned, ctx: UnitContext): NetworkUnit {
    const unit = new NetworkUnit(p.cfg, p.mtu, p.existed, ctx);
    try {
      unit.open(p);
    } catch (e) {
      unit.stop();
      throw e;
    }
    const { cfg, tunnel } = p;
    const address = cfg.address ? `, ${cfg.address}` : '';
    const tap = `TAP ${cfg.tap} (${p.existed ? 'attached' : 'created'}, MTU ${p.mtu}${address})`;
    const group = cfg.group ? `, group ${cfg.group.address} on ${cfg.group.dev} ttl ${cfg.group.ttl}` : '';
    const statics = cfg.statics.length ? `, ${cfg.statics.length} static` : '';
    const remotes = `remotes ${cfg.remotes.join(', ') || 'none'}`;
    ctx.log.info(`network ${cfg.name}: ${tap} <-> ${tunnel.describe()}${group}, ${remotes}${statics}`, {
      network: cfg.name,
    });
    return unit;
  }

  private open(p: Planned): void {
    const { cfg, tunnel } = p;
    const { ctx } = this;
    const { config, datapath, receivers } = ctx;
    // Sockets first: a port already in use must fail before any TAP appears.
    const primary = receivers.hold(this.holds, tunnel.receiveSocket, tunnel);
    this.undo.push(() => receivers.releaseAll(this.holds));
    if (cfg.group !== undefined)
      receivers.holdGroup(this.holds, cfg.group.address, cfg.group.dev, tunnel, primary, p.groupIfindex);
    // One daemon per tunnel id and address: the name stays taken until this network goes (or the process).
    const lock = (this.lock =
      ctx.inherited?.lock(cfg.name) ??
      takeName(
        `vtepd ${config.local} ${tunnel.identity}`,
        `${tunnel.describe()} on ${config.local} is served by another vtepd on this host: stop that one, or ` +
          `give network ${cfg.name} another ${tunnel.identityPath.join('.')}`,
      ));
    this.undo.push(() => lock.release());
    const sender = (this.sender = this.openSender(tunnel.sendSocket(config.offload)));
    this.undo.push(() => sender.close());
    const net = (this.net = new Network({
      name: cfg.name,
      tunnel,
      encap: tunnel.encap(sender.lanePorts),
      ttl: cfg.ttl,
      df: cfg.df,
      ipv6: !isV4Mapped(ctx.local),
      underlayMtu: ctx.underlayMtu,
      acceptAnyRemote: cfg.acceptAnyRemote,
      ageing: cfg.ageing,
      maxMacs: cfg.maxMacs,
      arpResponder: cfg.arpResponder,
      arpSnoop: cfg.arpSnoop,
      learning: cfg.learning,
      batchSize: datapath.framesPerBatch,
      maxFrame: p.mtu + FRAME_OVERHEAD,
    }));
    applyNetworkTables(this, undefined, cfg);
    net.events = ctx.events;
    if (cfg.group !== undefined) {
      net.holdRemote(parseIp(cfg.group.address)!, Hold.Group);
      sender.multicast(p.groupIfindex, cfg.group.ttl);
    }
    const given = ctx.inherited?.tap(cfg.name);
    const tap = (this.tap = given?.tap ?? openOrExplain(() => Tap.open(cfg.tap, config.offload), `TAP ${cfg.tap}`));
    this.undo.push(() => this.tap?.close());
    this.undo.push(() => clearTimeout(this.retry));
    if (config.offload && !tap.offload)
      ctx.log.warn(
        `network ${cfg.name}: the kernel refused TSO and checksum offload on TAP ${cfg.tap}; frames come whole`,
        { network: cfg.name },
      );
    // A TAP taken over is set up already, and its hosts' neighbours know it.
    if (given === undefined) this.configureTap();
    else if (given.addedAddress !== undefined) this.removeOnExit(given.addedAddress);
    primary.demux.set(tunnel.id, net, tunnel);
    this.undo.push(() => primary.demux.delete(tunnel.id));
    datapath.attach({ net, device: tap, sender });
    this.undo.push(() => datapath.detach(net));
    if (given === undefined) this.announce();
  }

  /** Stops forwarding and undoes every change it made; its shared sockets close if no other network holds them. */
  stop(): void {
    this.stopped = true;
    undoAll(this.undo, this.ctx.log);
  }

  private openSender(spec: SendSocket): TunnelSender {
    return openTunnelSender(spec, this.ctx, this.cfg);
  }

  private configureTap(): void {
    const { cfg } = this;
    // The same MAC at every start: the hosts behind other VTEPs keep theirs cached for minutes.
    const mac = cfg.mac ?? (this.existed ? undefined : derivedMac(`vtepd ${this.ctx.config.local} ${cfg.tap}`));
    // A TAP's queue holds 500 frames (tun's default): 10 ms at 50k frames/s, less than a pause of
    // the event loop. A TAP vtepd creates gets a queue like a NIC's ring; one it finds keeps its own.
    // One `ip link set` for all of it, and the address in the same run of ip.
    const up = linkUp(cfg.tap, this.mtu, [
      ...(mac !== undefined ? ['address', formatMac(mac)] : []),
      ...(this.existed ? [] : ['txqueuelen', String(TAP_QUEUE_LEN)]),
    ]);
    const add = cfg.address !== undefined && !hasAddress(cfg.tap, cfg.address);
    ipCommands(add ? [up, ['addr', 'add', cfg.address!, 'dev', cfg.tap]] : [up]);
    // A TAP we created vanishes with its descriptor; on one we found, we remove only what we added.
    if (add && this.existed) this.removeOnExit(cfg.address!);
  }

  private removeOnExit(address: string): void {
    this.addedAddress = address;
    this.undo.push(() => ip('addr', 'del', address, 'dev', this.cfg.tap));
  }

  /**
   * Its TAP failed to read: it was deleted under the daemon. The network is
   * reported failed (what goes to the TAP counts as tx-failed) and its TAP is
   * created again, after 1, 2, 4... up to 30 s, each try logged.
   */
  tapLost(errno: number): void {
    this.ctx.log.error(
      `network ${this.cfg.name}: TAP ${this.cfg.tap} failed to read (errno ${errno}): it was deleted or broken`,
      { network: this.cfg.name },
    );
    this.tap?.close();
    this.tap = undefined;
    // A TAP someone else made is gone for good: the one vtepd makes goes with vtepd.
    this.existed = false;
    this.retryTap(1);
  }

  private retryTap(attempt: number): void {
    const { cfg, ctx } = this;
    const delay = Math.min(TAP_RETRY_MAX_S, 2 ** (attempt - 1));
    this.failure = `TAP ${cfg.tap} is gone; creating it again (try ${attempt} in ${delay} s)`;
    ctx.log.warn(`network ${cfg.name}: ${this.failure}`, { network: cfg.name });
    this.retry = setTimeout(() => {
      this.retry = undefined;
      let tap: Tap | undefined;
      try {
        tap = openOrExplain(() => Tap.open(cfg.tap, ctx.config.offload), `TAP ${cfg.tap}`);
        this.tap = tap;
        this.configureTap();
      } catch (e) {
        tap?.close();
        this.tap = undefined;
        ctx.log.error(`network ${cfg.name}: creating TAP ${cfg.tap} again failed: ${(e as Error).message}`, {
          network: cfg.name,
        });
        this.retryTap(attempt + 1);
        return;
      }
      ctx.datapath.replaceDevice(this.net, tap);
      this.failure = undefined;
      ctx.log.info(`network ${cfg.name}: TAP ${cfg.tap} created again (try ${attempt}); forwarding`, {
        network: cfg.name,
      });
      this.announce();
    }, delay * 1000);
  }

  /**
   * Tells the network's peers where the TAP's addresses are (gratuitous ARP,
   * unsolicited NA), once each: now for those ready, and for an IPv6 address
   * still in duplicate address detection once that is over.
   */
  announce(done = new Set<string>(), tries = 0): void {
    void this.announceNow(done, tries);
  }

  private async announceNow(done: Set<string>, tries: number): Promise<void> {
    const link = await linkAddresses(this.cfg.tap);
    const mac = link === undefined ? undefined : parseMac(link.mac);
    // Stopped meanwhile: injectFromTap skips a network no longer attached, and no retry is left behind.
    if (link === undefined || mac === undefined || this.stopped) return;
    const fresh = link.addresses.filter((a) => !done.has(a));
    if (fresh.length > 0) {
      this.ctx.datapath.injectFromTap(
        this.net,
        fresh.map((a) => announcement(mac, parseIp(a)!)),
      );
      for (const a of fresh) done.add(a);
      this.ctx.log.debug(`network ${this.cfg.name}: announced ${fresh.join(', ')} at ${link.mac}`, {
        network: this.cfg.name,
      });
    }
    if (link.tentative === 0 || tries >= ANNOUNCE_TENTATIVE_TRIES) return;
    const timer = setTimeout(() => this.announce(done, tries + 1), ANNOUNCE_TENTATIVE_MS);
    this.undo.push(() => clearTimeout(timer));
  }
}

/** The sender of a network's tunnel packets: lanes (VXLAN with offloads), a packet socket (GRE) or a raw socket. */
export function openTunnelSender(
  spec: SendSocket,
  ctx: UnitContext,
  cfg: Pick<NetworkConfig, 'name' | 'ttl' | 'df' | 'greSocket'>,
): TunnelSender {
  const { local, config } = ctx;
  switch (spec.kind) {
    case 'udp-lanes':
      return openOrExplain(
        () => LaneSender.open(local, VXLAN_LANES, spec.srcMin, spec.srcMax, spec.dstPort, cfg.ttl, cfg.df),
        `UDP source ports ${spec.srcMin}-${spec.srcMax} on ${config.local} for network ${cfg.name}`,
      );
    case 'raw': {
      const what = spec.protocol === IpProto.GRE ? 'GRE' : 'UDP';
      if (spec.protocol === IpProto.GRE && cfg.greSocket === 'packet') {
        const hops = ctx.nextHops();
        return openOrExplain(
          () => PacketSender.open(spec.protocol, local, cfg.ttl, cfg.df, hops),
          `a packet socket and a raw ${what} socket for network ${cfg.name}`,
        );
      }
      return openOrExplain(
        () => RawSender.open(spec.protocol, local, cfg.ttl, cfg.df),
        `a raw ${what} socket for network ${cfg.name}`,
      );
    }
  }
}
