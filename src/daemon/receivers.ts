// The sockets that receive tunnel packets, shared by the networks they serve:
// one per UDP port (VXLAN, Geneve) or IP protocol (the raw GRE socket), one per
// joined multicast group, port and interface. The first network that needs
// one opens it (or takes it over from a predecessor), the last that goes
// closes it; the demux on each finds a packet's network by its VNI or key.
import type { Datapath, ReceivePoint } from '../datapath/datapath.ts';
import { Receiver } from '../io/port.ts';
import type { ReceiveSocket, Tunnel } from '../tunnel/tunnel.ts';
import { isV4Mapped, parseIp } from '../wire/ip-address.ts';
import { IpProto } from '../wire/ipv4.ts';
import type { Inherited } from './upgrade.ts';
import { openOrExplain } from './system.ts';

const PROTOCOL_NAMES: Record<number, string> = { [IpProto.UDP]: 'UDP', [IpProto.GRE]: 'GRE' };

interface Shared {
  point: ReceivePoint;
  refs: number;
}

/** What a network holds of the shared sockets: their keys, to let go of. */
export type Holds = string[];

export class Receivers {
  private readonly shared = new Map<string, Shared>();

  constructor(
    private readonly datapath: Datapath,
    private readonly local: Uint8Array,
    private readonly localText: string,
    private readonly offload: boolean,
    /** A predecessor's sockets, while this daemon takes over (upgrade). */
    private readonly inherited: () => Inherited | undefined,
  ) {}

  /** The shared socket that receives a tunnel's packets, opened by its first network. */
  hold(holds: Holds, spec: ReceiveSocket, tunnel: Tunnel): ReceivePoint {
    const key = spec.kind === 'udp' ? `udp ${spec.port}` : `raw ${spec.protocol}`;
    let s = this.shared.get(key);
    if (s === undefined) {
      const { local } = this;
      const given = this.inherited()?.receiver(key);
      const [rx, name, port]: [Receiver, string, number] =
        spec.kind === 'udp'
          ? [
              given ??
                openOrExplain(() => Receiver.udp(local, spec.port), `UDP port ${spec.port} on ${this.localText}`),
              `the ${tunnel.kind === 'geneve' ? 'Geneve' : 'VXLAN'} socket on port ${spec.port}`,
              spec.port,
            ]
          : [
              given ??
                openOrExplain(
                  () => Receiver.raw(spec.protocol, local),
                  `a raw ${PROTOCOL_NAMES[spec.protocol]} socket`,
                ),
              `the raw ${PROTOCOL_NAMES[spec.protocol]} socket`,
              0,
            ];
      if (spec.kind === 'udp' && this.offload) rx.enableGro();
      s = { point: { rx, demux: tunnel.newDemux(!isV4Mapped(local)), local, port, name }, refs: 0 };
      this.shared.set(key, s);
      this.datapath.attachReceiver(s.point);
    }
    s.refs++;
    holds.push(key);
    return s.point;
  }

  /**
   * One joined socket per group, port and interface, whatever number of networks share it: the VNI picks the
   * network.
   */
  holdGroup(
    holds: Holds,
    groupAddress: string,
    dev: string,
    tunnel: Tunnel,
    primary: ReceivePoint,
    ifindex: number,
  ): void {
    const port = tunnel.groupPort;
    const key = `group ${groupAddress}/${port}/${ifindex}`;
    let s = this.shared.get(key);
    if (s === undefined) {
      const address = parseIp(groupAddress)!;
      const rx =
        this.inherited()?.receiver(key) ??
        openOrExplain(() => Receiver.group(address, port, ifindex), `group ${groupAddress} port ${port} on ${dev}`);
      s = {
        point: { rx, demux: primary.demux, local: address, port, name: `the socket of group ${groupAddress}` },
        refs: 0,
      };
      this.shared.set(key, s);
      this.datapath.attachReceiver(s.point);
    }
    s.refs++;
    holds.push(key);
  }

  /** Lets go of what a network held; a socket no network holds closes. */
  releaseAll(holds: Holds): void {
    for (const key of holds) {
      const s = this.shared.get(key);
      if (s === undefined || --s.refs > 0) continue;
      this.shared.delete(key);
      this.datapath.detachReceiver(s.point.rx);
      s.point.rx.close();
    }
    holds.length = 0;
  }

  /**
   * UDP/IPv6 sockets take datagrams with a zero checksum while a network on their port asks for it (udp6-zero-
   * csum-rx).
   */
  applyZeroChecksum(
    networks: Iterable<{ cfg: { udp6ZeroCsumRx: boolean; tunnel: { kind: string; port?: number } } }>,
  ): void {
    if (isV4Mapped(this.local)) return;
    const nets = [...networks];
    for (const { point } of this.shared.values()) {
      if (!(point.rx instanceof Receiver) || point.port === 0) continue;
      const on = nets.some(
        ({ cfg }) => cfg.udp6ZeroCsumRx && cfg.tunnel.kind !== 'gre' && cfg.tunnel.port === point.port,
      );
      point.rx.acceptZeroChecksum6(on);
    }
  }

  /** Every socket, by key: what a successor takes over. */
  entries(): [string, ReceivePoint][] {
    return [...this.shared].map(([key, s]) => [key, s.point]);
  }
}
