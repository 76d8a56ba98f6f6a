// Small pieces the verbs use to read vtepctl's command line.
import { UsageError, type CliArgs, type Flags } from '../verb.ts';

export function needNetwork(flags: Flags, what: string): string {
  if (flags.network === undefined) throw new UsageError(`${what} needs --network NAME`);
  return flags.network;
}

export function expectArgs(cli: CliArgs, n: number, form: string): void {
  if (cli.args.length !== n) throw new UsageError(`expected: vtepctl ${form}`);
}

export function json(data: unknown): string {
  return JSON.stringify(data, null, 2);
}

/** A number flag as typed: a number when it is one, else the text (the schema then says what is wrong). */
export function flagNumber(s: string | undefined): number | string | undefined {
  if (s === undefined) return undefined;
  const n = Number(s);
  return s.trim() !== '' && Number.isFinite(n) ? n : s;
}
