// A BGP EVPN fabric in the lab, as the tests, the demo and the scale bench
// build it: FRR as route reflector on one host, FRR driving a kernel VXLAN
// VTEP (advertise-all-vni) on another, vtepd on the rest, all iBGP in AS 65000.
import type { Lab } from './lab.ts';

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

/** FRR as the control plane of a kernel VTEP on host i, peering with the route reflector on host 1. */
export function kernelVtepConfig(lab: Lab, i: number): string {
  return `frr defaults datacenter
hostname vtep${i}
router bgp ${EVPN_ASN}
 bgp router-id ${lab.underlay(i)}
 no bgp default ipv4-unicast
 neighbor ${lab.underlay(1)} remote-as ${EVPN_ASN}
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
