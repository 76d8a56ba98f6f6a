// What both commands do to their argument lists before node:util's parseArgs
// reads them.

type Options = Readonly<Record<string, { readonly type: 'string' | 'boolean'; readonly short?: string }>>;

/**
 * `--mtu -5` as `--mtu=-5`: parseArgs takes a value that starts with a dash
 * for another option and calls the flag "ambiguous", where the user meant a
 * (wrong) number; joined, the flag's own check says what it takes.
 */
export function joinNegativeValues(argv: readonly string[], options: Options): string[] {
  const takesValue = new Set<string>();
  for (const [name, o] of Object.entries(options)) {
    if (o.type !== 'string') continue;
    takesValue.add(`--${name}`);
    if (o.short !== undefined) takesValue.add(`-${o.short}`);
  }
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--') return [...out, ...argv.slice(i)];
    const next = argv[i + 1];
    if (takesValue.has(a) && next !== undefined && /^-\d/.test(next)) {
      out.push(`${a}=${next}`.replace(/^(-[^-])=/, '$1'));
      i++;
    } else out.push(a);
  }
  return out;
}
