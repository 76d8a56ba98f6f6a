// A hostile BGP peer pushing many EVPN routes at vtepd, bogus ones among them
// (next hops no VTEP can have, a sequence number of 4294967295): the bounds
// must hold (max-evpn-macs), vtepd's memory stay bounded and its answers come.
// h1 runs the peer (scripts/lab/rogue-peer.ts), h2 vtepd.
// `npm run fuzz -- --evpn-routes N`.
import { join } from 'node:path';
import { request } from '../../src/control/client.ts';
import type { StatsReport } from '../../src/control/protocol.ts';
import { vtepdEvpnConfig } from '../lab/evpn-fabric.ts';
import { Lab, withLabInterruptible, ROOT, sleep } from '../lab/lab.ts';
import type { RogueRoute } from '../lab/rogue-peer.ts';
import { rssMb } from './run.ts';

export interface EvpnRoutesReport {
  routes: number;
  /** MAC routes installed, and refused at max-evpn-macs. */
  installed: number;
  refused: number;
  /** Routes ignored for their next hop, by reason. */
  rejected: Record<string, number>;
  /** From the peer's start until every MAC route was installed or refused. */
  seconds: number;
  rssMb: { before: number; peak: number; after: number };
  /** Largest time vtepd took to answer `stats` meanwhile (ms). */
  slowestStatsMs: number;
}

export async function runEvpnRoutes(
  count: number,
  vtepdArgs: string[],
  minutes = 30,
  progress: (line: string) => void = () => {},
): Promise<EvpnRoutesReport> {
  const lab = await Lab.create(2);
  // Stopped early (Ctrl-C, a timeout), the lab still goes: namespaces, vtepd, both gobgpd.
  return withLabInterruptible(lab, async () => {
    process.env.VTEPD_TEST_ARGS = vtepdArgs.join(' ');
    const d = await lab.startDaemonArgs(2, [
      '--config',
      lab.writeConfig(2, vtepdEvpnConfig(lab, 2, { vni: 100, address: '192.168.100.2/24' })),
    ]);
    const tapMac = (await lab.exec(2, 'cat', ['/sys/class/net/tap-blue/address'])).stdout.trim();
    const peer = lab.underlay(1);
    const rt = '65000:100';
    const bogus = ['224.0.0.1', '0.0.0.0', '127.0.0.1', '255.255.255.255', '10.0.0.255', '192.168.100.5'];
    const routes: RogueRoute[] = [
      { kind: 'imet', rd: `${peer}:100`, vtep: peer, rt, vni: 100 },
      ...bogus.map((vtep, k): RogueRoute => ({ kind: 'imet', rd: `10.9.9.${k + 1}:100`, vtep, rt, vni: 100 })),
      { kind: 'macip', rd: `${peer}:100`, mac: tapMac, vtep: peer, rt, vni: 100, seq: 0xffffffff },
      { kind: 'macs', count, rd: `${peer}:100`, vtep: peer, rt, vni: 100 },
    ];
    const before = rssMb(d.pid);
    let peak = before;
    const sampler = setInterval(() => (peak = Math.max(peak, rssMb(d.pid))), 250);
    const t0 = Date.now();
    const file = lab.writeConfig(1, JSON.stringify(routes), 'rogue-routes.json');
    const rogue = lab.spawnCommand(1, join(ROOT, 'scripts/lab/rogue-peer.ts'), [peer, lab.underlay(2), file]);
    let s: StatsReport | undefined;
    let slowest = 0;
    let told = t0;
    for (;;) {
      const asked = Date.now();
      s = await request<StatsReport>(lab.socket(2), { cmd: 'stats' }, 30_000);
      slowest = Math.max(slowest, Date.now() - asked);
      const g = s.networks.blue.given['evpn-macs'];
      if (g.entries + g.refused >= count || Date.now() - t0 > minutes * 60_000 || rogue.proc.exitCode !== null) break;
      if (Date.now() - told >= 10_000) {
        told = Date.now();
        progress(
          `${((told - t0) / 1000).toFixed(0)} s: ${g.entries} MACs installed, ${g.refused} refused; ` +
            `vtepd RSS ${rssMb(d.pid).toFixed(0)} MB`,
        );
      }
      await sleep(500);
    }
    const seconds = (Date.now() - t0) / 1000;
    if (rogue.proc.exitCode !== null && rogue.proc.exitCode !== 0)
      progress(`the peer exited (code ${rogue.proc.exitCode}) before it had announced every route`);
    clearInterval(sampler);
    await sleep(2000);
    const g = s.networks.blue.given['evpn-macs'];
    return {
      routes: routes.length - 1 + count,
      installed: g.entries,
      refused: g.refused,
      rejected: s.evpn?.rejected ?? {},
      seconds,
      rssMb: { before, peak, after: rssMb(d.pid) },
      slowestStatsMs: slowest,
    };
  });
}
