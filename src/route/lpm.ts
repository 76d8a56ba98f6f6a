// A longest-prefix-match table: a binary trie over the address's bits, one
// per family. A lookup walks at most 32 (IPv4) or 128 (IPv6) nodes, reading
// the address where it lies in the frame, and allocates nothing; a change
// (a route added or removed, on the control path) may allocate nodes.
import { firstBit, type Prefix } from './prefix.ts';

class Node<T> {
  zero: Node<T> | undefined = undefined;
  one: Node<T> | undefined = undefined;
  value: T | undefined = undefined;
  prefix: Prefix | undefined = undefined;
}

export class Lpm<T> {
  private readonly v4 = new Node<T>();
  private readonly v6 = new Node<T>();
  private count = 0;

  get size(): number {
    return this.count;
  }

  /** Sets the value of prefix `p`; returns the one it replaced. */
  set(p: Prefix, value: T): T | undefined {
    let n = p.v4 ? this.v4 : this.v6;
    const start = firstBit(p.v4);
    for (let bit = start; bit < start + p.len; bit++) {
      const one = (p.addr[bit >> 3] & (0x80 >> (bit & 7))) !== 0;
      if (one) n = n.one ??= new Node<T>();
      else n = n.zero ??= new Node<T>();
    }
    const old = n.value;
    if (old === undefined) this.count++;
    n.value = value;
    n.prefix = p;
    return old;
  }

  /** The value of exactly prefix `p`. */
  get(p: Prefix): T | undefined {
    return this.node(p)?.value;
  }

  /** Removes prefix `p`; returns its value. */
  delete(p: Prefix): T | undefined {
    const n = this.node(p);
    const old = n?.value;
    if (n === undefined || old === undefined) return undefined;
    n.value = undefined;
    n.prefix = undefined;
    this.count--;
    return old;
  }

  /** The value of the longest prefix holding the address at b[at] (4 bytes for IPv4, 16 for IPv6). */
  lookup(b: Uint8Array, at: number, v4: boolean): T | undefined {
    let n: Node<T> | undefined = v4 ? this.v4 : this.v6;
    let best = n.value;
    const bits = v4 ? 32 : 128;
    for (let bit = 0; bit < bits && n !== undefined; bit++) {
      n = (b[at + (bit >> 3)] & (0x80 >> (bit & 7))) !== 0 ? n.one : n.zero;
      if (n !== undefined && n.value !== undefined) best = n.value;
    }
    return best;
  }

  /** Every prefix and its value, IPv4 first, each family in address order. */
  *entries(): IterableIterator<[Prefix, T]> {
    for (const root of [this.v4, this.v6]) {
      const stack: Node<T>[] = [root];
      while (stack.length > 0) {
        const n = stack.pop()!;
        if (n.value !== undefined) yield [n.prefix!, n.value];
        if (n.one !== undefined) stack.push(n.one);
        if (n.zero !== undefined) stack.push(n.zero);
      }
    }
  }

  private node(p: Prefix): Node<T> | undefined {
    let n: Node<T> | undefined = p.v4 ? this.v4 : this.v6;
    const start = firstBit(p.v4);
    for (let bit = start; bit < start + p.len && n !== undefined; bit++) {
      n = (p.addr[bit >> 3] & (0x80 >> (bit & 7))) !== 0 ? n.one : n.zero;
    }
    return n;
  }
}
