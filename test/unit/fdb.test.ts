// The learning table: learning, moves, the size limit, static entries and ageing.
import { describe, expect, it } from 'vitest';
import { Fdb, Learned, LOCAL_PORT, UNKNOWN_PORT } from '../../src/switch/fdb.ts';

const A = 0x020000000001;
const B = 0x020000000002;
const C = 0x020000000003;

describe('Fdb', () => {
  it('learns a MAC on its port and finds it', () => {
    const f = new Fdb();
    expect(f.lookup(A)).toBe(UNKNOWN_PORT);
    expect(f.learn(A, 2, 0)).toBe(Learned.New);
    expect(f.learn(A, 2, 0.5)).toBe(Learned.Same);
    expect(f.lookup(A)).toBe(2);
    expect(f.learned).toBe(1);
  });

  it('moves a MAC that appears behind another port, and counts the move', () => {
    const f = new Fdb();
    f.learn(A, LOCAL_PORT, 0);
    expect(f.learn(A, 3, 1)).toBe(Learned.Moved);
    expect(f.lookup(A)).toBe(3);
    expect(f.moved).toBe(1);
  });

  it('refuses new MACs when full, without evicting the ones it has', () => {
    const f = new Fdb(300, 2);
    f.learn(A, 1, 0);
    f.learn(B, 1, 0);
    expect(f.learn(C, 1, 0)).toBe(Learned.Refused);
    expect(f.lookup(C)).toBe(UNKNOWN_PORT);
    expect(f.lookup(A)).toBe(1);
    expect(f.refused).toBe(1);
  });

  it('keeps static entries: they neither move nor age, nor count against the limit', () => {
    const f = new Fdb(10, 1);
    f.addStatic(A, 2, 0, 'config');
    expect(f.learn(A, 5, 1)).toBe(Learned.Static);
    expect(f.lookup(A)).toBe(2);
    expect(f.learn(B, 1, 0)).toBe(Learned.New);
    f.run(1000);
    expect(f.lookup(A)).toBe(2);
    expect(f.lookup(B)).toBe(UNKNOWN_PORT);
  });

  it('ages out entries idle for `ageing` seconds, and only those', () => {
    const f = new Fdb(300);
    f.learn(A, 1, 0);
    f.learn(B, 1, 100);
    expect(f.run(299)).toBe(0);
    expect(f.run(300)).toBe(1);
    expect(f.lookup(A)).toBe(UNKNOWN_PORT);
    expect(f.lookup(B)).toBe(1);
    expect(f.aged).toBe(1);
  });

  it('keeps an entry alive while it is seen (refreshed at most once a second)', () => {
    const f = new Fdb(10);
    f.learn(A, 1, 0);
    f.learn(B, 1, 1);
    for (let t = 2; t <= 20; t++) f.learn(A, 1, t);
    expect(f.run(20)).toBe(1); // B, idle since t=1; A stays though it was learned first
    expect(f.lookup(A)).toBe(1);
    expect(f.lookup(B)).toBe(UNKNOWN_PORT);
  });
});

describe('bounds on given entries', () => {
  it('refuses a new given MAC past max-static-macs, counts it, and takes replacements and the other kind', () => {
    const f = new Fdb();
    f.maxStaticMacs = 2;
    f.maxEvpnMacs = 1;
    expect(f.refuseGiven(A, 'config')).toBe(false);
    f.addStatic(A, 1, 0, 'config');
    f.addStatic(B, 1, 0, 'vtepctl');
    expect(f.refuseGiven(C, 'vtepctl')).toBe(true);
    expect(f.refusedStatic).toBe(1);
    expect(f.refuseGiven(B, 'vtepctl')).toBe(false); // replaces its own entry
    expect(f.refuseGiven(C, 'evpn')).toBe(false); // EVPN has a bound of its own
    f.addStatic(C, 2, 0, 'evpn');
    expect([f.givenCount('static'), f.givenCount('evpn')]).toEqual([2, 1]);
    expect(f.refuseGiven(0x020000000004, 'evpn')).toBe(true);
    expect(f.refusedEvpn).toBe(1);
  });

  it('keeps its counts through deletes, flushes, a learned move over an EVPN entry, and clones', () => {
    const f = new Fdb();
    f.addStatic(A, 1, 0, 'evpn');
    f.addStatic(B, 1, 0, 'evpn');
    f.addStatic(C, 2, 0, 'config');
    f.delete(A);
    expect(f.givenCount('evpn')).toBe(1);
    expect(f.learn(B, LOCAL_PORT, 1)).toBe(Learned.Displaced); // the host moved here
    expect(f.givenCount('evpn')).toBe(0);
    expect(f.clone().givenCount('static')).toBe(1);
    f.flush(undefined, 'static');
    expect([f.givenCount('static'), f.givenCount('evpn')]).toEqual([0, 0]);
  });
});
