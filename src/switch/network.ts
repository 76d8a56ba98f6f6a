// One overlay network: a TAP on one side, a tunnel (VNI or GRE key) and its
// remote VTEPs on the other, and the state the switch keeps for it. Its
// remotes and static entries can change while it runs; this is where the
// tables are kept consistent with each other: a static entry holds its
// remote, and a remote that goes takes the MACs learned behind it along.
import { SendQueue } from '../batch.ts';
import type { Encap, Tunnel } from '../tunnel/tunnel.ts';
import type { Mac } from '../wire/mac.ts';
import { Counters } from './counters.ts';
import { Fdb, UNKNOWN_PORT } from './fdb.ts';
import { RemoteTable, type Hold } from './remotes.ts';

export interface NetworkSpec {
  name: string;
  tunnel: Tunnel;
  encap: Encap;
  /** Outer TTL and DF, as the sender sets them (captures show them). */
  ttl: number;
  df: boolean;
  /** Accept (and learn) tunnel packets from VTEPs that are not remotes. */
  acceptAnyRemote: boolean;
  ageing: number;
  maxMacs: number;
  /** How many frames one batch can hand this network for its TAP. */
  batchSize: number;
}

export class Network {
  readonly name: string;
  readonly tunnel: Tunnel;
  readonly encap: Encap;
  readonly ttl: number;
  readonly df: boolean;
  readonly fdb: Fdb;
  readonly remotes = new RemoteTable();
  readonly acceptAnyRemote: boolean;
  readonly counters = new Counters();
  /** Frames decapsulated for this network's TAP, written after each batch. */
  readonly toTap: SendQueue;

  constructor(spec: NetworkSpec) {
    this.name = spec.name;
    this.tunnel = spec.tunnel;
    this.encap = spec.encap;
    this.ttl = spec.ttl;
    this.df = spec.df;
    this.acceptAnyRemote = spec.acceptAnyRemote;
    this.fdb = new Fdb(spec.ageing, spec.maxMacs);
    this.toTap = new SendQueue(spec.batchSize, Buffer.alloc(0));
  }

  /** Adds `hold` to the remote at `addr` (16 bytes); returns its index, -1 if the table refused it. */
  holdRemote(addr: Uint8Array, hold: Hold): number {
    return this.remotes.hold(addr, hold);
  }

  /** Takes `hold` away from remote r; if that removes it, the MACs learned behind it go too. */
  releaseRemote(r: number, hold: Hold): void {
    if (this.remotes.release(r, hold)) this.fdb.flush(r, 'dynamic');
  }

  /** A static entry: `mac` behind the remote at `addr` (16 bytes), replacing any entry it had. */
  addStatic(mac: Mac, addr: Uint8Array, now: number): number {
    this.removeStatic(mac);
    const r = this.remotes.reference(addr);
    this.fdb.addStatic(mac, r, now);
    return r;
  }

  /** Removes the static entry of `mac`, if it has one; its remote goes if nothing else holds it. */
  removeStatic(mac: Mac): boolean {
    if (!this.fdb.isStatic(mac)) return false;
    const r = this.fdb.delete(mac);
    if (r !== UNKNOWN_PORT && this.remotes.unreference(r)) this.fdb.flush(r, 'dynamic');
    return true;
  }
}
