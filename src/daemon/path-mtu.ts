// The path MTU toward each remote, kept up to date off the data path: the
// underlay's MTU, read again every second, and the ICMP "too big" errors
// sent to this VTEP, read whole from a raw ICMP socket and believed only
// about packets it could have sent (switch/pmtu-guard.ts). Senders' error
// queues, where the kernel also puts errors it matched to them, are only
// emptied: they keep no quoted IP header to check.
import { Batch } from '../datapath/batch.ts';
import { monotonicSeconds } from '../datapath/clock.ts';
import { linkMtu } from '../io/link.ts';
import { Receiver } from '../io/port.ts';
import type { Logger } from '../observe/log.ts';
import type { Network } from '../switch/network.ts';
import { IcmpCounters, judgeTooBig, type IcmpVerdict } from '../switch/pmtu-guard.ts';
import { PMTU_EXPIRES_S } from '../switch/remotes.ts';
import { newTooBigRepr, parseTooBig4, parseTooBig6 } from '../wire/icmp-error.ts';
import { formatIp, isV4Mapped } from '../wire/ip-address.ts';
import { MIN_TOO_BIG_MTU_V4, MIN_TOO_BIG_MTU_V6 } from '../wire/icmp-out.ts';
import { openOrExplain } from './system.ts';

/** ICMP errors read per wakeup at most: a flood of forged ones cannot hold the event loop. */
const ICMP_BATCH = 32;
const ICMP_ROUNDS = 4;
const ICMP_SLOT = 2048;
/** Least time between two warnings about ICMP errors that were not believed. */
const ICMP_WARNING_INTERVAL_S = 60;

/** What path MTU discovery needs of the daemon. */
export interface PathMtuSource {
  readonly local: Uint8Array;
  readonly log: Logger;
  /** The networks running now, with what sends their packets. */
  running(): Iterable<{ net: Network; sender: { drainErrors(): void } }>;
}

export class PathMtu {
  /** ICMP "too big" errors sent to this VTEP: believed, or ignored and why. */
  readonly icmp = new IcmpCounters();
  private readonly tooBig = newTooBigRepr();
  private readonly about: Network[] = [];
  private readonly batch = new Batch(ICMP_BATCH, ICMP_SLOT, 0);
  private readonly rx: Receiver;
  /** Ignored ICMP errors since the last warning about them, and when that was. */
  private ignoredSinceWarning = 0;
  private lastWarning = -Infinity;

  /** Opens the ICMP socket (root, or CAP_NET_RAW) and starts reading. */
  constructor(
    private readonly src: PathMtuSource,
    private underlay: string,
    private underlayMtu: number,
  ) {
    this.rx = openOrExplain(() => Receiver.icmpErrors(src.local), 'a raw ICMP socket for path MTU discovery');
    this.rx.watch(() => this.readErrors());
  }

  get mtu(): number {
    return this.underlayMtu;
  }

  close(): void {
    this.rx.close();
  }

  /**
   * Once a second (the daemon's tick): the underlay's MTU followed, the senders' error queues emptied. Once a
   * second, not more often: an idle vtepd should sleep, and a queue nobody reads only has to stay short.
   */
  tick(): void {
    this.followUnderlayMtu();
    for (const { sender } of this.src.running()) sender.drainErrors();
  }

  /**
   * The underlay's MTU changed (jumbo frames turned on, a smaller link): every
   * remote's path MTU starts from the new value (a lower one learned from ICMP
   * stays while it is lower). The TAPs keep their MTU: frames that no longer
   * fit get "too big" back. One sysfs read a second.
   */
  private followUnderlayMtu(): void {
    const mtu = linkMtu(this.underlay);
    if (mtu === undefined || mtu === this.underlayMtu) return;
    this.src.log.info(
      `underlay ${this.underlay}: MTU ${this.underlayMtu} -> ${mtu}; the path MTU toward each remote VTEP ` +
        `starts from ${mtu}`,
    );
    this.underlayMtu = mtu;
    for (const { net } of this.src.running()) net.remotes.setUnderlayMtu(mtu);
  }

  /**
   * Reads the errors that came, believes those about packets this VTEP could have sent, and lowers the path MTU
   * toward their remote.
   */
  private readErrors(): void {
    const { batch: b, tooBig: e } = this;
    const v6 = !isV4Mapped(this.src.local);
    const nets = (): Network[] => [...this.src.running()].map((r) => r.net);
    for (let round = 0; round < ICMP_ROUNDS; round++) {
      const n = this.rx.recv(b);
      if (n <= 0) return;
      const now = monotonicSeconds();
      for (let i = 0; i < n; i++) {
        const off = b.start(i);
        const end = off + Math.min(b.len[i], b.room);
        const parsed = v6 ? parseTooBig6(b.arena, off, end, e) : parseTooBig4(b.arena, off, end, e);
        if (parsed === 'not-too-big') continue; // another unreachable: not about the path MTU
        const verdict = parsed === 'ok' ? judgeTooBig(e, b.arena, this.src.local, nets(), this.about) : 'malformed';
        this.icmp.count(verdict);
        const from = formatIp(b.peer, i * 16);
        if (verdict !== 'believed') {
          this.ignored(from, parsed === 'ok' ? formatIp(e.dst) : undefined, verdict, now);
          continue;
        }
        for (const net of this.about) this.lower(net, e.dst, e.mtu, from, now);
      }
      if (n < b.capacity) return;
    }
  }

  /** A believed error: the remote's path MTU, and a log line that says what happens to frames now. */
  private lower(net: Network, addr: Uint8Array, said: number, from: string, now: number): void {
    const mtu = net.lowerPmtu(addr, said, now);
    if (mtu === 0) return;
    const remote = formatIp(addr);
    const inner = mtu - net.outerLen - 14;
    const fragmentable = net.ipv6 ? 'for the kernel to fragment' : 'without DF, for the path to fragment';
    const what =
      inner >= MIN_TOO_BIG_MTU_V6
        ? `IP packets over ${inner} bytes get "too big" back`
        : inner >= MIN_TOO_BIG_MTU_V4
          ? `IPv4 packets with DF over ${inner} bytes get "fragmentation needed" back; larger IPv6 packets, ` +
            `whose senders take no MTU below ${MIN_TOO_BIG_MTU_V6}, go ${fragmentable}`
          : `frames over ${inner} bytes go ${fragmentable}: no host takes an MTU that small from ICMP`;
    this.src.log.info(
      `network ${net.name}: path MTU to ${remote} is ${mtu} (ICMP from ${from} said ${said}); ${what}, for ` +
        `${PMTU_EXPIRES_S / 60} minutes`,
      { network: net.name, remote },
    );
  }

  /** Not believed: counted, at debug one by one, and in a warning at most once a minute. */
  private ignored(from: string, about: string | undefined, verdict: IcmpVerdict, now: number): void {
    this.src.log.debug(`ignored ICMP "too big" from ${from}${about ? ` about ${about}` : ''}: ${verdict}`);
    this.ignoredSinceWarning++;
    if (now - this.lastWarning < ICMP_WARNING_INTERVAL_S) return;
    const n = this.ignoredSinceWarning;
    this.src.log.warn(
      `ignored ${n} ICMP "too big" error${n === 1 ? '' : 's'} that quote no packet of this VTEP ` +
        `(the last from ${from}${about ? ` about ${about}` : ''}: ${verdict}); path MTUs unchanged. \`vtepctl ` +
        `stats\` counts them by reason.`,
      { reason: verdict },
    );
    this.ignoredSinceWarning = 0;
    this.lastWarning = now;
  }
}
