// The daemon's configuration: a YAML file, or the flags of one network, both
// checked by the same schema (command-line overrides of a file too). A
// mistake is reported with the field's path (or the flag's name) and what is
// expected; nothing on the system is touched until the whole configuration
// is valid. Addresses are kept as canonical text (RFC 5952 for IPv6).
import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';
import { isScalar, parseDocument, visit } from 'yaml';
import { z } from 'zod';
import { DEFAULT_AGEING_S, DEFAULT_MAX_MACS } from '../switch/fdb.ts';
import { bool, expected, int } from '../tunnel/fields.ts';
import { tunnelBlocks, tunnelFor, tunnelSettings, TUNNEL_KINDS, type TunnelSettings } from '../tunnel/index.ts';
import { canonicalIp, isMulticastIp, isUnicastIp, isV4Mapped, parseIp } from '../wire/ip-address.ts';
import { parseIpv4Address } from '../wire/ipv4.ts';
import { isGroupMac, parseMac, type Mac } from '../wire/mac.ts';
import { DEFAULT_CONTROL_LIMITS, type ControlLimits } from '../control/server.ts';
import { DEFAULT_SOCKET, SERVICE_SOCKET } from '../control/sockets.ts';
import { defaultRouteDistinguisher, defaultRouteTarget, formatRouteValue, parseRouteValue } from '../evpn/values.ts';

export { DEFAULT_SOCKET, SERVICE_SOCKET };
/** A config file is read only up to this size: /dev/zero must not fill the memory. */
export const MAX_CONFIG_BYTES = 1024 * 1024;
/** YAML aliases resolved at most: a "billion laughs" file is refused, not expanded. */
const MAX_ALIASES = 1000;
/** A Unix socket address holds 108 bytes, the last one a NUL. */
const MAX_SOCKET_PATH_BYTES = 107;
export const DEFAULT_TTL = 64;
/** Busy polling after traffic, as SO_BUSY_POLL does in the kernel: saves a wake-up per reply. */
export const DEFAULT_BUSY_POLL_US = 200;

export interface GroupSettings {
  /** Canonical text of the group address. */
  address: string;
  dev: string;
  ttl: number;
}

/** A network's EVPN settings (RFC 7432, RFC 8365), defaults filled in. */
export interface NetworkEvpn {
  /** Route distinguisher of its routes, "IP:N" or "ASN:N". */
  rd: string;
  /** Route targets whose routes it installs, and that its routes carry. */
  importRts: string[];
  exportRts: string[];
}

/** The BGP EVPN control plane: GoBGP, started by vtepd or already running. */
export interface EvpnConfig {
  asn: number;
  routerId: string;
  /** BGP peers (route reflectors or VTEPs), all iBGP in `asn`. */
  neighbors: string[];
  /** The gRPC API (host:port) of a gobgpd already running; unset: vtepd runs its own. */
  gobgp?: string;
  /** BGP hold time in seconds: how long a silent peer's routes stay. */
  holdTime: number;
}

export interface NetworkConfig {
  name: string;
  tap: string;
  /** IPv4 address with prefix for the TAP, as `ip addr add` takes it. */
  address?: string;
  /** Unset: the underlay MTU minus the encapsulation overhead. */
  mtu?: number;
  /** The TAP's MAC. Unset: one derived from `local` and the TAP's name for a TAP vtepd creates (the same at every start); an existing TAP keeps its own. */
  mac?: Mac;
  tunnel: TunnelSettings;
  /** Canonical text of each remote VTEP's address. */
  remotes: string[];
  /** Multicast group for BUM frames (VXLAN only), joined on `dev`. */
  group?: GroupSettings;
  /** VTEPs accepted (and learned) besides the remotes, without receiving floods. */
  allow: string[];
  statics: { mac: Mac; remote: string }[];
  /** Neighbour entries the ARP/ND responder answers from: canonical address text and MAC. */
  neigh: { ip: string; mac: Mac }[];
  /** Answer ARP requests and NS from the TAP for addresses in the neighbour table. */
  arpResponder: boolean;
  /** Fill the neighbour table from ARP and unsolicited NA that arrive from tunnels. */
  arpSnoop: boolean;
  /** Learn source MACs of frames from tunnels (off, as the kernel's nolearning, where EVPN says where MACs are). */
  learning: boolean;
  /** Advertised and programmed by BGP EVPN. */
  evpn?: NetworkEvpn;
  ageing: number;
  maxMacs: number;
  /** accept-any-remote, or a group without an allow list. */
  acceptAnyRemote: boolean;
  ttl: number;
  /**
   * Don't Fragment on the outer IPv4 header (default: clear for VXLAN as the
   * kernel, set for GRE as Open vSwitch); 'inherit' copies the inner IPv4
   * packet's DF, as the kernel's `df inherit`. No meaning over IPv6 (never fragmented on the way).
   */
  df: DfMode;
  /** VXLAN over IPv6: accept datagrams with a zero UDP checksum (the kernel's udp6zerocsumrx). */
  udp6ZeroCsumRx: boolean;
  /**
   * GRE: what sends the packets. `packet`: a packet socket, vtepd writing the
   * Ethernet and IP headers from the kernel's next hops (the raw socket
   * remains for what it cannot carry); `raw`: the kernel's raw IP socket alone.
   */
  greSocket: GreSocket;
}

export const GRE_SOCKETS = ['packet', 'raw'] as const;
export type GreSocket = (typeof GRE_SOCKETS)[number];
export const DEFAULT_GRE_SOCKET: GreSocket = 'packet';
const greSocketField = z.enum(GRE_SOCKETS, expected('expected packet or raw'));

export type DfMode = boolean | 'inherit';

export interface Config {
  /** Canonical text of this VTEP's underlay address. */
  local: string;
  socket: string;
  /** TSO and checksum offload on the TAPs (where the kernel has them). */
  offload: boolean;
  /** Microseconds to keep polling after traffic before sleeping (0: never busy-poll). */
  busyPoll: number;
  evpn?: EvpnConfig;
  /** Bounds on the control socket's clients. */
  control: ControlLimits;
  /** Who reaches the control socket (mode, group) and who may change things through it. */
  socketAccess: { mode: number; group?: string; mutations: 'owner' | 'group' };
  /** The user vtepd becomes once it has opened what needs root (keeping CAP_NET_ADMIN and CAP_NET_RAW). */
  user?: string;
  /** Where Prometheus scrapes /metrics, if anywhere. */
  metrics?: { host: string; port: number };
  log: { format: (typeof LOG_FORMATS)[number]; level: (typeof LOG_LEVELS)[number] };
  networks: NetworkConfig[];
}

/** One or more mistakes, each a line naming the field and what it expects. */
export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(problems.join('\n'));
  }
}

// ------------------------------------------------------------------ schema

const IPV4 = 'expected an IPv4 address such as 10.0.0.1';
const ipv4 = z.string(expected(IPV4)).refine((s) => parseIpv4Address(s) !== undefined, expected(IPV4));
// zod runs every refinement, also after one failed: each must take any string. After a
// refinement that checks the form (`unparsed` true), text it refused already is not refused twice.
const is = (test: (b: Uint8Array) => boolean, unparsed = false) => (s: string) => {
  const b = parseIp(s);
  return b === undefined ? unparsed : test(b);
};
const whenParsed = (test: (b: Uint8Array) => boolean) => is(test, true);
const unicastIpv4 = ipv4.refine(whenParsed(isUnicastIp), expected('expected a unicast IPv4 address'));
/** Underlay addresses: IPv4 or IPv6, the family of `local` (normalize() checks that). */
const UNDERLAY = 'expected an IPv4 or IPv6 address such as 10.0.0.1 or fd00::1';
const underlayIp = z.string(expected(UNDERLAY)).refine((s) => parseIp(s) !== undefined, expected(UNDERLAY));
/** fe80::/10 names a link only with an interface (fe80::1%eth1): a VTEP's address must stand alone. */
const notLinkLocal = (b: Uint8Array) => isV4Mapped(b) || b[0] !== 0xfe || (b[1] & 0xc0) !== 0x80;
const unicastUnderlay = underlayIp.refine(whenParsed(isUnicastIp), expected('expected a unicast IPv4 or IPv6 address'))
  .refine(whenParsed(notLinkLocal), expected('expected a global or unique local IPv6 address, not a link-local one (fe80::/10)'));
const multicastUnderlay = underlayIp.refine(whenParsed(isMulticastIp),
  expected('expected a multicast address: IPv4 224.0.0.0 to 239.255.255.255, or IPv6 ff00::/8 such as ff05::42'));
const CIDR = 'expected an IPv4 address with prefix length, such as 192.168.100.1/24';
const cidr = z.string(expected(CIDR)).refine((s) => {
  const m = /^([^/]+)\/(\d{1,2})$/.exec(s);
  return m !== null && parseIpv4Address(m[1]) !== undefined && Number(m[2]) <= 32;
}, expected(CIDR));
const MAC = 'expected a MAC address such as 52:54:00:12:34:56';
const mac = z.string(expected(MAC))
  .refine((s) => parseMac(s) !== undefined, expected(MAC))
  .refine((s) => !isGroupMac(parseMac(s) ?? 0), { error: 'expected a unicast MAC address (the first octet\'s low bit is clear)' });
// IFNAMSIZ is 16 including the terminating NUL; iproute2 refuses '/', ':' and white space.
// "%" makes the kernel pick a name itself (tap%d -> tap0): a TAP's name must be the one given.
const ifname = z.string(expected('expected an interface name'))
  .regex(/^[^/:%\s]{1,15}$/, expected('expected an interface name of 1 to 15 characters without "/", ":", "%" or spaces'));
const underlayList = z.array(unicastUnderlay, expected('expected a list of IPv4 or IPv6 addresses'));
const OVERLAY_IP = 'expected an IPv4 or IPv6 address such as 192.168.100.2 or fd00:100::2';
const overlayIp = z.string(expected(OVERLAY_IP)).refine(is(isUnicastIp), expected(OVERLAY_IP));

const RV = 'expected IP:N or ASN:N, such as 10.0.0.1:42 or 65000:42';
const routeValue = z.string(expected(RV)).refine((s) => parseRouteValue(s) !== undefined, expected(RV));
const networkEvpnSchema = z.union([
  z.literal(true),
  z.strictObject({
    rd: routeValue.optional(),
    'import-rt': z.array(routeValue, expected('expected a list of route targets')).min(1).optional(),
    'export-rt': z.array(routeValue, expected('expected a list of route targets')).min(1).optional(),
  }),
], expected('expected true, or { rd, import-rt, export-rt }'));
const HOST_PORT = 'expected ADDRESS:PORT, such as 127.0.0.1:50051';
const hostPort = z.string(expected(HOST_PORT)).regex(/^[^\s:]+:\d{1,5}$/, expected(HOST_PORT));
const LISTEN = 'expected ADDRESS:PORT to listen on, such as 127.0.0.1:9465 or [::1]:9465';
/** `ADDR:PORT` or `[IPv6]:PORT`: where an HTTP endpoint listens. */
export function parseListen(s: string): { host: string; port: number } | undefined {
  const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([0-9.]+)):(\d{1,5})$/.exec(s);
  if (m === null) return undefined;
  const host = canonicalIp(m[1] ?? m[2]);
  const port = Number(m[3]);
  return host === undefined || port < 1 || port > 65535 ? undefined : { host, port };
}
const listenAddress = z.string(expected(LISTEN)).refine((s) => parseListen(s) !== undefined, expected(LISTEN));
export const LOG_FORMATS = ['text', 'json'] as const;
export const LOG_LEVELS = ['debug', 'info', 'warning', 'error'] as const;
const SOCKET_MODE = 'expected permission bits such as 0600 or 0660: the owner reads and writes, others nothing';

const evpnSchema = z.strictObject({
  asn: int(1, 4294967295, 'an AS number'),
  'router-id': ipv4.optional(),
  neighbors: z.array(unicastIpv4, expected('expected a list of IPv4 addresses')).min(1, expected('expected at least one neighbor')),
  gobgp: hostPort.optional(),
  'hold-time': int(3, 65535, 'seconds').default(9),
});

const groupSchema = z.strictObject({
  address: multicastUnderlay,
  dev: ifname,
  ttl: int(1, 255, 'a multicast TTL').default(1),
});

const networkSchema = z.strictObject({
  tap: ifname,
  address: cidr.optional(),
  mtu: int(68, 65000, 'an MTU').optional(),
  mac: mac.optional(),
  ...tunnelBlocks,
  remotes: underlayList.default([]),
  group: groupSchema.optional(),
  allow: underlayList.optional(),
  ageing: int(1, 1_000_000, 'a number of seconds').default(DEFAULT_AGEING_S),
  'max-macs': int(1, 1_000_000, 'a number of entries').default(DEFAULT_MAX_MACS),
  static: z.array(z.strictObject({ mac, remote: unicastUnderlay }), expected('expected a list of { mac, remote }')).default([]),
  neigh: z.array(z.strictObject({ ip: overlayIp, mac }), expected('expected a list of { ip, mac }')).default([]),
  'arp-responder': bool().default(false),
  'arp-snoop': bool().default(false),
  learning: bool().default(true),
  evpn: networkEvpnSchema.optional(),
  'accept-any-remote': bool().default(false),
  ttl: int(1, 255, 'a TTL').default(DEFAULT_TTL),
  df: z.union([z.boolean(), z.literal('inherit')], expected('expected true, false or inherit')).optional(),
  'udp6-zero-csum-rx': bool().optional(),
  'gre-socket': greSocketField.optional(),
}).refine((n) => TUNNEL_KINDS.filter((k) => n[k] !== undefined).length === 1, {
  error: `give exactly one encapsulation: ${TUNNEL_KINDS.map((k) => `${k}: {...}`).join(' or ')}`,
});

const busyPollField = int(0, 100_000, 'microseconds');

const configSchema = z.strictObject({
  local: unicastUnderlay,
  'udp6-zero-csum-rx': bool().default(false),
  'gre-socket': greSocketField.default(DEFAULT_GRE_SOCKET),
  socket: z.string(expected('expected a path')).min(1, expected('expected a path'))
    .refine((p) => Buffer.byteLength(p) <= MAX_SOCKET_PATH_BYTES, { error: `expected a path of at most ${MAX_SOCKET_PATH_BYTES} bytes (what a Unix socket address holds)` })
    .default(DEFAULT_SOCKET),
  offload: bool().default(true),
  'busy-poll': busyPollField.default(DEFAULT_BUSY_POLL_US),
  'socket-group': z.string(expected('expected a group name')).regex(/^[A-Za-z_][A-Za-z0-9_.-]{0,31}\$?$/, expected('expected a group name')).optional(),
  'socket-mode': z.union([z.string(), z.number()], expected(SOCKET_MODE)).transform((v, ctx) => {
    // YAML reads 0660 as the number 660: its digits are what the user meant, in octal.
    const text = String(v);
    if (!/^0?[0-7]{3}$/.test(text)) {
      ctx.addIssue({ code: 'custom', message: SOCKET_MODE });
      return z.NEVER;
    }
    return parseInt(text, 8);
  }).refine((m) => (m & 0o600) === 0o600 && (m & 0o007) === 0, { error: SOCKET_MODE }).default(0o600),
  'socket-mutations': z.enum(['owner', 'group'], expected('expected owner (root and vtepd\'s user) or group (anyone who can connect)')).default('owner'),
  user: z.string(expected('expected a user name')).regex(/^[A-Za-z_][A-Za-z0-9_.-]{0,31}\$?$/, expected('expected a user name')).optional(),
  metrics: listenAddress.optional(),
  'log-format': z.enum(LOG_FORMATS, expected(`expected ${LOG_FORMATS.join(' or ')}`)).default('text'),
  'log-level': z.enum(LOG_LEVELS, expected(`expected one of ${LOG_LEVELS.join(', ')}`)).default('info'),
  evpn: evpnSchema.optional(),
  control: z.strictObject({
    'max-clients': int(1, 10_000, 'a number of clients').default(DEFAULT_CONTROL_LIMITS.maxClients),
    'idle-timeout': int(1, 86_400, 'seconds').default(DEFAULT_CONTROL_LIMITS.idleTimeoutS),
  }).default({ 'max-clients': DEFAULT_CONTROL_LIMITS.maxClients, 'idle-timeout': DEFAULT_CONTROL_LIMITS.idleTimeoutS }),
  networks: z.record(
    z.string().regex(/^[A-Za-z0-9_.-]{1,32}$/, { error: 'network names are 1 to 32 letters, digits, ".", "_" or "-"' }),
    networkSchema,
    expected('expected a map of network names to networks'),
  ).refine((n) => Object.keys(n).length > 0, { error: 'at least one network is required' }),
});

type RawConfig = z.output<typeof configSchema>;

// ------------------------------------------------------------------ parsing

/** Top-level values given on the command line beside a file, and the flag each came from. */
export interface Overrides {
  values: Record<string, unknown>;
  flags: Record<string, string>;
}

/**
 * Reads a config file: a regular file (not a FIFO or a device that never
 * ends) of at most MAX_CONFIG_BYTES. Throws ConfigError.
 */
function readConfigText(path: string): string {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (e) {
    throw new ConfigError([`config ${path}: cannot read it: ${(e as Error).message}`]);
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new ConfigError([`config ${path}: is not a regular file; give the path of a YAML file`]);
    if (st.size > MAX_CONFIG_BYTES) throw new ConfigError([`config ${path}: is ${st.size} bytes, more than the ${MAX_CONFIG_BYTES} a config may have`]);
    const buf = Buffer.alloc(MAX_CONFIG_BYTES + 1);
    let n = 0;
    for (let r; n < buf.length && (r = readSync(fd, buf, n, buf.length - n, null)) > 0;) n += r;
    if (n > MAX_CONFIG_BYTES) throw new ConfigError([`config ${path}: is more than the ${MAX_CONFIG_BYTES} bytes a config may have`]);
    return buf.toString('utf8', 0, n);
  } finally {
    closeSync(fd);
  }
}

/** Reads and checks a YAML config file, with command-line overrides of top-level keys. Throws ConfigError. */
export function loadConfigFile(path: string, overrides: Overrides = { values: {}, flags: {} }): Config {
  const text = readConfigText(path);
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    throw new ConfigError(doc.errors.map((e) => `config ${path}: line ${e.linePos?.[0].line ?? '?'}: ${e.message.split('\n')[0].replace(/ at line \d+, column \d+:$/, '')}`));
  }
  // A key "__proto__" would set the object's prototype rather than be a key: refused, where it is.
  const lines = doc.range ? text : '';
  const bad: string[] = [];
  visit(doc, {
    Pair(_, pair) {
      if (isScalar(pair.key) && pair.key.value === '__proto__') {
        const line = pair.key.range ? lines.slice(0, pair.key.range[0]).split('\n').length : '?';
        bad.push(`config ${path}: line ${line}: "__proto__" cannot be a name or a key here; choose another`);
      }
    },
  });
  if (bad.length > 0) throw new ConfigError(bad);
  let raw: unknown;
  try {
    raw = doc.toJS({ maxAliasCount: MAX_ALIASES }) ?? {};
  } catch (e) {
    throw new ConfigError([`config ${path}: ${(e as Error).message.split('\n')[0]} (more than ${MAX_ALIASES} aliases)`]);
  }
  const merged = raw !== null && typeof raw === 'object' && !Array.isArray(raw) ? { ...raw, ...overrides.values } : raw;
  return checkConfig(merged, (p) => {
    const flag = p.length === 1 ? overrides.flags[String(p[0])] : undefined;
    return flag ?? `config ${path}: ${p.length ? p.join('.') : '(top level)'}`;
  });
}

/** Checks a config object already read; `where` names a path for messages. */
export function checkConfig(raw: unknown, where: (path: PropertyKey[]) => string): Config {
  const r = configSchema.safeParse(raw);
  if (!r.success) {
    throw new ConfigError(r.error.issues.map((i) => `${where(i.path)}: ${describeIssue(i)}`));
  }
  const problems: string[] = [];
  const config = normalize(r.data, (path, msg) => problems.push(`${where(path)}: ${msg}`));
  if (problems.length > 0) throw new ConfigError(problems);
  return config;
}

function describeIssue(i: z.core.$ZodIssue): string {
  if (i.code === 'invalid_key') return i.issues[0]?.message ?? i.message;
  if (i.code === 'unrecognized_keys') return `unknown key${i.keys.length > 1 ? 's' : ''} ${i.keys.map((k) => `"${k}"`).join(', ')}`;
  if (i.code === 'invalid_type' && /received undefined/.test(i.message)) return `is required: ${i.message.replace(/^Invalid input: /, '').replace(/, received undefined$/, '')}`;
  return i.message;
}

/** Cross-field rules the schema cannot express, and conversion to settings. */
function normalize(raw: RawConfig, problem: (path: PropertyKey[], msg: string) => void): Config {
  const local = canonicalIp(raw.local)!;
  const localV4 = isV4Mapped(parseIp(local)!);
  const taps = new Map<string, string>();
  const ids = new Map<string, string>();
  const networks: NetworkConfig[] = [];
  for (const [name, n] of Object.entries(raw.networks)) {
    const at = (...p: PropertyKey[]) => ['networks', name, ...p];
    const other = taps.get(n.tap);
    if (other !== undefined) problem(at('tap'), `TAP "${n.tap}" is already used by network "${other}"`);
    taps.set(n.tap, name);
    const settings = tunnelSettings(n)!;
    const tunnel = tunnelFor(settings);
    const sameId = ids.get(tunnel.identity);
    if (sameId !== undefined) problem(at(...tunnel.identityPath), tunnel.conflict(sameId));
    ids.set(tunnel.identity, name);
    if (n.group !== undefined && !tunnel.supportsGroup) {
      problem(at('group'), `a ${settings.kind.toUpperCase()} network cannot use a multicast group (group mode is VXLAN's); list its remotes instead`);
    }
    // One family per network: the family of `local`, which every socket of the daemon is bound to.
    const sameFamily = (path: PropertyKey[], text: string) => {
      if (isV4Mapped(parseIp(text)!) !== localV4) {
        problem(path, `${text} is ${localV4 ? 'IPv6' : 'IPv4'}, but local ${local} is ${localV4 ? 'IPv4' : 'IPv6'}: a network's VTEPs are all of the family of local`);
      }
    };
    n.remotes.forEach((a, i) => sameFamily(at('remotes', i), a));
    (n.allow ?? []).forEach((a, i) => sameFamily(at('allow', i), a));
    n.static.forEach((e, i) => sameFamily(at('static', i, 'remote'), e.remote));
    if (n.group !== undefined) sameFamily(at('group', 'address'), n.group.address);
    if (n['udp6-zero-csum-rx'] !== undefined && (settings.kind !== 'vxlan' || localV4)) {
      problem(at('udp6-zero-csum-rx'), 'applies to VXLAN over IPv6 only (UDP over IPv4 may carry no checksum anyway)');
    }
    if (n['gre-socket'] !== undefined && settings.kind !== 'gre') {
      problem(at('gre-socket'), 'applies to GRE networks only (VXLAN goes out of UDP sockets)');
    }
    const remotes = n.remotes.map((s) => canonicalIp(s)!);
    remotes.forEach((a, i) => {
      if (a === local) problem(at('remotes', i), `${n.remotes[i]} is this VTEP's own address (local)`);
      if (remotes.indexOf(a) !== i) problem(at('remotes', i), `${n.remotes[i]} is listed twice`);
    });
    const macs = new Set<number>();
    const statics = n.static.map((s, i) => {
      const m = parseMac(s.mac)!;
      if (macs.has(m)) problem(at('static', i, 'mac'), `${s.mac} has two static entries`);
      macs.add(m);
      const remote = canonicalIp(s.remote)!;
      if (remote === local) problem(at('static', i, 'remote'), `${s.remote} is this VTEP's own address (local)`);
      return { mac: m, remote };
    });
    const ips = new Set<string>();
    const neigh = n.neigh.map((e, i) => {
      const ip = canonicalIp(e.ip)!;
      if (ips.has(ip)) problem(at('neigh', i, 'ip'), `${e.ip} has two neighbour entries`);
      ips.add(ip);
      return { ip, mac: parseMac(e.mac)! };
    });
    const group = n.group === undefined ? undefined : { address: canonicalIp(n.group.address)!, dev: n.group.dev, ttl: n.group.ttl };
    let evpn: NetworkEvpn | undefined;
    if (n.evpn !== undefined) {
      if (raw.evpn === undefined) problem(at('evpn'), 'needs the top-level evpn: { asn, neighbors } that says how to reach the BGP fabric');
      else if (settings.kind !== 'vxlan') problem(at('evpn'), `BGP EVPN carries VXLAN networks; a ${settings.kind.toUpperCase()} network lists its remotes`);
      else if (!localV4) problem(at('evpn'), `BGP EVPN needs an IPv4 local (the next hop of its routes); ${local} is IPv6: list the remotes instead`);
      else evpn = networkEvpn(n.evpn === true ? {} : n.evpn, raw.evpn.asn, raw.evpn['router-id'] ?? raw.local, settings.vni);
    }
    networks.push({
      name,
      tap: n.tap,
      address: n.address,
      mtu: n.mtu,
      mac: n.mac === undefined ? undefined : parseMac(n.mac),
      tunnel: settings,
      remotes,
      group,
      allow: (n.allow ?? []).map((a) => canonicalIp(a)!),
      statics,
      neigh,
      arpResponder: n['arp-responder'],
      arpSnoop: n['arp-snoop'],
      learning: n.learning,
      evpn,
      ageing: n.ageing,
      maxMacs: n['max-macs'],
      // Group members are not known in advance: any VTEP sending to the group is accepted, unless `allow` lists them.
      acceptAnyRemote: n['accept-any-remote'] || (group !== undefined && n.allow === undefined),
      ttl: n.ttl,
      df: n.df ?? tunnel.defaultDf,
      udp6ZeroCsumRx: n['udp6-zero-csum-rx'] ?? raw['udp6-zero-csum-rx'],
      // Only GRE has a choice: a VXLAN network keeps the default, so that changing the top-level key restarts no VXLAN network.
      greSocket: settings.kind === 'gre' ? n['gre-socket'] ?? raw['gre-socket'] : DEFAULT_GRE_SOCKET,
    });
  }
  const evpn = raw.evpn === undefined ? undefined : {
    asn: raw.evpn.asn, routerId: raw.evpn['router-id'] ?? local, neighbors: raw.evpn.neighbors.map((a) => canonicalIp(a)!),
    gobgp: raw.evpn.gobgp, holdTime: raw.evpn['hold-time'],
  };
  evpn?.neighbors.forEach((a, i) => {
    if (a === local) problem(['evpn', 'neighbors', i], `${a} is this VTEP's own address (local)`);
  });
  const control = { maxClients: raw.control['max-clients'], idleTimeoutS: raw.control['idle-timeout'] };
  const metrics = raw.metrics === undefined ? undefined : parseListen(raw.metrics);
  const log = { format: raw['log-format'], level: raw['log-level'] };
  const socketAccess = { mode: raw['socket-mode'], group: raw['socket-group'], mutations: raw['socket-mutations'] };
  return { local, socket: raw.socket, offload: raw.offload, busyPoll: raw['busy-poll'], evpn, control, socketAccess, user: raw.user, metrics, log, networks };
}

/** A network's EVPN settings with FRR's defaults: RD router-id:VNI, route targets ASN:VNI. */
function networkEvpn(given: { rd?: string; 'import-rt'?: string[]; 'export-rt'?: string[] }, asn: number, routerId: string, vni: number): NetworkEvpn {
  const canonical = (s: string) => formatRouteValue(parseRouteValue(s)!);
  const rt = defaultRouteTarget(asn, vni);
  return {
    rd: given.rd !== undefined ? canonical(given.rd) : defaultRouteDistinguisher(routerId, vni),
    importRts: (given['import-rt'] ?? [rt]).map(canonical),
    exportRts: (given['export-rt'] ?? [rt]).map(canonical),
  };
}

// ------------------------------------------------------------------ flags

/** The flags that describe one network, and where each lands in the config. */
export interface NetworkFlags {
  local?: string;
  tap?: string;
  name?: string;
  vni?: string;
  'gre-key'?: string;
  'gre-csum'?: boolean;
  'gre-seq'?: boolean;
  remote?: string[];
  group?: string;
  dev?: string;
  'group-ttl'?: string;
  allow?: string[];
  address?: string;
  mtu?: string;
  mac?: string;
  port?: string;
  socket?: string;
  'busy-poll'?: string;
  'no-offload'?: boolean;
  metrics?: string;
  user?: string;
  'socket-group'?: string;
  'socket-mode'?: string;
  'socket-mutations'?: string;
  'log-format'?: string;
  'log-level'?: string;
  ageing?: string;
  'max-macs'?: string;
  'accept-any-remote'?: boolean;
  'arp-responder'?: boolean;
  'arp-snoop'?: boolean;
  'no-learning'?: boolean;
  'evpn-asn'?: string;
  'evpn-neighbor'?: string[];
  'evpn-router-id'?: string;
  'evpn-gobgp'?: string;
  ttl?: string;
  df?: boolean;
  'df-inherit'?: boolean;
  'udp6-zero-csum-rx'?: boolean;
  'gre-socket'?: string;
}

/** Config paths (below the network, or top level) and the flags that set them. */
const FLAG_OF_PATH: Record<string, string> = {
  local: '--local', socket: '--socket', offload: '--no-offload', 'busy-poll': '--busy-poll', metrics: '--metrics', user: '--user', 'socket-group': '--socket-group', 'socket-mode': '--socket-mode', 'socket-mutations': '--socket-mutations',
  'log-format': '--log-format', 'log-level': '--log-level', tap: '--tap', address: '--address', mtu: '--mtu', mac: '--mac',
  'vxlan.vni': '--vni', 'vxlan.port': '--port', 'gre.key': '--gre-key', 'gre.csum': '--gre-csum', 'gre.seq': '--gre-seq',
  'group.address': '--group', 'group.dev': '--dev', 'group.ttl': '--group-ttl', group: '--group',
  remotes: '--remote', allow: '--allow', ageing: '--ageing', 'max-macs': '--max-macs', ttl: '--ttl',
  'accept-any-remote': '--accept-any-remote', df: '--df or --df-inherit', 'udp6-zero-csum-rx': '--udp6-zero-csum-rx', 'gre-socket': '--gre-socket', 'arp-responder': '--arp-responder', 'arp-snoop': '--arp-snoop', learning: '--no-learning',
  'evpn.asn': '--evpn-asn', 'evpn.neighbors': '--evpn-neighbor', 'evpn.router-id': '--evpn-router-id', 'evpn.gobgp': '--evpn-gobgp', evpn: '--evpn-asn',
};

/** A flag's text as a number when it is one, so that the schema's message (not a type error) answers. */
export function flagNumber(s: string | undefined): number | string | undefined {
  return s !== undefined && /^\d+$/.test(s) ? Number(s) : s;
}

/** Top-level settings whose flag has the key's name and passes its text as is. */
const PASSED_AS_IS = ['metrics', 'user', 'socket-group', 'socket-mode', 'socket-mutations', 'log-format', 'log-level'] as const;

/** The top-level settings the flags give beside a config file: socket, offloads, busy polling, metrics, logs. */
export function overridesFromFlags(f: Pick<NetworkFlags, 'socket' | 'busy-poll' | 'no-offload' | (typeof PASSED_AS_IS)[number]>): Overrides {
  const values: Record<string, unknown> = {};
  if (f.socket !== undefined) values.socket = f.socket;
  if (f['busy-poll'] !== undefined) values['busy-poll'] = flagNumber(f['busy-poll']);
  if (f['no-offload']) values.offload = false;
  for (const k of PASSED_AS_IS) if (f[k] !== undefined) values[k] = f[k];
  return { values, flags: { socket: '--socket', 'busy-poll': '--busy-poll', offload: '--no-offload', ...Object.fromEntries(PASSED_AS_IS.map((k) => [k, `--${k}`])) } };
}

/** Builds the same config a file would give from the flags of one network. */
export function configFromFlags(f: NetworkFlags): Config {
  if (f.vni !== undefined && f['gre-key'] !== undefined) throw new ConfigError(['--vni and --gre-key do not go together: a network is VXLAN or GRE']);
  if (f.df && f['df-inherit']) throw new ConfigError(['--df and --df-inherit do not go together: DF is set on every packet, or copied from the inner one']);
  const validName = (n: string | undefined) => n !== undefined && /^[A-Za-z0-9_.-]{1,32}$/.test(n);
  const name = f.name ?? (validName(f.tap) ? f.tap! : 'default');
  const num = flagNumber;
  const network: Record<string, unknown> = {
    tap: f.tap,
    address: f.address,
    mtu: num(f.mtu),
    mac: f.mac,
    vxlan: f['gre-key'] === undefined ? { vni: num(f.vni), port: num(f.port) } : undefined,
    gre: f['gre-key'] !== undefined ? { key: num(f['gre-key']), csum: f['gre-csum'], seq: f['gre-seq'] } : undefined,
    remotes: f.remote,
    group: f.group !== undefined || f.dev !== undefined ? { address: f.group, dev: f.dev, ttl: num(f['group-ttl']) } : undefined,
    allow: f.allow,
    ageing: num(f.ageing),
    'max-macs': num(f['max-macs']),
    'accept-any-remote': f['accept-any-remote'],
    'arp-responder': f['arp-responder'],
    'arp-snoop': f['arp-snoop'],
    ttl: num(f.ttl),
    df: f['df-inherit'] ? 'inherit' : f.df,
    'udp6-zero-csum-rx': f['udp6-zero-csum-rx'],
    'gre-socket': f['gre-socket'],
  };
  const evpn = f['evpn-asn'] !== undefined || f['evpn-neighbor'] !== undefined
    ? { asn: num(f['evpn-asn']), neighbors: f['evpn-neighbor'], 'router-id': f['evpn-router-id'], gobgp: f['evpn-gobgp'] } : undefined;
  // With the fabric's flags, the one network is part of it.
  if (evpn !== undefined) network.evpn = true;
  if (f['no-learning']) network.learning = false;
  const raw = { local: f.local, evpn, networks: { [name]: dropUndefined(network) }, ...overridesFromFlags(f).values };
  if (f.name !== undefined && !validName(f.name)) throw new ConfigError(['--name: network names are 1 to 32 letters, digits, ".", "_" or "-"']);
  return checkConfig(dropUndefined(raw), (path) => {
    if (path.length === 2 && path[0] === 'networks') return '--vni or --gre-key';
    const rel = (path[0] === 'networks' ? path.slice(2) : path).filter((p) => typeof p === 'string').join('.');
    return FLAG_OF_PATH[rel] ?? path.join('.');
  });
}

function dropUndefined<T extends Record<string, unknown>>(o: T): T {
  for (const k of Object.keys(o)) {
    const v = o[k];
    if (v === undefined) delete o[k];
    else if (v !== null && typeof v === 'object' && !Array.isArray(v)) dropUndefined(v as Record<string, unknown>);
  }
  return o;
}
