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
//               { "kind": "macip", "rd", "mac", "ip"?, "vtep", "rt", "vni", "seq" } |
//               { "kind": "macs", "count", "rd", "vtep", "rt", "vni" } |   (count MAC-only routes,
//                 MACs 02:10:00:00:00:00 up, added 64 at a time)
//               { "kind": "wait", "file" } |  (prints "announced N" and goes on once the file exists)
//               { "kind": "churn", "count", "rd", "vtep", "rt", "vni", "perSecond" }]
//                 (until killed: count MAC-only routes from 02:20:00:00:00:00 up, perSecond of them
//                 advertised, then as fast withdrawn, round after round; prints "churn ROUND" after each)
import { existsSync, readFileSync } from 'node:fs';
import { Gobgp } from '../../src/evpn/gobgp.ts';
import { imetPath, macIpPath } from '../../src/evpn/routes.ts';
import { Logger } from '../../src/observe/log.ts';
import { parseMac } from '../../src/wire/mac.ts';

export type RogueRoute =
  | { kind: 'imet'; rd: string; vtep: string; rt: string; vni: number }
  | { kind: 'macip'; rd: string; mac: string; ip?: string; vtep: string; rt: string; vni: number; seq: number }
  | { kind: 'macs'; count: number; rd: string; vtep: string; rt: string; vni: number }
  | { kind: 'wait'; file: string }
  | { kind: 'churn'; count: number; rd: string; vtep: string; rt: string; vni: number; perSecond: number };

const [local, peers, file] = process.argv.slice(2);
if (file === undefined) {
  console.error('usage: rogue-peer.ts LOCAL PEER[,PEER...] ROUTES.json');
  process.exit(2);
}
const routes = JSON.parse(readFileSync(file, 'utf8')) as RogueRoute[];
const log = new Logger(false, (l) => console.error(l));
const neighbors = peers.split(',').map((address) => ({ address, peerAs: 65000, holdTime: 9, multihop: false }));
const gobgp = await Gobgp.start({ asn: 65000, routerId: local, local, neighbors }, log);
let announced = 0;

/**
 * An AddPath again when GoBGP answered too late (gRPC's deadline): with tens of thousands of EVPN routes
 * its RIB takes longer than the call's 5 s (GoBGP 3.10's MAC mobility check is quadratic), and a run of
 * 100,000 routes ended at 93,000 when one call gave up. Adding the same path twice changes nothing.
 */
async function patiently(add: () => Promise<unknown>): Promise<void> {
  for (let tries = 1; ; tries++) {
    try {
      await add();
      return;
    } catch (e) {
      if (tries >= 20 || !/DEADLINE_EXCEEDED/.test((e as Error).message)) throw e;
    }
  }
}
console.log(`api ${gobgp.address}`);
for (const r of routes) {
  if (r.kind === 'wait') {
    console.log(`announced ${announced}`);
    while (!existsSync(r.file)) await new Promise((resolve) => setTimeout(resolve, 50));
    continue;
  }
  if (r.kind === 'churn') {
    console.log(`announced ${announced}`);
    const path = (k: number) => macIpPath(r.rd, 0x022000000000 + k, undefined, r.vtep, [r.rt], r.vni, 0, false);
    const paced = async (op: (k: number) => Promise<unknown>) => {
      for (let k = 0; k < r.count; k += 10) {
        const t = Date.now();
        await Promise.all(Array.from({ length: Math.min(10, r.count - k) }, (_, j) => op(k + j)));
        await new Promise((resolve) => setTimeout(resolve, Math.max(0, (10 * 1000) / r.perSecond - (Date.now() - t))));
      }
    };
    for (let round = 1; ; round++) {
      await paced((k) => gobgp.addPath(path(k)));
      await paced((k) => gobgp.deletePath(path(k)));
      console.log(`churn ${round}`);
    }
  }
  if (r.kind === 'macs') {
    for (let i = 0; i < r.count; i += 64) {
      const batch = [];
      for (let k = i; k < Math.min(r.count, i + 64); k++)
        batch.push(
          patiently(() =>
            gobgp.addPath(macIpPath(r.rd, 0x021000000000 + k, undefined, r.vtep, [r.rt], r.vni, 0, false)),
          ),
        );
      await Promise.all(batch);
    }
    announced += r.count;
    continue;
  }
  await gobgp.addPath(
    r.kind === 'imet'
      ? imetPath(r.rd, r.vtep, [r.rt], r.vni)
      : macIpPath(r.rd, parseMac(r.mac)!, r.ip, r.vtep, [r.rt], r.vni, r.seq, false),
  );
  announced++;
}
console.log(`announced ${announced}`);
const stop = () => {
  gobgp.stop();
  process.exit(0);
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
setInterval(() => {}, 1 << 30);
