// The neighbour table the ARP/ND responder answers from: `vtepctl neigh add|del|show`.
import { eachNeighRow, infos } from '../../observe/report.ts';
import { formatIp, ipv4Of, isV4Mapped, parseIp, sameIp } from '../../wire/ip-address.ts';
import { formatMac } from '../../wire/mac.ts';
import { networkOf, theNetwork, type DaemonView, type RunningView } from '../daemon-view.ts';
import { formatNeigh } from '../format.ts';
import { lazyRows, type NeighRow } from '../protocol.ts';
import { defineVerb, RefusedError, UsageError } from '../verb.ts';
import { expectArgs, json, needNetwork } from './cli.ts';

/**
 * Why the responder must not answer for `ip` on network `run`, if it must not: an address no host
 * on an overlay has (loopback, IPv4 link-local, which each link assigns for itself), this VTEP's
 * underlay address, or the TAP's own (the kernel behind it answers for that). IPv6 link-local
 * addresses stay allowed: hosts resolve each other's fe80:: addresses by ND.
 */
function neighProblem(d: DaemonView, run: RunningView, ip: Uint8Array): string | undefined {
  if (isV4Mapped(ip)) {
    const a = ipv4Of(ip);
    if (a >>> 24 === 127) return 'is a loopback address';
    if (a >>> 16 === 0xa9fe) return 'is an IPv4 link-local address (169.254.0.0/16)';
  } else if (ip.every((b, i) => b === (i === 15 ? 1 : 0))) return 'is the loopback address';
  if (sameIp(ip, d.local)) return "is this VTEP's underlay address (local)";
  const tap = run.cfg.address === undefined ? undefined : parseIp(run.cfg.address.split('/')[0]);
  if (tap !== undefined && sameIp(ip, tap)) {
    return `is the address of TAP ${run.cfg.tap} itself (the host behind it answers for it)`;
  }
  return undefined;
}

export const neighAdd = defineVerb({
  cmd: 'neigh-add',
  example: { network: 'blue', ip: '192.168.100.23', mac: 'fa:16:3e:11:22:33' },
  words: ['neigh', 'add'],
  usage: 'IP MAC --network NAME',
  summary: 'an address the ARP/ND responder answers for',
  access: 'change',
  fields: ({ networkName, unicastIp, unicastMac }) => ({ network: networkName, ip: unicastIp, mac: unicastMac }),
  cliNames: { ip: 'IP', mac: 'MAC' },
  reply: '`{}`',
  handle(d, req) {
    const run = theNetwork(d, req.network);
    const { net } = run;
    const problem = neighProblem(d, run, req.ip);
    if (problem !== undefined) throw new RefusedError(`neigh add: ${formatIp(req.ip)} ${problem}`);
    net.setNeigh(req.ip, req.mac, 'vtepctl', d.now());
    d.changes.note(req.cmd, `control: neigh add ${formatIp(req.ip)} lladdr ${formatMac(req.mac)} network ${net.name}`, {
      network: net.name,
      request: req.cmd,
    });
    return { ok: true, data: {} };
  },
  fromCli(cli) {
    // Also `neigh add IP lladdr MAC`, as ip neigh writes it.
    const a = cli.args;
    const lladdr = a[1] === 'lladdr';
    if (a.length !== (lladdr ? 3 : 2)) throw new UsageError('expected: vtepctl neigh add IP MAC --network NAME');
    return { network: needNetwork(cli.flags, 'neigh add'), ip: a[0], mac: lladdr ? a[2] : a[1] };
  },
});

export const neighDel = defineVerb({
  cmd: 'neigh-del',
  example: { network: 'blue', ip: '192.168.100.2' },
  words: ['neigh', 'del'],
  usage: 'IP --network NAME',
  summary: 'forget an address',
  access: 'change',
  fields: ({ networkName, unicastIp }) => ({ network: networkName, ip: unicastIp }),
  cliNames: { ip: 'IP' },
  reply: '`{}`',
  handle(d, req) {
    const { net } = theNetwork(d, req.network);
    if (net.deleteNeigh(req.ip) === undefined)
      throw new RefusedError(`${formatIp(req.ip)} has no neighbour entry in network ${net.name}`);
    d.changes.note(req.cmd, `control: neigh del ${formatIp(req.ip)} network ${net.name}`, {
      network: net.name,
      request: req.cmd,
    });
    return { ok: true, data: {} };
  },
  fromCli(cli) {
    expectArgs(cli, 1, 'neigh del IP --network NAME');
    return { network: needNetwork(cli.flags, 'neigh del'), ip: cli.args[0] };
  },
});

export const neighShow = defineVerb({
  cmd: 'neigh-show',
  example: { network: 'blue' },
  words: ['neigh', 'show'],
  optionalLast: true,
  usage: '[--network NAME] [--json]',
  summary: 'the neighbour table: address, MAC, network, origin, age',
  access: 'read',
  fields: ({ networkName }) => ({ network: networkName.optional() }),
  reply:
    '`[ { ip, mac, network, origin, age, state? } ]` (`mac` null and `state` resolving or failed while the gateway asks)',
  handle(d, req) {
    networkOf(d, req.network);
    return { ok: true, data: lazyRows(() => eachNeighRow(infos(d), d.now(), req.network, d.router)) };
  },
  fromCli: ({ flags }) => ({ network: flags.network }),
  print: (rows: NeighRow[], flags) => (flags.json ? json(rows) : formatNeigh(rows)),
});
