// A lab of hosts made of network namespaces, for tests, the demo and benchmarks.
//
//   PREFIX-h1 .. PREFIX-hN   hosts; host i has veth u<i> with 10.0.0.<i>/24
//                            (and fd00::<i>/64 after ipv6Underlay())
//   PREFIX-sw                the underlay switch: a Linux bridge joining p1..pN
//
// Every address lives inside these namespaces; nothing is routed anywhere else.
// destroy() removes the namespaces (and with them veths and kernel tunnels) and
// ends every process the lab started, by PID; call it in a finally block.
// Offloads: TX checksumming is turned off on every veth end, or a kernel VTEP
// sends partial inner checksums that a userspace VTEP cannot pass on (the
// veth checksum trap: docs/behaviour.md).
//
// One long file on purpose: the Lab owns every namespace, process and file a
// lab test makes (hosts, kernel and OVS peers, FRR, tenants, captures), so
// that destroy() finds them all, also after a failure.
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, chownSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { emitPcapHeader, emitPcapRecord, LINKTYPE_ETHERNET, parsePcap, type PcapRecord } from '../../src/wire/pcap.ts';

const run = promisify(execFile);
export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const LAB_PREFIX = 'vtl';
const WORK = '/tmp/vtepd-lab';
/** In a lab's directory: the PID of the process that made it. */
const OWNER_FILE = 'owner';

export interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command; never throws for a non-zero exit (the caller asserts on `code`). */
export async function sh(cmd: string, args: string[], timeoutMs = 30_000): Promise<Result> {
  try {
    const r = await run(cmd, args, { timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (e) {
    const x = e as { code?: number | string; stdout?: string; stderr?: string; message: string };
    return { code: typeof x.code === 'number' ? x.code : 127, stdout: x.stdout ?? '', stderr: x.stderr ?? x.message };
  }
}

/** Like sh(), but a failure is an error: for set-up steps that must work. */
export async function must(cmd: string, args: string[]): Promise<string> {
  const r = await sh(cmd, args);
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.code}): ${r.stderr.trim()}`);
  return r.stdout;
}

export interface KernelVxlanOptions {
  vni: number;
  dev?: string;
  /** Overlay address with prefix, e.g. 192.168.100.2/24 (none: the device is a bridge port). */
  address?: string;
  mac: string;
  /** Head-end replication list (fdb append 00:00:00:00:00:00 ... dst). */
  remotes?: string[];
  /** Multicast group mode instead of remotes. */
  group?: string;
  /** Over the IPv6 underlay (local fd00::i; ipv6Underlay() first). */
  ipv6?: boolean;
  /** More words of `ip link add ... type vxlan`, such as udp6zerocsumtx or df set. */
  extra?: string[];
  /** Outer TTL (the kernel's default for a group is 1). */
  ttl?: number;
  port?: number;
  mtu?: number;
  /** `nolearning`: the kernel learns no MAC from tunnels (EVPN, l2population). */
  learning?: boolean;
  /** `proxy`: the kernel answers ARP and NS from its neighbour table (ARP suppression). */
  proxy?: boolean;
}

export interface OvsTunnelOptions {
  type: 'gre' | 'vxlan' | 'ip6gre' | 'geneve';
  /** GRE key or VNI. */
  key: number;
  /** The remote VTEP's underlay address. */
  remote: string;
  /** Overlay address with prefix, on br-int. */
  address: string;
  mtu: number;
  /** Extra `options:` of the tunnel interface, e.g. { csum: 'true' }. */
  options?: Record<string, string>;
}

export class Lab {
  readonly prefix: string;
  readonly dir: string;
  private readonly procs: ChildProcess[] = [];
  /** Daemons that detached themselves (Open vSwitch, FRR): ended by the PID in their pidfile. */
  private readonly pidfiles: string[] = [];
  /** Processes started by processes of the lab (a vtepd's successor after an upgrade), killed by PID at the end. */
  private readonly adopted: number[] = [];
  /** Every vtepd started, in order. */
  readonly daemons: DaemonProcess[] = [];
  /** Namespaces made besides the hosts and the switch (tenant hosts behind a kernel VTEP). */
  private readonly extraNamespaces: string[] = [];
  /** FRR's run directories (/var/run/frr/NS), removed at the end. */
  private readonly frrDirs: string[] = [];

  private constructor(readonly hosts: number) {
    this.prefix = `${LAB_PREFIX}${randomBytes(3).toString('hex')}`;
    this.dir = join(WORK, this.prefix);
  }

  static async create(hosts: number): Promise<Lab> {
    const lab = new Lab(hosts);
    mkdirSync(lab.dir, { recursive: true });
    // Whose lab it is: removeStaleLabs() leaves the labs of a process still running (another suite, a bench) alone.
    writeFileSync(join(lab.dir, OWNER_FILE), String(process.pid));
    try {
      await lab.build();
    } catch (e) {
      await lab.destroy();
      throw e;
    }
    return lab;
  }

  ns(i: number): string {
    return `${this.prefix}-h${i}`;
  }

  get switchNs(): string {
    return `${this.prefix}-sw`;
  }

  underlay(i: number): string {
    return `10.0.0.${i}`;
  }

  /** Host i's IPv6 underlay address (after ipv6Underlay()). */
  underlay6(i: number): string {
    return `fd00::${i}`;
  }

  /** Whether ipv6Underlay() gave the hosts IPv6 underlay addresses. */
  private v6 = false;

  /**
   * An IPv6 underlay beside the IPv4 one: fd00::<i>/64 on every host's veth,
   * usable at once (no duplicate address detection). Only the underlay
   * devices get IPv6: the overlay stays as quiet as before.
   */
  async ipv6Underlay(): Promise<void> {
    this.v6 = true;
    for (let i = 1; i <= this.hosts; i++) await this.addIpv6(i, this.dev(i), `${this.underlay6(i)}/64`);
  }

  /** Turns IPv6 on for device `dev` of host i (the lab keeps it off) and gives it `address` (with prefix), ready at once. */
  async addIpv6(i: number, dev: string, address: string): Promise<void> {
    await must('ip', [
      'netns',
      'exec',
      this.ns(i),
      'sysctl',
      '-qw',
      `net.ipv6.conf.${dev}.disable_ipv6=0`,
      `net.ipv6.conf.${dev}.accept_dad=0`,
    ]);
    await must('ip', ['-n', this.ns(i), 'addr', 'add', address, 'dev', dev, 'nodad']);
  }

  dev(i: number): string {
    return `u${i}`;
  }

  private async build(): Promise<void> {
    const sw = this.switchNs;
    await must('ip', ['netns', 'add', sw]);
    await this.noIpv6(sw);
    // A plain switch: bridged frames skip iptables (br_netfilter is built into this kernel and on by
    // default). Over veth the switch runs in the sender's context, so its cost would be charged to the hosts.
    await must('ip', [
      'netns',
      'exec',
      sw,
      'sysctl',
      '-q',
      '-w',
      'net.bridge.bridge-nf-call-iptables=0',
      'net.bridge.bridge-nf-call-ip6tables=0',
      'net.bridge.bridge-nf-call-arptables=0',
    ]);
    // No IGMP snooping: the lab switch floods multicast to every host, as a switch without a querier does.
    await must('ip', [
      '-n',
      sw,
      'link',
      'add',
      'br0',
      'type',
      'bridge',
      'stp_state',
      '0',
      'forward_delay',
      '0',
      'mcast_snooping',
      '0',
    ]);
    await must('ip', ['-n', sw, 'link', 'set', 'br0', 'up']);
    for (let i = 1; i <= this.hosts; i++) {
      const ns = this.ns(i);
      await must('ip', ['netns', 'add', ns]);
      await this.noIpv6(ns);
      await must('ip', ['link', 'add', this.dev(i), 'netns', ns, 'type', 'veth', 'peer', 'name', `p${i}`, 'netns', sw]);
      await must('ip', ['-n', ns, 'addr', 'add', `${this.underlay(i)}/24`, 'dev', this.dev(i)]);
      await must('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
      await must('ip', ['-n', ns, 'link', 'set', this.dev(i), 'up']);
      // TX checksum off (see above); GRO on, as on real NICs: it lets UDP GRO merge tunnel datagrams.
      await must('ip', ['netns', 'exec', ns, 'ethtool', '-K', this.dev(i), 'tx', 'off', 'gro', 'on']);
      await must('ip', ['-n', sw, 'link', 'set', `p${i}`, 'master', 'br0', 'up']);
      await must('ip', ['netns', 'exec', sw, 'ethtool', '-K', `p${i}`, 'tx', 'off']);
    }
  }

  /**
   * Puts host `behind` behind a router whose link to it has MTU `mtu`: its
   * switch port moves to a second bridge, and a router namespace (PREFIX-rt)
   * joins the two bridges, answering ARP and NS for the hosts on the other
   * side (proxy ARP and NDP), so that no host's address changes. Packets of
   * more than `mtu` bytes toward host `behind` get ICMP "fragmentation
   * needed" (with DF) or ICMPv6 "packet too big" from 10.0.0.254 / fd00::fe.
   */
  async routeThrough(behind: number, mtu: number): Promise<void> {
    const sw = this.switchNs;
    const rt = `${this.prefix}-rt`;
    await must('ip', ['netns', 'add', rt]);
    this.extraNamespaces.push(rt);
    await must('ip', [
      '-n',
      sw,
      'link',
      'add',
      'br1',
      'type',
      'bridge',
      'stp_state',
      '0',
      'forward_delay',
      '0',
      'mcast_snooping',
      '0',
    ]);
    await must('ip', ['-n', sw, 'link', 'set', 'br1', 'up']);
    await must('ip', ['-n', sw, 'link', 'set', `p${behind}`, 'master', 'br1']);
    await must('ip', [
      'netns',
      'exec',
      rt,
      'sysctl',
      '-qw',
      'net.ipv4.ip_forward=1',
      'net.ipv6.conf.all.forwarding=1',
      'net.ipv6.conf.all.proxy_ndp=1',
      'net.ipv6.conf.default.accept_dad=0',
      'net.ipv6.conf.all.accept_dad=0',
    ]);
    for (const [dev, peer, bridge] of [
      ['ra', 'rpa', 'br0'],
      ['rb', 'rpb', 'br1'],
    ]) {
      await must('ip', ['link', 'add', dev, 'netns', rt, 'type', 'veth', 'peer', 'name', peer, 'netns', sw]);
      await must('ip', ['-n', sw, 'link', 'set', peer, 'master', bridge, 'up']);
      await must('ip', ['netns', 'exec', sw, 'ethtool', '-K', peer, 'tx', 'off']);
      await must('ip', ['netns', 'exec', rt, 'ethtool', '-K', dev, 'tx', 'off']);
      await must('ip', ['netns', 'exec', rt, 'sysctl', '-qw', `net.ipv4.conf.${dev}.proxy_arp=1`]);
    }
    await must('ip', ['-n', rt, 'link', 'set', 'rb', 'mtu', String(mtu)]);
    await must('ip', ['-n', rt, 'addr', 'add', '10.0.0.254/32', 'dev', 'ra']);
    await must('ip', ['-n', rt, 'addr', 'add', 'fd00::fe/128', 'dev', 'ra', 'nodad']);
    for (const dev of ['ra', 'rb', 'lo']) await must('ip', ['-n', rt, 'link', 'set', dev, 'up']);
    for (let i = 1; i <= this.hosts; i++) {
      const [dev, other] = i === behind ? ['rb', 'ra'] : ['ra', 'rb'];
      await must('ip', ['-n', rt, 'route', 'add', `${this.underlay(i)}/32`, 'dev', dev]);
      await must('ip', ['-n', rt, '-6', 'route', 'add', `${this.underlay6(i)}/128`, 'dev', dev]);
      await must('ip', ['-n', rt, '-6', 'neigh', 'add', 'proxy', this.underlay6(i), 'dev', other]);
    }
  }

  /** The underlay's MTU on every host's veth and the switch's ports (1500 when the lab is built). */
  async setUnderlayMtu(mtu: number): Promise<void> {
    for (let i = 1; i <= this.hosts; i++) {
      await must('ip', ['-n', this.switchNs, 'link', 'set', `p${i}`, 'mtu', String(mtu)]);
      await must('ip', ['-n', this.ns(i), 'link', 'set', this.dev(i), 'mtu', String(mtu)]);
    }
  }

  // No IPv6 in the lab: router solicitations and MLD reports would flood the overlay and blur captures.
  private async noIpv6(ns: string): Promise<void> {
    await must('ip', [
      'netns',
      'exec',
      ns,
      'sysctl',
      '-qw',
      'net.ipv6.conf.all.disable_ipv6=1',
      'net.ipv6.conf.default.disable_ipv6=1',
    ]);
  }

  /**
   * IPv6 on host i after all, for the devices made from now on: without
   * duplicate address detection and router solicitations, so that the only
   * neighbour discovery on the overlay is what a test does.
   */
  async ipv6(i: number): Promise<void> {
    const conf = (k: string, v: number) => [`net.ipv6.conf.all.${k}=${v}`, `net.ipv6.conf.default.${k}=${v}`];
    await must('ip', [
      'netns',
      'exec',
      this.ns(i),
      'sysctl',
      '-qw',
      ...conf('disable_ipv6', 0),
      ...conf('accept_dad', 0),
      ...conf('router_solicitations', 0),
      ...conf('dad_transmits', 0),
    ]);
  }

  /** Runs a command inside host i's namespace. */
  exec(i: number, cmd: string, args: string[], timeoutMs?: number): Promise<Result> {
    return sh('ip', ['netns', 'exec', this.ns(i), cmd, ...args], timeoutMs);
  }

  /** A Linux kernel VXLAN device on host i: the reference peer. */
  async kernelVxlan(i: number, o: KernelVxlanOptions): Promise<void> {
    const ns = this.ns(i);
    const dev = o.dev ?? 'vx0';
    const local = o.ipv6 ? this.underlay6(i) : this.underlay(i);
    const where = o.group !== undefined ? ['group', o.group, 'dev', this.dev(i)] : ['local', local, 'dev', this.dev(i)];
    const ttl = o.ttl !== undefined ? ['ttl', String(o.ttl)] : [];
    const flags = [...(o.learning === false ? ['nolearning'] : []), ...(o.proxy ? ['proxy'] : [])];
    await must('ip', [
      '-n',
      ns,
      'link',
      'add',
      dev,
      'type',
      'vxlan',
      'id',
      String(o.vni),
      'dstport',
      String(o.port ?? 4789),
      ...where,
      ...ttl,
      ...flags,
      ...(o.extra ?? []),
    ]);
    await must('ip', ['-n', ns, 'link', 'set', dev, 'address', o.mac, 'mtu', String(o.mtu ?? 1450)]);
    for (const r of o.remotes ?? [])
      await must('bridge', ['-n', ns, 'fdb', 'append', '00:00:00:00:00:00', 'dev', dev, 'dst', r]);
    if (o.address !== undefined) await must('ip', ['-n', ns, 'addr', 'add', o.address, 'dev', dev]);
    await must('ip', ['-n', ns, 'link', 'set', dev, 'up']);
  }

  /**
   * Open vSwitch's userspace datapath on host i (no kernel module): each
   * instance with its own database and run directory; br-phy carries the underlay address, br-int the
   * overlay address and one tunnel port t0 to `remote`.
   */
  async ovs(i: number, t: OvsTunnelOptions): Promise<Ovs> {
    const ns = this.ns(i);
    const dev = this.dev(i);
    const dir = join(this.dir, `ovs-h${i}`);
    mkdirSync(dir, { recursive: true });
    const env = ['env', `OVS_RUNDIR=${dir}`, `OVS_DBDIR=${dir}`, `OVS_LOGDIR=${dir}`];
    await must('ovsdb-tool', ['create', `${dir}/conf.db`, '/usr/share/openvswitch/vswitch.ovsschema']);
    this.pidfiles.push(`${dir}/ovsdb-server.pid`, `${dir}/ovs-vswitchd.pid`);
    await must('ip', [
      'netns',
      'exec',
      ns,
      ...env,
      'ovsdb-server',
      `${dir}/conf.db`,
      `--remote=punix:${dir}/db.sock`,
      `--pidfile=${dir}/ovsdb-server.pid`,
      `--unixctl=${dir}/ovsdb-server.ctl`,
      `--log-file=${dir}/ovsdb-server.log`,
      '--detach',
    ]);
    const ovs = new Ovs(dir);
    await ovs.vsctl('--no-wait', 'init');
    await must('ip', [
      'netns',
      'exec',
      ns,
      ...env,
      'ovs-vswitchd',
      `unix:${dir}/db.sock`,
      `--pidfile=${dir}/ovs-vswitchd.pid`,
      `--unixctl=${dir}/ovs-vswitchd.ctl`,
      `--log-file=${dir}/ovs-vswitchd.log`,
      '--disable-system',
      '--detach',
    ]);
    const mac = (await must('ip', ['netns', 'exec', ns, 'cat', `/sys/class/net/${dev}/address`])).trim();
    await ovs.vsctl(
      'add-br',
      'br-phy',
      '--',
      'set',
      'bridge',
      'br-phy',
      'datapath_type=netdev',
      'fail-mode=standalone',
      `other_config:hwaddr=${mac}`,
    );
    await ovs.vsctl('add-port', 'br-phy', dev);
    await must('ip', ['-n', ns, 'addr', 'flush', 'dev', dev]);
    await must('ip', ['-n', ns, 'addr', 'add', `${this.underlay(i)}/24`, 'dev', 'br-phy']);
    if (this.v6) await this.addIpv6(i, 'br-phy', `${this.underlay6(i)}/64`);
    await must('ip', ['-n', ns, 'link', 'set', 'br-phy', 'up']);
    // The kernel still sees every frame OVS reads on the veth: keep it from answering them too.
    await must('ip', [
      'netns',
      'exec',
      ns,
      'sysctl',
      '-qw',
      `net.ipv4.conf.${dev}.rp_filter=1`,
      `net.ipv4.conf.${dev}.arp_ignore=8`,
    ]);
    await ovs.vsctl('add-br', 'br-int', '--', 'set', 'bridge', 'br-int', 'datapath_type=netdev');
    const opts = Object.entries({ remote_ip: t.remote, key: String(t.key), ...t.options }).map(
      ([k, v]) => `options:${k}=${v}`,
    );
    await ovs.vsctl('add-port', 'br-int', 't0', '--', 'set', 'interface', 't0', `type=${t.type}`, ...opts);
    await ovs.vsctl('set', 'interface', 'br-int', `mtu_request=${t.mtu}`);
    await must('ip', ['-n', ns, 'addr', 'add', t.address, 'dev', 'br-int']);
    await must('ip', ['-n', ns, 'link', 'set', 'br-int', 'up']);
    return ovs;
  }

  /**
   * FRR (zebra and bgpd) on host i with `bgpd` as its bgpd.conf: a route
   * reflector, or the control plane of a kernel VTEP. Its own path space
   * (-N) keeps its sockets and pid files apart from other hosts'.
   */
  /** FRR on host i: zebra (with `zebra` lines, such as `vni 4001`) and bgpd with the config given. */
  async frr(i: number, bgpd: string, zebra = ''): Promise<void> {
    const ns = this.ns(i);
    const dir = join(this.dir, `frr-h${i}`);
    const run = `/var/run/frr/${ns}`;
    mkdirSync(dir, { recursive: true });
    mkdirSync(run, { recursive: true });
    this.frrDirs.push(run);
    const frr = (await must('id', ['-u', 'frr'])).trim();
    const gid = (await must('id', ['-g', 'frr'])).trim();
    writeFileSync(join(dir, 'zebra.conf'), `hostname ${ns}\n${zebra}`);
    writeFileSync(join(dir, 'bgpd.conf'), bgpd);
    for (const p of [dir, run, join(dir, 'zebra.conf'), join(dir, 'bgpd.conf')]) chownSync(p, Number(frr), Number(gid));
    this.pidfiles.push(`${run}/zebra.pid`, `${run}/bgpd.pid`);
    await must('ip', [
      'netns',
      'exec',
      ns,
      '/usr/lib/frr/zebra',
      '-d',
      '-N',
      ns,
      '-f',
      join(dir, 'zebra.conf'),
      '-i',
      `${run}/zebra.pid`,
      '-A',
      '127.0.0.1',
      '-s',
      '90000000',
      '--log',
      `file:${dir}/zebra.log`,
    ]);
    await must('ip', [
      'netns',
      'exec',
      ns,
      '/usr/lib/frr/bgpd',
      '-d',
      '-N',
      ns,
      '-f',
      join(dir, 'bgpd.conf'),
      '-i',
      `${run}/bgpd.pid`,
      '-A',
      '127.0.0.1',
      '--log',
      `file:${dir}/bgpd.log`,
    ]);
  }

  /** A vtysh command against host i's FRR. */
  vtysh(i: number, command: string): Promise<Result> {
    return sh('vtysh', ['--vty_socket', `/var/run/frr/${this.ns(i)}`, '-c', command]);
  }

  /**
   * A kernel VTEP as FRR programs it on host i: vxlan0 (no learning, local
   * address, no remote) in bridge br0 with ARP/ND suppression on its port, an
   * address on the bridge (FRR advertises MAC/IP routes of the hosts it has
   * neighbour entries for), and a tenant host: namespace PREFIX-tI behind a
   * veth on the bridge, with `address` and `mac`.
   */
  async kernelEvpnVtep(
    i: number,
    o: { vni: number; address: string; mac: string; bridgeAddress: string },
  ): Promise<string> {
    const ns = this.ns(i);
    const tenant = `${this.prefix}-t${i}`;
    await must('ip', ['netns', 'add', tenant]);
    this.extraNamespaces.push(tenant);
    await this.noIpv6(tenant);
    const ipns = (...a: string[]) => must('ip', ['-n', ns, ...a]);
    await ipns(
      'link',
      'add',
      'vxlan0',
      'type',
      'vxlan',
      'id',
      String(o.vni),
      'local',
      this.underlay(i),
      'dstport',
      '4789',
      'nolearning',
    );
    await ipns('link', 'add', 'br0', 'type', 'bridge', 'stp_state', '0', 'forward_delay', '0');
    await ipns('link', 'set', 'vxlan0', 'master', 'br0', 'mtu', '1450');
    await ipns('link', 'set', 'vxlan0', 'type', 'bridge_slave', 'neigh_suppress', 'on', 'learning', 'off');
    await must('ip', ['link', 'add', 'veth-t', 'netns', ns, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', tenant]);
    await ipns('link', 'set', 'veth-t', 'master', 'br0', 'mtu', '1450');
    for (const dev of ['vxlan0', 'veth-t', 'br0']) await ipns('link', 'set', dev, 'up');
    await ipns('addr', 'add', o.bridgeAddress, 'dev', 'br0');
    await must('ip', ['netns', 'exec', ns, 'ethtool', '-K', 'veth-t', 'tx', 'off']);
    await must('ip', ['-n', tenant, 'link', 'set', 'eth0', 'address', o.mac, 'mtu', '1450']);
    await must('ip', ['-n', tenant, 'addr', 'add', o.address, 'dev', 'eth0']);
    await must('ip', ['-n', tenant, 'link', 'set', 'eth0', 'up']);
    await must('ip', ['-n', tenant, 'link', 'set', 'lo', 'up']);
    await must('ip', ['netns', 'exec', tenant, 'ethtool', '-K', 'eth0', 'tx', 'off']);
    return tenant;
  }

  /**
   * A tenant host behind host i's TAP `tap` (vtepd made it): namespace
   * PREFIX-NAME whose eth0 (`mac`, `addresses` with prefix lengths, default
   * routes via `via`) a veth joins to a bridge br-TAP of host i, the TAP's
   * other port. Its MTU is the TAP's. IPv6 is on in the tenant only, with no
   * duplicate address detection or router solicitations. Returns the
   * namespace. With `move`, the tenant made as `move.name` behind host
   * `move.from` moves here instead (same namespace, MAC and addresses).
   */
  async tenantBehindTap(
    i: number,
    tap: string,
    name: string,
    o: { mac: string; addresses: string[]; via?: string[]; bridge?: string; move?: { from: number; name: string } },
  ): Promise<string> {
    const ns = this.ns(i);
    const tenant = `${this.prefix}-${o.move?.name ?? name}`;
    const bridge = o.bridge ?? `br-${tap}`.slice(0, 15);
    const veth = `v-${name}`.slice(0, 15);
    if (o.move === undefined) {
      await must('ip', ['netns', 'add', tenant]);
      this.extraNamespaces.push(tenant);
    } else {
      // The host moves: its link to host `from` goes (its eth0 with it), a new one comes from host i.
      await must('ip', ['-n', this.ns(o.move.from), 'link', 'del', `v-${o.move.name}`.slice(0, 15)]);
    }
    const mtu = (await must('ip', ['netns', 'exec', ns, 'cat', `/sys/class/net/${tap}/mtu`])).trim();
    await must('ip', [
      'netns',
      'exec',
      tenant,
      'sysctl',
      '-qw',
      'net.ipv6.conf.all.accept_dad=0',
      'net.ipv6.conf.default.accept_dad=0',
      'net.ipv6.conf.all.router_solicitations=0',
      'net.ipv6.conf.default.router_solicitations=0',
    ]);
    const ipns = (...a: string[]) => must('ip', ['-n', ns, ...a]);
    if (o.bridge === undefined && !(await sh('ip', ['-n', ns, 'link', 'show', bridge])).stdout.includes(bridge)) {
      // A plain bridge, as the lab's switch: bridged frames skip iptables.
      await must('ip', [
        'netns',
        'exec',
        ns,
        'sysctl',
        '-qw',
        'net.bridge.bridge-nf-call-iptables=0',
        'net.bridge.bridge-nf-call-ip6tables=0',
        'net.bridge.bridge-nf-call-arptables=0',
      ]);
      await ipns(
        'link',
        'add',
        bridge,
        'type',
        'bridge',
        'stp_state',
        '0',
        'forward_delay',
        '0',
        'mcast_snooping',
        '0',
      );
      await ipns('link', 'set', tap, 'master', bridge, 'up');
      await ipns('link', 'set', bridge, 'up');
    }
    await must('ip', ['link', 'add', veth, 'netns', ns, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', tenant]);
    await ipns('link', 'set', veth, 'master', bridge, 'mtu', mtu, 'up');
    await must('ip', ['netns', 'exec', ns, 'ethtool', '-K', veth, 'tx', 'off']);
    const tn = (...a: string[]) => must('ip', ['-n', tenant, ...a]);
    await tn('link', 'set', 'eth0', 'address', o.mac, 'mtu', mtu);
    for (const a of o.addresses)
      await tn(
        ...(a.includes(':') ? ['-6'] : []),
        'addr',
        'add',
        a,
        'dev',
        'eth0',
        ...(a.includes(':') ? ['nodad'] : []),
      );
    await tn('link', 'set', 'eth0', 'up');
    await tn('link', 'set', 'lo', 'up');
    await must('ip', ['netns', 'exec', tenant, 'ethtool', '-K', 'eth0', 'tx', 'off']);
    for (const v of o.via ?? []) await tn(...(v.includes(':') ? ['-6'] : []), 'route', 'add', 'default', 'via', v);
    return tenant;
  }

  /** Runs a command in a namespace of this lab by name (a tenant host). */
  execIn(ns: string, cmd: string, args: string[], timeoutMs?: number): Promise<Result> {
    return sh('ip', ['netns', 'exec', ns, cmd, ...args], timeoutMs);
  }

  /** Writes a vtepd config for host i and starts the daemon in its namespace. */
  startDaemon(i: number, config: string): Promise<DaemonProcess> {
    return this.startDaemonArgs(i, ['--config', this.writeConfig(i, config)]);
  }

  /**
   * Starts vtepd with these arguments in host i's namespace and waits until it
   * is ready. VTEPD_TEST_ARGS (e.g. "--no-offload") is appended: the test
   * command runs the lab suites once with offloads and once without.
   */
  async startDaemonArgs(i: number, args: string[], o: { openTun?: boolean } = {}): Promise<DaemonProcess> {
    const d = this.spawnDaemon(i, args, o);
    await d.ready();
    return d;
  }

  /** Starts vtepd as startDaemonArgs does, without waiting for its "ready" line (a log level may hide it). */
  spawnDaemon(i: number, args: string[], o: { openTun?: boolean } = {}): DaemonProcess {
    const extra = (process.env.VTEPD_TEST_ARGS ?? '').split(' ').filter(Boolean);
    return this.spawnCommand(i, join(ROOT, 'bin/vtepd'), [...args, ...extra], o);
  }

  /**
   * `argv` run where a user other than root can do what a usual host lets it:
   * a mount namespace of its own in which /dev/net/tun is mode 0666 and this
   * tree is also seen at the lab's `code` directory (a clone may sit in a
   * directory only root can enter), the command's paths into the tree
   * rewritten to it. The host's mounts and modes stay as they are.
   */
  asAnyUser(argv: string[]): string[] {
    const code = join(this.dir, 'code');
    mkdirSync(code, { recursive: true });
    const script = `mount --bind ${this.openTunNode()} /dev/net/tun && mount --bind ${ROOT} ${code} && cd ${code} && exec "$@"`;
    return [
      'unshare',
      '-m',
      'sh',
      '-c',
      script,
      'sh',
      ...argv.map((a) => (a.startsWith(ROOT + '/') ? code + a.slice(ROOT.length) : a)),
    ];
  }

  /** A character device node like /dev/net/tun (10, 200), mode 0666, in the lab's directory. */
  private openTunNode(): string {
    const node = join(this.dir, 'tun');
    if (!existsSync(node)) {
      execFileSync('mknod', [node, 'c', '10', '200']);
      chmodSync(node, 0o666);
    }
    return node;
  }

  /**
   * Starts a command that runs vtepd (setpriv ... vtepd) in host i, stopped
   * with the lab. `openTun`: in a mount namespace of its own where
   * /dev/net/tun is mode 0666, as udev makes it on a usual host (this
   * machine's is 0600, which no user but root may open); the host's node
   * stays as it is.
   */
  spawnCommand(i: number, cmd: string, args: string[], o: { openTun?: boolean } = {}): DaemonProcess {
    const argv = ['ip', 'netns', 'exec', this.ns(i), cmd, ...args];
    const [file, ...rest] = o.openTun ? this.asAnyUser(argv) : argv;
    const proc = spawn(file, rest, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.procs.push(proc);
    const d = new DaemonProcess(proc);
    this.daemons.push(d);
    return d;
  }

  /** Runs vtepd to completion (for start-up errors): its exit code and output. */
  runDaemon(i: number, args: string[]): Promise<Result> {
    return this.exec(i, join(ROOT, 'bin/vtepd'), args, 20_000);
  }

  writeConfig(i: number, config: string, name = `h${i}.yaml`): string {
    const file = join(this.dir, name);
    writeFileSync(file, config);
    return file;
  }

  /** The control socket path a test should put in host i's config. */
  socket(i: number): string {
    return join(this.dir, `h${i}.sock`);
  }

  /** Starts tcpdump on `dev` in host i; stop() returns the packets. */
  async capture(i: number, dev: string, filter: string[] = []): Promise<Capture> {
    const file = join(this.dir, `cap-h${i}-${dev}-${randomBytes(2).toString('hex')}.pcap`);
    const proc = spawn(
      'ip',
      [
        'netns',
        'exec',
        this.ns(i),
        'tcpdump',
        '--immediate-mode',
        '-i',
        dev,
        '-U',
        '-n',
        '-s',
        '0',
        '-w',
        file,
        ...filter,
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    this.procs.push(proc);
    const cap = new Capture(proc, file, 'SIGINT', /listening on/);
    proc.stderr!.on('data', (d: Buffer) => cap.noteOutput(d.toString()));
    await cap.started();
    return cap;
  }

  /** Starts a libpcap capture (the `cap` package) on `dev` in host i; stop() returns the packets. */
  async libpcap(i: number, dev: string, filter: string): Promise<Capture> {
    const file = join(this.dir, `libpcap-h${i}-${dev}-${randomBytes(2).toString('hex')}.pcap`);
    const proc = spawn(
      'ip',
      [
        'netns',
        'exec',
        this.ns(i),
        process.execPath,
        '--import',
        'tsx',
        join(ROOT, 'scripts/lab/cap-tool.ts'),
        'capture',
        dev,
        filter,
        file,
      ],
      { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    this.procs.push(proc);
    const cap = new Capture(proc, file, 'SIGTERM', /ready/);
    proc.stdout!.on('data', (d: Buffer) => cap.noteOutput(d.toString()));
    await cap.started();
    return cap;
  }

  /** Sends the frames of a pcap file out of `dev` in host i (into a TAP: as if a VM sent them). */
  async inject(i: number, dev: string, frames: Buffer[]): Promise<void> {
    const file = join(this.dir, `inject-${randomBytes(2).toString('hex')}.pcap`);
    writeFileSync(
      file,
      Buffer.concat([emitPcapHeader(LINKTYPE_ETHERNET), ...frames.map((f) => emitPcapRecord(0, f, 0, f.length))]),
    );
    const r = await sh('ip', [
      'netns',
      'exec',
      this.ns(i),
      process.execPath,
      '--import',
      'tsx',
      join(ROOT, 'scripts/lab/cap-tool.ts'),
      'inject',
      dev,
      file,
    ]);
    if (r.code !== 0) throw new Error(`inject into ${dev} failed: ${r.stderr}`);
  }

  /** A process the lab did not start itself but must end: killed by PID when the lab goes. */
  adopt(pid: number): void {
    this.adopted.push(pid);
  }

  /** Ends every process the lab started and removes its namespaces. Safe to call twice. */
  async destroy(): Promise<void> {
    for (const p of this.procs) {
      if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
    }
    for (const pid of this.adopted) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone already
      }
    }
    for (const f of this.pidfiles) {
      try {
        process.kill(Number(readFileSync(f, 'utf8').trim()), 'SIGKILL');
      } catch {
        // never started, or already gone
      }
    }
    for (let i = 1; i <= this.hosts; i++) await sh('ip', ['netns', 'del', this.ns(i)]);
    for (const ns of this.extraNamespaces) await sh('ip', ['netns', 'del', ns]);
    await sh('ip', ['netns', 'del', this.switchNs]);
    for (const d of this.frrDirs) rmSync(d, { recursive: true, force: true });
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** An Open vSwitch instance of the lab, driven through its own database and control sockets. */
export class Ovs {
  constructor(readonly dir: string) {}

  vsctl(...args: string[]): Promise<string> {
    return must('ovs-vsctl', [`--db=unix:${this.dir}/db.sock`, ...args]);
  }

  appctl(...args: string[]): Promise<string> {
    return must('ovs-appctl', ['-t', `${this.dir}/ovs-vswitchd.ctl`, ...args]);
  }

  /** `ovs-ofctl COMMAND BRIDGE ARGS...` on this instance's bridge. */
  ofctl(command: string, bridge: string, ...args: string[]): Promise<string> {
    return must('ovs-ofctl', [command, `unix:${this.dir}/${bridge}.mgmt`, ...args]);
  }
}

/** A vtepd running in a namespace, with its log kept for the test's messages. */
export class DaemonProcess {
  log = '';
  private readonly exited: Promise<number | null>;

  constructor(readonly proc: ChildProcess) {
    proc.stdout!.on('data', (d: Buffer) => (this.log += d.toString()));
    proc.stderr!.on('data', (d: Buffer) => (this.log += d.toString()));
    this.exited = new Promise((res) => proc.once('exit', (code) => res(code)));
  }

  get pid(): number {
    return this.proc.pid!;
  }

  /**
   * Resolves at the output that says "ready", as it arrives: polled, the wait added up to a poll's
   * interval to every start the CLI bench times (50 ms of a 260 ms start).
   */
  ready(timeoutMs = 15_000): Promise<void> {
    const READY = /vtepd: ready|"msg":"ready/;
    if (READY.test(this.log)) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const done = (e?: Error) => {
        clearTimeout(timer);
        this.proc.stdout!.off('data', check);
        this.proc.stderr!.off('data', check);
        this.proc.off('exit', exited);
        if (e === undefined) resolve();
        else reject(e);
      };
      // After the constructor's listeners, which have appended the chunk to the log.
      const check = () => {
        if (READY.test(this.log)) done();
      };
      // Its last output may still be on the way when it has exited.
      const exited = (code: number | null) =>
        setTimeout(
          () => (READY.test(this.log) ? done() : done(new Error(`vtepd exited with ${code}:\n${this.log}`))),
          50,
        );
      const timer = setTimeout(() => done(new Error(`vtepd not ready after ${timeoutMs} ms:\n${this.log}`)), timeoutMs);
      this.proc.stdout!.on('data', check);
      this.proc.stderr!.on('data', check);
      this.proc.once('exit', exited);
      if (this.proc.exitCode !== null) exited(this.proc.exitCode);
    });
  }

  /** SIGTERM, then the exit code (SIGKILL after 5 s). */
  async stop(): Promise<number | null> {
    if (this.proc.exitCode !== null) return this.proc.exitCode;
    this.proc.kill('SIGTERM');
    const timer = setTimeout(() => this.proc.kill('SIGKILL'), 5000);
    const code = await this.exited;
    clearTimeout(timer);
    return code;
  }
}

export class Capture {
  private out = '';
  private readonly exited: Promise<void>;

  constructor(
    private readonly proc: ChildProcess,
    readonly file: string,
    private readonly stopSignal: NodeJS.Signals,
    private readonly readyLine: RegExp,
  ) {
    this.exited = new Promise((res) => proc.once('exit', () => res()));
  }

  noteOutput(text: string): void {
    this.out += text;
  }

  async started(): Promise<void> {
    const t0 = Date.now();
    while (!this.readyLine.test(this.out)) {
      if (this.proc.exitCode !== null) throw new Error(`capture failed: ${this.out}`);
      if (Date.now() - t0 > 10_000) throw new Error(`capture did not start: ${this.out}`);
      await sleep(20);
    }
  }

  async stop(): Promise<PcapRecord[]> {
    await sleep(200); // let the last packets reach the capture
    this.proc.kill(this.stopSignal);
    await this.exited;
    if (process.env.LAB_DEBUG) process.stderr.write(`capture ${this.file}: ${this.out}\n`);
    const parsed = parsePcap(readFileSync(this.file));
    if (typeof parsed === 'number') throw new Error(`the capture wrote an unreadable file ${this.file}`);
    return parsed.records;
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/**
 * Removes what earlier runs of the lab left behind (a killed test runner or
 * bench skips its clean-up): the processes still running in their namespaces
 * (vtepd, Open vSwitch, tcpdump), the namespaces, and their working directories.
 */
/**
 * Runs `body` with the lab, and removes the lab afterwards, also when the run is interrupted
 * (Ctrl-C, SIGTERM): namespaces, daemons and peers go, and the process exits 130.
 */
export async function withLabInterruptible<T>(lab: Lab, body: () => Promise<T>): Promise<T> {
  const interrupted = () => void lab.destroy().then(() => process.exit(130));
  process.once('SIGINT', interrupted);
  process.once('SIGTERM', interrupted);
  try {
    return await body();
  } finally {
    process.off('SIGINT', interrupted);
    process.off('SIGTERM', interrupted);
    await lab.destroy();
  }
}

export async function removeStaleLabs(): Promise<void> {
  const list = await sh('ip', ['netns', 'list']);
  const prefixes = new Set<string>();
  for (const line of list.stdout.split('\n')) {
    const m = new RegExp(`^(${LAB_PREFIX}[0-9a-f]{6})-(h\\d+|t\\d+|sw)$`).exec(line.split(' ')[0]);
    if (!m || ownerAlive(m[1])) continue;
    const pids = await sh('ip', ['netns', 'pids', m[0]]);
    for (const pid of pids.stdout.split(/\s+/).filter(Boolean)) {
      try {
        process.kill(Number(pid), 'SIGKILL');
      } catch {
        // already gone
      }
    }
    await sh('ip', ['netns', 'del', m[0]]);
    prefixes.add(m[1]);
  }
  for (const prefix of prefixes) {
    rmSync(join(WORK, prefix), { recursive: true, force: true });
    for (const d of await sh('ls', ['/var/run/frr']).then((r) => r.stdout.split('\n'))) {
      if (d.startsWith(`${prefix}-`)) rmSync(join('/var/run/frr', d), { recursive: true, force: true });
    }
  }
}

/** Whether the process that made lab `prefix` still runs (a lab of an older vtepd has no owner file: stale). */
function ownerAlive(prefix: string): boolean {
  let pid: number;
  try {
    pid = Number(readFileSync(join(WORK, prefix, OWNER_FILE), 'utf8'));
  } catch {
    return false;
  }
  if (!Number.isInteger(pid) || pid <= 0 || pid === process.pid) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The lab's overlay addresses: host i on 192.168.NET.i. */
export const VNI = 42;
export const overlay = (i: number, net = 100) => `192.168.${net}.${i}`;
export const kernelMac = (i: number, net = 0) => `02:00:00:00:${net.toString(16).padStart(2, '0')}:0${i}`;

/**
 * A vtepd config for host 1 of the lab: network blue (VNI 42, the overlay
 * address, `remotes` as hosts of the lab); `extra`: more lines of blue (or
 * more networks after them), `top`: more top-level lines.
 */
export function blueConfig(lab: Lab, extra = '', remotes = [2, 3], top = ''): string {
  return `
local: ${lab.underlay(1)}
socket: ${lab.socket(1)}
${top}networks:
  blue:
    tap: tap-blue
    address: ${overlay(1)}/24
    vxlan: { vni: ${VNI} }
    remotes: [${remotes.map((i) => lab.underlay(i)).join(', ')}]
${extra}`;
}

/** Kernel VXLAN devices on `hosts`, each replicating BUM to every other host of the lab. */
export async function kernelPeers(
  lab: Lab,
  hosts: number[],
  o: { vni?: number; net?: number; dev?: string; ttl?: number } = {},
): Promise<void> {
  for (const i of hosts) {
    await lab.kernelVxlan(i, {
      vni: o.vni ?? VNI,
      dev: o.dev,
      ttl: o.ttl,
      address: `${overlay(i, o.net)}/24`,
      mac: kernelMac(i, o.net === undefined ? 0 : o.net - 100),
      remotes: Array.from({ length: lab.hosts }, (_, k) => k + 1)
        .filter((j) => j !== i)
        .map((j) => lab.underlay(j)),
    });
  }
}
