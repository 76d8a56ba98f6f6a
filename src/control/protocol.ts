// The control socket's protocol: one JSON request per line, one JSON reply
// per line (or, for a stream, a first reply and then one line per event).
// vtepctl is one client; anything that speaks JSON over a Unix socket is
// another (docs/control-protocol.md lists every request and reply, from the
// verb registry). Requests are validated at the boundary with their verb's
// schema (registry.ts); the daemon only ever sees a well-formed request.
import type { SocketStats } from '../io/port.ts';

export const CAPTURE_SIDES = ['tap', 'tunnel', 'both'] as const;

/** A request as a client writes it: its verb's `cmd` and fields (registry.ts, src/control/verbs/). */
export interface Request {
  cmd: string;
  [field: string]: unknown;
}

export type { TraceRequest } from './verbs/trace.ts';

/**
 * A request answered by a stream: after its first reply line, one line per
 * event, until `{ "end": ... }` or the client hangs up.
 */
export interface Streaming {
  /** Starts the stream into `sink`; returns what stops it (the client hung up). */
  stream(sink: StreamSink): () => void;
}

/** Where a stream's lines go: a client that may read slower than they come. */
export interface StreamSink {
  /** Whether a line would be taken now: a producer may skip building one that would be dropped. */
  readonly room: boolean;
  /** Sends a line; drops and counts it when the client is too far behind. */
  send(line: object): void;
  /** Counts `n` lines (default 1) the producer did not build because there was no room. */
  skipped(n?: number): void;
  /** Sends the last line (with the count of dropped lines) and closes. */
  end(last: object): void;
}

/**
 * A reply. A refusal says why; `invalid` marks a request that cannot be done
 * as asked (unknown network, a MAC behind the local TAP, a bad config on
 * reload...), which vtepctl reports with exit code 2.
 */
export type Reply<T = unknown> =
  | { ok: true; data: T }
  | {
      ok: false;
      error: string;
      invalid?: boolean;
      problems?: string[];
      /** In a batch (`{"cmd":"batch"}`): not done, since an earlier request of the batch was refused. */
      'not-done'?: boolean;
    };

/**
 * The data of a reply that may be long (`fdb show` of a million MACs): its rows are made as they
 * are sent, a chunk at a time between batches of packets, so that listing never stalls
 * forwarding (the control server streams it). As JSON it is the plain array, for whoever takes
 * it in one piece.
 */
export class LazyList<T> implements Iterable<T> {
  constructor(private readonly rows: () => Iterator<T>) {}

  [Symbol.iterator](): Iterator<T> {
    return this.rows();
  }

  toJSON(): T[] {
    return [...this];
  }
}

/** Rows sent as they are made, typed as the array the client reads. */
export function lazyRows<T>(rows: () => Iterator<T>): T[] {
  return new LazyList(rows) as unknown as T[];
}

/** One row of `vtepctl fdb show --json`. */
export interface FdbRow {
  mac: string;
  network: string;
  /** Underlay address of the VTEP the MAC is behind; null for a MAC behind our own TAP. */
  remote: string | null;
  static: boolean;
  /** Whole seconds since the MAC was last seen. */
  age: number;
  /** learned, config, vtepctl or evpn. */
  origin: string;
}

/** One row of `vtepctl remote show --json`. */
export interface RemoteRow {
  remote: string;
  network: string;
  /** Receives BUM frames (false: accepted as a sender only). */
  flood: boolean;
  /** config, vtepctl, evpn, learned; static when a given FDB entry names it. */
  origins: string[];
  /** MACs in the FDB behind it. */
  macs: number;
  'rx-packets': number;
  'rx-bytes': number;
  'tx-packets': number;
  'tx-bytes': number;
  /** Path MTU toward it: the underlay's MTU, or less as an ICMP error said. */
  pmtu: number;
  /** Lowered by an ICMP error (forgotten 10 minutes later). */
  'pmtu-learned': boolean;
}

/** One row of `vtepctl neigh show --json`. */
export interface NeighRow {
  ip: string;
  /** Its MAC; null while the router still asks (resolving) or nobody answered (failed). */
  mac: string | null;
  network: string;
  /** config, vtepctl, evpn, snooped, local, or resolved (by the network's gateway). */
  origin: string;
  /** Whole seconds since it was set, snooped or resolved. */
  age: number;
  /** For entries the router resolved: reachable, resolving or failed. */
  state?: 'reachable' | 'resolving' | 'failed';
}

/** One row of `vtepctl route show --json`. */
export interface RouteRow {
  vrf: string;
  prefix: string;
  /** The next hop; null for a connected subnet. */
  via: string | null;
  /** The network packets leave on (null: over the fabric, or a given route not installed now). */
  network: string | null;
  /** A route over the fabric (EVPN, symmetric IRB): the egress VTEP's router MAC and the L3VNI. */
  rmac?: string;
  vni?: number;
  /** connected, config, vtepctl or evpn. */
  origin: string;
  /** False for a given route not installed: its next hop is on no connected subnet, or its subnet is connected. */
  active: boolean;
  /** Why it is not installed. */
  why?: string;
}

/** One row of `vtepctl dvr-mac show --json`. */
export interface DvrMacRow {
  mac: string;
  /** This host's own (dvr-mac), or another host's. */
  host: 'this' | 'other';
  origin: 'config' | 'vtepctl';
}

/** Per VRF in `vtepctl stats`: its networks, routes and counters. */
export interface VrfStats {
  networks: string[];
  routes: number;
  counters: Record<string, number>;
  /** Neighbours its gateways are asking for now. */
  resolving: number;
  /** Its L3VNI (symmetric IRB over EVPN): packets on it, and what it dropped. */
  l3vni?: {
    vni: number;
    'router-mac': string;
    'rx-packets': number;
    'tx-packets': number;
    drops: Record<string, number>;
  };
}

export interface RemoteStats {
  'rx-packets': number;
  'rx-bytes': number;
  'tx-packets': number;
  'tx-bytes': number;
  /** Receives floods; named by a configuration (static entry, allow, --no-flood); or learned (accept-any-remote). */
  kind: 'flood' | 'static' | 'learned';
  /** Path MTU toward it: the largest outer IP packet that reaches it. */
  pmtu: number;
}

export interface NetworkStats {
  encap: string;
  id: number;
  tap: string;
  /** `failed`: the network cannot forward (its TAP is gone); `failure` says why and what vtepd does about it. */
  state: 'up' | 'failed';
  failure?: string;
  /** Multicast group of BUM frames, or null. */
  group: string | null;
  counters: Record<string, number>;
  macs: { entries: number; learned: number; aged: number; moved: number; refused: number };
  /** Given state and its bounds: entries now, the bound, and how many were refused at it. */
  given: Record<GivenKind, { entries: number; max: number; refused: number }>;
  /** Entries now, and what snooping did since the start. */
  neigh: { entries: number; learned: number; moved: number; aged: number; refused: number };
  drops: Record<string, number>;
  remotes: Record<string, RemoteStats>;
  /** GRE networks: what sends the packets (gre-socket), and how many went by each socket. */
  'gre-socket'?: SocketStats;
}

export type { SocketStats };

/** What a network holds that others give it: FDB entries (config, vtepctl; EVPN) and remote VTEPs. */
export type GivenKind = 'static-macs' | 'evpn-macs' | 'remotes';

export interface StatsReport {
  networks: Record<string, NetworkStats>;
  /** Drops before a packet's network is known (bad header, unknown VNI). */
  drops: Record<string, number>;
  control: ControlStats;
  /**
   * Times busy polling paused: the CPU was wanted elsewhere, or polling caught nothing (absent with busy-poll 0
   * and no traffic yet).
   */
  'busy-poll'?: { 'paused-contended': number; 'paused-idle': number };
  /** ICMP "too big" errors sent to this VTEP: believed (about a packet it sent, RFC 5927), or ignored by reason. */
  'pmtu-icmp'?: { believed: number; ignored: Record<string, number> };
  /** Routing between networks, per VRF (absent without any). */
  vrfs?: Record<string, VrfStats>;
  /** BGP EVPN (absent without it): routes ignored by reason, as their VTEP address is one no VTEP can have. */
  evpn?: { rejected: Record<string, number> };
}

/** The control socket's clients: connected now, and those it refused or dropped since the start. */
export interface ControlStats {
  clients: number;
  /** Of those, the ones following a stream (monitor, capture) now. */
  streams?: number;
  /** Refused: max-clients were connected already. */
  refused: number;
  /** Closed after idle-timeout without a request. */
  'idle-closed': number;
  /** Stream clients disconnected for reading nothing while their output piled up. */
  'slow-readers': number;
  /** Stream lines (captured packets, events) dropped because their client was behind. */
  'lines-dropped': number;
}

/** What `vtepctl upgrade` answers: the new daemon's PID and the old one's. */
export interface UpgradeReport {
  pid: number;
  previous: number;
}

/** What `vtepctl reload` answers: one line per change applied. */
export interface ReloadReport {
  changes: string[];
}

export const MAX_REQUEST_BYTES = 64 * 1024;

/** How long an upgrade's successor may take to start, and then to take over (the daemon's limits). */
export const UPGRADE_START_MS = 30_000;
export const UPGRADE_TAKEOVER_MS = 30_000;

/** What `vtepctl trace` answers. */
export interface TraceReport {
  network: string;
  /** "tap", or the remote VTEP the frame came from. */
  in: string;
  /** The frame traced, one line. */
  frame: string;
  steps: string[];
  /** dropped, answered, unicast, flooded, too-big, routed or delivered. */
  result: string;
  /** The reason, when dropped. */
  drop?: string;
  /** Each packet that would go on the wire, one line each. */
  wire: string[];
}
