// The config's routing, given to the router: VRFs with their static routes,
// DVR MACs, and each network's VRF and gateway (text to bytes, here).
import type { Config, NetworkConfig } from '../config/config.ts';
import { parsePrefix } from '../route/prefix.ts';
import type { GatewaySpec, Router, VrfSpec } from '../route/router.ts';
import type { Network } from '../switch/network.ts';
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
