// The busy-poll governor: polling goes on while it catches packets and no one
// else waits for the CPU, and pauses (doubling) when either stops being true.
import { describe, expect, it } from 'vitest';
import { BusyPollGovernor, type RunQueueWait } from '../../src/io/busy-poll.ts';

class FakeWait implements RunQueueWait {
  waited = 0;
  ms(): number {
    return this.waited;
  }
  close(): void {}
}

/** One stretch from `at` lasting `ms`, catching `caught` packets while the thread waited `waited` ms for a CPU. */
function stretch(g: BusyPollGovernor, w: FakeWait, at: number, ms: number, caught: number, waited = 0): void {
  g.begin(at);
  for (let i = 0; i < caught; i++) g.caughtOne();
  w.waited += waited;
  g.end(at + ms);
}

describe('BusyPollGovernor', () => {
  it('keeps polling while stretches catch packets and the thread waits for no CPU', () => {
    const w = new FakeWait();
    const g = new BusyPollGovernor(w);
    for (let t = 0; t < 100; t += 5) {
      expect(g.allowed(t)).toBe(true);
      stretch(g, w, t, 0.3, 1, 0.01);
    }
    expect(g.pauses).toEqual({ contended: 0, idle: 0 });
  });

  it('pauses at once when the thread waited for a CPU during a stretch, 10 ms and doubling, and a good stretch ends it', () => {
    const w = new FakeWait();
    const g = new BusyPollGovernor(w);
    stretch(g, w, 0, 1, 5, 0.5);
    expect(g.allowed(5)).toBe(false);
    expect(g.allowed(11)).toBe(true);
    stretch(g, w, 11, 1, 5, 0.5);
    expect(g.allowed(30)).toBe(false);
    expect(g.allowed(32)).toBe(true);
    stretch(g, w, 32, 1, 5, 0);
    stretch(g, w, 40, 1, 5, 0.5);
    expect(g.allowed(51)).toBe(true); // back to 10 ms after the stretch that paid
    expect(g.pauses.contended).toBe(3);
  });

  it('pauses after three stretches in a row that catch nothing, never longer than a second', () => {
    const w = new FakeWait();
    const g = new BusyPollGovernor(w);
    let t = 0;
    stretch(g, w, t, 0.2, 0);
    stretch(g, w, (t += 1), 0.2, 0);
    expect(g.allowed(t + 1)).toBe(true);
    stretch(g, w, (t += 1), 0.2, 0);
    expect(g.allowed(t + 1)).toBe(false);
    for (let k = 0; k < 20; k++) {
      t += 2000;
      for (let j = 0; j < 3; j++) stretch(g, w, (t += 1), 0.2, 0);
    }
    expect(g.allowed(t + 999)).toBe(false);
    expect(g.allowed(t + 1001)).toBe(true);
    expect(g.pauses.idle).toBe(21);
  });
});
