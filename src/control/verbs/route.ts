// Routing between networks: `vtepctl route show|add|del`, `vtepctl dvr-mac show|add|del`.
import { routeRows } from '../../observe/report.ts';
import { formatPrefix } from '../../route/prefix.ts';
import type { Vrf } from '../../route/vrf.ts';
import { TableError } from '../../switch/table-error.ts';
import { formatIp, isV4Mapped } from '../../wire/ip-address.ts';
import { formatMac } from '../../wire/mac.ts';
import type { DaemonView } from '../daemon-view.ts';
import { formatRoutes } from '../format.ts';
import type { DvrMacRow, RouteRow } from '../protocol.ts';
import { defineVerb, RefusedError, UsageError } from '../verb.ts';
import { expectArgs, json } from './cli.ts';

/** The VRF a request names; without a name, the only one there is. */
function vrfOf(d: DaemonView, name: string | undefined): Vrf {
  const names = [...d.router.vrfs.keys()];
  if (name === undefined) {
    if (names.length === 1) return d.router.vrfs.get(names[0])!;
    throw new RefusedError(
      names.length === 0
        ? 'vtepd routes in no VRF: no network has a gateway'
        : `which VRF? give --vrf NAME (VRFs: ${names.join(', ')})`,
    );
  }
  const v = d.router.vrf(name);
  if (v === undefined) throw new RefusedError(`no VRF named "${name}" (VRFs: ${names.join(', ') || 'none'})`);
  return v;
}

export const routeShow = defineVerb({
  cmd: 'route-show',
  words: ['route', 'show'],
  optionalLast: true,
  usage: '[--vrf NAME] [--json]',
  summary: 'the routing tables: prefix, next hop, network, origin, VRF',
  access: 'read',
  fields: ({ vrfName }) => ({ vrf: vrfName.optional() }),
  example: {},
  reply: '`[ { vrf, prefix, via, network, origin, active } ]`',
  handle(d, req) {
    if (req.vrf !== undefined) vrfOf(d, req.vrf);
    return { ok: true, data: routeRows(d.router, req.vrf) };
  },
  fromCli: (cli) => (expectArgs(cli, 0, 'route show [--vrf NAME] [--json]'), { vrf: cli.flags.vrf }),
  print: (rows: RouteRow[], flags) => (flags.json ? json(rows) : formatRoutes(rows)),
});

export const routeAdd = defineVerb({
  cmd: 'route-add',
  words: ['route', 'add'],
  usage: 'PREFIX via IP --vrf NAME',
  summary: 'a static route: packets to PREFIX go to the neighbour IP',
  access: 'change',
  fields: ({ prefix, unicastIp, vrfName }) => ({ vrf: vrfName.optional(), prefix, via: unicastIp }),
  cliNames: { prefix: 'PREFIX', via: 'IP' },
  example: { vrf: 'tenant1', prefix: '192.168.30.0/24', via: '192.168.10.254' },
  reply: '`{}`; refused when the next hop is on no connected subnet of the VRF',
  handle(d, req) {
    const vrf = vrfOf(d, req.vrf);
    if (isV4Mapped(req.via) !== req.prefix.v4)
      throw new RefusedError(`${formatIp(req.via)} is not of the family of ${formatPrefix(req.prefix)}`);
    if (vrf.routes.get(req.prefix)?.origin === 'connected')
      throw new RefusedError(`${formatPrefix(req.prefix)} is a connected subnet of VRF ${vrf.name}`);
    try {
      vrf.addRoute({ prefix: req.prefix, via: req.via, origin: 'vtepctl' });
    } catch (e) {
      if (e instanceof TableError) throw new RefusedError(e.message);
      throw e;
    }
    d.changes.note(req.cmd, `control: route add ${formatPrefix(req.prefix)} via ${formatIp(req.via)} vrf ${vrf.name}`, {
      request: req.cmd,
    });
    return { ok: true, data: {} };
  },
  fromCli(cli) {
    expectArgs(cli, 3, 'route add PREFIX via IP --vrf NAME');
    if (cli.args[1] !== 'via') throw new UsageError('expected: vtepctl route add PREFIX via IP --vrf NAME');
    return { vrf: cli.flags.vrf, prefix: cli.args[0], via: cli.args[2] };
  },
});

export const routeDel = defineVerb({
  cmd: 'route-del',
  words: ['route', 'del'],
  usage: 'PREFIX --vrf NAME',
  summary: 'remove a static route (of the config or vtepctl)',
  access: 'change',
  fields: ({ prefix, vrfName }) => ({ vrf: vrfName.optional(), prefix }),
  cliNames: { prefix: 'PREFIX' },
  example: { vrf: 'tenant1', prefix: '0.0.0.0/0' },
  reply: '`{}`; refused for a connected subnet or a route EVPN gave',
  handle(d, req) {
    const vrf = vrfOf(d, req.vrf);
    const p = formatPrefix(req.prefix);
    if (vrf.routes.get(req.prefix)?.origin === 'connected') {
      throw new RefusedError(
        `${p} is the connected subnet of a gateway in VRF ${vrf.name}: take the address from the network's gateway instead`,
      );
    }
    const r = vrf.givenRoutes().find((x) => formatPrefix(x.prefix) === p);
    if (r === undefined) throw new RefusedError(`${p} has no route in VRF ${vrf.name}`);
    if (r.origin === 'evpn') throw new RefusedError(`${p} is a route EVPN gave: the fabric withdraws it`);
    vrf.deleteRoute(req.prefix, r.origin);
    d.changes.note(req.cmd, `control: route del ${p} vrf ${vrf.name} (origin ${r.origin})`, { request: req.cmd });
    return { ok: true, data: {} };
  },
  fromCli: (cli) => (expectArgs(cli, 1, 'route del PREFIX --vrf NAME'), { vrf: cli.flags.vrf, prefix: cli.args[0] }),
});

export const dvrMacShow = defineVerb({
  cmd: 'dvr-mac-show',
  words: ['dvr-mac', 'show'],
  optionalLast: true,
  usage: '[--json]',
  summary: "DVR MACs: this host's, and the other hosts' (never learned, written back to the gateway MAC)",
  access: 'read',
  fields: () => ({}),
  example: {},
  reply: '`[ { mac, host: this|other, origin } ]`',
  handle(d) {
    const rows: DvrMacRow[] = [];
    const dvr = d.router.dvr;
    if (dvr.own !== undefined) rows.push({ mac: formatMac(dvr.own), host: 'this', origin: 'config' });
    for (const m of dvr.others)
      rows.push({ mac: formatMac(m), host: 'other', origin: d.router.isConfigDvr(m) ? 'config' : 'vtepctl' });
    return { ok: true, data: rows };
  },
  fromCli: (cli) => (expectArgs(cli, 0, 'dvr-mac show [--json]'), {}),
  print: (rows: DvrMacRow[], flags) =>
    flags.json ? json(rows) : rows.map((r) => `${r.mac} host ${r.host} origin ${r.origin}`).join('\n'),
});

export const dvrMacAdd = defineVerb({
  cmd: 'dvr-mac-add',
  words: ['dvr-mac', 'add'],
  usage: 'MAC',
  summary: "another host's DVR MAC",
  access: 'change',
  fields: ({ unicastMac }) => ({ mac: unicastMac }),
  cliNames: { mac: 'MAC' },
  example: { mac: 'fa:16:3f:00:00:02' },
  reply: '`{}`',
  handle(d, req) {
    const dvr = d.router.dvr;
    if (req.mac === dvr.own) throw new RefusedError(`${formatMac(req.mac)} is this host's own dvr-mac`);
    for (const vrf of d.router.vrfs.values()) {
      for (const g of vrf.gateways.values())
        if (g.mac === req.mac)
          throw new RefusedError(`${formatMac(req.mac)} is the gateway MAC of network ${g.net.name}`);
    }
    dvr.others.add(req.mac);
    d.changes.note(req.cmd, `control: dvr-mac add ${formatMac(req.mac)}`, { request: req.cmd });
    return { ok: true, data: {} };
  },
  fromCli: (cli) => (expectArgs(cli, 1, 'dvr-mac add MAC'), { mac: cli.args[0] }),
});

export const dvrMacDel = defineVerb({
  cmd: 'dvr-mac-del',
  words: ['dvr-mac', 'del'],
  usage: 'MAC',
  summary: "forget another host's DVR MAC",
  access: 'change',
  fields: ({ unicastMac }) => ({ mac: unicastMac }),
  cliNames: { mac: 'MAC' },
  example: { mac: 'fa:16:3f:00:00:09' },
  reply: '`{}`',
  handle(d, req) {
    if (!d.router.dvr.others.delete(req.mac))
      throw new RefusedError(`${formatMac(req.mac)} is no other host's DVR MAC`);
    d.changes.note(req.cmd, `control: dvr-mac del ${formatMac(req.mac)}`, { request: req.cmd });
    return { ok: true, data: {} };
  },
  fromCli: (cli) => (expectArgs(cli, 1, 'dvr-mac del MAC'), { mac: cli.args[0] }),
});
