// What the daemon asks of the host, and the one way it says why that failed:
// a StartupError is a reason the user can fix (vtepd exits 2, nothing was
// changed); anything else is a fault.
import { existsSync } from 'node:fs';
import { NameLock } from '../io/channel.ts';
import { errnoCode } from '../io/native.ts';

/** A reason not to start that the user can fix; vtepd exits 2 and nothing was changed. */
export class StartupError extends Error {}

/** Whether a command is on the PATH. */
export function onPath(command: string): boolean {
  return (process.env.PATH ?? '').split(':').some((dir) => dir !== '' && existsSync(`${dir}/${command}`));
}

/** Opens a descriptor, turning the errno users can fix into a StartupError naming `what`. */
export function openOrExplain<T>(fn: () => T, what: string): T {
  try {
    return fn();
  } catch (e) {
    const code = errnoCode(e);
    if (code === 'EADDRINUSE')
      throw new StartupError(`${what} is in use by another program (a kernel VXLAN device or another vtepd?)`);
    if (code === 'EBUSY') throw new StartupError(`${what} is busy: another program has it open`);
    if (code === 'EACCES' && what.startsWith('TAP') && process.getuid!() !== 0) {
      throw new StartupError(
        `${what}: permission denied opening /dev/net/tun: a vtepd that is not root needs it readable and ` +
          `writable by all (mode 0666, udev's default: chmod 0666 /dev/net/tun)`,
      );
    }
    if (code === 'EPERM' || code === 'EACCES') throw new StartupError(`${what}: permission denied; run it as root`);
    if (code === 'EINVAL' && what.startsWith('TAP'))
      throw new StartupError(
        `${what}: the existing device has other flags (multi-queue or vnet header?); delete it or choose another name`,
      );
    throw e;
  }
}

/** Takes an abstract socket name that only one process may hold; `taken` says what to do when another has it. */
export function takeName(name: string, taken: string): NameLock {
  try {
    return NameLock.take(name);
  } catch (e) {
    if (errnoCode(e) === 'EADDRINUSE') throw new StartupError(taken);
    throw e;
  }
}
