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
  /** A tunnel packet for another address of this host than `local`. */
  WrongDestination: 10,
  /** From an underlay address that is not a remote of the network. */
  UnknownRemote: 11,
  /** Inner source MAC is a group (multicast/broadcast) address. */
  BadSourceMac: 12,
  /** Larger than a slot: the frame cannot be carried whole. */
  Oversize: 13,
  /** From the TAP to a MAC that is itself behind the TAP: nowhere to send it. */
  LocalDestination: 14,
  /** BUM frame of a network that has no remote to flood to. */
  NoRemote: 15,
  /** The kernel refused the send or its queue stayed full. */
  TxFailed: 16,
  /**
   * An inner TCP or UDP checksum left partial by a sender that offloads checksums
   * (a kernel VTEP behind a veth with TX checksum offload on): every stack drops it.
   */
  PartialChecksum: 17,
  /** Congestion marked on the outer header (CE) of a packet whose inner one cannot carry it (Not-ECT): RFC 6040. */
  CeNotEct: 18,
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
  [Drop.WrongDestination]: 'wrong-destination',
  [Drop.UnknownRemote]: 'unknown-remote',
  [Drop.BadSourceMac]: 'bad-src-mac',
  [Drop.Oversize]: 'oversize',
  [Drop.LocalDestination]: 'local-destination',
  [Drop.NoRemote]: 'no-remote',
  [Drop.TxFailed]: 'tx-failed',
  [Drop.PartialChecksum]: 'partial-checksum',
  [Drop.CeNotEct]: 'ce-not-ect',
};
export const DROP_REASONS = Object.keys(DROP_NAMES).length;
