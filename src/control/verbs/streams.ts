// The two streams: `vtepctl capture` (packets as the daemon reads and writes
// them) and `vtepctl monitor` (changes to the tables as they happen).
import { closeSync, openSync, writeSync } from 'node:fs';
import type { CapturedPacket } from '../../observe/capture.ts';
import { formatEvent, type MonitorEvent } from '../../observe/monitor.ts';
import { emitPcapHeader, emitPcapRecord, LINKTYPE_ETHERNET } from '../../wire/pcap.ts';
import { streamRequest } from '../client.ts';
import { networkOf } from '../daemon-view.ts';
import { CAPTURE_SIDES, type Request } from '../protocol.ts';
import { defineVerb, UsageError } from '../verb.ts';
import { expectArgs, flagNumber } from './cli.ts';

export const capture = defineVerb({
  cmd: 'capture',
  example: { network: 'blue', side: 'tunnel', count: 10 },
  words: ['capture'],
  usage: '[--network NAME] [--side tap|tunnel|both] [--count N] [-w FILE]',
  summary: 'TAP frames and tunnel packets: a pcap file with -w, else a line each',
  access: 'traffic',
  fields: ({ networkName, positiveInt, z }) => ({
    network: networkName.optional(),
    side: z
      .enum(CAPTURE_SIDES, { error: 'expected tap, tunnel or both' })
      .default('both')
      .describe('what to copy: TAP frames, tunnel packets, or both'),
    count: positiveInt.optional().describe('stop after this many packets'),
  }),
  reply:
    'a stream: `{ "ok": true, "data": { "capturing": true } }`, then `{ "packet": { time, network, side, dir, ' +
    'data (base64) } }` per packet, then `{ "end": true, "dropped" }`',
  handle(d, req) {
    networkOf(d, req.network);
    return {
      stream: (sink) => {
        sink.send({ ok: true, data: { capturing: true } });
        return d.mirror.start(
          { network: req.network, side: req.side, count: req.count },
          {
            get room() {
              return sink.room;
            },
            packet: (packet) => sink.send({ packet }),
            skipped: (n) => sink.skipped(n),
            end: () => sink.end({ end: true }),
          },
        );
      },
    };
  },
  fromCli(cli) {
    expectArgs(cli, 0, 'capture [--network NAME] [--side tap|tunnel|both] [--count N] [-w FILE]');
    return { network: cli.flags.network, side: cli.flags.side, count: flagNumber(cli.flags.count) };
  },
  async client(socket, cli, req) {
    const o = cli.flags;
    let fd: number | undefined;
    if (o.write !== undefined) {
      try {
        fd = openSync(o.write, 'w');
      } catch (e) {
        throw new UsageError(`-w: cannot write ${o.write}: ${(e as Error).message}`);
      }
      writeSync(fd, emitPcapHeader(LINKTYPE_ETHERNET));
    }
    // The dissector knows every encapsulation (their config schemas too): loaded by a capture that
    // runs, not by each vtepctl run (4 ms of `vtepctl fdb show`).
    const { summarize } = await import('../../observe/dissect.ts');
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
      if (last !== undefined && Number(last.dropped) > 0)
        process.stderr.write(
          `vtepctl: ${last.dropped} packets dropped: the daemon produced them faster than this capture read them\n`,
        );
      if (fd !== undefined) closeSync(fd);
      process.stderr.write(
        `vtepctl: ${n} packet${n === 1 ? '' : 's'} captured${o.write !== undefined ? ` to ${o.write}` : ''}\n`,
      );
      return 0;
    });
  },
});

export const monitor = defineVerb({
  cmd: 'monitor',
  example: {},
  words: ['monitor'],
  usage: '[--network NAME] [--json] [--no-timestamp]',
  summary: 'changes to the tables and BGP sessions as they happen, each after its time (Ctrl-C to stop)',
  access: 'read',
  fields: ({ networkName }) => ({ network: networkName.optional() }),
  reply:
    'a stream: `{ "ok": true, "data": { "monitoring": true } }`, then one event a line (as `vtepctl monitor ' +
    '--json`), until the client hangs up',
  handle(d, req) {
    networkOf(d, req.network);
    return {
      stream: (sink) => {
        sink.send({ ok: true, data: { monitoring: true } });
        return d.events.listen((e) => sink.send(e), req.network);
      },
    };
  },
  fromCli: (cli) => (
    expectArgs(cli, 0, 'monitor [--network NAME] [--json] [--no-timestamp]'),
    { network: cli.flags.network }
  ),
  async client(socket, cli, req) {
    // The text form starts with the event's time (UTC, as the daemon saw it), as `ip -ts monitor` does;
    // --no-timestamp gives the bare lines of earlier versions.
    const stamp = (e: MonitorEvent) => (cli.flags['no-timestamp'] ? '' : `${e.time} `);
    const s = streamRequest(socket, req as Request, (line) => {
      const e = line as unknown as MonitorEvent;
      process.stdout.write((cli.flags.json ? JSON.stringify(e) : stamp(e) + formatEvent(e)) + '\n');
    });
    return untilStopped(s, () => 0);
  },
});

/** Runs a stream until it ends or Ctrl-C (SIGINT/SIGTERM) stops it. */
async function untilStopped(
  s: ReturnType<typeof streamRequest>,
  done: (last: Record<string, unknown> | undefined) => number,
): Promise<number> {
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
  const micro = Math.floor((ms % 1000) * 1000)
    .toString()
    .padStart(6, '0');
  return `${d.toISOString().slice(11, 19)}.${micro}`;
}
