// The routing lab, shared by the routing tests and the bench: vtepd hosts of
// a Lab with networks blue (VNI 10: 192.168.10.0/24, fd00:10::/64), red (VNI
// 20: 192.168.20.0/24, fd00:20::/64) and green (VNI 30) in VRF tenant1, the
// same anycast gateway (.1, ::1, MAC 00:00:5e:00:01:01) on every host, and a
// tenant host behind each TAP (its own namespace, on a bridge with the TAP)
// whose default route is the gateway. The same topology routed by the Linux
// kernel instead (bridges with VXLAN ports as the gateways) is the bench's
// reference.
import { must, type Lab } from './lab.ts';

export const GW_MAC = '00:00:5e:00:01:01';
export const NETS = { blue: { vni: 10, n: 10 }, red: { vni: 20, n: 20 }, green: { vni: 30, n: 30 } } as const;
export type Net = keyof typeof NETS;

/** Tenant host `host` (1: behind h1, 2: behind h2, ...) on `net`: IPv4, IPv6, MAC. */
export const v4 = (net: Net, host: number) => `192.168.${NETS[net].n}.${10 + host}`;
export const v6 = (net: Net, host: number) => `fd00:${NETS[net].n}::${10 + host}`;
export const tenantMac = (net: Net, host: number) =>
  `02:00:00:00:${NETS[net].n}:${(10 + host).toString(16).padStart(2, '0')}`;
export const gw4 = (net: Net) => `192.168.${NETS[net].n}.1`;
export const gw6 = (net: Net) => `fd00:${NETS[net].n}::1`;

export interface NetOptions {
  /** Whether the network has a gateway (default yes). */
  gateway?: boolean;
  sourceMac?: 'anycast' | 'dvr';
  /** The network's remote hosts (default: the other of a pair). */
  remotes?: number[];
  /** The gateway's IPv4 address and prefix (default .1/24). */
  gateway4?: string;
}
export type Nets = Partial<Record<Net, NetOptions>>;

/** vtepd's config for host i, its networks as given; `top`: more top-level lines, `vrf`: tenant1's settings. */
export function routingConfig(lab: Lab, i: number, nets: Nets, top = '', vrf = ''): string {
  const blocks = Object.entries(nets).map(([name, o]) => {
    const net = name as Net;
    const gateway =
      o.gateway === false
        ? ''
        : `
    vrf: tenant1
    gateway:
      addresses: [${o.gateway4 ?? `${gw4(net)}/24`}, "${gw6(net)}/64"]
      mac: "${GW_MAC}"
      source-mac: ${o.sourceMac ?? 'anycast'}`;
    return `
  ${name}:
    tap: tap-${name}
    vxlan: { vni: ${NETS[net].vni} }
    remotes: [${(o.remotes ?? [3 - i]).map((r) => lab.underlay(r)).join(', ')}]${gateway}`;
  });
  return `
local: ${lab.underlay(i)}
socket: ${lab.socket(i)}
${top}
vrfs:
  tenant1: {${vrf}}
networks:${blocks.join('')}
`;
}

/**
 * A tenant host on each network of `nets` behind each of `hosts` (behind
 * device `port(net)` of the host: vtepd's TAP by default), into `tenants` by
 * "net@host".
 */
export async function routingTenants(
  lab: Lab,
  nets: Nets,
  hosts: number[],
  tenants: Map<string, string>,
  port: (net: Net) => string = (net) => `tap-${net}`,
): Promise<void> {
  for (const i of hosts) {
    for (const [name, o] of Object.entries(nets)) {
      const net = name as Net;
      const ns = await lab.tenantBehindTap(i, port(net), `${net}${i}`, {
        mac: tenantMac(net, i),
        addresses: [`${v4(net, i)}/24`, `${v6(net, i)}/64`],
        via: o.gateway !== false ? [gw4(net), gw6(net)] : [],
      });
      tenants.set(`${net}@${i}`, ns);
    }
  }
}

/** Starts vtepd on `hosts` with `nets`, and the tenants; returns the tenants' namespaces by "net@host". */
export async function routedVtepd(
  lab: Lab,
  nets: Nets = { blue: {}, red: {} },
  hosts = [1, 2],
  args: string[] = [],
): Promise<Map<string, string>> {
  const tenants = new Map<string, string>();
  for (const i of hosts)
    await lab.startDaemonArgs(i, ['--config', lab.writeConfig(i, routingConfig(lab, i, nets)), ...args]);
  await routingTenants(lab, nets, hosts, tenants);
  return tenants;
}

/**
 * The same two hosts routed by the Linux kernel (asymmetric IRB, as Neutron
 * DVR and EVPN anycast gateways do it with kernel bridges): per network a
 * VXLAN device in a bridge that carries the anycast gateway's address and
 * MAC, forwarding on, and each tenant's MAC and address given to the other
 * host (as l2population or EVPN type-2 routes would), since every host owns
 * the gateway MAC and no ARP answer crosses. IPv4 only.
 */
export async function routedKernel(lab: Lab, nets: Net[] = ['blue', 'red']): Promise<Map<string, string>> {
  const tenants = new Map<string, string>();
  for (const i of [1, 2]) {
    const ns = lab.ns(i);
    await must('ip', ['netns', 'exec', ns, 'sysctl', '-qw', 'net.ipv4.ip_forward=1']);
    for (const net of nets) {
      await lab.kernelVxlan(i, {
        vni: NETS[net].vni,
        dev: `vx${NETS[net].vni}`,
        mac: `02:00:00:01:${NETS[net].n}:0${i}`,
        remotes: [lab.underlay(3 - i)],
      });
    }
    await routingTenants(lab, Object.fromEntries(nets.map((n) => [n, {}])), [i], tenants, (n) => `vx${NETS[n].vni}`);
    for (const net of nets) {
      const bridge = `br-vx${NETS[net].vni}`;
      await must('ip', ['-n', ns, 'link', 'set', bridge, 'address', GW_MAC]);
      await must('ip', ['-n', ns, 'addr', 'add', `${gw4(net)}/24`, 'dev', bridge]);
      // The other host's tenant: its address, and where its MAC is.
      const other = 3 - i;
      await must('ip', [
        '-n',
        ns,
        'neigh',
        'replace',
        v4(net, other),
        'lladdr',
        tenantMac(net, other),
        'dev',
        bridge,
        'nud',
        'permanent',
      ]);
      await must('bridge', [
        '-n',
        ns,
        'fdb',
        'replace',
        tenantMac(net, other),
        'dev',
        `vx${NETS[net].vni}`,
        'dst',
        lab.underlay(other),
        'self',
        'permanent',
      ]);
      await must('bridge', [
        '-n',
        ns,
        'fdb',
        'replace',
        tenantMac(net, other),
        'dev',
        `vx${NETS[net].vni}`,
        'master',
        'static',
      ]);
    }
  }
  return tenants;
}

/** The router MAC of the kernel VTEP in the EVPN routing lab. */
export const KERNEL_RMAC = '02:66:00:00:00:02';
export const L3VNI = 4001;

/**
 * vtepd's config for host i of an EVPN fabric routing with symmetric IRB:
 * `nets` with their anycast gateways, in VRF tenant1 with L3VNI 4001, the
 * route reflector on host 1.
 */
export function irbConfig(lab: Lab, i: number, nets: Net[], vrf = '', peer = 1): string {
  const blocks = nets.map(
    (net) => `
  ${net}:
    tap: tap-${net}
    vxlan: { vni: ${NETS[net].vni} }
    evpn: true
    learning: false
    arp-responder: true
    vrf: tenant1
    gateway: { addresses: [${gw4(net)}/24, "${gw6(net)}/64"], mac: "${GW_MAC}" }`,
  );
  return `
local: ${lab.underlay(i)}
socket: ${lab.socket(i)}
evpn: { asn: 65000, neighbors: [${lab.underlay(peer)}], hold-time: 9 }
vrfs:
  tenant1: { l3vni: ${L3VNI}${vrf} }
networks:${blocks.join('')}
`;
}
