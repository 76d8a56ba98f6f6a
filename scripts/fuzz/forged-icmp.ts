// Forged ICMP errors at vtepd, many and varied, from a host on the underlay
// that is no VTEP and sees no tunnel traffic (h3), while pings and TCP cross
// both of vtepd's tunnels: VXLAN with df: true to a kernel peer (h2) and GRE
// with key 77 to a second vtepd (h2). What must hold (RFC 5927, and "a learned
// MTU never silences a flow"): vtepd stays up, no ping is lost, TCP keeps at
// least half its rate, and every error is believed or ignored by a reason.
// A forger who guesses a lane's source port (1 in about 65536/lanes) is
// believed, as anyone on the path would be: that is counted and reported.
// `npm run fuzz -- --forged-icmp N`.
import { request } from '../../src/control/client.ts';
import type { RemoteRow, StatsReport } from '../../src/control/protocol.ts';
import { kernelMac, Lab, withLabInterruptible, overlay, sleep } from '../lab/lab.ts';
import { rssMb } from './run.ts';

export interface ForgedIcmpReport {
  sent: number;
  /** Errors sent by class (see the generator). */
  classes: Record<string, number>;
  seconds: number;
  /** What vtepd made of them: `stats`'s pmtu-icmp. */
  believed: number;
  ignored: Record<string, number>;
  /** Path MTU toward h2 at the end, per network. */
  pmtu: { vxlan: number; gre: number };
  pings: { vxlan: { sent: number; received: number }; gre: { sent: number; received: number } };
  /** TCP through each tunnel before and after the forgeries (Mb/s). */
  tcpMbps: { vxlan: [number, number]; gre: [number, number] };
  alive: boolean;
  rssMb: { before: number; after: number };
}

/**
 * The forger, in Python (a raw ICMP socket; the kernel fills the outer IPv4 header with h3's address, as a
 * router's error has it). Seeded, so that a run can be repeated; paced to `pps`. Prints the counts by class.
 */
const FORGER = String.raw`
import json, random, socket, struct, sys, time
seed, count, pps = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
target, local, remote = sys.argv[4], socket.inet_aton(sys.argv[5]), socket.inet_aton(sys.argv[6])
r = random.Random(seed)
def csum(b):
    if len(b) % 2: b += b'\0'
    s = sum(struct.unpack('!%dH' % (len(b) // 2), b))
    while s >> 16: s = (s & 0xffff) + (s >> 16)
    return (~s) & 0xffff
def ipv4(src, dst, proto, length, df, ihl=5):
    h = struct.pack('!BBHHHBBH4s4s', 0x40 | ihl, 0, length, r.randrange(65536), 0x4000 if df else 0, 64, proto, 0, src, dst)
    h += bytes(r.randrange(256) for _ in range(max(0, ihl - 5) * 4))
    return h[:10] + struct.pack('!H', csum(h)) + h[12:]
def rand_addr(): return bytes(r.randrange(256) for _ in range(4))
MTUS = [0, 1, 67, 68, 300, 552, 575, 576, 1000, 1279, 1400, 1450, 1499, 1500, 1501, 9000, 65535]
def mtu(): return r.choice(MTUS) if r.random() < 0.7 else r.randrange(65536)
def udp_quote(sport, dport, df=True, src=None, dst=None):
    return ipv4(src or local, dst or remote, 17, 1500, df) + struct.pack('!HHHH', sport, dport, 1480, 0)
def gre_quote(key, flags=0x2000, proto=0x6558):
    return ipv4(local, remote, 47, 1500, True) + struct.pack('!HHI', flags, proto, key)
def lane_guess(): return r.choice([50176 + 1024 * r.randrange(15), r.randrange(1024, 65536), 4789, 0])
classes = {}
def error(kind, quote, t=3, c=4, m=None):
    m = mtu() if m is None else m
    msg = struct.pack('!BBHHH', t, c, 0, 0, m & 0xffff) + quote
    if kind != 'bad-checksum': msg = msg[:2] + struct.pack('!H', csum(msg)) + msg[4:]
    classes[kind] = classes.get(kind, 0) + 1
    return msg
def make():
    x = r.random()
    if x < 0.25: return error('vxlan-lane-guess', udp_quote(lane_guess(), 4789))
    if x < 0.32: return error('vxlan-other-port', udp_quote(lane_guess(), r.randrange(65536)))
    if x < 0.39: return error('vxlan-no-df', udp_quote(lane_guess(), 4789, df=False))
    if x < 0.46: return error('other-addresses', udp_quote(lane_guess(), 4789, src=rand_addr(), dst=rand_addr()))
    if x < 0.58: return error('gre-other-key', gre_quote(r.choice([0, 1, 76, 78, r.randrange(1 << 32)])))
    if x < 0.62: return error('gre-odd-header', gre_quote(77, flags=r.randrange(65536), proto=r.randrange(65536)))
    if x < 0.70:
        q = r.choice([udp_quote(lane_guess(), 4789), gre_quote(77)])
        return error('truncated', q[:r.randrange(len(q))])
    if x < 0.75:
        q = ipv4(local, remote, r.choice([17, 47]), r.randrange(65536), True, ihl=r.randrange(16))
        return error('odd-ip-header', q + bytes(r.randrange(256) for _ in range(8)))
    if x < 0.80: return error('bad-checksum', udp_quote(lane_guess(), 4789))
    if x < 0.90:
        t, c = r.choice([(3, r.randrange(16)), (11, 0), (12, 0), (r.randrange(256), r.randrange(256))])
        return error('other-type', udp_quote(lane_guess(), 4789), t, c)
    return error('garbage', bytes(r.randrange(256) for _ in range(r.randrange(64))), r.randrange(256), r.randrange(256))
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
t0 = time.time()
sent = 0
for i in range(count):
    msg = make()
    if len(msg) < 4: msg += b'\0' * (4 - len(msg))
    try:
        s.sendto(msg, (target, 0))
        sent += 1
    except OSError:
        pass
    if i % 100 == 99:
        ahead = (i + 1) / pps - (time.time() - t0)
        if ahead > 0: time.sleep(ahead)
print(json.dumps({'sent': sent, 'classes': classes, 'seconds': time.time() - t0}))
`;

function config(lab: Lab, i: number): string {
  const blue =
    i === 1
      ? `  blue:
    tap: tap-blue
    address: ${overlay(1)}/24
    vxlan: { vni: 42 }
    df: true
    remotes: [${lab.underlay(2)}]
`
      : '';
  return `
local: ${lab.underlay(i)}
socket: ${lab.socket(i)}
networks:
${blue}  green:
    tap: tap-green
    address: ${overlay(i, 101)}/24
    gre: { key: 77 }
    remotes: [${lab.underlay(i === 1 ? 2 : 1)}]
`;
}

async function tcpMbps(lab: Lab, to: string, seconds = 3): Promise<number> {
  const server = lab.exec(2, 'iperf3', ['-s', '-1', '-B', to], (seconds + 20) * 1000);
  await sleep(300);
  const r = await lab.exec(1, 'iperf3', ['-c', to, '-t', String(seconds), '-J'], (seconds + 20) * 1000);
  await server;
  try {
    return (
      (JSON.parse(r.stdout) as { end: { sum_received: { bits_per_second: number } } }).end.sum_received
        .bits_per_second / 1e6
    );
  } catch {
    return 0;
  }
}

function pingCounts(out: string): { sent: number; received: number } {
  const m = /(\d+) packets transmitted, (\d+) received/.exec(out);
  return { sent: Number(m?.[1] ?? 0), received: Number(m?.[2] ?? 0) };
}

export async function runForgedIcmp(
  count: number,
  pps: number,
  vtepdArgs: string[],
  seed = 1,
): Promise<ForgedIcmpReport> {
  const lab = await Lab.create(3);
  return withLabInterruptible(lab, async () => {
    await lab.kernelVxlan(2, { vni: 42, address: `${overlay(2)}/24`, mac: kernelMac(2), remotes: [lab.underlay(1)] });
    process.env.VTEPD_TEST_ARGS = vtepdArgs.join(' ');
    const d = await lab.startDaemon(1, config(lab, 1));
    await lab.startDaemon(2, config(lab, 2));
    for (const to of [overlay(2), overlay(2, 101)])
      if ((await lab.exec(1, 'ping', ['-c', '3', '-i', '0.2', '-W', '2', to])).code !== 0)
        throw new Error(`the warm-up ping to ${to} failed`);
    const before = { vxlan: await tcpMbps(lab, overlay(2)), gre: await tcpMbps(lab, overlay(2, 101)) };
    const rssBefore = rssMb(d.pid);
    const seconds = Math.ceil(count / pps) + 2;
    const ping = (to: string) =>
      lab.exec(1, 'ping', ['-q', '-i', '0.01', '-W', '1', '-w', String(seconds), to], (seconds + 30) * 1000);
    const pings = [ping(overlay(2)), ping(overlay(2, 101))];
    await sleep(500);
    const forged = await lab.exec(
      3,
      'python3',
      ['-c', FORGER, String(seed), String(count), String(pps), lab.underlay(1), lab.underlay(1), lab.underlay(2)],
      (seconds + 60) * 1000,
    );
    if (forged.code !== 0) throw new Error(`the forger failed: ${forged.stderr}`);
    const res = JSON.parse(forged.stdout.trim()) as { sent: number; classes: Record<string, number>; seconds: number };
    const [vxlanPing, grePing] = await Promise.all(pings);
    const after = { vxlan: await tcpMbps(lab, overlay(2)), gre: await tcpMbps(lab, overlay(2, 101)) };
    const s = await request<StatsReport>(lab.socket(1), { cmd: 'stats' });
    const rows = await request<RemoteRow[]>(lab.socket(1), { cmd: 'remote-show' });
    const pmtu = (network: string) => rows.find((x) => x.network === network)?.pmtu ?? 0;
    return {
      sent: res.sent,
      classes: res.classes,
      seconds: res.seconds,
      believed: s['pmtu-icmp']?.believed ?? 0,
      ignored: s['pmtu-icmp']?.ignored ?? {},
      pmtu: { vxlan: pmtu('blue'), gre: pmtu('green') },
      pings: { vxlan: pingCounts(vxlanPing.stdout), gre: pingCounts(grePing.stdout) },
      tcpMbps: { vxlan: [before.vxlan, after.vxlan], gre: [before.gre, after.gre] },
      alive: d.proc.exitCode === null && d.proc.signalCode === null,
      rssMb: { before: rssBefore, after: rssMb(d.pid) },
    };
  });
}
