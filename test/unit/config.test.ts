// Configuration: the documented example, defaults, and errors that name the field.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfigFile } from '../../src/config/config.ts';
import { configFromFlags } from '../../src/config/flags.ts';
import { problems } from './problems.ts';

function load(yaml: string) {
  const file = join(tmpdir(), `vtepd-config-${process.pid}-${Math.random()}.yaml`);
  writeFileSync(file, yaml);
  return loadConfigFile(file);
}

const README_EXAMPLE = `
local: 10.0.0.1                  # this VTEP's underlay IPv4 address
socket: /run/vtepd.sock          # control socket (this is the default)
networks:
  blue:
    tap: tap-blue
    address: 192.168.100.1/24    # optional
    mtu: 1450                    # optional
    vxlan: { vni: 42, port: 4789 }
    remotes: [10.0.0.2, 10.0.0.3]
    ageing: 300
    max-macs: 8192
    static:
      - { mac: "52:54:00:12:34:56", remote: 10.0.0.2 }
`;

describe('hostile config files', () => {
  const within = (ms: number, fn: () => unknown) => {
    const t0 = Date.now();
    const p = problems(fn);
    expect(Date.now() - t0).toBeLessThan(ms);
    return p;
  };

  it('refuses a billion-laughs file with one line, without expanding it', () => {
    const laughs = [
      'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]',
      ...Array.from(
        { length: 8 },
        (_, i) =>
          `${String.fromCharCode(98 + i)}: &${String.fromCharCode(98 + i)} [${Array(9)
            .fill(`*${String.fromCharCode(97 + i)}`)
            .join(',')}]`,
      ),
    ].join('\n');
    const p = within(2000, () => load(`${laughs}\nlocal: 10.0.0.1\n`));
    expect(p).toEqual([expect.stringMatching(/: .*more than 1000 aliases/)]);
  });

  it('refuses what is not a regular file, at once: /dev/zero, a FIFO, a directory', () => {
    const dir = mkdtempSync(join(tmpdir(), 'vtepd-fifo-'));
    try {
      const fifo = join(dir, 'config.fifo');
      execFileSync('mkfifo', [fifo]);
      for (const path of ['/dev/zero', fifo, dir]) {
        expect(within(1000, () => loadConfigFile(path))).toEqual([
          `config ${path}: is not a regular file; give the path of a YAML file`,
        ]);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses a file larger than 1 MB', () => {
    expect(within(2000, () => load(`# ${'x'.repeat(1024 * 1024)}\nlocal: 10.0.0.1\n`))).toEqual([
      expect.stringMatching(/is \d+ bytes, more than the 1048576 a config may have/),
    ]);
  });

  it('names a "__proto__" key with its line rather than losing the network', () => {
    expect(
      problems(() => load('local: 10.0.0.1\nnetworks:\n  __proto__:\n    tap: t0\n    vxlan: { vni: 1 }\n')),
    ).toEqual([expect.stringMatching(/line 3: "__proto__" cannot be a name or a key here; choose another/)]);
  });

  it('refuses YAML tags it does not know (!!js/function, !custom) rather than reading their text', () => {
    expect(
      problems(() =>
        load('local: !!js/function "function () {}"\nnetworks:\n  blue:\n    tap: !custom t0\n    vxlan: { vni: 1 }\n'),
      ),
    ).toEqual([
      expect.stringMatching(/line 1: unknown YAML tag !!js\/function: the config takes plain values; remove the tag/),
      expect.stringMatching(/line 4: unknown YAML tag !custom/),
    ]);
  });

  it('refuses a TAP name the kernel would number itself (%d), and a socket path a Unix socket cannot hold', () => {
    const p = problems(() =>
      load(
        `local: 10.0.0.1\nsocket: /tmp/${'s'.repeat(120)}.sock\nnetworks:\n  blue:\n    tap: tap%d\n    vxlan: { vni: 1 }\n`,
      ),
    );
    expect(p).toEqual([
      expect.stringMatching(/socket: expected a path of at most 107 bytes/),
      expect.stringMatching(
        /networks\.blue\.tap: expected an interface name of 1 to 15 characters without "\/", ":", "%" or spaces/,
      ),
    ]);
  });

  it('refuses a group or malformed MAC for the TAP, and takes a unicast one', () => {
    const base = 'local: 10.0.0.1\nnetworks:\n  blue:\n    tap: t0\n    vxlan: { vni: 1 }\n';
    expect(problems(() => load(`${base}    mac: 01:00:5e:00:00:01\n`))).toEqual([
      expect.stringMatching(/networks\.blue\.mac: expected a unicast MAC/),
    ]);
    expect(problems(() => load(`${base}    mac: nope\n`))).toEqual([
      expect.stringMatching(/networks\.blue\.mac: expected a MAC address/),
    ]);
    expect(load(`${base}    mac: 02:42:00:00:00:01\n`).networks[0].mac).toBe(0x024200000001);
  });
});

describe('config file', () => {
  it('accepts the example of the README', () => {
    const c = load(README_EXAMPLE);
    expect(c.local).toBe('10.0.0.1');
    expect(c.networks).toHaveLength(1);
    const n = c.networks[0];
    expect(n).toMatchObject({
      name: 'blue',
      tap: 'tap-blue',
      address: '192.168.100.1/24',
      mtu: 1450,
      ageing: 300,
      maxMacs: 8192,
    });
    expect(n.tunnel).toMatchObject({ kind: 'vxlan', vni: 42, port: 4789 });
    expect(n.remotes).toEqual(['10.0.0.2', '10.0.0.3']);
    expect(n.statics).toEqual([{ mac: 0x525400123456, remote: '10.0.0.2' }]);
  });

  it('fills in the defaults', () => {
    const c = load('local: 10.0.0.1\nnetworks:\n  a:\n    tap: t0\n    vxlan: { vni: 1 }\n');
    expect(c.socket).toBe('/run/vtepd.sock');
    expect(c.networks[0]).toMatchObject({
      ageing: 300,
      maxMacs: 8192,
      remotes: [],
      acceptAnyRemote: false,
      ttl: 64,
      df: false,
    });
    expect(c.networks[0].tunnel).toMatchObject({ port: 4789, srcPortMin: 49152, srcPortMax: 65535 });
    expect(c.networks[0].mtu).toBeUndefined();
  });

  it('names the path and what is expected for each mistake', () => {
    const p = problems(() =>
      load(`
local: 10.0.0.1
networks:
  blue:
    tap: tap-blue
    vxlan: { vni: 16777216 }
    remotes: [10.0.0.300]
    max_macs: 10
`),
    );
    expect(p).toEqual(
      expect.arrayContaining([expect.stringMatching(/networks\.blue\.vxlan\.vni: expected a VNI from 0 to 16777215/)]),
    );
    expect(p).toEqual(
      expect.arrayContaining([expect.stringMatching(/networks\.blue\.remotes\.0: expected an IPv4 or IPv6 address/)]),
    );
    expect(p).toEqual(expect.arrayContaining([expect.stringMatching(/networks\.blue: unknown key "max_macs"/)]));
  });

  it('reports missing fields, duplicate VNIs and TAPs, and the local address used as a remote', () => {
    expect(problems(() => load('networks:\n  a:\n    tap: t0\n    vxlan: { vni: 1 }\n'))).toEqual([
      expect.stringMatching(/local: is required/),
    ]);
    const p = problems(() =>
      load(`
local: 10.0.0.1
networks:
  a: { tap: t0, vxlan: { vni: 5 }, remotes: [10.0.0.1] }
  b: { tap: t0, vxlan: { vni: 5 } }
`),
    );
    expect(p).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/networks\.a\.remotes\.0: 10\.0\.0\.1 is this VTEP's own address/),
      ]),
    );
    expect(p).toEqual(
      expect.arrayContaining([expect.stringMatching(/networks\.b\.tap: TAP "t0" is already used by network "a"/)]),
    );
    expect(p).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/networks\.b\.vxlan\.vni: VNI 5 on port 4789 is already used by network "a"/),
      ]),
    );
  });

  it('reports YAML syntax errors with a line number', () => {
    expect(problems(() => load('local: 10.0.0.1\nnetworks:\n  a: [\n'))[0]).toMatch(/line \d+/);
  });

  it('refuses a group MAC in a static entry', () => {
    const p = problems(() =>
      load(
        'local: 10.0.0.1\nnetworks:\n  a:\n    tap: t0\n    vxlan: { vni: 1 }\n    static: [{ mac: "01:00:5e:00:00:01", remote: 10.0.0.2 }]\n',
      ),
    );
    expect(p[0]).toMatch(/networks\.a\.static\.0\.mac: expected a unicast MAC/);
  });
});

describe('config: the neighbour table and the responder', () => {
  it('takes IPv4 and IPv6 neighbours, canonical, with the responder and snooping off by default', () => {
    const c = load(
      'local: 10.0.0.1\nnetworks:\n  a:\n    tap: t0\n    vxlan: { vni: 1 }\n    arp-responder: true\n' +
        '    neigh: [{ ip: 192.168.100.2, mac: "02:00:00:00:00:02" }, { ip: "FD00:100:0::2", mac: "02:00:00:00:00:02" }]\n',
    );
    expect(c.networks[0]).toMatchObject({ arpResponder: true, arpSnoop: false });
    expect(c.networks[0].neigh).toEqual([
      { ip: '192.168.100.2', mac: 0x020000000002 },
      { ip: 'fd00:100::2', mac: 0x020000000002 },
    ]);
  });

  it('names a bad or repeated neighbour', () => {
    const p = problems(() =>
      load(
        'local: 10.0.0.1\nnetworks:\n  a:\n    tap: t0\n    vxlan: { vni: 1 }\n' +
          '    neigh: [{ ip: 192.168.100.2, mac: "02:00:00:00:00:02" }, { ip: 192.168.100.2, mac: "02:00:00:00:00:03" }, { ip: nope, mac: "02:00:00:00:00:02" }]\n',
      ),
    );
    expect(p).toEqual(
      expect.arrayContaining([expect.stringMatching(/networks\.a\.neigh\.2\.ip: expected an IPv4 or IPv6 address/)]),
    );
    const dup = problems(() =>
      load(
        'local: 10.0.0.1\nnetworks:\n  a:\n    tap: t0\n    vxlan: { vni: 1 }\n' +
          '    neigh: [{ ip: 192.168.100.2, mac: "02:00:00:00:00:02" }, { ip: 192.168.100.2, mac: "02:00:00:00:00:03" }]\n',
      ),
    );
    expect(dup).toEqual([
      expect.stringMatching(/networks\.a\.neigh\.1\.ip: 192\.168\.100\.2 has two neighbour entries/),
    ]);
  });
});

describe('config: BGP EVPN', () => {
  it("fills in FRR's defaults: router-id = local, RD router-id:VNI, route targets ASN:VNI, hold time 9", () => {
    const c = load(
      'local: 10.0.0.3\nevpn: { asn: 65000, neighbors: [10.0.0.1] }\nnetworks:\n  a:\n    tap: t0\n    vxlan: { vni: 100 }\n    evpn: true\n    learning: false\n',
    );
    expect(c.evpn).toEqual({
      asn: 65000,
      routerId: '10.0.0.3',
      neighbors: [{ address: '10.0.0.1', peerAs: 65000, holdTime: 9 }],
      ebgp: false,
      gobgp: undefined,
      holdTime: 9,
    });
    expect(c.networks[0]).toMatchObject({
      learning: false,
      evpn: { rd: '10.0.0.3:100', importRts: ['65000:100'], exportRts: ['65000:100'] },
    });
  });

  it('eBGP: peer-as for all neighbors or one, external, hold time and password per neighbor; imports *:VNI by default', () => {
    const c = load(
      'local: 10.0.0.3\nevpn:\n  asn: 65003\n  peer-as: 65000\n  neighbors:\n    - 10.0.0.1\n' +
        '    - { address: 10.0.9.1, peer-as: external, hold-time: 30, password: "s3cret!" }\n' +
        'networks:\n  a:\n    tap: t0\n    vxlan: { vni: 100 }\n    evpn: true\n',
    );
    expect(c.evpn).toMatchObject({
      asn: 65003,
      ebgp: true,
      neighbors: [
        { address: '10.0.0.1', peerAs: 65000, holdTime: 9 },
        { address: '10.0.9.1', peerAs: 'external', holdTime: 30, password: 's3cret!' },
      ],
    });
    // FRR's auto-derived targets are ASN:VNI with each leaf's own AS: imports match any AS, exports stay ours.
    expect(c.networks[0].evpn).toEqual({ rd: '10.0.0.3:100', importRts: ['*:100'], exportRts: ['65003:100'] });
    // A given import-rt is taken as it is; iBGP to one neighbor in our AS keeps eBGP's default for the others.
    const mixed = load(
      'local: 10.0.0.3\nevpn: { asn: 65003, neighbors: [10.0.0.1, { address: 10.0.0.2, peer-as: 65009 }] }\n' +
        'networks:\n  a:\n    tap: t0\n    vxlan: { vni: 7 }\n    evpn: { import-rt: ["65009:7"] }\n',
    );
    expect(mixed.evpn?.neighbors.map((n) => n.peerAs)).toEqual([65003, 65009]);
    expect(mixed.networks[0].evpn?.importRts).toEqual(['65009:7']);
    const errors = (evpn: string) =>
      problems(() => load(`local: 10.0.0.3\nevpn: ${evpn}\nnetworks:\n  a:\n    tap: t0\n    vxlan: { vni: 1 }\n`));
    expect(errors('{ asn: 65003, peer-as: internal, neighbors: [10.0.0.1] }')).toEqual([
      expect.stringMatching(/evpn\.peer-as: expected an AS number \(1–4294967295\) or external/),
    ]);
    expect(errors('{ asn: 65003, neighbors: [{ address: 10.0.0.1, password: "a\\"b" }] }')).toEqual([
      expect.stringMatching(
        /evpn\.neighbors\.0\.password: expected 1 to 80 printable ASCII characters, without quotes or backslashes/,
      ),
    ]);
    expect(errors('{ asn: 65003, neighbors: [10.0.0.1, { address: 10.0.0.1 }] }')).toEqual([
      expect.stringMatching(/evpn\.neighbors\.1: 10\.0\.0\.1 is listed twice/),
    ]);
  });

  it('takes *:N as an import route target (N under any AS), canonical, and not as an export one', () => {
    const c = load(
      'local: 10.0.0.3\nevpn: { asn: 65003, neighbors: [10.0.0.1] }\nnetworks:\n  a:\n    tap: t0\n    vxlan: { vni: 100 }\n' +
        '    evpn: { import-rt: ["*:0100", "65000:100"] }\n',
    );
    expect(c.networks[0].evpn?.importRts).toEqual(['*:100', '65000:100']);
    expect(
      problems(() =>
        load(
          'local: 10.0.0.3\nevpn: { asn: 65000, neighbors: [10.0.0.1] }\nnetworks:\n  a:\n    tap: t0\n    vxlan: { vni: 1 }\n    evpn: { export-rt: ["*:1"] }\n',
        ),
      ),
    ).toEqual([expect.stringMatching(/networks\.a\.evpn\.export-rt\.0: expected IP:N or ASN:N/)]);
  });

  it('takes given RD and route targets', () => {
    const c = load(
      'local: 10.0.0.3\nevpn: { asn: 65000, neighbors: [10.0.0.1], router-id: 1.1.1.1 }\nnetworks:\n  a:\n    tap: t0\n    vxlan: { vni: 100 }\n' +
        '    evpn: { rd: "1.1.1.1:7", import-rt: ["65000:100", "65001:100"], export-rt: ["65000:100"] }\n',
    );
    expect(c.networks[0].evpn).toEqual({
      rd: '1.1.1.1:7',
      importRts: ['65000:100', '65001:100'],
      exportRts: ['65000:100'],
    });
  });

  it('names what is wrong: no fabric, a GRE network, a bad route target, the VTEP as its own neighbor', () => {
    expect(
      problems(() => load('local: 10.0.0.3\nnetworks:\n  a:\n    tap: t0\n    vxlan: { vni: 1 }\n    evpn: true\n')),
    ).toEqual([expect.stringMatching(/networks\.a\.evpn: needs the top-level evpn/)]);
    expect(
      problems(() =>
        load(
          'local: 10.0.0.3\nevpn: { asn: 65000, neighbors: [10.0.0.1] }\nnetworks:\n  a:\n    tap: t0\n    gre: { key: 1 }\n    evpn: true\n',
        ),
      ),
    ).toEqual([expect.stringMatching(/networks\.a\.evpn: BGP EVPN carries VXLAN networks/)]);
    expect(
      problems(() =>
        load(
          'local: 10.0.0.3\nevpn: { asn: 65000, neighbors: [10.0.0.1] }\nnetworks:\n  a:\n    tap: t0\n    vxlan: { vni: 1 }\n    evpn: { import-rt: ["x:1"] }\n',
        ),
      ),
    ).toEqual([expect.stringMatching(/networks\.a\.evpn\.import-rt\.0: expected IP:N, ASN:N or \*:N/)]);
    expect(
      problems(() =>
        load(
          'local: 10.0.0.3\nevpn: { asn: 65000, neighbors: [10.0.0.3] }\nnetworks:\n  a:\n    tap: t0\n    vxlan: { vni: 1 }\n',
        ),
      ),
    ).toEqual([expect.stringMatching(/evpn\.neighbors\.0: 10\.0\.0\.3 is this VTEP's own address/)]);
  });

  it('from flags: --evpn-asn and --evpn-neighbor make the one network part of the fabric', () => {
    const c = configFromFlags({
      local: '10.0.0.3',
      tap: 'tap0',
      vni: '100',
      'evpn-asn': '65000',
      'evpn-neighbor': ['10.0.0.1'],
      'no-learning': true,
    });
    expect(c.evpn).toMatchObject({ asn: 65000, neighbors: [{ address: '10.0.0.1', peerAs: 65000 }] });
    expect(c.networks[0]).toMatchObject({ learning: false, evpn: { rd: '10.0.0.3:100' } });
    expect(
      problems(() =>
        configFromFlags({ local: '10.0.0.3', tap: 'tap0', vni: '100', 'evpn-asn': 'x', 'evpn-neighbor': ['10.0.0.1'] }),
      )[0],
    ).toMatch(/^--evpn-asn: /);
  });
});

describe('config from flags', () => {
  it('builds one network named after its TAP', () => {
    const c = configFromFlags({
      local: '10.0.0.1',
      tap: 'tap0',
      vni: '42',
      remote: ['10.0.0.2', '10.0.0.3'],
      address: '192.168.100.1/24',
      mtu: '1400',
      port: '8472',
    });
    expect(c.networks[0]).toMatchObject({
      name: 'tap0',
      tap: 'tap0',
      mtu: 1400,
      address: '192.168.100.1/24',
      remotes: ['10.0.0.2', '10.0.0.3'],
    });
    expect(c.networks[0].tunnel).toMatchObject({ vni: 42, port: 8472 });
  });

  it('names the flag in its errors', () => {
    expect(problems(() => configFromFlags({ local: '10.0.0.1', tap: 'tap0', vni: 'x' }))).toEqual([
      '--vni: expected a VNI from 0 to 16777215',
    ]);
    expect(problems(() => configFromFlags({ local: '10.0.0.1', tap: 'tap0' }))[0]).toMatch(/^--vni: is required/);
    expect(problems(() => configFromFlags({ tap: 'tap0', vni: '1' }))[0]).toMatch(/^--local: is required/);
    expect(problems(() => configFromFlags({ local: '10.0.0.1', tap: 'tap0', vni: '1', remote: ['nope'] }))[0]).toMatch(
      /^--remote: expected an IPv4/,
    );
    expect(
      configFromFlags({ local: '10.0.0.1', tap: 'tap0', vni: '1', 'arp-responder': true }).networks[0].arpResponder,
    ).toBe(true);
  });
});

describe('service settings', () => {
  const base = 'local: 10.0.0.1\nnetworks:\n  blue:\n    tap: tap-blue\n    vxlan: { vni: 42 }\n';

  it('reads socket-mode as octal, as written (YAML reads 0660 as the number 660), and defaults the rest', () => {
    expect(load(base).socketAccess).toEqual({ mode: 0o600, group: undefined, mutations: 'owner' });
    expect(load(base + 'socket-mode: 0660\n').socketAccess.mode).toBe(0o660);
    expect(load(base + 'socket-mode: "0640"\nsocket-group: vtepd\nsocket-mutations: group\n').socketAccess).toEqual({
      mode: 0o640,
      group: 'vtepd',
      mutations: 'group',
    });
    expect(load(base).log).toEqual({ format: 'text', level: 'info' });
    expect(load(base + 'metrics: "[::1]:9465"\n').metrics).toEqual({ host: '::1', port: 9465 });
    expect(load(base + 'metrics: 127.0.0.1:9465\nuser: vtepd\n')).toMatchObject({
      metrics: { host: '127.0.0.1', port: 9465 },
      user: 'vtepd',
    });
  });

  it('refuses what it cannot honour, naming the field', () => {
    expect(problems(() => load(base + 'socket-mode: 0666\n'))).toEqual([
      expect.stringMatching(/socket-mode: expected permission bits such as 0600 or 0660/),
    ]);
    expect(problems(() => load(base + 'socket-mode: 0400\n'))).toEqual([expect.stringMatching(/socket-mode: /)]);
    expect(problems(() => load(base + 'metrics: localhost:9465\n'))).toEqual([
      expect.stringMatching(/metrics: expected ADDRESS:PORT/),
    ]);
    expect(problems(() => load(base + 'metrics: 127.0.0.1:70000\n'))).toEqual([expect.stringMatching(/metrics: /)]);
    expect(problems(() => load(base + 'log-format: xml\n'))).toEqual([
      expect.stringMatching(/log-format: expected text or json/),
    ]);
    expect(problems(() => load(base + 'log-level: loud\n'))).toEqual([
      expect.stringMatching(/log-level: expected one of debug, info, warning, error/),
    ]);
    expect(problems(() => load(base + 'socket-mutations: everyone\n'))).toEqual([
      expect.stringMatching(/socket-mutations: expected owner/),
    ]);
    expect(problems(() => configFromFlags({ local: '10.0.0.1', tap: 't0', vni: '1', 'log-level': 'loud' }))).toEqual([
      expect.stringMatching(/^--log-level: /),
    ]);
  });
});

describe('an IPv6 underlay', () => {
  it('takes IPv6 local, remotes, allow, static and group, canonical (RFC 5952)', () => {
    const c = load(`
local: FD00:0:0::1
networks:
  blue:
    tap: tap-blue
    vxlan: { vni: 42 }
    remotes: [fd00:0::2]
    allow: [fd00::3]
    static: [{ mac: "02:00:00:00:00:09", remote: fd00::2 }]
    group: { address: ff05::42, dev: eth1 }
    udp6-zero-csum-rx: true
`);
    expect(c.local).toBe('fd00::1');
    const n = c.networks[0];
    expect([n.remotes, n.allow, n.statics[0].remote, n.group?.address, n.udp6ZeroCsumRx]).toEqual([
      ['fd00::2'],
      ['fd00::3'],
      'fd00::2',
      'ff05::42',
      true,
    ]);
  });

  it('refuses an address of the other family, naming the field', () => {
    const p = problems(() =>
      load(`
local: fd00::1
networks:
  blue: { tap: t0, vxlan: { vni: 1 }, remotes: [fd00::2, 10.0.0.2], static: [{ mac: "02:00:00:00:00:09", remote: 10.0.0.3 }] }
`),
    );
    expect(p).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/networks\.blue\.remotes\.1: 10\.0\.0\.2 is IPv4, but local fd00::1 is IPv6/),
        expect.stringMatching(/networks\.blue\.static\.0\.remote: 10\.0\.0\.3 is IPv4/),
      ]),
    );
    expect(problems(() => configFromFlags({ local: '10.0.0.1', tap: 't0', vni: '1', remote: ['fd00::2'] }))[0]).toMatch(
      /^--remote: fd00::2 is IPv6, but local 10\.0\.0\.1 is IPv4/,
    );
  });

  it('refuses udp6-zero-csum-rx where it means nothing, and EVPN over IPv6', () => {
    expect(
      problems(() =>
        load('local: 10.0.0.1\nnetworks:\n  b: { tap: t0, vxlan: { vni: 1 }, udp6-zero-csum-rx: true }\n'),
      ),
    ).toEqual([expect.stringMatching(/networks\.b\.udp6-zero-csum-rx: applies to VXLAN and Geneve over IPv6 only/)]);
    expect(
      problems(() =>
        load(
          'local: fd00::1\nevpn: { asn: 65000, neighbors: [10.0.0.9] }\nnetworks:\n  b: { tap: t0, vxlan: { vni: 1 }, evpn: true }\n',
        ),
      ),
    ).toEqual(expect.arrayContaining([expect.stringMatching(/networks\.b\.evpn: BGP EVPN needs an IPv4 local/)]));
  });
});

describe('df', () => {
  it('is true, false or inherit; --df-inherit gives inherit; --df and --df-inherit do not go together', () => {
    expect(load('local: 10.0.0.1\nnetworks:\n  b: { tap: t0, vxlan: { vni: 1 }, df: inherit }\n').networks[0].df).toBe(
      'inherit',
    );
    expect(
      problems(() => load('local: 10.0.0.1\nnetworks:\n  b: { tap: t0, vxlan: { vni: 1 }, df: maybe }\n')),
    ).toEqual([expect.stringMatching(/networks\.b\.df: expected true, false or inherit/)]);
    expect(configFromFlags({ local: '10.0.0.1', tap: 't0', vni: '1', 'df-inherit': true }).networks[0].df).toBe(
      'inherit',
    );
    expect(
      problems(() => configFromFlags({ local: '10.0.0.1', tap: 't0', vni: '1', df: true, 'df-inherit': true }))[0],
    ).toMatch(/--df and --df-inherit do not go together/);
  });
});

describe('IPv6 link-local underlay addresses', () => {
  it('are refused: they need an interface to mean anything', () => {
    expect(problems(() => load('local: fe80::1\nnetworks:\n  b: { tap: t0, vxlan: { vni: 1 } }\n'))).toEqual([
      expect.stringMatching(/^config .*: local: expected a global or unique local IPv6 address, not a link-local one/),
    ]);
  });
});

describe('gre-socket', () => {
  it('is packet by default, raw or packet per network or for all, and --gre-socket sets it', () => {
    expect(load('local: 10.0.0.1\nnetworks:\n  r: { tap: t0, gre: { key: 1 } }\n').networks[0].greSocket).toBe(
      'packet',
    );
    expect(
      load(
        'local: 10.0.0.1\ngre-socket: raw\nnetworks:\n  r: { tap: t0, gre: { key: 1 } }\n  s: { tap: t1, gre: { key: 2 }, gre-socket: packet }\n',
      ).networks.map((n) => n.greSocket),
    ).toEqual(['raw', 'packet']);
    expect(
      configFromFlags({ local: '10.0.0.1', tap: 't0', 'gre-key': '1', 'gre-socket': 'raw' }).networks[0].greSocket,
    ).toBe('raw');
    // A VXLAN network is not touched by the top-level key: changing it restarts no VXLAN network on reload.
    expect(
      load('local: 10.0.0.1\ngre-socket: raw\nnetworks:\n  b: { tap: t0, vxlan: { vni: 1 } }\n').networks[0].greSocket,
    ).toBe('packet');
  });

  it('refuses other values, and gre-socket on a VXLAN network, naming the field', () => {
    expect(
      problems(() => load('local: 10.0.0.1\nnetworks:\n  r: { tap: t0, gre: { key: 1 }, gre-socket: af_packet }\n')),
    ).toEqual([expect.stringMatching(/networks\.r\.gre-socket: expected packet or raw/)]);
    expect(
      problems(() => load('local: 10.0.0.1\nnetworks:\n  b: { tap: t0, vxlan: { vni: 1 }, gre-socket: raw }\n')),
    ).toEqual([expect.stringMatching(/networks\.b\.gre-socket: applies to GRE networks only/)]);
    expect(
      problems(() => configFromFlags({ local: '10.0.0.1', tap: 't0', 'gre-key': '1', 'gre-socket': 'rings' }))[0],
    ).toMatch(/^--gre-socket: expected packet or raw/);
  });
});

describe('routing between networks', () => {
  const routed = (blue: string, red = '', top = '') => `
local: 10.0.0.1
${top}
vrfs:
  tenant1:
    routes:
      - { prefix: 0.0.0.0/0, via: 192.168.10.254 }
networks:
  blue:
    tap: tap-blue
    vxlan: { vni: 10 }
    remotes: [10.0.0.2]
    vrf: tenant1
${blue}
  red:
    tap: tap-red
    vxlan: { vni: 20 }
    remotes: [10.0.0.2]
    vrf: tenant1
${red || '    gateway: { addresses: [192.168.20.1/24], mac: "00:00:5e:00:01:01" }'}
`;
  const BLUE = `    gateway:
      addresses: [192.168.10.1/24, "fd00:10::1/64"]
      mac: "00:00:5e:00:01:01"
      source-mac: anycast`;

  it("loads the issue's example: VRF, static route, DVR MACs, two gateways", () => {
    const c = load(routed(BLUE, '', 'dvr-mac: "fa:16:3f:00:00:01"\ndvr-macs: ["fa:16:3f:00:00:02"]'));
    expect(c.vrfs).toEqual([
      { name: 'tenant1', routes: [{ prefix: '0.0.0.0/0', via: '192.168.10.254' }], icmpRatelimit: 1000 },
    ]);
    expect(c.dvrMac).toBe(0xfa163f000001);
    expect(c.dvrMacs).toEqual([0xfa163f000002]);
    const blue = c.networks.find((n) => n.name === 'blue')!;
    expect(blue.vrf).toBe('tenant1');
    expect(blue.gateway).toEqual({
      addresses: [
        { ip: '192.168.10.1', len: 24 },
        { ip: 'fd00:10::1', len: 64 },
      ],
      mac: 0x00005e000101,
      sourceMac: 'anycast',
    });
  });

  it('puts a gateway without vrf in VRF "default", and takes a VRF declared with no settings', () => {
    const c = load(`
local: 10.0.0.1
vrfs:
  spare:
networks:
  blue:
    tap: tap-blue
    vxlan: { vni: 10 }
    gateway: { addresses: [192.168.10.1/24], mac: "00:00:5e:00:01:01" }
`);
    expect(c.networks[0].vrf).toBe('default');
    expect(c.vrfs.map((v) => v.name).sort()).toEqual(['default', 'spare']);
  });

  it.each([
    [
      'overlapping subnets in one VRF',
      routed(BLUE, '    gateway: { addresses: [192.168.10.129/25], mac: "00:00:5e:00:01:01" }'),
      'networks.red.gateway.addresses.0: 192.168.10.128/25 overlaps 192.168.10.0/24 of network blue in VRF tenant1',
    ],
    [
      "a gateway address that is its subnet's network address",
      routed('    gateway: { addresses: [192.168.10.0/24], mac: "00:00:5e:00:01:01" }'),
      'networks.blue.gateway.addresses.0: 192.168.10.0/24: 192.168.10.0 is the network address of its subnet',
    ],
    [
      'a gateway address that is the broadcast address',
      routed('    gateway: { addresses: [192.168.10.255/24], mac: "00:00:5e:00:01:01" }'),
      'networks.blue.gateway.addresses.0: 192.168.10.255/24: 192.168.10.255 is the broadcast address',
    ],
    [
      'a route whose next hop is on no connected subnet',
      routed(BLUE).replace('via: 192.168.10.254', 'via: 192.168.99.1'),
      'vrfs.tenant1.routes.0.via: 192.168.99.1 is on no connected subnet of VRF tenant1',
    ],
    [
      'a VRF that vrfs does not declare',
      routed(BLUE).replace(
        '    vrf: tenant1\n    gateway:\n      addresses',
        '    vrf: tenant2\n    gateway:\n      addresses',
      ),
      'networks.blue.vrf: no VRF "tenant2" in vrfs (VRFs: tenant1)',
    ],
    [
      "a gateway with the TAP's own address",
      routed(`    address: 192.168.10.1/24\n${BLUE}`),
      "networks.blue.gateway.addresses.0: 192.168.10.1 is the address of the network's TAP",
    ],
    [
      'a dvr-mac equal to a gateway MAC',
      routed(BLUE, '', 'dvr-mac: "00:00:5e:00:01:01"'),
      'dvr-mac: 00:00:5e:00:01:01 is a gateway MAC',
    ],
    [
      'a multicast dvr-mac',
      routed(BLUE, '', 'dvr-mac: "01:00:5e:00:00:01"'),
      'dvr-mac: expected a unicast MAC address',
    ],
    [
      'source-mac dvr without a dvr-mac',
      routed(BLUE.replace('source-mac: anycast', 'source-mac: dvr')),
      'networks.blue.gateway.source-mac: dvr needs the top-level dvr-mac',
    ],
  ])('refuses %s, naming the field', (_what, yaml, message) => {
    const p = problems(() => load(yaml));
    expect(p.join('\n')).toContain(message);
  });

  const irb = (vrfs: string, extra = '') => `
local: 10.0.0.1
evpn: { asn: 65000, neighbors: [10.0.0.9] }
vrfs:
${vrfs}
networks:
  blue:
    tap: tap-blue
    vxlan: { vni: 10 }
    evpn: true
    vrf: tenant1
    gateway: { addresses: [192.168.10.1/24], mac: "00:00:5e:00:01:01" }
${extra}`;

  it("takes a VRF's L3VNI with FRR's defaults: RD router-id:L3VNI, RT ASN:L3VNI, a router MAC derived from local", () => {
    const c = load(irb('  tenant1: { l3vni: 4001 }'));
    const v = c.vrfs.find((x) => x.name === 'tenant1')!;
    expect(v.l3).toMatchObject({
      vni: 4001,
      rd: '10.0.0.1:4001',
      importRts: ['65000:4001'],
      exportRts: ['65000:4001'],
      advertise: ['connected'],
    });
    expect(Math.floor(v.l3!.rmac / 2 ** 40) & 3).toBe(2); // locally administered, unicast
    expect(load(irb('  tenant1: { l3vni: 4001 }')).vrfs[0].l3!.rmac).toBe(v.l3!.rmac); // the same at every start
  });

  it.each([
    [
      'an L3VNI without the top-level evpn',
      irb('  tenant1: { l3vni: 4001 }')
        .replace(/evpn: \{ asn.*\n/, '')
        .replace('    evpn: true\n', ''),
      'vrfs.tenant1.l3vni: an L3VNI is routing over BGP EVPN',
    ],
    [
      "an L3VNI that is a network's VNI",
      irb('  tenant1: { l3vni: 10 }'),
      'vrfs.tenant1.l3vni: 10 is the VNI of network blue',
    ],
    [
      'two VRFs with one L3VNI',
      irb('  tenant1: { l3vni: 4001 }\n  tenant2: { l3vni: 4001 }'),
      'vrfs.tenant2.l3vni: 4001 is the L3VNI of VRF tenant1 already',
    ],
    [
      'two router MACs',
      irb(
        '  tenant1: { l3vni: 4001, router-mac: "02:00:00:00:00:01" }\n  tenant2: { l3vni: 4002, router-mac: "02:00:00:00:00:02" }',
      ),
      'vrfs.tenant2.router-mac: 02:00:00:00:00:02 differs from VRF tenant1',
    ],
    [
      'a router MAC that is a gateway MAC',
      irb('  tenant1: { l3vni: 4001, router-mac: "00:00:5e:00:01:01" }'),
      'vrfs.tenant1.router-mac: 00:00:5e:00:01:01 is a gateway MAC',
    ],
  ])('refuses %s, naming the field', (_what, yaml, message) => {
    expect(problems(() => load(yaml)).join('\n')).toContain(message);
  });
});
