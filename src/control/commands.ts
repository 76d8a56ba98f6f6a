// What the daemon does for each control request: its verb's handler (the
// registry, src/control/verbs/). Changes go through the network's own
// operations (src/switch/network.ts), between batches, so they take effect at
// once and no other network or MAC is touched. A request that cannot be done
// as asked is refused with `invalid` (vtepctl exits 2), with one line saying why.
import { TableError } from '../switch/table-error.ts';
import type { DaemonView } from './daemon-view.ts';
import type { Reply, Streaming } from './protocol.ts';
import type { Verb } from './verb.ts';
import { RefusedError } from './verb.ts';

export { RefusedError };

export function answer(
  d: DaemonView,
  verb: Verb,
  req: Record<string, unknown> & { cmd: string },
): Reply | Streaming | Promise<Reply> {
  try {
    return verb.handle(d, req as never);
  } catch (e) {
    if (e instanceof RefusedError)
      return { ok: false, error: e.message, invalid: true, ...(e.problems && { problems: e.problems }) };
    if (e instanceof TableError) return { ok: false, error: e.message, invalid: true };
    throw e;
  }
}
