// The control socket's protocol: one JSON request line, one JSON reply line.
// vtepctl is one client; anything that speaks JSON over a Unix socket is another.

export type Request =
  | { cmd: 'fdb'; network?: string }
  | { cmd: 'stats' }
  | { cmd: 'capture'; network?: string; side?: 'tap' | 'tunnel' | 'both'; count?: number };

/**
 * A request answered by a stream: after its first reply line, one line per
 * event, until `{ "end": ... }` or the client hangs up.
 */
export interface Streaming {
  stream(send: (line: object) => void, end: (last: object) => void): () => void;
}

export type Reply<T = unknown> = { ok: true; data: T } | { ok: false; error: string };

/** One row of `vtepctl fdb show --json`. */
export interface FdbRow {
  mac: string;
  network: string;
  /** Underlay address of the VTEP the MAC is behind; null for a MAC behind our own TAP. */
  remote: string | null;
  static: boolean;
  /** Whole seconds since the MAC was last seen. */
  age: number;
}

export interface RemoteStats {
  'rx-packets': number;
  'rx-bytes': number;
  'tx-packets': number;
  'tx-bytes': number;
  /** Listed in `remotes` (receives floods), named by a static entry, or learned (accept-any-remote). */
  kind: 'flood' | 'static' | 'learned';
}

export interface NetworkStats {
  encap: string;
  id: number;
  tap: string;
  /** Multicast group of BUM frames, or null. */
  group: string | null;
  counters: Record<string, number>;
  macs: { entries: number; learned: number; aged: number; moved: number; refused: number };
  drops: Record<string, number>;
  remotes: Record<string, RemoteStats>;
}

export interface StatsReport {
  networks: Record<string, NetworkStats>;
  /** Drops before a packet's network is known (bad header, unknown VNI). */
  drops: Record<string, number>;
}

export const MAX_REQUEST_BYTES = 64 * 1024;
