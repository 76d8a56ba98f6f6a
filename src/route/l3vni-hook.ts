// A VRF's L3VNI on the data path (symmetric IRB, RFC 9135): what arrives on
// it from another VTEP is an IP packet already routed once, to this VTEP's
// router MAC; it is routed again in the VRF (its TTL down by one more) to a
// host of a local network, as the kernel's L3VNI device hands its frames to
// the VRF. Anything else on the L3VNI is dropped and counted. No source MAC
// is learned there: router MACs are what EVPN says they are.
import { Drop } from '../switch/drop.ts';
import type { TunnelHook } from '../switch/hooks.ts';
import type { Network } from '../switch/network.ts';
import { Verdict, type Forwarding } from '../switch/verdict.ts';
import { readMac, type Mac } from '../wire/mac.ts';
import { routeFrame } from './route.ts';
import type { Ingress, Vrf } from './vrf.ts';

export class L3VniHook implements TunnelHook {
  private readonly ingress: Ingress;

  constructor(
    vrf: Vrf,
    private readonly rmac: Mac,
    net: Network,
  ) {
    this.ingress = { vrf, net, mac: rmac, fromFabric: true, first: () => undefined };
  }

  learns(): boolean {
    return false;
  }

  fromTunnel(net: Network, buf: Buffer, off: number, len: number, _port: number, f: Forwarding): boolean {
    if (readMac(buf, off) !== this.rmac) {
      net.counters.drop(Drop.L3vniNotRouterMac);
      f.decide(Verdict.Dropped, Drop.L3vniNotRouterMac);
      return true;
    }
    const type = (buf[off + 12] << 8) | buf[off + 13];
    if (type !== 0x0800 && type !== 0x86dd) {
      net.counters.drop(Drop.NotRoutable);
      f.decide(Verdict.Dropped, Drop.NotRoutable);
      return true;
    }
    routeFrame(this.ingress, buf, off, len, f);
    return true;
  }
}
