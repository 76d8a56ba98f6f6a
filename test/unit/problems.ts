// The problems a ConfigError lists, for tests of config and flag refusals.
import { ConfigError } from '../../src/config/config.ts';

export function problems(fn: () => unknown): string[] {
  try {
    fn();
  } catch (e) {
    if (e instanceof ConfigError) return e.problems;
    throw e;
  }
  throw new Error('expected a ConfigError');
}
