// The flags of vtepd's one-network form, and the top-level flags that go
// with a file: turned into the same config object a file gives, so that one
// schema checks both (a mistake names the flag).
import { checkConfig, ConfigError, type Config, type Overrides } from './config.ts';

/** The flags that describe one network, and where each lands in the config. */
export interface NetworkFlags {
  local?: string;
  tap?: string;
  name?: string;
  vni?: string;
  'geneve-vni'?: string;
  'geneve-option'?: string[];
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
  'evpn-peer-as'?: string;
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
export const FLAG_OF_PATH: Record<string, string> = {
  local: '--local',
  socket: '--socket',
  offload: '--no-offload',
  'busy-poll': '--busy-poll',
  metrics: '--metrics',
  user: '--user',
  'socket-group': '--socket-group',
  'socket-mode': '--socket-mode',
  'socket-mutations': '--socket-mutations',
  'log-format': '--log-format',
  'log-level': '--log-level',
  tap: '--tap',
  address: '--address',
  mtu: '--mtu',
  mac: '--mac',
  'vxlan.vni': '--vni',
  'vxlan.port': '--port',
  'geneve.vni': '--geneve-vni',
  'geneve.port': '--port',
  'geneve.options': '--geneve-option',
  'geneve.options.class': '--geneve-option',
  'geneve.options.type': '--geneve-option',
  'geneve.options.data': '--geneve-option',
  'gre.key': '--gre-key',
  'gre.csum': '--gre-csum',
  'gre.seq': '--gre-seq',
  'group.address': '--group',
  'group.dev': '--dev',
  'group.ttl': '--group-ttl',
  group: '--group',
  remotes: '--remote',
  allow: '--allow',
  ageing: '--ageing',
  'max-macs': '--max-macs',
  ttl: '--ttl',
  'accept-any-remote': '--accept-any-remote',
  df: '--df or --df-inherit',
  'udp6-zero-csum-rx': '--udp6-zero-csum-rx',
  'gre-socket': '--gre-socket',
  'arp-responder': '--arp-responder',
  'arp-snoop': '--arp-snoop',
  learning: '--no-learning',
  'evpn.asn': '--evpn-asn',
  'evpn.peer-as': '--evpn-peer-as',
  'evpn.neighbors': '--evpn-neighbor',
  'evpn.router-id': '--evpn-router-id',
  'evpn.gobgp': '--evpn-gobgp',
  evpn: '--evpn-asn',
};

/** A flag's text as a number when it is one, so that the schema's message (not a type error) answers. */
export function flagNumber(s: string | undefined): number | string | undefined {
  return s !== undefined && /^\d+$/.test(s) ? Number(s) : s;
}

/** Top-level settings whose flag has the key's name and passes its text as is. */
const PASSED_AS_IS = [
  'metrics',
  'user',
  'socket-group',
  'socket-mode',
  'socket-mutations',
  'log-format',
  'log-level',
] as const;

/** The top-level settings the flags give beside a config file: socket, offloads, busy polling, metrics, logs. */
export function overridesFromFlags(
  f: Pick<NetworkFlags, 'socket' | 'busy-poll' | 'no-offload' | (typeof PASSED_AS_IS)[number]>,
): Overrides {
  const values: Record<string, unknown> = {};
  if (f.socket !== undefined) values.socket = f.socket;
  if (f['busy-poll'] !== undefined) values['busy-poll'] = flagNumber(f['busy-poll']);
  if (f['no-offload']) values.offload = false;
  for (const k of PASSED_AS_IS) if (f[k] !== undefined) values[k] = f[k];
  return {
    values,
    flags: {
      socket: '--socket',
      'busy-poll': '--busy-poll',
      offload: '--no-offload',
      ...Object.fromEntries(PASSED_AS_IS.map((k) => [k, `--${k}`])),
    },
  };
}

/** Builds the same config a file would give from the flags of one network. */
export function configFromFlags(f: NetworkFlags): Config {
  const kinds = (['vni', 'geneve-vni', 'gre-key'] as const).filter((k) => f[k] !== undefined);
  if (kinds.length > 1)
    throw new ConfigError([
      `${kinds.map((k) => `--${k}`).join(' and ')} do not go together: a network is VXLAN, Geneve or GRE`,
    ]);
  if (f['geneve-option'] !== undefined && f['geneve-vni'] === undefined)
    throw new ConfigError(["--geneve-option goes with --geneve-vni: options are Geneve's"]);
  if (f.df && f['df-inherit'])
    throw new ConfigError([
      '--df and --df-inherit do not go together: DF is set on every packet, or copied from the inner one',
    ]);
  const validName = (n: string | undefined) => n !== undefined && /^[A-Za-z0-9_.-]{1,32}$/.test(n);
  const name = f.name ?? (validName(f.tap) ? f.tap! : 'default');
  const num = flagNumber;
  const network: Record<string, unknown> = {
    tap: f.tap,
    address: f.address,
    mtu: num(f.mtu),
    mac: f.mac,
    vxlan:
      f['gre-key'] === undefined && f['geneve-vni'] === undefined ? { vni: num(f.vni), port: num(f.port) } : undefined,
    geneve:
      f['geneve-vni'] !== undefined
        ? { vni: num(f['geneve-vni']), port: num(f.port), options: f['geneve-option']?.map(geneveOptionFlag) }
        : undefined,
    gre: f['gre-key'] !== undefined ? { key: num(f['gre-key']), csum: f['gre-csum'], seq: f['gre-seq'] } : undefined,
    remotes: f.remote,
    group:
      f.group !== undefined || f.dev !== undefined
        ? { address: f.group, dev: f.dev, ttl: num(f['group-ttl']) }
        : undefined,
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
  const evpn =
    f['evpn-asn'] !== undefined || f['evpn-neighbor'] !== undefined
      ? {
          asn: num(f['evpn-asn']),
          'peer-as': f['evpn-peer-as'] === 'external' ? 'external' : num(f['evpn-peer-as']),
          neighbors: f['evpn-neighbor'],
          'router-id': f['evpn-router-id'],
          gobgp: f['evpn-gobgp'],
        }
      : undefined;
  // With the fabric's flags, the one network is part of it.
  if (evpn !== undefined) network.evpn = true;
  if (f['no-learning']) network.learning = false;
  const raw = { local: f.local, evpn, networks: { [name]: dropUndefined(network) }, ...overridesFromFlags(f).values };
  if (f.name !== undefined && !validName(f.name))
    throw new ConfigError(['--name: network names are 1 to 32 letters, digits, ".", "_" or "-"']);
  return checkConfig(dropUndefined(raw), (path) => {
    if (path.length === 2 && path[0] === 'networks') return '--vni, --geneve-vni or --gre-key';
    const rel = (path[0] === 'networks' ? path.slice(2) : path).filter((p) => typeof p === 'string').join('.');
    return FLAG_OF_PATH[rel] ?? path.join('.');
  });
}

/** `--geneve-option CLASS,TYPE,DATA` (0x0102,0x80,00010002) as the config's { class, type, data }. */
function geneveOptionFlag(text: string): Record<string, unknown> {
  const [cls, type, data, ...rest] = text.split(',');
  if (type === undefined || rest.length > 0)
    throw new ConfigError([`--geneve-option ${text}: expected CLASS,TYPE[,DATA], such as 0x0102,0x80,00010002`]);
  const n = (t: string) => (/^\d+$/.test(t) ? Number(t) : t);
  return { class: n(cls), type: n(type), ...(data !== undefined && data !== '' && { data }) };
}

function dropUndefined<T extends Record<string, unknown>>(o: T): T {
  for (const k of Object.keys(o)) {
    const v = o[k];
    if (v === undefined) delete o[k];
    else if (v !== null && typeof v === 'object' && !Array.isArray(v)) dropUndefined(v as Record<string, unknown>);
  }
  return o;
}
