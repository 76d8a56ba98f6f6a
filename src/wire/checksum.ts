// The Internet checksum (RFC 1071): one's complement sum of 16-bit words.

/** Adds buf[off, off+len) to a running 32-bit sum (not yet folded). */
export function sum16(buf: Uint8Array, off: number, len: number, acc = 0): number {
  const end = off + (len & ~1);
  for (let i = off; i < end; i += 2) acc += (buf[i] << 8) | buf[i + 1];
  if (len & 1) acc += buf[off + len - 1] << 8;
  return acc;
}

/** Folds a running sum and complements it: the value to put in a header. */
export function finish(acc: number): number {
  while (acc > 0xffff) acc = (acc & 0xffff) + Math.floor(acc / 0x10000);
  return ~acc & 0xffff;
}

export function checksum(buf: Uint8Array, off: number, len: number, acc = 0): number {
  return finish(sum16(buf, off, len, acc));
}
