// Why a packet was not delivered. Parsers return one of these (None = accepted);
// the switch counts every drop by reason, so each reason names one cause.
export const Drop = {
  None: 0,
  /** Shorter than the headers it claims to carry. */
  Truncated: 1,
  /** VXLAN flag byte other than 0x08 (only the I flag); GRE flags other than C, K, S. */
  BadFlags: 2,
  /** A VNI that no network of this daemon uses. */
  UnknownVni: 3,
  /** From an underlay address that is not a remote of the network. */
  UnknownRemote: 4,
  /** Inner source MAC is a group (multicast/broadcast) address. */
  BadSourceMac: 5,
  /** Larger than a slot: the frame cannot be carried whole. */
  Oversize: 6,
  /** From the TAP to a MAC that is itself behind the TAP: nowhere to send it. */
  LocalDestination: 7,
  /** BUM frame of a network that has no remote to flood to. */
  NoRemote: 8,
  /** The kernel refused the send or its queue stayed full. */
  TxFailed: 9,
  /** An IPv4 header that is not one (version, IHL, length). */
  Malformed: 10,
  /** A checksum that does not verify. */
  BadChecksum: 11,
  /** GRE version other than 0. */
  BadVersion: 12,
  /** GRE routing present (R bit): RFC 1701 source routing, not ours. */
  RoutingBit: 13,
  /** GRE without a key, or with a key no network of this daemon uses. */
  UnknownKey: 14,
  /** GRE protocol type other than 0x6558 (Transparent Ethernet Bridging). */
  BadProtocol: 15,
  /** A tunnel packet for another address of this host than `local`. */
  WrongDestination: 16,
  /**
   * An inner TCP or UDP checksum left partial by a sender that offloads checksums
   * (a kernel VTEP behind a veth with TX checksum offload on): every stack drops it.
   */
  PartialChecksum: 17,
  /** Congestion marked on the outer header (CE) of a packet whose inner one cannot carry it (Not-ECT): RFC 6040. */
  CeNotEct: 18,
} as const;
export type Drop = (typeof Drop)[keyof typeof Drop];

/** Names as printed by `vtepctl stats`, indexed by Drop value. */
export const DROP_NAMES: readonly string[] = [
  'none',
  'truncated',
  'bad-flags',
  'unknown-vni',
  'unknown-remote',
  'bad-src-mac',
  'oversize',
  'local-destination',
  'no-remote',
  'tx-failed',
  'malformed',
  'bad-checksum',
  'bad-version',
  'routing-bit',
  'unknown-key',
  'bad-protocol',
  'wrong-destination',
  'partial-checksum',
  'ce-not-ect',
];
export const DROP_REASONS = DROP_NAMES.length;
