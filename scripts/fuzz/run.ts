// The fuzzing run behind `npm run fuzz` and its bounded test: a lab in which
// h1 runs vtepd with a VXLAN network (blue), a GRE one (green) and a Geneve
// one (red), all with h2 as their remote; generated packets on every ingress
// (VXLAN socket, GRE raw socket, TAP, Geneve socket, control socket), batch after batch. After each batch the
// daemon must be alive, forward a probe (a ping over blue), and account for
// every packet: what reached its sockets is delivered or dropped by a named
// reason, and what reached a TAP (or a tunnel) is what the oracle says.
// (Over 400 lines: the run's lab, its batches and the accounting after each.)
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { request } from '../../src/control/client.ts';
import type { StatsReport } from '../../src/control/protocol.ts';
import { blueConfig, kernelMac, kernelPeers, Lab, overlay, ROOT, sleep, type DaemonProcess } from '../lab/lab.ts';
import { fuzzControl, type ControlFuzzReport } from './control.ts';
import type { FuzzNetworks } from './oracle.ts';

export type Ingress = 'vxlan' | 'gre' | 'tap' | 'geneve';
export const INGRESSES: readonly Ingress[] = ['vxlan', 'gre', 'tap', 'geneve'];

export interface FuzzOptions {
  /** Packets per ingress. */
  packets: number;
  batch: number;
  /** Packets per second each sender keeps to (so that no socket buffer overflows). */
  pps: number;
  seed: number;
  ingresses: readonly Ingress[];
  controlRequests: number;
  /** Extra vtepd arguments (--no-offload). */
  vtepdArgs: string[];
  /** Environment of the daemon (an AddressSanitizer build). */
  daemonEnv?: Record<string, string>;
  progress?: (line: string) => void;
  /** Told each mismatch as it is found (the report keeps only counts in view until the end). */
  note?: (line: string) => void;
}

export interface IngressReport {
  ingress: Ingress;
  sent: number;
  /** Sends the kernel refused at the sender (an oversized frame for AF_PACKET): never sent. */
  refused: number;
  /** Dropped by the receiving kernel before vtepd could read them (socket or TAP queue full). */
  kernelDropped: number;
  /** Batches whose delivery the oracle could not check (the kernel dropped some of it, which ones unknown). */
  unchecked: number;
  /** What the oracle says must reach the TAP (tunnels) or the tunnel (TAP), and what did. */
  expected: number;
  delivered: number;
  /** Drops by reason over the phase, the daemon's unattributed ones included. */
  dropped: Record<string, number>;
  /** Packets that reached vtepd and are neither delivered nor dropped by a reason: must be 0. */
  unaccounted: number;
  mismatches: string[];
  probesFailed: number;
  seconds: number;
}

export interface FuzzReport {
  ingresses: IngressReport[];
  control?: ControlFuzzReport;
  /** The daemon exited (crashed) during the run. */
  crashed: boolean;
  /** Lines of AddressSanitizer / UBSan reports in the daemon's output. */
  sanitizer: string[];
  log: string;
}

const SETTLE_MS = 5000;

function sumDrops(d: Record<string, number>): number {
  return Object.values(d).reduce((a, b) => a + b, 0);
}

function diff(a: Record<string, number>, b: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const k of Object.keys(b)) if (b[k] - (a[k] ?? 0) !== 0) out[k] = b[k] - (a[k] ?? 0);
  return out;
}

function add(into: Record<string, number>, d: Record<string, number>): void {
  for (const [k, v] of Object.entries(d)) into[k] = (into[k] ?? 0) + v;
}

/** A sender process in a namespace, driven one batch at a time. */
class Sender {
  private readonly lines: AsyncIterator<string>;

  constructor(private readonly proc: ChildProcessWithoutNullStreams) {
    this.lines = createInterface({ input: proc.stdout })[Symbol.asyncIterator]();
    proc.stderr.on('data', (d: Buffer) => process.stderr.write(`sender: ${d.toString()}`));
  }

  async ask<T>(cmd: object): Promise<T> {
    this.proc.stdin.write(JSON.stringify(cmd) + '\n');
    const next = await this.lines.next();
    if (next.done) throw new Error('the fuzz sender exited');
    return JSON.parse(next.value) as T;
  }

  stop(): void {
    this.proc.kill('SIGKILL');
  }
}

/** Counters of the receiving kernel that drop before vtepd reads: per ingress. */
async function kernelDrops(lab: Lab, ingress: Ingress): Promise<number> {
  if (ingress === 'vxlan' || ingress === 'geneve') {
    // A full receive buffer (nothing is fragmented: see fuzzConfig).
    const snmp = (await lab.exec(1, 'cat', ['/proc/net/snmp'])).stdout.split('\n');
    const field = (proto: string, name: string) => {
      const [names, values] = snmp.filter((l) => l.startsWith(`${proto}:`)).map((l) => l.split(/\s+/).slice(1));
      return Number(values[names.indexOf(name)]);
    };
    return field('Udp', 'RcvbufErrors');
  }
  if (ingress === 'gre') {
    // /proc/net/raw: the last column of each socket is its drop count; protocol 47 is ours (the sender's is in h2).
    return (await lab.exec(1, 'cat', ['/proc/net/raw'])).stdout
      .split('\n')
      .slice(1)
      .filter((l) => / 47 /.test(l) || /:002F /i.test(l))
      .reduce((n, l) => n + Number(l.trim().split(/\s+/).at(-1)), 0);
  }
  return Number((await lab.exec(1, 'cat', ['/sys/class/net/tap-blue/statistics/tx_dropped'])).stdout.trim());
}

/**
 * Blue (VXLAN) and green (GRE), both to h2, learning as many MACs as the fuzz
 * makes. Their TAPs keep the MTU a 1500-byte underlay gives, while the lab's
 * underlay carries jumbo frames: tunnel packets up to MTU+100 then cross
 * unfragmented, since a fragment the receiving kernel loses would only be
 * counted (ReasmFails) when its reassembly times out, 30 s and many batches
 * later, and the books of a batch could not be kept exactly.
 */
const TAP_MTU = 1450;
/** Red, the Geneve network, knows OVN's option (class 0x0102, type 0x80): critical, and accepted. */
const GENEVE_VNI = 5001;
const UNDERLAY_MTU = 9000;
function fuzzConfig(lab: Lab): string {
  return blueConfig(
    lab,
    `    max-macs: 1000000
    mtu: ${TAP_MTU}
  green:
    tap: tap-green
    address: ${overlay(1, 101)}/24
    gre: { key: 77 }
    remotes: [${lab.underlay(2)}]
    max-macs: 1000000
    mtu: ${TAP_MTU}
  red:
    tap: tap-red
    address: ${overlay(1, 102)}/24
    geneve: { vni: ${GENEVE_VNI}, options: [ { class: 0x0102, type: 0x80, data: "00010002" } ] }
    remotes: [${lab.underlay(2)}]
    max-macs: 1000000
    mtu: ${TAP_MTU}
`,
    [2],
  );
}

/** Runs the whole fuzzing session in a fresh lab; the lab is gone when it returns. */
export async function runFuzz(o: FuzzOptions): Promise<FuzzReport> {
  const say = o.progress ?? (() => {});
  const lab = await Lab.create(2);
  let daemon: DaemonProcess | undefined;
  const senders: Sender[] = [];
  const report: FuzzReport = { ingresses: [], crashed: false, sanitizer: [], log: '' };
  try {
    await lab.setUnderlayMtu(UNDERLAY_MTU);
    await kernelPeers(lab, [2]);
    const saved = process.env.VTEPD_TEST_ARGS;
    process.env.VTEPD_TEST_ARGS = o.vtepdArgs.join(' ');
    try {
      daemon = await withEnv(o.daemonEnv ?? {}, () => lab.startDaemon(1, fuzzConfig(lab)));
    } finally {
      process.env.VTEPD_TEST_ARGS = saved;
    }
    if (o.daemonEnv?.VTEPD_NATIVE !== undefined) {
      // A sanitizer run that silently ran the regular build would prove nothing.
      const maps = readFileSync(`/proc/${daemon.pid}/maps`, 'utf8');
      if (!maps.includes(o.daemonEnv.VTEPD_NATIVE) || !/libasan/.test(maps))
        throw new Error('the daemon does not run the sanitized addon under AddressSanitizer');
    }
    const tapMac = (await lab.exec(1, 'cat', ['/sys/class/net/tap-blue/address'])).stdout.trim();
    // The probe's neighbours are known for good: the fuzz traffic must not be the reason a probe fails.
    await lab.exec(1, 'ip', [
      'neigh',
      'replace',
      overlay(2),
      'lladdr',
      kernelMac(2),
      'dev',
      'tap-blue',
      'nud',
      'permanent',
    ]);
    await lab.exec(2, 'ip', ['neigh', 'replace', overlay(1), 'lladdr', tapMac, 'dev', 'vx0', 'nud', 'permanent']);
    const mtu = (dev: string) => lab.exec(1, 'cat', [`/sys/class/net/${dev}/mtu`]).then((r) => Number(r.stdout.trim()));
    const nets: FuzzNetworks & { tapMtu: number; maxMacs: number } = {
      vni: 42,
      greKey: 77,
      geneveVni: GENEVE_VNI,
      geneveKnown: ['010280'],
      vxlanMaxFrame: (await mtu('tap-blue')) + 18,
      greMaxFrame: (await mtu('tap-green')) + 18,
      geneveMaxFrame: (await mtu('tap-red')) + 18,
      tapMtu: await mtu('tap-blue'),
      maxMacs: 1_000_000,
    };
    const ask = () => request<StatsReport>(lab.socket(1), { cmd: 'stats' });
    const probe = async () => (await lab.exec(1, 'ping', ['-c', '1', '-W', '2', overlay(2)])).code === 0;
    if (!(await probe())) throw new Error('the probe fails before any fuzzing: the lab is broken');

    for (const ingress of o.ingresses) {
      const ns = ingress === 'tap' ? 1 : 2;
      const args = [
        join(ROOT, 'scripts/fuzz/sender.ts'),
        ingress,
        '--from',
        lab.underlay(2),
        '--to',
        lab.underlay(1),
        '--dev',
        'tap-blue',
        '--networks',
        JSON.stringify(nets),
        '--pps',
        String(o.pps),
        '--macs',
        `${tapMac},${kernelMac(2)}`,
        '--tap-mac',
        tapMac,
      ];
      const proc = spawn('ip', ['netns', 'exec', lab.ns(ns), process.execPath, '--import', 'tsx', ...args], {
        cwd: ROOT,
        stdio: ['pipe', 'pipe', 'pipe'],
      });
      const sender = new Sender(proc);
      senders.push(sender);
      // Learned MACs from the last phase would make this one's unicast decisions differ from the oracle's fresh start.
      await request(lab.socket(1), { cmd: 'fdb-flush', which: 'dynamic' });
      // The hosts speak once, so that the TAP's MAC is known local again and h2's known remote, as the oracle assumes.
      await probe();
      const r: IngressReport = {
        ingress,
        sent: 0,
        refused: 0,
        kernelDropped: 0,
        unchecked: 0,
        expected: 0,
        delivered: 0,
        dropped: {},
        unaccounted: 0,
        mismatches: [],
        probesFailed: 0,
        seconds: 0,
      };
      for (let done = 0, b = 0; done < o.packets; done += o.batch, b++) {
        const count = Math.min(o.batch, o.packets - done);
        const before = await ask();
        const k0 = await kernelDrops(lab, ingress);
        const seed = o.seed * 1_000_003 + INGRESSES.indexOf(ingress) * 10_007 + b;
        const res = await sender.ask<{ sent: number; failed: number; expected: number; seconds: number }>({
          seed,
          count,
        });
        r.sent += res.sent;
        r.refused += res.failed;
        r.seconds += res.seconds;
        r.expected += res.expected;
        // Wait for the daemon to have seen all of it, then check its books.
        let check: ReturnType<typeof account> | undefined;
        const t0 = Date.now();
        for (;;) {
          const after = await ask();
          const kd = (await kernelDrops(lab, ingress)) - k0;
          // What the kernel dropped before vtepd read it is not known one by one: the oracle's count is exact only without such drops.
          check = account(ingress, before, after, res.sent - kd, res.expected, kd === 0);
          if (check.complete || Date.now() - t0 > SETTLE_MS) {
            r.kernelDropped += kd;
            if (kd > 0) r.unchecked++;
            if (kd > 0 && ingress === 'tap') {
              // The oracle learned the sources of frames the TAP queue dropped and vtepd never saw:
              // from here on both would disagree about which MACs are local. Both forget.
              await request(lab.socket(1), { cmd: 'fdb-flush', which: 'dynamic' });
              await sender.ask({ forget: true });
              await probe();
            }
            break;
          }
          await sleep(50);
        }
        r.delivered += check.delivered;
        r.unaccounted += check.unaccounted;
        add(r.dropped, check.dropped);
        if (check.problem !== undefined) {
          r.mismatches.push(`batch ${b} (seed ${seed}): ${check.problem}`);
          o.note?.(`${ingress}: ${r.mismatches.at(-1)}`);
        }
        if (daemon.proc.exitCode !== null || daemon.proc.signalCode !== null) {
          report.crashed = true;
          throw new Error(`vtepd exited during ${ingress} batch ${b} (seed ${seed})`);
        }
        if (!(await probe())) {
          r.probesFailed++;
          const s = await ask();
          r.mismatches.push(
            `batch ${b} (seed ${seed}): the probe failed; blue's drops now ${JSON.stringify(diff(before.networks.blue.drops, s.networks.blue.drops))}`,
          );
        }
        say(
          `${ingress}: ${done + count}/${o.packets} sent, ${r.delivered} delivered, ${r.unaccounted} unaccounted, ${r.mismatches.length} mismatches`,
        );
      }
      sender.stop();
      report.ingresses.push(r);
    }
    if (o.controlRequests > 0) {
      report.control = await fuzzControl(lab.socket(1), o.controlRequests, o.seed, say);
      if (!(await probe())) report.control.problems.push('the probe failed after the control fuzzing');
    }
    if (daemon.proc.exitCode !== null) report.crashed = true;
  } finally {
    for (const s of senders) s.stop();
    if (daemon !== undefined) {
      report.log = daemon.log;
      report.sanitizer = daemon.log
        .split('\n')
        .filter((l) => /AddressSanitizer|LeakSanitizer|runtime error:|UndefinedBehaviorSanitizer/.test(l));
    }
    await lab.destroy();
  }
  return report;
}

/**
 * The books of one batch. Tunnels: every packet that reached the socket is an
 * unattributed drop, an unknown-remote drop, or accepted (tunnel-rx), and
 * every accepted one is written to the TAP or dropped by reason; the TAP got
 * what the oracle says. TAP: every frame read is dropped by reason or makes
 * one tunnel packet (one remote), as many as the oracle says.
 */
function account(
  ingress: Ingress,
  a: StatsReport,
  b: StatsReport,
  arrived: number,
  expected: number,
  exact: boolean,
): { complete: boolean; delivered: number; unaccounted: number; dropped: Record<string, number>; problem?: string } {
  const net = ingress === 'gre' ? 'green' : ingress === 'geneve' ? 'red' : 'blue';
  const na = a.networks[net];
  const nb = b.networks[net];
  const c = (k: string) => nb.counters[k] - na.counters[k];
  const netDrops = diff(na.drops, nb.drops);
  const unattributed = diff(a.drops, b.drops);
  const dropped: Record<string, number> = {};
  add(dropped, netDrops);
  add(dropped, unattributed);
  if (ingress === 'tap') {
    const read = c('tap-rx-frames');
    const forwarded = c('tunnel-tx-packets');
    const tapDrops = sumDrops(netDrops) - (netDrops['tx-failed'] ?? 0); // tx-failed ones were counted as sent too
    const unaccounted = read - tapDrops - forwarded;
    const complete = read >= arrived && unaccounted === 0;
    const problems = [
      read !== arrived ? `the TAP handed over ${arrived} frames, vtepd read ${read}` : '',
      unaccounted !== 0 ? `${unaccounted} frames read from the TAP neither forwarded nor dropped by a reason` : '',
      forwarded !== expected && exact ? `${forwarded} tunnel packets, the oracle expects ${expected}` : '',
    ].filter(Boolean);
    return {
      complete: complete && (forwarded === expected || !exact),
      delivered: forwarded,
      unaccounted,
      dropped,
      problem: problems.join('; ') || undefined,
    };
  }
  const accepted = c('tunnel-rx-packets');
  const preAccept = sumDrops(unattributed) + (netDrops['unknown-remote'] ?? 0);
  const written = c('tap-tx-frames');
  const postAccept = sumDrops(netDrops) - (netDrops['unknown-remote'] ?? 0);
  const unaccounted = arrived - preAccept - accepted + (accepted - written - postAccept);
  const complete = preAccept + accepted === arrived && written + postAccept === accepted;
  const delivered = written + (netDrops['tx-failed'] ?? 0);
  const problems = [
    preAccept + accepted !== arrived
      ? `${arrived} packets reached the socket, ${preAccept} dropped before a network took them and ${accepted} accepted`
      : '',
    written + postAccept !== accepted
      ? `${accepted} accepted, ${written} written to the TAP and ${postAccept} dropped after`
      : '',
    delivered !== expected && exact ? `${delivered} for the TAP, the oracle expects ${expected}` : '',
  ].filter(Boolean);
  return {
    complete: complete && (delivered === expected || !exact),
    delivered,
    unaccounted,
    dropped,
    problem: problems.join('; ') || undefined,
  };
}

async function withEnv<T>(env: Record<string, string>, fn: () => Promise<T>): Promise<T> {
  const old: Record<string, string | undefined> = {};
  for (const [k, v] of Object.entries(env)) {
    old[k] = process.env[k];
    process.env[k] = v;
  }
  try {
    return await fn();
  } finally {
    for (const [k, v] of Object.entries(old)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
}

/** Resident memory of a process, in MB (the flood and the soak watch it). */
export function rssMb(pid: number): number {
  return Number(/^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024;
}
