// The config file's schema: every key, its type and range, and what each
// mistake says. Cross-field rules (one address family, no duplicates, the
// network a route names...) are config.ts's normalize().
import { z } from 'zod';
import { DEFAULT_AGEING_S, DEFAULT_MAX_EVPN_MACS, DEFAULT_MAX_MACS, DEFAULT_MAX_STATIC_MACS } from '../switch/fdb.ts';
import { DEFAULT_MAX_REMOTES } from '../switch/remotes.ts';
import { bool, expected, int } from '../tunnel/fields.ts';
import { tunnelBlocks, TUNNEL_KINDS } from '../tunnel/index.ts';
import { canonicalIp, isMulticastIp, isUnicastIp, isV4Mapped, parseIp } from '../wire/ip-address.ts';
import { parseIpv4Address } from '../wire/ipv4.ts';
import { isGroupMac, parseMac } from '../wire/mac.ts';
import { DEFAULT_CONTROL_LIMITS } from '../control/server.ts';
import { DEFAULT_SOCKET } from '../control/sockets.ts';
import { parseRouteValue, wildcardTarget } from '../evpn/values.ts';
import { parsePrefix } from '../route/prefix.ts';
import { DEFAULT_ICMP_RATELIMIT } from '../route/vrf.ts';
import {
  DEFAULT_BUSY_POLL_US,
  DEFAULT_GRE_SOCKET,
  DEFAULT_TTL,
  GRE_SOCKETS,
  MAX_SOCKET_PATH_BYTES,
} from './constants.ts';

const IPV4 = 'expected an IPv4 address such as 10.0.0.1';
const ipv4 = z.string(expected(IPV4)).refine((s) => parseIpv4Address(s) !== undefined, expected(IPV4));
// zod runs every refinement, also after one failed: each must take any string. After a
// refinement that checks the form (`unparsed` true), text it refused already is not refused twice.
const is =
  (test: (b: Uint8Array) => boolean, unparsed = false) =>
  (s: string) => {
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
const unicastUnderlay = underlayIp
  .refine(whenParsed(isUnicastIp), expected('expected a unicast IPv4 or IPv6 address'))
  .refine(
    whenParsed(notLinkLocal),
    expected('expected a global or unique local IPv6 address, not a link-local one (fe80::/10)'),
  );
const multicastUnderlay = underlayIp.refine(
  whenParsed(isMulticastIp),
  expected('expected a multicast address: IPv4 224.0.0.0 to 239.255.255.255, or IPv6 ff00::/8 such as ff05::42'),
);
const CIDR = 'expected an IPv4 address with prefix length, such as 192.168.100.1/24';
const cidr = z.string(expected(CIDR)).refine((s) => {
  const m = /^([^/]+)\/(\d{1,2})$/.exec(s);
  return m !== null && parseIpv4Address(m[1]) !== undefined && Number(m[2]) <= 32;
}, expected(CIDR));
const MAC = 'expected a MAC address such as 52:54:00:12:34:56';
const mac = z
  .string(expected(MAC))
  .refine((s) => parseMac(s) !== undefined, expected(MAC))
  .refine((s) => !isGroupMac(parseMac(s) ?? 0), {
    error: "expected a unicast MAC address (the first octet's low bit is clear)",
  });
// IFNAMSIZ is 16 including the terminating NUL; iproute2 refuses '/', ':' and white space.
// "%" makes the kernel pick a name itself (tap%d -> tap0): a TAP's name must be the one given.
const ifname = z
  .string(expected('expected an interface name'))
  .regex(
    /^[^/:%\s]{1,15}$/,
    expected('expected an interface name of 1 to 15 characters without "/", ":", "%" or spaces'),
  );
const underlayList = z.array(unicastUnderlay, expected('expected a list of IPv4 or IPv6 addresses'));
const OVERLAY_IP = 'expected an IPv4 or IPv6 address such as 192.168.100.2 or fd00:100::2';
const overlayIp = z.string(expected(OVERLAY_IP)).refine(is(isUnicastIp), expected(OVERLAY_IP));

const RV = 'expected IP:N or ASN:N, such as 10.0.0.1:42 or 65000:42';
const routeValue = z.string(expected(RV)).refine((s) => parseRouteValue(s) !== undefined, expected(RV));
const IMPORT_RT = 'expected IP:N, ASN:N or *:N (N under any AS), such as 65000:42 or *:42';
const importTarget = z
  .string(expected(IMPORT_RT))
  .refine((s) => parseRouteValue(s) !== undefined || wildcardTarget(s) !== undefined, expected(IMPORT_RT));
const networkEvpnSchema = z.union(
  [
    z.literal(true),
    z.strictObject({
      rd: routeValue.optional().describe('route distinguisher; default router-id:VNI'),
      'import-rt': z
        .array(importTarget, expected('expected a list of route targets'))
        .min(1)
        .optional()
        .describe('route targets whose routes the network installs (*:N: N under any AS); default ASN:VNI'),
      'export-rt': z
        .array(routeValue, expected('expected a list of route targets'))
        .min(1)
        .optional()
        .describe('route targets of the routes it advertises; default ASN:VNI'),
    }),
  ],
  expected('expected true, or { rd, import-rt, export-rt }'),
);
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

const PEER_AS = 'expected an AS number (1–4294967295) or external';
const peerAs = z.union([int(1, 4294967295, 'an AS number'), z.literal('external')], expected(PEER_AS));
const PASSWORD = 'expected 1 to 80 printable ASCII characters, without quotes or backslashes';
const neighborSchema = z.union(
  [
    unicastIpv4,
    z.strictObject({
      address: unicastIpv4.describe("the peer's IPv4 address"),
      'peer-as': peerAs.optional().describe('its AS, or `external`; default: `evpn.peer-as`'),
      'hold-time': int(3, 65535, 'seconds').optional().describe('seconds; default: `evpn.hold-time`'),
      password: z
        .string(expected(PASSWORD))
        .regex(/^[\x21\x23-\x5b\x5d-\x7e]{1,80}$/, expected(PASSWORD))
        .optional()
        .describe('TCP MD5 signature key (RFC 2385), as the peer has it'),
    }),
  ],
  expected('expected an IPv4 address, or { address, peer-as, hold-time, password }'),
);

const evpnSchema = z.strictObject({
  asn: int(1, 4294967295, 'an AS number').describe(
    "this VTEP's AS number (1–4294967295): a session is iBGP when the peer's AS is the same, eBGP otherwise",
  ),
  'peer-as': peerAs
    .optional()
    .describe(
      "the neighbors' AS: a number, or `external` for any AS but `asn` (FRR's `remote-as external`). Default: `asn` (iBGP).",
    ),
  'router-id': ipv4.optional().describe("BGP router id, and the route distinguishers' address. Default: `local`."),
  neighbors: z
    .array(neighborSchema, expected('expected a list of neighbors'))
    .min(1, expected('expected at least one neighbor'))
    .describe(
      'BGP peers: IPv4 addresses, or `{ address, peer-as, hold-time, password }` each; sessions from `local`, eBGP ones multihop when the peer is not on a connected subnet',
    ),
  gobgp: hostPort.optional().describe('`ADDRESS:PORT` of the gRPC API of a gobgpd already running'),
  'hold-time': int(3, 65535, 'seconds').default(9).describe('seconds; keepalives every third of it'),
});

const groupSchema = z.strictObject({
  address: multicastUnderlay.describe(
    'multicast group (VXLAN only), IPv4 or IPv6 (`ff05::42`) as `local`: BUM frames go there once; joined (IGMP or MLD) at start, left at exit',
  ),
  dev: ifname.describe('the underlay interface to join on and send from; must exist'),
  ttl: int(1, 255, 'a multicast TTL').default(1).describe("multicast TTL, as the kernel's default"),
});

const greSocketField = z.enum(GRE_SOCKETS, expected('expected packet or raw'));

const NAME = { error: 'names are 1 to 32 letters, digits, ".", "_" or "-"' };
const name = z.string().regex(/^[A-Za-z0-9_.-]{1,32}$/, NAME);
const PREFIXED = 'expected an address with its prefix length, such as 192.168.10.1/24 or fd00:10::1/64';
/** An IPv4 or IPv6 address with a prefix length: a gateway's address on its subnet, or a route's prefix. */
const prefixed = z.string(expected(PREFIXED)).refine((s) => parsePrefix(s) !== undefined, expected(PREFIXED));
const SOURCE_MACS = ['anycast', 'dvr'] as const;

const gatewaySchema = z.strictObject({
  addresses: z
    .array(prefixed, expected('expected a list of addresses with prefix lengths'))
    .min(1, expected('expected at least one address'))
    .describe(
      "the gateway's addresses with their prefix lengths (IPv4 and IPv6): each gives a connected subnet of the VRF",
    ),
  mac: mac.describe("the gateway's MAC, the same on every host (anycast)"),
  'source-mac': z
    .enum(SOURCE_MACS, expected("expected anycast (the gateway MAC) or dvr (this host's dvr-mac)"))
    .default('anycast')
    .describe(
      "the source MAC of routed frames leaving on this network: `anycast` (the gateway MAC) or `dvr` (this host's `dvr-mac`)",
    ),
});

const ADVERTISE = ['connected', 'static'] as const;

const vrfSchema = z.strictObject({
  l3vni: int(1, 16777215, 'a VNI')
    .optional()
    .describe('symmetric IRB over BGP EVPN for this VRF: its L3VNI (not the VNI of any network)'),
  'router-mac': z
    .union([z.literal('auto'), mac], expected('expected auto or a unicast MAC address'))
    .default('auto')
    .describe(
      "this VTEP's router MAC on the L3VNI: auto (derived from local, the same at every start) or a MAC; one for every VRF",
    ),
  evpn: networkEvpnSchema
    .optional()
    .describe('true, or { rd, import-rt, export-rt } of the VRF: RD router-id:L3VNI and RT ASN:L3VNI by default'),
  advertise: z
    .array(z.enum(ADVERTISE, expected('expected connected or static')), expected('expected a list: connected, static'))
    .default(['connected'])
    .describe("what goes out as type-5 routes: the VRF's connected subnets, and its static routes"),
  routes: z
    .array(z.strictObject({ prefix: prefixed, via: overlayIp }), expected('expected a list of { prefix, via }'))
    .default([])
    .describe('static routes `{ prefix, via }`, the next hop on a connected subnet of the VRF'),
  'icmp-ratelimit': int(0, 1_000_000, 'ICMP errors a second (0: no limit)')
    .default(DEFAULT_ICMP_RATELIMIT)
    .describe("ICMP errors the VRF's gateways send a second at most (burst 50); 0: no limit"),
});

const networkSchema = z
  .strictObject({
    tap: ifname.describe('TAP device name (1–15 characters)'),
    address: cidr.optional().describe('IPv4 address/prefix added to the TAP'),
    mtu: int(68, 65000, 'an MTU')
      .optional()
      .describe(
        'TAP MTU: VXLAN 50 (1450 over 1500); Geneve 50 + its options with their headers (1442 with OVN\'s option); GRE 42 (1458), 4 more each with csum and seq; over an IPv6 underlay 20 more (VXLAN and Geneve 70: 1430, GRE 62: 1438). A larger value is accepted with a warning: frames that do not fit the path are answered with ICMP (see "Path MTU"). Default: underlay MTU − overhead.',
      ),
    mac: mac
      .optional()
      .describe(
        "the TAP's MAC. Unset: a TAP vtepd creates gets a locally administered MAC derived from `local` and the TAP's name, the same at every start (as systemd's `MACAddressPolicy=persistent`), so that hosts elsewhere keep a valid neighbour entry across a restart; a TAP vtepd finds keeps its own. Default: derived.",
      ),
    ...tunnelBlocks,
    remotes: underlayList.default([]).describe('VTEPs that receive BUM frames and may send to this network'),
    group: groupSchema.optional().describe('send BUM frames to a multicast group instead of (or besides) the remotes'),
    allow: underlayList
      .optional()
      .describe(
        'VTEPs accepted as senders (and learned) without receiving floods; in group mode, the only ones accepted',
      ),
    ageing: int(1, 1_000_000, 'a number of seconds').default(DEFAULT_AGEING_S).describe('seconds; 1–1000000'),
    'max-macs': int(1, 1_000_000, 'a number of entries')
      .default(DEFAULT_MAX_MACS)
      .describe('learned entries; when full, new MACs are refused and counted'),
    'max-static-macs': int(1, 10_000_000, 'a number of entries')
      .default(DEFAULT_MAX_STATIC_MACS)
      .describe('FDB entries given by the config and vtepctl; one more is refused and counted'),
    'max-evpn-macs': int(1, 10_000_000, 'a number of entries')
      .default(DEFAULT_MAX_EVPN_MACS)
      .describe('FDB entries from EVPN routes; one more is ignored, counted and logged'),
    'max-remotes': int(1, 65_535, 'a number of VTEPs')
      .default(DEFAULT_MAX_REMOTES)
      .describe(
        'remote VTEPs given by the config, vtepctl, EVPN and static entries (learned ones apart); one more is refused and counted',
      ),
    static: z
      .array(z.strictObject({ mac, remote: unicastUnderlay }), expected('expected a list of { mac, remote }'))
      .default([])
      .describe('`{ mac, remote }`: permanent entries; their remotes may send to this network'),
    neigh: z
      .array(z.strictObject({ ip: overlayIp, mac }), expected('expected a list of { ip, mac }'))
      .default([])
      .describe(
        '`{ ip, mac }`: IPv4 or IPv6 overlay addresses and their MACs, which the ARP/ND responder answers from',
      ),
    'arp-responder': bool()
      .default(false)
      .describe(
        "answer ARP requests and IPv6 Neighbor Solicitations read from the TAP for an address in `neigh` (or added with `vtepctl neigh add`, or snooped) on the TAP, instead of flooding them (Neutron's ARP responder, the kernel VXLAN device's `proxy`)",
      ),
    'arp-snoop': bool()
      .default(false)
      .describe(
        'add the addresses that ARP replies, gratuitous ARP and unsolicited Neighbor Advertisements arriving from tunnels announce to the neighbour table; such entries age like learned MACs and never replace a given one',
      ),
    learning: bool()
      .default(true)
      .describe('learn source MACs of frames from tunnels; off, MACs behind other VTEPs come from EVPN only'),
    evpn: networkEvpnSchema
      .optional()
      .describe(
        "`true`, or `{ rd, import-rt, export-rt }`: RD `router-id:VNI` and route targets `ASN:VNI` by default, as FRR's auto-RD/RT (a 4-byte ASN keeps the VNI's low 16 bits in the RT); VXLAN networks only. Default: off.",
      ),
    'accept-any-remote': bool()
      .default(false)
      .describe('accept tunnel packets from any VTEP and learn it (not added to the flood list)'),
    ttl: int(1, 255, 'a TTL').default(DEFAULT_TTL).describe('outer TTL (IPv4) or hop limit (IPv6)'),
    df: z
      .union([z.boolean(), z.literal('inherit')], expected('expected true, false or inherit'))
      .optional()
      .describe(
        "`true`: DF on the outer IPv4 header (as the kernel's VXLAN device and Open vSwitch do); `inherit`: the inner IPv4 packet's DF, packet by packet (the kernel's `df inherit`; other frames without). IPv6 has no DF: routers never fragment it. Default: false for VXLAN, true for GRE.",
      ),
    'udp6-zero-csum-rx': bool()
      .optional()
      .describe(
        "VXLAN over IPv6: accept datagrams whose UDP checksum is zero, as the kernel's `udp6zerocsumrx` (RFC 6935/6936); otherwise the kernel drops them before vtepd sees them. vtepd always sends a checksum. Refused on an IPv4 underlay or a GRE network. Default: false.",
      ),
    'gre-socket': greSocketField
      .optional()
      .describe(
        "GRE networks: what sends the packets. `packet`: a packet socket, vtepd writing the Ethernet and IP headers from the kernel's own route and neighbour tables (as Open vSwitch's userspace datapath does), the raw socket kept for what the packet socket cannot carry (see \"GRE on a packet socket\"); `raw`: the kernel's raw IP socket alone, every packet through the kernel's IP output (its netfilter `OUTPUT`/`POSTROUTING` rules included). A change restarts the network. Refused on a VXLAN network. Default: `packet`.",
      ),
    vrf: name
      .optional()
      .describe(
        'the VRF the network routes in; it must be declared under `vrfs` (see "Routing between networks"). Default: none (`default` with a `gateway`).',
      ),
    gateway: gatewaySchema
      .optional()
      .describe('the network is routed: this host is its gateway, with the same address and MAC as every host'),
  })
  .refine((n) => TUNNEL_KINDS.filter((k) => n[k] !== undefined).length === 1, {
    error: `give exactly one encapsulation: ${TUNNEL_KINDS.map((k) => `${k}: {...}`).join(' or ')}`,
  });

const busyPollField = int(0, 100_000, 'microseconds');

export const configSchema = z.strictObject({
  local: unicastUnderlay.describe(
    'underlay address of this VTEP, IPv4 or IPv6; must be an address of this host. Its family is every network\'s: each address of `remotes`, `allow`, `static`, `group` and of `vtepctl remote add`/`fdb add` must be of the same family, or it is refused naming the field (see "IPv6 underlay")',
  ),
  'udp6-zero-csum-rx': bool().default(false).describe('the default of the network key below'),
  'gre-socket': greSocketField.default(DEFAULT_GRE_SOCKET).describe('the default of the network key below'),
  socket: z
    .string(expected('expected a path'))
    .min(1, expected('expected a path'))
    .refine((p) => Buffer.byteLength(p) <= MAX_SOCKET_PATH_BYTES, {
      error: `expected a path of at most ${MAX_SOCKET_PATH_BYTES} bytes (what a Unix socket address holds)`,
    })
    .default(DEFAULT_SOCKET)
    .describe('control socket path (mode 0600), at most 107 bytes; only a stale socket found there is ever removed'),
  offload: bool()
    .default(true)
    .describe(
      'TSO and checksum offload on the TAPs, UDP GSO/GRO for VXLAN (see "Fast path"); `false` or `--no-offload`: one frame per datagram on raw sockets',
    ),
  'busy-poll': busyPollField
    .default(DEFAULT_BUSY_POLL_US)
    .describe(
      "microseconds to keep polling the data path after traffic before sleeping (0: never), like the kernel's `SO_BUSY_POLL`",
    ),
  'socket-group': z
    .string(expected('expected a group name'))
    .regex(/^[A-Za-z_][A-Za-z0-9_.-]{0,31}\$?$/, expected('expected a group name'))
    .optional()
    .describe('group of the socket file (members connect when `socket-mode` lets the group in)'),
  'socket-mode': z
    .union([z.string(), z.number()], expected(SOCKET_MODE))
    .transform((v, ctx) => {
      // YAML reads 0660 as the number 660: its digits are what the user meant, in octal.
      const text = String(v);
      if (!/^0?[0-7]{3}$/.test(text)) {
        ctx.addIssue({ code: 'custom', message: SOCKET_MODE });
        return z.NEVER;
      }
      return parseInt(text, 8);
    })
    .refine((m) => (m & 0o600) === 0o600 && (m & 0o007) === 0, { error: SOCKET_MODE })
    .default(0o600)
    .describe(
      'permission bits of the socket file: the owner reads and writes; `0660` lets the group in; others never. Default: `0600`.',
    ),
  'socket-mutations': z
    .enum(['owner', 'group'], expected("expected owner (root and vtepd's user) or group (anyone who can connect)"))
    .default('owner')
    .describe(
      "`owner`: only root and the user vtepd runs as may change the forwarding state, reload, upgrade or capture (the peer's uid from `SO_PEERCRED`); others who can connect read (`stats`, `fdb show`, `monitor`, `trace`...). `group`: anyone who can connect may",
    ),
  user: z
    .string(expected('expected a user name'))
    .regex(/^[A-Za-z_][A-Za-z0-9_.-]{0,31}\$?$/, expected('expected a user name'))
    .optional()
    .describe(
      "when started as root: once every TAP and socket is open, become this user, keeping only `CAP_NET_ADMIN` and `CAP_NET_RAW` (ambient, so TAPs created later and the `ip` commands vtepd runs keep working), every other capability dropped from the bounding set, `no_new_privs` set. A TAP created later needs `/dev/net/tun` mode 0666 (udev's default); vtepd warns if it is not. With `evpn`, only together with `evpn.gobgp`: a gobgpd vtepd starts runs as root (port 179) and could not be stopped by the user",
    ),
  metrics: listenAddress
    .optional()
    .describe(
      '`ADDR:PORT` or `[IPv6]:PORT`: serve Prometheus metrics at `http://ADDR:PORT/metrics` (see "Metrics") and the status page at `http://ADDR:PORT/` (see "See the fabric")',
    ),
  'log-format': z
    .enum(LOG_FORMATS, expected(`expected ${LOG_FORMATS.join(' or ')}`))
    .default('text')
    .describe(
      "`text`: `vtepd: warning: ...` lines as always; `json`: one JSON object a line (pino) with `level`, `time`, `pid`, `msg` and the event's `network`, `remote`, `reason`, `request`",
    ),
  'log-level': z
    .enum(LOG_LEVELS, expected(`expected one of ${LOG_LEVELS.join(', ')}`))
    .default('info')
    .describe(
      '`debug`, `info`, `warning` or `error`: lines below it are not written. A warning or error repeated word for word is written at most 5 times in 10 s; the next one says how many were held back',
    ),
  evpn: evpnSchema.optional().describe('BGP EVPN: vtepd as a VTEP of a fabric, BGP spoken by GoBGP'),
  // `tenant1:` alone (YAML null) is a VRF with every default.
  vrfs: z
    .record(
      name,
      z.preprocess((v) => v ?? {}, vrfSchema),
      expected('expected a map of VRF names to VRFs'),
    )
    .default({})
    .describe('VRFs: the networks with a gateway in one route between each other'),
  'dvr-mac': mac
    .optional()
    .describe("this host's DVR MAC: the source of routed frames on networks with `source-mac: dvr`"),
  'dvr-macs': z
    .array(mac, expected('expected a list of MAC addresses'))
    .default([])
    .describe("the other hosts' DVR MACs: never learned, written back to the gateway MAC before the TAP"),
  control: z
    .strictObject({
      'max-clients': int(1, 10_000, 'a number of clients')
        .default(DEFAULT_CONTROL_LIMITS.maxClients)
        .describe(
          'control clients connected at once; one more is told `too many control clients` and closed; ' +
            "an eighth of them (1 to 8) are kept for root and vtepd's own user",
        ),
      'idle-timeout': int(1, 86_400, 'seconds')
        .default(DEFAULT_CONTROL_LIMITS.idleTimeoutS)
        .describe(
          'seconds a control client may stay connected without a request (a `capture` or `monitor` stream excepted)',
        ),
    })
    .default({ 'max-clients': DEFAULT_CONTROL_LIMITS.maxClients, 'idle-timeout': DEFAULT_CONTROL_LIMITS.idleTimeoutS })
    .describe('control socket bounds'),
  networks: z
    .record(
      z.string().regex(/^[A-Za-z0-9_.-]{1,32}$/, { error: `network ${NAME.error}` }),
      networkSchema,
      expected('expected a map of network names to networks'),
    )
    .refine((n) => Object.keys(n).length > 0, { error: 'at least one network is required' })
    .describe('the networks: one TAP and one VNI or GRE key each'),
});

export type RawConfig = z.output<typeof configSchema>;

/** Whether some session of an evpn block is eBGP (a peer AS other than `asn`): imports then default to `*:VNI`. */
export function isEbgp(evpn: NonNullable<RawConfig['evpn']>): boolean {
  return evpn.neighbors.some(
    (n) => ((typeof n === 'string' ? undefined : n['peer-as']) ?? evpn['peer-as'] ?? evpn.asn) !== evpn.asn,
  );
}
