// Zod building blocks for configuration fields, shared by control/config.ts
// and each tunnel's own config block: every wrong value gets a message that
// says what is expected, and a missing one says it is required.
import { z } from 'zod';

/** A message for a wrong value that still says "is required" when the value is missing. */
export const expected = (what: string) => ({
  error: (issue: { input?: unknown }) =>
    issue.input === undefined ? `is required: ${what.replace(/^expected /, '')}` : what,
});

export const int = (min: number, max: number, what = 'an integer') => {
  const e = expected(`expected ${what} from ${min} to ${max}`);
  return z.number(e).int(e).min(min, e).max(max, e);
};

export const bool = () => z.boolean(expected('expected true or false'));

export const udpPort = int(1, 65535, 'a UDP port');
