// GRE on raw IPv4 sockets (protocol 47) through the `raw-socket` package.
//
// raw-socket sends and receives one packet per event-loop wakeup and queues
// sends until the socket is writable, so a packet must outlive the call that
// sends it: each one is copied out of the batch arena. The design notes in the
// README say what this costs next to the batched VXLAN path.
import raw, { type Socket } from 'raw-socket';
import type { Batch, SendQueue } from '../batch.ts';
import type { Counters } from '../switch/counters.ts';
import { Drop } from '../wire/drop.ts';
import { formatIpv4, IpProto } from '../wire/ipv4.ts';

const IPPROTO_IP = 0;
const IP_TTL = 2;
const IP_MTU_DISCOVER = 10;
const IP_PMTUDISC_DONT = 0;
/** DF set, and the path MTU the kernel may have cached is not enforced on us. */
const IP_PMTUDISC_PROBE = 3;
const SOL_SOCKET = 1;
const SO_RCVBUF = 8;
/** Sends queued inside raw-socket at most; beyond, packets are dropped and counted (tx-failed). */
const MAX_IN_FLIGHT = 4096;
/** Whole IPv4 packets: recvfrom() truncates silently into a smaller buffer. */
const RECV_BUFFER = 65536;

/** Sends one network's GRE packets, with that network's TTL and DF. */
export class GreSender {
  private readonly sock: Socket;
  private inFlight = 0;
  private readonly addrText = new Map<number, string>();

  constructor(ttl: number, df: boolean, private readonly counters: Counters, onError: (e: Error) => void) {
    this.sock = raw.createSocket({ protocol: IpProto.GRE });
    this.sock.setOption(IPPROTO_IP, IP_TTL, ttl);
    this.sock.setOption(IPPROTO_IP, IP_MTU_DISCOVER, df ? IP_PMTUDISC_PROBE : IP_PMTUDISC_DONT);
    // A raw socket gets a copy of every GRE packet reaching the host; this one only sends.
    this.sock.setOption(SOL_SOCKET, SO_RCVBUF, 0);
    this.sock.pauseRecv();
    this.sock.on('error', onError);
  }

  /** Queues every packet of `q`; returns how many were taken (the rest are counted as dropped by the caller). */
  send(q: SendQueue): number {
    let taken = 0;
    for (let i = 0; i < q.count; i++) {
      if (this.inFlight >= MAX_IN_FLIGHT) break;
      const len = q.len[i];
      const copy = Buffer.allocUnsafe(len);
      q.arena.copy(copy, 0, q.off[i], q.off[i] + len);
      this.inFlight++;
      this.sock.send(copy, 0, len, this.text(q.addr[i]), (err) => {
        this.inFlight--;
        if (err) this.counters.drop(Drop.TxFailed);
      });
      taken++;
    }
    return taken;
  }

  close(): void {
    this.sock.close();
  }

  private text(addr: number): string {
    let t = this.addrText.get(addr);
    if (t === undefined) this.addrText.set(addr, (t = formatIpv4(addr)));
    return t;
  }
}

/** Receives every GRE packet reaching the host, IPv4 header included, one at a time into a Batch. */
export class GreReceiver {
  private readonly sock: Socket;

  constructor(onError: (e: Error) => void) {
    this.sock = raw.createSocket({ protocol: IpProto.GRE, bufferSize: RECV_BUFFER });
    this.sock.on('error', onError);
  }

  /** Calls `onBatch` with each packet copied into slot 0 of `b` (count 1, or 0 if it did not fit: len says how long it was). */
  watch(b: Batch, onBatch: (b: Batch) => void): void {
    this.sock.on('message', (packet: Buffer) => {
      const len = packet.length;
      if (len <= b.room) packet.copy(b.arena, b.start(0));
      b.len[0] = len;
      b.count = 1;
      onBatch(b);
    });
  }

  close(): void {
    this.sock.close();
  }
}
