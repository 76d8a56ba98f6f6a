// bin/launch.js: the commands run dist/ only when `npm run build` made it from src/ as it is now.
import { cpSync, mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
// @ts-expect-error: plain JavaScript, run before tsx is loaded
import { compiled, stamp } from '../../bin/launch.js';

const ROOT = join(import.meta.dirname, '..', '..');
const roots: string[] = [];
afterEach(() => {
  for (const r of roots.splice(0)) rmSync(r, { recursive: true, force: true });
});

function tree(): string {
  const root = mkdtempSync(join(tmpdir(), 'vtepd-launch-'));
  roots.push(root);
  mkdirSync(join(root, 'src', 'cli'), { recursive: true });
  writeFileSync(join(root, 'src', 'cli', 'a.ts'), '');
  writeFileSync(join(root, 'src', 'b.ts'), '');
  return root;
}

describe('which code the commands run', () => {
  it('dist/ when built from src/ as it is, not once a source changes, is added or removed, or with no build', () => {
    const root = tree();
    const past = new Date(Date.now() - 60_000);
    for (const f of ['src/cli/a.ts', 'src/b.ts']) utimesSync(join(root, f), past, past);
    expect(compiled(root)).toBe('none');
    mkdirSync(join(root, 'dist'));
    stamp(root);
    expect(compiled(root)).toBe('current');
    writeFileSync(join(root, 'src', 'b.ts'), 'export {};'); // edited: newer than the build
    expect(compiled(root)).toBe('stale');
    stamp(root);
    expect(compiled(root)).toBe('current');
    writeFileSync(join(root, 'src', 'c.ts'), '');
    utimesSync(join(root, 'src', 'c.ts'), past, past); // added, with an old time (a checkout, a copy)
    expect(compiled(root)).toBe('stale');
    rmSync(join(root, 'src', 'c.ts'));
    expect(compiled(root)).toBe('current');
    rmSync(join(root, 'src', 'b.ts')); // removed
    expect(compiled(root)).toBe('stale');
  });

  it('an installed package (dist/ and no src/) runs dist/', () => {
    const root = tree();
    mkdirSync(join(root, 'dist'));
    stamp(root);
    rmSync(join(root, 'src'), { recursive: true });
    expect(compiled(root)).toBe('current');
  });

  it('VTEPD_RUN=dist refuses a stale or missing dist/ with one line that says to build, exit 1', () => {
    const root = tree();
    cpSync(join(ROOT, 'bin'), join(root, 'bin'), { recursive: true });
    const run = () =>
      spawnSync(join(root, 'bin', 'vtepctl'), ['--version'], {
        encoding: 'utf8',
        env: { ...process.env, VTEPD_RUN: 'dist' },
      });
    const missing = run();
    expect(missing.status).toBe(1);
    expect(missing.stderr).toBe('vtepctl: VTEPD_RUN=dist, but dist/ is missing: run `npm run build`\n');
    mkdirSync(join(root, 'dist'));
    stamp(root);
    writeFileSync(join(root, 'src', 'b.ts'), 'export {};');
    utimesSync(join(root, 'src', 'b.ts'), new Date(Date.now() + 60_000), new Date(Date.now() + 60_000));
    const stale = run();
    expect(stale.status).toBe(1);
    expect(stale.stderr).toBe('vtepctl: VTEPD_RUN=dist, but dist/ is older than src/: run `npm run build`\n');
  });
});
