// The config file's schema: every key, its type and range, and what each
// mistake says. Cross-field rules (one address family, no duplicates, the
// network a route names...) are config.ts's normalize().
import { z } from 'zod';
import { DEFAULT_AGEING_S, DEFAULT_MAX_MACS } from '../switch/fdb.ts';
import { bool, expected, int } from '../tunnel/fields.ts';
import { tunnelBlocks, TUNNEL_KINDS } from '../tunnel/index.ts';
import { canonicalIp, isMulticastIp, isUnicastIp, isV4Mapped, parseIp } from '../wire/ip-address.ts';
import { parseIpv4Address } from '../wire/ipv4.ts';
import { isGroupMac, parseMac } from '../wire/mac.ts';
import { DEFAULT_CONTROL_LIMITS } from '../control/server.ts';
import { DEFAULT_SOCKET } from '../control/sockets.ts';
import { parseRouteValue } from '../evpn/values.ts';
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
const networkEvpnSchema = z.union(
  [
    z.literal(true),
    z.strictObject({
      rd: routeValue.optional(),
      'import-rt': z.array(routeValue, expected('expected a list of route targets')).min(1).optional(),
      'export-rt': z.array(routeValue, expected('expected a list of route targets')).min(1).optional(),
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

const evpnSchema = z.strictObject({
  asn: int(1, 4294967295, 'an AS number'),
  'router-id': ipv4.optional(),
  neighbors: z
    .array(unicastIpv4, expected('expected a list of IPv4 addresses'))
    .min(1, expected('expected at least one neighbor')),
  gobgp: hostPort.optional(),
  'hold-time': int(3, 65535, 'seconds').default(9),
});

const groupSchema = z.strictObject({
  address: multicastUnderlay,
  dev: ifname,
  ttl: int(1, 255, 'a multicast TTL').default(1),
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
    .min(1, expected('expected at least one address')),
  mac,
  'source-mac': z
    .enum(SOURCE_MACS, expected("expected anycast (the gateway MAC) or dvr (this host's dvr-mac)"))
    .default('anycast'),
});

const vrfSchema = z.strictObject({
  routes: z
    .array(z.strictObject({ prefix: prefixed, via: overlayIp }), expected('expected a list of { prefix, via }'))
    .default([]),
  'icmp-ratelimit': int(0, 1_000_000, 'ICMP errors a second (0: no limit)').default(DEFAULT_ICMP_RATELIMIT),
});

const networkSchema = z
  .strictObject({
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
    static: z
      .array(z.strictObject({ mac, remote: unicastUnderlay }), expected('expected a list of { mac, remote }'))
      .default([]),
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
    vrf: name.optional(),
    gateway: gatewaySchema.optional(),
  })
  .refine((n) => TUNNEL_KINDS.filter((k) => n[k] !== undefined).length === 1, {
    error: `give exactly one encapsulation: ${TUNNEL_KINDS.map((k) => `${k}: {...}`).join(' or ')}`,
  });

const busyPollField = int(0, 100_000, 'microseconds');

export const configSchema = z.strictObject({
  local: unicastUnderlay,
  'udp6-zero-csum-rx': bool().default(false),
  'gre-socket': greSocketField.default(DEFAULT_GRE_SOCKET),
  socket: z
    .string(expected('expected a path'))
    .min(1, expected('expected a path'))
    .refine((p) => Buffer.byteLength(p) <= MAX_SOCKET_PATH_BYTES, {
      error: `expected a path of at most ${MAX_SOCKET_PATH_BYTES} bytes (what a Unix socket address holds)`,
    })
    .default(DEFAULT_SOCKET),
  offload: bool().default(true),
  'busy-poll': busyPollField.default(DEFAULT_BUSY_POLL_US),
  'socket-group': z
    .string(expected('expected a group name'))
    .regex(/^[A-Za-z_][A-Za-z0-9_.-]{0,31}\$?$/, expected('expected a group name'))
    .optional(),
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
    .default(0o600),
  'socket-mutations': z
    .enum(['owner', 'group'], expected("expected owner (root and vtepd's user) or group (anyone who can connect)"))
    .default('owner'),
  user: z
    .string(expected('expected a user name'))
    .regex(/^[A-Za-z_][A-Za-z0-9_.-]{0,31}\$?$/, expected('expected a user name'))
    .optional(),
  metrics: listenAddress.optional(),
  'log-format': z.enum(LOG_FORMATS, expected(`expected ${LOG_FORMATS.join(' or ')}`)).default('text'),
  'log-level': z.enum(LOG_LEVELS, expected(`expected one of ${LOG_LEVELS.join(', ')}`)).default('info'),
  evpn: evpnSchema.optional(),
  // `tenant1:` alone (YAML null) is a VRF with every default.
  vrfs: z
    .record(
      name,
      z.preprocess((v) => v ?? {}, vrfSchema),
      expected('expected a map of VRF names to VRFs'),
    )
    .default({}),
  'dvr-mac': mac.optional(),
  'dvr-macs': z.array(mac, expected('expected a list of MAC addresses')).default([]),
  control: z
    .strictObject({
      'max-clients': int(1, 10_000, 'a number of clients').default(DEFAULT_CONTROL_LIMITS.maxClients),
      'idle-timeout': int(1, 86_400, 'seconds').default(DEFAULT_CONTROL_LIMITS.idleTimeoutS),
    })
    .default({ 'max-clients': DEFAULT_CONTROL_LIMITS.maxClients, 'idle-timeout': DEFAULT_CONTROL_LIMITS.idleTimeoutS }),
  networks: z
    .record(
      z.string().regex(/^[A-Za-z0-9_.-]{1,32}$/, { error: `network ${NAME.error}` }),
      networkSchema,
      expected('expected a map of network names to networks'),
    )
    .refine((n) => Object.keys(n).length > 0, { error: 'at least one network is required' }),
});

export type RawConfig = z.output<typeof configSchema>;
