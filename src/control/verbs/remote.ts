// Remote VTEPs: `vtepctl remote add|del|show`.
import { infos, remoteRows } from '../../observe/report.ts';
import { Hold } from '../../switch/hold.ts';
import { formatIp } from '../../wire/ip-address.ts';
import { networkOf, remoteAddress, theNetwork } from '../daemon-view.ts';
import { formatRemotes } from '../format.ts';
import type { RemoteRow } from '../protocol.ts';
import { defineVerb, RefusedError } from '../verb.ts';
import { expectArgs, json, needNetwork } from './cli.ts';

export const remoteAdd = defineVerb({
  cmd: 'remote-add',
  example: { network: 'blue', ip: '10.0.0.7' },
  words: ['remote', 'add'],
  usage: 'IP --network NAME [--no-flood]',
  summary: 'a VTEP on the flood list (with --no-flood: a sender only)',
  access: 'change',
  fields: ({ networkName, unicastIp, z }) => ({
    network: networkName,
    ip: unicastIp,
    flood: z
      .boolean({ error: 'expected true or false' })
      .default(true)
      .describe('whether it receives floods (false: --no-flood, accepted as a sender only)'),
  }),
  cliNames: { ip: 'IP' },
  reply: '`{}` (`flood: false`: a sender only)',
  handle(d, req) {
    const { net, cfg } = theNetwork(d, req.network);
    const addr = remoteAddress(d, req.ip);
    const ip = formatIp(addr);
    if (req.flood && cfg.group !== undefined && cfg.remotes.length === 0) {
      throw new RefusedError(
        `network ${net.name} sends its BUM frames to group ${cfg.group.address} only; to accept ${ip} as a ` +
          `sender, add it with --no-flood; to flood to it as well, list remotes in the config`,
      );
    }
    if (net.holdRemote(addr, req.flood ? Hold.FloodCtl : Hold.AcceptCtl) < 0)
      throw new RefusedError(
        `network ${net.name} has ${net.remotes.givenCount} remote VTEPs, its max-remotes (${net.remotes.maxRemotes}); ` +
          'raise max-remotes or remove some',
      );
    d.changes.note(req.cmd, `control: remote add ${ip}${req.flood ? '' : ' no-flood'} network ${net.name}`, {
      network: net.name,
      request: req.cmd,
    });
    return { ok: true, data: {} };
  },
  fromCli(cli) {
    expectArgs(cli, 1, 'remote add IP --network NAME [--no-flood]');
    return { network: needNetwork(cli.flags, 'remote add'), ip: cli.args[0], flood: !cli.flags['no-flood'] };
  },
});

export const remoteDel = defineVerb({
  cmd: 'remote-del',
  example: { network: 'blue', ip: '10.0.0.2' },
  words: ['remote', 'del'],
  usage: 'IP --network NAME',
  summary: 'a VTEP and every MAC behind it',
  access: 'change',
  fields: ({ networkName, unicastIp }) => ({ network: networkName, ip: unicastIp }),
  cliNames: { ip: 'IP' },
  reply: '`{}`',
  handle(d, req) {
    const { net } = theNetwork(d, req.network);
    const r = net.remotes.indexOf(req.ip);
    if (r < 0) throw new RefusedError(`${formatIp(req.ip)} is not a remote of network ${net.name}`);
    net.forgetRemote(r);
    d.changes.note(req.cmd, `control: remote del ${formatIp(req.ip)} network ${net.name}`, {
      network: net.name,
      request: req.cmd,
    });
    return { ok: true, data: {} };
  },
  fromCli(cli) {
    expectArgs(cli, 1, 'remote del IP --network NAME');
    return { network: needNetwork(cli.flags, 'remote del'), ip: cli.args[0] };
  },
});

export const remoteShow = defineVerb({
  cmd: 'remote-show',
  example: {},
  words: ['remote', 'show'],
  optionalLast: true,
  usage: '[--network NAME] [--json]',
  summary: 'remote VTEPs, flood or not, where from, counters',
  access: 'read',
  fields: ({ networkName }) => ({ network: networkName.optional() }),
  reply:
    '`[ { remote, network, flood, origins, macs, rx-packets, rx-bytes, tx-packets, tx-bytes, pmtu, pmtu-learned } ]`',
  handle(d, req) {
    networkOf(d, req.network);
    return { ok: true, data: remoteRows(infos(d), req.network) };
  },
  fromCli: ({ flags }) => ({ network: flags.network }),
  print: (rows: RemoteRow[], flags) => (flags.json ? json(rows) : formatRemotes(rows)),
});
