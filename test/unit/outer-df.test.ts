// DF on the outer header as the native sends set it, seen on loopback by a raw
// UDP socket (which gets each datagram with its IPv4 header): DF with `df`,
// none without; a fragmentable entry without DF whatever the network says, and
// the socket back to the network's DF after it. Raw sockets, lanes and both.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Batch, OUTER_DF, OUTER_FRAGMENTABLE, SendQueue } from '../../src/datapath/batch.ts';
import { native } from '../../src/io/native.ts';
import { parseIp } from '../../src/wire/ip-address.ts';
import { recvDatagrams, sendDatagrams, sendLanes } from '../../src/io/batch-io.ts';

const LOOPBACK = parseIp('127.0.0.1')!;
/** An unlikely port: only this test's datagrams go there. */
const PORT = 47193;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe.runIf(process.getuid?.() === 0)('outer DF per packet', () => {
  let listener = -1;
  let sink = -1;
  beforeAll(() => {
    listener = native.rawOpen(17, LOOPBACK, 64, false, true, 1 << 20);
    sink = native.udpOpen(LOOPBACK, PORT, 1 << 20); // so that no "port unreachable" comes back
  });
  afterAll(() => {
    native.close(listener);
    native.close(sink);
  });

  /** DF of each datagram to PORT the raw listener holds, in order (1 set, 0 not). */
  async function dfSeen(): Promise<number[]> {
    await sleep(50);
    const b = new Batch(64, 2048, 0);
    const n = recvDatagrams(listener, b, false);
    const out: number[] = [];
    for (let i = 0; i < Math.max(0, n); i++) {
      const ip = b.start(i);
      if (b.arena.readUInt16BE(ip + 20 + 2) !== PORT) continue;
      out.push((b.arena[ip + 6] & 0x40) >> 6);
    }
    return out;
  }

  function queue(outer: number[], withUdpHeader: boolean): SendQueue {
    const q = new SendQueue(8, Buffer.alloc(8 * 256));
    outer.forEach((o, i) => {
      const at = i * 256;
      if (withUdpHeader) {
        q.arena.writeUInt16BE(40000 + i, at);
        q.arena.writeUInt16BE(PORT, at + 2);
        q.arena.writeUInt16BE(100, at + 4);
      }
      q.push(at, 100, 0, 0, 0, o);
    });
    return q;
  }

  it('a raw socket with df: DF, then none on a fragmentable entry, then DF again (the socket set back)', async () => {
    await dfSeen();
    const fd = native.rawOpen(17, LOOPBACK, 64, true, false, 1 << 20);
    try {
      const q = queue([0, OUTER_FRAGMENTABLE, 0], true);
      expect(sendDatagrams(fd, q, { table: LOOPBACK, port: 0, df: 1 })).toBe(3);
      expect(await dfSeen()).toEqual([1, 0, 1]);
      // The next call starts from the network's DF: a fragmentable entry did not leave the socket without it.
      const again = queue([0], true);
      expect(sendDatagrams(fd, again, { table: LOOPBACK, port: 0, df: 1 })).toBe(1);
      expect(await dfSeen()).toEqual([1]);
    } finally {
      native.close(fd);
    }
  });

  it('df inherit: the inner DF, and none on a fragmentable entry even with the inner DF set; df off: never DF', async () => {
    await dfSeen();
    const fd = native.rawOpen(17, LOOPBACK, 64, false, false, 1 << 20);
    try {
      const q = queue([OUTER_DF, 0, OUTER_DF | OUTER_FRAGMENTABLE, OUTER_DF], true);
      expect(sendDatagrams(fd, q, { table: LOOPBACK, port: 0, df: 2 })).toBe(4);
      expect(await dfSeen()).toEqual([1, 0, 0, 1]);
      const off = queue([0, OUTER_FRAGMENTABLE], true);
      expect(sendDatagrams(fd, off, { table: LOOPBACK, port: 0, df: 0 })).toBe(2);
      expect(await dfSeen()).toEqual([0, 0]);
    } finally {
      native.close(fd);
    }
  });

  it('lanes with df: equal datagrams to one remote, the fragmentable ones without DF and, over IPv4, still in one GSO send', async () => {
    await dfSeen();
    const fd = native.udpSenderOpen(LOOPBACK, 0, 64, true, 1 << 20);
    try {
      const q = queue([0, 0, OUTER_FRAGMENTABLE, OUTER_FRAGMENTABLE, 0], false);
      expect(sendLanes(Int32Array.of(fd), q, { table: LOOPBACK, port: PORT, df: 1 })).toBe(5);
      // The first two went as one UDP GSO send (loopback hands it over whole), the fragmentable two as another
      // (IP_PMTUDISC_OMIT sizes GSO against the device's MTU: a path MTU lowered by ICMP does not split them).
      expect(await dfSeen()).toEqual([1, 0, 1]);
    } finally {
      native.close(fd);
    }
  });
});
