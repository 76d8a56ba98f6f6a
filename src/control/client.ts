// The client side of the control socket, for vtepctl and tests.
import { createConnection } from 'node:net';
import type { Reply, Request } from './protocol.ts';

export class NoDaemonError extends Error {}

export function request<T>(path: string, req: Request, timeoutMs = 5000): Promise<T> {
  return new Promise((resolve, reject) => {
    const c = createConnection(path);
    let buffered = '';
    const timer = setTimeout(() => {
      c.destroy();
      reject(new NoDaemonError(`no answer from vtepd on ${path} within ${timeoutMs / 1000} s`));
    }, timeoutMs);
    c.setEncoding('utf8');
    c.on('connect', () => c.write(JSON.stringify(req) + '\n'));
    c.on('data', (chunk: string) => {
      buffered += chunk;
      const nl = buffered.indexOf('\n');
      if (nl < 0) return;
      clearTimeout(timer);
      c.end();
      let reply: Reply<T>;
      try {
        reply = JSON.parse(buffered.slice(0, nl)) as Reply<T>;
      } catch {
        reject(new Error(`vtepd on ${path} sent a reply that is not JSON`));
        return;
      }
      if (reply.ok) resolve(reply.data);
      else reject(new Error(reply.error));
    });
    c.on('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      const why = e.code === 'ENOENT' ? 'no such socket' : e.code === 'ECONNREFUSED' ? 'nothing listens on it' : e.message;
      reject(new NoDaemonError(`no vtepd answers on ${path} (${why}); is the daemon running? (--socket PATH names another one)`));
    });
  });
}
