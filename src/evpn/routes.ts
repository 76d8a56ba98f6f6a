// EVPN routes (RFC 7432, RFC 8365 for VXLAN) as GoBGP's API carries them:
// building the two vtepd advertises, and reading the ones it receives.
//
//   type 3, Inclusive Multicast Ethernet Tag: "send me the VNI's BUM frames";
//     a PMSI tunnel attribute of type 6 (ingress replication) with the VNI as
//     label and the VTEP's address as tunnel id, next hop = the VTEP.
//   type 2, MAC/IP Advertisement: "this MAC (and address) is behind me";
//     label = VNI, next hop = the VTEP, and a MAC Mobility extended community
//     with the sequence number once the MAC has moved. With symmetric IRB
//     (RFC 9135) a MAC/IP route has a second label, the VRF's L3VNI, the VRF's
//     route targets besides the network's, and the Router's MAC extended
//     community: the egress VTEP's MAC on the L3VNI.
//   type 5, IP Prefix (RFC 9136): "this prefix of the VRF is behind me"; label
//     = the L3VNI, gateway address 0, the Router's MAC.
// All carry the route targets and the BGP encapsulation extended community
// VXLAN (RFC 9012 tunnel type 8). Labels are raw 24-bit VNIs, as FRR and GoBGP
// use them for VXLAN (not shifted like MPLS labels).
import { parseIpv4Address } from '../wire/ipv4.ts';
import { formatMac, parseMac, type Mac } from '../wire/mac.ts';
import { anyTypeName } from './gobgp-api.ts';
import { apiType, EVPN_FAMILY, type Any, type ApiPath } from './gobgp.ts';
import { parseRouteValue } from './values.ts';

/** RFC 9012 tunnel type VXLAN. */
const ENCAP_VXLAN = 8;
/** RFC 6514 PMSI tunnel type: ingress replication. */
const PMSI_INGRESS_REPLICATION = 6;
/** Route target: the sub-type of transitive two-octet-AS, IPv4 and four-octet-AS specific communities. */
const SUBTYPE_ROUTE_TARGET = 2;
const ORIGIN_IGP = 0;

export interface Imet {
  kind: 'imet';
  rd: string;
  /** The VTEP that wants the BUM frames: the PMSI tunnel id, or else the next hop. */
  vtep: string;
  rts: string[];
  vni: number;
}

export interface MacIp {
  kind: 'macip';
  rd: string;
  mac: Mac;
  /** The host's address, for a MAC/IP route; undefined for MAC only. */
  ip: string | undefined;
  vtep: string;
  rts: string[];
  vni: number;
  /** MAC Mobility sequence number (0 without the community). */
  seq: number;
  sticky: boolean;
  /** Symmetric IRB: the second label (the VRF's L3VNI) and the egress VTEP's router MAC. */
  l3vni?: number;
  rmac?: Mac;
}

/** A type-5 route: a prefix of a VRF behind a VTEP, reached on the L3VNI at its router MAC. */
export interface IpPrefix {
  kind: 'prefix';
  rd: string;
  /** The prefix's address as text ("192.168.30.0") and length. */
  prefix: string;
  len: number;
  vtep: string;
  rts: string[];
  /** The label: the VRF's L3VNI. */
  l3vni: number;
  rmac: Mac | undefined;
}

export type EvpnRoute = Imet | MacIp | IpPrefix;

/** What symmetric IRB adds to a route: the VRF's L3VNI, route targets and this VTEP's router MAC. */
export interface L3Route {
  l3vni: number;
  rts: string[];
  rmac: Mac;
}

function rdAny(rd: string): Any {
  const v = parseRouteValue(rd)!;
  switch (v.kind) {
    case 'ip':
      return { '@type': apiType('RouteDistinguisherIPAddress'), admin: v.admin, assigned: v.assigned };
    case 'as2':
      return { '@type': apiType('RouteDistinguisherTwoOctetASN'), admin: v.asn, assigned: v.assigned };
    case 'as4':
      return { '@type': apiType('RouteDistinguisherFourOctetASN'), admin: v.asn, assigned: v.assigned };
  }
}

function rtAny(rt: string): Any {
  const v = parseRouteValue(rt)!;
  const common = { is_transitive: true, sub_type: SUBTYPE_ROUTE_TARGET, local_admin: v.assigned };
  switch (v.kind) {
    case 'ip':
      return { '@type': apiType('IPv4AddressSpecificExtended'), ...common, address: v.admin };
    case 'as2':
      return { '@type': apiType('TwoOctetAsSpecificExtended'), ...common, asn: v.asn };
    case 'as4':
      return { '@type': apiType('FourOctetAsSpecificExtended'), ...common, asn: v.asn };
  }
}

function attributes(nextHop: string, rts: string[], extra: Any[], more: Any[] = []): Any[] {
  return [
    { '@type': apiType('OriginAttribute'), origin: ORIGIN_IGP },
    { '@type': apiType('NextHopAttribute'), next_hop: nextHop },
    {
      '@type': apiType('ExtendedCommunitiesAttribute'),
      communities: [...rts.map(rtAny), { '@type': apiType('EncapExtended'), tunnel_type: ENCAP_VXLAN }, ...extra],
    },
    ...more,
  ];
}

/**
 * The path to hand GoBGP's DeletePath for a type-2 route we advertised: the same, without its MAC
 * Mobility community. GoBGP checks a path it is given, deletions too, against the best path of
 * the MAC in its RIB and refuses one whose sequence number is lower ("invalid MAC mobility
 * sequence number"): after a move away, exactly the route to withdraw. It finds the route to
 * withdraw by its NLRI, so nothing else is lost.
 */
export function withdrawable(path: ApiPath): ApiPath {
  return {
    ...path,
    pattrs: path.pattrs.map((a) =>
      typeOf(a) === 'ExtendedCommunitiesAttribute'
        ? { ...a, communities: (a.communities as Any[]).filter((c) => typeOf(c) !== 'MacMobilityExtended') }
        : a,
    ),
  };
}

/** The type-3 route of a VNI from VTEP `local`. */
export function imetPath(rd: string, local: string, rts: string[], vni: number): ApiPath {
  const id = Buffer.from(local.split('.').map(Number));
  return {
    family: EVPN_FAMILY,
    nlri: {
      '@type': apiType('EVPNInclusiveMulticastEthernetTagRoute'),
      rd: rdAny(rd),
      ethernet_tag: 0,
      ip_address: local,
    },
    pattrs: attributes(
      local,
      rts,
      [],
      [{ '@type': apiType('PmsiTunnelAttribute'), flags: 0, type: PMSI_INGRESS_REPLICATION, label: vni, id }],
    ),
  };
}

function routerMac(mac: Mac): Any {
  return { '@type': apiType('RouterMacExtended'), mac: formatMac(mac) };
}

/** The type-2 route of `mac` (and `ip`, if given) behind VTEP `local`; with `l3` and an address, for symmetric IRB. */
export function macIpPath(
  rd: string,
  mac: Mac,
  ip: string | undefined,
  local: string,
  rts: string[],
  vni: number,
  seq: number,
  sticky: boolean,
  l3?: L3Route,
): ApiPath {
  const mobility =
    seq > 0 || sticky ? [{ '@type': apiType('MacMobilityExtended'), is_sticky: sticky, sequence_num: seq }] : [];
  const irb = l3 !== undefined && ip !== undefined ? l3 : undefined;
  return {
    family: EVPN_FAMILY,
    nlri: {
      '@type': apiType('EVPNMACIPAdvertisementRoute'),
      rd: rdAny(rd),
      esi: { type: 0, value: Buffer.alloc(9) },
      ethernet_tag: 0,
      mac_address: formatMac(mac),
      ip_address: ip ?? '',
      labels: irb === undefined ? [vni] : [vni, irb.l3vni],
    },
    pattrs:
      irb === undefined
        ? attributes(local, rts, mobility)
        : attributes(local, [...rts, ...irb.rts.filter((rt) => !rts.includes(rt))], [...mobility, routerMac(irb.rmac)]),
  };
}

/** The type-5 route of `prefix`/`len` of a VRF behind VTEP `local`, on its L3VNI at router MAC `rmac`. */
export function prefixPath(
  rd: string,
  prefix: string,
  len: number,
  local: string,
  rts: string[],
  l3vni: number,
  rmac: Mac,
): ApiPath {
  return {
    family: EVPN_FAMILY,
    nlri: {
      '@type': apiType('EVPNIPPrefixRoute'),
      rd: rdAny(rd),
      esi: { type: 0, value: Buffer.alloc(9) },
      ethernet_tag: 0,
      ip_prefix: prefix,
      ip_prefix_len: len,
      gw_address: prefix.includes(':') ? '::' : '0.0.0.0',
      label: l3vni,
    },
    pattrs: attributes(local, rts, [routerMac(rmac)]),
  };
}

function typeOf(a: Any | undefined): string {
  return anyTypeName(a?.['@type'] ?? '');
}

function formatRd(a: Any): string | undefined {
  const admin = a.admin as string | number;
  const assigned = a.assigned as number;
  return admin === undefined || assigned === undefined ? undefined : `${admin}:${assigned}`;
}

function formatRt(c: Any): string | undefined {
  if (c.sub_type !== SUBTYPE_ROUTE_TARGET) return undefined;
  const t = typeOf(c);
  if (t === 'TwoOctetAsSpecificExtended' || t === 'FourOctetAsSpecificExtended') return `${c.asn}:${c.local_admin}`;
  if (t === 'IPv4AddressSpecificExtended') return `${c.address}:${c.local_admin}`;
  return undefined;
}

/** An EVPN route of type 2 or 3 as GoBGP hands it over; undefined for anything else. */
export function readPath(p: ApiPath): EvpnRoute | undefined {
  const nlri = p.nlri;
  const rd = formatRd((nlri.rd ?? {}) as Any);
  if (rd === undefined) return undefined;
  let nextHop: string | undefined;
  const rts: string[] = [];
  let seq = 0;
  let sticky = false;
  let pmsi: { label: number; id: Buffer } | undefined;
  let rmac: Mac | undefined;
  for (const a of p.pattrs) {
    const t = typeOf(a);
    if (t === 'MpReachNLRIAttribute') nextHop ??= (a.next_hops as string[] | undefined)?.[0];
    else if (t === 'NextHopAttribute') nextHop ??= a.next_hop as string;
    else if (t === 'PmsiTunnelAttribute') pmsi = { label: a.label as number, id: Buffer.from(a.id as Uint8Array) };
    else if (t === 'ExtendedCommunitiesAttribute') {
      for (const c of (a.communities ?? []) as Any[]) {
        const rt = formatRt(c);
        if (rt !== undefined) rts.push(rt);
        if (typeOf(c) === 'MacMobilityExtended') {
          seq = (c.sequence_num as number) ?? 0;
          sticky = c.is_sticky === true;
        }
        if (typeOf(c) === 'RouterMacExtended') rmac = parseMac(c.mac as string);
      }
    }
  }
  const t = typeOf(nlri);
  if (t === 'EVPNInclusiveMulticastEthernetTagRoute') {
    const vtep = pmsi?.id.length === 4 ? [...pmsi.id].join('.') : (nextHop ?? (nlri.ip_address as string));
    if (vtep === undefined || parseIpv4Address(vtep) === undefined) return undefined;
    return { kind: 'imet', rd, vtep, rts, vni: pmsi?.label ?? 0 };
  }
  if (t === 'EVPNMACIPAdvertisementRoute') {
    const mac = parseMac(nlri.mac_address as string);
    if (mac === undefined || nextHop === undefined) return undefined;
    const ipText = nlri.ip_address as string;
    const ip = ipText === '' || ipText === '<nil>' || ipText === '0.0.0.0' || ipText === '::' ? undefined : ipText;
    const labels = (nlri.labels as number[]) ?? [];
    return {
      kind: 'macip',
      rd,
      mac,
      ip,
      vtep: nextHop,
      rts,
      vni: labels[0] ?? 0,
      seq,
      sticky,
      ...(labels.length > 1 && ip !== undefined && { l3vni: labels[1], rmac }),
    };
  }
  if (t === 'EVPNIPPrefixRoute') {
    const prefix = nlri.ip_prefix as string;
    const len = nlri.ip_prefix_len as number;
    if (nextHop === undefined || typeof prefix !== 'string' || typeof len !== 'number') return undefined;
    return { kind: 'prefix', rd, prefix, len, vtep: nextHop, rts, l3vni: (nlri.label as number) ?? 0, rmac };
  }
  return undefined;
}

/** The identity of a route: what its withdrawal names too. */
export function routeKey(r: EvpnRoute): string {
  if (r.kind === 'imet') return `3 ${r.rd} ${r.vtep}`;
  if (r.kind === 'prefix') return `5 ${r.rd} ${r.prefix}/${r.len}`;
  return `2 ${r.rd} ${formatMac(r.mac)} ${r.ip ?? ''}`;
}
