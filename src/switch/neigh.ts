// The neighbour table of one network: IPv4 and IPv6 addresses of hosts on the
// overlay and their MACs, which the ARP/ND responder answers from (as
// Neutron's ARP responder and the kernel VXLAN device's `proxy` do).
//
// Entries come from the config, from vtepctl, from EVPN routes, or are
// snooped: from ARP and unsolicited NA that arrive from tunnels (`snooped`),
// or from what the hosts behind the TAP say of themselves (`local`: what an
// EVPN network advertises with their MACs), or what a network's gateway
// learned routing to them (`resolved`). Snooped entries age like learned
// MACs and never replace an entry that was given (config, vtepctl, evpn);
// given ones never age. A hostile sender cannot grow the table without
// bound: snooped entries stop at the network's MAC limit.
import { formatIp, ipv4Of, isV4Mapped } from '../wire/ip-address.ts';
import type { Mac } from '../wire/mac.ts';

export type NeighOrigin = 'config' | 'vtepctl' | 'evpn' | 'snooped' | 'local' | 'resolved';

/**
 * Origins of entries that traffic made, and that age: snooped, what hosts
 * behind the TAP claim, what the router resolved.
 */
export type SnoopedOrigin = 'snooped' | 'local' | 'resolved';

function isSnooped(origin: NeighOrigin): origin is SnoopedOrigin {
  return origin === 'snooped' || origin === 'local' || origin === 'resolved';
}

export interface NeighEntry {
  /** Canonical text of the address. */
  ip: string;
  mac: Mac;
  origin: NeighOrigin;
  /** Monotonic seconds when last set or snooped. */
  seen: number;
}

/** What snooping an address did. */
export type Snooped = 'new' | 'moved' | 'same' | 'kept' | 'refused';

function key6(b: Uint8Array, off: number): string {
  return Buffer.from(b.buffer, b.byteOffset + off, 16).toString('hex');
}

export class NeighTable {
  private readonly v4 = new Map<number, NeighEntry>();
  private readonly v6 = new Map<string, NeighEntry>();
  private snooped = 0;
  /** Events of snooping since the start: entries learned, moved to another MAC, aged out, refused (the table full). */
  readonly events = { learned: 0, moved: 0, aged: 0, refused: 0 };

  constructor(private readonly maxSnooped: number) {}

  lookup4(addr: number): NeighEntry | undefined {
    return this.v4.get(addr);
  }

  /** The entry of the IPv6 address at b[off, off+16). */
  lookup6(b: Uint8Array, off: number): NeighEntry | undefined {
    return this.v6.get(key6(b, off));
  }

  /** The entry of a 16-byte address. */
  get(ip: Uint8Array): NeighEntry | undefined {
    return isV4Mapped(ip) ? this.v4.get(ipv4Of(ip)) : this.lookup6(ip, 0);
  }

  /** Sets a given entry (config, vtepctl, evpn); returns the one it replaced. */
  set(ip: Uint8Array, mac: Mac, origin: Exclude<NeighOrigin, SnoopedOrigin>, now: number): NeighEntry | undefined {
    const old = this.remove(ip);
    this.put(ip, { ip: formatIp(ip), mac, origin, seen: now });
    return old;
  }

  /**
   * Records what ARP or ND says: `ip` (16 bytes at b[off]) is at `mac`; `origin`: heard from a tunnel, or from
   * the TAP.
   */
  snoop(b: Uint8Array, off: number, mac: Mac, now: number, origin: SnoopedOrigin): Snooped {
    const v4 = isV4Mapped(b, off);
    const e = v4 ? this.v4.get(ipv4Of(b, off)) : this.lookup6(b, off);
    if (e !== undefined) {
      // What a host behind the TAP says of itself also replaces what EVPN said: the host moved here.
      if (!isSnooped(e.origin) && !(origin === 'local' && e.origin === 'evpn')) return 'kept';
      e.seen = now;
      if (e.mac === mac && e.origin === origin) return 'same';
      if (!isSnooped(e.origin)) this.snooped++;
      e.mac = mac;
      e.origin = origin;
      this.events.moved++;
      return 'moved';
    }
    if (this.snooped >= this.maxSnooped) {
      this.events.refused++;
      return 'refused';
    }
    const ip = b.slice(off, off + 16);
    this.put(ip, { ip: formatIp(ip), mac, origin, seen: now });
    this.events.learned++;
    return 'new';
  }

  /** Removes the entry of a 16-byte address; returns it. */
  remove(ip: Uint8Array): NeighEntry | undefined {
    const e = this.get(ip);
    if (e === undefined) return undefined;
    if (isV4Mapped(ip)) this.v4.delete(ipv4Of(ip));
    else this.v6.delete(key6(ip, 0));
    if (isSnooped(e.origin)) this.snooped--;
    return e;
  }

  /** Removes snooped entries not seen for `ageing` seconds; returns them. */
  run(now: number, ageing: number): NeighEntry[] {
    const aged: NeighEntry[] = [];
    for (const map of [this.v4, this.v6] as Map<number | string, NeighEntry>[]) {
      for (const [k, e] of map) {
        if (!isSnooped(e.origin) || now - e.seen < ageing) continue;
        map.delete(k);
        this.snooped--;
        this.events.aged++;
        aged.push(e);
      }
    }
    return aged;
  }

  /** Removes every entry of `origin` (every entry if undefined); returns them. */
  flush(origin?: NeighOrigin): NeighEntry[] {
    const gone: NeighEntry[] = [];
    for (const map of [this.v4, this.v6] as Map<number | string, NeighEntry>[]) {
      for (const [k, e] of map) {
        if (origin !== undefined && e.origin !== origin) continue;
        map.delete(k);
        if (isSnooped(e.origin)) this.snooped--;
        gone.push(e);
      }
    }
    return gone;
  }

  *entries(): IterableIterator<NeighEntry> {
    yield* this.v4.values();
    yield* this.v6.values();
  }

  get size(): number {
    return this.v4.size + this.v6.size;
  }

  /** A copy, for `vtepctl trace`. */
  clone(): NeighTable {
    const t = new NeighTable(this.maxSnooped);
    for (const [k, e] of this.v4) t.v4.set(k, { ...e });
    for (const [k, e] of this.v6) t.v6.set(k, { ...e });
    t.snooped = this.snooped;
    return t;
  }

  private put(ip: Uint8Array, e: NeighEntry): void {
    if (isV4Mapped(ip)) this.v4.set(ipv4Of(ip), e);
    else this.v6.set(key6(ip, 0), e);
    if (isSnooped(e.origin)) this.snooped++;
  }
}
