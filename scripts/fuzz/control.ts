// Fuzzing the control socket: mutated requests (every command, fields of the
// wrong type, out of range, unknown, huge, nested, non-JSON, bad UTF-8, lines
// split anywhere) on many connections. Each line must get exactly one reply
// line, ok or not; the daemon must keep answering. Requests that change the
// fabric's state (upgrade, reload, remote-del, fdb-flush) are left out: they
// would work, which is not what is tested here.
import { createConnection } from 'node:net';
import { COMMANDS } from '../../src/control/registry.ts';
import { Rng } from './generate.ts';

export interface ControlFuzzReport {
  requests: number;
  ok: number;
  refused: number;
  problems: string[];
}

const SKIPPED = new Set(['upgrade', 'reload', 'remote-del', 'fdb-flush', 'capture', 'monitor']);
const FIELDS = [
  'network',
  'mac',
  'ip',
  'dst',
  'which',
  'remote',
  'flood',
  'side',
  'count',
  'in',
  'src',
  'vlan',
  'arp-request',
  'ipv4',
  'ipv6',
  'cmd',
  '__proto__',
  'constructor',
];

function value(rng: Rng, depth = 0): unknown {
  switch (rng.int(12)) {
    case 0:
      return rng.pick(['blue', 'green', 'nope', '', 'x'.repeat(rng.int(5000))]);
    case 1:
      return rng.pick([
        '02:00:00:00:00:01',
        'ff:ff:ff:ff:ff:ff',
        '00:00:00:00:00:00',
        '02:00:00:00:00',
        'zz:zz:zz:zz:zz:zz',
      ]);
    case 2:
      return rng.pick(['10.0.0.2', '10.0.0.9', '::1', 'fd00::1', '999.1.1.1', '10.0.0.1', '224.0.0.1']);
    case 3:
      return rng.pick([0, -1, 1, 4094, 4095, 2 ** 31, 2 ** 53, 1e308, -0, 0.5]);
    case 4:
      return rng.pick([true, false, null]);
    case 5:
      return depth < 3 ? Array.from({ length: rng.int(4) }, () => value(rng, depth + 1)) : [];
    case 6:
      return depth < 3 ? { [rng.pick(FIELDS)]: value(rng, depth + 1) } : {};
    case 7:
      return rng.pick(['tap', 'tunnel', 'both', 'all', 'dynamic', 'static']);
    case 8:
      return '\u0000\ud800\uffff' + rng.bytes(8).toString('latin1');
    default:
      return rng.pick(COMMANDS);
  }
}

/** One request line: mostly a command with mutated fields, sometimes not JSON at all. */
export function requestLine(rng: Rng): string {
  const r = rng.int(20);
  if (r === 0) return rng.bytes(rng.int(200)).toString('latin1').replace(/\n/g, ' ');
  if (r === 1) return '{"cmd":"stats"'.slice(0, rng.int(15));
  if (r === 2) return '['.repeat(rng.int(2000));
  const cmds = COMMANDS.filter((c) => !SKIPPED.has(c));
  const req: Record<string, unknown> = { cmd: rng.chance(0.9) ? rng.pick(cmds) : value(rng) };
  for (let i = rng.int(5); i > 0; i--) req[rng.pick(FIELDS)] = value(rng);
  if (SKIPPED.has(String(req.cmd))) req.cmd = 'stats';
  return JSON.stringify(req);
}

/** Sends `n` requests over a few connections, each line split at random points; checks one reply per line. */
export async function fuzzControl(
  path: string,
  n: number,
  seed: number,
  say: (line: string) => void,
): Promise<ControlFuzzReport> {
  const rng = new Rng(seed ^ 0xc0ffee);
  const report: ControlFuzzReport = { requests: 0, ok: 0, refused: 0, problems: [] };
  const perConnection = 200;
  for (let sent = 0; sent < n; sent += perConnection) {
    const lines = Array.from({ length: Math.min(perConnection, n - sent) }, () => requestLine(rng));
    const text = lines.join('\n') + '\n';
    const replies = await new Promise<string[]>((resolve, reject) => {
      const c = createConnection(path);
      // Replies can be large (fdb-show on the MACs the packet fuzzing left): count newlines chunk by chunk.
      const chunks: Buffer[] = [];
      let newlines = 0;
      c.on('data', (d: Buffer) => {
        chunks.push(d);
        for (let i = d.indexOf(10); i >= 0; i = d.indexOf(10, i + 1)) newlines++;
        if (newlines >= lines.length) c.end();
      });
      c.on('close', () => resolve(Buffer.concat(chunks).toString().split('\n').filter(Boolean)));
      c.on('error', reject);
      c.on('connect', async () => {
        for (let at = 0; at < text.length;) {
          const step = 1 + rng.int(4096);
          c.write(text.slice(at, at + step));
          at += step;
          if (rng.chance(0.1)) await new Promise((r) => setTimeout(r, 1));
        }
      });
      setTimeout(() => c.destroy(), 60_000);
    });
    report.requests += lines.length;
    if (replies.length !== lines.length)
      report.problems.push(`${lines.length} requests on one connection, ${replies.length} replies`);
    for (const r of replies) {
      let reply: { ok?: boolean };
      try {
        reply = JSON.parse(r) as { ok?: boolean };
      } catch {
        report.problems.push(`a reply that is not JSON: ${r.slice(0, 80)}`);
        continue;
      }
      if (reply.ok === true) report.ok++;
      else if (reply.ok === false) report.refused++;
      else report.problems.push(`a reply without ok: ${r.slice(0, 80)}`);
    }
    say(
      `control: ${report.requests}/${n} requests, ${report.ok} ok, ${report.refused} refused, ${report.problems.length} problems`,
    );
  }
  return report;
}
