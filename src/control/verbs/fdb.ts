// The forwarding database: `vtepctl fdb show|add|replace|del|flush`.
import { eachFdbRow, infos } from '../../observe/report.ts';
import { TableError } from '../../switch/table-error.ts';
import { formatIp } from '../../wire/ip-address.ts';
import { formatMac } from '../../wire/mac.ts';
import { networkOf, remoteAddress, theNetwork } from '../daemon-view.ts';
import { formatFdb } from '../format.ts';
import { lazyRows, type FdbRow } from '../protocol.ts';
import { defineVerb, RefusedError, UsageError } from '../verb.ts';
import { expectArgs, json, needNetwork } from './cli.ts';

export const fdbShow = defineVerb({
  cmd: 'fdb-show',
  example: { network: 'blue' },
  aliases: ['fdb'],
  words: ['fdb', 'show'],
  optionalLast: true,
  usage: '[--network NAME] [--json]',
  summary: 'the MAC table: MAC, network, local or dst IP, static or dynamic, age in seconds, origin',
  access: 'read',
  fields: ({ networkName }) => ({ network: networkName.optional() }),
  reply: '`[ { mac, network, remote, static, age, origin } ]`',
  handle(d, req) {
    networkOf(d, req.network);
    return { ok: true, data: lazyRows(() => eachFdbRow(infos(d), d.now(), req.network)) };
  },
  fromCli: ({ flags }) => ({ network: flags.network }),
  print: (rows: FdbRow[], flags) => (flags.json ? json(rows) : formatFdb(rows)),
});

function given(replace: boolean) {
  const verb = replace ? 'replace' : 'add';
  return defineVerb({
    cmd: `fdb-${verb}`,
    example: { network: 'blue', mac: '52:54:00:12:34:99', dst: '10.0.0.2' },
    words: ['fdb', verb],
    usage: 'MAC dst IP --network NAME',
    summary: replace
      ? 'the same, or move it'
      : 'a MAC behind a remote VTEP, for good (never ages, not moved by learning)',
    access: 'change',
    fields: ({ networkName, unicastIp, unicastMac }) => ({ network: networkName, mac: unicastMac, dst: unicastIp }),
    cliNames: { mac: 'MAC', dst: 'IP' },
    reply: replace ? '`{}`' : '`{}`; refused if the MAC has a given entry, or is behind the local TAP',
    handle(d, req) {
      const { net } = theNetwork(d, req.network);
      try {
        net.setStatic(req.mac, remoteAddress(d, req.dst), 'vtepctl', d.now(), replace);
      } catch (e) {
        if (e instanceof TableError) throw new RefusedError(`${formatMac(req.mac)} ${e.message}`);
        throw e;
      }
      d.changes.note(
        req.cmd,
        `control: fdb ${verb} ${formatMac(req.mac)} dst ${formatIp(req.dst)} network ${net.name}`,
        {
          network: net.name,
          request: req.cmd,
        },
      );
      return { ok: true, data: {} };
    },
    fromCli(cli) {
      expectArgs(cli, 3, `fdb ${verb} MAC dst IP --network NAME`);
      if (cli.args[1] !== 'dst') throw new UsageError(`expected: vtepctl fdb ${verb} MAC dst IP --network NAME`);
      return { network: needNetwork(cli.flags, `fdb ${verb}`), mac: cli.args[0], dst: cli.args[2] };
    },
  });
}

export const fdbAdd = given(false);
export const fdbReplace = given(true);

export const fdbDel = defineVerb({
  cmd: 'fdb-del',
  example: { network: 'blue', mac: '52:54:00:12:34:56' },
  words: ['fdb', 'del'],
  usage: 'MAC --network NAME',
  summary: "remove a MAC's entry, learned or given",
  access: 'change',
  fields: ({ networkName, unicastMac }) => ({ network: networkName, mac: unicastMac }),
  cliNames: { mac: 'MAC' },
  reply: '`{}`; refused if the MAC has no entry',
  handle(d, req) {
    const { net } = theNetwork(d, req.network);
    if (net.deleteMac(req.mac) === undefined)
      throw new RefusedError(`${formatMac(req.mac)} has no entry in network ${net.name}`);
    d.changes.note(req.cmd, `control: fdb del ${formatMac(req.mac)} network ${net.name}`, {
      network: net.name,
      request: req.cmd,
    });
    return { ok: true, data: {} };
  },
  fromCli(cli) {
    expectArgs(cli, 1, 'fdb del MAC --network NAME');
    return { network: needNetwork(cli.flags, 'fdb del'), mac: cli.args[0] };
  },
});

/** Entries a flush removes between two turns of the event loop (a few milliseconds). */
const FLUSH_CHUNK = 2000;

export const fdbFlush = defineVerb({
  cmd: 'fdb-flush',
  example: { network: 'blue', which: 'dynamic' },
  words: ['fdb', 'flush'],
  usage: '[--network NAME] [--dynamic | --static] [--remote IP]',
  summary: 'remove learned entries, given ones, or both, in one network or all, behind one VTEP or everywhere',
  access: 'change',
  fields: ({ networkName, unicastIp, z }) => ({
    network: networkName.optional(),
    which: z
      .enum(['all', 'dynamic', 'static'], { error: 'expected all, dynamic or static' })
      .default('all')
      .describe('learned entries, given ones, or both'),
    remote: unicastIp.optional().describe('only the entries behind this VTEP'),
  }),
  reply: '`{ flushed }`',
  async handle(d, req) {
    const only = networkOf(d, req.network);
    let flushed = 0;
    // A chunk at a time, packets between: flushing a full table never stalls forwarding.
    for (const { net } of only ? [only] : [...d.networks.values()]) {
      const r = req.remote === undefined ? undefined : net.remotes.indexOf(req.remote);
      if (r !== undefined && r <= 0) continue;
      for (let n = FLUSH_CHUNK; n === FLUSH_CHUNK; flushed += n) {
        if (flushed > 0) await new Promise((resolve) => setImmediate(resolve));
        n = net.flushFdb(req.which, r, FLUSH_CHUNK);
      }
    }
    const remote = req.remote === undefined ? undefined : formatIp(req.remote);
    const what = [
      req.network && `network ${req.network}`,
      req.which !== 'all' && req.which,
      remote && `remote ${remote}`,
    ].filter(Boolean);
    d.changes.note(req.cmd, `control: fdb flush${what.map((w) => ` ${w}`).join('')}: ${flushed} entries`, {
      network: req.network,
      remote,
      request: req.cmd,
    });
    return { ok: true, data: { flushed } };
  },
  fromCli(cli) {
    expectArgs(cli, 0, 'fdb flush [--network NAME] [--dynamic | --static] [--remote IP]');
    const f = cli.flags;
    if (f.dynamic && f.static)
      throw new UsageError('--dynamic and --static do not go together: without either, both are flushed');
    return { network: f.network, which: f.dynamic ? 'dynamic' : f.static ? 'static' : 'all', remote: f.remote };
  },
  print: (r: { flushed: number }, flags) => (flags.json ? json(r) : ''),
});
