// One overlay network: a TAP on one side, a tunnel id (VNI or GRE key) and its
// remote VTEPs on the other, and the state the switch keeps for it.
import { SendQueue } from '../batch.ts';
import type { Mac } from '../wire/mac.ts';
import { Counters } from './counters.ts';
import type { Encap } from './encap.ts';
import { Fdb } from './fdb.ts';
import { RemoteTable } from './remotes.ts';

export interface NetworkSpec {
  name: string;
  encap: Encap;
  /** Flood list: every BUM frame is sent to each of these (head-end replication). */
  remotes: readonly number[];
  /** Multicast group every BUM frame is also sent to once; 0 for none. */
  floodGroup: number;
  /** VTEPs accepted as senders besides the remotes and static entries', without floods. */
  allow: readonly number[];
  statics: readonly { mac: Mac; remote: number }[];
  acceptAnyRemote: boolean;
  ageing: number;
  maxMacs: number;
  /** How many frames one batch can hand this network for its TAP. */
  batchSize: number;
}

export class Network {
  readonly name: string;
  readonly encap: Encap;
  readonly fdb: Fdb;
  readonly remotes: RemoteTable;
  readonly acceptAnyRemote: boolean;
  readonly floodGroup: number;
  readonly counters = new Counters();
  /** Frames decapsulated for this network's TAP, written after each batch. */
  readonly toTap: SendQueue;

  constructor(spec: NetworkSpec, now: number) {
    this.name = spec.name;
    this.encap = spec.encap;
    this.acceptAnyRemote = spec.acceptAnyRemote;
    this.floodGroup = spec.floodGroup;
    this.remotes = new RemoteTable(spec.remotes, [...spec.statics.map((s) => s.remote), ...spec.allow]);
    this.fdb = new Fdb(spec.ageing, spec.maxMacs);
    for (const s of spec.statics) this.fdb.addStatic(s.mac, this.remotes.find(s.remote), now);
    this.toTap = new SendQueue(spec.batchSize, Buffer.alloc(0));
  }
}
