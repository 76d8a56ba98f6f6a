// `vtepctl`: ask a running vtepd what it knows. Exit codes: 0 answered, 1 no
// daemon answered or it refused the request, 2 a bad command line.
import { closeSync, openSync, writeSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { emitPcapHeader, emitPcapRecord, LINKTYPE_ETHERNET } from '../wire/pcap.ts';
import type { CapturedPacket } from './capture.ts';
import { request, streamRequest } from './client.ts';
import { summarize } from './dissect.ts';
import { DEFAULT_SOCKET, flagNumber } from './config.ts';
import { formatFdb, formatStats } from './format.ts';
import { parseRequest, type FdbRow, type StatsReport } from './protocol.ts';

/** Every command, as the usage and the unknown-command message list them. */
const COMMAND_LIST = 'fdb show, stats, capture';

const USAGE = `usage: vtepctl [--socket PATH] fdb show [--network NAME] [--json]
       vtepctl [--socket PATH] stats [--json]
       vtepctl [--socket PATH] capture [--network NAME] [--side tap|tunnel|both] [--count N] [-w FILE]

fdb show   the MAC table: MAC, network, local or dst IP, static or dynamic, age in seconds
stats      counters per network and per remote VTEP, and drops by reason
capture    what the daemon reads and writes, TAP frames and tunnel packets: a pcap
           file with -w (until --count packets or Ctrl-C), else one line a packet`;

class UsageError extends Error {}

export async function main(argv: string[]): Promise<number> {
  let values: { socket?: string; network?: string; json?: boolean; help?: boolean; side?: string; count?: string; write?: string };
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
        side: { type: 'string' },
        count: { type: 'string', short: 'c' },
        write: { type: 'string', short: 'w' },
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
    if (cmd === 'capture') return await capture(socket, values);
    throw new UsageError(cmd === '' ? `which command? ${COMMAND_LIST} (see vtepctl --help)` : `unknown command "${cmd}": the commands are ${COMMAND_LIST} (see vtepctl --help)`);
  } catch (e) {
    if (e instanceof UsageError) {
      process.stderr.write(`vtepctl: ${e.message}\n`);
      return 2;
    }
    process.stderr.write(`vtepctl: ${(e as Error).message}\n`);
    return 1;
  }
}

async function capture(socket: string, o: { network?: string; side?: string; count?: string; write?: string }): Promise<number> {
  // The daemon's own schema checks the arguments, so that vtepctl and the daemon agree on what is valid.
  const parsed = parseRequest({ cmd: 'capture', ...(o.network !== undefined && { network: o.network }), ...(o.side !== undefined && { side: o.side }),
    ...(o.count !== undefined && { count: flagNumber(o.count) }) });
  if (!parsed.ok) throw new UsageError(`--${parsed.error}`);
  const req = parsed.request;
  let fd: number | undefined;
  if (o.write !== undefined) {
    try {
      fd = openSync(o.write, 'w');
    } catch (e) {
      throw new UsageError(`-w: cannot write ${o.write}: ${(e as Error).message}`);
    }
    writeSync(fd, emitPcapHeader(LINKTYPE_ETHERNET));
  }
  let n = 0;
  const s = streamRequest(socket, req, (line) => {
    const p = line.packet as CapturedPacket | undefined;
    if (p === undefined) return;
    const data = Buffer.from(p.data, 'base64');
    n++;
    if (fd !== undefined) writeSync(fd, emitPcapRecord(p.time, data, 0, data.length));
    else process.stdout.write(`${clock(p.time)} ${p.network} ${p.side} ${p.dir} ${data.length} ${summarize(data)}\n`);
  });
  const onSignal = () => s.stop();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    const last = await s.done;
    if (last !== undefined && Number(last.dropped) > 0) process.stderr.write(`vtepctl: ${last.dropped} packets dropped: the daemon produced them faster than this capture read them\n`);
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    if (fd !== undefined) closeSync(fd);
  }
  process.stderr.write(`vtepctl: ${n} packet${n === 1 ? '' : 's'} captured${o.write !== undefined ? ` to ${o.write}` : ''}\n`);
  return 0;
}

function clock(ms: number): string {
  const d = new Date(ms);
  const micro = Math.floor((ms % 1000) * 1000).toString().padStart(6, '0');
  return `${d.toISOString().slice(11, 19)}.${micro}`;
}
