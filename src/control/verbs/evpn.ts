// BGP EVPN: `vtepctl evpn show`, `vtepctl evpn routes`.
import type { EvpnRouteRow, EvpnStatus } from '../../evpn/speaker.ts';
import { networkOf } from '../daemon-view.ts';
import { formatEvpn, formatEvpnRoutes } from '../format.ts';
import { defineVerb, RefusedError } from '../verb.ts';
import { expectArgs, flagNumber, json } from './cli.ts';

const NO_EVPN = 'vtepd runs without BGP EVPN: its config has no evpn section';

export const evpnShow = defineVerb({
  cmd: 'evpn-show',
  example: {},
  words: ['evpn', 'show'],
  optionalLast: true,
  usage: '[--json]',
  summary: 'BGP EVPN: sessions, routes advertised and received per network',
  access: 'read',
  fields: () => ({}),
  reply: 'as `vtepctl evpn show --json`',
  handle(d) {
    if (d.evpn === undefined) throw new RefusedError(NO_EVPN);
    return d.evpn.status().then((data) => ({ ok: true as const, data }));
  },
  fromCli: (cli) => (expectArgs(cli, 0, 'evpn show [--json]'), {}),
  print: (status: EvpnStatus, flags) => (flags.json ? json(status) : formatEvpn(status)),
});

export const evpnRoutes = defineVerb({
  cmd: 'evpn-routes',
  example: { network: 'blue', type: 2 },
  words: ['evpn', 'routes'],
  usage: '[--network NAME] [--type 2|3] [--json]',
  summary: 'the EVPN routes of each network: those vtepd advertises, and those it received and installed',
  access: 'read',
  fields: ({ networkName, z }) => ({
    network: networkName.optional(),
    type: z
      .union([z.literal(2), z.literal(3)], { error: 'expected 2 (MAC/IP) or 3 (inclusive multicast)' })
      .optional()
      .describe('only routes of this type: 2 (MAC/IP) or 3 (inclusive multicast)'),
  }),
  reply: '`[ { network, direction, type, rd, mac?, ip?, vtep, vni, seq?, rts, installed } ]`',
  handle(d, req) {
    if (d.evpn === undefined) throw new RefusedError(NO_EVPN);
    networkOf(d, req.network);
    const rows = d.evpn.routes(req.network).filter((r) => req.type === undefined || r.type === req.type);
    return { ok: true as const, data: rows };
  },
  fromCli: (cli) => (
    expectArgs(cli, 0, 'evpn routes [--network NAME] [--type 2|3] [--json]'),
    { network: cli.flags.network, type: flagNumber(cli.flags.type) }
  ),
  print: (rows: EvpnRouteRow[], flags) => (flags.json ? json(rows) : formatEvpnRoutes(rows)),
});
