// A VRF's L3VNI (symmetric IRB over BGP EVPN) as a unit that starts and
// stops with the VRF: a network with no TAP, on the VXLAN receive socket by
// its VNI, with a sender of its own. What the fabric sends on it is routed in
// the VRF (route/l3vni-hook.ts); routes over the fabric leave on it, to the
// router MAC of the egress VTEP, which its FDB holds behind that VTEP (kept
// by the VRF, route/vrf.ts). Only VTEPs named by such a route may send on it.
import type { VrfL3Config } from '../config/routing.ts';
import { NullDevice } from '../io/null-device.ts';
import type { TunnelSender } from '../io/port.ts';
import { L3VniHook } from '../route/l3vni-hook.ts';
import type { Vrf } from '../route/vrf.ts';
import { DEFAULT_MAX_MACS } from '../switch/fdb.ts';
import { Network } from '../switch/network.ts';
import { DEFAULT_SRCPORT, VxlanTunnel } from '../tunnel/vxlan.ts';
import { isV4Mapped } from '../wire/ip-address.ts';
import { formatMac } from '../wire/mac.ts';
import { VXLAN_PORT } from '../wire/vxlan.ts';
import { FRAME_OVERHEAD, openTunnelSender, type UnitContext } from './network-unit.ts';
import type { Holds } from './receivers.ts';
import { undoAll } from './undo.ts';

/** What VXLAN adds to a frame over IPv4: the frames of an L3VNI fit the underlay's MTU less that. */
const VXLAN_OVERHEAD_V4 = 50;
const VXLAN_OVERHEAD_V6 = 70;

export class L3VniUnit {
  net!: Network;
  private readonly holds: Holds = [];
  private readonly undo: (() => void)[] = [];

  private constructor(
    readonly vrf: Vrf,
    readonly l3: VrfL3Config,
    private readonly ctx: UnitContext,
  ) {}

  private open(): void {
    const { vrf, l3, ctx } = this;
    const { datapath, receivers, local, underlayMtu } = ctx;
    const tunnel = new VxlanTunnel({
      kind: 'vxlan',
      vni: l3.vni,
      port: VXLAN_PORT,
      srcPortMin: DEFAULT_SRCPORT[0],
      srcPortMax: DEFAULT_SRCPORT[1],
    });
    const name = `l3vni-${vrf.name}`;
    const primary = receivers.hold(this.holds, tunnel.receiveSocket, tunnel);
    this.undo.push(() => receivers.releaseAll(this.holds));
    const sender: TunnelSender = openTunnelSender(tunnel.sendSocket(ctx.config.offload), ctx, {
      name,
      ttl: 64,
      df: false,
      greSocket: 'raw',
    });
    this.undo.push(() => sender.close());
    const v4 = isV4Mapped(local);
    const net = (this.net = new Network({
      name,
      tunnel,
      encap: tunnel.encap(sender.lanePorts),
      ttl: 64,
      df: false,
      ipv6: !v4,
      underlayMtu,
      acceptAnyRemote: false,
      ageing: 300,
      maxMacs: DEFAULT_MAX_MACS,
      arpResponder: false,
      arpSnoop: false,
      learning: false,
      batchSize: datapath.framesPerBatch,
      maxFrame: underlayMtu - (v4 ? VXLAN_OVERHEAD_V4 : VXLAN_OVERHEAD_V6) + FRAME_OVERHEAD,
    }));
    net.tunnelHook = new L3VniHook(vrf, l3.rmac, net);
    primary.demux.set(l3.vni, net, tunnel);
    this.undo.push(() => primary.demux.delete(l3.vni));
    datapath.attach({ net, device: new NullDevice(name), sender });
    this.undo.push(() => datapath.detach(net));
    vrf.setL3({ vni: l3.vni, rmac: l3.rmac, net });
    this.undo.push(() => vrf.setL3(undefined));
  }

  /** Starts the L3VNI of `vrf`; on failure nothing of it is left, and the error is thrown. */
  static start(vrf: Vrf, l3: VrfL3Config, ctx: UnitContext): L3VniUnit {
    const unit = new L3VniUnit(vrf, l3, ctx);
    try {
      unit.open();
    } catch (e) {
      unit.stop();
      throw e;
    }
    ctx.log.info(`vrf ${vrf.name}: L3VNI ${l3.vni}, router MAC ${formatMac(l3.rmac)}`);
    return unit;
  }

  stop(): void {
    undoAll(this.undo, this.ctx.log);
  }
}
