// The log of changes made through the control socket. A controller may
// program a million entries: one info line each would fill the disk (69 MB
// for a million `fdb add`). Each change is logged at debug; at info, the
// first change of a quiet second is logged as it is, and what follows within
// the second is summed up in one line, counted per request.
import type { Logger, LogFields } from '../observe/log.ts';

const WINDOW_MS = 1000;

export class ChangeLog {
  /** When the last line at info was written (performance.now()). */
  private last = -Infinity;
  /** Changes since then, not yet told at info, per request. */
  private readonly held = new Map<string, number>();
  private timer: ReturnType<typeof setTimeout> | undefined;

  constructor(
    private readonly log: Logger,
    private readonly clock: () => number = () => performance.now(),
  ) {}

  /** A change made by request `cmd`, and its line. */
  note(cmd: string, msg: string, fields?: LogFields): void {
    const t = this.clock();
    if (this.held.size === 0 && t - this.last >= WINDOW_MS) {
      this.last = t;
      this.log.info(msg, fields);
      return;
    }
    this.log.debug(msg, fields);
    this.held.set(cmd, (this.held.get(cmd) ?? 0) + 1);
    this.timer ??= setTimeout(() => this.flush(), Math.max(0, this.last + WINDOW_MS - t));
    this.timer.unref?.();
  }

  /** Writes the summary of the changes held, if any. */
  flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.held.size === 0) return;
    let total = 0;
    for (const n of this.held.values()) total += n;
    const each = [...this.held].map(([cmd, n]) => `${cmd.replace(/-(\w+)$/, ' $1')} ${n}`).join(', ');
    this.held.clear();
    this.last = this.clock();
    this.log.info(
      `control: ${total} more change${total === 1 ? '' : 's'} within a second (${each}); each is logged at debug`,
    );
  }
}
