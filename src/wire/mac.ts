// MAC addresses as numbers: hi16 * 2^32 + lo32 is exact (48 bits < 2^53), so a
// MAC is a Map key and a comparison without allocating. Text only in control/.
import { createHash } from 'node:crypto';

export type Mac = number;

export const BROADCAST_MAC: Mac = 0xffff_ffff_ffff;
const TWO_32 = 0x1_0000_0000;
const TWO_40 = 0x100_0000_0000;

export function readMac(buf: Uint8Array, off: number): Mac {
  const hi = (buf[off] << 8) | buf[off + 1];
  const lo = ((buf[off + 2] << 24) | (buf[off + 3] << 16) | (buf[off + 4] << 8) | buf[off + 5]) >>> 0;
  return hi * TWO_32 + lo;
}

export function writeMac(mac: Mac, buf: Uint8Array, off: number): void {
  const hi = Math.floor(mac / TWO_32);
  const lo = mac >>> 0;
  buf[off] = hi >>> 8;
  buf[off + 1] = hi & 0xff;
  buf[off + 2] = lo >>> 24;
  buf[off + 3] = (lo >>> 16) & 0xff;
  buf[off + 4] = (lo >>> 8) & 0xff;
  buf[off + 5] = lo & 0xff;
}

/** The I/G bit, least significant bit of the first octet: broadcast and multicast. */
export function isGroupMac(mac: Mac): boolean {
  return (Math.floor(mac / TWO_40) & 1) === 1;
}

export function formatMac(mac: Mac): string {
  return mac
    .toString(16)
    .padStart(12, '0')
    .replace(/(..)(?!$)/g, '$1:');
}

/** Parses "52:54:00:12:34:56" (also with '-'); undefined if it is not one. */
export function parseMac(text: string): Mac | undefined {
  const m =
    /^([0-9a-f]{2})[:-]([0-9a-f]{2})[:-]([0-9a-f]{2})[:-]([0-9a-f]{2})[:-]([0-9a-f]{2})[:-]([0-9a-f]{2})$/i.exec(text);
  return m ? parseInt(m.slice(1).join(''), 16) : undefined;
}

/**
 * A locally administered unicast MAC that depends only on `seed`: the same
 * device gets the same MAC each time it is created (as systemd's
 * MACAddressPolicy=persistent), so that neighbours' caches stay right across
 * a restart.
 */
export function derivedMac(seed: string): Mac {
  const h = createHash('sha256').update(seed).digest();
  h[0] = (h[0] & 0xfc) | 0x02; // locally administered, unicast
  return readMac(h, 0);
}
