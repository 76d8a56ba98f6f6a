// The fuzzer's bounded run (`npm run fuzz` does millions): 100k generated
// packets on each ingress of a running vtepd, and control requests. The
// daemon stays up and forwards the probe after every batch, accounts for
// every packet by reason, and delivers exactly what the oracle says.
import { describe, expect, it } from 'vitest';
import { INGRESSES, runFuzz } from '../../scripts/fuzz/run.ts';

describe('fuzzing every ingress (bounded)', () => {
  it('survives 100k packets per ingress and 2000 control requests, every packet accounted for and the oracle agreeing', async () => {
    const report = await runFuzz({
      packets: 100_000,
      batch: 25_000,
      pps: 150_000,
      seed: 42,
      ingresses: INGRESSES,
      controlRequests: 2000,
      vtepdArgs: (process.env.VTEPD_TEST_ARGS ?? '').split(' ').filter(Boolean),
    });
    expect(report.crashed, report.log).toBe(false);
    for (const r of report.ingresses) {
      expect(r.sent, `${r.ingress}: sent`).toBe(100_000);
      expect(r.unaccounted, `${r.ingress}: packets neither delivered nor dropped by a reason`).toBe(0);
      expect(r.mismatches, `${r.ingress}: batches where the daemon and the oracle disagree`).toEqual([]);
      expect(r.probesFailed, `${r.ingress}: probes that failed after a batch`).toBe(0);
      // Most batches are checked against the oracle one by one (a kernel queue overflow makes one unknowable).
      expect(r.unchecked, `${r.ingress}: batches the kernel dropped from`).toBeLessThanOrEqual(1);
      expect(r.delivered, `${r.ingress}: some of it was delivered`).toBeGreaterThan(10_000);
      expect(Object.keys(r.dropped).length, `${r.ingress}: dropped for several reasons`).toBeGreaterThan(1);
    }
    expect(report.control?.problems).toEqual([]);
    expect(report.control?.requests).toBe(2000);
  }, 300_000);
});
