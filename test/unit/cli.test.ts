// The two commands' argument lists: a flag given a negative number is told
// what the flag takes, not that it is "ambiguous".
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { joinNegativeValues } from '../../src/cli/args.ts';

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
