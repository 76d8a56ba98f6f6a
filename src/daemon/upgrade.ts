// Upgrading without losing a packet (`vtepctl upgrade`, SIGUSR2): the running
// daemon starts its successor (the vtepd now on disk, same command line) with
// one end of a channel, and hands it, over SCM_RIGHTS, the descriptors the
// outside world knows: TAPs (a TAP created by vtepd lives as long as one
// descriptor does), receive sockets (bound ports, joined groups), the names
// that lock tunnel ids, and the listening control socket; with them, its
// running config and each network's tables and counters. While it does, the
// old one reads nothing: what arrives waits in the kernel's queues and the
// successor reads it. Only when the successor says it forwards does the old
// one exit, without undoing anything; if the successor fails, the old one
// carries on.
//
// Send sockets are not passed: the successor opens its own.
import { spawn, type ChildProcess } from 'node:child_process';
import type { Config } from '../config/config.ts';
import { Channel, NameLock } from '../io/channel.ts';
import { native } from '../io/native.ts';
import { Receiver } from '../io/port.ts';
import { Tap } from '../io/tap.ts';
import type { NetworkSnapshot } from '../switch/snapshot.ts';
import { snapshotNetwork } from '../switch/snapshot.ts';
import { RefusedError } from '../control/verb.ts';
import { UPGRADE_START_MS, UPGRADE_TAKEOVER_MS } from '../control/protocol.ts';
import type { Datapath } from '../datapath/datapath.ts';
import { monotonicSeconds } from '../datapath/clock.ts';
import type { Logger } from '../observe/log.ts';
import type { SocketJanitor } from '../host/socket-janitor.ts';
import { flowHashSeed } from '../wire/flow-hash.ts';
import type { Router, RouterSnapshot } from '../route/router.ts';
import type { NetworkUnit } from './network-unit.ts';
import type { Receivers } from './receivers.ts';

/** The environment variable that tells a vtepd it takes over, naming its end of the channel. */
export const HANDOFF_ENV = 'VTEPD_HANDOFF_FD';
const HANDOFF_VERSION = 1;
/** How long the successor may take to start, and then to take over. */
const START_TIMEOUT_MS = UPGRADE_START_MS;
const TAKEOVER_TIMEOUT_MS = UPGRADE_TAKEOVER_MS;

export interface NetworkHandoff {
  existed: boolean;
  addedAddress?: string;
  /** What the kernel granted the TAP (offloads), and whether it carries a virtio_net_hdr. */
  offload: boolean;
  vnetHdr: boolean;
  tables: NetworkSnapshot;
}

/** What the old daemon sends, beside the descriptors. */
export interface HandoffState {
  version: number;
  from: number;
  config: Config;
  /** What each descriptor is, in order: "control", "janitor", "tap NAME", "lock NAME", "rx KEY". */
  roles: string[];
  networks: Record<string, NetworkHandoff>;
  unattributed: number[];
  /** The flow hash's seed, so that flows keep their source ports and labels (absent from a vtepd before it). */
  flowHashSeed?: number;
  /** Routes and DVR MACs vtepctl added, and the VRFs' counters (absent from a vtepd before routing). */
  router?: RouterSnapshot;
}

/** The descriptors a predecessor passed on, by role, for the daemon to use instead of opening its own. */
export class Inherited {
  private readonly fds = new Map<string, number>();

  constructor(
    readonly state: HandoffState,
    fds: readonly number[],
  ) {
    state.roles.forEach((role, i) => this.fds.set(role, fds[i]));
  }

  /** TAP names with whether each was there before vtepd (as plan() counts them). */
  get existing(): Map<string, boolean> {
    const out = new Map<string, boolean>();
    for (const n of this.state.config.networks) {
      const h = this.state.networks[n.name];
      if (h !== undefined) out.set(n.tap, h.existed);
    }
    return out;
  }

  private take(role: string): number | undefined {
    const fd = this.fds.get(role);
    this.fds.delete(role);
    return fd;
  }

  control(): number | undefined {
    return this.take('control');
  }

  /** The socket janitor's end (socket-janitor.ts), when the predecessor had one. */
  janitor(): number | undefined {
    return this.take('janitor');
  }

  tap(network: string): { tap: Tap; addedAddress: string | undefined } | undefined {
    const fd = this.take(`tap ${network}`);
    const h = this.state.networks[network];
    const cfg = this.state.config.networks.find((n) => n.name === network);
    if (fd === undefined || h === undefined || cfg === undefined) return undefined;
    return { tap: Tap.adopt(fd, cfg.tap, h.offload, h.vnetHdr), addedAddress: h.addedAddress };
  }

  lock(network: string): NameLock | undefined {
    const fd = this.take(`lock ${network}`);
    return fd === undefined ? undefined : NameLock.adopt(fd);
  }

  receiver(key: string): Receiver | undefined {
    const fd = this.take(`rx ${key}`);
    return fd === undefined ? undefined : Receiver.adopt(fd);
  }

  /** Closes what no network took (this process's copies only: the predecessor keeps its own). */
  closeRest(): void {
    for (const fd of this.fds.values()) native.close(fd);
    this.fds.clear();
  }
}

/** The successor's side: says hello, then receives the state and descriptors. */
export function receiveHandoff(channel: Channel): Inherited {
  // `takes` names the optional descriptors this version keeps (an older one would close them unused).
  channel.send({ hello: process.pid, takes: ['janitor'] });
  const { value, fds } = channel.receive(TAKEOVER_TIMEOUT_MS);
  const state = value as HandoffState;
  if (state?.version !== HANDOFF_VERSION) {
    for (const fd of fds) native.close(fd);
    throw new Error(
      `the running vtepd speaks handoff version ${String(state?.version)}, this one ${HANDOFF_VERSION}: stop ` +
        `it and start this one instead`,
    );
  }
  return new Inherited(state, fds);
}

/** A successor started with the channel's other end; `ready` resolves with the channel once it said hello. */
export interface Successor {
  child: ChildProcess;
  channel: Channel;
  /** Resolves with the next value the successor sends; rejects if it exits or says nothing in time. */
  next(timeoutMs?: number): Promise<unknown>;
}

/** Starts the vtepd on disk with this one's command line, as a successor. */
export function startSuccessor(): Successor {
  const [mine, theirs] = Channel.pair();
  let child: ChildProcess;
  try {
    child = spawn(process.execPath, [...process.execArgv, ...process.argv.slice(1)], {
      stdio: ['ignore', 'inherit', 'inherit', theirs.fd],
      env: { ...process.env, [HANDOFF_ENV]: '3' },
    });
  } finally {
    theirs.close();
  }
  child.unref();
  let exit: string | undefined;
  child.once('exit', (code, signal) => (exit = signal ? `was killed by ${signal}` : `exited with ${code}`));
  child.once('error', (e) => (exit = `could not start: ${e.message}`));
  const next = (timeoutMs = START_TIMEOUT_MS): Promise<unknown> =>
    new Promise((resolve, reject) => {
      const t0 = Date.now();
      const check = setInterval(() => {
        if (exit !== undefined)
          finish(new Error(`the new vtepd ${exit} before taking over (its messages are in this log)`));
        else if (Date.now() - t0 > timeoutMs)
          finish(new Error(`the new vtepd said nothing within ${timeoutMs / 1000} s`));
      }, 100);
      const finish = (e?: Error, value?: unknown) => {
        clearInterval(check);
        if (e !== undefined) reject(e);
        else resolve(value);
      };
      mine.whenReadable(() => {
        try {
          finish(undefined, mine.receive(1000).value);
        } catch (e) {
          // The channel closes as the process ends: give its exit a moment to be known, to say how it ended.
          const failed = (e as Error).message;
          const t = Date.now();
          const wait = setInterval(() => {
            if (exit === undefined && Date.now() - t < 1000) return;
            clearInterval(wait);
            finish(
              new Error(
                exit !== undefined ? `the new vtepd ${exit} before taking over (its messages are in this log)` : failed,
              ),
            );
          }, 20);
        }
      });
    });
  return { child, channel: mine, next };
}

/** What an upgrade needs of the running daemon. */
export interface Predecessor {
  readonly config: Config;
  readonly networks: ReadonlyMap<string, NetworkUnit>;
  readonly receivers: Receivers;
  readonly datapath: Datapath;
  readonly router: Router;
  readonly log: Logger;
  /** The listening control socket's descriptor. */
  readonly controlFd: number;
  /** The control socket's janitor (with `user:`), passed on so the socket outlives this process. */
  readonly janitor: SocketJanitor | undefined;
  /** Stops answering on the control socket and serving metrics: the successor does now. */
  letGo(): void;
}

/**
 * Starts the vtepd on disk as this one's successor and hands everything
 * over; resolves with its PID once it forwards (the caller then exits). On
 * failure this one resumes, and the reason is thrown.
 */
export async function handOver(d: Predecessor): Promise<{ pid: number; previous: number }> {
  d.log.info('upgrade: starting the vtepd on disk to take over');
  const successor = startSuccessor();
  let passJanitor = false;
  try {
    const hello = (await successor.next()) as { takes?: string[] };
    passJanitor = d.janitor !== undefined && (hello.takes ?? []).includes('janitor');
    d.datapath.pause();
    const { state, fds } = handoffState(d, passJanitor);
    successor.channel.send(state, fds);
    const answer = (await successor.next(TAKEOVER_TIMEOUT_MS)) as { ok: boolean; error?: string };
    if (!answer.ok) throw new Error(`the new vtepd could not take over: ${answer.error ?? 'no reason given'}`);
  } catch (e) {
    if (successor.child.exitCode === null) successor.child.kill('SIGKILL');
    successor.channel.close();
    d.datapath.resume();
    d.log.error(`upgrade failed, this vtepd carries on: ${(e as Error).message}`);
    throw e;
  }
  successor.channel.close();
  // A successor that does not hold the janitor's end uses the socket after this one exits: keep it.
  if (!passJanitor) d.janitor?.keep();
  d.letGo();
  const pid = successor.child.pid!;
  d.log.info(`upgrade: vtepd ${pid} took over; this one (${process.pid}) exits`);
  return { pid, previous: process.pid };
}

/** What a successor needs: the descriptors the world knows, and the state no config says. */
function handoffState(d: Predecessor, passJanitor: boolean): { state: HandoffState; fds: number[] } {
  const roles: string[] = ['control'];
  const fds: number[] = [d.controlFd];
  if (passJanitor && d.janitor !== undefined) {
    roles.push('janitor');
    fds.push(d.janitor.descriptor);
  }
  const networks: Record<string, NetworkHandoff> = {};
  const now = monotonicSeconds();
  for (const unit of d.networks.values()) {
    if (unit.tap === undefined)
      throw new RefusedError(`network ${unit.cfg.name} has no TAP now (${unit.failure}); upgrade once it is back`);
    roles.push(`tap ${unit.cfg.name}`, `lock ${unit.cfg.name}`);
    fds.push(unit.tap.fd, unit.lock.descriptor);
    networks[unit.cfg.name] = {
      existed: unit.existed,
      addedAddress: unit.addedAddress,
      offload: unit.tap.offload,
      vnetHdr: unit.tap.vnetHdr,
      tables: snapshotNetwork(unit.net, now),
    };
  }
  for (const [key, point] of d.receivers.entries()) {
    roles.push(`rx ${key}`);
    fds.push(point.rx.fd);
  }
  return {
    state: {
      version: HANDOFF_VERSION,
      from: process.pid,
      config: d.config,
      roles,
      networks,
      unattributed: Array.from(d.datapath.unattributed.drops),
      flowHashSeed: flowHashSeed(),
      router: d.router.snapshot(),
    },
    fds,
  };
}

export { HANDOFF_VERSION, TAKEOVER_TIMEOUT_MS };
