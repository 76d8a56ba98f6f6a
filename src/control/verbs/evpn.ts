// BGP EVPN: `vtepctl evpn show`.
import type { EvpnStatus } from '../../evpn/speaker.ts';
import { formatEvpn } from '../format.ts';
import { defineVerb, RefusedError } from '../verb.ts';
import { expectArgs, json } from './cli.ts';

export const evpnShow = defineVerb({
  cmd: 'evpn-show',
  example: {},
  words: ['evpn', 'show'],
  optionalLast: true,
  usage: '[--json]',
  summary: 'BGP EVPN: sessions, routes advertised and received per network',
  access: 'read',
  fields: {},
  reply: 'as `vtepctl evpn show --json`',
  handle(d) {
    if (d.evpn === undefined) throw new RefusedError('vtepd runs without BGP EVPN: its config has no evpn section');
    return d.evpn.status().then((data) => ({ ok: true as const, data }));
  },
  fromCli: (cli) => (expectArgs(cli, 0, 'evpn show [--json]'), {}),
  print: (status: EvpnStatus, flags) => (flags.json ? json(status) : formatEvpn(status)),
});
