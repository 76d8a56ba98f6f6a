// With `user:`, vtepd cannot remove its own control socket when it exits: the
// socket lives in a directory only root may write (/run, a root-owned 0755
// directory), and the user it became has no CAP_DAC_OVERRIDE. Left behind, the
// file makes vtepctl say "stale socket" and a package removal leave a socket.
//
// The janitor is a shell started as root before privileges go, holding one end
// of a socket pair on its standard input. When every process holding the other
// end has exited (vtepd, and after an upgrade its successor, which is handed
// that end), its read ends and it removes the socket, if it is still the very
// socket vtepd created (same device and inode: a vtepd started since keeps its
// own). It ignores the signals a terminal or systemd sends the whole group, so
// it outlives vtepd by the moment it needs, and never longer.
import { spawn } from 'node:child_process';
import { lstatSync } from 'node:fs';
import { native } from '../io/native.ts';

/** What the janitor runs: $1 the socket, $2 its device:inode. "k" on its input means keep the socket. */
const SCRIPT = [
  "trap '' INT TERM HUP QUIT",
  'IFS= read -r word',
  '[ "$word" = k ] && exit 0',
  '[ -S "$1" ] && [ ! -L "$1" ] && [ "$(stat -c %d:%i -- "$1")" = "$2" ] && rm -f -- "$1"',
  'exit 0',
].join('\n');

export class SocketJanitor {
  private constructor(private fd: number) {}

  /** Starts the janitor for the socket at `path` (call it while still root). */
  static start(path: string): SocketJanitor {
    const st = lstatSync(path, { bigint: true });
    const [ours, its] = native.channelOpen();
    try {
      const child = spawn('/bin/sh', ['-c', SCRIPT, 'vtepd-socket-janitor', path, `${st.dev}:${st.ino}`], {
        stdio: [its, 'ignore', 'ignore'],
        // Its own process group: Ctrl-C in vtepd's terminal does not reach it.
        detached: true,
      });
      child.on('error', () => {
        // No shell: the socket stays behind, as it would without a janitor; the next vtepd removes it.
      });
      child.unref();
    } finally {
      native.close(its);
    }
    return new SocketJanitor(ours);
  }

  /** The end a predecessor held, passed on at an upgrade. */
  static adopt(fd: number): SocketJanitor {
    return new SocketJanitor(fd);
  }

  /** The end to pass to a successor (it keeps the janitor waiting while it runs). */
  get descriptor(): number {
    return this.fd;
  }

  /** Tells the janitor to leave the socket where it is (a successor that cannot hold it uses it). */
  keep(): void {
    if (this.fd < 0) return;
    native.sendMessage(this.fd, Buffer.from('k'), undefined, 1000);
    this.release();
  }

  /** Lets the janitor go now: it removes the socket unless a successor still holds the other end. */
  release(): void {
    if (this.fd >= 0) native.close(this.fd);
    this.fd = -1;
  }
}
