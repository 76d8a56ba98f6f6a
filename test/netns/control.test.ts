// The control socket's bounds: clients at a time, idle clients, request
// length, and stream clients that do not read. Each is proven against a
// running daemon, which keeps answering and forwarding throughout.
import { readFileSync } from 'node:fs';
import { createConnection, type Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { ROOT, sh, sleep, type Lab } from '../../scripts/lab/lab.ts';
import { blueConfig, expectOk, fdb, kernelPeers, overlay, ping, stats, vtepctl, withLab } from './helpers.ts';

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

  it(
    'bounds given FDB entries at max-static-macs, and lists and flushes a full table between batches: pings every 10 ms go on',
    () =>
      withLab(2, async (lab) => {
        await kernelPeers(lab, [2]);
        const d = await lab.startDaemon(1, blueConfig(lab, '', [2]));
        expectOk(await ping(lab, 1, overlay(2), 1), 'warm-up');
        // 65536 entries (the default max-static-macs) over one connection, as a controller would send them.
        const FULL = 65_536;
        const macs = Array.from({ length: FULL }, (_, i) =>
          (0x0200_0000_0000 + i)
            .toString(16)
            .padStart(12, '0')
            .replace(/(..)(?!$)/g, '$1:'),
        );
        const fill = async () => {
          const c = await connect(lab.socket(1));
          c.sock.write(
            macs
              .map((mac) => JSON.stringify({ cmd: 'fdb-add', network: 'blue', mac, dst: lab.underlay(2) }) + '\n')
              .join(''),
          );
          const t0 = Date.now();
          while (c.text().split('\n').length <= FULL && Date.now() - t0 < 120_000) await sleep(100);
          const replies = c.text().trim().split('\n');
          expect(replies.filter((r) => r === '{"ok":true,"data":{}}')).toHaveLength(FULL);
          c.sock.destroy();
        };
        await fill();
        const over = await vtepctl(
          '--socket',
          lab.socket(1),
          'fdb',
          'add',
          '02:ff:00:00:00:01',
          'dst',
          lab.underlay(2),
          '--network',
          'blue',
        );
        expect(over.code).toBe(2);
        expect(over.stderr).toMatch(/has 65536 given FDB entries, its max-static-macs; raise max-static-macs/);
        expect((await stats(lab)).networks.blue.given['static-macs']).toEqual({ entries: FULL, max: FULL, refused: 1 });
        // The info log summed the adds up: a few lines, not 65536.
        expect(d.log.match(/control: fdb add/g)?.length ?? 0).toBeLessThan(5);
        expect(d.log).toMatch(/control: \d+ more changes within a second \(fdb add \d+\); each is logged at debug/);

        // Listing and flushing it while h1 pings every 10 ms: the largest gap between replies, beside the
        // largest gap of a quiet spell just before. Three rounds: a pass that holds the event loop pauses
        // forwarding in every round, while load from another lab beside this one (a single measurement
        // once failed CI) comes and goes; so one round within bounds passes.
        const gaps = async (what: string, during: () => Promise<void>) => {
          const pinger = lab.exec(1, 'ping', ['-D', '-i', '0.01', '-c', '400', '-W', '1', overlay(2)], 30_000);
          await sleep(500);
          await during();
          const r = await pinger;
          const times = [...r.stdout.matchAll(/^\[(\d+\.\d+)\].*icmp_seq=/gm)].map((m) => Number(m[1]) * 1000);
          expect(times.length, `${what}: replies`).toBeGreaterThan(390);
          return Math.max(...times.slice(1).map((t, i) => t - times[i]));
        };
        // 50 ms on a quiet machine (listing 65536 entries in one piece stalled pings for 190 ms here,
        // flushing them for 64 ms); on a loaded one, twice its quiet gap and 10 ms.
        const bound = (quiet: number) => Math.max(50, 2 * quiet + 10);
        const rounds = async (what: string, during: () => Promise<void>, before = async () => {}) => {
          const seen: string[] = [];
          let within = false;
          for (let i = 0; i < 3 && !within; i++) {
            await before();
            const quiet = await gaps('nothing', () => sleep(1500));
            const busy = await gaps(what, during);
            seen.push(`${busy.toFixed(1)} (quiet ${quiet.toFixed(1)})`);
            within = busy <= bound(quiet);
          }
          console.log(`largest ping gap, ms, ${what} of ${FULL} entries: ${seen.join(', ')}`);
          expect(within, `largest ping gap while ${what}, ms: ${seen.join(', ')}`).toBe(true);
        };
        await rounds('fdb show', async () => {
          const r = await vtepctl('--socket', lab.socket(1), 'fdb', 'show', '--json');
          expectOk(r, 'fdb show');
          expect((JSON.parse(r.stdout) as unknown[]).length).toBe(FULL + 1); // and h2's learned MAC
        });
        let refill = false;
        await rounds(
          'fdb flush',
          async () => {
            const r = await vtepctl('--socket', lab.socket(1), 'fdb', 'flush', '--static', '--json');
            expectOk(r, 'fdb flush');
            expect((JSON.parse(r.stdout) as { flushed: number }).flushed).toBe(FULL);
          },
          async () => {
            if (refill) await fill();
            refill = true;
          },
        );
      }),
    180_000,
  );
});

describe('vtepctl -batch FILE', () => {
  it('does one command a line down one connection and answers in order; skips comments and blank lines; stops at the first error naming its line, or goes on with -force', () =>
    withLab(2, async (lab) => {
      await kernelPeers(lab, [2]);
      await lab.startDaemon(1, blueConfig(lab, '', [2]));
      const file = (name: string, text: string) => lab.writeConfig(1, text, name);
      const batch = (...args: string[]) => vtepctl('--socket', lab.socket(1), ...args);
      const macsOf = async () => (await fdb(lab)).filter((r) => r.origin === 'vtepctl').map((r) => r.mac);

      // Order, comments, blank lines, quoting, and the answers printed as each command prints them alone.
      const ok = file(
        'ok.batch',
        `# two entries, then their listing
fdb add 02:aa:00:00:00:01 dst ${lab.underlay(2)} --network blue

fdb add 02:aa:00:00:00:02 dst "${lab.underlay(2)}" --network 'blue'   # a comment after a command
fdb show --network blue --json
fdb del 02:aa:00:00:00:01 --network blue
`,
      );
      const r = await batch('-batch', ok);
      expectOk(r, 'vtepctl -batch');
      const listed = JSON.parse(r.stdout) as { mac: string }[];
      expect(listed.map((x) => x.mac)).toEqual(expect.arrayContaining(['02:aa:00:00:00:01', '02:aa:00:00:00:02']));
      expect(await macsOf()).toEqual(['02:aa:00:00:00:02']);

      // The first error stops it: line 3 is refused by vtepd (no such network); line 4 is not done.
      const bad = file(
        'bad.batch',
        `fdb add 02:bb:00:00:00:01 dst ${lab.underlay(2)} --network blue
# a comment
fdb add 02:bb:00:00:00:02 dst ${lab.underlay(2)} --network nosuch
fdb add 02:bb:00:00:00:03 dst ${lab.underlay(2)} --network blue
`,
      );
      const stopped = await batch('-batch', bad);
      expect(stopped.code).toBe(1);
      expect(stopped.stderr).toMatch(/vtepctl: .*nosuch.*\nCommand failed .*bad\.batch:3\n/);
      expect(await macsOf()).toEqual(expect.arrayContaining(['02:bb:00:00:00:01']));
      expect(await macsOf()).not.toContain('02:bb:00:00:00:03');

      // -force goes on: line 4 is done this time, and the exit status still says one failed.
      const forced = await batch('-batch', bad, '-force');
      expect(forced.code).toBe(1);
      expect(forced.stderr).toMatch(/Command failed .*bad\.batch:3/);
      expect(await macsOf()).toContain('02:bb:00:00:00:03');

      // A line vtepctl itself cannot read (a usage error) stops it the same way, before anything after it is sent.
      const usage = file(
        'usage.batch',
        `fdb add 02:cc:00:00:00:01 dst ${lab.underlay(2)} --network blue
fdb frobnicate
fdb add 02:cc:00:00:00:02 dst ${lab.underlay(2)} --network blue
`,
      );
      const u = await batch('-batch', usage);
      expect(u.code).toBe(1);
      expect(u.stderr).toMatch(/unknown command "fdb frobnicate".*\nCommand failed .*usage\.batch:2/);
      expect(await macsOf()).toContain('02:cc:00:00:00:01');
      expect(await macsOf()).not.toContain('02:cc:00:00:00:02');

      // A line longer than a request may be: a clear error naming the bound and the line.
      const long = file('long.batch', `fdb add 02:dd:00:00:00:01 dst ${'1'.repeat(70_000)} --network blue\n`);
      const l = await batch('-batch', long);
      expect(l.code).toBe(1);
      expect(l.stderr).toMatch(/longer than the 64 KB a request may be\nCommand failed .*long\.batch:1/);

      // A file that is not there, and -batch with a command as well.
      const missing = await batch('-batch', '/nonexistent/x.batch');
      expect(missing.code).toBe(1);
      expect(missing.stderr).toMatch(/cannot open file "\/nonexistent\/x\.batch" for reading/);
      expect((await batch('-batch', ok, 'fdb', 'show')).code).toBe(2);

      // 10,000 lines from standard input, on one connection: all done, in a few seconds at most.
      const many = Array.from(
        { length: 10_000 },
        (_, i) =>
          `fdb add 02:ee:00:${((i >> 8) & 0xff).toString(16).padStart(2, '0')}:${(i & 0xff).toString(16).padStart(2, '0')}:01 dst ${lab.underlay(2)} --network blue`,
      ).join('\n');
      const big = file('many.batch', many + '\n');
      const t0 = Date.now();
      const m = await sh(
        'sh',
        ['-c', `${join(ROOT, 'bin/vtepctl')} --socket ${lab.socket(1)} -batch - < ${big}`],
        60_000,
      );
      expectOk(m, 'vtepctl -batch - with 10,000 lines');
      console.log(`vtepctl -batch: 10,000 fdb add in ${Date.now() - t0} ms`);
      // And the four added above: aa:02, bb:01, bb:03, cc:01.
      expect((await stats(lab)).networks.blue.given['static-macs'].entries).toBe(10_000 + 4);
    }));
});
