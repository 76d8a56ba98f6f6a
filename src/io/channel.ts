// What outlives one process: a name only one daemon may hold (two daemons on
// one host must not both take a tunnel's packets: a raw GRE socket gets a copy
// of every GRE packet, so the kernel refuses nothing), and the channel over
// which a running daemon hands its descriptors and state to its successor.
import { native } from './native.ts';

/** A held name; released when closed or when the process ends (never stale). */
export class NameLock {
  private constructor(private fd: number) {}

  /** Takes `name`; throws with code EADDRINUSE if another process holds it. */
  static take(name: string): NameLock {
    return new NameLock(native.lockOpen(name));
  }

  /** A lock a predecessor held, passed on with its descriptor. */
  static adopt(fd: number): NameLock {
    return new NameLock(fd);
  }

  get descriptor(): number {
    return this.fd;
  }

  release(): void {
    if (this.fd >= 0) native.close(this.fd);
    this.fd = -1;
  }
}

/** Bytes of JSON per message: well under what a socket buffer holds. */
const CHUNK_BYTES = 60_000;
/** Descriptors per message (the kernel takes at most 253). */
const FDS_PER_MESSAGE = 250;

/** What one side sent: a JSON value and the descriptors that came with it (now ours, close-on-exec). */
export interface Received {
  value: unknown;
  fds: number[];
}

/**
 * One end of a SOCK_SEQPACKET pair between a daemon and its successor. A
 * value goes as a header message (its length and descriptor count), then
 * chunks of JSON carrying the descriptors along, in order.
 */
export class Channel {
  private watcher: ReturnType<typeof newWatcher> | undefined;

  constructor(readonly fd: number) {}

  static pair(): [Channel, Channel] {
    const [a, b] = native.channelOpen();
    return [new Channel(a), new Channel(b)];
  }

  /** Sends `value` and `fds`; waits at most `timeoutMs` for room at each message. Throws if the other side is gone. */
  send(value: unknown, fds: readonly number[] = [], timeoutMs = 10_000): void {
    const data = Buffer.from(JSON.stringify(value));
    this.message(Buffer.from(JSON.stringify({ bytes: data.length, fds: fds.length })), [], timeoutMs);
    const chunks = Math.max(Math.ceil(data.length / CHUNK_BYTES), Math.ceil(fds.length / FDS_PER_MESSAGE), 1);
    for (let i = 0; i < chunks; i++) {
      const part = data.subarray(i * CHUNK_BYTES, (i + 1) * CHUNK_BYTES);
      // A message has at least one byte: a chunk past the data's end carries a space (JSON ignores it).
      this.message(
        part.length > 0 ? part : Buffer.from(' '),
        fds.slice(i * FDS_PER_MESSAGE, (i + 1) * FDS_PER_MESSAGE),
        timeoutMs,
      );
    }
  }

  private message(data: Buffer, fds: readonly number[], timeoutMs: number): void {
    const r = native.sendMessage(this.fd, data, fds.length > 0 ? Int32Array.from(fds) : undefined, timeoutMs);
    if (r < 0) throw new Error(`the handoff channel failed to send (errno ${-r}): the other side is gone or stalled`);
  }

  /**
   * Receives one value, waiting at most `timeoutMs` for each message. Throws on timeout or when the other side
   * closed.
   */
  receive(timeoutMs = 10_000): Received {
    const header = this.next(timeoutMs);
    const { bytes, fds: count } = JSON.parse(header.data.toString()) as { bytes: number; fds: number };
    const parts: Buffer[] = [];
    const fds: number[] = [...header.fds];
    let got = 0;
    while (got < bytes || fds.length < count) {
      const m = this.next(timeoutMs);
      if (got < bytes) parts.push(m.data);
      got += m.data.length;
      fds.push(...m.fds);
    }
    return { value: JSON.parse(Buffer.concat(parts).toString()), fds };
  }

  private next(timeoutMs: number): { data: Buffer; fds: number[] } {
    const m = native.recvMessage(this.fd, CHUNK_BYTES + 1024, timeoutMs);
    if (typeof m === 'number')
      throw new Error(
        m === -11
          ? `the handoff channel: nothing came within ${timeoutMs} ms`
          : `the handoff channel failed (errno ${-m})`,
      );
    if (m.data.length === 0) throw new Error('the handoff channel was closed by the other side');
    return m;
  }

  /** Calls `fn` (once) when there is something to receive or the other side closed, without blocking the event loop. */
  whenReadable(fn: () => void): void {
    this.stopWatching();
    const w = (this.watcher = newWatcher(this.fd, () => {
      this.stopWatching();
      fn();
    }));
    w.start();
  }

  private stopWatching(): void {
    this.watcher?.close();
    this.watcher = undefined;
  }

  close(): void {
    this.stopWatching();
    native.close(this.fd);
  }
}

function newWatcher(fd: number, fn: () => void) {
  return new native.Watcher(fd, fn);
}
