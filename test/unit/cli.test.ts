// The two commands' argument lists: a flag given a negative number is told
// what the flag takes, not that it is "ambiguous".
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { joinNegativeValues } from '../../src/cli/args.ts';
import { readBatch, splitWords } from '../../src/cli/batch.ts';

const ROOT = join(import.meta.dirname, '../..');
const OPTIONS = { mtu: { type: 'string' }, count: { type: 'string', short: 'c' }, json: { type: 'boolean' } } as const;

describe('flags given negative numbers', () => {
  it('joins a negative number to the flag that takes a value, and nothing else', () => {
    expect(joinNegativeValues(['--mtu', '-5', '-c', '-1', '--json'], OPTIONS)).toEqual(['--mtu=-5', '-c-1', '--json']);
    expect(joinNegativeValues(['--json', '-5'], OPTIONS)).toEqual(['--json', '-5']); // a boolean takes no value
    expect(joinNegativeValues(['--mtu', '-v'], OPTIONS)).toEqual(['--mtu', '-v']); // a flag, not a number
    expect(joinNegativeValues(['--', '--mtu', '-5'], OPTIONS)).toEqual(['--', '--mtu', '-5']);
  });

  it.each([
    [
      'vtepd',
      ['--local', '10.0.0.1', '--tap', 't0', '--vni', '5', '--remote', '10.0.0.2', '--mtu', '-5'],
      /--mtu: expected an MTU/,
    ],
    ['vtepctl', ['capture', '-c', '-5'], /--count: expected a positive integer/],
  ])('%s says what the flag takes, exit 2, touching nothing', (cmd, args, says) => {
    const r = spawnSync(join(ROOT, 'bin', cmd), args, { encoding: 'utf8' });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(says);
    expect(r.stderr).not.toMatch(/ambiguous/);
  });
});

describe('vtepctl -batch lines', () => {
  it('splits words as a shell does: quotes kept together, # to the end of the line a comment', () => {
    expect(splitWords(`fdb add 02:aa:00:00:00:01 dst "10.0.0.2" --network 'blue'  # note`)).toEqual([
      'fdb',
      'add',
      '02:aa:00:00:00:01',
      'dst',
      '10.0.0.2',
      '--network',
      'blue',
    ]);
    expect(splitWords('  # only a comment')).toEqual([]);
    expect(splitWords('a"b c"d')).toEqual(['ab cd']);
    expect(splitWords('x#y')).toEqual(['x#y']); // a # inside a word is the word's
    expect(() => splitWords('fdb add "02:aa')).toThrow(/unterminated " quote/);
  });

  it('numbers lines from 1, leaves blank ones out, and keeps a line it cannot read as its error', () => {
    const lines = readBatch('fdb show\n\n# c\nfdb bogus\n' + 'x'.repeat(70_000) + '\n', (words) => {
      if (words[1] === 'bogus') throw new Error('unknown command "fdb bogus"');
      return { verb: { words: ['fdb', 'show'] } as never, request: { cmd: 'fdb-show' }, flags: {} };
    });
    expect(lines.map((l) => [l.line, 'error' in l ? l.error : 'ok'])).toEqual([
      [1, 'ok'],
      [4, 'unknown command "fdb bogus"'],
      [5, 'the line is longer than the 64 KB a request may be'],
    ]);
  });

  it('vtepctl refuses -force without -batch, and -batch with a command besides, exit 2', () => {
    const force = spawnSync(join(ROOT, 'bin/vtepctl'), ['-force', 'stats'], { encoding: 'utf8' });
    expect(force.status).toBe(2);
    expect(force.stderr).toMatch(/-force goes with -batch FILE/);
    const both = spawnSync(join(ROOT, 'bin/vtepctl'), ['-batch', '-', 'stats'], { encoding: 'utf8', input: '' });
    expect(both.status).toBe(2);
    expect(both.stderr).toMatch(/-batch takes its commands from -: none on the command line/);
  });
});

describe("vtepctl's start", () => {
  it('reads and sends a command with the verbs alone: zod comes only with the request checker', async () => {
    const { build } = await import('esbuild');
    const entries = ['src/cli/vtepctl.ts', 'src/control/registry.ts']; // vtepctl imports the registry for every command
    const r = await build({
      entryPoints: entries.map((e) => join(ROOT, e)),
      bundle: true,
      write: false,
      outdir: '/nonexistent',
      metafile: true,
      platform: 'node',
      format: 'esm',
      logLevel: 'silent',
      external: ['@grpc/grpc-js', 'protobufjs', 'pino', 'prom-client'],
    });
    // What loading them evaluates: their static imports, and theirs (dynamic ones wait for their use).
    const loaded = new Set(entries);
    for (const m of loaded)
      for (const i of r.metafile.inputs[m]?.imports ?? []) if (i.kind === 'import-statement') loaded.add(i.path);
    expect(loaded).toContain('src/control/verbs/fdb.ts');
    expect([...loaded].filter((m) => m.includes('node_modules/zod/') || m === 'src/control/fields.ts')).toEqual([]);
    // The checker is there, for a batch and for a command the daemon refuses.
    expect(Object.keys(r.metafile.inputs)).toContain('src/control/requests.ts');
  });
});
