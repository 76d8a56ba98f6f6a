// `vtepctl monitor`: what changes in the tables, as it happens, in the spirit
// of `bridge monitor fdb`. The hub is every network's SwitchEvents sink: it
// turns each change into an event record at once (while the remote's address
// is still readable), and hands it to every monitor session and listener
// (an EVPN control plane listens too). Nobody listening, nothing is built.
import type { FdbAction, NeighAction, RemoteAction, SwitchEvents } from '../switch/events.ts';
import { LOCAL_PORT, type Origin } from '../switch/fdb.ts';
import type { NeighEntry } from '../switch/neigh.ts';
import type { Network } from '../switch/network.ts';
import { formatMac, type Mac } from '../wire/mac.ts';
import { formatIp } from '../wire/ip-address.ts';
import { formatPrefix } from '../route/prefix.ts';
import { routeDevice, type Route, type RouteEvents, type Vrf } from '../route/vrf.ts';

export type MonitorEvent =
  | {
      event: 'fdb';
      action: FdbAction;
      network: string;
      mac: string;
      remote: string | null;
      origin: Origin;
      was?: string | null;
      time: string;
    }
  | { event: 'fdb'; action: 'refused'; network: string; count: number; time: string }
  | { event: 'neigh'; action: NeighAction; network: string; ip: string; mac: string; origin: string; time: string }
  | {
      event: 'remote';
      action: RemoteAction;
      network: string;
      remote: string;
      flood: boolean;
      origins: string[];
      time: string;
    }
  | { event: 'pmtu'; network: string; remote: string; pmtu: number; time: string }
  | {
      event: 'route';
      action: 'added' | 'deleted';
      vrf: string;
      prefix: string;
      via: string | null;
      /** The network it leaves on, or "l3vni" for a route over the fabric (with its router MAC and VNI). */
      network: string;
      rmac?: string;
      vni?: number;
      origin: string;
      time: string;
    }
  | { event: 'reload'; changes: string[]; time: string }
  | { event: 'bgp'; neighbor: string; state: 'established' | 'down'; reason?: string; time: string };

export type Listener = (e: MonitorEvent) => void;

/**
 * What a control plane hears of the tables, as the switch says it: numbers
 * (MACs, ports), no display text built. Origins let it tell its own writes.
 */
export interface TableListener {
  /** `port`: where `mac` is now (or was, aged and deleted); `was`: the port before a move. */
  fdb(net: Network, action: FdbAction, mac: Mac, port: number, origin: Origin, was?: number): void;
  neigh(net: Network, action: NeighAction, e: NeighEntry): void;
}

interface Session {
  network: string | undefined;
  listener: Listener;
}

export class EventHub implements SwitchEvents, RouteEvents {
  private readonly sessions = new Set<Session>();
  private readonly tables = new Set<TableListener>();
  active = false;

  /** Hears every event (of `network` only, if given) until the returned function is called. */
  listen(listener: Listener, network?: string): () => void {
    const s: Session = { network, listener };
    this.sessions.add(s);
    this.active = true;
    return () => {
      this.sessions.delete(s);
      this.active = this.sessions.size > 0 || this.tables.size > 0;
    };
  }

  /** Hears the FDB and neighbour changes of every network, as numbers, until the returned function is called. */
  listenTables(listener: TableListener): () => void {
    this.tables.add(listener);
    this.active = true;
    return () => {
      this.tables.delete(listener);
      this.active = this.sessions.size > 0 || this.tables.size > 0;
    };
  }

  fdb(net: Network, action: FdbAction, mac: Mac, port: number, origin: Origin, was?: number): void {
    for (const t of this.tables) t.fdb(net, action, mac, port, origin, was);
    if (this.sessions.size === 0) return;
    const where = (p: number) => (p === LOCAL_PORT ? null : net.remotes.address(p));
    this.emit(net.name, {
      event: 'fdb',
      action,
      network: net.name,
      mac: formatMac(mac),
      remote: where(port),
      origin,
      ...(was !== undefined && { was: where(was) }),
      time: now(),
    });
  }

  refused(net: Network, count: number): void {
    this.emit(net.name, { event: 'fdb', action: 'refused', network: net.name, count, time: now() });
  }

  neigh(net: Network, action: NeighAction, e: NeighEntry): void {
    for (const t of this.tables) t.neigh(net, action, e);
    if (this.sessions.size === 0) return;
    this.emit(net.name, {
      event: 'neigh',
      action,
      network: net.name,
      ip: e.ip,
      mac: action === 'failed' ? '' : formatMac(e.mac),
      origin: e.origin,
      time: now(),
    });
  }

  remote(net: Network, action: RemoteAction, r: number): void {
    const t = net.remotes;
    this.emit(net.name, {
      event: 'remote',
      action,
      network: net.name,
      remote: t.address(r),
      flood: t.floods(r),
      origins: t.origins(r),
      time: now(),
    });
  }

  pmtu(net: Network, r: number): void {
    this.emit(net.name, {
      event: 'pmtu',
      network: net.name,
      remote: net.remotes.address(r),
      pmtu: net.remotes.pmtu[r],
      time: now(),
    });
  }

  route(vrf: Vrf, action: 'added' | 'deleted', r: Route): void {
    this.emit(r.gateway?.net.name, {
      event: 'route',
      action,
      vrf: vrf.name,
      prefix: formatPrefix(r.prefix),
      via: r.via === undefined ? null : formatIp(r.via),
      network: routeDevice(r),
      ...(r.remote !== undefined && vrf.l3 !== undefined && { rmac: formatMac(r.remote.rmac), vni: vrf.l3.vni }),
      origin: r.origin,
      time: now(),
    });
  }

  reload(changes: string[]): void {
    this.emit(undefined, { event: 'reload', changes, time: now() });
  }

  /** A BGP session came up, or went down (or a NOTIFICATION passed) with `reason`. */
  bgp(neighbor: string, up: boolean, reason?: string): void {
    this.emit(undefined, {
      event: 'bgp',
      neighbor,
      state: up ? 'established' : 'down',
      ...(reason !== undefined && { reason }),
      time: now(),
    });
  }

  private emit(network: string | undefined, e: MonitorEvent): void {
    for (const s of this.sessions)
      if (s.network === undefined || network === undefined || s.network === network) s.listener(e);
  }
}

function now(): string {
  return new Date().toISOString();
}

/** One line per event, as `vtepctl monitor` prints it without --json. */
export function formatEvent(e: MonitorEvent): string {
  switch (e.event) {
    case 'fdb':
      if (e.action === 'refused')
        return `fdb refused network ${e.network}: ${e.count} new MAC${e.count === 1 ? '' : 's'} (table full)`;
      return (
        `fdb ${e.action} ${e.mac} network ${e.network} ${e.remote === null ? 'local' : `dst ${e.remote}`} ` +
        `origin ${e.origin}` +
        (e.was !== undefined ? ` (was ${e.was === null ? 'local' : `dst ${e.was}`})` : '')
      );
    case 'neigh':
      if (e.action === 'failed') return `neigh failed ${e.ip} network ${e.network}: nobody answered`;
      return `neigh ${e.action} ${e.ip} lladdr ${e.mac} network ${e.network} origin ${e.origin}`;
    case 'route':
      return e.rmac !== undefined
        ? `route ${e.action} ${e.prefix} via ${e.via} rmac ${e.rmac} vni ${e.vni} vrf ${e.vrf} origin ${e.origin}`
        : `route ${e.action} ${e.prefix}${e.via ? ` via ${e.via}` : ''} dev ${e.network} vrf ${e.vrf} origin ${e.origin}`;
    case 'remote':
      return (
        `remote ${e.action} ${e.remote} network ${e.network} ${e.flood ? 'flood' : 'no-flood'} origin ` +
        `${e.origins.join(',') || 'none'}`
      );
    case 'pmtu':
      return `pmtu ${e.remote} network ${e.network} mtu ${e.pmtu}`;
    case 'reload':
      return `reload applied: ${e.changes.length === 0 ? 'no changes' : e.changes.join('; ')}`;
    case 'bgp':
      return `bgp session ${e.neighbor} ${e.state === 'established' ? 'established' : (e.reason ?? 'down')}`;
  }
}
