// Network devices and addresses, at start-up and exit only: sysfs to look,
// iproute2 to change (its messages are the ones users know).
import { execFile, execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { networkInterfaces } from 'node:os';
import { canonicalIp } from '../wire/ip-address.ts';
import { formatIpv4, parseIpv4Address } from '../wire/ipv4.ts';
import { native } from './native.ts';

const IFF_TUN = 0x0001;
const IFF_TAP = 0x0002;

export type LinkKind = 'absent' | 'tap' | 'tun' | 'other';

export function linkKind(name: string): LinkKind {
  if (!existsSync(`/sys/class/net/${name}`)) return 'absent';
  let flags: number;
  try {
    flags = parseInt(readFileSync(`/sys/class/net/${name}/tun_flags`, 'utf8'), 16);
  } catch {
    return 'other';
  }
  if (flags & IFF_TAP) return 'tap';
  return flags & IFF_TUN ? 'tun' : 'other';
}

export function linkIndex(name: string): number | undefined {
  try {
    return parseInt(readFileSync(`/sys/class/net/${name}/ifindex`, 'utf8'), 10);
  } catch {
    return undefined;
  }
}

export function linkMtu(name: string): number | undefined {
  try {
    return parseInt(readFileSync(`/sys/class/net/${name}/mtu`, 'utf8'), 10);
  } catch {
    return undefined;
  }
}

/** The interface that holds address `addr` (canonical text) in this network namespace. */
export function interfaceWithAddress(addr: string): string | undefined {
  for (const [name, addrs] of Object.entries(networkInterfaces())) {
    if (addrs?.some((a) => canonicalIp(a.address) === addr)) return name;
  }
  return undefined;
}

export function hasAddress(dev: string, cidr: string): boolean {
  const [ip, prefix] = cidr.split('/');
  return (networkInterfaces()[dev] ?? []).some(
    (a) => a.family === 'IPv4' && a.address === ip && a.cidr === `${ip}/${prefix}`,
  );
}

/** Runs iproute2; throws with its own message on failure. */
export function ip(...args: string[]): void {
  ipCommands([args]);
}

/**
 * Runs several iproute2 commands, in order, with one run of `ip -batch -` (each run of ip costs a
 * start-up about 15 ms); stops at the first that fails and throws with that command and ip's message.
 */
export function ipCommands(commands: string[][]): void {
  if (commands.length === 0) return;
  const one = commands.length === 1;
  try {
    execFileSync('ip', one ? commands[0] : ['-batch', '-'], {
      input: one ? undefined : commands.map((c) => c.join(' ')).join('\n') + '\n',
      stdio: [one ? 'ignore' : 'pipe', 'ignore', 'pipe'],
    });
  } catch (e) {
    const err = (e as { stderr?: Buffer }).stderr?.toString().trim() ?? '';
    // ip -batch ends its message with "Command failed -:N": N names the command that failed.
    const failed = /Command failed -:(\d+)/.exec(err);
    const which = one ? commands[0] : (commands[Number(failed?.[1] ?? 1) - 1] ?? commands[0]);
    const said = err.replace(/\s*Command failed -:\d+$/, '').trim();
    throw new Error(`ip ${which.join(' ')}: ${said || (e as Error).message}`);
  }
}

/**
 * A device's MAC, the addresses it can speak for, and how many more are tentative (duplicate address detection
 * is not over).
 */
export async function linkAddresses(
  dev: string,
): Promise<{ mac: string; addresses: string[]; tentative: number } | undefined> {
  let links: { address?: string; addr_info?: { local: string; tentative?: boolean; dadfailed?: boolean }[] }[];
  try {
    // Asynchronous: what needs it (announcements) must not hold the start or the data path for ip's run.
    const out = await new Promise<string>((resolve, reject) =>
      execFile('ip', ['-j', 'addr', 'show', 'dev', dev], (e, stdout) => (e ? reject(e) : resolve(stdout))),
    );
    links = JSON.parse(out);
  } catch {
    return undefined;
  }
  const link = links[0];
  if (link?.address === undefined) return undefined;
  const all = link.addr_info ?? [];
  return {
    mac: link.address,
    addresses: all.filter((a) => !a.tentative && !a.dadfailed).map((a) => a.local),
    tentative: all.filter((a) => a.tentative).length,
  };
}

/**
 * The broadcast address of the IPv4 subnet `local` has on `dev` (its last address, whether or not the
 * kernel was given a `brd`), if the subnet has one (/30 or shorter).
 */
export function subnetBroadcast(dev: string, local: string): string | undefined {
  try {
    const links = JSON.parse(
      execFileSync('ip', ['-j', '-4', 'addr', 'show', 'dev', dev], { stdio: ['ignore', 'pipe', 'ignore'] }).toString(),
    ) as { addr_info?: { local: string; prefixlen: number }[] }[];
    const len = links[0]?.addr_info?.find((a) => a.local === local)?.prefixlen;
    const a = parseIpv4Address(local);
    if (len === undefined || len > 30 || a === undefined) return undefined;
    return formatIpv4((a | (0xffffffff >>> len)) >>> 0);
  } catch {
    return undefined;
  }
}
/** Whether `addr` is on a subnet of this host (the kernel's route to it names no gateway); false when unknown. */
export function onLink(addr: string): boolean {
  try {
    const routes = JSON.parse(
      execFileSync('ip', ['-j', 'route', 'get', addr], { stdio: ['ignore', 'pipe', 'ignore'] }).toString(),
    ) as { gateway?: string; type?: string }[];
    return routes.length > 0 && routes[0].gateway === undefined && (routes[0].type ?? 'unicast') === 'unicast';
  } catch {
    return false;
  }
}

/**
 * The ip command that sets the MTU of `dev` and brings it up, with other `ip link set` attributes (`address`,
 * `txqueuelen`...) before.
 */
export function linkUp(dev: string, mtu: number, attributes: string[] = []): string[] {
  return ['link', 'set', 'dev', dev, ...attributes, 'mtu', String(mtu), 'up'];
}

/**
 * Whether the underlay looks like the veth checksum trap: a kernel VTEP behind
 * a veth with TX checksum offload on leaves inner checksums partial.
 */
export function vethWithTxChecksum(dev: string): boolean {
  const info = native.ethtoolInfo(dev);
  return info.driver === 'veth' && info.txChecksum === true;
}

/** Effective capabilities of this process, from /proc (no libcap needed). */
export function hasCapability(bit: number): boolean {
  const m = /^CapEff:\s*([0-9a-f]+)$/m.exec(readFileSync('/proc/self/status', 'utf8'));
  return m !== null && (BigInt(`0x${m[1]}`) & (1n << BigInt(bit))) !== 0n;
}
export const CAP_NET_ADMIN = 12;
export const CAP_NET_RAW = 13;
