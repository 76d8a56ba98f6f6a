// Which ICMP "too big" errors lower a path MTU. Any host on the underlay can
// send one, quoting whatever it likes: believed blindly, one such packet
// makes a remote's path MTU 552 (or 1280) for ten minutes. So an error is
// believed only about a packet this daemon could have sent (RFC 5927 section
// 4): from our address to a remote of a network that sends that protocol,
// with that network's port or key and our own source port (unpredictable:
// random lanes, a seeded flow hash), with DF if over IPv4 (only then would a
// router answer rather than fragment), and longer than the MTU it names.
//
// Even a believed error never silences a flow: what a path MTU too small for
// ICMP to help the sender leaves (forward.ts) goes out fragmentable instead.
import type { TooBigRepr } from '../wire/icmp-error.ts';
import { isV4Mapped } from '../wire/ip-address.ts';
import type { Network } from './network.ts';

/** What became of an ICMP error: believed, or the first check it failed. */
export const IcmpVerdicts = [
  'believed',
  /** Not a readable "too big" error (cut short, a bad checksum, a quote that is not an IP header). */
  'malformed',
  /** The quoted packet is not from this VTEP's underlay address. */
  'not-from-local',
  /** It quotes a fragment other than the first: vtepd never sends fragments. */
  'fragment',
  /** Its destination is no remote of a network that sends that protocol. */
  'unknown-remote',
  /** Not a packet of that network: another port or key, or a source port that is not ours. */
  'not-our-packet',
  /** IPv4 without DF: a router fragments such a packet, it does not answer it; or the network never sets DF. */
  'no-df',
  /** The quoted packet was not longer than the MTU the error names. */
  'not-larger',
] as const;
export type IcmpVerdict = (typeof IcmpVerdicts)[number];

export class IcmpCounters {
  readonly counts = new Map<IcmpVerdict, number>(IcmpVerdicts.map((v) => [v, 0]));

  count(v: IcmpVerdict): void {
    this.counts.set(v, this.counts.get(v)! + 1);
  }

  get believed(): number {
    return this.counts.get('believed')!;
  }

  /** Ignored errors by reason, every reason present. */
  ignored(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [v, n] of this.counts) if (v !== 'believed') out[v] = n;
    return out;
  }
}

/**
 * Judges error `e` (quote in `buf`) against the running networks; the ones it
 * is about go into `about` (one error may concern several networks sending to
 * one remote over one protocol). Returns 'believed' only with `about` filled.
 */
export function judgeTooBig(
  e: TooBigRepr,
  buf: Uint8Array,
  local: Uint8Array,
  networks: Iterable<Network>,
  about: Network[],
): IcmpVerdict {
  about.length = 0;
  if (!sameAddress(e.src, local)) return 'not-from-local';
  if (e.fragment) return 'fragment';
  let verdict: IcmpVerdict = 'unknown-remote';
  for (const net of networks) {
    if (net.tunnel.outerProtocol !== e.protocol || net.remotes.indexOf(e.dst) < 0) continue;
    if (!net.encap.sentThis(buf, e.l4, e.end)) {
      if (verdict === 'unknown-remote') verdict = 'not-our-packet';
      continue;
    }
    if (isV4Mapped(e.dst) && (!e.df || net.df === false)) {
      verdict = 'no-df';
      continue;
    }
    if (e.length <= e.mtu) {
      verdict = 'not-larger';
      continue;
    }
    about.push(net);
  }
  return about.length > 0 ? 'believed' : verdict;
}

function sameAddress(a: Uint8Array, b: Uint8Array): boolean {
  for (let i = 0; i < 16; i++) if (a[i] !== b[i]) return false;
  return true;
}
