// `vtepctl`: ask a running vtepd what it knows, and change what it forwards.
// Exit codes: 0 done, 1 no daemon answered (or it failed to do what it
// could have), 2 a bad command line or a request the daemon refused as asked
// (unknown network, a malformed or impossible address...). The commands are
// the verbs of the registry (src/control/registry.ts). The daemon checks
// every request; vtepctl checks one with the daemon's own schemas
// (src/control/requests.ts) when that says more: the lines of a batch before
// any is sent, and a command the daemon refused or that found no daemon, so
// that a mistake is named as typed (`MAC: expected ...`, exit 2). A command
// that succeeds never loads the schemas: zod and building them were a sixth
// of its time.
import { existsSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { RefusedReply, request } from '../control/client.ts';
import type { Request } from '../control/protocol.ts';
import type * as Registry from '../control/registry.ts';
import type * as Requests from '../control/requests.ts';
import { UsageError } from '../control/usage-error.ts';
import type { CliArgs, Flags, Verb } from '../control/verb.ts';
import { DEFAULT_SOCKET, SERVICE_SOCKET } from '../control/sockets.ts';
import { versionLine } from '../host/version.ts';
import { joinNegativeValues } from './args.ts';
import { batchText, readBatch, runBatch } from './batch.ts';

const OPTIONS = {
  socket: { type: 'string', short: 's' },
  network: { type: 'string', short: 'n' },
  json: { type: 'boolean', short: 'j' },
  'no-timestamp': { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean', short: 'V' },
  side: { type: 'string' },
  count: { type: 'string', short: 'c' },
  write: { type: 'string', short: 'w' },
  dynamic: { type: 'boolean' },
  static: { type: 'boolean' },
  remote: { type: 'string' },
  'no-flood': { type: 'boolean' },
  in: { type: 'string' },
  src: { type: 'string' },
  dst: { type: 'string' },
  vlan: { type: 'string' },
  'arp-request': { type: 'string' },
  ipv4: { type: 'string' },
  ipv6: { type: 'string' },
  vrf: { type: 'string' },
  type: { type: 'string' },
} as const;

/** The command line's flags and words, as parseArgs reads them (throws its own message). */
function readArgs(argv: string[]): { values: Flags & { help?: boolean; version?: boolean }; positionals: string[] } {
  return parseArgs({ args: joinNegativeValues(argv, OPTIONS), strict: true, allowPositionals: true, options: OPTIONS });
}

/** iproute2's `-batch FILE` and `-force` (also with two dashes), taken out of argv. */
function takeBatchFlags(argv: string[]): { argv: string[]; batch?: string; force: boolean } {
  const rest: string[] = [];
  let batch: string | undefined;
  let force = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--') {
      rest.push(...argv.slice(i));
      break;
    }
    if (a === '-batch' || a === '--batch') {
      if (i + 1 >= argv.length) throw new UsageError('-batch needs a FILE (- for standard input)');
      batch = argv[++i];
    } else if (a === '-force' || a === '--force') force = true;
    else rest.push(a);
  }
  return { argv: rest, batch, force };
}

let registry: typeof Registry | undefined;

export async function main(argv: string[]): Promise<number> {
  let values: Flags & { help?: boolean; version?: boolean };
  let positionals: string[];
  let batch: string | undefined;
  let force: boolean;
  try {
    ({ argv, batch, force } = takeBatchFlags(argv));
    ({ values, positionals } = readArgs(argv));
    if (force && batch === undefined) throw new UsageError('-force goes with -batch FILE');
    if (batch !== undefined && positionals.length > 0)
      throw new UsageError(`-batch takes its commands from ${batch}: none on the command line (got ${positionals[0]})`);
  } catch (e) {
    process.stderr.write(`vtepctl: ${(e as Error).message.split('\n')[0]} (see vtepctl --help)\n`);
    return 2;
  }
  if (values.version && !values.help) {
    process.stdout.write(versionLine('vtepctl') + '\n');
    return 0;
  }
  // The verbs, loaded once the command line asks for one: --version needs none.
  registry = await import('../control/registry.ts');
  if (values.help) {
    process.stdout.write(registry.usage() + '\n');
    return 0;
  }
  const socket =
    values.socket ?? (!existsSync(DEFAULT_SOCKET) && existsSync(SERVICE_SOCKET) ? SERVICE_SOCKET : DEFAULT_SOCKET);
  try {
    if (batch !== undefined) {
      const global = values;
      const requests = await import('../control/requests.ts');
      const lines = readBatch(batchText(batch), (words) => {
        const { values: own, positionals: cmd } = readArgs(words);
        if (own.socket !== undefined) throw new UsageError('--socket goes on the command line, not in a batch');
        const flags = { ...global, ...own };
        const { verb, request } = requestOf(cmd, flags);
        return { verb, request: check(requests, verb, request), flags };
      });
      return await runBatch(socket, batch, lines, force);
    }
    return await run(socket, positionals, values);
  } catch (e) {
    if (e instanceof UsageError) {
      process.stderr.write(`vtepctl: ${e.message}\n`);
      return 2;
    }
    if (e instanceof RefusedReply) {
      process.stderr.write(`vtepctl: ${e.message}\n`);
      for (const p of e.problems) process.stderr.write(`vtepctl:   ${p}\n`);
      return e.invalid ? 2 : 1;
    }
    process.stderr.write(`vtepctl: ${(e as Error).message}\n`);
    return 1;
  }
}

/**
 * What the build's code cache (bin/launch.js) holds compiled beyond the bundle's loading: the verbs and
 * the reading of one command, which nearly every run of vtepctl goes through. Not the schemas: they are
 * half of the bundle, and a cache holding them would cost every run their loading.
 */
export async function codeCacheWarmUp(): Promise<void> {
  registry = await import('../control/registry.ts');
  requestOf(['fdb', 'show'], {});
}

async function run(socket: string, words: string[], flags: Flags): Promise<number> {
  const { verb, request: req, cli } = requestOf(words, flags);
  if (verb.client !== undefined) return verb.client(socket, cli, await checked(verb, req));
  let data: unknown;
  try {
    data = await request<unknown>(socket, req as Request, verb.replyTimeoutMs);
  } catch (e) {
    // A mistake in what was typed is said as typed (a UsageError), whatever the daemon answered, and
    // when none answered.
    await checked(verb, req);
    throw e;
  }
  const text = verb.print !== undefined ? verb.print(data, flags) : flags.json ? JSON.stringify(data, null, 2) : '';
  if (text) process.stdout.write(text + '\n');
  return 0;
}

/** The verb the words name and its request, as the verb reads its command line (throws a UsageError). */
function requestOf(words: string[], flags: Flags): { verb: Verb; request: Record<string, unknown>; cli: CliArgs } {
  const { verbOfWords, commandList } = registry!;
  const found = verbOfWords(words);
  if (found === undefined) {
    const cmd = words.join(' ');
    throw new UsageError(
      cmd === ''
        ? `which command? ${commandList()} (see vtepctl --help)`
        : `unknown command "${cmd}": the commands are ${commandList()} (see vtepctl --help)`,
    );
  }
  const { verb, rest } = found;
  const cli: CliArgs = { args: rest, flags };
  const request: Record<string, unknown> = { cmd: verb.cmd, ...(verb.fromCli?.(cli) ?? {}) };
  for (const k of Object.keys(request)) if (request[k] === undefined) delete request[k];
  return { verb, request, cli };
}

/** The request, checked with the daemon's schemas (loaded at the first call): see check. */
async function checked(verb: Verb, raw: Record<string, unknown>): Promise<Record<string, unknown>> {
  return check(await import('../control/requests.ts'), verb, raw);
}

/** The request, checked with the daemon's schema: a mistake is a usage error naming the argument or flag typed. */
function check(requests: typeof Requests, verb: Verb, raw: Record<string, unknown>): Record<string, unknown> {
  const r = requests.schemaOf(verb).safeParse(raw);
  if (r.success) return raw;
  const i = r.error.issues[0];
  const field = String(i.path[0] ?? '');
  const name = field === '' ? '' : `${verb.cliNames?.[field] ?? `--${field}`}: `;
  throw new UsageError(`${name}${i.message}`);
}
