// The client side of the control socket, for vtepctl and tests.
import { createConnection } from 'node:net';
import type { Reply, Request } from './protocol.ts';

export class NoDaemonError extends Error {}

/** The daemon refused a request; `invalid`: as asked it cannot be done (vtepctl exits 2). */
export class RefusedReply extends Error {
  constructor(
    message: string,
    readonly invalid: boolean,
    readonly problems: string[] = [],
  ) {
    super(message);
  }
}

/** Why the socket at `path` could not be reached, in the words a user acts on. */
export function unreachable(path: string, e: NodeJS.ErrnoException): Error {
  if (e.code === 'EACCES' || e.code === 'EPERM') {
    return new NoDaemonError(
      `permission denied on ${path}: the control socket is root's and vtepd's own user's (and socket-group's ` +
        'with socket-mode 0660); run vtepctl as one of them',
    );
  }
  const why = e.code === 'ENOENT' ? 'no such socket' : e.code === 'ECONNREFUSED' ? 'nothing listens on it' : e.message;
  return new NoDaemonError(
    `no vtepd answers on ${path} (${why}); is the daemon running? (--socket PATH names another one)`,
  );
}

/**
 * One request, one reply line. `timeoutMs` bounds the wait for the daemon to
 * answer and every pause while the reply flows: a large table (fdb show on
 * hundreds of thousands of MACs is tens of MB) takes as long as it takes.
 */
export function request<T>(path: string, req: Request, timeoutMs = 5000): Promise<T> {
  return new Promise((resolve, reject) => {
    const c = createConnection(path);
    const chunks: string[] = [];
    const expire = () => {
      c.destroy();
      reject(new NoDaemonError(`no answer from vtepd on ${path} within ${timeoutMs / 1000} s`));
    };
    let timer = setTimeout(expire, timeoutMs);
    c.setEncoding('utf8');
    c.on('connect', () => c.write(JSON.stringify(req) + '\n'));
    c.on('data', (chunk: string) => {
      clearTimeout(timer);
      // Only the new chunk is searched: the reply can be large.
      const nl = chunk.indexOf('\n');
      if (nl < 0) {
        chunks.push(chunk);
        timer = setTimeout(expire, timeoutMs);
        return;
      }
      chunks.push(chunk.slice(0, nl));
      c.end();
      let reply: Reply<T>;
      try {
        reply = JSON.parse(chunks.join('')) as Reply<T>;
      } catch {
        reject(new Error(`vtepd on ${path} sent a reply that is not JSON`));
        return;
      }
      if (reply.ok) resolve(reply.data);
      else reject(new RefusedReply(reply.error, reply.invalid === true, reply.problems));
    });
    c.on('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(unreachable(path, e));
    });
  });
}

/**
 * A streaming request: `onLine` gets every line after the first reply; resolves
 * with the last line (`{ end: true, dropped }`) or undefined if we hung up first.
 * `stop()` on the returned handle hangs up.
 */
export function streamRequest(
  path: string,
  req: Request,
  onLine: (line: Record<string, unknown>) => void,
): { done: Promise<Record<string, unknown> | undefined>; stop: () => void } {
  const c = createConnection(path);
  let stopped = false;
  const done = new Promise<Record<string, unknown> | undefined>((resolve, reject) => {
    let buffered = '';
    let first = true;
    let last: Record<string, unknown> | undefined;
    c.setEncoding('utf8');
    c.on('connect', () => c.write(JSON.stringify(req) + '\n'));
    c.on('data', (chunk: string) => {
      buffered += chunk;
      let nl: number;
      while ((nl = buffered.indexOf('\n')) >= 0) {
        const line = JSON.parse(buffered.slice(0, nl)) as Record<string, unknown>;
        buffered = buffered.slice(nl + 1);
        if (first) {
          first = false;
          if (line.ok === false) {
            c.destroy();
            reject(new RefusedReply(String(line.error), line.invalid === true));
            return;
          }
          continue;
        }
        if (line.end) last = line;
        else onLine(line);
      }
    });
    c.on('close', () => resolve(last));
    c.on('error', (e: NodeJS.ErrnoException) => {
      if (stopped) return resolve(last);
      reject(unreachable(path, e));
    });
  });
  return {
    done,
    stop: () => {
      stopped = true;
      c.destroy();
    },
  };
}
