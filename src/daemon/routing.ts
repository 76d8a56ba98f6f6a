// The config's routing, given to the router: VRFs with their static routes,
// DVR MACs, and each network's VRF and gateway (text to bytes, here).
import type { Config, NetworkConfig } from '../config/config.ts';
import { parsePrefix } from '../route/prefix.ts';
import type { GatewaySpec, Router, VrfSpec } from '../route/router.ts';
import type { EvpnSpeaker } from '../evpn/speaker.ts';
import type { Network } from '../switch/network.ts';
import { formatMac } from '../wire/mac.ts';
import { L3VniUnit } from './l3vni.ts';
import type { UnitContext } from './network-unit.ts';
import { parseIp } from '../wire/ip-address.ts';

/** Brings the router's VRFs and DVR MACs to the config's; returns one line per change. */
export function configureRouter(router: Router, config: Config): string[] {
  const specs: VrfSpec[] = config.vrfs.map((v) => ({
    name: v.name,
    routes: v.routes.map((r) => ({ prefix: parsePrefix(r.prefix)!, via: parseIp(r.via)! })),
    icmpRatelimit: v.icmpRatelimit,
  }));
  return router.configure(specs, config.dvrMac, config.dvrMacs);
}

/** A network joins its VRF with its gateway, as its config says (or routes nowhere). */
export function attachNetwork(router: Router, net: Network, cfg: NetworkConfig): void {
  router.attach(net, cfg.vrf, gatewaySpec(cfg));
}

function gatewaySpec(cfg: NetworkConfig): GatewaySpec | undefined {
  const g = cfg.gateway;
  if (g === undefined) return undefined;
  return {
    addresses: g.addresses.map((a) => ({ ip: parseIp(a.ip)!, len: a.len })),
    mac: g.mac,
    sourceMac: g.sourceMac,
  };
}

/** Whether a network's routing settings differ between two configs. */
export function routingChanged(a: NetworkConfig, b: NetworkConfig): boolean {
  return a.vrf !== b.vrf || JSON.stringify(a.gateway) !== JSON.stringify(b.gateway);
}

/** What the L3VNIs need of the daemon: the router's VRFs, the speaker, the units, and a network unit's context. */
export interface L3Target {
  readonly router: Router;
  readonly evpn: EvpnSpeaker | undefined;
  readonly l3units: Map<string, L3VniUnit>;
  readonly unitContext: UnitContext;
}

/**
 * Brings the VRFs' L3VNIs (symmetric IRB) to what `config` says: a VRF whose
 * L3VNI settings changed gets a new unit and is advertised again, one that
 * lost them stops; every VRF's type-5 routes follow its subnets. Returns one
 * line per change.
 */
export function applyL3(d: L3Target, config: Config): string[] {
  const changes: string[] = [];
  const wanted = new Map(config.vrfs.filter((v) => v.l3 !== undefined).map((v) => [v.name, v.l3!]));
  for (const [name, unit] of [...d.l3units]) {
    if (JSON.stringify(wanted.get(name)) === JSON.stringify(unit.l3)) continue;
    d.evpn?.removeVrf(name);
    unit.stop();
    d.l3units.delete(name);
    if (!wanted.has(name)) changes.push(`vrf ${name}: no L3VNI`);
  }
  if (d.evpn !== undefined) {
    for (const [name, l3] of wanted) {
      if (d.l3units.has(name)) continue;
      const vrf = d.router.vrf(name);
      if (vrf === undefined) continue;
      d.l3units.set(name, L3VniUnit.start(vrf, l3, d.unitContext));
      d.evpn.addVrf(vrf, l3);
      changes.push(`vrf ${name}: L3VNI ${l3.vni}, router MAC ${formatMac(l3.rmac)}`);
    }
    for (const name of d.evpn.vrfNames()) d.evpn.refreshVrf(name);
  }
  return changes;
}
