#!/usr/bin/env -S node --import tsx
// A malicious BGP EVPN peer for lab tests: a gobgpd of its own (started as
// vtepd starts one) that peers with the VTEPs named and advertises whatever
// routes the test lists, built with vtepd's own route builders so that each
// carries exactly the next hop, PMSI tunnel id and MAC Mobility number asked
// for. It prints "api HOST:PORT" (its gobgpd's API, to read what it
// received) and "announced N" once GoBGP took the routes, and runs until
// killed (its gobgpd dies with it).
//
//   rogue-peer.ts LOCAL PEER[,PEER...] ROUTES.json
//
// ROUTES.json: [{ "kind": "imet", "rd", "vtep", "rt", "vni" } |
//               { "kind": "macip", "rd", "mac", "ip"?, "vtep", "rt", "vni", "seq" }]
import { readFileSync } from 'node:fs';
import { Gobgp } from '../../src/evpn/gobgp.ts';
import { imetPath, macIpPath } from '../../src/evpn/routes.ts';
import { Logger } from '../../src/observe/log.ts';
import { parseMac } from '../../src/wire/mac.ts';

export type RogueRoute =
  | { kind: 'imet'; rd: string; vtep: string; rt: string; vni: number }
  | { kind: 'macip'; rd: string; mac: string; ip?: string; vtep: string; rt: string; vni: number; seq: number };

const [local, peers, file] = process.argv.slice(2);
if (file === undefined) {
  console.error('usage: rogue-peer.ts LOCAL PEER[,PEER...] ROUTES.json');
  process.exit(2);
}
const routes = JSON.parse(readFileSync(file, 'utf8')) as RogueRoute[];
const log = new Logger(false, (l) => console.error(l));
const gobgp = await Gobgp.start({ asn: 65000, routerId: local, local, neighbors: peers.split(','), holdTime: 9 }, log);
for (const r of routes) {
  await gobgp.addPath(
    r.kind === 'imet'
      ? imetPath(r.rd, r.vtep, [r.rt], r.vni)
      : macIpPath(r.rd, parseMac(r.mac)!, r.ip, r.vtep, [r.rt], r.vni, r.seq, false),
  );
}
console.log(`api ${gobgp.address}`);
console.log(`announced ${routes.length}`);
const stop = () => {
  gobgp.stop();
  process.exit(0);
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
setInterval(() => {}, 1 << 30);
