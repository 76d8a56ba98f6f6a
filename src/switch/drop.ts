// Why a packet was not delivered: what a parser refused (ParseError, same
// values) and what the switch decided against. Every drop is counted by
// reason, so each reason names one cause.
import { ParseError } from '../wire/parse-error.ts';

export const Drop = {
  ...ParseError,
  /** A VNI that no network of this daemon uses. */
  UnknownVni: 7,
  /** GRE without a key, or with a key no network of this daemon uses. */
  UnknownKey: 8,
  /** GRE protocol type other than 0x6558 (Transparent Ethernet Bridging). */
  BadProtocol: 9,
  /** From an underlay address that is not a remote of the network. */
  UnknownRemote: 10,
  /** Inner source MAC is a group (multicast/broadcast) address, or all zeros. */
  BadSourceMac: 11,
  /** Larger than a slot, or from a tunnel larger than the TAP's MTU allows. */
  Oversize: 12,
  /** From the TAP to a MAC that is itself behind the TAP: nowhere to send it. */
  LocalDestination: 13,
  /** BUM frame of a network that has no remote to flood to. */
  NoRemote: 14,
  /** The kernel refused the send or its queue stayed full. */
  TxFailed: 15,
  /**
   * An inner TCP or UDP checksum left partial by a sender that offloads checksums
   * (a kernel VTEP behind a veth with TX checksum offload on): every stack drops it.
   */
  PartialChecksum: 16,
  /** Congestion marked on the outer header (CE) of a packet whose inner one cannot carry it (Not-ECT): RFC 6040. */
  CeNotEct: 17,
  /** Routed: no route to the destination in the VRF (the sender was told "network unreachable"). */
  NoRoute: 18,
  /** Routed: its TTL or hop limit ran out (the sender was told "time exceeded"). */
  TtlExceeded: 19,
  /** Routed: its next hop's MAC could not be resolved, or too many packets already waited for it. */
  NeighUnresolved: 20,
  /**
   * To the gateway MAC, but nothing a router forwards: not IP, a link-local or
   * group destination, the gateway itself.
   */
  NotRoutable: 21,
  /** From a tunnel, an ARP request or NS for a gateway address: every host's gateway is this one, answered locally. */
  GatewayArpFromTunnel: 22,
  /** From a tunnel, a frame to the gateway MAC that answers no resolution of this host: another host routes it. */
  GatewayMacFromTunnel: 23,
  /** On a VRF's L3VNI, a frame to another MAC than this VTEP's router MAC: nothing to route it for. */
  L3vniNotRouterMac: 24,
  // 25-28: Geneve's parse errors (src/wire/parse-error.ts).
  /** Geneve option with the critical bit that the network was not configured with: RFC 8926 says drop. */
  GeneveCriticalOption: 29,
} as const;
export type Drop = (typeof Drop)[keyof typeof Drop];

/** Names as `vtepctl stats` prints them. */
export const DROP_NAMES: Record<Drop, string> = {
  [Drop.None]: 'none',
  [Drop.Truncated]: 'truncated',
  [Drop.Malformed]: 'malformed',
  [Drop.BadChecksum]: 'bad-checksum',
  [Drop.BadFlags]: 'bad-flags',
  [Drop.BadVersion]: 'bad-version',
  [Drop.RoutingBit]: 'routing-bit',
  [Drop.UnknownVni]: 'unknown-vni',
  [Drop.UnknownKey]: 'unknown-key',
  [Drop.BadProtocol]: 'bad-protocol',
  [Drop.UnknownRemote]: 'unknown-remote',
  [Drop.BadSourceMac]: 'bad-src-mac',
  [Drop.Oversize]: 'oversize',
  [Drop.LocalDestination]: 'local-destination',
  [Drop.NoRemote]: 'no-remote',
  [Drop.TxFailed]: 'tx-failed',
  [Drop.PartialChecksum]: 'partial-checksum',
  [Drop.CeNotEct]: 'ce-not-ect',
  [Drop.NoRoute]: 'no-route',
  [Drop.TtlExceeded]: 'ttl-exceeded',
  [Drop.NeighUnresolved]: 'neigh-unresolved',
  [Drop.NotRoutable]: 'not-routable',
  [Drop.GatewayArpFromTunnel]: 'gateway-arp-from-tunnel',
  [Drop.GatewayMacFromTunnel]: 'gateway-mac-from-tunnel',
  [Drop.L3vniNotRouterMac]: 'l3vni-not-router-mac',
  [Drop.GeneveVersion]: 'geneve-version',
  [Drop.GeneveProtocol]: 'geneve-proto',
  [Drop.GeneveOam]: 'geneve-oam',
  [Drop.GeneveBadOptions]: 'geneve-bad-options',
  [Drop.GeneveCriticalOption]: 'geneve-critical-option',
};
export const DROP_REASONS = Object.keys(DROP_NAMES).length;
