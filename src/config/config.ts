// The daemon's configuration: a YAML file, or the flags of one network, both
// checked by the same schema (command-line overrides of a file too). A
// mistake is reported with the field's path (or the flag's name) and what is
// expected; nothing on the system is touched until the whole configuration
// is valid. Addresses are kept as canonical text (RFC 5952 for IPv6).
// (About 400 lines: the types of the checked config and its cross-field
// rules, which read each other; the schema and routing rules are apart.)
import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';
import { isScalar, parseDocument, visit } from 'yaml';
import { type z } from 'zod';
import { tunnelFor, tunnelSettings, type TunnelSettings } from '../tunnel/index.ts';
import { canonicalIp, isV4Mapped, parseIp, VTEP_PROBLEMS, vtepProblem } from '../wire/ip-address.ts';
import { parseMac, type Mac } from '../wire/mac.ts';
import { type ControlLimits } from '../control/server.ts';
import { DEFAULT_SOCKET, SERVICE_SOCKET } from '../control/sockets.ts';
import {
  canonicalImportTarget,
  canonicalRouteValue,
  defaultRouteDistinguisher,
  defaultRouteTarget,
} from '../evpn/values.ts';

export { DEFAULT_SOCKET, SERVICE_SOCKET };
export {
  DEFAULT_BUSY_POLL_US,
  DEFAULT_GRE_SOCKET,
  DEFAULT_TTL,
  GRE_SOCKETS,
  MAX_CONFIG_BYTES,
  type GreSocket,
} from './constants.ts';
import { DEFAULT_GRE_SOCKET, MAX_ALIASES, MAX_CONFIG_BYTES, type GreSocket } from './constants.ts';
import { configSchema, isEbgp, parseListen, type LOG_FORMATS, type LOG_LEVELS, type RawConfig } from './schema.ts';
import { normalizeRouting, type GatewayConfig, type VrfConfig } from './routing.ts';

export type { GatewayConfig, VrfConfig };
export { parseListen, LOG_FORMATS, LOG_LEVELS } from './schema.ts';

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
/** One BGP peer of the EVPN fabric. */
export interface EvpnNeighbor {
  address: string;
  /** Its AS; 'external': any AS but ours (FRR's `remote-as external`). */
  peerAs: number | 'external';
  holdTime: number;
  /** TCP MD5 signature key. */
  password?: string;
}

export interface EvpnConfig {
  asn: number;
  routerId: string;
  /** BGP peers (route reflectors, spines or VTEPs): iBGP when their AS is `asn`, eBGP otherwise. */
  neighbors: EvpnNeighbor[];
  /** Some session is eBGP: the default import route target is then `*:VNI` (leaves in other ASes match). */
  ebgp: boolean;
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
  /**
   * The TAP's MAC. Unset: one derived from `local` and the TAP's name for a TAP vtepd creates (the same at every
   * start); an existing TAP keeps its own.
   */
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
  /** Given FDB entries (config, vtepctl), EVPN ones, and given remote VTEPs this network takes at most. */
  maxStaticMacs: number;
  maxEvpnMacs: number;
  maxRemotes: number;
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
  /** The VRF it routes in (with a gateway; "default" when it names none), or belongs to. */
  vrf?: string;
  /** Its gateway: the same addresses and MAC on every host (routing.ts). */
  gateway?: GatewayConfig;
}

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
  /** VRFs and their static routes; networks name theirs. */
  vrfs: VrfConfig[];
  /** This host's DVR MAC (routed frames of `source-mac: dvr` gateways leave with it), and the other hosts'. */
  dvrMac?: Mac;
  dvrMacs: Mac[];
}

/** One or more mistakes, each a line naming the field and what it expects. */
export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(problems.join('\n'));
  }
}

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
    if (st.size > MAX_CONFIG_BYTES)
      throw new ConfigError([
        `config ${path}: is ${st.size} bytes, more than the ${MAX_CONFIG_BYTES} a config may have`,
      ]);
    const buf = Buffer.alloc(MAX_CONFIG_BYTES + 1);
    let n = 0;
    for (let r; n < buf.length && (r = readSync(fd, buf, n, buf.length - n, null)) > 0;) n += r;
    if (n > MAX_CONFIG_BYTES)
      throw new ConfigError([`config ${path}: is more than the ${MAX_CONFIG_BYTES} bytes a config may have`]);
    return buf.toString('utf8', 0, n);
  } finally {
    closeSync(fd);
  }
}

/** Reads and checks a YAML config file, with command-line overrides of top-level keys. Throws ConfigError. */
export function loadConfigFile(path: string, overrides: Overrides = { values: {}, flags: {} }): Config {
  const text = readConfigText(path);
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  // A tag the YAML core schema does not know (!!js/function, !custom) would be read as its text:
  // it means something else to whoever wrote it, so it is an error, not a warning.
  const unknownTags = doc.warnings.filter((w) => w.code === 'TAG_RESOLVE_FAILED');
  if (doc.errors.length > 0 || unknownTags.length > 0) {
    throw new ConfigError(
      [...doc.errors, ...unknownTags].map(
        (e) =>
          `config ${path}: line ${e.linePos?.[0].line ?? '?'}: ${e.message
            .split('\n')[0]
            .replace(/ at line \d+, column \d+:$/, '')
            .replace(
              /^Unresolved tag: (.*)$/,
              (_, tag: string) =>
                `unknown YAML tag ${tag.replace(/^tag:yaml\.org,2002:/, '!!')}: the config takes plain values; remove the tag`,
            )}`,
      ),
    );
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
    throw new ConfigError([
      `config ${path}: ${(e as Error).message.split('\n')[0]} (more than ${MAX_ALIASES} aliases)`,
    ]);
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
  if (i.code === 'unrecognized_keys')
    return `unknown key${i.keys.length > 1 ? 's' : ''} ${i.keys.map((k) => `"${k}"`).join(', ')}`;
  if (i.code === 'invalid_type' && /received undefined/.test(i.message))
    return `is required: ${i.message.replace(/^Invalid input: /, '').replace(/, received undefined$/, '')}`;
  return i.message;
}

/** Cross-field rules the schema cannot express, and conversion to settings. */
function normalize(raw: RawConfig, problem: (path: PropertyKey[], msg: string) => void): Config {
  const local = canonicalIp(raw.local)!;
  const localBytes = parseIp(local)!;
  const localV4 = isV4Mapped(localBytes);
  const taps = new Map<string, string>();
  const ids = new Map<string, string>();
  const udpPorts = new Map<number, { kind: string; network: string }>();
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
      problem(
        at('group'),
        `a ${settings.kind.toUpperCase()} network cannot use a multicast group (group mode is VXLAN's and ` +
          `Geneve's); list its remotes instead`,
      );
    }
    // One UDP port, one encapsulation: the port's socket reads each datagram's header one way.
    if (tunnel.receiveSocket.kind === 'udp') {
      const port = tunnel.receiveSocket.port;
      const other = udpPorts.get(port);
      if (other !== undefined && other.kind !== settings.kind)
        problem(
          at(settings.kind, 'port'),
          `port ${port} carries ${other.kind === 'vxlan' ? 'VXLAN' : 'Geneve'} for network "${other.network}": ` +
            `give this network another port`,
        );
      else udpPorts.set(port, { kind: settings.kind, network: name });
    }
    // One family per network: the family of `local`, which every socket of the daemon is bound to.
    const sameFamily = (path: PropertyKey[], text: string) => {
      if (isV4Mapped(parseIp(text)!) !== localV4) {
        problem(
          path,
          `${text} is ${localV4 ? 'IPv6' : 'IPv4'}, but local ${local} is ${localV4 ? 'IPv4' : 'IPv6'}: a ` +
            `network's VTEPs are all of the family of local`,
        );
      }
    };
    n.remotes.forEach((a, i) => sameFamily(at('remotes', i), a));
    (n.allow ?? []).forEach((a, i) => sameFamily(at('allow', i), a));
    n.static.forEach((e, i) => sameFamily(at('static', i, 'remote'), e.remote));
    if (n.group !== undefined) sameFamily(at('group', 'address'), n.group.address);
    if (n['udp6-zero-csum-rx'] !== undefined && (settings.kind === 'gre' || localV4)) {
      problem(
        at('udp6-zero-csum-rx'),
        'applies to VXLAN and Geneve over IPv6 only (UDP over IPv4 may carry no checksum anyway)',
      );
    }
    if (n['gre-socket'] !== undefined && settings.kind !== 'gre') {
      problem(at('gre-socket'), 'applies to GRE networks only (VXLAN and Geneve go out of UDP sockets)');
    }
    // What no VTEP can have (its family was told above).
    const notVtep = (path: PropertyKey[], text: string) => {
      const why = vtepProblem(parseIp(text)!, { local: localBytes });
      if (why !== undefined && why !== 'family') problem(path, `${text} ${VTEP_PROBLEMS[why]}`);
    };
    const remotes = n.remotes.map((s) => canonicalIp(s)!);
    remotes.forEach((a, i) => {
      notVtep(at('remotes', i), n.remotes[i]);
      if (remotes.indexOf(a) !== i) problem(at('remotes', i), `${n.remotes[i]} is listed twice`);
    });
    const macs = new Set<number>();
    const statics = n.static.map((s, i) => {
      const m = parseMac(s.mac)!;
      if (macs.has(m)) problem(at('static', i, 'mac'), `${s.mac} has two static entries`);
      macs.add(m);
      const remote = canonicalIp(s.remote)!;
      notVtep(at('static', i, 'remote'), s.remote);
      return { mac: m, remote };
    });
    if (statics.length > n['max-static-macs'])
      problem(at('static'), `${statics.length} entries, more than max-static-macs (${n['max-static-macs']}); raise it`);
    const given = new Set([...remotes, ...(n.allow ?? []).map((a) => canonicalIp(a)), ...statics.map((s) => s.remote)]);
    if (given.size > n['max-remotes'])
      problem(
        at('remotes'),
        `${given.size} remote VTEPs in all, more than max-remotes (${n['max-remotes']}); raise it`,
      );
    const ips = new Set<string>();
    const neigh = n.neigh.map((e, i) => {
      const ip = canonicalIp(e.ip)!;
      if (ips.has(ip)) problem(at('neigh', i, 'ip'), `${e.ip} has two neighbour entries`);
      ips.add(ip);
      return { ip, mac: parseMac(e.mac)! };
    });
    const group =
      n.group === undefined
        ? undefined
        : { address: canonicalIp(n.group.address)!, dev: n.group.dev, ttl: n.group.ttl };
    let evpn: NetworkEvpn | undefined;
    if (n.evpn !== undefined) {
      if (raw.evpn === undefined)
        problem(at('evpn'), 'needs the top-level evpn: { asn, neighbors } that says how to reach the BGP fabric');
      else if (settings.kind !== 'vxlan')
        problem(
          at('evpn'),
          `BGP EVPN carries VXLAN networks (RFC 8365); a ${settings.kind === 'gre' ? 'GRE' : 'Geneve'} network ` +
            `lists its remotes`,
        );
      else if (!localV4)
        problem(
          at('evpn'),
          `BGP EVPN needs an IPv4 local (the next hop of its routes); ${local} is IPv6: list the remotes instead`,
        );
      else
        evpn = networkEvpn(n.evpn === true ? {} : n.evpn, raw.evpn, raw.evpn['router-id'] ?? raw.local, settings.vni);
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
      maxStaticMacs: n['max-static-macs'],
      maxEvpnMacs: n['max-evpn-macs'],
      maxRemotes: n['max-remotes'],
      // Group members are not known in advance: any VTEP sending to the group is accepted, unless `allow` lists them.
      acceptAnyRemote: n['accept-any-remote'] || (group !== undefined && n.allow === undefined),
      ttl: n.ttl,
      df: n.df ?? tunnel.defaultDf,
      udp6ZeroCsumRx: n['udp6-zero-csum-rx'] ?? raw['udp6-zero-csum-rx'],
      // Only GRE has a choice: a VXLAN network keeps the default, so that changing the top-level key restarts no
      // VXLAN network.
      greSocket: settings.kind === 'gre' ? (n['gre-socket'] ?? raw['gre-socket']) : DEFAULT_GRE_SOCKET,
    });
  }
  const evpn = raw.evpn === undefined ? undefined : evpnConfig(raw.evpn, local);
  evpn?.neighbors.forEach((n, i) => {
    if (n.address === local) problem(['evpn', 'neighbors', i], `${n.address} is this VTEP's own address (local)`);
  });
  evpn?.neighbors.forEach((n, i) => {
    if (evpn.neighbors.findIndex((m) => m.address === n.address) !== i)
      problem(['evpn', 'neighbors', i], `${n.address} is listed twice`);
  });
  const control = { maxClients: raw.control['max-clients'], idleTimeoutS: raw.control['idle-timeout'] };
  const metrics = raw.metrics === undefined ? undefined : parseListen(raw.metrics);
  const routing = normalizeRouting(raw, networks, problem);
  const log = { format: raw['log-format'], level: raw['log-level'] };
  const socketAccess = { mode: raw['socket-mode'], group: raw['socket-group'], mutations: raw['socket-mutations'] };
  return {
    local,
    socket: raw.socket,
    offload: raw.offload,
    busyPoll: raw['busy-poll'],
    evpn,
    control,
    socketAccess,
    user: raw.user,
    metrics,
    log,
    networks,
    ...routing,
  };
}

type RawEvpn = NonNullable<RawConfig['evpn']>;

/** The top-level evpn: each neighbor with its AS and hold time, the defaults filled in. */
function evpnConfig(raw: RawEvpn, local: string): EvpnConfig {
  const neighbors = raw.neighbors.map((n): EvpnNeighbor => {
    const o = typeof n === 'string' ? { address: n } : n;
    return {
      address: canonicalIp(o.address)!,
      peerAs: o['peer-as'] ?? raw['peer-as'] ?? raw.asn,
      holdTime: o['hold-time'] ?? raw['hold-time'],
      ...(o.password !== undefined ? { password: o.password } : {}),
    };
  });
  return {
    asn: raw.asn,
    routerId: raw['router-id'] ?? local,
    neighbors,
    ebgp: isEbgp(raw),
    gobgp: raw.gobgp,
    holdTime: raw['hold-time'],
  };
}

/**
 * A network's EVPN settings with FRR's defaults: RD router-id:VNI, route targets ASN:VNI; with eBGP the
 * import is `*:VNI` (any AS), as FRR matches its auto-derived targets, so leaves in other ASes match.
 */
function networkEvpn(
  given: { rd?: string; 'import-rt'?: string[]; 'export-rt'?: string[] },
  evpn: RawEvpn,
  routerId: string,
  vni: number,
): NetworkEvpn {
  const rt = defaultRouteTarget(evpn.asn, vni);
  const importRt = isEbgp(evpn) ? `*:${vni}` : rt;
  return {
    rd: given.rd !== undefined ? canonicalRouteValue(given.rd) : defaultRouteDistinguisher(routerId, vni),
    importRts: (given['import-rt'] ?? [importRt]).map(canonicalImportTarget),
    exportRts: (given['export-rt'] ?? [rt]).map(canonicalRouteValue),
  };
}
