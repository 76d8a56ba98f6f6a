// Why a parser refused a header. Parsers return one of these (None =
// accepted); the switch counts each as a drop reason of the same value
// (src/switch/drop.ts), so every refusal is counted by its cause.
export const ParseError = {
  None: 0,
  /** Shorter than the headers it claims to carry. */
  Truncated: 1,
  /** A header that is not one: wrong version, impossible lengths. */
  Malformed: 2,
  /** A checksum that does not verify. */
  BadChecksum: 3,
  /** VXLAN flag byte other than 0x08 (only the I flag); GRE flags other than C, K, S. */
  BadFlags: 4,
  /** GRE version other than 0. */
  BadVersion: 5,
  /** GRE routing present (R bit): RFC 1701 source routing, not ours. */
  RoutingBit: 6,
  // Geneve's own (RFC 8926 section 3.5). Numbered after the switch's reasons
  // (src/switch/drop.ts), which were there first: the two stay one range.
  /** Geneve version other than 0. */
  GeneveVersion: 25,
  /** Geneve protocol type other than 0x6558 (Transparent Ethernet Bridging). */
  GeneveProtocol: 26,
  /** Geneve control packet (O bit): not a frame of the network. */
  GeneveOam: 27,
  /** Geneve options that overrun the header's option length or the packet. */
  GeneveBadOptions: 28,
} as const;
export type ParseError = (typeof ParseError)[keyof typeof ParseError];
