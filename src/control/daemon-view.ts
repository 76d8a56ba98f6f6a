// What the control verbs see of the daemon: its networks and their tables,
// and the few operations that are the daemon's own (reload, upgrade, a
// trace, EVPN). An interface, so that the verbs (which vtepctl loads too)
// import nothing of the data path at run time, and tests can hand the verbs
// a daemon of their own.
import type { NetworkConfig } from '../config/config.ts';
import type { Datapath } from '../datapath/datapath.ts';
import type { EvpnSpeaker } from '../evpn/speaker.ts';
import type { TunnelSender } from '../io/port.ts';
import type { Mirror } from '../observe/capture.ts';
import type { Logger } from '../observe/log.ts';
import type { EventHub } from '../observe/monitor.ts';
import type { TraceReport } from './protocol.ts';
import type { Network } from '../switch/network.ts';
import type { Router } from '../route/router.ts';
import type { IcmpCounters } from '../switch/pmtu-guard.ts';
import { formatIp, isV4Mapped, VTEP_PROBLEMS, vtepProblem, type VtepChecks } from '../wire/ip-address.ts';
import type { ControlStats, TraceRequest, UpgradeReport } from './protocol.ts';
import { RefusedError } from './verb.ts';
import type { ChangeLog } from './change-log.ts';

/** A running network as the verbs see it. */
export interface RunningView {
  net: Network;
  cfg: NetworkConfig;
  /** Why it cannot forward now (its TAP is gone), if it cannot. */
  failure: string | undefined;
  sender?: TunnelSender;
}

export interface DaemonView {
  /** This VTEP's underlay address: text and 16 bytes. */
  readonly localText: string;
  readonly local: Uint8Array;
  /** What no remote VTEP's address may be. */
  readonly vtepChecks: VtepChecks;
  readonly networks: ReadonlyMap<string, RunningView>;
  readonly datapath: Datapath;
  readonly mirror: Mirror;
  readonly events: EventHub;
  readonly log: Logger;
  /** Where verbs log the changes they make (at info, summed up past one a second). */
  readonly changes: ChangeLog;
  /** The control socket's clients, refused and dropped. */
  readonly controlStats: ControlStats;
  /** ICMP "too big" errors sent to this VTEP: believed or ignored. */
  readonly icmp: IcmpCounters;
  /** The BGP EVPN control plane, when the config has one. */
  readonly evpn: EvpnSpeaker | undefined;
  /** Routing between networks: VRFs, gateways, DVR MACs. */
  readonly router: Router;
  /** Monotonic seconds, the data path's clock. */
  now(): number;
  /** Re-reads the config file and applies the difference; throws a RefusedError (with problems) if it cannot. */
  reload(): string[];
  /** Hands over to the vtepd on disk; resolves once it forwards (this process then exits). */
  upgrade(): Promise<UpgradeReport>;
  /** What the data path would do with the frame `t` describes (vtepctl trace). */
  trace(run: RunningView, t: TraceRequest): TraceReport;
}

/** The running network a request names; undefined when it names none (all networks). */
export function networkOf(d: DaemonView, name: string | undefined): RunningView | undefined {
  if (name === undefined) return undefined;
  const n = d.networks.get(name);
  if (n === undefined)
    throw new RefusedError(`no network named "${name}" (networks: ${[...d.networks.keys()].join(', ')})`);
  return n;
}

/** The running network a request must name. */
export function theNetwork(d: DaemonView, name: string): RunningView {
  return networkOf(d, name)!;
}

/**
 * A remote VTEP's address given in a request (16 bytes): of the underlay's family, unicast, not
 * loopback or link-local, not this VTEP, not the underlay subnet's broadcast, not in the overlay.
 */
export function remoteAddress(d: DaemonView, b: Uint8Array): Uint8Array {
  const problem = vtepProblem(b, d.vtepChecks);
  if (problem === 'family') {
    throw new RefusedError(
      `${formatIp(b)} is ${isV4Mapped(b) ? 'IPv4' : 'IPv6'}, but this VTEP's underlay (local ${formatIp(d.local)}) ` +
        `is ${isV4Mapped(d.local) ? 'IPv4' : 'IPv6'}`,
    );
  }
  if (problem !== undefined) throw new RefusedError(`${formatIp(b)} ${VTEP_PROBLEMS[problem]}`);
  return b;
}
