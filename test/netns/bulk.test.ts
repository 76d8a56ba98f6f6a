// Bulk TCP through vtepd, checked byte for byte: with offloads (the default)
// this runs through TSO segmentation and UDP GSO on the way out, UDP GRO and
// coalesced TAP writes on the way in; with --no-offload, one frame a datagram.
import { describe, expect, it } from 'vitest';
import { blueConfig, BYTES, kernelPeers, transfer, withLab } from './helpers.ts';

describe('bulk TCP through vtepd', () => {
  it('carries 8 MB each way without a byte changed', () =>
    withLab(2, async (lab) => {
      await kernelPeers(lab, [2]);
      await lab.startDaemon(1, blueConfig(lab, '', [2]));
      const [out, outGot] = await transfer(lab, 1, 2);
      expect(outGot).toBe(out);
      const [back, backGot] = await transfer(lab, 2, 1);
      expect(backGot).toBe(back);
      expect(out.startsWith(`${BYTES} `)).toBe(true);
    }));

  it('carries 8 MB each way over IPv6 without a byte changed', () =>
    withLab(2, async (lab) => {
      await kernelPeers(lab, [2]);
      await lab.startDaemon(1, blueConfig(lab, '', [2]));
      // The lab keeps IPv6 off (quiet captures); the two overlay devices get it back here.
      const v6 = (i: number) => `fd00::${i}`;
      for (const [i, dev] of [
        [1, 'tap-blue'],
        [2, 'vx0'],
      ] as const)
        await lab.addIpv6(i, dev, `${v6(i)}/64`);
      const [out, outGot] = await transfer(lab, 1, 2, v6);
      expect(outGot).toBe(out);
      const [back, backGot] = await transfer(lab, 2, 1, v6);
      expect(backGot).toBe(back);
      expect(out.startsWith(`${BYTES} `)).toBe(true);
    }));
});
