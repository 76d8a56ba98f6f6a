// The BGP engine: GoBGP (Debian `gobgpd`), driven over its gRPC API. BGP is
// not written here. vtepd starts its own gobgpd from a config it generates
// (and stops it at exit; a vtepd killed with SIGKILL takes it along, by the
// parent-death signal setpriv gives it, so that its routes go), or talks to
// one already running (`evpn.gobgp`).
//
// The API's .proto files are loaded at run time from the Debian package
// golang-github-osrg-gobgp-dev (gobgp-api.ts); the typed attributes are
// packed and unpacked as { '@type': ..., fields }.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import type { Logger } from '../observe/log.ts';
import { loadGobgpApi, type GobgpApi } from './gobgp-api.ts';
import { GOBGP_API_DIR } from './values.ts';
import { warmDecoders } from './warm-decoders.ts';

const READY_TIMEOUT_MS = 15_000;

export const EVPN_FAMILY = { afi: 'AFI_L2VPN', safi: 'SAFI_EVPN' };

/** A typed protobuf Any, as protobufjs packs and unpacks it. */
export type Any = { '@type': string; [field: string]: unknown };

export interface ApiPath {
  family: { afi: string; safi: string };
  nlri: Any;
  pattrs: Any[];
  is_withdraw?: boolean;
  neighbor_ip?: string;
}

export interface PeerStatus {
  neighbor: string;
  state: string;
  /** Times the session went down from established (GoBGP's flops). */
  flaps?: number;
  /** The neighbor's AS, as configured (GoBGP's peer_asn). */
  'peer-as'?: number;
  /** Since when (Unix seconds) the session is established, or since it went down (absent: never was). */
  since?: number;
  /** Hold time agreed with the neighbor, in seconds (0 while not established). */
  'hold-time'?: number;
  /** EVPN routes received from this peer (our own reflected back not counted), and of those accepted. */
  received: number;
  accepted: number;
  /** Our own routes the peer sent back (a route reflector does), ignored as loops. */
  'own-reflected': number;
  /**
   * UPDATEs from this peer that GoBGP dropped as malformed (RFC 7606 treat-as-withdraw), and its reason for the
   * last one; known only from the log of a gobgpd vtepd started (absent with `evpn.gobgp`).
   */
  'dropped-updates'?: number;
  'last-dropped'?: string;
}

/**
 * A peer's EVPN route counts from GoBGP's: it counts in `received` every
 * path of the Adj-RIB-In, and leaves out of `accepted` only the paths it
 * marks rejected, which GoBGP 3 does for loops alone: a path with our router
 * id as ORIGINATOR_ID (RFC 4456 section 8: our own, back from a route
 * reflector) or our AS in its AS_PATH (eBGP). So the difference is our own
 * routes, reflected.
 */
export function routeCounts(
  received: number,
  accepted: number,
): Pick<PeerStatus, 'received' | 'accepted' | 'own-reflected'> {
  const own = Math.max(0, received - accepted);
  return { received: received - own, accepted, 'own-reflected': own };
}

export interface GobgpNeighbor {
  address: string;
  /** Its AS; 'external': any AS but ours (GoBGP: peer-as 0, the AS taken from the peer's OPEN). */
  peerAs: number | 'external';
  holdTime: number;
  password?: string;
  /** eBGP to a peer that is not on a connected subnet: TTL 255 (ebgp-multihop). */
  multihop: boolean;
}

export interface GobgpSettings {
  asn: number;
  routerId: string;
  /** This VTEP's underlay address: the BGP sessions' source and the routes' next hop. */
  local: string;
  neighbors: GobgpNeighbor[];
}

type Client = grpc.Client & Record<string, (...args: unknown[]) => unknown>;

interface ListedPeer {
  peer: {
    state: { neighbor_address: string; session_state: string; flops?: number; peer_asn?: number };
    timers?: {
      state?: { negotiated_hold_time?: number; uptime?: { seconds?: number }; downtime?: { seconds?: number } };
    };
    afi_safis: { state?: { family?: { afi: string }; received: number; accepted: number } }[];
  };
}

/** Since when the session is in its state: established since its uptime, down since its downtime (0: never). */
function sinceOf(peer: ListedPeer['peer']): { since?: number } {
  const t = peer.timers?.state;
  const at = peer.state.session_state === 'ESTABLISHED' ? t?.uptime?.seconds : t?.downtime?.seconds;
  return at ? { since: at } : {};
}

/** How long a route watch may take to say it is registered before it is taken as registered anyway. */
const WATCH_REGISTERED_MAX_MS = 3000;

export const apiType = (name: string): string => `type.googleapis.com/apipb.${name}`;

let loaded: GobgpApi | undefined;

/** GoBGP's API, read once per process. */
function loadApi(): GobgpApi {
  if (!existsSync(join(GOBGP_API_DIR, 'gobgp.proto'))) {
    throw new Error(
      `GoBGP's API is not installed (${GOBGP_API_DIR}): install the Debian package golang-github-osrg-gobgp-dev`,
    );
  }
  return (loaded ??= loadGobgpApi(GOBGP_API_DIR));
}

/** A TCP port nobody listens on, for the API of a gobgpd of our own. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

/**
 * gobgpd's config: one session per neighbor (iBGP in our AS, eBGP otherwise), EVPN only, timers for a
 * fabric (fast retries, short hold time), and only the routes vtepd originates sent out (their next hop
 * `local`); its extended next-hop capability cannot be turned off.
 */
export function gobgpdConfig(s: GobgpSettings): string {
  const lines = [
    '[global.config]',
    `  as = ${s.asn}`,
    `  router-id = "${s.routerId}"`,
    `  local-address-list = ["${s.local}"]`,
    '[global.apply-policy.config]',
    '  export-policy-list = ["vtepd-own-routes"]',
    '  default-export-policy = "reject-route"',
  ];
  for (const n of s.neighbors) {
    lines.push(
      '[[neighbors]]',
      '  [neighbors.config]',
      `    neighbor-address = "${n.address}"`,
      `    peer-as = ${n.peerAs === 'external' ? 0 : n.peerAs}`,
      // The schema allows printable ASCII without quotes or backslashes: a TOML basic string as it is.
      ...(n.password !== undefined ? [`    auth-password = "${n.password}"`] : []),
      '  [neighbors.timers.config]',
      '    connect-retry = 2',
      `    hold-time = ${n.holdTime}`,
      `    keepalive-interval = ${Math.max(1, Math.floor(n.holdTime / 3))}`,
      '  [neighbors.transport.config]',
      `    local-address = "${s.local}"`,
      ...(n.multihop ? ['  [neighbors.ebgp-multihop.config]', '    enabled = true', '    multihop-ttl = 255'] : []),
      '  [[neighbors.afi-safis]]',
      '    [neighbors.afi-safis.config]',
      '      afi-safi-name = "l2vpn-evpn"',
    );
  }
  // A VTEP is no transit: only the routes vtepd originates go out. Without this, GoBGP passes what one
  // eBGP peer sent on to another with itself as next hop (it does next-hop-self for routes it did not
  // originate), which points that peer's MACs and VTEPs at this host.
  lines.push(
    '[[policy-definitions]]',
    '  name = "vtepd-own-routes"',
    '  [[policy-definitions.statements]]',
    '    name = "originated-here"',
    '    [policy-definitions.statements.conditions.bgp-conditions]',
    '      route-type = "local"',
    '    [policy-definitions.statements.actions]',
    '      route-disposition = "accept-route"',
  );
  return lines.join('\n') + '\n';
}

/** Our gobgpd's config file, in the temporary directory: vtepd-gobgp-PID-RANDOM.toml. */
const CONFIG_PREFIX = 'vtepd-gobgp-';

/** Removes the config files of vtepds that are gone (a SIGKILL between writing one and gobgpd reading it). */
function removeStaleConfigs(): void {
  let names: string[];
  try {
    names = readdirSync(tmpdir());
  } catch {
    return;
  }
  for (const name of names) {
    const m = /^vtepd-gobgp-(\d+)-[0-9a-f]+\.toml$/.exec(name);
    if (m !== null && !alive(Number(m[1]))) rmSync(join(tmpdir(), name), { force: true });
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** RFC 4271 section 4.5 (and RFC 4486 for Cease): a NOTIFICATION's code and subcode in words. */
const NOTIFICATION: Record<number, [string, Record<number, string>]> = {
  1: ['message header error', { 1: 'connection not synchronized', 2: 'bad message length', 3: 'bad message type' }],
  2: [
    'OPEN message error',
    {
      1: 'unsupported version number',
      2: 'Bad Peer AS',
      3: 'bad BGP identifier',
      4: 'unsupported optional parameter',
      6: 'unacceptable hold time',
      7: 'unsupported capability',
    },
  ],
  3: ['UPDATE message error', {}],
  4: ['hold timer expired', {}],
  5: ['finite state machine error', {}],
  6: [
    'cease',
    {
      1: 'maximum number of prefixes reached',
      2: 'administrative shutdown',
      3: 'peer de-configured',
      4: 'administrative reset',
      5: 'connection rejected',
      6: 'other configuration change',
      7: 'connection collision resolution',
      8: 'out of resources',
    },
  ],
};

function notificationText(code: unknown, subcode: unknown): string {
  const [name, subs] = NOTIFICATION[Number(code)] ?? [`code ${String(code)}`, {}];
  const sub = subs[Number(subcode)];
  return sub !== undefined ? `${name}: ${sub}` : Number(subcode) ? `${name} (subcode ${String(subcode)})` : name;
}

/**
 * What a line of gobgpd's log says about a BGP session, for vtepd's own log at info (up) or as a
 * problem (down, a notification, with the reason in words); undefined for the rest (logged at debug).
 */
export interface SessionLine {
  neighbor: string;
  up: boolean;
  /** The whole line for vtepd's log: "evpn: BGP session with 10.0.0.1 ..." */
  message: string;
  /** Why it is down or what the notification said (absent when up). */
  reason?: string;
}

/** One JSON line of gobgpd's log about a peer (topic "Peer"), parsed once for every reader of it. */
export interface PeerLogEntry {
  neighbor: string;
  fields: Record<string, unknown>;
}

export function peerLogEntry(line: string): PeerLogEntry | undefined {
  let fields: Record<string, unknown>;
  try {
    fields = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return undefined;
  }
  if (typeof fields !== 'object' || fields === null || fields.Topic !== 'Peer' || typeof fields.Key !== 'string')
    return undefined;
  return { neighbor: fields.Key, fields };
}

const asPeerEntry = (line: string | PeerLogEntry) => (typeof line === 'string' ? peerLogEntry(line) : line);

export function sessionLogLine(line: string | PeerLogEntry): SessionLine | undefined {
  const entry = asPeerEntry(line);
  if (entry === undefined) return undefined;
  const { neighbor, fields: e } = entry;
  const peer = `evpn: BGP session with ${neighbor}`;
  const down = (reason: string, sep = ': '): SessionLine => ({
    neighbor,
    up: false,
    message: `${peer}${sep}${reason}`,
    reason,
  });
  switch (e.msg) {
    case 'Peer Up':
      return { neighbor, up: true, message: `${peer} established` };
    case 'Peer Down':
      return down(`down: ${String(e.Reason ?? 'no reason given')}`, ' ');
    case 'sent notification':
      // Data is GoBGP's error, which its logger writes as the error's text ("as number mismatch ...").
      return down(`notification sent${typeof e.Data === 'string' && e.Data ? `: ${e.Data}` : ''}`);
    case 'received notification': {
      const said = e['Communicated-Reason'] ? `: "${String(e['Communicated-Reason'])}"` : '';
      return down(`notification received (${notificationText(e.Code, e.Subcode)})${said}`);
    }
    default:
      return undefined;
  }
}

/** An UPDATE GoBGP dropped as malformed, from its log: the routes in it are treated as withdrawn (RFC 7606). */
export interface DroppedUpdate {
  neighbor: string;
  /** GoBGP's reason ("unknown evpn subtype: 8"). */
  error: string;
  /** The reason with what it means where vtepd knows ("... FRR's ND extended community ..."). */
  explained: string;
}

/** The log line for a dropped UPDATE. */
export function droppedUpdateMessage(d: DroppedUpdate): string {
  return `evpn: GoBGP dropped an UPDATE from ${d.neighbor} as malformed, its routes treated as withdrawn: ${d.explained}`;
}

export function droppedUpdateLine(line: string | PeerLogEntry): DroppedUpdate | undefined {
  const entry = asPeerEntry(line);
  if (entry === undefined || entry.fields.msg !== 'the received Update message was treated as withdraw')
    return undefined;
  const e = entry.fields;
  const error = typeof e.Error === 'string' && e.Error !== '' ? e.Error : 'no reason given';
  // GoBGP 3.10 knows EVPN extended communities up to sub-type 3 (router MAC); FRR adds sub-type 8 to the
  // MAC/IP route of an IPv6 host whose Neighbor Advertisements carry the router flag.
  const explained =
    error === 'unknown evpn subtype: 8'
      ? `${error} (FRR's ND extended community, sent for an IPv6 host that is a router: this GoBGP cannot read it)`
      : error;
  return { neighbor: entry.neighbor, error, explained };
}

/** How soon a gobgpd of our own that died is started again, and at most how often. */
const RESTART_DELAY_MS = 1000;

export class Gobgp {
  private readonly streams = new Set<grpc.ClientReadableStream<unknown>>();
  private stopping = false;
  /** Starts of our gobgpd after the first (it died under us). */
  restarts = 0;
  /** Told a session came up, went down or a notification passed (our gobgpd's log); else logged here. */
  onSession: ((s: SessionLine) => void) | undefined;
  /** Told of an UPDATE our gobgpd dropped as malformed (its log); else logged here. */
  onDroppedUpdate: ((d: DroppedUpdate) => void) | undefined;
  /** UPDATEs our gobgpd dropped as malformed, by neighbor: how many, and the last reason. */
  private readonly dropped = new Map<string, { count: number; last: string }>();
  /** The last session problem logged here while nobody listened (onSession unset); cleared when one comes up. */
  earlyProblem: string | undefined;
  /** Session problems told lately, and when (ms): the same one is told once a minute, not at every retry. */
  private readonly told = new Map<string, number>();

  private tell(message: string): boolean {
    const now = Date.now();
    const last = this.told.get(message);
    if (last !== undefined && now - last < 60_000) return false;
    if (this.told.size > 100) this.told.clear();
    this.told.set(message, now);
    return true;
  }

  /** A session change, to the speaker (or, before it listens, to the log and earlyProblem). */
  private dispatch(session: SessionLine): void {
    if (session.up) this.told.clear();
    else if (!this.tell(session.message)) return;
    if (this.onSession !== undefined) {
      this.onSession(session);
    } else if (session.up) {
      this.earlyProblem = undefined;
      this.log?.info(session.message);
    } else {
      this.earlyProblem = session.message;
      this.log?.warn(session.message);
    }
  }

  /** Counts an UPDATE our gobgpd dropped, and tells it (the same reason from the same peer once a minute). */
  private droppedUpdate(d: DroppedUpdate): void {
    const was = this.dropped.get(d.neighbor);
    this.dropped.set(d.neighbor, { count: (was?.count ?? 0) + 1, last: d.explained });
    if (!this.tell(`dropped ${d.neighbor} ${d.error}`)) return;
    if (this.onDroppedUpdate !== undefined) this.onDroppedUpdate(d);
    else this.log?.warn(droppedUpdateMessage(d));
  }

  /**
   * Session changes as GoBGP's peer events tell them: how a gobgpd vtepd did
   * not start (`evpn.gobgp`) is heard, since its log is not ours to read. The
   * events say the state, not why it changed: a session that goes down is
   * told with the state it went to. Watched again a second after the stream
   * ends (gobgpd restarted), each peer's state then told afresh.
   */
  private watchPeers(): void {
    const established = new Map<string, boolean>();
    const open = () => {
      if (this.stopping) return;
      const stream = this.client.WatchEvent({ peer: {} }) as grpc.ClientReadableStream<{
        peer?: { type: string; peer?: { state?: ListedPeer['peer']['state'] } };
      }>;
      this.streams.add(stream);
      stream.on('data', (ev) => {
        const st = ev.peer?.peer?.state;
        if (st === undefined || (ev.peer?.type !== 'STATE' && ev.peer?.type !== 'INIT')) return;
        const neighbor = st.neighbor_address;
        const up = st.session_state === 'ESTABLISHED';
        const was = established.get(neighbor);
        established.set(neighbor, up);
        if (was === up || (was === undefined && !up && ev.peer.type === 'INIT')) return;
        const peer = `evpn: BGP session with ${neighbor}`;
        const state = st.session_state.toLowerCase();
        this.dispatch(
          up
            ? { neighbor, up, message: `${peer} established` }
            : { neighbor, up, message: `${peer} down (now ${state})`, reason: `down (now ${state})` },
        );
      });
      let ended = false;
      const again = () => {
        if (ended) return;
        ended = true;
        this.streams.delete(stream);
        established.clear();
        if (!this.stopping) setTimeout(open, 1000).unref();
      };
      stream.on('error', again);
      stream.on('end', again);
    };
    open();
  }

  private constructor(
    private readonly client: Client,
    /** host:port of the API. */
    readonly address: string,
    private child: ChildProcess | undefined,
    /** Our gobgpd's config: written for it at each start, removed once it has read it. */
    private readonly config: { file: string; text: string } | undefined,
    private readonly log: Logger | undefined,
  ) {}

  /**
   * Starts a gobgpd of our own and waits for its API. Should it die (killed,
   * crashed), it is started again, with the same config and API address; the
   * speaker's route stream then ends, and it reconnects and resyncs.
   */
  static async start(s: GobgpSettings, log: Logger): Promise<Gobgp> {
    const api = loadApi();
    removeStaleConfigs();
    // Named after this process, so that a vtepd started after a SIGKILL can tell it is stale.
    const file = join(tmpdir(), `${CONFIG_PREFIX}${process.pid}-${randomBytes(4).toString('hex')}.toml`);
    const port = await freePort();
    const address = `127.0.0.1:${port}`;
    const g = new Gobgp(newClient(api, address), address, undefined, { file, text: gobgpdConfig(s) }, log);
    g.spawn();
    try {
      await g.ready(() => g.exited());
    } catch (e) {
      g.stop();
      throw e;
    }
    return g;
  }

  private failure: Error | undefined;

  /** Why our gobgpd is not running, if it is not. */
  private exited(): Error | undefined {
    const c = this.child;
    return (
      this.failure ??
      (c !== undefined && c.exitCode !== null ? new Error(`gobgpd exited with ${c.exitCode}`) : undefined)
    );
  }

  private spawn(): void {
    const log = this.log!;
    const { file, text } = this.config!;
    writeFileSync(file, text, { mode: 0o600 });
    const child = spawn(
      'setpriv',
      [
        '--pdeathsig',
        'KILL',
        'gobgpd',
        '-f',
        file,
        '-t',
        'toml',
        '--api-hosts',
        this.address,
        '--pprof-disable',
        '--log-level',
        'info',
      ],
      // One OS thread runs its Go code: a leaf's BGP has no parallel work, and with a thread per core the Go
      // scheduler spins on idle threads at each wake-up. In a MAC move of a 100-VTEP fabric on two vCPUs the
      // hundred gobgpds took 307 to 389 ms of CPU instead of 334 to 573. A GOMAXPROCS of the user's is kept.
      { stdio: ['ignore', 'pipe', 'pipe'], env: { GOMAXPROCS: '1', ...process.env } },
    );
    const relay = (d: Buffer) => {
      for (const line of d.toString().split('\n')) {
        if (!line.trim()) continue;
        log.debug(`gobgpd: ${line.trim()}`);
        // Read once at start: from then on the file is only something to leave behind.
        if (line.includes('Finished reading the config file')) rmSync(file, { force: true });
        const entry = peerLogEntry(line.trim());
        if (entry === undefined) continue;
        const session = sessionLogLine(entry);
        if (session !== undefined) this.dispatch(session);
        const drop = droppedUpdateLine(entry);
        if (drop !== undefined) this.droppedUpdate(drop);
      }
    };
    child.stdout!.on('data', relay);
    child.stderr!.on('data', relay);
    this.failure = undefined;
    child.once('error', (e) => (this.failure = e));
    child.once('exit', (code, signal) => {
      if (this.stopping) return;
      log.warn(`evpn: gobgpd ${child.pid} exited (${signal ?? `code ${code}`}); starting it again`);
      setTimeout(() => {
        if (this.stopping) return;
        this.restarts++;
        this.spawn();
      }, RESTART_DELAY_MS);
    });
    this.child = child;
  }

  /** Talks to a gobgpd already running at `address` (host:port). */
  static async connect(address: string): Promise<Gobgp> {
    const g = new Gobgp(newClient(loadApi(), address), address, undefined, undefined, undefined);
    await g.ready(() => undefined);
    g.watchPeers();
    return g;
  }

  /** Resolves once the API answers (after a restart of gobgpd), or rejects after READY_TIMEOUT_MS. */
  waitReady(): Promise<void> {
    return this.ready(() => undefined);
  }

  /** Whether vtepd started this gobgpd (and stops it). */
  get managed(): boolean {
    return this.config !== undefined;
  }

  private async ready(failure: () => Error | undefined): Promise<void> {
    const t0 = Date.now();
    for (;;) {
      try {
        await this.unary('GetBgp', {});
        return;
      } catch (e) {
        const why = failure();
        if (why !== undefined) throw why;
        if (Date.now() - t0 > READY_TIMEOUT_MS)
          throw new Error(`GoBGP's API at ${this.address} does not answer: ${(e as Error).message}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  }

  private unary<T>(method: string, req: object): Promise<T> {
    return new Promise((resolve, reject) => {
      this.client[method](req, { deadline: Date.now() + 5000 }, (err: grpc.ServiceError | null, res: T) =>
        err ? reject(err) : resolve(res),
      );
    });
  }

  addPath(path: ApiPath): Promise<unknown> {
    return this.unary('AddPath', { table_type: 'GLOBAL', path });
  }

  deletePath(path: ApiPath): Promise<unknown> {
    return this.unary('DeletePath', { table_type: 'GLOBAL', family: EVPN_FAMILY, path });
  }

  /**
   * The best EVPN paths as they change from now on (bestPaths() gives the
   * current ones); `onEnd` hears the stream end (gobgpd gone, or restarted).
   */
  watch(
    onPath: (p: ApiPath) => void,
    onEnd: (e: Error | undefined) => void,
  ): { stop: () => void; registered: Promise<boolean> } {
    // Peer events asked for too: GoBGP sends them (each peer's state, then END_OF_INIT) from the step that
    // registers the watch, so the first of them says that the best paths are watched from here on.
    const stream = this.client.WatchEvent({
      peer: {},
      table: { filters: [{ type: 'BEST', init: false }] },
    }) as grpc.ClientReadableStream<{ table?: { paths: ApiPath[] }; peer?: { type: string } }>;
    this.streams.add(stream);
    let nowRegistered: (yes: boolean) => void = () => {};
    const registered = new Promise<boolean>((r) => (nowRegistered = r));
    // A GoBGP without END_OF_INIT and without peers would say nothing: after a while, taken as registered.
    const fallback = setTimeout(() => nowRegistered(true), WATCH_REGISTERED_MAX_MS);
    stream.on('data', (ev) => {
      if (ev.peer !== undefined) {
        if (ev.peer.type === 'INIT' || ev.peer.type === 'END_OF_INIT') {
          clearTimeout(fallback);
          nowRegistered(true);
        }
        return;
      }
      for (const p of ev.table?.paths ?? [])
        if (p.family?.afi === EVPN_FAMILY.afi && p.family?.safi === EVPN_FAMILY.safi) onPath(p);
    });
    let ended = false;
    const end = (e: Error | undefined) => {
      if (ended) return;
      ended = true;
      clearTimeout(fallback);
      nowRegistered(false);
      this.streams.delete(stream);
      onEnd(e);
    };
    stream.on('error', (e: grpc.ServiceError) => end(e.code === grpc.status.CANCELLED ? undefined : e));
    stream.on('end', () => end(undefined));
    return { stop: () => stream.cancel(), registered };
  }

  /** The best EVPN path of every destination in the global RIB now. */
  bestPaths(): Promise<ApiPath[]> {
    return new Promise((resolve, reject) => {
      const out: ApiPath[] = [];
      const stream = this.client.ListPath(
        { table_type: 'GLOBAL', family: EVPN_FAMILY, name: '', prefixes: [], sort_type: 'NONE' },
        { deadline: Date.now() + 10_000 },
      ) as grpc.ClientReadableStream<{ destination?: { paths: (ApiPath & { best?: boolean })[] } }>;
      stream.on('data', ({ destination }) => {
        for (const p of destination?.paths ?? []) if (p.best) out.push(p);
      });
      stream.on('error', reject);
      stream.on('end', () => {
        resolve(out);
        // Once the snapshot is taken in (the promise's continuation runs first), while routes are quiet.
        setImmediate(() => warmDecoders(loadApi().decodeWatchEvent));
      });
    });
  }

  /** Every peer's session state and EVPN route counts. */
  peers(): Promise<PeerStatus[]> {
    return new Promise((resolve, reject) => {
      const out: PeerStatus[] = [];
      const stream = this.client.ListPeer(
        { address: '', enableAdvertised: false },
        { deadline: Date.now() + 5000 },
      ) as grpc.ClientReadableStream<ListedPeer>;
      stream.on('data', ({ peer }: ListedPeer) => {
        const evpn = peer.afi_safis.find((a) => a.state?.family?.afi === EVPN_FAMILY.afi)?.state;
        out.push({
          neighbor: peer.state.neighbor_address,
          state: peer.state.session_state,
          flaps: peer.state.flops ?? 0,
          'peer-as': peer.state.peer_asn,
          ...sinceOf(peer),
          'hold-time': peer.timers?.state?.negotiated_hold_time ?? 0,
          ...routeCounts(evpn?.received ?? 0, evpn?.accepted ?? 0),
          ...this.droppedOf(peer.state.neighbor_address),
        });
      });
      stream.on('error', reject);
      stream.on('end', () => resolve(out));
    });
  }

  /** What the log of our gobgpd said was dropped from `neighbor` (nothing is known of another gobgpd). */
  private droppedOf(neighbor: string): Pick<PeerStatus, 'dropped-updates' | 'last-dropped'> {
    if (!this.managed) return {};
    const d = this.dropped.get(neighbor);
    return d === undefined ? { 'dropped-updates': 0 } : { 'dropped-updates': d.count, 'last-dropped': d.last };
  }

  /**
   * Closes the API connection; a gobgpd of our own is stopped (its sessions close, and the fabric drops its
   * routes).
   */
  stop(): void {
    this.stopping = true;
    for (const s of this.streams) s.cancel();
    this.client.close();
    if (this.child !== undefined && this.child.exitCode === null) this.child.kill('SIGTERM');
    if (this.config !== undefined) rmSync(this.config.file, { force: true });
  }
}

/** WatchEvent's reply decoder of GoBGP's installed API, as vtepd's client uses it (for tests). */
export function loadWatchDecoder(): (bytes: Buffer) => unknown {
  return loadApi().decodeWatchEvent;
}

function newClient(api: GobgpApi, address: string): Client {
  const Ctor = api.Client;
  return new Ctor(address, grpc.credentials.createInsecure(), {
    // A gobgpd just started listens some 100 ms later; gRPC's first reconnect after a refused connection
    // waits a second by default, which a start of vtepd asking early (ready) then paid in full.
    'grpc.initial_reconnect_backoff_ms': 100,
    'grpc.max_reconnect_backoff_ms': 2000,
  }) as unknown as Client;
}
