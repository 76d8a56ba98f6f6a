// The control socket: a Unix stream socket that answers one request per line.
// Only root can reach it (mode 0600): it reveals the network's topology.
import { chmodSync, existsSync, unlinkSync } from 'node:fs';
import { createConnection, createServer, type Server } from 'node:net';
import { MAX_REQUEST_BYTES, parseRequest, type Reply, type Streaming, type ValidRequest } from './protocol.ts';

export type Handler = (req: ValidRequest) => Reply | Streaming | Promise<Reply>;

/** Output a slow stream client may leave unread before lines are dropped (and counted). */
const STREAM_BUFFER_LIMIT = 16 * 1024 * 1024;

export class ControlServer {
  private constructor(private readonly server: Server, readonly path: string) {}

  static async listen(path: string, handle: Handler): Promise<ControlServer> {
    const server = createServer((conn) => {
      let buffered = '';
      // Replies go out in the order of the requests, also when one takes a while (a question to GoBGP).
      let pending: Promise<unknown> = Promise.resolve();
      let streaming = false;
      conn.setEncoding('utf8');
      conn.on('error', () => conn.destroy());
      conn.on('data', (chunk: string) => {
        if (streaming) return; // a stream owns its connection: nothing more is read
        buffered += chunk;
        if (buffered.length > MAX_REQUEST_BYTES) {
          conn.end(JSON.stringify({ ok: false, error: 'request too long' }) + '\n');
          return;
        }
        let nl: number;
        while ((nl = buffered.indexOf('\n')) >= 0) {
          const line = buffered.slice(0, nl);
          buffered = buffered.slice(nl + 1);
          const a = answer(line, handle);
          if (a instanceof Promise || !('stream' in a)) {
            pending = pending.then(() => a).then((reply) => conn.write(JSON.stringify(reply) + '\n'), (e: Error) => conn.write(JSON.stringify({ ok: false, error: e.message }) + '\n'));
            continue;
          }
          streaming = true;
          void pending.then(() => {
            let dropped = 0;
            const cancel = a.stream(
              (obj) => {
                if (conn.writableLength > STREAM_BUFFER_LIMIT) dropped++;
                else conn.write(JSON.stringify(obj) + '\n');
              },
              (last) => conn.end(JSON.stringify({ ...last, dropped }) + '\n'),
            );
            if (conn.destroyed) cancel();
            else conn.once('close', cancel);
          });
          return;
        }
      });
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(path, () => {
        server.off('error', reject);
        resolve();
      });
    });
    chmodSync(path, 0o600);
    return new ControlServer(server, path);
  }

  close(): void {
    this.server.close();
    try {
      unlinkSync(this.path);
    } catch {
      // already gone
    }
  }
}

function answer(line: string, handle: Handler): Reply | Streaming | Promise<Reply> {
  let raw: unknown;
  try {
    raw = JSON.parse(line);
  } catch {
    return { ok: false, error: 'request is not JSON' };
  }
  const parsed = parseRequest(raw);
  if (!parsed.ok) return parsed;
  try {
    return handle(parsed.request);
  } catch (e) {
    return { ok: false, error: (e as Error).message };
  }
}

/** Whether a daemon answers at `path`; a socket file nobody listens on is stale. */
export function socketInUse(path: string): Promise<boolean> {
  if (!existsSync(path)) return Promise.resolve(false);
  return new Promise((resolve) => {
    const c = createConnection(path);
    c.once('connect', () => {
      c.destroy();
      resolve(true);
    });
    c.once('error', () => resolve(false));
  });
}

/** Removes a stale socket file (checked with socketInUse first). */
export function removeStaleSocket(path: string): void {
  if (existsSync(path)) unlinkSync(path);
}
