// The control socket: a Unix stream socket that answers one request per line.
// By default only its owner can reach it (mode 0600): it reveals the network's
// topology. With socket-group and socket-mode (0660) a group reads it too;
// requests that change what vtepd forwards, or show the traffic itself
// (capture), stay with root and vtepd's own user unless socket-mutations says
// `group`: the peer's uid comes from the kernel (SO_PEERCRED), not the client.
//
// Its clients are bounded, so that none can take the daemon's memory or its
// attention: so many at a time (the last slots kept for root and vtepd's own
// user, so that a reader cannot lock them out), an idle one closed, a request line of bounded
// length, and a stream (capture, monitor) whose client reads too slowly loses
// lines (counted) rather than growing a buffer; one that stays behind is
// dropped.
import { chmodSync, chownSync, lstatSync, unlinkSync } from 'node:fs';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { native } from '../io/native.ts';
import {
  LazyList,
  MAX_REQUEST_BYTES,
  type ControlStats,
  type Reply,
  type StreamSink,
  type Streaming,
} from './protocol.ts';
import { parseRequest } from './requests.ts';
import type { Verb } from './verb.ts';

export type Handler = (
  verb: Verb,
  req: Record<string, unknown> & { cmd: string },
) => Reply | Streaming | Promise<Reply>;

export interface ControlLimits {
  /** Clients connected at once; one more is told so and closed. */
  maxClients: number;
  /** Seconds a client may stay connected without a request (streams excepted). */
  idleTimeoutS: number;
}

export const DEFAULT_CONTROL_LIMITS: ControlLimits = { maxClients: 64, idleTimeoutS: 300 };

/** Who may reach the socket, and who may change things through it. */
export interface ControlAccess {
  /** Permission bits of the socket file. */
  mode: number;
  /** Group of the socket file (undefined: the daemon's). */
  gid?: number;
  /** `owner`: only root and vtepd's own user may send mutating requests; `group`: anyone who can connect. */
  mutations: 'owner' | 'group';
}

export const DEFAULT_CONTROL_ACCESS: ControlAccess = { mode: 0o600, mutations: 'owner' };

/** Output one stream client may leave unread before its lines are dropped. */
export const STREAM_BUFFER_BYTES = 4 * 1024 * 1024;
/** Output all stream clients together may leave unread. */
export const STREAM_TOTAL_BYTES = 32 * 1024 * 1024;
/** A stream client that stays at its limit this long is disconnected. */
export const SLOW_READER_S = 10;
const SLOW_READER_CHECK_MS = 1000;

class Stream implements StreamSink {
  dropped = 0;
  /** performance.now() when the kernel last took some of this client's output. */
  private lastFlush = performance.now();
  private readonly flushed = (): void => {
    this.lastFlush = performance.now();
  };

  constructor(
    private readonly conn: Socket,
    private readonly server: ControlServer,
  ) {}

  get room(): boolean {
    return (
      this.conn.writableLength < STREAM_BUFFER_BYTES &&
      this.server.streamBuffered() < STREAM_TOTAL_BYTES &&
      !this.conn.destroyed
    );
  }

  get buffered(): number {
    return this.conn.writableLength;
  }

  send(line: object): void {
    if (this.room) this.conn.write(JSON.stringify(line) + '\n', this.flushed);
    else this.skipped();
  }

  skipped(n = 1): void {
    this.dropped += n;
    this.server.stats['lines-dropped'] += n;
  }

  end(last: object): void {
    this.conn.end(JSON.stringify({ ...last, dropped: this.dropped }) + '\n');
  }

  /** Whether output has waited for SLOW_READER_S without the client taking any of it. */
  stuck(now: number): boolean {
    if (this.conn.writableLength === 0) this.lastFlush = now;
    return now - this.lastFlush > SLOW_READER_S * 1000;
  }

  close(): void {
    this.conn.destroy();
  }
}

export class ControlServer {
  readonly stats: ControlStats = { clients: 0, refused: 0, 'idle-closed': 0, 'slow-readers': 0, 'lines-dropped': 0 };
  private readonly streams = new Set<Stream>();
  private bufferedAt = -Infinity;
  private bufferedTotal = 0;
  /** Looks for slow readers while there are streams (none: no wakeups). */
  private checker: ReturnType<typeof setInterval> | undefined;
  /** Told when a client is dropped (for the log). */
  onDrop: (why: string) => void = () => {};

  private constructor(
    private readonly server: Server,
    readonly path: string,
    public limits: ControlLimits,
    private readonly access: ControlAccess,
  ) {}

  /** Listens on `path`, or on `inherited`: the listening socket a predecessor passed on (`vtepctl upgrade`). */
  static async listen(
    path: string,
    handle: Handler,
    limits: ControlLimits = DEFAULT_CONTROL_LIMITS,
    inherited?: number,
    access = DEFAULT_CONTROL_ACCESS,
  ): Promise<ControlServer> {
    const server = createServer();
    const control = new ControlServer(server, path, limits, access);
    server.on('connection', (conn) => control.serve(conn, handle));
    let fd = inherited;
    if (fd === undefined) {
      // Created 0600 from the start (the umask), not 0755 until a chmod comes.
      const umask = process.umask(0o177);
      try {
        fd = native.unixListen(path);
      } finally {
        process.umask(umask);
      }
      if (access.gid !== undefined) chownSync(path, -1, access.gid);
      chmodSync(path, access.mode);
    }
    control.fd = fd;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ fd }, () => {
        server.off('error', reject);
        resolve();
      });
    });
    return control;
  }

  /**
   * The listening socket's descriptor (opened by the addon, so Node never unlinks the path), to pass on to a
   * successor.
   */
  private fd = -1;

  get descriptor(): number {
    return this.fd;
  }

  /**
   * Stops accepting in this process and leaves the socket file: a successor
   * listens on the same socket. Clients connected now are still answered.
   */
  stopListening(): void {
    clearInterval(this.checker);
    this.server.close();
  }

  /** Bytes all stream clients leave unread, summed at most once a millisecond (it is asked per packet). */
  streamBuffered(): number {
    const now = performance.now();
    if (now - this.bufferedAt > 1) {
      this.bufferedAt = now;
      this.bufferedTotal = 0;
      for (const s of this.streams) this.bufferedTotal += s.buffered;
    }
    return this.bufferedTotal;
  }

  /** Clients connected now that are neither root nor vtepd's own user. */
  private others = 0;

  /** Why a client cannot be served now, if it cannot. */
  private refusal(owner: boolean): string | undefined {
    const max = this.limits.maxClients;
    if (this.stats.clients >= max) return `too many control clients (${max}); try again later`;
    const kept = ownerSlots(max);
    if (!owner && this.others >= max - kept) {
      return (
        `too many control clients of users other than root and vtepd's own (${max - kept}; ` +
        `${kept} of max-clients ${max} are kept for those two); try again later`
      );
    }
    return undefined;
  }

  private serve(conn: Socket, handle: Handler): void {
    conn.on('error', () => conn.destroy());
    const owner = isOwner(conn);
    const refused = this.refusal(owner);
    if (refused !== undefined) {
      this.stats.refused++;
      conn.end(JSON.stringify({ ok: false, error: refused }) + '\n');
      return;
    }
    this.stats.clients++;
    if (!owner) this.others++;
    conn.once('close', () => {
      this.stats.clients--;
      if (!owner) this.others--;
    });
    const mayChange = this.access.mutations === 'group' || owner;
    let buffered = '';
    // Replies go out in the order of the requests, also when one takes a while (a question to GoBGP).
    let pending: Promise<unknown> = Promise.resolve();
    let streaming = false;
    conn.setEncoding('utf8');
    conn.setTimeout(this.limits.idleTimeoutS * 1000, () => {
      if (streaming) return;
      this.stats['idle-closed']++;
      conn.end(JSON.stringify({ ok: false, error: `idle for ${this.limits.idleTimeoutS} s: closed` }) + '\n');
      conn.destroySoon();
    });
    const send = async (reply: Reply): Promise<void> => {
      if (reply.ok && reply.data instanceof LazyList) await writeList(conn, reply.data);
      else conn.write(JSON.stringify(reply) + '\n');
    };
    // After `{"cmd":"batch"}` (vtepctl -batch): requests run one after another, stopping at a refusal.
    let batch: Batch | undefined;
    // The bound is on one request line: a client may send many lines at once (a controller's batch).
    const tooLong = () => {
      conn.end(
        JSON.stringify({
          ok: false,
          error: `request too long (more than ${MAX_REQUEST_BYTES} bytes without a newline)`,
        }) + '\n',
      );
      conn.destroySoon();
      buffered = '';
      streaming = true; // read nothing more
    };
    // Answers the complete lines buffered, LINES_PER_TURN at a time: between turns reading stops and the
    // event loop (packets, other clients) runs, so that a controller's 10,000-line write is no pause.
    let waiting = false;
    const answerLines = () => {
      let at = 0;
      let nl: number;
      for (let n = 0; (nl = buffered.indexOf('\n', at)) >= 0; n++) {
        if (n === LINES_PER_TURN) {
          buffered = buffered.slice(at);
          waiting = true;
          conn.pause();
          setImmediate(() => {
            waiting = false;
            if (conn.destroyed || streaming) return;
            conn.resume();
            answerLines();
          });
          return;
        }
        const line = buffered.slice(at, nl);
        at = nl + 1;
        if (line.length > MAX_REQUEST_BYTES) return tooLong();
        const start = batchStart(line);
        if (start !== undefined) {
          if (typeof start !== 'string') batch = start;
          const r: Reply =
            typeof start === 'string' ? { ok: false, error: start, invalid: true } : { ok: true, data: {} };
          pending = pending.then(() => send(r));
          continue;
        }
        if (batch !== undefined) {
          // Each request once the one before it is answered; after a refusal, the rest not done (unless force).
          const b = batch;
          pending = pending.then(async () => {
            if (b.failed && !b.force) return send({ ok: false, error: NOT_DONE, 'not-done': true });
            const r = await settle(answer(line, handle, mayChange));
            if (!r.ok) b.failed = true;
            await send(r);
          });
          continue;
        }
        const a = answer(line, handle, mayChange);
        if (a instanceof Promise || !('stream' in a)) {
          pending = pending.then(() => settle(a)).then(send);
          continue;
        }
        buffered = '';
        streaming = true;
        conn.setTimeout(0);
        void pending.then(() => {
          const s = new Stream(conn, this);
          this.streams.add(s);
          this.checker ??= setInterval(() => this.dropStuck(), SLOW_READER_CHECK_MS).unref();
          const cancel = a.stream(s);
          const gone = () => {
            this.streams.delete(s);
            cancel();
          };
          if (conn.destroyed) gone();
          else conn.once('close', gone);
        });
        return;
      }
      buffered = buffered.slice(at);
      if (buffered.length > MAX_REQUEST_BYTES) tooLong();
    };
    conn.on('data', (chunk: string) => {
      if (streaming) return; // a stream owns its connection: nothing more is read
      buffered += chunk;
      if (!waiting) answerLines();
    });
  }

  /** Clients following a stream now. */
  get streamCount(): number {
    return this.streams.size;
  }

  /** Disconnects stream clients that stayed at their limit for SLOW_READER_S. */
  private dropStuck(): void {
    const now = performance.now();
    for (const s of this.streams) {
      if (!s.stuck(now)) continue;
      this.streams.delete(s);
      this.stats['slow-readers']++;
      this.onDrop(
        `a stream client read nothing for ${SLOW_READER_S} s with ${s.buffered} bytes waiting: disconnected ` +
          `(${s.dropped} lines dropped)`,
      );
      s.close();
    }
    if (this.streams.size > 0) return;
    clearInterval(this.checker);
    this.checker = undefined;
  }

  close(): void {
    clearInterval(this.checker);
    this.server.close();
    for (const s of this.streams) s.close();
    try {
      unlinkSync(this.path);
    } catch {
      // already gone
    }
  }
}

/** Request lines of one connection answered in one turn of the event loop (a millisecond or so of work). */
const LINES_PER_TURN = 256;

/** Rows of a long reply made and written at a time: about 100 KB of JSON, a millisecond or two of work. */
export const LIST_CHUNK_ROWS = 1000;

/**
 * Writes `{"ok":true,"data":[...]}` and a newline, as JSON.stringify would, a chunk of rows at a
 * time, and lets the event loop (packets, other clients) run between chunks; a client that reads
 * slowly is waited for, not buffered for.
 */
async function writeList(conn: Socket, list: LazyList<unknown>): Promise<void> {
  const rows = list[Symbol.iterator]();
  let text = '{"ok":true,"data":[';
  for (let first = true; ;) {
    let n = 0;
    let done = false;
    for (; n < LIST_CHUNK_ROWS; n++) {
      const r = rows.next();
      if (r.done === true) {
        done = true;
        break;
      }
      text += (first ? '' : ',') + JSON.stringify(r.value);
      first = false;
    }
    if (done) break;
    const room = conn.write(text);
    text = '';
    if (conn.destroyed) return;
    await (room ? new Promise((resolve) => setImmediate(resolve)) : drained(conn));
    if (conn.destroyed) return;
  }
  conn.write(text + ']}\n');
}

function drained(conn: Socket): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      conn.off('drain', done);
      conn.off('close', done);
      resolve();
    };
    conn.on('drain', done);
    conn.on('close', done);
  });
}

/**
 * Of `max` control slots, how many only root and vtepd's own user may take: a
 * reader of the socket (socket-group) holding streams must never lock out the
 * one who can repair things. An eighth, at least 1 and at most 8.
 */
export function ownerSlots(max: number): number {
  return max < 2 ? 0 : Math.min(8, Math.ceil(max / 8));
}

/** Root, or the user vtepd runs as: the kernel's word for who connected. */
function isOwner(conn: Socket): boolean {
  const fd = (conn as unknown as { _handle?: { fd?: number } })._handle?.fd;
  if (fd === undefined || fd < 0) return false;
  try {
    const { uid } = native.peerCredentials(fd);
    return uid === 0 || uid === process.getuid?.();
  } catch {
    return false;
  }
}

/** A connection in batch mode: whether requests after a refusal are still done, and whether one was refused. */
interface Batch {
  force: boolean;
  failed: boolean;
}

/** What a request of a batch gets after an earlier one was refused (without force). */
const NOT_DONE = 'not done: an earlier request of this batch was refused';

/**
 * `{"cmd":"batch"}` or `{"cmd":"batch","force":true}`: the batch it starts; a string saying what is wrong
 * with it; undefined for any other request.
 */
function batchStart(line: string): Batch | string | undefined {
  if (!line.includes('"batch"')) return undefined;
  let raw: unknown;
  try {
    raw = JSON.parse(line);
  } catch {
    return undefined;
  }
  if (typeof raw !== 'object' || raw === null || (raw as { cmd?: unknown }).cmd !== 'batch') return undefined;
  const { cmd: _, force, ...rest } = raw as { cmd: string; force?: unknown };
  if (force !== undefined && typeof force !== 'boolean') return 'batch: force: expected true or false';
  if (Object.keys(rest).length > 0) return `batch: unknown field ${Object.keys(rest)[0]} (only force)`;
  return { force: force === true, failed: false };
}

/** A reply, whatever answer() gave: a failed promise is a refusal, a stream is not for a batch. */
async function settle(a: Reply | Streaming | Promise<Reply>): Promise<Reply> {
  if (a instanceof Promise) return a.catch((e: Error): Reply => ({ ok: false, error: e.message }));
  if ('stream' in a)
    return { ok: false, error: 'a stream (monitor, capture) cannot be part of a batch', invalid: true };
  return a;
}

function answer(line: string, handle: Handler, mayChange: boolean): Reply | Streaming | Promise<Reply> {
  let raw: unknown;
  try {
    raw = JSON.parse(line);
  } catch {
    return { ok: false, error: 'request is not JSON' };
  }
  const parsed = parseRequest(raw);
  if (!parsed.ok) return parsed;
  // A verb that changes the forwarding state or the daemon, or shows the traffic, is not for a read-only group.
  if (!mayChange && parsed.verb.privileged) {
    return {
      ok: false,
      error:
        `${parsed.verb.words.join(' ')}: only root and vtepd's own user may do this on this socket ` +
        `(socket-mutations: owner)`,
    };
  }
  try {
    return handle(parsed.verb, parsed.request);
  } catch (e) {
    return { ok: false, error: (e as Error).message };
  }
}

/**
 * What is at the control socket's path: nothing; a socket a daemon answers
 * on; a stale socket (nobody answers: it may be removed); or something else,
 * which vtepd must never remove (a config file given as --socket by mistake).
 */
export type SocketPathState = 'absent' | 'in-use' | 'stale' | 'directory' | 'not-a-socket';

export async function socketPathState(path: string): Promise<SocketPathState> {
  let st;
  try {
    st = lstatSync(path);
  } catch {
    return 'absent';
  }
  if (st.isDirectory()) return 'directory';
  if (!st.isSocket()) return 'not-a-socket';
  return new Promise((resolve) => {
    const c = createConnection(path);
    c.once('connect', () => {
      c.destroy();
      resolve('in-use');
    });
    c.once('error', () => resolve('stale'));
  });
}

/** Removes a stale socket, and only a socket (its state checked first). */
export function removeStaleSocket(path: string): void {
  try {
    if (lstatSync(path).isSocket()) unlinkSync(path);
  } catch {
    // gone already
  }
}
