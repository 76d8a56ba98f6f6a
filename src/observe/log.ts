// Log lines on stderr, one event per line. Text (the default) is read by a
// person at a terminal or in the journal: "vtepd: warning: ...". JSON (pino)
// is read by a log pipeline: {"level":"warning","time":...,"msg":...} with the
// event's fields (network, remote, reason) as fields of their own.
// A warning or error repeated word for word is written at most REPEAT_BURST
// times per REPEAT_WINDOW_MS; the next one written says how many were held back.
import { createRequire } from 'node:module';
import type pino from 'pino';

type Pino = pino.Logger;

/** pino and its dozen modules are loaded for JSON logs only: text, the default, needs none of them. */
const loadPino = () => createRequire(import.meta.url)('pino') as typeof pino;

export type Level = 'debug' | 'info' | 'warning' | 'error';
export type LogFormat = 'text' | 'json';
/** Structured fields of an event: they go into the text line only through the message. */
export type LogFields = { network?: string; remote?: string; reason?: string } & Record<
  string,
  string | number | boolean | undefined
>;

const RANK: Record<Level, number> = { debug: 0, info: 1, warning: 2, error: 3 };
const REPEAT_WINDOW_MS = 10_000;
const REPEAT_BURST = 5;

export interface LogOptions {
  level?: Level;
  format?: LogFormat;
  /** Where text lines go (tests); JSON always goes to stderr. */
  write?: (line: string) => void;
}

export class Logger {
  private readonly level: Level;
  private readonly json: Pino | undefined;
  private readonly write: (line: string) => void;
  /** Per message text of warnings and errors: when its window began, lines written and held back in it. */
  private readonly repeats = new Map<string, { since: number; written: number; held: number }>();

  /** `new Logger(true)` is `--verbose` (debug lines), as before. */
  constructor(options: LogOptions | boolean = {}, write?: (line: string) => void) {
    const o =
      typeof options === 'boolean' ? { level: options ? ('debug' as const) : ('info' as const), write } : options;
    this.level = o.level ?? 'info';
    this.write = o.write ?? ((l) => process.stderr.write(l + '\n'));
    if (o.format === 'json') {
      // Synchronous: the last lines before an exit must not be lost.
      const pino = loadPino();
      this.json = pino(
        {
          level: this.level === 'warning' ? 'warn' : this.level,
          base: { pid: process.pid, name: 'vtepd' },
          timestamp: pino.stdTimeFunctions.isoTime,
          formatters: { level: (label) => ({ level: label === 'warn' ? 'warning' : label }) },
        },
        pino.destination({ dest: 2, sync: true }),
      );
    }
  }

  debug(msg: string, fields?: LogFields): void {
    this.emit('debug', msg, fields);
  }
  info(msg: string, fields?: LogFields): void {
    this.emit('info', msg, fields);
  }
  warn(msg: string, fields?: LogFields): void {
    this.emit('warning', msg, fields);
  }
  error(msg: string, fields?: LogFields): void {
    this.emit('error', msg, fields);
  }

  private emit(level: Level, msg: string, fields: LogFields | undefined): void {
    if (RANK[level] < RANK[this.level]) return;
    let repeated = 0;
    if (RANK[level] >= RANK.warning) {
      const now = Date.now();
      let r = this.repeats.get(msg);
      if (r === undefined || now - r.since > REPEAT_WINDOW_MS) {
        repeated = r?.held ?? 0;
        if (this.repeats.size > 1000) this.repeats.clear(); // distinct messages are few; this only bounds the map
        r = { since: now, written: 0, held: 0 };
        this.repeats.set(msg, r);
      }
      if (r.written >= REPEAT_BURST) {
        r.held++;
        return;
      }
      r.written++;
    }
    if (this.json !== undefined) {
      const obj = { ...fields, ...(repeated > 0 && { repeated }) };
      const fn = level === 'warning' ? 'warn' : level;
      this.json[fn](obj, msg);
      return;
    }
    const prefix = level === 'info' ? 'vtepd: ' : `vtepd: ${level}: `;
    const held = repeated > 0 ? ` (and ${repeated} more like it in the ${REPEAT_WINDOW_MS / 1000} s before)` : '';
    this.write(`${prefix}${msg}${held}`);
  }
}
