// Everything start-up can check without changing the system: privileges,
// the underlay address and its interface, the control socket's path, the
// user and group to run as, GoBGP; and each network against the host (its
// TAP name, MTU, group interface). A problem is a StartupError, and vtepd
// exits 2 having changed nothing.
import { existsSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Config, NetworkConfig } from '../config/config.ts';
import { socketPathState } from '../control/server.ts';
import { GOBGP_API_DIR } from '../evpn/values.ts';
import { lookupGroup, lookupUser, type Account } from '../host/privileges.ts';
import {
  CAP_NET_ADMIN,
  CAP_NET_RAW,
  hasCapability,
  interfaceWithAddress,
  linkIndex,
  linkKind,
  linkMtu,
  vethWithTxChecksum,
} from '../io/link.ts';
import type { Logger } from '../observe/log.ts';
import { tunnelFor } from '../tunnel/index.ts';
import { outerIpLen } from '../tunnel/outer.ts';
import type { Planned } from './network-unit.ts';
import { onPath, StartupError } from './system.ts';
import type { Inherited } from './upgrade.ts';

const DEFAULT_UNDERLAY_MTU = 1500;

/** What looking at the host found. */
export interface HostLook {
  /** The interface with the underlay address, and its MTU. */
  underlay: string;
  underlayMtu: number;
  /** The control socket's group. */
  socketGid: number | undefined;
  /** The user to become once everything that needs root is open. */
  account: Account | undefined;
}

/** Everything that can be checked about the host without changing it. */
export async function lookAtHost(config: Config, inherited: Inherited | undefined, log: Logger): Promise<HostLook> {
  if (!hasCapability(CAP_NET_ADMIN) || !hasCapability(CAP_NET_RAW)) {
    throw new StartupError(
      'needs CAP_NET_ADMIN and CAP_NET_RAW to create TAPs and raw sockets: run it as root, or give it these ' +
        'two capabilities (AmbientCapabilities=CAP_NET_ADMIN CAP_NET_RAW in its systemd unit)',
    );
  }
  const underlay = interfaceWithAddress(config.local);
  if (underlay === undefined) {
    throw new StartupError(
      `local: ${config.local} is not an address of this host (see \`ip addr\`); give the underlay address of this VTEP`,
    );
  }
  const underlayMtu = linkMtu(underlay) ?? DEFAULT_UNDERLAY_MTU;
  let socketGid: number | undefined;
  let dropTo: Account | undefined;
  if (config.evpn !== undefined) {
    if (!existsSync(`${GOBGP_API_DIR}/gobgp.proto`))
      throw new StartupError(
        `evpn: GoBGP's API (${GOBGP_API_DIR}) is not installed: install the Debian package ` +
          `golang-github-osrg-gobgp-dev`,
      );
    if (config.evpn.gobgp === undefined && !onPath('gobgpd'))
      throw new StartupError(
        'evpn: gobgpd is not installed: install the Debian package gobgpd, or name a running one with evpn.gobgp',
      );
  }
  if (inherited !== undefined) {
    // The predecessor's socket: it answers there until this one takes over.
  } else if (!existsSync(dirname(config.socket))) {
    throw new StartupError(
      `socket: the directory of ${config.socket} does not exist; create it or choose another path`,
    );
  }
  switch (inherited !== undefined ? 'absent' : await socketPathState(config.socket)) {
    case 'in-use':
      throw new StartupError(
        `socket: another vtepd answers on ${config.socket}; stop it or give this one another socket (--socket PATH)`,
      );
    case 'directory':
      throw new StartupError(
        `socket: ${config.socket} is a directory; give the path of the socket file, such as ${config.socket.replace(/\/$/, '')}/vtepd.sock`,
      );
    case 'not-a-socket':
      throw new StartupError(
        `socket: ${config.socket} exists and is not a socket; vtepd removes only a stale socket there: move ` +
          `that file away or choose another path`,
      );
    default:
  }
  const { group } = config.socketAccess;
  if (group !== undefined) {
    socketGid = lookupGroup(group);
    if (socketGid === undefined)
      throw new StartupError(
        `socket-group: there is no group "${group}" on this host (see \`getent group\`); create it or name another`,
      );
  }
  if (config.user !== undefined && inherited === undefined) {
    const account = lookupUser(config.user);
    if (account === undefined)
      throw new StartupError(
        `user: there is no user "${config.user}" on this host (see \`id ${config.user}\`); create it (useradd ` +
          `--system ${config.user}) or name another`,
      );
    // Already that user (a systemd unit with User=, or a successor after an upgrade): nothing to drop.
    if (account.uid !== process.getuid!()) {
      if (process.getuid!() !== 0)
        throw new StartupError(
          `user: vtepd runs as uid ${process.getuid!()}, not root: it cannot become ${config.user}; start it ` +
            `as root, or as ${config.user} with the two capabilities`,
        );
      if (config.evpn !== undefined && config.evpn.gobgp === undefined) {
        throw new StartupError(
          `user: the gobgpd vtepd starts for evpn runs as root (it listens on port 179), and vtepd could not ` +
            `stop it as ${config.user}: run gobgpd yourself and name it with evpn.gobgp, or leave out user`,
        );
      }
      dropTo = account;
      if ((statSync('/dev/net/tun').mode & 0o006) !== 0o006) {
        log.warn(
          `user: /dev/net/tun is not readable and writable by all (mode ` +
            `${(statSync('/dev/net/tun').mode & 0o777).toString(8)}): as ${config.user}, vtepd could not ` +
            `create a TAP later (one deleted under it, a network added by a reload); chmod 0666 /dev/net/tun, ` +
            `as udev does by default`,
        );
      }
    }
  }
  if (vethWithTxChecksum(underlay)) {
    log.warn(
      `underlay ${underlay} is a veth with TX checksum offload on: a kernel VTEP behind such a veth sends ` +
        `inner TCP/UDP packets with partial checksums that the receiving host drops (ping works, TCP does ` +
        `not). Run \`ethtool -K DEV tx off\` on both ends of the veth.`,
    );
  }
  log.debug(`underlay ${underlay} (MTU ${underlayMtu}), local ${config.local}`);
  return { underlay, underlayMtu, socketGid, account: dropTo };
}

/**
 * Checks one network against the system: its TAP name, MTU and group
 * interface. `freed`: TAPs of networks about to go (a reload), with whether
 * each was there before vtepd: their names count as free, or as theirs.
 */
export function planNetwork(
  cfg: NetworkConfig,
  host: { underlay: string; underlayMtu: number },
  local: Uint8Array,
  log: Logger,
  freed = new Map<string, boolean>(),
): Planned {
  const mine = freed.get(cfg.tap);
  const kind = mine === undefined ? linkKind(cfg.tap) : mine ? 'tap' : 'absent';
  if (kind === 'other') {
    throw new StartupError(
      `networks.${cfg.name}.tap: "${cfg.tap}" is taken by a device that is not a TAP; choose another name or ` +
        `delete that device`,
    );
  }
  if (kind === 'tun') {
    throw new StartupError(
      `networks.${cfg.name}.tap: "${cfg.tap}" is a TUN (layer 3) device, not a TAP; choose another name or delete it`,
    );
  }
  const tunnel = tunnelFor(cfg.tunnel);
  const fit = host.underlayMtu - outerIpLen(local) - tunnel.overhead;
  const mtu = cfg.mtu ?? fit;
  if (mtu < 68)
    throw new StartupError(
      `networks.${cfg.name}.mtu: the underlay ${host.underlay} has MTU ${host.underlayMtu}, too small to ` +
        `carry a network; set mtu`,
    );
  if (mtu > fit) {
    log.warn(
      `network ${cfg.name}: MTU ${mtu} is above the ${fit} that fits the underlay ${host.underlay} (MTU ` +
        `${host.underlayMtu}): larger frames are not sent; their senders get ICMP "fragmentation needed" ` +
        `(IPv4 with DF) or "packet too big" (IPv6) with MTU ${fit}`,
      { network: cfg.name },
    );
  }
  let groupIfindex = 0;
  if (cfg.group !== undefined) {
    const index = linkIndex(cfg.group.dev);
    if (index === undefined)
      throw new StartupError(
        `networks.${cfg.name}.group.dev: no interface "${cfg.group.dev}" on this host (see \`ip link\`); name ` +
          `the underlay interface to join ${cfg.group.address} on`,
      );
    groupIfindex = index;
  }
  return { cfg, tunnel, mtu, existed: kind === 'tap', groupIfindex };
}
