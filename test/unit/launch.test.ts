// bin/launch.js: the commands run dist/ only when `npm run build` made it from src/ as it is now.
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import Module from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { Script } from 'node:vm';
import { afterEach, describe, expect, it } from 'vitest';
// @ts-expect-error: plain JavaScript, run before tsx is loaded
import { codeCacheOf, compiled, loadBundle, makeCodeCache, stamp } from '../../bin/launch.js';

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

describe("the bundles' code cache", () => {
  it('is used only for the bytes it was made from: a bundle edited to the same length runs its new code', async () => {
    const root = tree();
    const file = join(root, 'b.cjs');
    writeFileSync(file, "exports.said = function said() { return 'aaa'; }; exports.said();\n");
    await makeCodeCache(file);
    const cache = codeCacheOf(file);
    expect(cache).toBeDefined();
    // V8 takes it: the cache is real bytecode for this source, not something it refuses.
    const source = readFileSync(file, 'latin1');
    expect(new Script(Module.wrap(source), { filename: file, cachedData: cache }).cachedDataRejected).toBe(false);
    expect(loadBundle(file).said()).toBe('aaa');
    // Same length: V8's own check (the source's length) would take the old bytecode. An edit has a new
    // modification time (set here: two writes may share a clock tick on some file systems).
    writeFileSync(file, "exports.said = function said() { return 'bbb'; }; exports.said();\n");
    utimesSync(file, new Date(Date.now() + 5_000), new Date(Date.now() + 5_000));
    expect(codeCacheOf(file)).toBeUndefined();
    expect(loadBundle(file).said()).toBe('bbb');
  });

  it('holds the bundle it was made from: run from the cache alone while the bundle keeps its time, and still taken when only the time changed', async () => {
    const root = tree();
    const file = join(root, 'b.cjs');
    const code = "exports.said = function said() { return 'aaa'; }; exports.said();\n";
    writeFileSync(file, code);
    await makeCodeCache(file);
    expect(readFileSync(`${file}.cache`).includes(code)).toBe(true);
    expect(codeCacheOf(file)).toBeDefined();
    // A copy that drops the time (a package's whole seconds): the same bytes, so the cache holds.
    const past = new Date(Math.floor(Date.now() / 1000) * 1000 - 60_000);
    utimesSync(file, past, past);
    expect(codeCacheOf(file)).toBeDefined();
    expect(loadBundle(file).said()).toBe('aaa');
    // The bundle gone: nothing to check the cache against, and nothing is run from it.
    rmSync(file);
    expect(codeCacheOf(file)).toBeUndefined();
  });

  it.skipIf(compiled(ROOT) !== 'current')('the build made one for each command, and this Node.js takes them', () => {
    for (const name of ['vtepd', 'vtepctl']) {
      const file = join(ROOT, 'dist', 'cli', `${name}.cjs`);
      const cache = codeCacheOf(file);
      expect(cache, `${name}.cjs.cache`).toBeDefined();
      const script = new Script(Module.wrap(readFileSync(file, 'latin1')), { filename: file, cachedData: cache });
      expect(script.cachedDataRejected, `${name}.cjs.cache`).toBe(false);
    }
  });
});
