// Whether busy polling pays, decided stretch by stretch. Spinning on the
// data path's descriptors after traffic saves the wake-up of an idle vCPU per
// packet, but only while the core it burns is one nobody else wants: two
// daemons on one host, or a host with other work, make each spinning thread
// wait for a CPU that the other spins on, and every packet then costs more
// than the wake-up it saved. Two signals say so, and either stops spinning for
// a while (doubling while it lasts):
//   - the run-queue wait of this thread (/proc/self/schedstat, the time it was
//     ready but not running) grew during the stretch by more than a share of
//     it: something else needed this CPU;
//   - stretches in a row found no packet: nothing to catch by spinning.
// A stretch that pays (a packet caught, no wait) ends the back-off at once.
import { closeSync, openSync, readSync } from 'node:fs';

/** Run-queue wait above this share of a stretch means the CPU was wanted elsewhere. */
const CONTENDED_SHARE = 0.1;
/** ...and above this much in all (ms): a timer tick's worth is noise. */
const CONTENDED_MIN_MS = 0.05;
/** Stretches in a row that catch nothing before polling pauses. */
const WASTED_LIMIT = 3;
/** The first pause, and the longest (ms). */
const BACKOFF_MIN_MS = 10;
const BACKOFF_MAX_MS = 1000;

export class BusyPollGovernor {
  private wasted = 0;
  private backoffMs = 0;
  private pausedUntil = 0;
  private startedAt = 0;
  private waitAtStart = 0;
  private caught = 0;
  /** Stretches that paused polling, by cause (for `stats`-like reports and tests). */
  readonly pauses = { contended: 0, idle: 0 };

  /** `wait`: this thread's run-queue wait so far, in ms (tests give their own). */
  constructor(private readonly wait: RunQueueWait = new SchedStat()) {}

  /** Whether a stretch of polling may start at `now` (performance.now() ms). */
  allowed(now: number): boolean {
    return now >= this.pausedUntil;
  }

  begin(now: number): void {
    this.startedAt = now;
    this.waitAtStart = this.wait.ms();
    this.caught = 0;
  }

  /** A descriptor turned readable while polling: the stretch paid for itself so far. */
  caughtOne(): void {
    this.caught++;
  }

  /** The stretch is over (quiet for the busy-poll time); decides whether the next may start at once. */
  end(now: number): void {
    const waited = this.wait.ms() - this.waitAtStart;
    const ran = now - this.startedAt;
    const contended = waited > CONTENDED_MIN_MS && waited > ran * CONTENDED_SHARE;
    if (!contended && this.caught > 0) {
      this.wasted = 0;
      this.backoffMs = 0;
      return;
    }
    if (!contended && ++this.wasted < WASTED_LIMIT) return;
    this.pauses[contended ? 'contended' : 'idle']++;
    this.wasted = 0;
    this.backoffMs = Math.min(BACKOFF_MAX_MS, this.backoffMs === 0 ? BACKOFF_MIN_MS : this.backoffMs * 2);
    this.pausedUntil = now + this.backoffMs;
  }

  close(): void {
    this.wait.close();
  }
}

export interface RunQueueWait {
  /** Time spent ready to run but waiting for a CPU so far, in ms (0 if unknown). */
  ms(): number;
  close(): void;
}

/** The main thread's run-queue wait from /proc/self/schedstat (its second field, in ns), read with one pread. */
class SchedStat implements RunQueueWait {
  private fd = -1;
  private readonly buf = Buffer.alloc(96);

  constructor() {
    try {
      this.fd = openSync('/proc/self/schedstat', 'r');
    } catch {
      // No scheduler statistics: only stretches that catch nothing pause polling.
    }
  }

  close(): void {
    if (this.fd >= 0) closeSync(this.fd);
    this.fd = -1;
  }

  ms(): number {
    if (this.fd < 0) return 0;
    try {
      const n = readSync(this.fd, this.buf, 0, this.buf.length, 0);
      const text = this.buf.toString('latin1', 0, n);
      const first = text.indexOf(' ');
      const second = text.indexOf(' ', first + 1);
      return Number(text.slice(first + 1, second)) / 1e6;
    } catch {
      return 0;
    }
  }
}
