// ICMP errors queued on a socket (what IP_RECVERR keeps): they must neither
// stop the data path from watching a socket (libuv stops a poll handle on
// POLLERR) nor cost the next packet (the kernel reports a pending error on the
// next send instead of sending). Real sockets on loopback, where a datagram to
// a port nobody listens on draws ICMP "port unreachable" at once.
import { describe, expect, it } from 'vitest';
import { SendQueue } from '../../src/datapath/batch.ts';
import { native } from '../../src/io/native.ts';
import { parseIp } from '../../src/wire/ip-address.ts';
import { sendDatagrams } from '../../src/io/batch-io.ts';

const LOOPBACK = parseIp('127.0.0.1')!;
/** The discard port: nobody listens on it here. */
const CLOSED_PORT = 9;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Sends one datagram from `fd` to 127.0.0.1:9; returns how many the kernel took. */
function sendOne(fd: number): number {
  const q = new SendQueue(1, Buffer.alloc(64, 0x5a));
  q.push(0, 16, 0);
  return sendDatagrams(fd, q, { table: LOOPBACK, port: CLOSED_PORT, df: 0 });
}

describe.runIf(process.getuid?.() === 0)('ICMP errors on a sender', () => {
  it('do not stop a watcher: it is called again for a second error after the first', async () => {
    const fd = native.udpSenderOpen(LOOPBACK, 0, 64, false, 65536);
    let calls = 0;
    const w = new native.Watcher(fd, () => calls++);
    try {
      w.start();
      expect(sendOne(fd)).toBe(1);
      await sleep(100);
      expect(calls, 'the first error wakes the watcher').toBeGreaterThanOrEqual(1);
      const before = calls;
      expect(sendOne(fd)).toBe(1);
      await sleep(100);
      expect(calls, 'still watched after the first error').toBeGreaterThan(before);
    } finally {
      w.close();
      native.close(fd);
    }
  });

  it('do not cost the next datagram, and are read as no path MTU report', async () => {
    const fd = native.udpSenderOpen(LOOPBACK, 0, 64, false, 65536);
    try {
      expect(sendOne(fd)).toBe(1);
      await sleep(100); // "port unreachable" is queued, and pending on the socket
      expect(sendOne(fd), 'the send after an error still goes').toBe(1);
      await sleep(100);
      expect(native.readPathMtu(fd, new Uint8Array(16 * 4), new Uint32Array(4)), 'not "too big"').toBe(0);
    } finally {
      native.close(fd);
    }
  });
});
