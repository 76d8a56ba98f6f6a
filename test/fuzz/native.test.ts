// The addon's per-byte kernels under AddressSanitizer and UBSan: generated
// TSO frames and runs of TCP segments, bent field by field, plus random
// bytes, for a bounded time. Any out-of-bounds read or undefined behaviour
// is a sanitizer report and fails the run (scripts/fuzz-native.sh).
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT, sh } from '../../scripts/lab/lab.ts';

const SECONDS = 15;

describe('native kernels under AddressSanitizer and UBSan', () => {
  it(`segment, coalesce and parse ${SECONDS} s of generated frames without a sanitizer report`, async () => {
    const r = await sh('bash', [join(ROOT, 'scripts/fuzz-native.sh'), String(SECONDS)], 180_000);
    expect(r.code, r.stderr.slice(-4000)).toBe(0);
    expect(r.stderr).not.toMatch(/AddressSanitizer|runtime error|LeakSanitizer/);
    const m = /(\d+) inputs, (\d+) segments cut, (\d+) runs merged, no sanitizer report/.exec(r.stdout);
    expect(m, r.stdout).not.toBeNull();
    // The inputs reach past the parsers' early exits: frames are really cut and merged.
    expect(Number(m![1])).toBeGreaterThan(10_000);
    expect(Number(m![2])).toBeGreaterThan(0);
    expect(Number(m![3])).toBeGreaterThan(0);
  }, 200_000);
});
