#!/usr/bin/env bash
# The quick start: installs what is missing (Debian packages, npm packages,
# the native addon), then runs the demo or the whole test suite.
#
#   scripts/quickstart.sh demo    VTEPs in namespaces: vtepd, the kernel (VXLAN), Open vSwitch (GRE), a BGP EVPN fabric with FRR
#   scripts/quickstart.sh test    type check, lint and every test, the lab tests also with --no-offload (CI)
#
# As root on Debian 12. It touches no interface of the host: the lab lives in
# network namespaces it creates and removes.
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:-demo}
case "$mode" in demo|test|setup) ;; *) echo "usage: scripts/quickstart.sh demo|test|setup" >&2; exit 2 ;; esac
if [ "$(id -u)" != 0 ]; then
  echo "quickstart: run it as root: it creates network namespaces, TAP devices and raw sockets" >&2
  exit 2
fi

# What the build, the daemon and the lab use, by Debian package.
packages=(iproute2 ethtool tcpdump tshark arping iputils-ping iputils-tracepath traceroute procps iperf3 openvswitch-switch frr gobgpd golang-github-osrg-gobgp-dev util-linux make g++ python3 libpcap-dev lintian chromium nodejs npm)
missing=()
for p in "${packages[@]}"; do
  if [ "$p" = nodejs ] || [ "$p" = npm ]; then
    command -v "${p/nodejs/node}" >/dev/null 2>&1 && continue
  fi
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "quickstart: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
node_major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$node_major" -lt 20 ]; then
  echo "quickstart: warning: Node.js $(node --version) is older than the 20 this project is built for" >&2
fi

# npm packages at the versions the lockfile names, and the native addon (the
# install script runs node-gyp). `npm ci` never rewrites the lockfile: set-up
# leaves the working tree as it found it.
if [ ! -f build/Release/vtep_native.node ] || [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "quickstart: npm ci (locked versions; builds the native addon)"
  npm ci --no-audit --no-fund
fi
# The compiled JavaScript the commands run (dist/; `npm ci` builds it too, by its prepare script):
# made again whenever src/ changed since.
if ! node -e 'import("./bin/launch.js").then((m) => process.exit(m.compiled() === "current" ? 0 : 1))'; then
  echo "quickstart: npm run build (src/ to dist/)"
  npm run build --silent
fi

case "$mode" in
  setup) ;;
  demo) exec npx tsx scripts/demo.ts ;;
  test)
    npx tsc --noEmit
    npm run lint --silent
    report=$(mktemp)
    report_off=$(mktemp)
    status=0
    # The whole suite runs against what ships: the commands refuse to fall back to the TypeScript sources.
    export VTEPD_RUN=dist
    npx vitest run --reporter=default --reporter=json --outputFile.json="$report" || status=$?
    # The lab suites again with the daemon's offloads off: both data paths must be correct. The
    # suites of the control plane alone (the control socket and its bounds, the service and its package, runtime
    # control, start and stop, EVPN's BGP side) do not depend on the data path's mode: they run once,
    # which keeps CI well under 30 minutes (npm run test:repeat still runs everything in both modes).
    once=()
    for t in service control runtime lifecycle evpn evpn-rogue package status-page; do once+=(--exclude "test/netns/$t.test.ts"); done
    echo "quickstart: the lab tests again with vtepd --no-offload (data-path suites)"
    VTEPD_TEST_ARGS=--no-offload npx vitest run test/netns test/conformance "${once[@]}" --reporter=default --reporter=json --outputFile.json="$report_off" || status=$?
    # One closing line in the plain form CI reads.
    node -e 'const fs = require("fs"); const rs = process.argv.slice(1).map((f) => JSON.parse(fs.readFileSync(f, "utf8")));
      const sum = (k) => rs.reduce((a, r) => a + r[k], 0);
      // CI keeps only the tail of what this prints: name each failure there, with the first line of its message.
      const passes = ["", " (--no-offload)"];
      rs.forEach((r, i) => { for (const f of r.testResults) { if (f.status === "failed" && f.message) console.log(`FAILED${passes[i]}: ${require("path").relative(process.cwd(), f.name)}\n    ${f.message.split("\n")[0].slice(0, 400)}`);
        for (const t of f.assertionResults) if (t.status === "failed")
        console.log(`FAILED${passes[i]}: ${require("path").relative(process.cwd(), f.name)} > ${t.fullName}\n    ${String((t.failureMessages || [""])[0]).split("\n")[0].slice(0, 400)}`); } });
      console.log(`tests: ${sum("numPassedTests")} passed, ${sum("numFailedTests")} failed` + (sum("numPendingTests") ? `, ${sum("numPendingTests")} skipped` : ""))' "$report" "$report_off" || true
    rm -f "$report" "$report_off"
    exit $status
    ;;
esac
