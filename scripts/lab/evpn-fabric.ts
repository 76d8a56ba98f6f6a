// A BGP EVPN fabric in the lab, as the tests, the demo and the scale bench
// build it: FRR as route reflector on one host, FRR driving a kernel VXLAN
// VTEP (advertise-all-vni) on another, vtepd on the rest, all iBGP in AS 65000.
import { must, type Lab } from './lab.ts';

export const EVPN_ASN = 65000;

/**
 * The route reflector on host 1 (no VTEP of its own). It dials each client
 * every second (`timers connect 1`): GoBGP itself waits 5 to 10 s before it
 * first dials a peer, so a new vtepd joins as soon as the reflector calls.
 * And it sends a new peer its first update after 100 ms, not FRR's default
 * second (`coalesce-time`).
 */
export function routeReflectorConfig(lab: Lab, clients: number[]): string {
  const n = clients.map((i) => lab.underlay(i));
  return `frr defaults datacenter
hostname rr
router bgp ${EVPN_ASN}
 bgp router-id ${lab.underlay(1)}
 bgp cluster-id ${lab.underlay(1)}
 coalesce-time 100
 no bgp default ipv4-unicast
${n.map((a) => ` neighbor ${a} remote-as ${EVPN_ASN}\n neighbor ${a} timers 3 9\n neighbor ${a} timers connect 1\n`).join('')} address-family l2vpn evpn
${n.map((a) => `  neighbor ${a} activate\n  neighbor ${a} route-reflector-client\n`).join('')} exit-address-family
`;
}

/**
 * An eBGP spine on host 1 (RFC 7938's leaf-spine), AS 65000, no VTEP of its own: each leaf is
 * `remote-as external` (its AS is whatever it says), EVPN routes passed on with their next hops and route
 * targets as they came, which is FRR's default for l2vpn evpn.
 */
export function spineConfig(lab: Lab, leaves: number[], passwords: Record<number, string> = {}): string {
  const n = leaves.map((i) => lab.underlay(i));
  const md5 = leaves
    .filter((i) => passwords[i] !== undefined)
    .map((i) => ` neighbor ${lab.underlay(i)} password ${passwords[i]}\n`)
    .join('');
  return `frr defaults datacenter
hostname spine
router bgp ${EVPN_ASN}
 bgp router-id ${lab.underlay(1)}
 coalesce-time 100
 no bgp default ipv4-unicast
${n.map((a) => ` neighbor ${a} remote-as external\n neighbor ${a} timers 3 9\n neighbor ${a} timers connect 1\n`).join('')}${md5} address-family l2vpn evpn
${n.map((a) => `  neighbor ${a} activate\n`).join('')} exit-address-family
`;
}

/**
 * FRR as the control plane of a kernel VTEP on host i, peering with host 1: the route reflector (iBGP in
 * AS 65000), or with `asn` a spine (eBGP, `remote-as external`).
 */
export function kernelVtepConfig(lab: Lab, i: number, asn = EVPN_ASN): string {
  return `frr defaults datacenter
hostname vtep${i}
router bgp ${asn}
 bgp router-id ${lab.underlay(i)}
 no bgp default ipv4-unicast
 neighbor ${lab.underlay(1)} remote-as ${asn === EVPN_ASN ? EVPN_ASN : 'external'}
 neighbor ${lab.underlay(1)} timers 3 9
 address-family l2vpn evpn
  neighbor ${lab.underlay(1)} activate
  advertise-all-vni
 exit-address-family
`;
}

/** A vtepd on host i with one EVPN network: no remotes, no data-plane learning from tunnels, the ARP/ND responder on. */
export function vtepdEvpnConfig(lab: Lab, i: number, o: { vni: number; address: string; extra?: string }): string {
  return `
local: ${lab.underlay(i)}
socket: ${lab.socket(i)}
evpn: { asn: ${EVPN_ASN}, neighbors: [${lab.underlay(1)}], hold-time: 9 }
networks:
  blue:
    tap: tap-blue
    address: ${o.address}
    vxlan: { vni: ${o.vni} }
    evpn: true
    learning: false
    arp-responder: true
${o.extra ?? ''}`;
}

/** A subnet of a kernel VTEP with symmetric IRB: its VNI, the anycast gateway on its bridge, and one tenant host. */
export interface IrbSubnet {
  vni: number;
  /** The gateway's address with prefix, on the bridge (the SVI). */
  gateway: string;
  /** The tenant host: its address with prefix, and MAC. */
  host: string;
  hostMac: string;
  /** IPv6 too: the gateway's and the host's address with prefix. */
  gateway6?: string;
  host6?: string;
}

export const ANYCAST_MAC = '00:00:5e:00:01:01';

/**
 * A kernel VTEP on host i routing with symmetric IRB, as FRR and the kernel
 * do it (this kernel has no VRF devices: the namespace is the tenant VRF):
 * the L3VNI's VXLAN device in a bridge of its own with the router MAC and no
 * address (the L3 SVI), one bridge per subnet with its VXLAN device and the
 * anycast gateway's address and MAC, forwarding on, and a tenant host behind
 * each subnet's bridge (namespace PREFIX-kI-VNI). Returns the tenant
 * namespaces by VNI.
 */
export async function kernelIrbVtep(
  lab: Lab,
  i: number,
  o: { l3vni: number; rmac: string; subnets: IrbSubnet[] },
): Promise<Map<number, string>> {
  const ns = lab.ns(i);
  const ip = (...a: string[]) => must('ip', ['-n', ns, ...a]);
  const sysctl = (...kv: string[]) => must('ip', ['netns', 'exec', ns, 'sysctl', '-qw', ...kv]);
  await sysctl('net.ipv4.ip_forward=1', 'net.ipv6.conf.all.forwarding=1');
  const vxlan = async (vni: number, dev: string, bridge: string) => {
    await ip(
      'link',
      'add',
      dev,
      'type',
      'vxlan',
      'id',
      String(vni),
      'local',
      lab.underlay(i),
      'dstport',
      '4789',
      'nolearning',
    );
    await ip('link', 'set', dev, 'master', bridge, 'mtu', '1450');
    await ip('link', 'set', dev, 'type', 'bridge_slave', 'neigh_suppress', 'on', 'learning', 'off');
    await ip('link', 'set', dev, 'up');
  };
  // The L3VNI: its bridge is the L3 SVI, with the router MAC and no address.
  const l3 = `br${o.l3vni}`;
  await ip('link', 'add', l3, 'type', 'bridge', 'stp_state', '0', 'forward_delay', '0');
  await ip('link', 'set', l3, 'address', o.rmac, 'addrgenmode', 'none');
  await vxlan(o.l3vni, `vx${o.l3vni}`, l3);
  // IPv6 routes over the fabric go via an IPv4-mapped next hop on the L3 SVI: it needs IPv6, without addresses.
  await sysctl(`net.ipv6.conf.${l3}.disable_ipv6=0`);
  await ip('link', 'set', l3, 'up');
  const tenants = new Map<number, string>();
  for (const sn of o.subnets) {
    const br = `br${sn.vni}`;
    await ip('link', 'add', br, 'type', 'bridge', 'stp_state', '0', 'forward_delay', '0');
    await ip('link', 'set', br, 'address', ANYCAST_MAC);
    await vxlan(sn.vni, `vx${sn.vni}`, br);
    await ip('addr', 'add', sn.gateway, 'dev', br);
    if (sn.gateway6 !== undefined) {
      await sysctl(`net.ipv6.conf.${br}.disable_ipv6=0`, `net.ipv6.conf.${br}.accept_dad=0`);
      await ip('addr', 'add', sn.gateway6, 'dev', br, 'nodad');
    }
    await ip('link', 'set', br, 'up');
    await must('ip', ['netns', 'exec', ns, 'sysctl', '-qw', `net.ipv4.conf.${br}.arp_accept=1`]);
    const tenant = await lab.tenantBehindTap(i, `vx${sn.vni}`, `k${i}-${sn.vni}`, {
      mac: sn.hostMac,
      addresses: [sn.host, ...(sn.host6 !== undefined ? [sn.host6] : [])],
      via: [sn.gateway.split('/')[0], ...(sn.gateway6 !== undefined ? [sn.gateway6.split('/')[0]] : [])],
      bridge: br,
    });
    tenants.set(sn.vni, tenant);
  }
  return tenants;
}

/**
 * FRR for a kernel VTEP with symmetric IRB: the L3VNI in zebra, type-5 routes of its subnets (not the
 * underlay); its one BGP peer is host `peer` (the route reflector, or the other VTEP of a pair).
 */
export function kernelIrbConfig(lab: Lab, i: number, l3vni: number, peer = 1): { bgpd: string; zebra: string } {
  return {
    zebra: `vni ${l3vni}\n`,
    bgpd: `frr defaults datacenter
hostname vtep${i}
ip prefix-list TENANT4 seq 5 permit 192.168.0.0/16 le 32
ipv6 prefix-list TENANT6 seq 5 permit fd00::/16 le 128
route-map TENANT permit 10
 match ip address prefix-list TENANT4
route-map TENANT permit 20
 match ipv6 address prefix-list TENANT6
router bgp ${EVPN_ASN}
 bgp router-id ${lab.underlay(i)}
 no bgp default ipv4-unicast
 neighbor ${lab.underlay(peer)} remote-as ${EVPN_ASN}
 neighbor ${lab.underlay(peer)} timers 3 9
 neighbor ${lab.underlay(peer)} timers connect 1
 address-family ipv4 unicast
  redistribute connected route-map TENANT
 exit-address-family
 address-family ipv6 unicast
  redistribute connected route-map TENANT
 exit-address-family
 address-family l2vpn evpn
  neighbor ${lab.underlay(peer)} activate
  advertise-all-vni
  advertise ipv4 unicast
  advertise ipv6 unicast
 exit-address-family
`,
  };
}
