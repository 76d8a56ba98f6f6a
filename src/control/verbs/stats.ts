// Counters: `vtepctl stats`.
import { infos, statsReport } from '../../observe/report.ts';
import { formatStats } from '../format.ts';
import type { StatsReport } from '../protocol.ts';
import { defineVerb, UsageError } from '../verb.ts';
import { expectArgs, json } from './cli.ts';

export const stats = defineVerb({
  cmd: 'stats',
  example: {},
  words: ['stats'],
  usage: '[--json]',
  summary: 'counters per network and remote VTEP, drops by reason',
  access: 'read',
  fields: () => ({}),
  reply: 'as `vtepctl stats --json`',
  handle: (d) => ({
    ok: true,
    data: statsReport(infos(d), d.datapath.unattributed, d.controlStats, {
      busyPoll: d.datapath.governor.pauses,
      icmp: d.icmp,
      router: d.router,
      evpnRejected: d.evpn?.rejected,
    }),
  }),
  fromCli(cli) {
    expectArgs(cli, 0, 'stats [--json]');
    if (cli.flags.network !== undefined)
      throw new UsageError('stats shows every network; --network goes with fdb show');
    return {};
  },
  print: (report: StatsReport, flags) => (flags.json ? json(report) : formatStats(report)),
});
