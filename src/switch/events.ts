// What changes in a network's tables as it happens, for `vtepctl monitor` and
// for a control plane that advertises local MACs (EVPN). The switch calls a
// SwitchEvents sink, which control/ implements and which turns numbers into
// text at once; on the hot path the cost is one check of `active`.
import type { Mac } from '../wire/mac.ts';
import type { Origin } from './fdb.ts';
import type { NeighEntry } from './neigh.ts';
import type { Network } from './network.ts';

export type FdbAction = 'learned' | 'moved' | 'aged' | 'added' | 'deleted';
export type NeighAction = 'added' | 'deleted' | 'snooped' | 'aged' | 'resolved' | 'failed';
export type RemoteAction = 'added' | 'deleted';

export interface SwitchEvents {
  /** Whether anyone listens: the switch skips its calls otherwise. */
  readonly active: boolean;
  /**
   * An FDB entry of `net` changed: `port` is where `mac` is now (or was, for aged and deleted); `was` the port
   * before a move.
   */
  fdb(net: Network, action: FdbAction, mac: Mac, port: number, origin: Origin, was?: number): void;
  /** New MACs refused since the last report (the table was full). */
  refused(net: Network, count: number): void;
  neigh(net: Network, action: NeighAction, entry: NeighEntry): void;
  /** Remote `r` of `net` came or went. */
  remote(net: Network, action: RemoteAction, r: number): void;
  /** Remote `r`'s path MTU changed (lowered by an ICMP error, or back up once that expired). */
  pmtu(net: Network, r: number): void;
}

/** The sink of a network nobody watches. */
export const NO_EVENTS: SwitchEvents = {
  active: false,
  fdb() {},
  refused() {},
  neigh() {},
  remote() {},
  pmtu() {},
};
