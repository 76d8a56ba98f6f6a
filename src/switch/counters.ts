// Counters as typed arrays indexed by name constants: incrementing one on the
// hot path is a store, and `vtepctl stats` reads them by the same names.
import { DROP_NAMES, DROP_REASONS, type Drop } from './drop.ts';

/** Per-network counter slots. */
export const NetworkCounter = {
  TapRxFrames: 0,
  TapRxBytes: 1,
  TapTxFrames: 2,
  TapTxBytes: 3,
  TunnelRxPackets: 4,
  TunnelRxBytes: 5,
  TunnelTxPackets: 6,
  TunnelTxBytes: 7,
  FloodedFrames: 8,
  FloodCopies: 9,
  /** GRE packets whose sequence number is not after the last one from that remote (delivered anyway). */
  SeqOutOfOrder: 10,
  /** BUM frames sent to the network's multicast group (also in the tunnel and flood counters). */
  GroupTxPackets: 11,
  GroupTxBytes: 12,
  /**
   * ARP requests from the TAP answered on the TAP by the responder, and (EVPN) hosts' gratuitous ARP and
   * probes kept off the tunnels: not flooded.
   */
  ArpSuppressed: 13,
  /** The same for Neighbor Solicitations (answered), and (EVPN) unsolicited NAs and DAD probes (kept back). */
  NdSuppressed: 14,
  /**
   * Frames from the TAP too big for the path MTU, answered with ICMP "fragmentation needed" or ICMPv6 "packet
   * too big".
   */
  PmtuIcmpSent: 15,
  /**
   * Frames over a path MTU too small for ICMP to help their sender (an inner
   * MTU below 576 for IPv4, 1280 for IPv6), sent fragmentable instead: without
   * DF over IPv4, for the kernel to fragment over IPv6. A flow never stalls.
   */
  PmtuFragmentable: 16,
} as const;
const NETWORK_SLOTS = Object.keys(NetworkCounter).length;

export const COUNTER_NAMES: Record<keyof typeof NetworkCounter, string> = {
  TapRxFrames: 'tap-rx-frames',
  TapRxBytes: 'tap-rx-bytes',
  TapTxFrames: 'tap-tx-frames',
  TapTxBytes: 'tap-tx-bytes',
  TunnelRxPackets: 'tunnel-rx-packets',
  TunnelRxBytes: 'tunnel-rx-bytes',
  TunnelTxPackets: 'tunnel-tx-packets',
  TunnelTxBytes: 'tunnel-tx-bytes',
  FloodedFrames: 'flooded-frames',
  FloodCopies: 'flood-copies',
  SeqOutOfOrder: 'gre-seq-out-of-order',
  GroupTxPackets: 'group-tx-packets',
  GroupTxBytes: 'group-tx-bytes',
  ArpSuppressed: 'arp-suppressed',
  NdSuppressed: 'nd-suppressed',
  PmtuIcmpSent: 'pmtu-icmp-sent',
  PmtuFragmentable: 'pmtu-fragmentable',
};

/** Per-remote counter slots (one block of REMOTE_SLOTS per remote). */
export const RemoteCounter = { RxPackets: 0, RxBytes: 1, TxPackets: 2, TxBytes: 3 } as const;
export const REMOTE_SLOTS = Object.keys(RemoteCounter).length;

export class Counters {
  readonly v = new Float64Array(NETWORK_SLOTS);
  readonly drops = new Float64Array(DROP_REASONS);

  drop(reason: Drop, n = 1): void {
    this.drops[reason] += n;
  }

  dropsByName(): Record<string, number> {
    const out: Record<string, number> = {};
    for (let i = 1; i < DROP_REASONS; i++) out[DROP_NAMES[i as Drop]] = this.drops[i];
    return out;
  }

  valuesByName(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const k of Object.keys(NetworkCounter) as (keyof typeof NetworkCounter)[])
      out[COUNTER_NAMES[k]] = this.v[NetworkCounter[k]];
    return out;
  }
}
