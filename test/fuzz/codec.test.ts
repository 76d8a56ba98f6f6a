// The in-process part of the fuzzer, bounded: generated and mutated input
// through the codecs, the switch's forwarding, and the native segmentation and
// coalescing. Nothing throws, and nothing is written outside its buffers.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../../scripts/lab/lab.ts';

describe('codec and offload fuzzing (bounded)', () => {
  it('takes 50k generated inputs without an exception or an out-of-bounds result', () => {
    const r = spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'scripts/fuzz/codecs.ts'), '50000', '7'], {
      cwd: ROOT,
      encoding: 'utf8',
    });
    expect(r.status, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout.trim().split('\n').at(-1)!) as { inputs: number; problems: string[] };
    expect(out.inputs).toBe(50_000);
    expect(out.problems).toEqual([]);
  }, 120_000);
});
