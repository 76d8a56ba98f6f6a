// What the config says about routing between networks, checked across
// fields: each network's VRF and gateway, the VRFs' static routes, the DVR
// MACs. A network with a gateway and no `vrf` routes in the VRF "default".
// Refused, naming the field: a VRF no `vrfs` entry declares, subnets that
// overlap in one VRF, a gateway address that is its subnet's network or
// broadcast address or the TAP's own, a route whose next hop is on no
// connected subnet, a DVR MAC equal to a gateway MAC.
import { contains, formatPrefix, masked, overlaps, parsePrefix, type Prefix } from '../route/prefix.ts';
import type { SourceMac } from '../route/vrf.ts';
import { canonicalIp, formatIp, isV4Mapped, parseIp } from '../wire/ip-address.ts';
import { derivedMac, formatMac, parseMac, type Mac } from '../wire/mac.ts';
import { VXLAN_PORT } from '../wire/vxlan.ts';
import {
  canonicalImportTarget,
  canonicalRouteValue,
  defaultRouteDistinguisher,
  defaultRouteTarget,
} from '../evpn/values.ts';
import type { Config, NetworkConfig } from './config.ts';
import { isEbgp, type RawConfig } from './schema.ts';

/** The VRF of a network that has a gateway and names none. */
export const DEFAULT_VRF = 'default';

export interface GatewayConfig {
  /** Each address (canonical text) with its prefix length. */
  addresses: { ip: string; len: number }[];
  mac: Mac;
  /** The source MAC of routed frames: the gateway MAC, or this host's dvr-mac. */
  sourceMac: SourceMac;
}

export interface VrfConfig {
  name: string;
  /** Static routes: prefix as "192.168.30.0/24", next hop's canonical text. */
  routes: { prefix: string; via: string }[];
  /** ICMP errors a second at most (0: no limit). */
  icmpRatelimit: number;
  /** Symmetric IRB over BGP EVPN: the L3VNI, this VTEP's router MAC, the VRF's RD and RTs, what it advertises. */
  l3?: VrfL3Config;
}

export interface VrfL3Config {
  vni: number;
  rmac: Mac;
  rd: string;
  importRts: string[];
  exportRts: string[];
  advertise: ('connected' | 'static')[];
}

export interface RoutingConfig {
  vrfs: VrfConfig[];
  /** This host's DVR MAC, and the other hosts'. */
  dvrMac?: Mac;
  dvrMacs: Mac[];
}

type Problem = (path: PropertyKey[], msg: string) => void;

/** Checks the routing settings and fills each network's `vrf` and `gateway`; returns the VRFs and DVR MACs. */
export function normalizeRouting(raw: RawConfig, networks: NetworkConfig[], problem: Problem): RoutingConfig {
  const declared = new Set(Object.keys(raw.vrfs));
  /** Every gateway subnet of each VRF, with where it was given. */
  const subnets = new Map<string, { prefix: Prefix; at: PropertyKey[]; network: string }[]>();
  const gatewayMacs = new Set<Mac>();
  for (const net of networks) {
    const n = raw.networks[net.name];
    const at = (...p: PropertyKey[]) => ['networks', net.name, ...p];
    if (n.vrf !== undefined && n.vrf !== DEFAULT_VRF && !declared.has(n.vrf)) {
      const known = [...declared].join(', ') || 'none';
      problem(at('vrf'), `no VRF "${n.vrf}" in vrfs (VRFs: ${known}); declare it under vrfs, or name another`);
    }
    if (n.gateway === undefined) {
      net.vrf = n.vrf;
      continue;
    }
    net.vrf = n.vrf ?? DEFAULT_VRF;
    const g = n.gateway;
    const mac = parseMac(g.mac)!;
    gatewayMacs.add(mac);
    if (g['source-mac'] === 'dvr' && raw['dvr-mac'] === undefined) {
      problem(at('gateway', 'source-mac'), "dvr needs the top-level dvr-mac: this host's own MAC for routed frames");
    }
    const tapAddress = net.address === undefined ? undefined : canonicalIp(net.address.split('/')[0]);
    const list = subnets.get(net.vrf) ?? [];
    subnets.set(net.vrf, list);
    const addresses = g.addresses.map((text, i) => {
      const [ipText, lenText] = text.split('/');
      const ip = canonicalIp(ipText)!;
      const len = Number(lenText);
      const prefix = parsePrefix(text)!;
      const problemOfHost = hostProblem(parseIp(ip)!, prefix);
      if (problemOfHost !== undefined) problem(at('gateway', 'addresses', i), `${text}: ${problemOfHost}`);
      if (ip === tapAddress) {
        problem(
          at('gateway', 'addresses', i),
          `${ip} is the address of the network's TAP (address): give the gateway an address of its own`,
        );
      }
      for (const other of list) {
        if (!overlaps(other.prefix, prefix)) continue;
        problem(
          at('gateway', 'addresses', i),
          `${formatPrefix(prefix)} overlaps ${formatPrefix(other.prefix)} of network ${other.network} in VRF ${net.vrf}: each subnet has one gateway`,
        );
      }
      list.push({ prefix, at: at('gateway', 'addresses', i), network: net.name });
      return { ip, len };
    });
    net.gateway = { addresses, mac, sourceMac: g['source-mac'] };
  }
  const vrfs: VrfConfig[] = [];
  const l3vnis = new Map<number, string>();
  let routerMac: { mac: Mac; vrf: string } | undefined;
  const vnis = new Map(networks.filter((n) => n.tunnel.kind === 'vxlan').map((n) => [tunnelVni(n), n.name]));
  /** The VRF's symmetric IRB settings, checked: { l3 } or nothing. */
  const l3Of = (name: string): { l3?: VrfL3Config } => {
    const v = raw.vrfs[name];
    if (v?.l3vni === undefined) return {};
    const at = (...p: PropertyKey[]) => ['vrfs', name, ...p];
    const vni = v.l3vni;
    if (raw.evpn === undefined) {
      problem(at('l3vni'), 'an L3VNI is routing over BGP EVPN: it needs the top-level evpn: { asn, neighbors }');
      return {};
    }
    if (vnis.has(vni))
      problem(at('l3vni'), `${vni} is the VNI of network ${vnis.get(vni)}: give the VRF a VNI of its own`);
    if (l3vnis.has(vni)) problem(at('l3vni'), `${vni} is the L3VNI of VRF ${l3vnis.get(vni)} already`);
    const geneve = networks.find((n) => n.tunnel.kind === 'geneve' && n.tunnel.port === VXLAN_PORT);
    if (geneve !== undefined)
      problem(at('l3vni'), `L3VNIs are VXLAN on port ${VXLAN_PORT}, where network ${geneve.name} carries Geneve`);
    l3vnis.set(vni, name);
    const rmac = v['router-mac'] === 'auto' ? derivedMac(`vtepd ${raw.local} router-mac`) : parseMac(v['router-mac'])!;
    if (routerMac !== undefined && routerMac.mac !== rmac)
      problem(
        at('router-mac'),
        `${formatMac(rmac)} differs from VRF ${routerMac.vrf}'s ${formatMac(routerMac.mac)}: a VTEP has one router MAC ` +
          'for every VRF (peers such as FRR drop what comes from another)',
      );
    routerMac ??= { mac: rmac, vrf: name };
    if (gatewayMacs.has(rmac))
      problem(at('router-mac'), `${formatMac(rmac)} is a gateway MAC: the router MAC must be this VTEP's own`);
    const given = v.evpn === undefined || v.evpn === true ? {} : v.evpn;
    const rt = defaultRouteTarget(raw.evpn.asn, vni);
    const importRt = isEbgp(raw.evpn) ? `*:${vni}` : rt;
    return {
      l3: {
        vni,
        rmac,
        rd:
          given.rd !== undefined
            ? canonicalRouteValue(given.rd)
            : defaultRouteDistinguisher(raw.evpn['router-id'] ?? raw.local, vni),
        importRts: (given['import-rt'] ?? [importRt]).map(canonicalImportTarget),
        exportRts: (given['export-rt'] ?? [rt]).map(canonicalRouteValue),
        advertise: [...new Set(v.advertise)],
      },
    };
  };
  const names = new Set([...declared, ...networks.filter((n) => n.vrf !== undefined).map((n) => n.vrf!)]);
  for (const name of names) {
    const v = raw.vrfs[name];
    const connected = subnets.get(name) ?? [];
    const seen: Prefix[] = [];
    const routes = (v?.routes ?? []).map((r, i) => {
      const at = ['vrfs', name, 'routes', i];
      const prefix = parsePrefix(r.prefix)!;
      const via = canonicalIp(r.via)!;
      const viaBytes = parseIp(via)!;
      if (isV4Mapped(viaBytes) !== prefix.v4)
        problem([...at, 'via'], `${via} is not of the family of ${formatPrefix(prefix)}`);
      else if (!connected.some((c) => contains(c.prefix, viaBytes))) {
        const subnetsText = connected.map((c) => formatPrefix(c.prefix)).join(', ') || 'none';
        problem(
          [...at, 'via'],
          `${via} is on no connected subnet of VRF ${name} (${subnetsText}): a next hop is a neighbour on one of its networks`,
        );
      }
      if (seen.some((p) => p.len === prefix.len && overlaps(p, prefix)))
        problem([...at, 'prefix'], `${formatPrefix(prefix)} has two routes`);
      const same = connected.find((c) => c.prefix.len === prefix.len && overlaps(c.prefix, prefix));
      if (same !== undefined)
        problem([...at, 'prefix'], `${formatPrefix(prefix)} is the connected subnet of network ${same.network}`);
      seen.push(prefix);
      return { prefix: formatPrefix(prefix), via };
    });
    vrfs.push({ name, routes, icmpRatelimit: v?.['icmp-ratelimit'] ?? 1000, ...l3Of(name) });
  }
  const dvrMac = raw['dvr-mac'] === undefined ? undefined : parseMac(raw['dvr-mac'])!;
  if (dvrMac !== undefined && gatewayMacs.has(dvrMac)) {
    problem(['dvr-mac'], `${formatMac(dvrMac)} is a gateway MAC: a host's DVR MAC must be its own`);
  }
  const dvrMacs = raw['dvr-macs'].map((m, i) => {
    const mac = parseMac(m)!;
    if (mac === dvrMac) problem(['dvr-macs', i], `${m} is this host's own dvr-mac; list the other hosts' here`);
    if (gatewayMacs.has(mac)) problem(['dvr-macs', i], `${m} is a gateway MAC, not a host's DVR MAC`);
    return mac;
  });
  return { vrfs, ...(dvrMac !== undefined && { dvrMac }), dvrMacs };
}

function tunnelVni(n: NetworkConfig): number {
  return n.tunnel.kind === 'vxlan' ? n.tunnel.vni : -1;
}

/** Why `ip` cannot be a host of `prefix`: its network or (IPv4) broadcast address; undefined when it can. */
function hostProblem(ip: Uint8Array, prefix: Prefix): string | undefined {
  const bits = prefix.v4 ? 32 : 128;
  if (prefix.len >= bits - 1) return undefined; // /31, /32, /127, /128: every address is a host's
  const start = prefix.v4 ? 96 : 0;
  let zeros = true;
  let ones = true;
  for (let bit = start + prefix.len; bit < 128; bit++) {
    const set = (ip[bit >> 3] & (0x80 >> (bit & 7))) !== 0;
    zeros &&= !set;
    ones &&= set;
  }
  if (zeros)
    return `${formatIp(ip)} is the network address of its subnet, not a host's: give the gateway an address inside it`;
  if (ones && prefix.v4)
    return `${formatIp(ip)} is the broadcast address of its subnet: give the gateway an address inside it`;
  return undefined;
}

/**
 * The overlay's subnets: each TAP's and each gateway's, but none that holds `local` (an overlay
 * laid over the underlay's own subnet is odd but not ours to refuse). No VTEP's address is in one.
 */
export function overlaySubnets(c: Config): Prefix[] {
  const local = parseIp(c.local)!;
  const out: Prefix[] = [];
  for (const n of c.networks) {
    const tap = n.address === undefined ? undefined : parsePrefix(n.address);
    for (const p of [tap, ...(n.gateway?.addresses ?? []).map((a) => masked(parseIp(a.ip)!, a.len))])
      if (p !== undefined && !contains(p, local)) out.push(p);
  }
  return out;
}
