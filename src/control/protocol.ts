// The control socket's protocol: one JSON request per line, one JSON reply
// per line (or, for a stream, a first reply and then one line per event).
// vtepctl is one client; anything that speaks JSON over a Unix socket is
// another (the README lists every request and reply). Requests are validated
// here, at the boundary, with the schemas below; the daemon only ever sees a
// well-formed request.
import { z } from 'zod';
import { isUnicastIp, parseIp } from '../wire/ip-address.ts';
import { isGroupMac, parseMac } from '../wire/mac.ts';
import type { SocketStats } from '../io/port.ts';

export const CAPTURE_SIDES = ['tap', 'tunnel', 'both'] as const;

const network = z.string({ error: 'expected a network name' }).min(1, { error: 'expected a network name' });
const MAC = 'expected a unicast MAC address such as 52:54:00:12:34:56';
const mac = z.string({ error: MAC }).refine((s) => {
  const m = parseMac(s);
  return m !== undefined && !isGroupMac(m);
}, { error: MAC });
const IP = 'expected a unicast IPv4 or IPv6 address';
const ip = z.string({ error: IP }).refine((s) => {
  const b = parseIp(s);
  return b !== undefined && isUnicastIp(b);
}, { error: IP });
const positive = z.number({ error: 'expected a positive integer' }).int({ error: 'expected a positive integer' })
  .positive({ error: 'expected a positive integer' });

const fdbShow = z.strictObject({ cmd: z.literal(['fdb', 'fdb-show']), network: network.optional() });
const fdbAdd = z.strictObject({ cmd: z.literal(['fdb-add', 'fdb-replace']), network, mac, dst: ip });
const fdbDel = z.strictObject({ cmd: z.literal('fdb-del'), network, mac });
const fdbFlush = z.strictObject({
  cmd: z.literal('fdb-flush'),
  network: network.optional(),
  which: z.enum(['all', 'dynamic', 'static'], { error: 'expected all, dynamic or static' }).default('all'),
  remote: ip.optional(),
});
const remoteAdd = z.strictObject({ cmd: z.literal('remote-add'), network, ip, flood: z.boolean({ error: 'expected true or false' }).default(true) });
const remoteDel = z.strictObject({ cmd: z.literal('remote-del'), network, ip });
const remoteShow = z.strictObject({ cmd: z.literal('remote-show'), network: network.optional() });
const neighAdd = z.strictObject({ cmd: z.literal('neigh-add'), network, ip, mac });
const neighDel = z.strictObject({ cmd: z.literal('neigh-del'), network, ip });
const neighShow = z.strictObject({ cmd: z.literal('neigh-show'), network: network.optional() });
const stats = z.strictObject({ cmd: z.literal('stats') });
const capture = z.strictObject({
  cmd: z.literal('capture'),
  network: network.optional(),
  side: z.enum(CAPTURE_SIDES, { error: 'expected tap, tunnel or both' }).default('both'),
  count: positive.optional(),
});
const reload = z.strictObject({ cmd: z.literal('reload') });
const upgrade = z.strictObject({ cmd: z.literal('upgrade') });
const monitor = z.strictObject({ cmd: z.literal('monitor'), network: network.optional() });
const ipPair = z.tuple([ip, ip], { error: 'expected two addresses: source and destination' });
const evpnShow = z.strictObject({ cmd: z.literal('evpn-show') });
const trace = z.strictObject({
  cmd: z.literal('trace'),
  network,
  /** "tap", or the address of the remote VTEP the frame comes from. */
  in: z.union([z.literal('tap'), ip], { error: 'expected tap or the address of a remote VTEP' }),
  src: mac,
  dst: z.string({ error: 'expected a MAC address' }).refine((s) => parseMac(s) !== undefined, { error: 'expected a MAC address' }),
  vlan: z.number({ error: 'expected a VLAN id from 1 to 4094' }).int().min(1, { error: 'expected a VLAN id from 1 to 4094' })
    .max(4094, { error: 'expected a VLAN id from 1 to 4094' }).optional(),
  'arp-request': ip.optional(),
  ipv4: ipPair.optional(),
  ipv6: ipPair.optional(),
}).refine((t) => [t['arp-request'], t.ipv4, t.ipv6].filter((x) => x !== undefined).length <= 1, {
  error: 'give at most one of arp-request, ipv4 and ipv6',
});

/** Every request, by its `cmd`. */
export const requestSchema = z.discriminatedUnion('cmd', [
  fdbShow, fdbAdd, fdbDel, fdbFlush, remoteAdd, remoteDel, remoteShow, neighAdd, neighDel, neighShow, stats, capture, reload, monitor, trace, evpnShow, upgrade,
], { error: (i) => (i.code === 'invalid_union' ? `unknown command; the commands are: ${COMMANDS.join(', ')}` : undefined) });

export const COMMANDS = [
  'fdb-show', 'fdb-add', 'fdb-replace', 'fdb-del', 'fdb-flush', 'remote-add', 'remote-del', 'remote-show', 'neigh-add', 'neigh-del', 'neigh-show',
  'stats', 'capture', 'reload', 'monitor', 'trace', 'evpn-show', 'upgrade',
] as const;

/** A request as a client writes it (defaults may be left out). */
export type Request = z.input<typeof requestSchema>;
/** A request as the daemon gets it, validated and with defaults. */
export type ValidRequest = z.output<typeof requestSchema>;
export type TraceRequest = z.output<typeof trace>;

/** Validates one request; the error is one line naming what is wrong. */
export function parseRequest(raw: unknown): { ok: true; request: ValidRequest } | { ok: false; error: string } {
  const r = requestSchema.safeParse(raw);
  if (r.success) return { ok: true, request: r.data };
  const i = r.error.issues[0];
  const where = i.path.length > 0 ? `${i.path.join('.')}: ` : '';
  return { ok: false, error: `${where}${i.message}` };
}

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
export type Reply<T = unknown> = { ok: true; data: T } | { ok: false; error: string; invalid?: boolean; problems?: string[] };

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
  mac: string;
  network: string;
  /** config, vtepctl, evpn or snooped. */
  origin: string;
  /** Whole seconds since it was set or last snooped. */
  age: number;
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
  /** Entries now, and what snooping did since the start. */
  neigh: { entries: number; learned: number; moved: number; aged: number; refused: number };
  drops: Record<string, number>;
  remotes: Record<string, RemoteStats>;
  /** GRE networks: what sends the packets (gre-socket), and how many went by each socket. */
  'gre-socket'?: SocketStats;
}

export type { SocketStats };

export interface StatsReport {
  networks: Record<string, NetworkStats>;
  /** Drops before a packet's network is known (bad header, unknown VNI). */
  drops: Record<string, number>;
  control: ControlStats;
  /** Times busy polling paused: the CPU was wanted elsewhere, or polling caught nothing (absent with busy-poll 0 and no traffic yet). */
  'busy-poll'?: { 'paused-contended': number; 'paused-idle': number };
  /** ICMP "too big" errors sent to this VTEP: believed (about a packet it sent, RFC 5927), or ignored by reason. */
  'pmtu-icmp'?: { believed: number; ignored: Record<string, number> };
}

/** The control socket's clients: connected now, and those it refused or dropped since the start. */
export interface ControlStats {
  clients: number;
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
