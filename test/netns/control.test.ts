// The control socket's bounds: clients at a time, idle clients, request
// length, and stream clients that do not read. Each is proven against a
// running daemon, which keeps answering and forwarding throughout.
import { readFileSync } from 'node:fs';
import { createConnection, type Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { sleep, type Lab } from '../../scripts/lab/lab.ts';
import { blueConfig, expectOk, kernelPeers, overlay, ping, stats, withLab } from './helpers.ts';

interface Client {
  sock: Socket;
  /** Everything read so far. */
  text: () => string;
  closed: Promise<void>;
}

async function connect(path: string, read = true): Promise<Client> {
  const sock = createConnection(path);
  let text = '';
  if (read) sock.on('data', (d) => (text += d.toString()));
  const closed = new Promise<void>((resolve) => sock.once('close', () => resolve()));
  sock.on('error', () => {});
  await new Promise<void>((resolve, reject) => {
    sock.once('connect', resolve);
    sock.once('error', reject);
  });
  return { sock, text: () => text, closed };
}

/** Resident memory of a process, in MB. */
function rssMb(pid: number): number {
  return Number(/^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024;
}

async function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>(
    (_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms)),
  );
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

function controlConfig(lab: Lab, control: string): string {
  return blueConfig(lab, '', [2], `control: ${control}\n`);
}

describe('control socket bounds', () => {
  it('serves at most max-clients at once: one more is told so and closed, and counted', () =>
    withLab(2, async (lab) => {
      await lab.startDaemon(1, controlConfig(lab, '{ max-clients: 3 }'));
      const held = await Promise.all([1, 2, 3].map(() => connect(lab.socket(1))));
      const extra = await connect(lab.socket(1));
      await within(extra.closed, 2000, 'the fourth client closed');
      expect(JSON.parse(extra.text())).toEqual({ ok: false, error: 'too many control clients (3); try again later' });
      held[0].sock.destroy();
      await held[0].closed;
      await sleep(100);
      const s = await stats(lab); // a client again: there is room for it now
      expect(s.control).toMatchObject({ refused: 1, clients: 3 });
      for (const c of held) c.sock.destroy();
    }));

  it('closes a client idle for idle-timeout, but not one that follows a stream', () =>
    withLab(2, async (lab) => {
      await lab.startDaemon(1, controlConfig(lab, '{ idle-timeout: 1 }'));
      const idle = await connect(lab.socket(1));
      const monitor = await connect(lab.socket(1));
      monitor.sock.write('{"cmd":"monitor"}\n');
      await within(idle.closed, 3000, 'the idle client closed');
      expect(idle.text()).toBe('{"ok":false,"error":"idle for 1 s: closed"}\n');
      await sleep(1000);
      expect(monitor.sock.destroyed, 'the monitor is still connected').toBe(false);
      expect(JSON.parse(monitor.text().split('\n')[0])).toEqual({ ok: true, data: { monitoring: true } });
      expect((await stats(lab)).control['idle-closed']).toBe(1);
      monitor.sock.destroy();
    }));

  it('refuses a request line longer than 64 KB and closes, and keeps answering others', () =>
    withLab(2, async (lab) => {
      await lab.startDaemon(1, blueConfig(lab, '', [2]));
      const c = await connect(lab.socket(1));
      c.sock.write('x'.repeat(70 * 1024));
      await within(c.closed, 3000, 'the client closed');
      expect(c.text()).toMatch(
        /^\{"ok":false,"error":"request too long \(more than 65536 bytes without a newline\)"\}\n$/,
      );
      expect((await stats(lab)).networks.blue.state).toBe('up');
    }));

  it('bounds what capture clients that never read can pile up, drops their lines, then drops them', () =>
    withLab(2, async (lab) => {
      await kernelPeers(lab, [2]);
      const d = await lab.startDaemon(1, blueConfig(lab, '', [2]));
      expectOk(await ping(lab, 1, overlay(2), 1), 'warm-up');
      const before = rssMb(d.pid);
      // Twenty clients ask for every packet and never read a byte.
      const stuck = await Promise.all(Array.from({ length: 20 }, () => connect(lab.socket(1), false)));
      for (const c of stuck) {
        c.sock.pause();
        c.sock.write('{"cmd":"capture","side":"both"}\n');
      }
      const flood = await lab.exec(1, 'ping', ['-f', '-q', '-w', '4', overlay(2)], 20_000);
      expectOk(flood, 'ping -f while the captures pile up');
      const peak = rssMb(d.pid);
      const s = await stats(lab);
      expect(s.control['lines-dropped'], 'lines were dropped, not buffered').toBeGreaterThan(0);
      // 32 MB of unread output at most, plus the strings of the lines in flight.
      expect(peak - before, `RSS grew from ${before.toFixed(0)} to ${peak.toFixed(0)} MB`).toBeLessThan(150);
      expectOk(await ping(lab, 1, overlay(2), 2), 'forwarding goes on');
      let after = await stats(lab);
      for (let t = 0; t < 150 && after.control['slow-readers'] < 20; t++) {
        await sleep(100);
        after = await stats(lab);
      }
      expect(after.control['slow-readers'], 'every client that read nothing for 10 s was dropped').toBe(20);
      expect(after.control.clients).toBe(1); // the one asking
      // A client that reads at last finds its stream cut off.
      for (const c of stuck) c.sock.resume();
      await within(Promise.all(stuck.map((c) => c.closed)), 5000, 'the clients see the end');
      expect(d.log).toMatch(/control: a stream client read nothing for 10 s with \d+ bytes waiting: disconnected/);
    }));
});
