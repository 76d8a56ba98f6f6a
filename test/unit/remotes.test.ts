// The remote table: holds and references, removal and index reuse, the
// flood list, the learned-remote limit, and lookups by 16-byte address.
import { describe, expect, it } from 'vitest';
import { Hold, MAX_LEARNED_REMOTES, RemoteTable } from '../../src/switch/remotes.ts';
import { ADDR_WORDS, parseIp } from '../../src/wire/ip-address.ts';

const a = (s: string) => parseIp(s)!;
const words = (s: string) => new Uint32Array(a(s).buffer);

describe('RemoteTable', () => {
  it('finds remotes by address, IPv4 and IPv6 alike, and not what it does not hold', () => {
    const t = new RemoteTable();
    const r1 = t.hold(a('10.0.0.2'), Hold.Flood);
    const r2 = t.hold(a('fd00::2'), Hold.Allow);
    expect([r1, r2]).toEqual([1, 2]);
    expect(t.find(words('10.0.0.2'), 0)).toBe(r1);
    expect(t.find(words('fd00::2'), 0)).toBe(r2);
    expect(t.find(words('10.0.0.3'), 0)).toBe(-1);
    expect(t.address(r2)).toBe('fd00::2');
  });

  it('keeps the flood list to the remotes that hold a flood hold', () => {
    const t = new RemoteTable();
    const r1 = t.hold(a('10.0.0.2'), Hold.Flood);
    t.hold(a('10.0.0.3'), Hold.Allow);
    const r3 = t.hold(a('10.0.0.4'), Hold.Flood);
    expect(Array.from(t.flood.subarray(0, t.floodCount))).toEqual([r1, r3]);
    t.hold(a('10.0.0.3'), Hold.Flood);
    expect(t.floodCount).toBe(3);
    t.release(r1, Hold.Flood);
    expect(Array.from(t.flood.subarray(0, t.floodCount))).toEqual([2, r3]);
  });

  it('keeps a remote while anything holds or references it, then frees its index for the next', () => {
    const t = new RemoteTable();
    const r = t.hold(a('10.0.0.2'), Hold.Flood);
    t.hold(a('10.0.0.2'), Hold.Allow);
    expect(t.reference(a('10.0.0.2'))).toBe(r);
    expect(t.release(r, Hold.Flood)).toBe(false);
    expect(t.release(r, Hold.Allow)).toBe(false);
    expect(t.live(r)).toBe(true);
    expect(t.unreference(r)).toBe(true);
    expect(t.live(r)).toBe(false);
    expect(t.find(words('10.0.0.2'), 0)).toBe(-1);
    expect(t.hold(a('10.0.0.9'), Hold.Flood)).toBe(r);
    expect(t.find(words('10.0.0.9'), 0)).toBe(r);
  });

  it('grows past its first capacity with every address still found', () => {
    const t = new RemoteTable();
    const addrs = Array.from({ length: 300 }, (_, k) => `10.${k >> 8}.${k & 255}.1`);
    const idx = addrs.map((s) => t.hold(a(s), Hold.Flood));
    addrs.forEach((s, k) => expect(t.find(words(s), 0)).toBe(idx[k]));
    expect(t.floodCount).toBe(300);
    const all = new Uint32Array(300 * ADDR_WORDS);
    addrs.forEach((s, k) => all.set(words(s), k * ADDR_WORDS));
    expect(t.find(all, 299 * ADDR_WORDS)).toBe(idx[299]);
  });

  it('learns at most MAX_LEARNED_REMOTES remotes', () => {
    const t = new RemoteTable();
    for (let k = 0; k < MAX_LEARNED_REMOTES; k++)
      expect(t.learn(words(`10.${k >> 16}.${(k >> 8) & 255}.${k & 255}`), 0)).toBeGreaterThan(0);
    expect(t.learn(words('192.0.2.1'), 0)).toBe(-1);
    expect(t.hold(a('192.0.2.1'), Hold.Flood)).toBeGreaterThan(0); // configured ones still come in
  });

  it('keeps the multicast group out of the sender lookups', () => {
    const t = new RemoteTable();
    const g = t.hold(a('239.1.1.1'), Hold.Group);
    expect(t.group).toBe(g);
    expect(t.find(words('239.1.1.1'), 0)).toBe(-1);
    expect(t.fanout).toBe(1);
    expect([...t.indices()]).toEqual([]);
  });
});

describe('bound on given remotes', () => {
  it('refuses a new given remote past max-remotes (holds and static references alike), counted; learned ones apart', () => {
    const t = new RemoteTable();
    t.maxRemotes = 2;
    expect(t.hold(a('10.0.0.2'), Hold.Flood)).toBeGreaterThan(0);
    expect(t.reference(a('10.0.0.3'))).toBeGreaterThan(0);
    expect(t.hold(a('10.0.0.4'), Hold.FloodCtl)).toBe(-1);
    expect(t.reference(a('10.0.0.5'))).toBe(-1);
    expect(t.refusedRemotes).toBe(2);
    expect(t.hold(a('10.0.0.2'), Hold.FloodCtl)).toBeGreaterThan(0); // one it has
    expect(t.learn(words('10.0.0.6'), 0)).toBeGreaterThan(0); // learned remotes have their own bound
    expect(t.givenCount).toBe(2);
    t.release(t.indexOf(a('10.0.0.2')), Hold.Flood);
    t.release(t.indexOf(a('10.0.0.2')), Hold.FloodCtl);
    expect(t.givenCount).toBe(1);
    expect(t.hold(a('10.0.0.4'), Hold.FloodCtl)).toBeGreaterThan(0);
  });
});
