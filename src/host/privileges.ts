// Least privilege: vtepd starts as root, opens what needs root (TAPs, raw and
// UDP sockets, the control socket), then becomes an ordinary user that keeps
// only CAP_NET_ADMIN and CAP_NET_RAW, ambient, so that TAPs created later (a
// reload, a TAP deleted under it) and the `ip` commands it runs still work;
// every other capability leaves the bounding set and no_new_privs is set.
// Names are resolved with `id` and `getent`, so that NSS users work too.
import { execFileSync } from 'node:child_process';
import { native } from '../io/native.ts';

export interface Account {
  name: string;
  uid: number;
  gid: number;
  groups: number[];
}

function run(cmd: string, args: string[]): string | undefined {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return undefined;
  }
}

/** A user's uid, primary gid and groups; undefined when there is no such user. */
export function lookupUser(name: string): Account | undefined {
  const uid = run('id', ['-u', '--', name]);
  const gid = run('id', ['-g', '--', name]);
  const groups = run('id', ['-G', '--', name]);
  if (uid === undefined || gid === undefined || groups === undefined) return undefined;
  return { name, uid: Number(uid), gid: Number(gid), groups: groups.split(/\s+/).filter(Boolean).map(Number) };
}

/** A group's gid; undefined when there is no such group. */
export function lookupGroup(name: string): number | undefined {
  const line = run('getent', ['group', '--', name]);
  const gid = line?.split(':')[2];
  return gid === undefined || !/^\d+$/.test(gid) ? undefined : Number(gid);
}

/** Becomes `account` with the two capabilities (throws the system's reason). */
export function dropPrivileges(account: Account): void {
  native.dropPrivileges(account.uid, account.gid, account.groups);
}
