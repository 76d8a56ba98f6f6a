// `vtepctl`: ask a running vtepd what it knows, and change what it forwards.
// Exit codes: 0 done, 1 no daemon answered (or it failed to do what it
// could have), 2 a bad command line or a request the daemon refused as asked
// (unknown network, a malformed or impossible address...). Every request is
// checked with the daemon's own schema before it is sent.
import { closeSync, existsSync, openSync, writeSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { emitPcapHeader, emitPcapRecord, LINKTYPE_ETHERNET } from '../wire/pcap.ts';
import type { CapturedPacket } from '../observe/capture.ts';
import { RefusedReply, request, streamRequest } from '../control/client.ts';
import { DEFAULT_SOCKET, flagNumber, SERVICE_SOCKET } from '../config/config.ts';
import { summarize } from '../observe/dissect.ts';
import { formatEvpn, formatFdb, formatNeigh, formatRemotes, formatStats } from '../control/format.ts';
import type { EvpnStatus } from '../evpn/speaker.ts';
import { formatEvent, type MonitorEvent } from '../observe/monitor.ts';
import { parseRequest, type FdbRow, type NeighRow, type ReloadReport, type RemoteRow, type Request, type StatsReport, type UpgradeReport, type ValidRequest } from '../control/protocol.ts';
import { formatTrace, type TraceReport } from '../observe/trace.ts';
import { versionLine } from '../host/version.ts';

const USAGE = `usage: vtepctl [--socket PATH] COMMAND     (PATH: /run/vtepd.sock, else /run/vtepd/vtepd.sock)
       vtepctl --version

  fdb show [--network NAME] [--json]         the MAC table: MAC, network, local or dst IP,
                                             static or dynamic, age in seconds, origin
  fdb add MAC dst IP --network NAME          a MAC behind a remote VTEP, for good (never ages, not moved by learning)
  fdb replace MAC dst IP --network NAME      the same, or move it
  fdb del MAC --network NAME                 remove a MAC's entry, learned or given
  fdb flush [--network NAME] [--dynamic | --static] [--remote IP]
  remote add IP --network NAME [--no-flood]  a VTEP on the flood list (with --no-flood: a sender only)
  remote del IP --network NAME               a VTEP and every MAC behind it
  remote show [--network NAME] [--json]      remote VTEPs, flood or not, where from, counters
  neigh add IP MAC --network NAME            an address the ARP/ND responder answers for
  neigh del IP --network NAME
  neigh show [--network NAME] [--json]
  stats [--json]                             counters per network and remote VTEP, drops by reason
  capture [--network NAME] [--side tap|tunnel|both] [--count N] [-w FILE]
                                             TAP frames and tunnel packets: a pcap file with -w, else a line each
  monitor [--network NAME] [--json]          changes to the tables as they happen (Ctrl-C to stop)
  reload                                     re-read the config file and apply the difference
  upgrade                                    hand over to the vtepd on disk: TAPs, sockets and tables, no packet lost
  trace --network NAME --in tap|IP --src MAC --dst MAC [--vlan N]
        [--arp-request IP | --ipv4 SRC,DST | --ipv6 SRC,DST] [--json]
                                             what vtepd would do with such a frame, step by step
  evpn show [--json]                         BGP EVPN: sessions, routes advertised and received per network`;

/** Every command, as the unknown-command message lists them. */
const COMMAND_LIST = 'fdb show|add|replace|del|flush, remote add|del|show, neigh add|del|show, stats, capture, monitor, reload, upgrade, trace, evpn show';

class UsageError extends Error {}

type Values = {
  socket?: string; network?: string; json?: boolean; help?: boolean; version?: boolean; side?: string; count?: string; write?: string;
  dynamic?: boolean; static?: boolean; remote?: string; 'no-flood'?: boolean;
  in?: string; src?: string; dst?: string; vlan?: string; 'arp-request'?: string; ipv4?: string; ipv6?: string;
};

const OPTIONS = {
  socket: { type: 'string', short: 's' },
  network: { type: 'string', short: 'n' },
  json: { type: 'boolean', short: 'j' },
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
} as const;

export async function main(argv: string[]): Promise<number> {
  let values: Values;
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({ args: argv, strict: true, allowPositionals: true, options: OPTIONS }));
  } catch (e) {
    process.stderr.write(`vtepctl: ${(e as Error).message.split('\n')[0]} (see vtepctl --help)\n`);
    return 2;
  }
  if (values.help || values.version) {
    process.stdout.write((values.help ? USAGE : versionLine('vtepctl')) + '\n');
    return 0;
  }
  const socket = values.socket ?? (!existsSync(DEFAULT_SOCKET) && existsSync(SERVICE_SOCKET) ? SERVICE_SOCKET : DEFAULT_SOCKET);
  try {
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

/** The request, checked with the daemon's schema: a mistake is a usage error naming the flag. */
function check(raw: Record<string, unknown>): ValidRequest {
  for (const k of Object.keys(raw)) if (raw[k] === undefined) delete raw[k];
  const r = parseRequest(raw);
  if (r.ok) return r.request;
  // Name what the user typed: a positional argument (IP, MAC, the fdb entry's dst) or a flag.
  const positional = (field: string) => field === 'ip' || field === 'mac' || (field === 'dst' && String(raw.cmd).startsWith('fdb'));
  throw new UsageError(r.error.replace(/^([a-z-]+)[.:]/, (_, field: string) => `${positional(field) ? (field === 'mac' ? 'MAC' : 'IP') : `--${field}`}:`));
}

function needNetwork(v: Values, what: string): string {
  if (v.network === undefined) throw new UsageError(`${what} needs --network NAME`);
  return v.network;
}

function expectArgs(pos: string[], n: number, form: string): void {
  if (pos.length !== n) throw new UsageError(`expected: vtepctl ${form}`);
}

function print(text: string): void {
  if (text) process.stdout.write(text + '\n');
}

async function run(socket: string, pos: string[], v: Values): Promise<number> {
  const ask = <T>(raw: Record<string, unknown>) => request<T>(socket, check(raw) as Request);
  const json = (data: unknown) => print(JSON.stringify(data, null, 2));
  const [noun, verb] = pos;
  if (noun === 'stats' && pos.length === 1) {
    if (v.network !== undefined) throw new UsageError('stats shows every network; --network goes with fdb show');
    const report = await ask<StatsReport>({ cmd: 'stats' });
    print(v.json ? JSON.stringify(report, null, 2) : formatStats(report));
    return 0;
  }
  if (noun === 'fdb' && (verb === undefined || verb === 'show')) {
    const rows = await ask<FdbRow[]>({ cmd: 'fdb', network: v.network });
    print(v.json ? JSON.stringify(rows, null, 2) : formatFdb(rows));
    return 0;
  }
  if (noun === 'fdb' && (verb === 'add' || verb === 'replace')) {
    expectArgs(pos, 5, `fdb ${verb} MAC dst IP --network NAME`);
    if (pos[3] !== 'dst') throw new UsageError(`expected: vtepctl fdb ${verb} MAC dst IP --network NAME`);
    await ask({ cmd: `fdb-${verb}`, network: needNetwork(v, `fdb ${verb}`), mac: pos[2], dst: pos[4] });
    return 0;
  }
  if (noun === 'fdb' && verb === 'del') {
    expectArgs(pos, 3, 'fdb del MAC --network NAME');
    await ask({ cmd: 'fdb-del', network: needNetwork(v, 'fdb del'), mac: pos[2] });
    return 0;
  }
  if (noun === 'fdb' && verb === 'flush') {
    expectArgs(pos, 2, 'fdb flush [--network NAME] [--dynamic | --static] [--remote IP]');
    if (v.dynamic && v.static) throw new UsageError('--dynamic and --static do not go together: without either, both are flushed');
    const r = await ask<{ flushed: number }>({ cmd: 'fdb-flush', network: v.network, which: v.dynamic ? 'dynamic' : v.static ? 'static' : 'all', remote: v.remote });
    if (v.json) json(r);
    return 0;
  }
  if (noun === 'remote' && verb === 'add') {
    expectArgs(pos, 3, 'remote add IP --network NAME [--no-flood]');
    await ask({ cmd: 'remote-add', network: needNetwork(v, 'remote add'), ip: pos[2], flood: !v['no-flood'] });
    return 0;
  }
  if (noun === 'remote' && verb === 'del') {
    expectArgs(pos, 3, 'remote del IP --network NAME');
    await ask({ cmd: 'remote-del', network: needNetwork(v, 'remote del'), ip: pos[2] });
    return 0;
  }
  if (noun === 'remote' && (verb === 'show' || verb === undefined)) {
    const rows = await ask<RemoteRow[]>({ cmd: 'remote-show', network: v.network });
    print(v.json ? JSON.stringify(rows, null, 2) : formatRemotes(rows));
    return 0;
  }
  if (noun === 'neigh' && verb === 'add') {
    // Also `neigh add IP lladdr MAC`, as ip neigh writes it.
    const args = pos[3] === 'lladdr' ? [pos[2], pos[4]] : [pos[2], pos[3]];
    if (pos.length !== (pos[3] === 'lladdr' ? 5 : 4)) throw new UsageError('expected: vtepctl neigh add IP MAC --network NAME');
    await ask({ cmd: 'neigh-add', network: needNetwork(v, 'neigh add'), ip: args[0], mac: args[1] });
    return 0;
  }
  if (noun === 'neigh' && verb === 'del') {
    expectArgs(pos, 3, 'neigh del IP --network NAME');
    await ask({ cmd: 'neigh-del', network: needNetwork(v, 'neigh del'), ip: pos[2] });
    return 0;
  }
  if (noun === 'neigh' && (verb === 'show' || verb === undefined)) {
    const rows = await ask<NeighRow[]>({ cmd: 'neigh-show', network: v.network });
    print(v.json ? JSON.stringify(rows, null, 2) : formatNeigh(rows));
    return 0;
  }
  if (noun === 'reload' && pos.length === 1) {
    const r = await ask<ReloadReport>({ cmd: 'reload' });
    print(v.json ? JSON.stringify(r, null, 2) : r.changes.length === 0 ? 'no changes' : r.changes.join('\n'));
    return 0;
  }
  if (noun === 'upgrade' && pos.length === 1) {
    const r = await ask<UpgradeReport>({ cmd: 'upgrade' });
    print(v.json ? JSON.stringify(r, null, 2) : `vtepd ${r.pid} took over from vtepd ${r.previous}`);
    return 0;
  }
  if (noun === 'evpn' && (verb === 'show' || verb === undefined) && pos.length <= 2) {
    const status = await ask<EvpnStatus>({ cmd: 'evpn-show' });
    print(v.json ? JSON.stringify(status, null, 2) : formatEvpn(status));
    return 0;
  }
  if (noun === 'monitor' && pos.length === 1) return monitor(socket, v);
  if (noun === 'capture' && pos.length === 1) return capture(socket, v);
  if (noun === 'trace' && pos.length === 1) {
    const pair = (s: string | undefined) => s?.split(',');
    const report = await ask<TraceReport>({
      cmd: 'trace', network: needNetwork(v, 'trace'), in: v.in ?? missing('--in tap|IP'), src: v.src ?? missing('--src MAC'), dst: v.dst ?? missing('--dst MAC'),
      vlan: flagNumber(v.vlan), 'arp-request': v['arp-request'], ipv4: pair(v.ipv4), ipv6: pair(v.ipv6),
    });
    print(v.json ? JSON.stringify(report, null, 2) : formatTrace(report));
    return 0;
  }
  const cmd = pos.join(' ');
  throw new UsageError(cmd === '' ? `which command? ${COMMAND_LIST} (see vtepctl --help)` : `unknown command "${cmd}": the commands are ${COMMAND_LIST} (see vtepctl --help)`);
}

function missing(flag: string): never {
  throw new UsageError(`trace needs ${flag}`);
}

async function monitor(socket: string, v: Values): Promise<number> {
  const s = streamRequest(socket, check({ cmd: 'monitor', network: v.network }) as Request, (line) => {
    const e = line as unknown as MonitorEvent;
    process.stdout.write((v.json ? JSON.stringify(e) : formatEvent(e)) + '\n');
  });
  return untilStopped(s, () => 0);
}

async function capture(socket: string, o: Values): Promise<number> {
  const req = check({ cmd: 'capture', network: o.network, side: o.side, count: flagNumber(o.count) });
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
  const s = streamRequest(socket, req as Request, (line) => {
    const p = line.packet as CapturedPacket | undefined;
    if (p === undefined) return;
    const data = Buffer.from(p.data, 'base64');
    n++;
    if (fd !== undefined) writeSync(fd, emitPcapRecord(p.time, data, 0, data.length));
    else process.stdout.write(`${clock(p.time)} ${p.network} ${p.side} ${p.dir} ${data.length} ${summarize(data)}\n`);
  });
  return untilStopped(s, (last) => {
    if (last !== undefined && Number(last.dropped) > 0) process.stderr.write(`vtepctl: ${last.dropped} packets dropped: the daemon produced them faster than this capture read them\n`);
    if (fd !== undefined) closeSync(fd);
    process.stderr.write(`vtepctl: ${n} packet${n === 1 ? '' : 's'} captured${o.write !== undefined ? ` to ${o.write}` : ''}\n`);
    return 0;
  });
}

/** Runs a stream until it ends or Ctrl-C (SIGINT/SIGTERM) stops it. */
async function untilStopped(s: ReturnType<typeof streamRequest>, done: (last: Record<string, unknown> | undefined) => number): Promise<number> {
  const onSignal = () => s.stop();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    return done(await s.done);
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

function clock(ms: number): string {
  const d = new Date(ms);
  const micro = Math.floor((ms % 1000) * 1000).toString().padStart(6, '0');
  return `${d.toISOString().slice(11, 19)}.${micro}`;
}
