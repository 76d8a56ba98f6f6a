// The kernel's next hops toward tunnel destinations, for senders that write
// their own Ethernet header (packet-sender.ts). One route watch per daemon: a
// netlink socket told of every change to links, addresses, routes and
// neighbours; each change tells every subscriber to look its next hops up
// again. A burst of changes (an ARP exchange is several) is answered once,
// and an answer serves every network that sends to that address until the
// next change.
import { native, type NativeNextHop, type Watcher } from './native.ts';

/** A burst of netlink events is answered once, this long after its first. */
const SETTLE_MS = 5;

export class NextHops {
  private fd = -1;
  private watcher: Watcher | undefined;
  private readonly listeners = new Set<() => void>();
  private timer: NodeJS.Timeout | undefined;
  /** Answers since the last change, by address. */
  private readonly known = new Map<string, NativeNextHop>();

  constructor(private readonly local: Uint8Array) {}

  /** What the kernel would send `dst` through, from our local address. */
  lookup(dst: Uint8Array): NativeNextHop {
    const key = Buffer.from(dst.buffer, dst.byteOffset, 16).toString('hex');
    let hop = this.known.get(key);
    if (hop === undefined) this.known.set(key, (hop = native.nextHop(dst, this.local)));
    return hop;
  }

  /** Calls `onChange` after the kernel's tables change; returns the way to stop. */
  subscribe(onChange: () => void): () => void {
    if (this.fd < 0) {
      this.fd = native.routeWatchOpen();
      this.watcher = new native.Watcher(this.fd, () => this.changed());
      this.watcher.start();
    }
    this.listeners.add(onChange);
    return () => {
      this.listeners.delete(onChange);
      if (this.listeners.size === 0) this.close();
    };
  }

  close(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.known.clear();
    this.watcher?.close();
    this.watcher = undefined;
    if (this.fd >= 0) native.close(this.fd);
    this.fd = -1;
  }

  private changed(): void {
    native.routeWatchDrain(this.fd);
    this.known.clear();
    this.timer ??= setTimeout(() => {
      this.timer = undefined;
      for (const f of this.listeners) f();
    }, SETTLE_MS);
  }
}
