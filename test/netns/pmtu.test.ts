// Path MTU: a frame whose tunnel packet would not fit the path is never sent
// (RFC 7348 section 4.3); its sender is told, as by a router (ICMP
// "fragmentation needed" with the inner MTU, ICMPv6 "packet too big"), so
// that its TCP lowers the MSS and nothing stalls. The path MTU toward each
// remote starts at the underlay's MTU and is lowered by the ICMP errors that
// come back for vtepd's own packets.
import { describe, expect, it } from 'vitest';
import { vxlanPackets } from '../../src/observe/dissect.ts';
import type { RemoteRow } from '../../src/control/protocol.ts';
import type { Lab } from '../../scripts/lab/lab.ts';
import { expectOk, kernelMac, overlay, stats, transfer, vtepctl, withLab } from './helpers.ts';

type Family = 4 | 6;
const under = (lab: Lab, f: Family, i: number) => (f === 4 ? lab.underlay(i) : lab.underlay6(i));
const inner6 = (i: number) => `fd01::${i}`;

/** vtepd on host i toward host `peer`, over the family's underlay, with more lines of network blue. */
function config(lab: Lab, f: Family, i: number, peer: number, extra: string): string {
  return `
local: ${under(lab, f, i)}
socket: ${lab.socket(i)}
networks:
  blue:
    tap: tap-blue
    address: ${overlay(i)}/24
    vxlan: { vni: 42 }
    remotes: [${under(lab, f, peer)}]
${extra}`;
}

async function remotes(lab: Lab, i: number): Promise<RemoteRow[]> {
  const r = await vtepctl('--socket', lab.socket(i), 'remote', 'show', '--json');
  expectOk(r, 'remote show');
  return JSON.parse(r.stdout) as RemoteRow[];
}

/** vtepd on hosts 1 and 2 with TAPs of MTU 9000 over the lab's 1500 underlay; IPv6 on the TAPs too. */
async function jumboTaps(lab: Lab, f: Family): Promise<void> {
  await lab.ipv6Underlay();
  for (const [i, peer] of [
    [1, 2],
    [2, 1],
  ]) {
    const d = await lab.startDaemon(i, config(lab, f, i, peer, '    mtu: 9000\n'));
    expect(d.log).toMatch(/larger frames are not sent/);
    await lab.addIpv6(i, 'tap-blue', `${inner6(i)}/64`);
  }
}

describe.each([4, 6] as const)('path MTU over an IPv%i underlay', (f) => {
  const fit = f === 4 ? 1450 : 1430; // 1500 - outer IP - UDP - VXLAN - Ethernet

  it(`answers a frame too big for the path with "fragmentation needed (mtu ${fit})", and IPv6 with "packet too big", at once`, () =>
    withLab(2, async (lab) => {
      await jumboTaps(lab, f);
      // A frame too big without DF is dropped and counted, never fragmented (RFC 7348 section 4.3).
      expect((await lab.exec(1, 'ping', ['-M', 'dont', '-s', '2000', '-c', '1', '-W', '1', overlay(2)])).code).not.toBe(
        0,
      );
      expect((await stats(lab)).networks.blue.drops.oversize).toBe(1);
      const v4 = await lab.exec(1, 'ping', ['-M', 'do', '-s', '2000', '-c', '1', '-W', '2', overlay(2)]);
      expect(v4.stdout).toContain(`Frag needed and DF set (mtu = ${fit})`);
      const v6 = await lab.exec(1, 'ping', ['-6', '-M', 'do', '-s', '2000', '-c', '1', '-W', '2', inner6(2)]);
      expect(v6.stdout).toContain(`Packet too big: mtu=${fit}`);
      // The host learned it: what fits goes through.
      expectOk(
        await lab.exec(1, 'ping', ['-M', 'do', '-s', String(fit - 28), '-c', '2', '-W', '2', overlay(2)]),
        'ping that fits',
      );
      expectOk(
        await lab.exec(1, 'ping', ['-6', '-M', 'do', '-s', String(fit - 48), '-c', '2', '-W', '2', inner6(2)]),
        'IPv6 ping that fits',
      );
      const s = await stats(lab);
      expect(s.networks.blue.counters['pmtu-icmp-sent']).toBe(2);
      expect(s.networks.blue.remotes[under(lab, f, 2)].pmtu).toBe(1500);
    }));

  it("carries 8 MB of TCP each way between TAPs of MTU 9000: the senders' TCP adapts", () =>
    withLab(2, async (lab) => {
      await jumboTaps(lab, f);
      const [out, outGot] = await transfer(lab, 1, 2);
      expect(outGot).toBe(out);
      const [back, backGot] = await transfer(lab, 2, 1);
      expect(backGot).toBe(back);
      expect((await stats(lab)).networks.blue.counters['pmtu-icmp-sent']).toBeGreaterThan(0);
    }));

  it("learns 1400 from the ICMP error of a router with a 1400 hop, tells the TAP's hosts, and TCP completes", () =>
    withLab(2, async (lab) => {
      await lab.ipv6Underlay();
      await lab.routeThrough(2, 1400);
      await lab.kernelVxlan(2, {
        vni: 42,
        ipv6: f === 6,
        address: `${overlay(2)}/24`,
        mac: kernelMac(2),
        remotes: [under(lab, f, 1)],
        mtu: fit,
      });
      // IPv4 routers fragment what has no DF: DF on, so that the path's MTU is reported.
      await lab.startDaemon(1, config(lab, f, 1, 2, f === 4 ? '    df: true\n' : ''));
      expect((await remotes(lab, 1))[0].pmtu).toBe(1500);
      const [out, outGot] = await transfer(lab, 1, 2);
      expect(outGot).toBe(out);
      const [row] = await remotes(lab, 1);
      expect(row.pmtu).toBe(1400);
      expect(row['pmtu-learned']).toBe(true);
      const shown = await vtepctl('--socket', lab.socket(1), 'remote', 'show');
      expect(shown.stdout).toMatch(/pmtu 1400 \(icmp\)/);
      const innerMtu = 1400 - (fit === 1450 ? 50 : 70);
      // The host behind the TAP was told during the transfer: it refuses a larger ping itself now.
      const big = await lab.exec(1, 'ping', ['-M', 'do', '-s', '1400', '-c', '1', '-W', '2', overlay(2)]);
      expect(big.stdout + big.stderr).toMatch(new RegExp(`mtu ?= ?${innerMtu}\\b`));
      expectOk(
        await lab.exec(1, 'ping', ['-M', 'do', '-s', String(innerMtu - 28), '-c', '2', '-W', '2', overlay(2)]),
        'a ping that fits the path',
      );
      expect((await stats(lab)).networks.blue.counters['pmtu-icmp-sent']).toBeGreaterThan(0);
    }));
});

describe("the underlay's MTU changing under vtepd", () => {
  it('is followed within a second: frames that no longer fit get "fragmentation needed" with the new inner MTU', () =>
    withLab(2, async (lab) => {
      await lab.kernelVxlan(2, { vni: 42, address: `${overlay(2)}/24`, mac: kernelMac(2), remotes: [lab.underlay(1)] });
      const d = await lab.startDaemon(1, config(lab, 4, 1, 2, ''));
      expectOk(
        await lab.exec(1, 'ping', ['-M', 'do', '-s', '1400', '-c', '1', '-W', '2', overlay(2)]),
        'a 1428-byte ping fits 1500',
      );
      expectOk(await lab.exec(1, 'ip', ['link', 'set', lab.dev(1), 'mtu', '1400']), 'underlay MTU 1400');
      await new Promise((r) => setTimeout(r, 1500));
      const big = await lab.exec(1, 'ping', ['-M', 'do', '-s', '1400', '-c', '1', '-W', '2', overlay(2)]);
      expect(big.stdout).toContain('Frag needed and DF set (mtu = 1350)');
      const [row] = await remotes(lab, 1);
      expect([row.pmtu, row['pmtu-learned']]).toEqual([1400, false]);
      expect(d.log).toMatch(/underlay u1: MTU 1500 -> 1400/);
    }));
});

describe('df: inherit', () => {
  it("copies the inner IPv4 packet's DF to the outer header, as the kernel's df inherit", () =>
    withLab(2, async (lab) => {
      await lab.kernelVxlan(2, { vni: 42, address: `${overlay(2)}/24`, mac: kernelMac(2), remotes: [lab.underlay(1)] });
      await lab.startDaemon(1, config(lab, 4, 1, 2, '    df: inherit\n'));
      expectOk(await lab.exec(1, 'ping', ['-c', '1', '-W', '2', overlay(2)]), 'warm-up ping');
      const cap = await lab.capture(1, lab.dev(1), ['src', 'host', lab.underlay(1), 'and', 'udp', 'port', '4789']);
      expectOk(await lab.exec(1, 'ping', ['-M', 'do', '-c', '2', '-i', '0.2', '-W', '2', overlay(2)]), 'ping with DF');
      expectOk(
        await lab.exec(1, 'ping', ['-M', 'dont', '-c', '2', '-i', '0.2', '-W', '2', overlay(2)]),
        'ping without DF',
      );
      const echoes = vxlanPackets(await cap.stop()).filter((p) => p.innerProto === 1);
      expect(echoes.length).toBe(4);
      for (const p of echoes) expect(p.ip.df, 'outer DF').toBe((p.inner[14 + 6] & 0x40) !== 0);
      expect(echoes.map((p) => p.ip.df)).toEqual([true, true, false, false]);
    }));
});
