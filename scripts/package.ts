// `npm run package [-- --out DIR]`: builds vtepd_VERSION_amd64.deb with dpkg-deb, from what set-up
// made (dist/ from `npm run build`, the native addon) and the production npm packages at their locked
// versions (the npm registry is the only network it uses). Where everything goes:
//
//   /usr/lib/vtepd/              dist/, bin/ (the launchers), package.json, node_modules/, the addon
//   /usr/sbin/vtepd, /usr/bin/vtepctl      links to the launchers
//   /lib/systemd/system/vtepd.service      packaging/systemd/vtepd.service, with the paths above
//   /etc/vtepd/vtepd.yaml        a conffile: packaging/vtepd.yaml commented out, so that nothing starts
//                                until an operator writes a network into it
//   /usr/share/man/man8, man5    docs/man/ (npm run docs)
//   /usr/share/doc/vtepd/        copyright, changelog
//
// The maintainer scripts create the vtepd system user and group (postinst), stop every vtepd the
// package runs before its files go (prerm: with systemd through the unit, without it by signal), and
// remove the user, the group and /etc/vtepd on purge (postrm). The unit is not enabled: the config
// has to be edited first (`systemctl enable --now vtepd` then).
import { execFileSync } from 'node:child_process';
import {
  chmodSync,
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { gzipSync } from 'node:zlib';
import { VERSION } from '../src/host/version.ts';

const ROOT = join(import.meta.dirname, '..');
const LIB = '/usr/lib/vtepd';
const MAINTAINER = 'vtepd developers <vtepd@users.noreply.github.com>';

function run(cmd: string, args: string[], cwd = ROOT): string {
  return execFileSync(cmd, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
}

function write(path: string, text: string | Buffer, mode = 0o644): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, text);
  chmodSync(path, mode);
}

/** gzip -9n: no name and no time in the header, as Debian wants (reproducible). */
function gz(text: string | Buffer): Buffer {
  const z = gzipSync(text, { level: 9 });
  z.writeUInt32LE(0, 4); // MTIME
  return z;
}

/** The version of an installed Debian package, for a Depends with a floor. */
function debVersion(pkg: string): string {
  return run('dpkg-query', ['-W', '-f=${Version}', pkg]).trim();
}

/** The example config, every line commented out: vtepd refuses it ("local: is required") until edited. */
function exampleConfig(): string {
  const sample = readFileSync(join(ROOT, 'packaging/vtepd.yaml'), 'utf8');
  return [
    '# /etc/vtepd/vtepd.yaml: vtepd reads this file (the unit vtepd.service passes it with --config).',
    '# Nothing runs until you write your networks here: uncomment and edit the example below, then',
    '#   systemctl enable --now vtepd',
    '# Every key: man 5 vtepd.yaml. A changed file applies with `systemctl reload vtepd` (SIGHUP).',
    '#',
    ...sample
      .trimEnd()
      .split('\n')
      .filter((l) => !l.startsWith('# /etc/vtepd/vtepd.yaml'))
      .map((l) => (l.startsWith('#') ? l : `# ${l}`)),
    '',
  ].join('\n');
}

/**
 * What a package on npm carries besides its code and licence: its authors' dotfiles (.npmignore,
 * .eslintrc, .gitattributes...), README and changelog files, HTML documentation. Debian's policy
 * (and lintian) wants none of it installed.
 */
function pruneNodeModules(dir: string): void {
  run('find', [
    dir,
    '-type',
    'f',
    '(',
    '-name',
    '.*',
    '-o',
    '-iname',
    '*.md',
    '-o',
    '-iname',
    '*.markdown',
    '-o',
    '-name',
    '*.html',
    '-o',
    '-name',
    '*.ts',
    '-not',
    '-name',
    '*.d.ts',
    ')',
    '-delete',
  ]);
}

function unit(): string {
  return readFileSync(join(ROOT, 'packaging/systemd/vtepd.service'), 'utf8')
    .replace(/^#   useradd .*\n/m, '')
    .replace(/^#   install -D .*\n/m, '')
    .replace(
      /^#   systemctl daemon-reload && systemctl enable --now vtepd\n/m,
      '#   systemctl enable --now vtepd   (once /etc/vtepd/vtepd.yaml names a network)\n',
    )
    .replace(/^Documentation=.*$/m, 'Documentation=man:vtepd(8) man:vtepctl(8) man:vtepd.yaml(5)')
    .replace('/usr/local/bin/vtepd', '/usr/sbin/vtepd');
}

const COPYRIGHT = `Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: vtepd
Source: https://github.com/vtepd/vtepd

Files: *
Copyright: 2025-2026 the vtepd developers
License: Expat
 Permission is hereby granted, free of charge, to any person obtaining a copy
 of this software and associated documentation files (the "Software"), to deal
 in the Software without restriction, including without limitation the rights
 to use, copy, modify, merge, publish, distribute, sublicense, and/or sell
 copies of the Software, and to permit persons to whom the Software is
 furnished to do so, subject to the following conditions:
 .
 The above copyright notice and this permission notice shall be included in
 all copies or substantial portions of the Software.
 .
 THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
 IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
 FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
 AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
 LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
 OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN
 THE SOFTWARE.
 .
 The packages under /usr/lib/vtepd/node_modules are each under the license
 their own directory names (MIT, Apache-2.0, ISC or BSD).
`;

/** Stops every vtepd this package runs: through systemd when it is the init, and any started by hand. */
const STOP = `stop_vtepd() {
	if [ -d /run/systemd/system ]; then
		deb-systemd-invoke stop vtepd.service >/dev/null 2>&1 || true
	fi
	# Started by hand, or without systemd: SIGTERM, and vtepd removes its TAPs and socket.
	pids=$(pgrep -f '^(/usr/bin/)?node (/usr/sbin/vtepd|${LIB}/bin/vtepd)( |$)' || true)
	[ -z "$pids" ] && return 0
	kill -TERM $pids 2>/dev/null || true
	for _ in $(seq 1 200); do
		pgrep -f '^(/usr/bin/)?node (/usr/sbin/vtepd|${LIB}/bin/vtepd)( |$)' >/dev/null || return 0
		sleep 0.1
	done
	echo "vtepd: still running after 20 s: $pids" >&2
}
`;

const POSTINST = `#!/bin/sh
set -e
if [ "$1" = configure ]; then
	if ! getent group vtepd >/dev/null; then
		addgroup --quiet --system vtepd
	fi
	if ! getent passwd vtepd >/dev/null; then
		adduser --quiet --system --ingroup vtepd --no-create-home --home /nonexistent --shell /usr/sbin/nologin vtepd
	fi
	if [ -d /run/systemd/system ]; then
		systemctl --system daemon-reload >/dev/null || true
	fi
fi
exit 0
`;

const PRERM = `#!/bin/sh
set -e
${STOP}
case "$1" in
	remove|upgrade|deconfigure) stop_vtepd ;;
esac
exit 0
`;

const POSTRM = `#!/bin/sh
set -e
if [ -d /run/systemd/system ]; then
	systemctl --system daemon-reload >/dev/null || true
fi
if [ "$1" = purge ]; then
	rm -rf /etc/vtepd
	if getent passwd vtepd >/dev/null; then
		deluser --quiet --system vtepd >/dev/null 2>&1 || true
	fi
	if getent group vtepd >/dev/null; then
		delgroup --quiet --system vtepd >/dev/null 2>&1 || true
	fi
fi
exit 0
`;

function control(installedKb: number): string {
  const libc = debVersion('libc6').replace(/-.*$/, '');
  return `Package: vtepd
Version: ${VERSION}
Architecture: amd64
Maintainer: ${MAINTAINER}
Installed-Size: ${installedKb}
Depends: nodejs (>= 20), iproute2, adduser, libc6 (>= ${libc}), libstdc++6 (>= 12)
Recommends: gobgpd, golang-github-osrg-gobgp-dev
Suggests: tcpdump, tshark
Section: net
Priority: optional
Homepage: https://github.com/vtepd/vtepd
Description: userspace VTEP: VXLAN and Ethernet-over-GRE for TAP devices
 vtepd attaches TAP devices and carries their Ethernet frames between hosts
 over VXLAN (RFC 7348) and Ethernet-over-GRE with key (RFC 2890), with a
 MAC-learning table per network, head-end replication of broadcast, unknown
 unicast and multicast frames, multicast groups, an ARP and ND responder,
 routing between networks (anycast gateways), and BGP EVPN through GoBGP.
 vtepctl shows and changes what a running vtepd forwards.
`;
}

function main(): number {
  const { values } = parseArgs({ options: { out: { type: 'string' } } });
  const out = resolve(values.out ?? ROOT);
  const launch = run('node', ['-e', 'import("./bin/launch.js").then((m) => console.log(m.compiled()))']).trim();
  if (launch !== 'current') {
    console.error('package: building dist/ first (npm run build)');
    run('npm', ['run', 'build', '--silent']);
  }
  const addon = join(ROOT, 'build/Release/vtep_native.node');
  if (!existsSync(addon)) {
    console.error('package: the native addon is not built: run `npm ci` (or `npm run build:native`)');
    return 1;
  }
  const stage = mkdtempSync(join(tmpdir(), 'vtepd-deb-'));
  try {
    const lib = join(stage, LIB);
    mkdirSync(lib, { recursive: true });
    cpSync(join(ROOT, 'dist'), join(lib, 'dist'), { recursive: true });
    for (const f of ['vtepd', 'vtepctl', 'launch.js', 'package.json'])
      cpSync(join(ROOT, 'bin', f), join(lib, 'bin', f));
    for (const f of ['package.json', 'package-lock.json']) cpSync(join(ROOT, f), join(lib, f));
    cpSync(addon, join(lib, 'build/Release/vtep_native.node'));
    run('strip', ['--strip-unneeded', join(lib, 'build/Release/vtep_native.node')]);
    // The production packages at the lockfile's versions; none of them needs an install script.
    console.error('package: npm ci --omit=dev');
    run('npm', ['ci', '--omit=dev', '--ignore-scripts', '--no-audit', '--no-fund', '--loglevel=error'], lib);
    rmSync(join(lib, 'package-lock.json'));
    pruneNodeModules(join(lib, 'node_modules'));
    mkdirSync(join(stage, 'usr/sbin'), { recursive: true });
    mkdirSync(join(stage, 'usr/bin'), { recursive: true });
    symlinkSync('../lib/vtepd/bin/vtepd', join(stage, 'usr/sbin/vtepd'));
    symlinkSync('../lib/vtepd/bin/vtepctl', join(stage, 'usr/bin/vtepctl'));
    write(join(stage, 'lib/systemd/system/vtepd.service'), unit());
    write(join(stage, 'etc/vtepd/vtepd.yaml'), exampleConfig());
    for (const [page, sec] of [
      ['vtepd.8', 8],
      ['vtepctl.8', 8],
      ['vtepd.yaml.5', 5],
    ] as const)
      write(join(stage, `usr/share/man/man${sec}/${page}.gz`), gz(readFileSync(join(ROOT, 'docs/man', page))));
    write(join(stage, 'usr/share/doc/vtepd/copyright'), COPYRIGHT);
    const date = run('date', ['-R', '-u', '-d', `@${run('git', ['log', '-1', '--format=%ct']).trim()}`]).trim();
    write(
      join(stage, 'usr/share/doc/vtepd/changelog.gz'),
      gz(
        `vtepd (${VERSION}) unstable; urgency=medium\n\n  * Built from the vtepd repository.\n\n -- ${MAINTAINER}  ${date}\n`,
      ),
    );
    // Files 0644 (the addon is loaded, not run), directories and the launchers 0755.
    run('chmod', ['-R', 'u=rw,go=r,a+X', stage]);
    run('find', [stage, '-type', 'f', '-exec', 'chmod', '0644', '{}', '+']);
    for (const f of ['vtepd', 'vtepctl']) chmodSync(join(lib, 'bin', f), 0o755);
    const kb = Number(run('du', ['-sk', '--exclude=DEBIAN', stage]).split('\t')[0]);
    write(join(stage, 'DEBIAN/control'), control(kb));
    write(join(stage, 'DEBIAN/conffiles'), '/etc/vtepd/vtepd.yaml\n');
    write(join(stage, 'DEBIAN/postinst'), POSTINST, 0o755);
    write(join(stage, 'DEBIAN/prerm'), PRERM, 0o755);
    write(join(stage, 'DEBIAN/postrm'), POSTRM, 0o755);
    mkdirSync(out, { recursive: true });
    const deb = join(out, `vtepd_${VERSION}_amd64.deb`);
    run('dpkg-deb', ['--root-owner-group', '-Zxz', '--build', stage, deb]);
    console.log(deb);
    return 0;
  } finally {
    rmSync(stage, { recursive: true, force: true });
  }
}

process.exit(main());
