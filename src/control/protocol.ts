// The control socket's protocol: one JSON request line, one JSON reply line
// (or, for a stream, a first reply and then one line per event). vtepctl is
// one client; anything that speaks JSON over a Unix socket is another.
// Requests are validated here, at the boundary, with the schemas below; the
// daemon only ever sees a well-formed request.
import { z } from 'zod';

export const CAPTURE_SIDES = ['tap', 'tunnel', 'both'] as const;
export const COMMANDS = ['fdb', 'stats', 'capture'] as const;

const networkName = z.string().min(1).optional();

/** Every request, by its `cmd`. */
export const requestSchema = z.discriminatedUnion('cmd', [
  z.strictObject({ cmd: z.literal('fdb'), network: networkName }),
  z.strictObject({ cmd: z.literal('stats') }),
  z.strictObject({
    cmd: z.literal('capture'),
    network: networkName,
    side: z.enum(CAPTURE_SIDES, { error: 'expected tap, tunnel or both' }).default('both'),
    count: z.number({ error: 'expected a positive integer' }).int({ error: 'expected a positive integer' })
      .positive({ error: 'expected a positive integer' }).optional(),
  }),
], { error: (i) => (i.code === 'invalid_union' ? `unknown command; the commands are: ${COMMANDS.join(', ')}` : undefined) });

/** A request as a client writes it (defaults may be left out). */
export type Request = z.input<typeof requestSchema>;
/** A request as the daemon gets it, validated and with defaults. */
export type ValidRequest = z.output<typeof requestSchema>;

/** Validates one request; the error is one line naming what is wrong. */
export function parseRequest(raw: unknown): { ok: true; request: ValidRequest } | { ok: false; error: string } {
  const r = requestSchema.safeParse(raw);
  if (r.success) return { ok: true, request: r.data };
  const i = r.error.issues[0];
  const where = i.path.length > 0 ? `${i.path.join('.')}: ` : '';
  return { ok: false, error: `${where}${i.message}` };
}

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
  /** Listed in `remotes` (receives floods), named by a static entry or `allow`, or learned (accept-any-remote). */
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
