// `vtepctl`: ask a running vtepd what it knows. Exit codes: 0 answered, 1 no
// daemon answered or it refused the request, 2 a bad command line.
import { parseArgs } from 'node:util';
import { request } from './client.ts';
import { DEFAULT_SOCKET } from './config.ts';
import { formatFdb, formatStats } from './format.ts';
import type { FdbRow, StatsReport } from './protocol.ts';

const USAGE = `usage: vtepctl [--socket PATH] fdb show [--network NAME] [--json]
       vtepctl [--socket PATH] stats [--json]

fdb show   the MAC table: MAC, network, local or dst IP, static or dynamic, age in seconds
stats      counters per network and per remote VTEP, and drops by reason`;

class UsageError extends Error {}

export async function main(argv: string[]): Promise<number> {
  let values: { socket?: string; network?: string; json?: boolean; help?: boolean };
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: true,
      options: {
        socket: { type: 'string', short: 's' },
        network: { type: 'string', short: 'n' },
        json: { type: 'boolean', short: 'j' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (e) {
    process.stderr.write(`vtepctl: ${(e as Error).message.split('\n')[0]} (see vtepctl --help)\n`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(USAGE + '\n');
    return 0;
  }
  const socket = values.socket ?? DEFAULT_SOCKET;
  const cmd = positionals.join(' ');
  try {
    if (cmd === 'fdb show' || cmd === 'fdb') {
      const rows = await request<FdbRow[]>(socket, { cmd: 'fdb', network: values.network });
      const text = values.json ? JSON.stringify(rows, null, 2) : formatFdb(rows);
      if (text) process.stdout.write(text + '\n');
      return 0;
    }
    if (cmd === 'stats') {
      if (values.network !== undefined) throw new UsageError('stats shows every network; --network goes with fdb show');
      const report = await request<StatsReport>(socket, { cmd: 'stats' });
      process.stdout.write((values.json ? JSON.stringify(report, null, 2) : formatStats(report)) + '\n');
      return 0;
    }
    throw new UsageError(cmd === '' ? 'which command? fdb show, or stats (see vtepctl --help)' : `unknown command "${cmd}": try fdb show, or stats (see vtepctl --help)`);
  } catch (e) {
    if (e instanceof UsageError) {
      process.stderr.write(`vtepctl: ${e.message}\n`);
      return 2;
    }
    process.stderr.write(`vtepctl: ${(e as Error).message}\n`);
    return 1;
  }
}
