// The Debian package as an operator meets it: `npm run package` builds it, lintian finds no error,
// and dpkg installs, removes and purges it. dpkg runs in a throwaway copy of this machine: a mount
// namespace with an overlay over / (every write goes to a tmpfs that vanishes with the namespace),
// and network and PID namespaces of its own, so the vtepd user, the files, the TAP and the processes
// never reach the host or another test.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { VERSION } from '../../src/host/version.ts';

const ROOT = join(import.meta.dirname, '..', '..');
const have = (cmd: string) => spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;

/** Runs `script` as root in a copy-on-write chroot of / with its own network namespace; its output. */
function inThrowawayHost(deb: string, script: string): { code: number | null; out: string } {
  const outer = `
set -e
ov=$(mktemp -d /tmp/vtepd-pkg-root.XXXXXX)
echo "throwaway root: $ov"
mount -t tmpfs tmpfs "$ov"
mkdir "$ov/upper" "$ov/work" "$ov/root"
mount -t overlay overlay -o lowerdir=/,upperdir="$ov/upper",workdir="$ov/work" "$ov/root"
mount -t proc proc "$ov/root/proc"
mount --rbind /dev "$ov/root/dev"
mount -t sysfs sysfs "$ov/root/sys"
mount -t tmpfs tmpfs "$ov/root/run"
mount -t tmpfs tmpfs "$ov/root/tmp"
cp "$1" "$ov/root/tmp/vtepd.deb"
status=0
chroot "$ov/root" /bin/bash -e -c "$2" || status=$?
# Whatever the script left running inside is stopped before the namespace goes.
for p in $(pgrep -f '^(/usr/bin/)?node (/usr/sbin/vtepd|/usr/lib/vtepd/bin/vtepd)( |$)'); do kill -9 "$p"; done
exit $status
`;
  const r = spawnSync(
    'unshare',
    // A PID namespace too: the script's pgrep and the cleanup below see this throwaway host's processes
    // alone, never another test's (two package tests at once killed each other's vtepd).
    ['--mount', '--net', '--pid', '--fork', '--propagation', 'private', 'bash', '-c', outer, 'pkg', deb, script],
    {
      encoding: 'utf8',
      timeout: 120_000,
    },
  );
  const dir = /\/tmp\/vtepd-pkg-root\.\w+/.exec(r.stdout + r.stderr)?.[0];
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  return { code: r.status, out: r.stdout + r.stderr };
}

describe.runIf(process.getuid?.() === 0 && have('dpkg-deb') && have('unshare'))('the Debian package', () => {
  let out = '';
  let deb = '';
  beforeAll(() => {
    out = mkdtempSync(join(tmpdir(), 'vtepd-deb-out-'));
    const r = spawnSync('npx', ['tsx', 'scripts/package.ts', '--out', out], {
      cwd: ROOT,
      encoding: 'utf8',
      timeout: 240_000,
    });
    expect(r.status, r.stderr).toBe(0);
    deb = r.stdout.trim();
  }, 300_000);
  afterAll(() => rmSync(out, { recursive: true, force: true }));

  it('is built by npm run package as vtepd_VERSION_amd64.deb, with its files where Debian puts them; lintian reports no error', () => {
    expect(deb).toBe(join(out, `vtepd_${VERSION}_amd64.deb`));
    const fields = spawnSync('dpkg-deb', ['-f', deb, 'Package', 'Version', 'Architecture', 'Depends', 'Recommends'], {
      encoding: 'utf8',
    }).stdout;
    expect(fields).toContain(`Version: ${VERSION}`);
    expect(fields).toMatch(/^Depends: nodejs \(>= 20\), iproute2, /m);
    expect(fields).toMatch(/^Recommends: gobgpd/m);
    const files = spawnSync('dpkg-deb', ['-c', deb], { encoding: 'utf8', maxBuffer: 64 << 20 }).stdout;
    for (const f of [
      './usr/sbin/vtepd -> ../lib/vtepd/bin/vtepd',
      './usr/bin/vtepctl -> ../lib/vtepd/bin/vtepctl',
      './usr/lib/vtepd/bin/package.json',
      './usr/lib/vtepd/dist/cli/vtepd.cjs',
      './usr/lib/vtepd/dist/cli/vtepd.cjs.cache',
      './usr/lib/vtepd/dist/cli/vtepctl.cjs.cache',
      './usr/lib/vtepd/build/Release/vtep_native.node',
      './usr/lib/vtepd/node_modules/zod/',
      './lib/systemd/system/vtepd.service',
      './etc/vtepd/vtepd.yaml',
      './usr/share/man/man8/vtepd.8.gz',
      './usr/share/man/man8/vtepctl.8.gz',
      './usr/share/man/man5/vtepd.yaml.5.gz',
      './usr/share/doc/vtepd/copyright',
    ])
      expect(files).toContain(f);
    // What only development needs stays out: the sources, tsx, the test packages.
    for (const f of ['./usr/lib/vtepd/src/', 'node_modules/tsx/', 'node_modules/vitest/', 'node_modules/cap/'])
      expect(files).not.toContain(f);
    expect(spawnSync('dpkg-deb', ['-f', deb, 'Conffiles'], { encoding: 'utf8' }).status).toBe(0);
    if (!have('lintian')) return expect.fail('lintian is not installed: scripts/quickstart.sh setup installs it');
    const lint = spawnSync('lintian', ['--fail-on', 'error', deb], { encoding: 'utf8', timeout: 240_000 });
    expect(lint.stdout, 'lintian errors').not.toMatch(/^E: /m);
    expect(lint.status, lint.stdout + lint.stderr).toBe(0);
  }, 300_000);

  it('installs (the vtepd user, a unit systemd-analyze verifies, a config that starts nothing), runs from its own files as vtepd, and removing it leaves no process, TAP or socket; purging removes the user and the config', () => {
    const script = `
dpkg -i /tmp/vtepd.deb >/dev/null
echo "user: $(getent passwd vtepd | cut -d: -f1,7)"
echo "group: $(getent group vtepd | cut -d: -f1)"
vtepctl --version
vtepd --version
# The build's code caches fit the installed bundles, and this Node.js takes them.
for b in vtepd vtepctl; do node --input-type=module -e "
import { codeCacheOf } from '/usr/lib/vtepd/bin/launch.js';
import { readFileSync } from 'node:fs'; import Module from 'node:module'; import { Script } from 'node:vm';
const f = '/usr/lib/vtepd/dist/cli/$b.cjs'; const c = codeCacheOf(f);
console.log('code cache $b:', c === undefined ? 'none' : new Script(Module.wrap(readFileSync(f, 'latin1')), { cachedData: c }).cachedDataRejected ? 'refused' : 'taken');"
done
# The installed unit, as systemd would load it (this test's host may not run systemd).
verify=$(systemd-analyze verify /lib/systemd/system/vtepd.service 2>&1) && echo "unit verified: [$verify]" || echo "unit refused: $verify"
# The example config starts nothing: vtepd refuses it and says what is missing.
vtepd --config /etc/vtepd/vtepd.yaml 2>&1 | head -1 | sed 's/^/unedited: /' || true
ip link set lo up
ip link add u0 type veth peer name u1
ip addr add 10.251.0.1/24 dev u0
ip link set u0 up && ip link set u1 up
cat > /etc/vtepd/vtepd.yaml <<'YAML'
local: 10.251.0.1
socket: /run/vtepd/vtepd.sock
networks:
  blue:
    tap: tap-pkg
    vxlan: { vni: 42 }
    remotes: [10.251.0.2]
YAML
mkdir -p /run/vtepd && chmod 0755 /run/vtepd
setsid /usr/sbin/vtepd --config /etc/vtepd/vtepd.yaml --user vtepd >/tmp/vtepd.log 2>&1 < /dev/null &
for i in $(seq 1 100); do grep -q ready /tmp/vtepd.log && break; sleep 0.1; done
grep -o 'ready: 1 network' /tmp/vtepd.log
echo "runs as: $(ps -o user= -p $(pgrep -f '^node /usr/sbin/vtepd'))"
vtepctl --socket /run/vtepd/vtepd.sock stats --json | grep -o '"blue"' | head -1
ip -o link show tap-pkg | grep -o 'tap-pkg'
dpkg -r vtepd >/dev/null
sleep 1
echo "after remove: processes $(pgrep -fc '^(/usr/bin/)?node /usr/(sbin/vtepd|lib/vtepd/)' || true), tap $(ip -o link show tap-pkg 2>/dev/null | wc -l), socket $(ls /run/vtepd/vtepd.sock 2>/dev/null | wc -l), binary $(ls /usr/sbin/vtepd 2>/dev/null | wc -l), config $(ls /etc/vtepd/vtepd.yaml | wc -l), user $(getent passwd vtepd | wc -l)"
dpkg -P vtepd >/dev/null
echo "after purge: config $(ls -d /etc/vtepd 2>/dev/null | wc -l), user $(getent passwd vtepd | wc -l), group $(getent group vtepd | wc -l), status $(dpkg-query -W -f='\${db:Status-Abbrev}' vtepd 2>/dev/null || echo none)"
`;
    const r = inThrowawayHost(deb, script);
    expect(r.code, r.out).toBe(0);
    expect(r.out).toContain('user: vtepd:/usr/sbin/nologin');
    expect(r.out).toContain('group: vtepd');
    expect(r.out).toContain(`vtepctl ${VERSION} (node`);
    expect(r.out).toContain(`vtepd ${VERSION} (node`);
    expect(r.out).toContain('code cache vtepd: taken');
    expect(r.out).toContain('code cache vtepctl: taken');
    expect(r.out).toContain('unit verified: []');
    expect(r.out).toMatch(/unedited: vtepd: config \/etc\/vtepd\/vtepd\.yaml: local: is required/);
    expect(r.out).toContain('ready: 1 network');
    expect(r.out).toContain('runs as: vtepd');
    expect(r.out).toContain('"blue"');
    expect(r.out).toMatch(/^tap-pkg$/m);
    expect(r.out).toContain('after remove: processes 0, tap 0, socket 0, binary 0, config 1, user 1');
    expect(r.out).toMatch(/after purge: config 0, user 0, group 0, status (un|none)/);
    // And the host never saw any of it.
    expect(spawnSync('getent', ['passwd', 'vtepd']).status).not.toBe(0);
  }, 180_000);
});
