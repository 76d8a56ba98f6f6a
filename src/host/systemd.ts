// Telling systemd how the service is (sd_notify): READY=1 once every network
// forwards, STATUS= with what runs, RELOADING=1 around a reload, STOPPING=1,
// WATCHDOG=1 from the event loop (so a stuck loop is a dead service), and
// MAINPID= when an upgraded vtepd takes over (the unit allows it with
// NotifyAccess=all). Without NOTIFY_SOCKET (not under systemd) it does nothing.
import { native } from '../io/native.ts';

const STATUS_INTERVAL_MS = 30_000;

export class Systemd {
  private watchdog: ReturnType<typeof setInterval> | undefined;

  private constructor(
    private readonly socket: string,
    private readonly watchdogUs: number,
  ) {}

  /**
   * From the environment systemd gives a Type=notify service; undefined when
   * there is none. WATCHDOG_PID names the process the watchdog is for (not a
   * child that inherited the variable), unless this one takes over as the
   * main process (`takeover`: an upgrade, which then says MAINPID=).
   */
  static fromEnv(env: NodeJS.ProcessEnv = process.env, takeover = false): Systemd | undefined {
    const socket = env.NOTIFY_SOCKET;
    if (socket === undefined || socket === '') return undefined;
    const forUs = takeover || env.WATCHDOG_PID === undefined || Number(env.WATCHDOG_PID) === process.pid;
    const usec = Number(env.WATCHDOG_USEC ?? 0);
    return new Systemd(socket, Number.isFinite(usec) && usec > 0 && forUs ? usec : 0);
  }

  /** Sends one state; a failure is reported (logged by the caller), never thrown at the data path. */
  send(state: string): Error | undefined {
    try {
      native.sdNotify(this.socket, state);
      return undefined;
    } catch (e) {
      return e as Error;
    }
  }

  /** READY=1 with a status line; a successor first says that it is the main process now. */
  ready(status: string, takeover = false): Error | undefined {
    return this.send(`${takeover ? `MAINPID=${process.pid}\n` : ''}READY=1\nSTATUS=${status}`);
  }

  reloading(): Error | undefined {
    // MONOTONIC_USEC lets systemd tell this reload from an earlier one (Type=notify-reload requires it).
    return this.send(`RELOADING=1\nMONOTONIC_USEC=${(process.hrtime.bigint() / 1000n).toString()}`);
  }

  stopping(): Error | undefined {
    return this.send('STOPPING=1');
  }

  /**
   * From the event loop: WATCHDOG=1 at half the interval systemd asked for,
   * with STATUS= refreshed by `status`; without a watchdog, STATUS= alone
   * every STATUS_INTERVAL_MS (MACs come and go).
   */
  startWatchdog(status: () => string): void {
    if (this.watchdog !== undefined) return;
    this.watchdog =
      this.watchdogUs > 0
        ? setInterval(() => this.send(`WATCHDOG=1\nSTATUS=${status()}`), Math.max(100, this.watchdogUs / 2000))
        : setInterval(() => this.send(`STATUS=${status()}`), STATUS_INTERVAL_MS);
    this.watchdog.unref();
  }

  stopWatchdog(): void {
    if (this.watchdog !== undefined) clearInterval(this.watchdog);
    this.watchdog = undefined;
  }
}
