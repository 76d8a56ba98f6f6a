// Why a remote VTEP is in a network's table: each reason that holds it, as a
// bit. It goes when the last one lets go. (A module of its own: the control
// verbs, which vtepctl loads too, name holds without loading the tables.)
/** Reasons a remote is in the table; a remote may hold several. */
export const Hold = {
  /** Listed in `remotes`: receives BUM frames, may send. */
  Flood: 1,
  /** Listed in `allow`: may send, receives no floods. */
  Allow: 2,
  /** Seen sending, with accept-any-remote (or a group without `allow`). */
  Learned: 4,
  /** The network's multicast group: BUM frames go there once; never a sender. */
  Group: 8,
  /** Added with `vtepctl remote add`: receives BUM frames, may send. */
  FloodCtl: 16,
  /** Added with `vtepctl remote add --no-flood`: may send. */
  AcceptCtl: 32,
  /** Advertised by an EVPN Inclusive Multicast route: receives BUM frames, may send. */
  FloodEvpn: 64,
  /** Named by an EVPN route of a VRF (symmetric IRB): may send on its L3VNI, receives no floods. */
  AcceptEvpn: 128,
} as const;
export type Hold = (typeof Hold)[keyof typeof Hold];
